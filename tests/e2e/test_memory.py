"""`spyglass record --memory` end to end: RSS changes charged to lines.

tests/targets/memory_target.py touches ~200 MiB at LINE:alloc, holds it,
frees it at LINE:free and makes small allocations elsewhere; it prints its
own VmHWM at the end. Ground truth is therefore: the growth belongs to the
alloc line, the release to the free line, and the peak RSS is the kernel's.
"""
import os
import re

import pytest

from conftest import TARGETS, interpreter_params, marked_lines, run_spyglass

PY3 = interpreter_params((3, 0))
TARGET = os.path.join(TARGETS, "memory_target.py")
LINES = marked_lines(TARGET)
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
MIB = 1024.0 * 1024.0


def record_memory(interp, out, extra=()):
    """Runs the target under record --memory; returns (proc, VmHWM in bytes)."""
    proc = run_spyglass(["record", "--memory", "-o", str(out)] + list(extra) +
                        ["--", interp.path, TARGET], timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^VMHWM_KIB (\d+)$", proc.stdout, re.M)
    assert m, proc.stdout
    return proc, int(m.group(1)) * 1024


def leaf_line_weights(path):
    """{line in the target: bytes} from a collapsed file, by the innermost
    frame of the target's file (the line in main for the big buffer)."""
    weights, total = {}, 0
    with open(str(path), encoding="utf-8") as f:
        for row in f:
            stack, count = row.rstrip("\n").rsplit(" ", 1)
            total += int(count)
            for frame in reversed(stack.split(";")):
                m = FRAME.match(frame)
                if m and m.group("file") == TARGET and m.group("line"):
                    line = int(m.group("line"))
                    weights[line] = weights.get(line, 0) + int(count)
                    break
    return weights, total


def summary_mib(stderr, what):
    m = re.search(r"%s ([0-9.]+) MiB" % what, stderr)
    assert m, stderr
    return float(m.group(1)) * MIB


@pytest.mark.parametrize("interp", PY3)
def test_memory_growth_goes_to_the_allocating_line(interp, tmp_path):
    out = tmp_path / "growth.folded"
    proc, vmhwm = record_memory(interp, out)
    weights, total = leaf_line_weights(out)
    alloc = weights.get(LINES["alloc"], 0)
    assert total > 190 * MIB, (total, proc.stderr)
    assert alloc >= 0.9 * total, (weights, total)
    # the buffer is 200 MiB; page granularity and the first sample's timing
    # leave a few pages either way
    assert abs(alloc - 200 * MIB) < 2 * MIB, alloc
    peak = summary_mib(proc.stderr, "peak")
    assert abs(peak - vmhwm) <= 0.05 * vmhwm, (peak, vmhwm, proc.stderr)
