"""A CPU-bound target for benchmarks: recurses to --depth, then does work units
forever (or for --seconds), printing the rate of work units when it ends.

    python bench_target.py --depth 50 [--seconds S]
Prints "READY <pid>" once at depth; on exit (or SIGTERM) prints "UNITS <n> <seconds>".
"""
import os
import signal
import sys
import time

state = {"units": 0, "start": 0.0}


def report(*_):
    elapsed = time.time() - state["start"]
    sys.stdout.write("UNITS %d %.6f\n" % (state["units"], elapsed))
    sys.stdout.flush()
    os._exit(0)


def work(seconds):
    state["start"] = time.time()
    end = state["start"] + seconds if seconds else None
    while True:
        total = 0
        for i in range(1000):  # one work unit
            total += i * i
        state["units"] += 1
        if end and state["units"] % 64 == 0 and time.time() >= end:
            report()


def descend(n, seconds):
    if n <= 1:
        sys.stdout.write("READY %d\n" % os.getpid())
        sys.stdout.flush()
        work(seconds)
    descend(n - 1, seconds)


def main():
    args = sys.argv[1:]
    depth = int(args[args.index("--depth") + 1]) if "--depth" in args else 50
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    signal.signal(signal.SIGTERM, report)
    sys.setrecursionlimit(depth + 100)
    descend(depth, seconds)


if __name__ == "__main__":
    main()
