"""spyglass beside py-spy and Austin on the same targets: CPU per sample, achieved
rate, the highest rate each sustains, and the slowdown each causes.

    python3 bench/peers.py [--quick] [--versions 3.8,3.11,3.12,3.13] [--depths 10,50,200]

Figures only: nothing passes or fails. Every profiler records the same
bench target (tests/targets/bench_target.py: one CPU-bound thread under a
stack of the given depth) from outside, for the same time, runs interleaved
so that a busy machine weighs on all of them alike. CPU is the profiler
process's own user + system time (getrusage of the child, start-up
included), divided by the samples it says it took. For each Python and depth
the tables give, per profiler (spyglass and py-spy in both modes: py-spy
pauses the target by default, spyglass does with --blocking):

  - CPU per sample and the rate achieved, asked for 1 kHz;
  - the highest of 100 Hz .. 20 kHz at which under 1% of samples came late
    (and at least 99% of the asked rate came);
  - the target's slowdown at 100 Hz and 1 kHz: its work rate with the
    profiler / without (median of interleaved rounds, one baseline per round
    shared by all profilers).

How each counts late: spyglass says how many ticks were late or skipped;
py-spy says how many samples it took (a shortfall from rate x seconds is
counted late); Austin counts samples that took longer than its interval
(it sleeps the interval after each sample, so it never quite reaches the
rate asked). Austin reads no thread state (it never checks idle threads);
py-spy and spyglass do, each sample.

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
RATES = (100, 250, 500, 1000, 2000, 5000, 10000, 20000)


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


def sustained(result, rate):
    _, achieved, late = result
    return late < 0.01 and achieved >= 0.99 * rate


def highest_rate(profiler, python, depth, seconds, at_1khz):
    """The highest of RATES at which under 1% of samples came late, searched
    up or down from the 1 kHz run already made (0: not even 100 Hz)."""
    i = RATES.index(1000)
    if sustained(at_1khz, 1000):
        while i + 1 < len(RATES) and sustained(cost(profiler, python, depth, RATES[i + 1],
                                                    seconds), RATES[i + 1]):
            i += 1
        return RATES[i]
    while i > 0:
        i -= 1
        if sustained(cost(profiler, python, depth, RATES[i], seconds), RATES[i]):
            return RATES[i]
    return 0


def slowdowns(python, depth, rate, seconds, rounds):
    """Per profiler, the target's work rate with it / without (median of
    rounds; each round runs one baseline, then each profiler once)."""
    ratios = [[] for _ in PROFILERS]
    for _ in range(rounds):
        base = units_rate(start_target(python, depth, seconds))
        for i, prof in enumerate(PROFILERS):
            target = start_target(python, depth, seconds)
            run(prof, target.pid, rate, seconds)
            ratios[i].append(units_rate(target) / base)
    return [statistics.median(r) for r in ratios]


def table(title, rows, fmt):
    print("\n" + title)
    print("%-6s %-5s " % ("python", "depth") + " ".join("%21s" % n for n, _, _ in PROFILERS))
    for (v, d), cells in rows:
        print("%-6s %-5s " % (v, d) + " ".join("%21s" % (fmt % c) if c == c else "%21s" % "-"
                                                for c in cells))


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
    print("spyglass, py-spy and Austin on the same targets (%s: %d s runs, slowdown median of %d);"
          " machine: %d cores, load %.1f" % ("quick" if args.quick else "full", secs, rounds,
                                             os.cpu_count(), os.getloadavg()[0]))
    cpu, hz, highest, slow100, slow1k = [], [], [], [], []
    for v in args.versions.split(","):
        if not os.path.exists(PYTHONS[v]):
            print("%-6s (not installed)" % v)
            continue
        for d in args.depths.split(","):
            at_1khz = [cost(prof, PYTHONS[v], d, 1000, secs) for prof in PROFILERS]
            cpu.append(((v, d), [r[0] for r in at_1khz]))
            hz.append(((v, d), [r[1] for r in at_1khz]))
            highest.append(((v, d), [highest_rate(prof, PYTHONS[v], d, secs, r)
                                     for prof, r in zip(PROFILERS, at_1khz)]))
            slow100.append(((v, d), slowdowns(PYTHONS[v], d, 100, secs, rounds)))
            slow1k.append(((v, d), slowdowns(PYTHONS[v], d, 1000, secs, rounds)))
    table("CPU per sample at 1 kHz, us (profiler process user+sys, start-up included, / samples)",
          cpu, "%.1f")
    table("Rate achieved when asked for 1 kHz, Hz", hz, "%.0f")
    table("Highest rate with < 1% late samples, Hz (tried 100 Hz .. 20 kHz; 0: none)", highest,
          "%d")
    table("Target slowdown at 100 Hz (work rate with / without; median of %d)" % rounds, slow100,
          "%.3f")
    table("Target slowdown at 1 kHz (work rate with / without; median of %d)" % rounds, slow1k,
          "%.3f")
    print("\nload at the end: %.1f" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
