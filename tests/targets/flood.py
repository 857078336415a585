"""A target that never stops making new code, for issue 20's memory bound (2.7 and 3.x).

Each iteration execs the source of a new function whose name, file name and
first line are all new (as a template engine or a plugin loader gone wrong
would, or an attacker), and calls it: the function sleeps --sleep seconds
(default 0.0005) or, with --spin, spins that long. A profiler that keeps
every distinct frame and stack it sees grows with this program for as long
as it runs. With --threads N, N threads do the same, each with its own names.

    python flood.py [--sleep S] [--spin] [--threads N] [--counter PATH]

--counter PATH: the number of functions made so far is kept as an 8-byte
little-endian counter at offset 0 of PATH (memory-mapped), so a test waits
for a count, not for a time. Prints "READY <pid>" once the first function ran.
"""
import mmap
import os
import struct
import sys
import threading
import time


def arg(name, default, kind=float):
    args = sys.argv[1:]
    if name in args:
        return kind(args[args.index(name) + 1])
    return default


SLEEP = arg("--sleep", 0.0005)
SPIN = "--spin" in sys.argv
THREADS = arg("--threads", 1, int)
COUNTER = arg("--counter", None, str)

TEMPLATE = """%(blank)sdef %(name)s(wait, spin):
    if spin:
        until = time() + wait
        while time() < until:
            pass
    else:
        sleep(wait)
"""


class Counter(object):
    """The functions made so far, shared with the outside through a mapped file."""

    def __init__(self, path):
        self.count = 0
        self.lock = threading.Lock()
        self.map = None
        if path:
            with open(path, "wb") as f:
                f.write(b"\0" * 8)
            fd = os.open(path, os.O_RDWR)
            self.map = mmap.mmap(fd, 8)
            os.close(fd)

    def add(self):
        with self.lock:
            self.count += 1
            if self.map is not None:
                self.map[0:8] = struct.pack("<Q", self.count)


def flood(tag, counter, announce):
    i = 0
    space = {"time": time.time, "sleep": time.sleep}
    while True:
        name = "flood_%s_%d" % (tag, i)
        source = TEMPLATE % {"blank": "\n" * (i % 997), "name": name}
        exec(compile(source, "<flood %s %d>.py" % (tag, i), "exec"), space)
        space.pop(name)(SLEEP, SPIN)
        counter.add()
        if announce:
            sys.stdout.write("READY %d\n" % os.getpid())
            sys.stdout.flush()
            announce = False
        i += 1


def main():
    counter = Counter(COUNTER)
    for t in range(1, THREADS):
        worker = threading.Thread(target=flood, args=("t%d" % t, counter, False),
                                  name="flood-%d" % t)
        worker.daemon = True
        worker.start()
    flood("main", counter, True)


main()
