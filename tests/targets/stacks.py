# -*- coding: utf-8 -*-
"""A target whose stacks are known by construction, for `spyglass dump` tests.

Runs on Python 2.7 and 3.6+. Lines the tests look for are marked with
"# LINE:<name>"; the tests read this file to find their numbers, so moving code
around never breaks a test silently.

Threads (each parks on its marked line once started):
  MainThread   main -> outer -> spin           busy loop (active, holds the GIL)
  sleeper-1    sleeper                         time.sleep (idle)
  waiter-2     waiter                          Event.wait (idle)
  deep         deep_start -> recurse x DEPTH   time.sleep at the bottom
  gen-thread   gen_consumer -> numbers         a generator frame sleeping
  coro-thread  coro_runner ... -> handler      a coroutine frame sleeping (3.x)
  locals       with_locals                     known local values
  unicode      <unicode file> funcion_λ        unicode file and function names (3.x name)
When every thread is parked the main thread prints "READY <pid>".
"""
import os
import sys
import threading
import time

DEPTH = int(os.environ.get("SPYGLASS_DEPTH", "1000"))
parked = []


def park():
    ev = threading.Event()
    parked.append(ev)
    return ev


def sleeper(ev):
    ev.set()
    time.sleep(100000)  # LINE:sleeper


def waiter(ev):
    never = threading.Event()
    ev.set()
    never.wait()  # LINE:waiter


def recurse(n, ev):
    if n <= 1:
        ev.set()
        time.sleep(100000)  # LINE:recurse_bottom
    return recurse(n - 1, ev) + 1  # LINE:recurse


def deep_start(ev):
    recurse(DEPTH, ev)  # LINE:deep_start


def numbers(ev):
    yield 1
    ev.set()
    time.sleep(100000)  # LINE:gen_body
    yield 2


def gen_consumer(ev):
    for _ in numbers(ev):  # LINE:gen_consumer
        pass


def with_locals(ev):
    an_int = 42
    a_big_int = 2 ** 100
    a_neg = -7
    a_float = 1.5
    a_str = u"h\u00e9llo"
    a_bytes = b"xyz"
    a_list = [1, 2, 3]
    a_tuple = (u"a", 2)
    a_dict = {u"k": 1}
    a_none = None
    a_bool = True
    ev.set()
    time.sleep(100000)  # LINE:with_locals
    return (an_int, a_big_int, a_neg, a_float, a_str, a_bytes, a_list, a_tuple, a_dict,
            a_none, a_bool)


UNICODE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), u"\u00fcn\u00efc\u00f6de_\u6a21\u5757.py")
if sys.version_info[0] >= 3:
    UNICODE_SRC = u"def funci\u00f3n_\u03bb(ev, time):\n    ev.set()\n    time.sleep(100000)\n"
    UNICODE_FUNC = u"funci\u00f3n_\u03bb"
else:
    UNICODE_SRC = "def unicode_file_func(ev, time):\n    ev.set()\n    time.sleep(100000)\n"
    UNICODE_FUNC = "unicode_file_func"


def unicode_thread(ev):
    filename = UNICODE_FILE if sys.version_info[0] >= 3 else UNICODE_FILE.encode("utf-8")
    namespace = {}
    exec(compile(UNICODE_SRC, filename, "exec"), namespace)
    namespace[UNICODE_FUNC](ev, time)  # LINE:unicode_caller


def start(target, name):
    ev = park()
    t = threading.Thread(target=target, args=(ev,), name=name)
    t.daemon = True
    t.start()


def spin():
    x = 0
    while True: x = x + 1  # LINE:spin


def outer():
    spin()  # LINE:outer


def main():
    start(sleeper, "sleeper-1")
    start(waiter, "waiter-2")
    start(deep_start, "deep")
    start(gen_consumer, "gen-thread")
    start(with_locals, "locals")
    start(unicode_thread, "unicode")
    if sys.version_info >= (3, 5):
        import coro_part
        start(coro_part.coro_runner, "coro-thread")
    for ev in parked:
        ev.wait()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    if os.environ.get("SPYGLASS_IDLE_MAIN"):
        time.sleep(100000)  # LINE:main_idle
    outer()  # LINE:main


if __name__ == "__main__":
    sys.setrecursionlimit(DEPTH + 500)
    main()  # LINE:module
