"""`spyglass top` end to end: the full-screen view driven through tmux, and the
plain-text snapshots printed when stdout is a pipe, on every interpreter.

The target, tests/targets/hot.py, spends 75% of every 100 ms cycle in hot()
and 25% in warm() (both on the CPU), while a second thread sleeps: so by
construction hot is the top row with about 75% own time, warm has about 25%,
and half of all thread samples are idle. Under load the split drifts, so the
target writes the split it measured (--stats) and the tests compare with that.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import (SPYGLASS, SPYGLASS_ASAN, TARGETS, interpreter_params, marked_lines,
                      proc_stat, run_spyglass)

ALL = interpreter_params()
HOT = os.path.join(TARGETS, "hot.py")
LINES = marked_lines(HOT)
TOLERANCE = 15  # percentage points, for shares on a loaded 2-core machine (13.3 seen at load 10)
# Two of the tests run the sanitizer build (`make asan`; `make e2e` builds it) when it exists.
CHECKED = SPYGLASS_ASAN if os.path.exists(SPYGLASS_ASAN) else SPYGLASS

HEADER = re.compile(r"^spyglass top: pid (?P<pid>\d+), Python (?P<version>\S+), "
                    r"elapsed (?P<elapsed>\S+): (?P<cmd>.*)$")
FIGURES = re.compile(r"^samples (?P<samples>\d+), (?P<rate>[\d.]+) Hz, threads (?P<active>\d+) "
                     r"active of (?P<threads>\d+), GIL (?P<gil>[\d.]+)%, idle (?P<idle>[\d.]+)%, "
                     r"errors (?P<errors>\d+) \((?P<errors_pct>[\d.]+)%\)$")
HEADING = re.compile(r"^\s*%Own %Total\s+OwnTime TotalTime\s+Function\s+file:(line|first line)$")
ROW = re.compile(r"^\s*(?P<own>[\d.]+)%\s+(?P<total>[\d.]+)%\s+(?P<own_s>\S+)\s+(?P<total_s>\S+)"
                 r"\s+(?P<func>\S+)\s+(?P<loc>\S.*?)\s*$")


def parse_screen(lines):
    """Parses the header and rows out of snapshot or screen lines: a dict with
    the header fields, 'view' (line 3) and 'rows' (dicts)."""
    lines = [l.rstrip() for l in lines]
    for i, line in enumerate(lines):
        m = HEADER.match(line)
        if m and i + 3 < len(lines):
            figures = FIGURES.match(lines[i + 1])
            if not figures or not HEADING.match(lines[i + 3]):
                return None
            snap = dict(m.groupdict(), **figures.groupdict())
            snap["view"] = lines[i + 2]
            snap["heading"] = lines[i + 3]
            snap["rows"] = []
            for row in lines[i + 4:]:
                r = ROW.match(row)
                if not r:
                    break
                snap["rows"].append(r.groupdict())
            return snap
    return None


def parse_snapshots(text):
    """Splits piped output into snapshots (separated by empty lines)."""
    snaps = []
    for block in text.split("\n\n"):
        snap = parse_screen(block.splitlines())
        if snap:
            snaps.append(snap)
    return snaps


def seconds(text):
    """Reads top's elapsed-time figure: "7.21s", "12.3s", "2m05s" or "1h02m"."""
    m = re.match(r"^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$", text)
    assert m and text, text
    h, mins, s = m.groups()
    return int(h or 0) * 3600 + int(mins or 0) * 60 + float(s or 0)


def check_header(snap, interp, pid):
    assert int(snap["pid"]) == pid
    assert snap["version"].startswith("%d.%d." % interp.version), snap["version"]
    assert int(snap["samples"]) > 0
    # The achieved rate is ticks over elapsed time. 100 Hz is asked; under load the sampler
    # honestly falls behind (27.6 Hz seen in CI on a busy 2-core machine), so the floor is low.
    # What must hold at any load: the rate accounts for at least the samples shown (all
    # time, or since a reset), give or take the rounding of the two printed figures.
    rate = float(snap["rate"])
    assert 10 < rate <= 105, snap["rate"]
    elapsed = seconds(snap["elapsed"])
    assert rate * elapsed + 0.05 * elapsed + 2 >= int(snap["samples"]), snap
    assert int(snap["active"]) <= int(snap["threads"]) <= 2
    # One of the two threads sleeps all the time: half the thread samples are idle.
    assert abs(float(snap["idle"]) - 50) <= TOLERANCE, snap["idle"]
    # The main thread spins holding the GIL.
    assert float(snap["gil"]) > 50, snap["gil"]
    assert float(snap["errors_pct"]) < 10, snap


