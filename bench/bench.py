"""spyglass benchmarks: profiler CPU per sample, system calls and instructions per
sample, highest sustainable rate, many threads, target slowdown.

Prints figures only; nothing here passes or fails on time. The machine is
shared and noisy, so every slowdown is a ratio measured in one run with
interleaved baseline and profiled runs, and the counts that do not depend on
the load are printed beside the times: system calls per sample (strace -c -f)
and user-space instructions per sample (valgrind --tool=callgrind), each where
the tool is installed. The floor first: what a loop that only sleeps to the
same deadlines costs on this machine (bench/tickfloor.c, built by run.sh).

    python3 bench/bench.py [--quick] [--versions 3.8,3.11,3.12,3.13] [--depths 10,50,200,50d]
    python3 bench/bench.py --native [--versions ...]   (only the --native table)

A depth is one function recursing that deep; "50d" is 50 distinct functions,
as in a real service's stack (every code object is then a cache entry to check).
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

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


TICKFLOOR = os.path.join(ROOT, "build", "bench", "tickfloor")


def start_target(python, depth, seconds=0, threads=0):
    """depth: an int, or "50d" for 50 distinct functions; threads: waiting
    threads besides the working one."""
    distinct = str(depth).endswith("d")
    args = ["--depth", str(depth).rstrip("d"), "--seconds", str(seconds)]
    args += ["--threads", str(threads)] if threads else []
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


def record(pid, rate, seconds, nonblocking, native=False):
    """Runs spyglass record; returns (cpu seconds, ticks, late, summary text)."""
    args = [SPYGLASS, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
            str(seconds), "-o", "/tmp/spyglass-bench.txt", "--format", "collapsed"]
    args.append("--native" if native else "--nonblocking" if nonblocking else "--blocking")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = proc.stderr.decode()
    ticks = int(re.search(r"spyglass: (\d+) samples", text).group(1))
    late = int(re.search(r"late (\d+)", text).group(1))
    loop = re.search(r"CPU ([\d.]+ us(?: \([\d.]+ us awake\))?)", text)
    # The sampling loop's own CPU per sample (getrusage-style thread CPU time
    # measured by spyglass around the loop): start-up (ELF symbols, detection)
    # and writing the file are one-off costs, reported apart.
    return cpu, ticks, late, text, loop.group(1) if loop else "-"


def cost_per_sample(python, depth, rate, seconds, nonblocking):
    target = start_target(python, depth)
    try:
        _, ticks, late, _, loop_us = record(target.pid, rate, seconds, nonblocking)
    finally:
        target.terminate()
        target.wait()
    return loop_us, ticks, late


def native_costs(python, depth, seconds):
    """CPU per sample at 100 Hz: nonblocking, blocking, --native, and of the
    last the part spent unwinding (microseconds)."""
    row = []
    for nonblocking in (True, False):
        row.append(cost_per_sample(python, depth, 100, seconds, nonblocking)[0])
    target = start_target(python, depth)
    try:
        _, _, _, text, loop_us = record(target.pid, 100, seconds, False, native=True)
    finally:
        target.terminate()
        target.wait()
    unwind = re.search(r"unwinding took ([\d.]+) us", text)
    frames = re.search(r"unwound, ([\d.]+) frames each", text)
    return row + [loop_us, float(unwind.group(1)) if unwind else float("nan"),
                  float(frames.group(1)) if frames else float("nan")]


def print_native_table(versions, seconds):
    print("\nCPU of the profiler per sample at 100 Hz with and without --native, microseconds")
    print("(the sampling loop's CPU per sample, and of it the part awake, as record's summary"
          " says it; then how much of --native's went to unwinding, and native frames per stack)")
    print("%-6s %-6s %22s %22s %22s %14s %8s" % ("python", "depth", "nonblocking", "blocking",
                                                 "native", "of it unwind", "frames"))
    for v in versions:
        if not os.path.exists(PYTHONS[v]):
            print("%-6s (not installed)" % v)
            continue
        for d in (10, 50):
            print("%-6s %-6s %22s %22s %22s %14.1f %8.1f" % tuple(
                [v, d] + native_costs(PYTHONS[v], d, seconds)))


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


def floor(rate, seconds):
    """(CPU us per tick, late share) of a loop that only sleeps to absolute
    deadlines, or None without build/bench/tickfloor."""
    if not os.path.exists(TICKFLOOR):
        return None
    out = subprocess.run([TICKFLOOR, str(rate), str(seconds)], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    m = re.search(r"ticks (\d+) late (\d+) cpu_us_per_tick ([\d.]+)", out)
    ticks, late = int(m.group(1)), int(m.group(2))
    return float(m.group(3)), late / float(max(ticks, 1)), ticks / float(seconds)


def record_args(pid, rate, seconds, out):
    return [SPYGLASS, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
            str(seconds), "-o", out, "--format", "collapsed", "--nonblocking"]


def samples_of(text):
    m = re.search(r"spyglass: (\d+) samples", text)
    return int(m.group(1)) if m else 0


def syscalls(pid, seconds):
    """System calls per sample of the sampling loop, by name (strace -c -f):
    a run of `seconds` at 1 kHz less a run of one sample (start-up)."""
    counts = []
    with tempfile.TemporaryDirectory() as tmp:
        for secs in (0.001, seconds):
            log = os.path.join(tmp, "strace")
            proc = subprocess.run(["strace", "-c", "-f", "-o", log] +
                                  record_args(pid, 1000, secs, os.path.join(tmp, "o")),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  universal_newlines=True)
            calls = {}
            with open(log) as f:
                for line in f:
                    cols = line.split()
                    if len(cols) >= 5 and cols[0][0].isdigit() and cols[-1] != "total":
                        calls[cols[-1]] = int(cols[3])
            counts.append((samples_of(proc.stderr), calls))
    (n0, c0), (n1, c1) = counts
    n = max(n1 - n0, 1)
    return {name: (c1.get(name, 0) - c0.get(name, 0)) / float(n) for name in c1}


def instructions(pid, seconds):
    """User-space instructions per sample in the sampling loop (callgrind,
    sampler_run and what it calls), at 200 Hz."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg")
        proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                               "--toggle-collect=sampler_run"] +
                              record_args(pid, 200, seconds, os.path.join(tmp, "o")),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              universal_newlines=True)
        with open(out) as f:
            total = [int(l.split()[1]) for l in f if l.startswith(("summary:", "totals:"))]
        return total[0] / float(max(samples_of(proc.stderr), 1)) if total else float("nan")


