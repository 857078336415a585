"""A target with known time shares, for `spyglass record` tests (2.7 and 3.x).

The main thread repeats a 100 ms cycle: CPU_PERCENT of it spinning in
cpu_burn(), the rest in time.sleep() inside idle_wait(). With --gil-thread a
second thread sleeps all the time (it never holds the GIL).

    python shares.py [--seconds S] [--cpu-percent P] [--exit-code N] [--gil-thread]
                     [--stats FILE]
With --stats, FILE always holds "CPU_SECONDS IDLE_SECONDS WALL_SECONDS": the
wall time really spent in each phase so far, and in all. On a loaded machine the target itself runs
late (cpu_burn ends when it next gets a CPU), so the shares drift from the
asked percentage; tests compare against these measured totals.
Prints "READY <pid>" on start; exits with --exit-code after --seconds (0: forever).
"""
import os
import sys
import threading
import time


TOTALS = [0.0, 0.0]
BORN = time.time()


def cpu_burn(until):
    start = time.time()
    while time.time() < until:  # LINE:cpu_burn
        pass
    TOTALS[0] += time.time() - start


def idle_wait(until):
    start = time.time()
    time.sleep(max(0.0, until - start))  # LINE:idle_wait
    TOTALS[1] += time.time() - start


def background_sleeper():
    while True:
        time.sleep(1)  # LINE:background


def cycle(cpu_fraction):
    start = time.time()
    cpu_burn(start + 0.1 * cpu_fraction)  # LINE:cycle_cpu
    idle_wait(start + 0.1)  # LINE:cycle_idle


def write_stats(path):
    with open(path + ".tmp", "w") as f:
        f.write("%.6f %.6f %.6f\n" % (TOTALS[0], TOTALS[1], time.time() - BORN))
    os.rename(path + ".tmp", path)


def main():
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    cpu = float(args[args.index("--cpu-percent") + 1]) if "--cpu-percent" in args else 60
    code = int(args[args.index("--exit-code") + 1]) if "--exit-code" in args else 0
    if "--gil-thread" in args:
        t = threading.Thread(target=background_sleeper, name="sleeper")
        t.daemon = True
        t.start()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    end = time.time() + seconds
    stats = args[args.index("--stats") + 1] if "--stats" in args else None
    while seconds == 0 or time.time() < end:
        cycle(cpu / 100.0)  # LINE:main_loop
        if stats:
            write_stats(stats)
    sys.exit(code)


if __name__ == "__main__":
    main()
