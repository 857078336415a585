"""A target with one known hot function, for `spyglass top` tests (2.7 and 3.x).

The main thread repeats a 100 ms cycle, all of it on the CPU: --hot-percent
(default 75) of it in hot(), the rest in warm(), both called from cycle().
A second thread, "sleeper", sleeps all the time (it is idle).

    python hot.py [--seconds S] [--hot-percent P]
Prints "READY <pid>" on start; exits 0 after --seconds (0: forever).
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


def cycle(hot_fraction):  # LINE:cycle_def
    start = time.time()
    hot(start + 0.1 * hot_fraction)  # LINE:cycle_hot
    warm(start + 0.1)  # LINE:cycle_warm


def main():
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    hot_percent = float(args[args.index("--hot-percent") + 1]) if "--hot-percent" in args else 75
    t = threading.Thread(target=sleeper, name="sleeper")
    t.daemon = True
    t.start()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    end = time.time() + seconds
    while seconds == 0 or time.time() < end:
        cycle(hot_percent / 100.0)  # LINE:main_loop


if __name__ == "__main__":
    main()
