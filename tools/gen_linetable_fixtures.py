#!/usr/bin/env python3
"""Generates tests/unit/linetable_fixtures.h: real CPython line tables.

Each interpreter compiles the same few snippets (2.7-compatible syntax, plus
version-gated ones for 3.8+ and 3.11+ syntax) and reports, for every code object, its line-table bytes,
co_firstlineno and the line of every instruction offset as the interpreter
itself sees it:

  2.7, 3.6 - 3.9   dis.findlinestarts() over co_lnotab
  3.10             co_lines() over co_linetable
  3.11+            co_lines(), cross-checked against co_positions()

Where the interpreter reports no line (None), the fixture's expected line is
the nearest preceding real line, else co_firstlineno: the rule
src/python/linetable.c implements. Such points are flagged.

Usage (under any python3; it runs every interpreter itself):

  python3 tools/gen_linetable_fixtures.py > tests/unit/linetable_fixtures.h

With --emit it runs as the child: it must stay valid Python 2.7.
"""
from __future__ import print_function

import dis
import glob
import json
import os
import subprocess
import sys


def version_key(path):
    version = path.split("/")[-3]
    return tuple(int(part) for part in version.split("."))


PYTHONS = sorted(glob.glob("/root/.pyenv/versions/*/bin/python"), key=version_key) + [
    "/usr/bin/python3"]

# The huge function: the points kept from it (every instruction would be
# ~100k points per interpreter).
HUGE_LINES = 10200
HUGE_EVERY = 53          # keep every 53rd instruction ...
HUGE_DENSE = [(0, 512), (65536 - 512, 65536 + 512)]  # ... and all in these byte ranges
HUGE_TAIL = 512          # ... and in the last 512 bytes

COMMON = '''\
def while_loop(n):
    total = 0
    while n > 0:
        total += n
        n -= 1
    return total

def multi_line_call(a, b):
    return max(
        a,
        b,
        a + b,
    )

def multi_line_expr(a, b):
    x = (a +
         b *
         a)
    return x

def nested_try(x):
    try:
        y = 1 / x
    except ZeroDivisionError:
        y = 0
    finally:
        x = None
    return y

class Klass(object):
    def method(self, path):
        with open(path) as f:
            data = f.read()
        return [c for c in data if c]

def for_else(items):
    for i in items:
        if i:
            break
    else:
        i = None
    return i
'''

# A backwards jump of 300 lines inside one statement, and one of 70000.
BACKWARDS = '''\
def back_300(a):
    return max(
        a,''' + "\n" * 300 + '''
        a)

def back_70000(a):
    return max(
        a,''' + "\n" * 70000 + '''
        a)
'''

# A function whose first line is 70001, with a forward jump of 70000 inside.
FAR = "\n" * 70000 + '''\
def far_away(x):
    y = x + 1''' + "\n" * 70000 + '''
    return y
'''

MODERN = '''\
async def fetch(session, url):
    async with session.get(url) as resp:
        async for chunk in resp:
            yield chunk

def walrus(data):
    if (n := len(data)) > 10:
        return n
    return [y for x in data if (y := x * 2)]
'''

MATCH = '''\
def matcher(cmd):
    match cmd:
        case [x, y]:
            return x + y
        case {"k": v}:
            return v
        case _:
            return None

def groups():
    try:
        pass
    except* ValueError:
        x = 1
    return x
'''


def huge_source():
    out = ["def huge(x):\n"]
    for i in range(HUGE_LINES):
        if i % 500 == 250:
            out.append("    for i in range(2):\n        x = x - i\n")
        else:
            out.append("    x = x + %d\n" % (i % 7))
    out.append("    return x\n")
    return "".join(out)


def snippets():
    out = [("common.py", COMMON), ("backwards.py", BACKWARDS), ("far.py", FAR),
           ("huge.py", huge_source())]
    if sys.version_info >= (3, 8):
        out.append(("modern.py", MODERN))
    if sys.version_info >= (3, 11):
        out.append(("match.py", MATCH))
    return out


