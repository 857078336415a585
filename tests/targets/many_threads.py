"""Many threads, each parked deep in a recursion with a few locals: the
shape that makes `dump --locals` read tens of thousands of variables.

    python many_threads.py [THREADS] [DEPTH]     (default 200 x 120)
Prints "READY <pid>" when every thread is parked; runs until killed.
"""
import os
import sys
import threading

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
DEPTH = int(sys.argv[2]) if len(sys.argv) > 2 else 120
parked = threading.Semaphore(0)
release = threading.Event()


def dive(level, label):
    values = [level, level * 2]
    name = "%s-%d" % (label, level)
    if level == 0:
        parked.release()
        release.wait()  # LINE:park
        return name
    return dive(level - 1, label) + str(values[0])


def main():
    threads = []
    for i in range(THREADS):
        t = threading.Thread(target=dive, args=(DEPTH - 3, "t%d" % i), name="diver-%d" % i)
        t.daemon = True
        t.start()
        threads.append(t)
    for _ in threads:
        parked.acquire()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    release.wait()


if __name__ == "__main__":
    main()
