"""A parent that forks busy children one after another and reaps each.

Each child runs 16 idle threads besides its busy main thread: stopping and
releasing them all takes a while, so a child spends much of its time stopped
when profiled at a high rate.

For each child it prints "CHILD PID", then waits for it (os.waitpid) and
prints "REAPED PID". A test kills the children; the parent must hear of each
death promptly even while a profiler pauses the children at a high rate.
Reads the number of children from argv (default 20); prints READY first.
"""
import ctypes
import os
import signal
import sys
import threading
import time


def child_spin():
    # Die with the parent (PR_SET_PDEATHSIG = 1): a test that fails must not
    # leave a spinning child holding the parent's stdout open.
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    for _ in range(16):
        t = threading.Thread(target=time.sleep, args=(3600,))
        t.daemon = True
        t.start()
    while True:
        sum(range(1000))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            child_spin()
        sys.stdout.write("CHILD %d\n" % pid)
        sys.stdout.flush()
        os.waitpid(pid, 0)
        sys.stdout.write("REAPED %d\n" % pid)
        sys.stdout.flush()
    time.sleep(60)


if __name__ == "__main__":
    main()
