"""A small target with a known stack, for tests/e2e/test_security.py (2.7 and 3.x).

The main thread sleeps in inner() called from outer() called from the module
(lines marked LINE:inner, LINE:outer, LINE:module); prints "READY <pid>".

--nondumpable: first makes itself not dumpable (prctl PR_SET_DUMPABLE 0), as
a service that drops privileges or a setuid program is: then only root may
read its memory, even though it runs as an ordinary user.
"""
import ctypes
import os
import sys
import time

PR_SET_DUMPABLE = 4


def inner():
    while True:
        time.sleep(0.05)  # LINE:inner


def outer():
    inner()  # LINE:outer


if "--nondumpable" in sys.argv:
    if ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_DUMPABLE) failed: errno %d" % ctypes.get_errno())
sys.stdout.write("READY %d\n" % os.getpid())
sys.stdout.flush()
outer()  # LINE:module
