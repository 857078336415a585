"""Two busy threads, one of them mostly without the GIL, for record --gil.

Thread "compressor" compresses 1 MiB of random bytes with zlib over and
over: zlib releases the GIL while it deflates (on every version; 2.7's
built-in sha256 would not), so the OS runs the thread while another one
holds the GIL. The main thread spins in pure Python in spin(), holding the
GIL whenever it runs. Prints "READY <pid>" once both run.

    python nogil.py [--seconds S]
"""
import os
import sys
import threading
import time
import zlib

DATA = os.urandom(1024 * 1024)


def compressor(started):
    started.set()
    while True:
        zlib.compress(DATA, 6)  # LINE:compress


def spin(seconds):
    end = time.time() + seconds if seconds else None
    while end is None or time.time() < end:  # LINE:spin
        pass


def main():
    args = sys.argv[1:]
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 0
    started = threading.Event()
    t = threading.Thread(target=compressor, args=(started,), name="compressor")
    t.daemon = True
    t.start()
    started.wait()
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    spin(seconds)


main()
