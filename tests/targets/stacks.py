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


def native(text):
    """text as the native str type (UTF-8 bytes on 2.7), to compare file names."""
    if isinstance(text, str):
        return text
    return text.encode("utf-8") if sys.version_info[0] < 3 else text.decode("utf-8")


def park_lines(path):
    """The lines of a file where a thread parks for good."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    return set(n for n, line in enumerate(text.splitlines(), 1)
               if "time.sleep(100000)" in line or "never.wait()" in line)


def all_parked(threads):
    """True once every thread's innermost frame in one of our files is on a
    parking line (an event set just before it is not enough: the thread may
    not have stepped onto the line yet)."""
    here = os.path.dirname(os.path.abspath(__file__))
    parks = {native("stacks.py"): park_lines(os.path.join(here, "stacks.py")),
             native(os.path.basename(UNICODE_FILE)): set([3])}
    if sys.version_info >= (3, 5):
        parks[native("coro_part.py")] = park_lines(os.path.join(here, "coro_part.py"))
    frames = sys._current_frames()
    for t in threads:
        f = frames.get(t.ident)
        while f is not None:
            name = native(os.path.basename(f.f_code.co_filename))
            if name in parks:
                break
            f = f.f_back
        if f is None or f.f_lineno not in parks[name]:
            return False
    return True


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
    others = [t for t in threading.enumerate() if t is not threading.current_thread()]
    while not all_parked(others):
        time.sleep(0.001)
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    if os.environ.get("SPYGLASS_IDLE_MAIN"):
        time.sleep(100000)  # LINE:main_idle
    outer()  # LINE:main


if __name__ == "__main__":
    sys.setrecursionlimit(DEPTH + 500)
    main()  # LINE:module
