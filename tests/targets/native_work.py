"""Python code that spends its time in known C code, for `--native`
(tests/e2e/test_native.py).

    native_work.py [--ext DIR] MODE...

Library modes run one after the other in one loop (one thread: no GIL
contention between them, which on 2.7 starves some for seconds), in the main
thread, or in a thread named "work" when `chain` holds the main thread:

    zlib     zlib.compress level 9 of 1 MiB                            (LINE:zlib)
    sha      hashlib.sha256 of 2 MiB                                   (LINE:sha)
    re       a backtracking regular expression, ~20 ms a match         (LINE:re)
    numpy    the product of two 600x600 float64 matrices (BLAS)        (LINE:numpy)

C modes (nativechain, built by the test set-up from native_ext.c):

    hidden   a thread "hidden" in nativechain.hidden(): a static function spins
    stripped the same in a thread "stripped", in nativechain_stripped (the same code
             built stripped: hidden() known by .dynsym, its static function by address)
    cthread  nativechain.start_c_thread(): a pthread that never runs Python
    chain    py_outer -> nativechain.c_a -> c_b -> callback -> nativechain.c_c, which
             spins with the GIL released, in the main thread   (LINE:outer, LINE:callback)

--ext DIR puts DIR (where nativechain was built) first on sys.path. Prints
READY once every mode runs (the chain prints it from the callback, just
before entering c_c).
"""
from __future__ import print_function

import hashlib
import os
import re
import sys
import threading
import time
import zlib

args = sys.argv[1:]
if args[:1] == ["--ext"]:
    sys.path.insert(0, args[1])
    args = args[2:]
started = []


def ready():
    print("READY", os.getpid())
    sys.stdout.flush()


def library_steps(modes):
    """One function per library mode, each doing one round of its work."""
    steps = []
    if "zlib" in modes:
        data = os.urandom(1 << 12) * 256
        steps.append(lambda: zlib.compress(data, 9))  # LINE:zlib
    if "sha" in modes:
        blob = os.urandom(1 << 21)
        steps.append(lambda: hashlib.sha256(blob).digest())  # LINE:sha
    if "re" in modes:
        pattern, text = re.compile(r"(a+)+$"), "a" * 17 + "b"
        steps.append(lambda: pattern.match(text))  # LINE:re
    if "numpy" in modes:
        import numpy
        a, b = numpy.random.rand(600, 600), numpy.random.rand(600, 600)
        steps.append(lambda: numpy.dot(a, b))  # LINE:numpy
    return steps


def library_loop(steps):
    started.append("work")
    while True:
        for step in steps:
            step()
        if not steps:
            time.sleep(1)


def hidden_loop():
    import nativechain
    started.append("hidden")
    nativechain.hidden()  # LINE:hidden


def stripped_loop():
    import nativechain_stripped
    started.append("stripped")
    nativechain_stripped.hidden()  # LINE:stripped


def callback():
    import nativechain
    ready()
    nativechain.c_c()  # LINE:callback


def py_outer():
    import nativechain
    nativechain.c_a(callback)  # LINE:outer


def main():
    steps = library_steps(args)
    for mode, loop in (("hidden", hidden_loop), ("stripped", stripped_loop)):
        if mode in args:
            t = threading.Thread(target=loop, name=mode)
            t.daemon = True
            t.start()
    if "cthread" in args:
        import nativechain
        nativechain.start_c_thread()
    if "chain" not in args:
        ready()
        library_loop(steps)
    if steps:
        t = threading.Thread(target=library_loop, args=(steps,), name="work")
        t.daemon = True
        t.start()
    while len(started) < ("hidden" in args) + ("stripped" in args) + bool(steps):
        time.sleep(0.01)
    py_outer()  # LINE:outer_call


main()  # LINE:main_call
