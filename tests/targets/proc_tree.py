"""A process tree with known stacks, for --subprocesses.

The parent starts, and names on its READY line:
  fork=PID   a multiprocessing child (forked) running child_burn
  spawn=PID  3.4+: a multiprocessing child started with "spawn" (a fresh
             interpreter), running child_burn
  exec=PID   a fresh interpreter started with subprocess, running child_burn
  other=PID  a child that is not Python (sleep), to be skipped
On SIGUSR1 it starts one more fresh interpreter (a worker started mid-run) and
prints "LATE PID". The parent itself waits in parent_wait (idle). Everything
ends after --seconds.

    python proc_tree.py [--seconds S]
    python proc_tree.py --child SECONDS     (what exec'd children run)
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import time


def child_burn(seconds):
    deadline = time.time() + seconds
    total = 0
    while time.time() < deadline:
        for i in range(2000):  # LINE:child_burn
            total += i * i % 7
    return total


def exec_child(seconds):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", str(seconds)])


def parent_wait(seconds, late):
    deadline = time.time() + seconds
    started = []
    while time.time() < deadline:
        if late and not started:
            started.append(exec_child(max(deadline - time.time(), 0.1)))
            sys.stdout.write("LATE %d\n" % started[0].pid)
            sys.stdout.flush()
        time.sleep(0.02)  # LINE:parent_wait
    return started


def main():
    if sys.argv[1:2] == ["--child"]:
        child_burn(float(sys.argv[2]))
        return 0
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 10
    late = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: late.append(1))
    fork = multiprocessing.Process(target=child_burn, args=(seconds,))
    fork.start()
    names = ["fork=%d" % fork.pid]
    children = [fork]
    if hasattr(multiprocessing, "get_context"):
        spawn = multiprocessing.get_context("spawn").Process(target=child_burn, args=(seconds,))
        spawn.start()
        names.append("spawn=%d" % spawn.pid)
        children.append(spawn)
    execd = exec_child(seconds)
    other = subprocess.Popen(["sleep", str(seconds)])
    names += ["exec=%d" % execd.pid, "other=%d" % other.pid]
    sys.stdout.write("READY %s\n" % " ".join(names))
    sys.stdout.flush()
    started = parent_wait(seconds, late)
    for p in [execd, other] + started:
        p.wait()
    for c in children:
        c.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
