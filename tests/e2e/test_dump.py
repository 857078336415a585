"""`spyglass dump` against live interpreters: exact stacks, lines, threads, locals."""
import os

import pytest

from conftest import LAYOUT, SPYGLASS_ASAN, dump_json, interpreter_params, run_spyglass, wait_leaf

ALL = interpreter_params()


def thread_named(dump, name):
    for t in dump["threads"]:
        if t["name"] == name:
            return t
    raise AssertionError("no thread named %r in %r" % (name, [t["name"] for t in dump["threads"]]))


def frames(thread):
    return [(f["function"], os.path.basename(f["file"]), f["line"]) for f in thread["frames"]]


def runs_python(thread):
    """Holds the GIL; on a free-threaded build, which has none ("gil" is
    null), is attached: what a thread needs to run Python code."""
    return thread["attached"] if thread["gil"] is None else thread["gil"]


@pytest.fixture
def stacks(start_target):
    """stacks.py, once every thread is parked: the target itself checks its
    threads' frames before READY; the main thread enters spin() after READY,
    so we wait until a dump shows it there (unless it idles instead)."""
    def start(interp, **kwargs):
        target = start_target(interp, "stacks.py", **kwargs)
        if "SPYGLASS_IDLE_MAIN" in kwargs.get("env", {}):
            wait_leaf(target.pid, "MainThread", "main", target.lines["main_idle"])
        else:
            wait_leaf(target.pid, "MainThread", "spin", target.lines["spin"])
        return target
    return start


@pytest.mark.parametrize("interp", ALL)
def test_dump_thread_names_and_states(interp, stacks):
    t = stacks(interp)
    dump = dump_json(t.pid)
    names = sorted(th["name"] for th in dump["threads"])
    expected = ["MainThread", "deep", "gen-thread", "locals", "sleeper-1", "unicode", "waiter-2"]
    if interp.version >= (3, 5):
        expected.append("coro-thread")
    assert names == sorted(expected)
    assert dump["python"].startswith("%d.%d." % interp.version)
    for th in dump["threads"]:
        if th["name"] != "MainThread":
            assert not th["active"], th
    main = thread_named(dump, "MainThread")
    assert main["tid"] == t.pid
    assert len(set(th["tid"] for th in dump["threads"])) == len(dump["threads"])


@pytest.mark.parametrize("interp", ALL)
def test_dump_main_thread_stack_is_exact(interp, stacks):
    t = stacks(interp)
    main = thread_named(dump_json(t.pid), "MainThread")
    L = t.lines
    assert frames(main) == [
        ("spin", "stacks.py", L["spin"]),
        ("outer", "stacks.py", L["outer"]),
        ("main", "stacks.py", L["main"]),
        ("<module>", "stacks.py", L["module"]),
    ]


@pytest.mark.parametrize("interp", ALL)
def test_dump_spinning_thread_is_active_and_holds_gil(interp, stacks):
    t = stacks(interp)
    active = gil = 0
    for _ in range(10):
        dump = dump_json(t.pid)
        main = thread_named(dump, "MainThread")
        active += main["active"]
        gil += runs_python(main)
        assert (main["gil"] is None) == (dump["free_threaded"] and not dump["gil_enabled"])
    # The spinning thread is on CPU nearly always; allow for a preempted moment.
    assert active >= 7
    assert gil >= 7


@pytest.mark.parametrize("interp", ALL)
def test_dump_idle_threads_do_not_hold_gil(interp, stacks):
    t = stacks(interp)
    dump = dump_json(t.pid)
    for th in dump["threads"]:
        if th["name"] != "MainThread":
            assert not runs_python(th), th


@pytest.mark.parametrize("interp", ALL)
def test_dump_idle_main_thread(interp, stacks):
    t = stacks(interp, env={"SPYGLASS_IDLE_MAIN": "1"})
    main = thread_named(dump_json(t.pid), "MainThread")
    assert not main["active"]
    assert not runs_python(main)
    assert frames(main)[0] == ("main", "stacks.py", t.lines["main_idle"])


@pytest.mark.parametrize("interp", ALL)
def test_dump_sleeping_and_waiting_threads(interp, stacks):
    t = stacks(interp)
    dump = dump_json(t.pid)
    assert frames(thread_named(dump, "sleeper-1"))[0] == ("sleeper", "stacks.py",
                                                          t.lines["sleeper"])
    waiter = frames(thread_named(dump, "waiter-2"))
    # Event.wait goes through threading.py's frames; our frame sits right below them.
    ours = [f for f in waiter if f[1] == "stacks.py"]
    assert ours[0] == ("waiter", "stacks.py", t.lines["waiter"])
    assert waiter[0][1] == "threading.py"


@pytest.mark.parametrize("interp", ALL)
def test_dump_recursion_depth_1000(interp, stacks):
    t = stacks(interp)
    deep = frames(thread_named(dump_json(t.pid), "deep"))
    recursion = [f for f in deep if f[0] == "recurse"]
    assert len(recursion) == 1000
    assert recursion[0] == ("recurse", "stacks.py", t.lines["recurse_bottom"])
    assert all(f == ("recurse", "stacks.py", t.lines["recurse"]) for f in recursion[1:])
    assert deep[len(recursion)] == ("deep_start", "stacks.py", t.lines["deep_start"])


