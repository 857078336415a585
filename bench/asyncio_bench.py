"""spyglass benchmark: what `record --async` costs per sample over ~200 asyncio tasks.

Prints figures only; nothing here passes or fails on time. For each interpreter,
with the C _asyncio Task and the pure-Python one, tests/targets/tasks_tree.py builds
203 tasks in two loops (160 gathered sleepers, a TaskGroup of 20, lock / event / queue /
socket waiters, a deadlock pair, a spinning task); spyglass records it at 100 Hz
without --async and with --async --idle, and the summaries give the cost of a sample
(mean and p99 time, CPU, reads of target memory) and of reading the tasks in it.

    python3 bench/asyncio_bench.py [--versions 3.8,3.11,3.12,3.13] [--seconds 5]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPYGLASS = os.path.join(ROOT, "build", "spyglass")
TARGET = os.path.join(ROOT, "tests", "targets", "tasks_tree.py")
PYTHONS = {
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python",
    "3.7": "/root/.pyenv/versions/3.7.16/bin/python",
    "3.8": "/root/.pyenv/versions/3.8.18/bin/python",
    "3.9": "/root/.pyenv/versions/3.9.18/bin/python",
    "3.10": "/root/.pyenv/versions/3.10.13/bin/python",
    "3.11": "/root/.pyenv/versions/3.11.7/bin/python",
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python",
}


def start(python, pure):
    args = [python, TARGET, "--workers", "160", "--loops", "2"] + (["--pure"] if pure else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=os.path.dirname(TARGET))
    line = proc.stdout.readline().decode()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError("tasks_tree.py did not start: %r" % line)
    return proc


def record(pid, seconds, extra):
    out = subprocess.run([SPYGLASS, "record", "--pid", str(pid), "--rate", "100", "-d",
                          str(seconds), "-o", "/tmp/spyglass-asyncio-bench.txt"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return out.stderr.decode()


def figures(summary):
    f = {}
    m = re.search(r"sample cost mean (\d+) us, p99 (\d+) us, CPU ([\d.]+) us and ([\d.]+) reads",
                  summary)
    if m:
        f["mean"], f["p99"], f["cpu"], f["reads"] = (float(x) for x in m.groups())
    m = re.search(r"\(([\d.]+) Hz achieved", summary)
    f["hz"] = float(m.group(1)) if m else float("nan")
    m = re.search(r"asyncio: ([\d.]+) tasks per sample", summary)
    f["tasks"] = float(m.group(1)) if m else 0.0
    m = re.search(r"reading the tasks cost (\d+) us of CPU \((\d+) us of time\) and ([\d.]+) "
                  r"reads", summary)
    if m:
        f["tcpu"], f["ttime"], f["treads"] = (float(x) for x in m.groups())
    return f


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--versions", default="3.8,3.11,3.12,3.13")
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()
    print("load average before: %.1f" % os.getloadavg()[0])
    print("%-9s %6s | %22s | %41s | %28s" % ("python", "tasks", "without --async",
                                             "with --async --idle", "reading the tasks"))
    print("%-9s %6s | %6s %6s %8s | %6s %6s %6s %8s %6s | %7s %8s %6s" % (
        "", "", "Hz", "mean", "CPU", "Hz", "mean", "p99", "CPU", "reads", "CPU", "time",
        "reads"))
    for version in args.versions.split(","):
        for pure in (False, True):
            python = PYTHONS.get(version)
            if not python or not os.path.exists(python):
                print("%-9s (not installed)" % version)
                continue
            proc = start(python, pure)
            try:
                base = figures(record(proc.pid, args.seconds, []))
                both = figures(record(proc.pid, args.seconds, ["--async", "--idle"]))
            finally:
                proc.kill()
                proc.wait()
            print("%-9s %6.0f | %6.1f %6.0f %8.1f | %6.1f %6.0f %6.0f %8.1f %6.1f | %7.0f %8.0f "
                  "%6.1f" % ("%s%s" % (version, " pure" if pure else ""), both["tasks"],
                             base["hz"], base["mean"], base["cpu"], both["hz"], both["mean"],
                             both["p99"], both["cpu"], both["reads"], both.get("tcpu", 0),
                             both.get("ttime", 0), both.get("treads", 0)))
            sys.stdout.flush()
    print("load average after: %.1f" % os.getloadavg()[0])
    print("(us per sample; mean/p99: the time a sample took, CPU: spyglass's CPU time)")


if __name__ == "__main__":
    main()
