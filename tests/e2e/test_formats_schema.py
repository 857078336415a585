"""The file writers checked by real parsers.

A small C driver (format_driver.c), compiled here against src/profile,
src/format, src/import and src/util, writes one hand-built profile in every
format, with and without a timeline. The speedscope files must validate
against speedscope's published JSON schema (vendored in data/), the trace
files must be Trace Event Format JSON with properly nested complete events,
the collapsed files must be lines flamegraph.pl can read and must survive a
round trip through the collapsed reader, and the SVG must be well-formed XML.

Traces recorded from real targets go through a nesting check made the way
viewers make it: each complete event becomes a begin at ts and an end at
ts + dur computed in doubles, as JavaScript does, and ends must meet their
begins on a stack (speedscope logs "Tried to end X when Y was on top"
otherwise). Fractional microseconds once made 201 of 1,619 events fail it.
And no end may share its time with another event on its track: speedscope
breaks such ties by name and lost the stack on them (tests/browser runs
speedscope's own importer on recorded traces).
"""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, TARGETS, interpreter_params, run_spyglass

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def strict_load(path):
    """json.load that rejects NaN/Infinity, duplicate keys and invalid UTF-8."""
    def no_constant(c):
        raise ValueError("non-standard JSON constant " + c)

    def pairs(items):
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), "duplicate key in %r" % keys
        return dict(items)

    with open(path, encoding="utf-8", errors="strict") as f:
        return json.load(f, parse_constant=no_constant, object_pairs_hook=pairs)


@pytest.fixture(scope="module")
def driver():
    target = os.path.join("build", "tests", "format_driver-asan")  # sanitized
    subprocess.check_call(["make", "-s", target], cwd=ROOT)  # a no-op after `make e2e`
    return os.path.join(ROOT, target)


@pytest.fixture(scope="module")
def written(driver, tmp_path_factory):
    out = tmp_path_factory.mktemp("formats")
    subprocess.run([driver, str(out)], check=True)
    return out


@pytest.mark.parametrize("stem", ["aggregate", "timeline"])
def test_speedscope_validates_against_the_official_schema(written, stem):
    jsonschema = pytest.importorskip("jsonschema", reason="Debian package python3-jsonschema")
    with open(os.path.join(DATA, "speedscope-file-format-schema.json")) as f:
        schema = json.load(f)
    doc = strict_load(str(written / (stem + ".speedscope.json")))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(doc)


@pytest.mark.parametrize("stem", ["aggregate", "timeline"])
def test_speedscope_samples_index_shared_frames(written, stem):
    doc = strict_load(str(written / (stem + ".speedscope.json")))
    frames = doc["shared"]["frames"]
    assert 0 <= doc["activeProfileIndex"] < len(doc["profiles"])
    total = 0
    for prof in doc["profiles"]:
        assert len(prof["samples"]) == len(prof["weights"])
        assert prof["endValue"] == sum(prof["weights"])
        for stack in prof["samples"]:
            assert all(0 <= i < len(frames) for i in stack)
        total += sum(prof["weights"])
        assert prof["unit"] == "microseconds"  # the driver's profile is sampled at 100 Hz
    assert total == 150000  # 10 main-thread ticks + 5 worker ticks, 10 ms each
    names = [f["name"] for f in frames]
    assert 'render;template\n"x" \ufffd' in names


def test_speedscope_timeline_has_a_profile_per_thread(written):
    doc = strict_load(str(written / "timeline.speedscope.json"))
    assert [p["name"] for p in doc["profiles"]] == [
        "MainThread (tid 4242)", 'worker "1" (tid 4243)']
    assert [p["endValue"] for p in doc["profiles"]] == [100000, 50000]


def nesting_errors(events):
    """Replays a track's complete events as a viewer does: a begin at ts and
    an end at ts + dur (doubles, no tolerance); at one time ends go before
    begins, inner ends first, outer begins first. Returns the messages a
    stack-based importer would log (speedscope's wording)."""
    marks = []
    for order, e in enumerate(events):
        marks.append((e["ts"], 1, order, e["name"]))
        marks.append((e["ts"] + e["dur"], 0, -order, e["name"]))
    marks.sort(key=lambda m: m[:3])
    stack, errors = [], []
    for _, begin, order, name in marks:
        if begin:
            stack.append((order, name))
        elif not stack or stack[-1][0] != -order:
            errors.append("Tried to end %s when %s was on top"
                          % (name, stack[-1][1] if stack else "nothing"))
        else:
            stack.pop()
    return errors


