"""A CPU-bound target for benchmarks: recurses to --depth, then does work units
forever (or for --seconds), printing the rate of work units when it ends.

    python bench_target.py --depth 50 [--seconds S] [--distinct] [--threads N]
Prints "READY <pid>" once at depth; on exit (or SIGTERM) prints "UNITS <n> <seconds>".
With --distinct every level is a function of its own (level_50 ... level_1), as in
a real service's stack, instead of one function recursing. With --threads N, N more
threads wait (as a server's pool does) under stacks of the same depth before READY.
"""
import os
import signal
import sys
import threading
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


def wait_at(n, ready, forever):
    """A pool thread: n frames deep, then waits for good."""
    if n <= 1:
        ready.release()
        forever.wait()
        return
    wait_at(n - 1, ready, forever)


def start_waiters(count, depth):
    ready, forever = threading.Semaphore(0), threading.Event()
    for i in range(count):
        thread = threading.Thread(target=wait_at, args=(depth, ready, forever), name="pool-%d" % i)
        thread.daemon = True
        thread.start()
    for _ in range(count):
        ready.acquire()


def distinct_levels(depth):
    """Returns level_<depth>, the top of a chain of depth distinct functions
    (compiled from generated source), the last of which calls descend(1)."""
    lines = ["def level_1(seconds):\n    descend(1, seconds)\n"]
    for k in range(2, depth + 1):
        lines.append("def level_%d(seconds):\n    level_%d(seconds)\n" % (k, k - 1))
    namespace = {"descend": descend}
    exec(compile("".join(lines), __file__ + "-levels", "exec"), namespace)
    return namespace["level_%d" % depth]


def main():
    args = sys.argv[1:]
    depth = int(args[args.index("--depth") + 1]) if "--depth" in args else 50
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    signal.signal(signal.SIGTERM, report)
    sys.setrecursionlimit(depth + 100)
    if "--threads" in args:
        start_waiters(int(args[args.index("--threads") + 1]), depth)
    if "--distinct" in args:
        distinct_levels(depth)(seconds)
    else:
        descend(depth, seconds)


if __name__ == "__main__":
    main()
