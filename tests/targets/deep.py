"""A stack 20,000 frames deep (or --depth N), for the depth limit.

main() starts a thread "deep" with a large stack (before 3.11 every Python
call also uses the C stack), which calls recurse() DEPTH times and then
spins in spin() at the leaf. So the thread's stack is, outermost first:
Thread._bootstrap..., run, descend, recurse x DEPTH, spin. Prints
"READY <pid>" once at the leaf.

    python deep.py [--depth N] [--seconds S]
"""
import os
import sys
import threading
import time


def spin(seconds):
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    end = time.time() + seconds if seconds else None
    while end is None or time.time() < end:  # LINE:spin
        pass


def recurse(n, seconds):
    if n == 0:
        return spin(seconds)
    return recurse(n - 1, seconds)  # LINE:recurse


def descend(depth, seconds):
    recurse(depth - 1, seconds)  # LINE:descend


def main():
    args = sys.argv[1:]
    depth = int(args[args.index("--depth") + 1]) if "--depth" in args else 20000
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    sys.setrecursionlimit(depth + 1000)
    threading.stack_size(512 * 1024 * 1024)
    t = threading.Thread(target=descend, args=(depth, seconds), name="deep")
    t.start()
    t.join()


main()
