"""spyglass benchmarks: profiler CPU per sample, highest sustainable rate, target slowdown.

Prints figures only; nothing here passes or fails on time. The machine is
shared and noisy, so every slowdown is a ratio measured in one run with
interleaved baseline and profiled runs.

    python3 bench/bench.py [--quick] [--versions 3.8,3.11,3.12,3.13] [--depths 10,50,200,50d]

A depth is one function recursing that deep; "50d" is 50 distinct functions,
as in a real service's stack (every code object is then a cache entry to check).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPYGLASS = os.path.join(ROOT, "build", "spyglass")
TARGET = os.path.join(ROOT, "tests", "targets", "bench_target.py")
PYTHONS = {
    "2.7": "/root/.pyenv/versions/2.7.18/bin/python",
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python",
    "3.7": "/root/.pyenv/versions/3.7.16/bin/python",
    "3.8": "/root/.pyenv/versions/3.8.18/bin/python",
    "3.9": "/root/.pyenv/versions/3.9.18/bin/python",
    "3.10": "/root/.pyenv/versions/3.10.13/bin/python",
    "3.11": "/root/.pyenv/versions/3.11.7/bin/python",
    "3.12": "/root/.pyenv/versions/3.12.1/bin/python",
    "3.13": "/root/.pyenv/versions/3.13.0/bin/python",
}


def start_target(python, depth, seconds=0):
    """depth: an int, or "50d" for 50 distinct functions."""
    distinct = str(depth).endswith("d")
    args = ["--depth", str(depth).rstrip("d"), "--seconds", str(seconds)]
    proc = subprocess.Popen([python, TARGET] + args + (["--distinct"] if distinct else []),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("READY"):
        raise RuntimeError("bench target did not start: %r" % line)
    return proc


def units_rate(proc):
    out = proc.stdout.read().decode()
    proc.wait()
    m = re.search(r"UNITS (\d+) ([\d.]+)", out)
    return int(m.group(1)) / float(m.group(2)) if m else float("nan")


def record(pid, rate, seconds, nonblocking):
    """Runs spyglass record; returns (cpu seconds, ticks, late, summary text)."""
    args = [SPYGLASS, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
            str(seconds), "-o", "/tmp/spyglass-bench.txt", "--format", "collapsed"]
    args.append("--nonblocking" if nonblocking else "--blocking")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = proc.stderr.decode()
    ticks = int(re.search(r"spyglass: (\d+) samples", text).group(1))
    late = int(re.search(r"late (\d+)", text).group(1))
    loop = re.search(r"CPU ([\d.]+) us", text)
    # The sampling loop's own CPU per sample (getrusage-style thread CPU time
    # measured by spyglass around the loop): start-up (ELF symbols, detection)
    # and writing the file are one-off costs, reported apart.
    return cpu, ticks, late, text, float(loop.group(1)) if loop else float("nan")


def cost_per_sample(python, depth, rate, seconds, nonblocking):
    target = start_target(python, depth)
    try:
        _, ticks, late, _, loop_us = record(target.pid, rate, seconds, nonblocking)
    finally:
        target.terminate()
        target.wait()
    return loop_us, ticks, late


def max_rate(python, depth, seconds, nonblocking):
    best = 0
    for rate in (100, 250, 500, 1000, 2000, 5000, 10000, 20000):
        _, ticks, late = cost_per_sample(python, depth, rate, seconds, nonblocking)
        if ticks and late * 100 < ticks:
            best = rate
        else:
            break
    return best


def slowdown(python, depth, rate, seconds, nonblocking, rounds):
    """Ratio of work-unit rates with / without the profiler, interleaved runs."""
    ratios = []
    for _ in range(rounds):
        base = start_target(python, depth, seconds)
        base_rate = units_rate(base)
        prof = start_target(python, depth, seconds)
        record(prof.pid, rate, seconds, nonblocking)
        prof_rate = units_rate(prof)
        ratios.append(prof_rate / base_rate)
    return statistics.median(ratios), min(ratios), max(ratios)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer rounds")
    p.add_argument("--versions", default="3.8,3.11,3.12,3.13")
    p.add_argument("--depths", default="10,50,200,50d")
    args = p.parse_args()
    secs = 2 if args.quick else 4
    rounds = 1 if args.quick else 3
    if not os.path.exists(SPYGLASS):
        sys.exit("bench: build/spyglass is missing: run make first")
    print("spyglass benchmark (%s); machine: %d cores, load %s" %
          ("quick" if args.quick else "full", os.cpu_count(), os.getloadavg()[0]))
    print("\nCPU of the profiler per sample (user+sys of the sampling loop / samples), microseconds")
    print("%-6s %-6s %12s %12s %12s %12s" % ("python", "depth", "100Hz blk", "1kHz blk",
                                             "100Hz nonbl", "1kHz nonbl"))
    for v in args.versions.split(","):
        if not os.path.exists(PYTHONS[v]):
            print("%-6s (not installed)" % v)
            continue
        for d in args.depths.split(","):
            row = []
            for nonblocking in (False, True):
                for rate in (100, 1000):
                    us, _, _ = cost_per_sample(PYTHONS[v], d, rate, secs, nonblocking)
                    row.append(us)
            print("%-6s %-6s %12.1f %12.1f %12.1f %12.1f" % tuple([v, d] + row))
    print("\nHighest rate with < 1% late samples (depth 50, tried up to 20 kHz)")
    for v in args.versions.split(","):
        if os.path.exists(PYTHONS[v]):
            print("%-6s blocking %6d Hz   nonblocking %6d Hz" % (
                v, max_rate(PYTHONS[v], 50, secs, False), max_rate(PYTHONS[v], 50, secs, True)))
    print("\nTarget slowdown (work units/s with profiler / without; median [min, max] of %d)"
          % rounds)
    for v in args.versions.split(","):
        if not os.path.exists(PYTHONS[v]):
            continue
        for rate in (100, 1000):
            for nonblocking in (False, True):
                med, lo, hi = slowdown(PYTHONS[v], 50, rate, secs, nonblocking, rounds)
                print("%-6s depth 50 %5d Hz %-11s %.3f [%.3f, %.3f]" % (
                    v, rate, "nonblocking" if nonblocking else "blocking", med, lo, hi))


if __name__ == "__main__":
    main()