def meeting_ends(events):
    """Ends that share their time with another begin or end on the track."""
    ends = [e["ts"] + e["dur"] for e in events]
    begins = set(e["ts"] for e in events)
    return sorted(t for t in ends if t in begins or ends.count(t) > 1)


def nested(spans):
    """True if the (ts, dur) spans of one track nest like a call stack."""
    return not nesting_errors([{"ts": ts, "dur": dur, "name": str(i)}
                               for i, (ts, dur) in enumerate(spans)])


@pytest.mark.parametrize("stem", ["aggregate", "timeline"])
def test_chrometrace_is_trace_event_format(written, stem):
    doc = strict_load(str(written / (stem + ".trace.json")))
    assert set(doc) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert doc["displayTimeUnit"] == "ms"
    tracks = {}
    for e in doc["traceEvents"]:
        assert e["ph"] in ("M", "X")
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert e["pid"] == 4242
        if e["ph"] == "M":
            assert e["name"] in ("process_name", "thread_name")
            assert isinstance(e["args"]["name"], str)
            continue
        assert isinstance(e["name"], str) and e["ts"] >= 0 and e["dur"] >= 0
        tracks.setdefault(e["tid"], []).append((e["ts"], e["dur"]))
    for tid, spans in tracks.items():
        assert spans == sorted(spans, key=lambda s: s[0]), tid
        assert nested(spans), tid


def test_chrometrace_timeline_tracks_follow_threads(written):
    doc = strict_load(str(written / "timeline.trace.json"))
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {4242: "MainThread (tid 4242)", 4243: 'worker "1" (tid 4243)'}
    roots = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["tid"] == 4242
             and e["name"].startswith("thread ")]
    # 10 ticks of 10 ms, ending a unit (1/1024 us) early: see chrometrace.c.
    assert [(e["ts"], e["dur"]) for e in roots] == [(0, 100000 - 1 / 1024.0)]


LINE = re.compile(r"^([^;\n]+(;[^;\n]+)*) (\d+)$")


def test_collapsed_lines_are_flamegraph_input(written):
    with open(str(written / "aggregate.folded"), encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    assert lines == sorted(lines, key=lambda s: s.rsplit(" ", 1)[0].encode("utf-8", "replace"))
    counts = []
    for line in lines:
        m = LINE.match(line)
        assert m, line
        counts.append(int(m.group(3)))
    assert sum(counts) == 15


def test_collapsed_round_trips_through_the_reader(driver, written, tmp_path):
    subprocess.run([driver, "--import", str(written / "aggregate.folded"), str(tmp_path)],
                   check=True)
    with open(str(written / "aggregate.folded"), "rb") as f:
        first = f.read()
    with open(str(tmp_path / "imported.folded"), "rb") as f:
        assert f.read() == first
    strict_load(str(tmp_path / "imported.speedscope.json"))
    strict_load(str(tmp_path / "imported.trace.json"))


def test_reader_rejects_a_bad_line_with_its_number(driver, tmp_path):
    bad = tmp_path / "bad.folded"
    bad.write_text("a;b 3\nc;d\n")
    proc = subprocess.run([driver, "--import", str(bad), str(tmp_path)],
                          stderr=subprocess.PIPE)
    assert proc.returncode == 1
    assert b"line 2: missing sample count" in proc.stderr


@pytest.mark.parametrize("stem", ["aggregate", "timeline"])
def test_flamegraph_is_well_formed_svg(written, stem):
    root = ET.parse(str(written / (stem + ".svg"))).getroot()
    assert root.tag.endswith("svg")


@pytest.mark.parametrize("interp", interpreter_params())
def test_recorded_chrometrace_nests_exactly_in_a_viewer(interp, tmp_path):
    """A real recording: sample times are arbitrary nanoseconds, which is
    what made fractional timestamps overlap."""
    out = tmp_path / "rec.trace.json"
    proc = run_spyglass(["record", "--idle", "--rate", "250", "-o", str(out), "--", interp.path,
                         os.path.join(TARGETS, "shares.py"), "--seconds", "1", "--cpu-percent",
                         "50"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = strict_load(str(out))
    tracks = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "X":
            # Whole 1/1024 us: exact in doubles, so ts + dur is exact too.
            for key in ("ts", "dur"):
                assert float(e[key] * 1024).is_integer(), e
            tracks.setdefault(e["tid"], []).append(e)
    assert sum(len(events) for events in tracks.values()) >= 20, doc
    for tid, events in tracks.items():
        errors = nesting_errors(events)
        assert not errors, (tid, len(events), errors[:5])
        assert not meeting_ends(events), (tid, meeting_ends(events)[:5])