@pytest.mark.parametrize("interp", ALL)
def test_dump_recursion_depth_2000(interp, stacks):
    t = stacks(interp, env={"SPYGLASS_DEPTH": "2000"})
    deep = frames(thread_named(dump_json(t.pid), "deep"))
    assert len([f for f in deep if f[0] == "recurse"]) == 2000


@pytest.mark.parametrize("interp", ALL)
def test_dump_generator_frame(interp, stacks):
    t = stacks(interp)
    gen = frames(thread_named(dump_json(t.pid), "gen-thread"))
    assert gen[0] == ("numbers", "stacks.py", t.lines["gen_body"])
    assert gen[1] == ("gen_consumer", "stacks.py", t.lines["gen_consumer"])


@pytest.mark.parametrize("interp", interpreter_params(min_version=(3, 5)))
def test_dump_coroutine_frames(interp, stacks):
    t = stacks(interp)
    coro = frames(thread_named(dump_json(t.pid), "coro-thread"))
    lines = __import__("conftest").marked_lines(os.path.join(os.path.dirname(t.script),
                                                             "coro_part.py"))
    assert coro[0] == ("handler", "coro_part.py", lines["coro_handler"])
    assert coro[1] == ("serve", "coro_part.py", lines["coro_serve"])
    assert any(f[0].endswith("run_until_complete") for f in coro)


@pytest.mark.parametrize("interp", ALL)
def test_dump_unicode_file_and_function_names(interp, stacks):
    t = stacks(interp)
    uni = thread_named(dump_json(t.pid), "unicode")
    leaf = uni["frames"][0]
    assert os.path.basename(leaf["file"]) == u"\u00fcn\u00efc\u00f6de_\u6a21\u5757.py"
    assert leaf["line"] == 3
    if interp.version >= (3, 0):
        assert leaf["function"] == u"funci\u00f3n_\u03bb"
    assert uni["frames"][1]["line"] == t.lines["unicode_caller"]


@pytest.mark.parametrize("interp", ALL)
def test_dump_qualified_names(interp, start_target):
    t = start_target(interp, "qualnames.py")
    # READY comes just before the sleep on the marked line
    main = thread_named(wait_leaf(t.pid, "MainThread", "method", t.lines["method"]), "MainThread")
    leaf = main["frames"][0]
    assert leaf["line"] == t.lines["method"]
    assert leaf["name"] == "method"
    if interp.version >= (3, 11):
        assert leaf["function"] == "Outer.Inner.method"
    else:
        assert leaf["function"] == "method"


def expected_locals(interp):
    # Python's own repr: 2.7 marks a long with "L".
    big = "1267650600228229401496703205376" + ("L" if interp.version < (3, 0) else "")
    return {
        "an_int": "42",
        "a_big_int": big,
        "a_neg": "-7",
        "a_float": "1.5",
        # 2.7's repr of unicode escapes everything past ASCII.
        "a_str": "'h\u00e9llo'" if interp.version >= (3, 0) else "u'h\\xe9llo'",
        "a_bytes": "b'xyz'" if interp.version >= (3, 0) else "'xyz'",
        "a_none": "None",
        "a_bool": "True",
    }


@pytest.mark.parametrize("interp", ALL)
def test_dump_locals_values(interp, stacks):
    t = stacks(interp)
    frame = thread_named(dump_json(t.pid, locals_=True), "locals")["frames"][0]
    values = dict((v["name"], v["value"]) for v in frame["locals"])
    for name, want in expected_locals(interp).items():
        assert values[name] == want, (name, values)
    assert values["a_list"].startswith("[1, 2, 3]")
    assert values["a_dict"].startswith("{")
    assert "'k': 1" in values["a_dict"]
    assert values["a_tuple"].startswith("(")


@pytest.mark.parametrize("interp", ALL)
def test_dump_text_output_reads_like_a_traceback(interp, stacks):
    t = stacks(interp)
    out = run_spyglass(["dump", "--pid", str(t.pid)], check=True).stdout
    assert "Python %d.%d." % interp.version in out
    layout = [line for line in out.splitlines() if line.startswith("Layout: ")]
    assert len(layout) == 1, out
    if LAYOUT == "offsets":  # the suite's offsets-only run did take that path
        assert layout[0].startswith("Layout: the process's _Py_DebugOffsets"), layout
    assert '(idle) "sleeper-1"' in out
    assert "    sleeper (%s:%d)\n" % (t.script, t.lines["sleeper"]) in out


@pytest.mark.parametrize("interp", ALL)
def test_dump_without_symbols_scans_for_the_runtime(interp, stacks):
    t = stacks(interp)
    dump = dump_json(t.pid, env={"SPYGLASS_IGNORE_SYMBOLS": "1"})
    assert frames(thread_named(dump, "sleeper-1"))[0][2] == t.lines["sleeper"]


@pytest.mark.parametrize("interp", [p for p in ALL if p.id in ("py2.7", "py3.8", "py3.12",
                                                               "py3.13", "debian3.11")])
def test_dump_under_sanitizers(interp, stacks):
    if not os.path.exists(SPYGLASS_ASAN):
        pytest.skip("no sanitizer build at %s (make asan)" % SPYGLASS_ASAN)
    t = stacks(interp)
    dump = dump_json(t.pid, locals_=True, binary=SPYGLASS_ASAN)
    assert frames(thread_named(dump, "sleeper-1"))[0][2] == t.lines["sleeper"]
