"""A target for the reliability fault matrix (tests/e2e/test_faults.py), 2.7 and 3.x.

The main thread spins in spin() (LINE:spin), counting its progress in an
8-byte little-endian counter at offset 0 of a file mapped with mmap
(--counter PATH), so a test can tell from outside whether the program is
still running; the churn thread counts the threads it joined at offset 8. A second
thread, "steady", spins in steady_inner() called from steady_outer() for the
whole run: its stack is known by construction.

    python faults.py [--counter PATH] [--end-after S --end exit|exec|kill]
                     [--churn N] [--seconds S]

--end-after S: after S seconds, end by sys.exit(3) ("exit"), by exec'ing
/bin/sleep ("exec", no longer Python), or by SIGKILL to itself ("kill").
SIGUSR1: end at once, the --end way.
--churn N: a third thread starts and joins about N short threads per second
(the main thread then mostly sleeps, and the GIL switch interval is short).
Prints "READY <pid>" once the threads run.
"""
import mmap
import os
import signal
import struct
import sys
import threading
import time


def arg(name, default, kind=float):
    args = sys.argv[1:]
    return kind(args[args.index(name) + 1]) if name in args else default


def steady_inner():
    x = 0
    while True:
        x += 1  # LINE:steady_inner


def steady_outer():
    steady_inner()  # LINE:steady_outer


def short_lived():
    return sum(range(50))


def churn(per_second, counter):
    period = 1.0 / per_second
    next_start = time.time()
    made = 0
    while True:
        t = threading.Thread(target=short_lived)
        t.start()
        t.join()
        made += 1
        if counter is not None:
            struct.pack_into("<Q", counter, 8, made)
        next_start += period
        pause = next_start - time.time()
        if pause > 0:
            time.sleep(pause)


def end_now(how):
    if how == "exec":
        os.execv("/bin/sleep", ["sleep", "30"])
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdout.flush()
    os._exit(3)


def spin(counter, end_at, how, churning):
    n = 0
    while True:
        if churning:
            time.sleep(0.001)  # leave the GIL to the churn thread
        n += 1  # LINE:spin
        if counter is not None and n % 64 == 0:
            struct.pack_into("<Q", counter, 0, n)
        if end_at and n % 256 == 0 and time.time() >= end_at:
            end_now(how)


def main():
    counter = None
    path = arg("--counter", None, str)
    if path:
        with open(path, "wb") as f:
            f.write(b"\0" * 16)
        fd = os.open(path, os.O_RDWR)
        counter = mmap.mmap(fd, 16)
    for name, fn, args in (("steady", steady_outer, ()),
                           ("churn", churn, (arg("--churn", 0), counter))):
        if name == "churn" and not args[0]:
            continue
        t = threading.Thread(target=fn, name=name, args=args)
        t.daemon = True
        t.start()
    end_after = arg("--end-after", 0)
    seconds = arg("--seconds", 0)
    if seconds and not end_after:
        end_after = seconds
    how = arg("--end", "exit", str)
    # SIGUSR1 ends the program the --end way at once (tests send it when
    # they know the profiler is sampling).
    signal.signal(signal.SIGUSR1, lambda signum, frame: end_now(how))
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    churning = arg("--churn", 0) > 0
    if churning:  # hand the GIL over often, so thread starts and joins are not starved
        if hasattr(sys, "setswitchinterval"):
            sys.setswitchinterval(0.0002)
        else:
            sys.setcheckinterval(10)
    spin(counter, time.time() + end_after if end_after else 0, how, churning)  # LINE:main


main()
