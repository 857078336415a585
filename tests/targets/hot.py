"""A target with one known hot function, for `spyglass top` tests (2.7 and 3.x).

The main thread repeats a 100 ms cycle, all of it on the CPU: --hot-percent
(default 75) of it in hot(), the rest in warm(), both called from cycle().
A second thread, "sleeper", sleeps all the time (it is idle).

    python hot.py [--seconds S] [--hot-percent P] [--stats FILE]
Prints "READY <pid>" on start; exits 0 after --seconds (0: forever).

On a loaded machine the split drifts from P (a thread descheduled at the end of
hot() overshoots into warm()'s share), so with --stats FILE the target writes
what it measured after every cycle: "HOT_SECONDS WARM_SECONDS", wall time spent
in each so far. Tests compare spyglass's shares with that, not with P.
"""
import os
import sys
import threading
import time


def hot(until):  # LINE:hot_def
    while time.time() < until: pass  # LINE:hot


def warm(until):  # LINE:warm_def
    while time.time() < until: pass  # LINE:warm


def sleeper():
    while True:
        time.sleep(1)  # LINE:sleeper


spent = [0.0, 0.0]  # wall seconds in hot(), in warm()


def cycle(hot_fraction):  # LINE:cycle_def
    start = time.time()
    hot(start + 0.1 * hot_fraction)  # LINE:cycle_hot
    middle = time.time()
    warm(start + 0.1)  # LINE:cycle_warm
    spent[0] += middle - start
    spent[1] += time.time() - middle


def write_stats(path):
    """Replaces path atomically, so a reader never sees half a line."""
    with open(path + ".tmp", "w") as f:
        f.write("%.6f %.6f\n" % (spent[0], spent[1]))
    os.rename(path + ".tmp", path)


def main():
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    hot_percent = float(args[args.index("--hot-percent") + 1]) if "--hot-percent" in args else 75
    stats = args[args.index("--stats") + 1] if "--stats" in args else None
    t = threading.Thread(target=sleeper, name="sleeper")
    t.daemon = True
    t.start()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    end = time.time() + seconds
    while seconds == 0 or time.time() < end:
        cycle(hot_percent / 100.0)  # LINE:main_loop
        if stats:
            write_stats(stats)


if __name__ == "__main__":
    main()