def read_spent(stats):
    """(hot seconds, warm seconds) the target has measured so far (hot.py --stats)."""
    with open(stats) as f:
        return tuple(float(x) for x in f.read().split())


def measured_hot_percent(stats, since=(0.0, 0.0)):
    """hot()'s share of the cycle as the target measured it (hot.py --stats) since
    the read_spent() figures `since`: 75% by design, more when the machine is loaded
    (see hot.py). A view reset compares with the split since the reset: the load,
    and with it the split, changes during a run."""
    hot, warm = [now - then for now, then in zip(read_spent(stats), since)]
    return 100 * hot / (hot + warm)


def check_hot_first(rows, stats, since=(0.0, 0.0)):
    """hot() is the top row, warm() next, splitting their two rows as the target
    measured since the read_spent() figures `since`. Their absolute shares are
    diluted by anything else counted as active (start-up, write_stats, a loaded
    machine's sleeper caught runnable just after a pause let it go), so the split
    is compared, not each share."""
    assert rows, "no rows"
    assert rows[0]["func"] == "hot", rows[:3]
    assert rows[0]["loc"].endswith("hot.py:%d" % LINES["hot"]), rows[0]
    assert rows[1]["func"] == "warm", rows[:3]
    assert rows[1]["loc"].endswith("hot.py:%d" % LINES["warm"]), rows[1]
    hot, warm = float(rows[0]["own"]), float(rows[1]["own"])
    expected = measured_hot_percent(stats, since)
    assert abs(100 * hot / (hot + warm) - expected) <= 10, (rows[:2], expected)
    assert hot + warm >= 70, rows[:3]


# --- plain-text snapshots (stdout is a pipe) ---------------------------------------------

@pytest.mark.parametrize("interp", ALL)
def test_top_piped_snapshots_until_the_target_exits(interp, start_target, tmp_path):
    stats = str(tmp_path / "hot.stats")
    t = start_target(interp, "hot.py", args=["--seconds", "2.5", "--stats", stats])
    proc = run_spyglass(["top", "--pid", str(t.pid), "--interval", "0.5", "--rows", "12"],
                        timeout=60)
    assert proc.returncode == 0, proc.stderr
    snaps = parse_snapshots(proc.stdout)
    assert len(snaps) >= 3, proc.stdout  # one every 0.5 s, and a last one at the end
    last = snaps[-1]
    check_header(last, interp, t.pid)
    assert "hot.py" in last["cmd"]
    assert last["view"] == "view: lines, all threads, idle hidden, sort %Own, all time"
    assert int(last["samples"]) >= 100
    check_hot_first(last["rows"], stats)
    owns = [float(r["own"]) for r in last["rows"]]
    assert owns == sorted(owns, reverse=True)
    # cycle() calls both from two lines; its own time is ~0, its total ~100%.
    cycle = {int(r["loc"].rsplit(":", 1)[1]): r for r in last["rows"] if r["func"] == "cycle"}
    assert {LINES["cycle_hot"], LINES["cycle_warm"]} <= set(cycle), cycle
    calls_hot = float(cycle[LINES["cycle_hot"]]["total"])
    calls_warm = float(cycle[LINES["cycle_warm"]]["total"])
    assert abs(100 * calls_hot / (calls_hot + calls_warm) - measured_hot_percent(stats)) <= 10, cycle
    assert all(float(r["own"]) < 2 for r in cycle.values()), cycle
    # Samples only grow from one snapshot to the next (all-time counts).
    samples = [int(s["samples"]) for s in snaps]
    assert samples == sorted(samples)
    assert "the target exited" in proc.stderr
    summary = [l for l in proc.stderr.splitlines() if l.startswith("spyglass: top watched")]
    assert len(summary) == 1, proc.stderr


