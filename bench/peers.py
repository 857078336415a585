"""spyglass beside py-spy and Austin on the same targets: CPU per sample, achieved
rate, the highest rate each sustains, and the slowdown each causes.

    python3 bench/peers.py [--quick] [--versions 3.8,3.11,3.12,3.13] [--depths 10,50,200]

Figures only: nothing passes or fails. Every profiler records the same
bench target (tests/targets/bench_target.py: one CPU-bound thread under a
stack of the given depth) from outside, for the same time, runs interleaved
so that a busy machine weighs on all of them alike. CPU is the profiler
process's own user + system time (getrusage of the child, start-up
included), divided by the samples it says it took.

The peers are installed by bench/run.sh with pip into build/benchtools (never
into the system): py-spy (PyPI `py-spy`) and Austin (`austin-dist`; 3.7.0,
because 4.x's binary needs glibc 2.38 and Debian bookworm has 2.36).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys

from bench import PYTHONS, ROOT, SPYGLASS, start_target, units_rate

TOOLS = os.path.join(ROOT, "build", "benchtools", "bin")
OUT = "/tmp/spyglass-peers.out"


def spyglass(pid, rate, seconds, blocking):
    args = [SPYGLASS, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
            str(seconds), "-o", OUT, "--format", "collapsed",
            "--blocking" if blocking else "--nonblocking"]
    return args, parse_spyglass


def parse_spyglass(text, rate, seconds):
    samples = int(re.search(r"spyglass: (\d+) samples", text).group(1))
    late = int(re.search(r"late (\d+)", text).group(1))
    missed = int(re.search(r"missed (\d+)", text).group(1))
    return samples, late + missed


def pyspy(pid, rate, seconds, blocking):
    args = [os.path.join(TOOLS, "py-spy"), "record", "--pid", str(pid), "--rate", str(rate),
            "--duration", str(seconds), "-o", OUT, "--format", "raw"]
    if not blocking:
        args.append("--nonblocking")
    return args, parse_pyspy


def parse_pyspy(text, rate, seconds):
    """py-spy says how many samples it took, and how far behind it fell (not
    how many were late): samples short of rate x seconds count as late."""
    samples = int(re.search(r"Samples: (\d+)", text).group(1))
    return samples, max(0, int(rate * seconds) - samples)


def austin(pid, rate, seconds, blocking):
    """Austin never pauses the target; its interval is a sleep between samples."""
    interval_us = max(1, int(1e6 / rate))
    args = [os.path.join(TOOLS, "austin"), "-i", "%dus" % interval_us, "-x", str(seconds),
            "-p", str(pid), "-o", OUT]
    return args, parse_austin


def parse_austin(text, rate, seconds):
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    m = re.search(r"Long sampling rate : (\d+)/(\d+)", text)
    return int(m.group(2)), int(m.group(1))


PROFILERS = [
    ("spyglass", spyglass, False), ("spyglass --blocking", spyglass, True),
    ("py-spy --nonblocking", pyspy, False), ("py-spy (pauses)", pyspy, True),
    ("austin", austin, False),
]


def run(profiler, pid, rate, seconds):
    """Returns (CPU us per sample, achieved Hz, late share) of one recording."""
    _, make, blocking = profiler
    args, parse = make(pid, rate, seconds, blocking)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        samples, late = parse(proc.stdout.decode("utf-8", "replace"), rate, seconds)
    except (AttributeError, ValueError):
        return float("nan"), 0.0, 1.0
    if samples == 0:
        return float("nan"), 0.0, 1.0
    return cpu / samples * 1e6, samples / float(seconds), late / float(samples + late)


def cost(profiler, python, depth, rate, seconds):
    target = start_target(python, depth)
    try:
        return run(profiler, target.pid, rate, seconds)
    finally:
        target.terminate()
        target.wait()


def highest_rate(profiler, python, depth, seconds):
    """The highest of 100 Hz .. 20 kHz at which under 1% of samples came late."""
    best = 0
    for rate in (100, 250, 500, 1000, 2000, 5000, 10000, 20000):
        _, achieved, late = cost(profiler, python, depth, rate, seconds)
        if late < 0.01 and achieved >= 0.99 * rate:
            best = rate
        else:
            break
    return best


def slowdown(profiler, python, depth, rate, seconds, rounds):
    """Target work rate with the profiler / without, median of interleaved rounds."""
    ratios = []
    for _ in range(rounds):
        base = start_target(python, depth, seconds)
        base_rate = units_rate(base)
        prof = start_target(python, depth, seconds)
        run(profiler, prof.pid, rate, seconds)
        ratios.append(units_rate(prof) / base_rate)
    return statistics.median(ratios)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer rounds")
    p.add_argument("--versions", default="3.8,3.11,3.12,3.13")
    p.add_argument("--depths", default="10,50,200")
    args = p.parse_args()
    secs = 2 if args.quick else 4
    rounds = 1 if args.quick else 3
    missing = [t for t in ("py-spy", "austin") if not os.path.exists(os.path.join(TOOLS, t))]
    if missing:
        sys.exit("peers: %s missing from %s: run bench/run.sh (make bench)" % (missing, TOOLS))
    names = [name for name, _, _ in PROFILERS]
    print("spyglass, py-spy and Austin on the same targets; machine: %d cores, load %.1f"
          % (os.cpu_count(), os.getloadavg()[0]))
    print("\nCPU per sample at 1 kHz (us; profiler process user+sys incl. start-up / samples)"
          " and achieved rate (Hz)")
    print("%-6s %-5s " % ("python", "depth") + " ".join("%22s" % n for n in names))
    for v in args.versions.split(","):
        for d in args.depths.split(","):
            cells = []
            for prof in PROFILERS:
                us, hz, _ = cost(prof, PYTHONS[v], d, 1000, secs)
                cells.append("%10.1f us %6.0f Hz" % (us, hz))
            print("%-6s %-5s " % (v, d) + " ".join("%22s" % c for c in cells))
    print("\nHighest rate with < 1% late samples, depth 50 (tried 100 Hz .. 20 kHz)")
    print("%-6s " % "python" + " ".join("%22s" % n for n in names))
    for v in args.versions.split(","):
        rates = [highest_rate(prof, PYTHONS[v], 50, secs) for prof in PROFILERS]
        print("%-6s " % v + " ".join("%19d Hz" % r for r in rates))
    print("\nTarget slowdown at depth 50 (work rate with / without; median of %d)" % rounds)
    print("%-6s %-6s " % ("python", "rate") + " ".join("%22s" % n for n in names))
    for v in args.versions.split(","):
        for rate in (100, 1000):
            ratios = [slowdown(prof, PYTHONS[v], 50, rate, secs, rounds) for prof in PROFILERS]
            print("%-6s %5dHz " % (v, rate) + " ".join("%22.3f" % r for r in ratios))


if __name__ == "__main__":
    main()