def counts(python, seconds, depth=50):
    target = start_target(python, depth)
    try:
        calls = syscalls(target.pid, seconds) if shutil.which("strace") else {}
        ir = instructions(target.pid, seconds) if shutil.which("valgrind") else float("nan")
    finally:
        target.terminate()
        target.wait()
    return calls, ir


def many_threads(python, threads, depth, rate, seconds):
    """(CPU us per sample of the loop, achieved Hz, late share, reads per
    sample) recording a target of `threads` waiting threads and one working."""
    target = start_target(python, depth, threads=threads)
    try:
        _, ticks, late, text, loop_us = record(target.pid, rate, seconds, True)
    finally:
        target.terminate()
        target.wait()
    missed = int(re.search(r"missed (\d+)", text).group(1))
    reads = re.search(r"([\d.]+) reads per sample", text)
    return (loop_us, ticks / float(seconds), (late + missed) / float(max(ticks + missed, 1)),
            float(reads.group(1)) if reads else float("nan"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter runs, fewer rounds")
    p.add_argument("--versions", default="3.8,3.11,3.12,3.13")
    p.add_argument("--depths", default="10,50,200,50d")
    p.add_argument("--native", action="store_true", help="only the --native table")
    args = p.parse_args()
    secs = 2 if args.quick else 4
    rounds = 1 if args.quick else 3
    if not os.path.exists(SPYGLASS):
        sys.exit("bench: build/spyglass is missing: run make first")
    print("spyglass benchmark (%s); machine: %d cores, load %s" %
          ("quick" if args.quick else "full", os.cpu_count(), os.getloadavg()[0]))
    if args.native:
        print_native_table(args.versions.split(","), secs)
        return
    print("\nFloor: a loop that only sleeps to absolute deadlines (bench/tickfloor.c)")
    for rate in (100, 1000, 10000):
        f = floor(rate, secs)
        if f:
            print("%6d Hz: CPU %.1f us per tick, %.1f%% late, %.0f ticks/s" % (
                rate, f[0], 100 * f[1], f[2]))
        else:
            print("%6d Hz: build/bench/tickfloor missing (bench/run.sh builds it)" % rate)
    print("\nCounts per sample at depth 50, 1 kHz nonblocking: system calls (strace -c -f,"
          " start-up taken out) and user instructions (callgrind, 200 Hz)")
    for v in args.versions.split(","):
        if not os.path.exists(PYTHONS[v]):
            continue
        calls, ir = counts(PYTHONS[v], secs)
        top = sorted(((n, c) for n, c in calls.items() if c >= 0.05), key=lambda x: -x[1])
        print("%-6s %5.2f calls (%s)  %8.0f instructions" % (
            v, sum(calls.values()), ", ".join("%s %.2f" % x for x in top), ir))
    print("\nCPU of the profiler per sample (user+sys of the sampling loop / samples), and of it"
          " the part awake (from wake-up to sleep, every 32nd tick), microseconds")
    print("%-6s %-6s %22s %22s %22s %22s" % ("python", "depth", "100Hz blk", "1kHz blk",
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
            print("%-6s %-6s %22s %22s %22s %22s" % tuple([v, d] + row))
    print("\nHighest rate with < 1% late samples (depth 50, tried up to 20 kHz)")
    for v in args.versions.split(","):
        if os.path.exists(PYTHONS[v]):
            print("%-6s blocking %6d Hz   nonblocking %6d Hz" % (
                v, max_rate(PYTHONS[v], 50, secs, False), max_rate(PYTHONS[v], 50, secs, True)))
    print("\nMany threads: 200 waiting + 1 working, 100 frames each, 100 Hz nonblocking"
          " (reads per sample: the mean, the first sample's cold reads included)")
    for v in args.versions.split(","):
        if os.path.exists(PYTHONS[v]):
            us, hz, late, reads = many_threads(PYTHONS[v], 200, 100, 100, 2 * secs)
            print("%-6s CPU %s per sample, %5.1f Hz achieved, %5.1f%% late, "
                  "%.1f reads per sample" % (v, us, hz, 100 * late, reads))
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
    print_native_table(args.versions.split(","), secs)


if __name__ == "__main__":
    main()