@pytest.mark.parametrize("interp", ALL)
def test_top_piped_function_view_idle_and_window(interp, start_target):
    t = start_target(interp, "hot.py", args=["--seconds", "2"])
    proc = run_spyglass(["top", "--pid", str(t.pid), "--interval", "5", "--function", "--idle",
                         "--window", "1"], timeout=60, binary=CHECKED)
    assert proc.returncode == 0, proc.stderr
    assert "Sanitizer" not in proc.stderr, proc.stderr
    snaps = parse_snapshots(proc.stdout)
    assert len(snaps) == 1, proc.stdout  # the target ended before the first interval
    snap = snaps[0]
    assert snap["view"] == "view: functions, all threads, idle shown, sort %Own, window 1s"
    assert snap["heading"].endswith("file:first line")
    rows = {r["func"]: r for r in snap["rows"]}
    # With idle shown, the sleeping thread's half of the samples counts: hot and warm
    # halve, and the sleeper's loop is a row with ~50% own time.
    assert abs(float(rows["hot"]["own"]) - 37.5) <= TOLERANCE, rows["hot"]
    assert rows["hot"]["loc"].endswith("hot.py:%d" % LINES["hot_def"])
    assert abs(float(rows["sleeper"]["own"]) - 50) <= TOLERANCE, rows["sleeper"]
    # A 1 s window: the counts cover about one second, not the whole run.
    # (At least a few dozen samples: a loaded machine reaches ~50 of the 100.)
    assert 20 <= int(snap["samples"]) and float(rows["hot"]["own_s"].rstrip("s")) <= 1.0


def test_top_usage_errors():
    for args, message in [
        (["top"], "give --pid PID or -- COMMAND"),
        (["top", "--pid", "x"], "--pid wants a process id, got 'x'"),
        (["top", "--pid", "1", "--window", "0"], "--window wants a positive number"),
        (["top", "--pid", "1", "--interval", "0.001"], "--interval wants seconds"),
        (["top", "--pid", "1", "--rows", "2.5"], "--rows wants a positive whole number"),
        (["top", "--pid", "1", "--rate"], "option '--rate' needs a value"),
        (["top", "--pid", "1", "--", "python3"], "give either --pid or a command"),
        (["top", "--bogus"], "unknown option '--bogus'"),
    ]:
        proc = run_spyglass(args)
        assert proc.returncode == 2, (args, proc.stderr)
        first = proc.stderr.splitlines()[0]
        assert first.startswith("spyglass: error: ") and message in first, (args, proc.stderr)
        assert "hint: run 'spyglass top --help'" in proc.stderr
    proc = run_spyglass(["top", "--help"])
    assert proc.returncode == 0 and "usage: spyglass top" in proc.stdout


def test_top_no_such_process():
    proc = run_spyglass(["top", "--pid", "3999999"])
    assert proc.returncode == 1
    assert proc.stderr.startswith("spyglass: error: ")
    assert "hint: " in proc.stderr


# --- the full-screen view, in tmux --------------------------------------------------------

needs_tmux = pytest.mark.skipif(not shutil.which("tmux"), reason="tmux not installed "
                                "(tools/deps.sh installs it)")


