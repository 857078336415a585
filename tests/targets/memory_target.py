"""memory_target.py - a program whose memory shape is known by construction.

For `spyglass record --memory` (tests/e2e/test_memory.py): main() makes
small, short-lived allocations, then calls load_and_release() (in a thread
of its own, named "loader", with --thread), which touches ~200 MiB at LINE:alloc (a
bytearray is zero-filled, so every page is really resident), holds it while
it sleeps, frees it at LINE:free (one munmap of the whole buffer: RSS drops
at once, by the kernel's reckoning, while that line runs), sleeps again and
makes small allocations once more. At the end it prints its own peak RSS
(VmHWM from /proc/self/status) so the test can compare spyglass's figure
with the kernel's, read before the process is gone, and how many rounds of
small allocations it did per second (what a profiler's overhead slows).

Runs on Python 2.7 and 3.x.
"""
import sys
import threading
import time

BIG = 200 << 20


def small_allocations(seconds):
    """A few KiB at a time, dropped every 100 items: RSS barely moves.
    Returns the number of rounds done, a measure of how much a profiler
    slows the program down."""
    keep = []
    rounds = 0
    end = time.time() + seconds
    while time.time() < end:
        keep.append("x" * 1000)  # LINE:small
        rounds += 1
        if len(keep) > 100:
            del keep[:]
    return rounds


def vmhwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def load_and_release():
    data = bytearray(BIG)  # LINE:alloc
    time.sleep(0.5)  # LINE:hold
    del data  # LINE:free
    time.sleep(0.4)  # LINE:after


def main():
    rounds = small_allocations(0.3)
    if "--thread" in sys.argv:
        # the work in a thread of its own while the main thread waits
        worker = threading.Thread(target=load_and_release, name="loader")
        worker.start()
        worker.join()  # LINE:join
    else:
        load_and_release()  # LINE:call
    rounds += small_allocations(0.2)
    sys.stdout.write("VMHWM_KIB %d\nROUNDS_PER_S %d\n" % (vmhwm_kib(), rounds / 0.5))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