def line_kind():
    v = sys.version_info
    if v < (3, 0):
        return "PY_LINES_LNOTAB27"
    if v < (3, 10):
        return "PY_LINES_LNOTAB"
    if v < (3, 11):
        return "PY_LINES_310"
    return "PY_LINES_311"


def instruction_offsets(code):
    raw = bytearray(code.co_code)
    if sys.version_info >= (3, 6):
        return list(range(0, len(raw), 2))
    offsets, i = [], 0
    while i < len(raw):
        offsets.append(i)
        i += 3 if raw[i] >= dis.HAVE_ARGUMENT else 1
    return offsets


def lines_from_starts(code, offsets):
    """2.7 - 3.9: each offset takes the line of the last line start at or before it."""
    starts = list(dis.findlinestarts(code))
    lines, k = [], 0
    for off in offsets:
        while k + 1 < len(starts) and starts[k + 1][0] <= off:
            k += 1
        lines.append(starts[k][1])
    # Past the end: every increment applied (what PyCode_Addr2Line gives).
    return lines, starts[-1][1]


def lines_from_ranges(code, offsets):
    """3.10+: co_lines() ranges (start, end, line or None)."""
    ranges = list(code.co_lines())
    lines, k = [], 0
    for off in offsets:
        while k < len(ranges) and ranges[k][1] <= off:
            k += 1
        if k == len(ranges) or ranges[k][0] > off:
            raise SystemExit("offset %d of %s not covered by co_lines()" % (off, code.co_name))
        lines.append(ranges[k][2])
    if sys.version_info >= (3, 11):
        positions = list(code.co_positions())
        for i, off in enumerate(offsets):
            if positions[off // 2][0] != lines[i]:
                sys.stderr.write("%s: co_positions and co_lines differ at %d in %s: %r vs %r\n"
                                 % (sys.version.split()[0], off, code.co_name,
                                    positions[off // 2][0], lines[i]))
    last = ranges[-1][2] if ranges else None
    return lines, last


def walk(code, prefix):
    name = prefix + code.co_name
    yield name, code
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            for item in walk(const, name + "."):
                yield item


def emit():
    result = []
    for filename, source in snippets():
        top = compile(source, filename, "exec")
        for name, code in walk(top, filename + ":"):
            offsets = instruction_offsets(code)
            if sys.version_info >= (3, 10):
                table = code.co_linetable
                lines, end_line = lines_from_ranges(code, offsets)
            else:
                table = code.co_lnotab
                lines, end_line = lines_from_starts(code, offsets)
            result.append({
                "name": name,
                "firstlineno": code.co_firstlineno,
                "table": "".join("%02x" % b for b in bytearray(table)),
                "code_len": len(code.co_code),
                "offsets": offsets,
                "lines": lines,
                "end_line": end_line,
                "huge": filename == "huge.py" and code.co_name == "huge",
            })
    print(json.dumps({"version": sys.version.split()[0], "kind": line_kind(), "codes": result}))


def resolve(lines, firstlineno):
    """None (no line) becomes the nearest preceding real line, else firstlineno."""
    out, last = [], firstlineno
    for line in lines:
        if line is not None:
            last = line
        out.append((last, line is None))
    return out


def keep(offset, code_len, index):
    if index % HUGE_EVERY == 0 or offset >= code_len - HUGE_TAIL:
        return True
    return any(lo <= offset < hi for lo, hi in HUGE_DENSE)


def c_string(data):
    """A C string literal for data: printable ASCII as is, the rest in octal,
    in lines of at most ~96 characters. (No '?': -std=c17 has trigraphs.)"""
    lines, line = [], ""
    for b in bytearray(data):
        if 0x20 <= b < 0x7f and chr(b) not in '\\"?':
            line += chr(b)
        else:
            line += "\\%03o" % b
        if len(line) >= 96:
            lines.append(line)
            line = ""
    if line or not lines:
        lines.append(line)
    return "\n".join('    "%s"' % text for text in lines)


class Arrays(object):
    """Writes each distinct table or point list once (versions often share them)."""

    def __init__(self, write):
        self.write = write
        self.seen = {}

    def table(self, data):
        key = ("t", bytes(data))
        if key not in self.seen:
            ident = "lt_table_%d" % len(self.seen)
            self.seen[key] = ident
            self.write("static const uint8_t %s[] =\n%s;\n" % (ident, c_string(data)))
        return self.seen[key]

    def points(self, points):
        key = ("p", tuple(points))
        if key not in self.seen:
            ident = "lt_points_%d" % len(self.seen)
            self.seen[key] = ident
            body = ",".join("{%d,%d,%d}" % p for p in points)
            self.write("static const struct lt_point %s[] = {%s};\n" % (ident, body))
        return self.seen[key]


def write_header(runs):
    w = sys.stdout.write
    w("/*\n * linetable_fixtures.h - GENERATED by tools/gen_linetable_fixtures.py;\n"
      " * do not edit. Real line tables from each interpreter, with the line the\n"
      " * interpreter itself reports at each instruction offset (sampled in the huge\n"
      " * function). Points flagged no_line were None there: their line is the\n"
      " * nearest preceding real line, else co_firstlineno.\n *\n"
      " * Regenerate: python3 tools/gen_linetable_fixtures.py > tests/unit/linetable_fixtures.h\n"
      " */\n")
    w("#ifndef SPYGLASS_TESTS_LINETABLE_FIXTURES_H\n#define SPYGLASS_TESTS_LINETABLE_FIXTURES_H\n\n")
    w("#include <stddef.h>\n#include <stdint.h>\n\n#include \"python/layout.h\"\n\n")
    w("struct lt_point {\n    uint32_t offset;\n    int32_t line;\n    uint8_t no_line;\n};\n\n")
    w("struct lt_fixture {\n    const char *python;\n    const char *name;\n"
      "    enum py_line_kind kind;\n    int firstlineno;\n    const uint8_t *table;\n"
      "    size_t table_len;\n    const struct lt_point *points;\n    size_t point_count;\n"
      "    uint32_t code_len;\n    int end_line; /* the line past the last instruction */\n"
      "    int sampled;  /* points are a sample, not every instruction */\n};\n\n")
    arrays = Arrays(w)
    entries = []
    for run in runs:
        for code in run["codes"]:
            table = bytearray.fromhex(code["table"])
            resolved = resolve(code["lines"], code["firstlineno"])
            points = []
            for j, (off, (line, none)) in enumerate(zip(code["offsets"], resolved)):
                if not code["huge"] or keep(off, code["code_len"], j):
                    points.append((off, line, 1 if none else 0))
            end = code["end_line"]
            if end is None:
                end = resolved[-1][0] if resolved else code["firstlineno"]
            entries.append('    {"%s", "%s", %s, %d, %s, %d, %s, %d, %d, %d, %d},\n'
                           % (run["version"], code["name"], run["kind"], code["firstlineno"],
                              arrays.table(table), len(table), arrays.points(points),
                              len(points), code["code_len"], end, 1 if code["huge"] else 0))
    w("\nstatic const struct lt_fixture lt_fixtures[] = {\n")
    w("".join(entries))
    w("};\n\n#endif\n")


def main():
    if "--emit" in sys.argv:
        emit()
        return
    runs, seen = [], set()
    for python in PYTHONS:
        out = subprocess.check_output([python, os.path.abspath(__file__), "--emit"])
        run = json.loads(out.decode())
        if run["version"] in seen:
            continue
        seen.add(run["version"])
        runs.append(run)
    write_header(runs)


if __name__ == "__main__":
    main()
