"""`spyglass dump --locals` against tests/targets/locals.py on every interpreter.

The target records each parked frame's variables as Python itself sees them
(f_locals and repr); the dump must show the same names with the same values:
cells and free variables by their contents, an argument that is also a cell
once, and no more than 64 variables per frame, saying how many it left out.
A busy program is stopped while its variables are read, and runs on after.
"""
import json
import re

import pytest

from conftest import dump_json, interpreter_params, run_spyglass

ALL = interpreter_params()
LOCALS_MAX = 64        # src/python/locals.h
LOCALS_REPR_SIZE = 256  # src/python/locals.h: bytes of one repr, with the NUL


def thread_named(dump, name):
    return [t for t in dump["threads"] if t["name"] == name][0]


def shown(frame):
    return [[v["name"], v["value"]] for v in frame["locals"]]


def cut(text):
    """What a repr longer than LOCALS_REPR_SIZE shows (one-byte characters)."""
    return text if len(text) < LOCALS_REPR_SIZE else text[:LOCALS_REPR_SIZE - 4] + "..."


def same(interp, got, want):
    """From 3.11 f_locals lists variables in slot order, as dump does; before,
    it fills a dict from the last slot back (2.7: a dict without order)."""
    if interp.version < (3, 11):
        return sorted(got) == sorted(want)
    return got == want


@pytest.fixture
def target(start_target):
    def start(interp):
        t = start_target(interp, "locals.py")
        t.expected = json.loads(t.ready_line[len("READY "):])
        return t
    return start


@pytest.mark.parametrize("interp", ALL)
def test_locals_cells_and_free_variables(interp, target):
    t = target(interp)
    frames = thread_named(dump_json(t.pid, locals_=True), "closures")["frames"]
    assert [f["name"] for f in frames][:3] == ["inner", "outer", "run"]
    inner, outer = frames[0], frames[1]
    want_inner = [[k, cut(v)] for k, v in t.expected["inner"]]
    want_outer = [[k, cut(v)] for k, v in t.expected["outer"]]
    assert same(interp, shown(inner), want_inner), (shown(inner), want_inner)
    assert same(interp, shown(outer), want_outer), (shown(outer), want_outer)
    # The argument that became a cell shows once, with its new value.
    assert [v for k, v in shown(outer) if k == "arg"] == ["11"]
    assert dict(shown(inner))["arg"] == "11"
    assert "locals_more" not in outer


@pytest.mark.parametrize("interp", ALL)
def test_locals_are_capped_and_say_how_many_are_left_out(interp, target):
    t = target(interp)
    frame = thread_named(dump_json(t.pid, locals_=True), "many")["frames"][0]
    want = t.expected["many_locals"]
    assert len(want) == 71
    assert len(frame["locals"]) == LOCALS_MAX
    assert frame["locals_more"] == len(want) - LOCALS_MAX
    # The first variables in slot order: the argument, then v00, v01, ...
    assert [k for k, _ in shown(frame)] == t.expected["many_locals.varnames"][:LOCALS_MAX]
    assert all(pair in want for pair in shown(frame))


@pytest.mark.parametrize("interp", ALL)
def test_locals_text_output(interp, target):
    t = target(interp)
    out = run_spyglass(["dump", "--pid", str(t.pid), "--locals"], check=True).stdout
    text = dict(t.expected["outer"])["text"]
    assert "        text = %s\n" % cut(text) in out
    assert "        ... (%d more locals)\n" % (71 - LOCALS_MAX) in out


def os_state(pid):
    with open("/proc/%d/status" % pid) as f:
        return [l.split()[1] for l in f if l.startswith("State:")][0]


@pytest.mark.parametrize("interp", ALL)
def test_locals_of_a_busy_program_belong_to_one_moment(interp, start_target):
    t = start_target(interp, "busy_locals.py")
    integer = r"\d+L?"
    for _ in range(10):
        frame = thread_named(dump_json(t.pid, locals_=True), "MainThread")["frames"][0]
        values = dict(shown(frame))
        assert frame["name"] == "churn"
        assert re.match(r"^'y*'$", values["text"]), values
        assert re.match("^%s$" % integer, values["number"]), values
        assert re.match(r"^\((%s), \1\)$" % integer, values["pair"]), values
        assert os_state(t.pid) in ("R", "S"), "left stopped"
    # --nonblocking reads without stopping it (values may then be torn).
    out = run_spyglass(["dump", "--pid", str(t.pid), "--locals", "--nonblocking"], check=True)
    assert "    churn (" in out.stdout
    assert os_state(t.pid) in ("R", "S")
