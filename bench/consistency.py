#!/usr/bin/env python3
"""Measures how often a sample is torn, paused (default) vs --nonblocking.

Runs tests/targets/churn.py (a stack changing shape thousands of times per
second) under `spyglass record` in both modes, and counts samples whose stack
could not have existed: every valid one is <module>, main, then `level`
frames each called from the LINE:call line. Prints the torn share that got
into the profile, the mean sample cost each mode reported, and the share of
thread stacks spyglass itself found torn and left out (counted, not kept).

    bench/consistency.py [--python PATH ...] [--seconds S] [--rate HZ]
                         [--mode both|paused|nonblocking]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPYGLASS = os.environ.get("SPYGLASS", os.path.join(ROOT, "build", "spyglass"))
TARGET = os.path.join(ROOT, "tests", "targets", "churn.py")
LOOP = re.compile(r"^(main|level) \([^()]*churn\.py:\d+\)$")
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def marked(path):
    lines = {}
    with open(path) as f:
        for i, text in enumerate(f, 1):
            m = re.search(r"# LINE:(\w+)", text)
            if m:
                lines[m.group(1)] = i
    return lines


def valid(frames, lines):
    """A stack the target can really have: <module>, main, then either
    random's frames (choosing the depth) or `level` frames, each but the
    leaf on LINE:call, the leaf anywhere in level's body."""
    parsed = [FRAME.match(f) for f in frames]
    if not all(parsed):
        return False
    names = [(m.group("name"), m.group("file"), int(m.group("line") or 0)) for m in parsed]
    if len(names) < 2 or names[0][0] != "<module>" or names[1][0] != "main":
        return False
    rest = names[2:]
    if rest and names[1][2] != lines["main"]:
        return False
    if rest and all(f.endswith("random.py") for _, f, _ in rest):
        return True
    first, last = lines["call"] - 3, lines["call"]
    for i, (name, _, line) in enumerate(rest):
        leaf = i == len(rest) - 1
        if name != "level":
            return False
        if not (line == last or (leaf and first <= line <= last)):
            return False
    return True


def run(python, extra, seconds, rate):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "p.txt")
        proc = subprocess.run([SPYGLASS, "record", "--rate", str(rate), "-o", out] + extra +
                              ["--", python, TARGET, "--seconds", str(seconds)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              universal_newlines=True)
        if proc.returncode != 0:
            sys.exit("spyglass failed: " + proc.stderr)
        lines = marked(TARGET)
        total = torn = 0
        with open(out) as f:
            for row in f:
                stack, count = row.rstrip("\n").rsplit(" ", 1)
                frames = stack.split(";")
                # Start-up samples (imports) are not the loop: skip them. A
                # stack with any of the loop's frames is counted, so a torn
                # one that lost its <module> root is counted as torn.
                if not any(LOOP.match(f) for f in frames):
                    continue
                total += int(count)
                torn += 0 if valid(frames, lines) else int(count)
        cost = re.search(r"sample cost mean (\d+) us", proc.stderr)
        errors = re.search(r"errors (\d+) \(([\d.]+)%\)", proc.stderr)
        dropped = re.search(r"\(([\d.]+)% of \d+\) left out as torn", proc.stderr)
        return (total, torn, int(cost.group(1)) if cost else -1,
                errors.group(2) if errors else "?", dropped.group(1) if dropped else "0")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", action="append")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--mode", choices=("both", "paused", "nonblocking"), default="both")
    args = ap.parse_args()
    pythons = args.python or ["/root/.pyenv/versions/3.8.18/bin/python",
                              "/root/.pyenv/versions/3.11.7/bin/python",
                              "/root/.pyenv/versions/3.12.1/bin/python",
                              "/root/.pyenv/versions/3.13.0/bin/python"]
    print("%-44s %-12s %8s %8s %8s %10s" % ("python", "mode", "samples", "torn", "torn %",
                                            "cost us"))
    for python in pythons:
        if not os.path.exists(python):
            continue
        for mode, extra in (("paused", ["--blocking"]), ("nonblocking", ["--nonblocking"])):
            if args.mode not in ("both", mode):
                continue
            total, torn, cost, errors, dropped = run(python, extra, args.seconds, args.rate)
            print("%-44s %-12s %8d %8d %7.2f%% %10d   (errors %s%%, left out as torn %s%%)"
                  % (python, mode, total, torn, 100.0 * torn / max(total, 1), cost, errors,
                     dropped))


if __name__ == "__main__":
    main()