class Tmux(object):
    """A private tmux server (its own socket) running one shell in a 120x30 window."""

    def __init__(self, name):
        self.socket = "spyglass-%s-%d" % (name, os.getpid())
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("TMUX", None)
        subprocess.run(self.cmd("new-session", "-d", "-s", "t", "-x", "120", "-y", "30",
                                # (a non-interactive sh -c drops an inherited PS1)
                                "PS1='top-test$ ' exec bash --norc --noprofile"),
                       check=True, env=env)

    def cmd(self, *args):
        return ["tmux", "-L", self.socket, "-f", "/dev/null"] + list(args)

    def run(self, *args):
        return subprocess.run(self.cmd(*args), check=True, stdout=subprocess.PIPE,
                              encoding="utf-8", errors="replace").stdout

    def keys(self, *keys):
        self.run("send-keys", "-t", "t", *keys)

    def type_line(self, text):
        self.run("send-keys", "-t", "t", "-l", text)
        self.keys("Enter")

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "t").splitlines()

    def alternate_on(self):
        return self.run("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "1"

    def resize(self, cols, lines):
        self.run("resize-window", "-t", "t", "-x", str(cols), "-y", str(lines))

    def wait_for(self, predicate, what, timeout=20):
        """Polls the screen until predicate(lines) returns something true; returns it."""
        deadline = time.time() + timeout
        lines = []
        while time.time() < deadline:
            lines = self.screen()
            got = predicate(lines)
            if got:
                return got
            time.sleep(0.15)
        raise AssertionError("timed out waiting for %s; screen:\n%s" % (what, "\n".join(lines)))

    def kill(self):
        subprocess.run(self.cmd("kill-server"), stderr=subprocess.DEVNULL)


@pytest.fixture
def tmux(request):
    servers = []

    def start():
        t = Tmux(re.sub(r"\W", "_", request.node.name))
        servers.append(t)
        t.wait_for(lambda lines: any("top-test$" in l for l in lines), "the shell prompt")
        return t

    yield start
    for t in servers:
        # If a failed test left top running, quit it the normal way first, so that it ends
        # (and ends a command it started) before the terminal goes away.
        t.keys("q")
        deadline = time.time() + 5
        while time.time() < deadline and not any(l.startswith("TOP-EXIT=") for l in t.screen()):
            time.sleep(0.1)
        t.kill()


def snapshot_with(predicate):
    """A wait_for predicate: the parsed screen, once predicate(snap) holds."""
    def check(lines):
        snap = parse_screen(lines)
        return snap if snap and predicate(snap) else None
    return check


def process_state(pid):
    return proc_stat("/proc/%d/stat" % pid)[0]


@needs_tmux
@pytest.mark.parametrize("interp", ALL)
def test_top_screen_keys_and_quit(interp, tmux, tmp_path):
    term = tmux()
    stats = str(tmp_path / "hot.stats")
    term.type_line("%s top -- %s %s --stats %s; echo TOP-EXIT=$?" % (SPYGLASS, interp.path, HOT,
                                                                      stats))
    snap = term.wait_for(snapshot_with(lambda s: int(s["samples"]) >= 50 and s["rows"] and
                                       s["rows"][0]["func"] == "hot"), "hot() at the top")
    assert term.alternate_on()
    pid = int(snap["pid"])
    # Reset: the counts start again from zero, so the interpreter's start-up (imports) that
    # the first samples saw is forgotten and the shares are the cycle's.
    reset = read_spent(stats)
    term.keys("r")
    snap = term.wait_for(snapshot_with(lambda s: int(s["samples"]) >= 120 and
                                       ", reset " in s["view"]),
                         "1.2 s of samples after the reset")
    ago = float(re.search(r", reset ([\d.]+)s ago", snap["view"]).group(1))
    assert int(snap["samples"]) <= (ago + 0.3) * 100  # at most 100 Hz since the reset
    check_header(snap, interp, pid)
    check_hot_first(snap["rows"], stats, reset)
    assert not [r for r in snap["rows"] if "importlib" in r["loc"]], snap["rows"]
    assert snap["view"].startswith("view: lines, all threads, idle hidden, sort %Own, all time, "
                                    "reset ")

    term.keys("t")  # one thread at a time, the main thread (the oldest) first
    snap = term.wait_for(snapshot_with(lambda s: '"MainThread"' in s["view"]), "MainThread alone")
    assert ', thread 1/2 "MainThread" (' in snap["view"], snap["view"]
    check_hot_first(snap["rows"], stats, reset)  # the sleeper is idle: the same split
    assert float(snap["idle"]) < 10  # it never sleeps
    term.keys("t")
    snap = term.wait_for(snapshot_with(lambda s: '"sleeper"' in s["view"]), "the sleeper alone")
    assert ', thread 2/2 "sleeper" (' in snap["view"], snap["view"]
    assert float(snap["idle"]) > 80
    term.keys("T")
    term.wait_for(snapshot_with(lambda s: "all threads" in s["view"]), "all threads again")

    term.keys("2")  # sort by total time: <module>, main and cycle are on every stack
    snap = term.wait_for(snapshot_with(lambda s: "sort %Total" in s["view"]), "sort by total")
    totals = [float(r["total"]) for r in snap["rows"]]
    assert totals == sorted(totals, reverse=True), snap["rows"]
    # <module> and main are on all of the main thread's stacks (a tie broken by own time,
    # then by name).
    assert snap["rows"][0]["func"] in ("<module>", "main") and totals[0] > 50, snap["rows"][:3]

    term.keys("l")  # functions: hot's row points at its def line
    snap = term.wait_for(snapshot_with(lambda s: s["view"].startswith("view: functions")),
                         "function view")
    assert snap["heading"].endswith("file:first line")
    hot = [r for r in snap["rows"] if r["func"] == "hot"]
    assert hot and hot[0]["loc"].endswith("hot.py:%d" % LINES["hot_def"]), snap["rows"]

    term.keys("?")  # the help screen comes from the key table
    term.wait_for(lambda lines: any("cycle threads" in l for l in lines), "the help screen")
    term.keys("x")  # any key closes it
    term.wait_for(snapshot_with(lambda s: True), "the table again")

    term.resize(50, 12)  # narrow: the times columns go, the table stays
    term.wait_for(lambda lines: len(lines) == 12 and re.match(r"^\s*%Own %Total\s+Function",
                                                               lines[3]), "a narrow table")
    term.resize(19, 10)
    term.wait_for(lambda lines: len(lines) == 10 and lines[0] == u"spyglass top: term\u2026",
                  "'terminal too small', cut to 19 columns")
    term.resize(120, 30)

    term.keys("q")
    def exited_to_prompt(lines):
        ends = [i for i, l in enumerate(lines) if l.startswith("TOP-EXIT=")]
        return ends and any(l.startswith("top-test$") for l in lines[ends[0] + 1:]) and lines

    lines = term.wait_for(exited_to_prompt, "spyglass to exit and the shell prompt")
    assert not term.alternate_on()
    text = "\n".join(lines)
    assert "\nTOP-EXIT=0\n" in text, text
    summary = [l for l in lines if l.startswith("spyglass: top watched pid %d" % pid)]
    assert len(summary) == 1, text
    after = lines[[i for i, l in enumerate(lines) if l.startswith("TOP-EXIT")][0] + 1:]
    assert [l for l in after if l.strip()][0].startswith("top-test$"), text
    # q ends the command spyglass started.
    assert not os.path.exists("/proc/%d" % pid) or process_state(pid) == "Z"


@needs_tmux
@pytest.mark.parametrize("interp", ALL)
def test_top_screen_ctrl_c_restores_terminal_and_target(interp, tmux, start_target):
    t = start_target(interp, "hot.py")
    term = tmux()
    term.type_line("%s top --pid %d; echo TOP-EXIT=$?" % (CHECKED, t.pid))
    term.wait_for(snapshot_with(lambda s: len(s["rows"]) >= 2), "the first rows")
    assert term.alternate_on()
    term.keys("C-c")
    def exited_to_prompt(lines):
        ends = [i for i, l in enumerate(lines) if l.startswith("TOP-EXIT=")]
        return ends and any(l.startswith("top-test$") for l in lines[ends[0] + 1:]) and lines

    lines = term.wait_for(exited_to_prompt, "spyglass to exit and the shell prompt")
    assert not term.alternate_on()
    assert any(l.startswith("spyglass: top watched pid %d" % t.pid) for l in lines), lines
    assert not [l for l in lines if "Sanitizer" in l], lines
    assert "TOP-EXIT=0" in lines, lines
    # The target we attached to runs on, not stopped.
    time.sleep(0.1)
    assert t.proc.poll() is None
    assert process_state(t.pid) in "RS"
