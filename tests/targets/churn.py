"""A stack that changes shape all the time, for measuring torn samples.

main() calls level(1), which calls level(2), ... down to a random depth and
returns, over and over. Every valid stack is therefore main, then level
frames whose call line is LINE:call, with the leaf's line LINE:call or
LINE:leaf. A sample that is anything else was torn by the target moving
under the profiler.
    python churn.py [--seconds S]
"""
import os
import random
import sys
import time


def level(n, depth):
    if n >= depth:
        return n  # LINE:leaf
    return level(n + 1, depth)  # LINE:call


def main():
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    end = time.time() + seconds
    rnd = random.Random(1)
    while seconds == 0 or time.time() < end:
        level(1, rnd.randint(1, 60))  # LINE:main


main()
