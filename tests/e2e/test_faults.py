"""The reliability fault matrix (issue 8): the target is never harmed, no
profile is lost, spyglass never hangs.

The target, tests/targets/faults.py, spins in its main thread (counting its
progress in a memory-mapped file we read from outside), keeps a "steady"
thread spinning in steady_outer() -> steady_inner() for the whole run, and
can end itself after a delay by exiting, by exec'ing /bin/sleep, or by
SIGKILL; or churn short threads.

Counts are parameters (environment), so `make soak` runs the same tests
longer: SPYGLASS_KILL_ROUNDS (spyglass killed and checked, per interpreter),
SPYGLASS_CHURN_SECONDS (thread churn sampled at 1 kHz).
"""
import gzip
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import SPYGLASS, interpreter_params, make_zombie, proc_stat, run_spyglass

# The interpreters the matrix runs on: the oldest, a pre-3.11 frame-object
# one, the first interpreter-frame one, the newest two, and Debian's static build.
MATRIX = ("py2.7", "py3.8", "py3.11", "py3.12", "py3.13", "debian3.11")
INTERPS = [p for p in interpreter_params() if p.id in MATRIX]
KILL_ROUNDS = int(os.environ.get("SPYGLASS_KILL_ROUNDS", "10"))
CHURN_SECONDS = float(os.environ.get("SPYGLASS_CHURN_SECONDS", "2"))
HANG = 30  # seconds: anything longer is a hang, whatever the machine load


def read_counter(path, slot=0):
    with open(path, "rb") as f:
        data = f.read(16)
    return struct.unpack_from("<Q", data, 8 * slot)[0] if len(data) >= 8 * (slot + 1) else 0


def thread_states(pid):
    """{tid: (state letter, TracerPid)} for every thread of pid still there."""
    states = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return states
    for tid in tids:
        try:
            state = proc_stat("/proc/%d/task/%s/stat" % (pid, tid))[0]
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                tracer = int(re.search(r"^TracerPid:\s*(\d+)", f.read(), re.M).group(1))
        except (OSError, AttributeError):
            continue  # the thread went away between the listing and the read
        states[int(tid)] = (state, tracer)
    return states


def assert_target_free(pid, counter, timeout=10):
    """The target is not stopped, not traced, and its counter still advances."""
    before = read_counter(counter)
    deadline = time.time() + timeout
    while read_counter(counter) == before:
        assert time.time() < deadline, "target %d made no progress in %ds" % (pid, timeout)
        time.sleep(0.01)
    for tid, (state, tracer) in thread_states(pid).items():
        assert state not in "tT", "thread %d of %d left stopped (%s)" % (tid, pid, state)
        assert tracer == 0, "thread %d of %d left traced by %d" % (tid, pid, tracer)


def hang_report(spyglass_pid, target_pid):
    """What a hung spyglass waits in, and its target's threads, for the failure message."""
    try:
        with open("/proc/%d/wchan" % spyglass_pid) as f:
            wchan = f.read()
    except OSError:
        wchan = "?"
    return "spyglass waits in %s; target threads %r" % (wchan, thread_states(target_pid))


def communicate_or_fail(proc, target_pid, what):
    """proc.communicate() within HANG seconds; else kills spyglass and fails
    the test with what it was doing and where it and its target wait."""
    try:
        return proc.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        report = hang_report(proc.pid, target_pid)
        proc.kill()
        proc.communicate()
        pytest.fail("%s: %s" % (what, report))


def summary_errors(stderr):
    m = re.search(r"errors (\d+) \(([\d.]+)%\)", stderr)
    assert m, stderr
    return int(m.group(1)), float(m.group(2))


# 1. The target ends in the middle of record, top and dump.

ENDS = ["exit", "kill", "exec"]
END_LINE = {"exit": "the target exited", "kill": "the target exited",
            "exec": "the target exec'd another program"}


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("end", ENDS)
@pytest.mark.parametrize("mode", ["nonblocking", "blocking"])
def test_record_stops_when_the_target_ends(interp, end, mode, tmp_path, start_target):
    t = start_target(interp, "faults.py", args=["--end", end])
    out = tmp_path / "p.txt"
    rec = subprocess.Popen([SPYGLASS, "record", "--pid", str(t.pid), "--" + mode, "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = rec.stderr.readline().decode()
    assert first.startswith("spyglass: sampling pid"), first
    time.sleep(0.3)
    os.kill(t.pid, signal.SIGUSR1)  # the target ends itself, the `end` way
    _, err = communicate_or_fail(rec, t.pid, "spyglass hung after the target's %s" % end)
    stderr = first + err.decode()
    assert rec.returncode == 0, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("spyglass: wrote %s (collapsed" % out), stderr
    assert last.endswith(END_LINE[end]), last
    # What was sampled before the end is in the file: the main thread spinning.
    stacks = out.read_text().splitlines()
    assert any(";spin (" in line for line in stacks), stacks[:5]
    assert not [p for p in os.listdir(str(tmp_path)) if "spyglass-tmp" in p]


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("end", ENDS)
def test_top_piped_stops_when_the_target_ends(interp, end, start_target):
    # 2 s: top must be attached and have drawn a snapshot before the end,
    # even when start-up is slow on a loaded machine.
    t = start_target(interp, "faults.py", args=["--end-after", "2", "--end", end])
    proc = run_spyglass(["top", "--pid", str(t.pid), "--interval", "0.3"], timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("spyglass: top watched pid %d" % t.pid), proc.stderr
    assert last.endswith(END_LINE[end]), last
    assert "spin" in proc.stdout


@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("locals_", [False, True], ids=["stacks", "locals"])
def test_dump_while_the_target_dies(interp, locals_, start_target):
    """Dumps run while the target exits under them: each either prints the
    stacks or says in one line that the process is gone; none hangs."""
    t = start_target(interp, "faults.py", args=["--end", "exit"])
    args = [SPYGLASS, "dump", "--pid", str(t.pid)] + (["--locals"] if locals_ else [])
    # READY comes a few lines before spin() starts: on a loaded machine the first
    # dump can still catch main() on its way there.
    deadline = time.time() + HANG
    while True:
        first = run_spyglass(args[1:], timeout=HANG)
        assert first.returncode == 0, first.stderr
        if "spin" in first.stdout or time.time() > deadline:
            break
        time.sleep(0.1)
    assert "spin" in first.stdout, first.stdout
    dumps = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]
    time.sleep(random.uniform(0, 0.02))
    os.kill(t.pid, signal.SIGUSR1)
    for d in dumps:
        out, err = communicate_or_fail(d, t.pid, "dump hung while the target exited")
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        if d.returncode == 0:
            assert "Thread" in out or "thread" in out, out
        else:
            assert d.returncode == 1, err
            lines = err.strip().splitlines()
            assert lines[0].startswith("spyglass: error: "), err
            assert len(lines) <= 2, err
    assert t.proc.wait(timeout=HANG) == 3, "the target did not end as it meant to"


# 2. spyglass killed at random moments while pausing the target.

def default_sigint():
    """SIGINT as on a terminal: pytest-xdist workers (like background jobs)
    ignore it, and an ignored SIGINT that lands before spyglass installs its
    handler would be lost, leaving spyglass sampling on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("interp", INTERPS)
def test_killing_spyglass_never_leaves_the_target_stopped(interp, tmp_path, start_target):
    counter = str(tmp_path / "counter")
    t = start_target(interp, "faults.py", args=["--counter", counter])
    rnd = random.Random(os.getpid() ^ int(time.time()))
    tried = {signal.SIGINT: 0, signal.SIGTERM: 0, signal.SIGKILL: 0}
    for round_ in range(KILL_ROUNDS):
        sig = list(tried)[round_ % 3]
        rec = subprocess.Popen([SPYGLASS, "record", "--pid", str(t.pid), "--blocking",
                                "--rate", "250", "-o", str(tmp_path / "p.txt")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=default_sigint)
        time.sleep(rnd.uniform(0.0, 0.3))
        rec.send_signal(sig)
        _, err = communicate_or_fail(rec, t.pid,
                                     "spyglass hung after %s (round %d)" % (sig, round_))
        if sig != signal.SIGKILL and b"sampling pid" in err:
            # Stopped by a signal it handles: a normal end, profile written.
            # (A signal before its handlers are installed ends it at once,
            # before it touched the target.)
            assert rec.returncode == 0, (sig, err)
            assert b"spyglass: wrote" in err, err
        assert t.proc.poll() is None, "the target died"
        assert_target_free(t.pid, counter)
        tried[sig] += 1
    assert sum(tried.values()) == KILL_ROUNDS


# 3. Thread churn sampled at 1 kHz.

@pytest.mark.parametrize("interp", INTERPS)
def test_thread_churn_at_1khz(interp, tmp_path, start_target):
    counter = str(tmp_path / "counter")
    t = start_target(interp, "faults.py", args=["--counter", counter, "--churn", "1000"])
    out = tmp_path / "p.txt"
    joined_before = read_counter(counter, 1)
    proc = run_spyglass(["record", "--pid", str(t.pid), "--rate", "1000", "--threads",
                         "--duration", str(CHURN_SECONDS), "-o", str(out)],
                        timeout=CHURN_SECONDS + HANG)
    joined = read_counter(counter, 1) - joined_before
    assert proc.returncode == 0, proc.stderr
    errors, percent = summary_errors(proc.stderr)
    print("%s: %d threads joined in %.0f s; errors %d (%.1f%%)"
          % (interp.id, joined, CHURN_SECONDS, errors, percent))
    assert joined > 50 * CHURN_SECONDS, "the target hardly churned: %d threads" % joined
    assert percent < 20, proc.stderr
    # Every sample of the long-lived thread has its one true stack.
    outer, inner = t.lines["steady_outer"], t.lines["steady_inner"]
    steady = [l for l in out.read_text().splitlines() if l.startswith('thread "steady"')]
    assert steady
    for line in steady:
        frames = line.rsplit(" ", 1)[0].split(";")
        assert frames[-2].startswith("steady_outer (") and frames[-2].endswith(":%d)" % outer), line
        # The leaf is the += line or (2.7-3.9 place the loop's jump there) the while.
        assert re.match(r"steady_inner \(.*faults\.py:(%d|%d)\)$" % (inner, inner - 1),
                        frames[-1]), line
    assert t.proc.poll() is None


# 4. Bad input on every command: one clear error line, a hint, the documented
# exit status (1 runtime, 2 usage), and no output file left behind.

def unused_pid():
    pid = 4000000
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


def assert_one_error(proc, status, *wanted):
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("spyglass: error:")]
    assert len(lines) == 1, proc.stderr
    for w in wanted:
        assert w in lines[0], proc.stderr
    assert "hint: " in proc.stderr, proc.stderr
    assert "Sanitizer" not in proc.stderr and "Traceback" not in proc.stderr


def command_args(command, pid, tmp_path):
    if command == "record":
        return ["record", "--pid", str(pid), "-o", str(tmp_path / "p.svg")]
    return [command, "--pid", str(pid)]


@pytest.mark.parametrize("command", ["record", "top", "dump"])
@pytest.mark.parametrize("what", ["nonexistent", "not-python", "zombie"])
def test_bad_pid(command, what, tmp_path):
    proc_ = None
    if what == "nonexistent":
        pid, message = unused_pid(), "no such process"
    elif what == "not-python":
        proc_ = subprocess.Popen(["sleep", "100"])
        pid, message = proc_.pid, "is not running Python"
        time.sleep(0.1)  # exec'd into sleep
    else:
        proc_ = make_zombie()
        pid, message = proc_.pid, str(proc_.pid)
    try:
        proc = run_spyglass(command_args(command, pid, tmp_path), timeout=HANG)
    finally:
        if proc_:
            proc_.kill()
            proc_.wait()
    assert_one_error(proc, 1, message)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("command", ["record", "top"])
@pytest.mark.parametrize("option,value", [
    ("--rate", "-5"), ("--rate", "0"), ("--rate", "1e9"), ("--rate", "nan"), ("--rate", "inf"),
    ("--duration", "-1"), ("--duration", "1e99"), ("--duration", "soon"),
    ("--interval", "-1"), ("--interval", "1e99"), ("--window", "0"),
])
def test_absurd_numbers_are_usage_errors(command, option, value, tmp_path):
    if (command, option) in (("top", "--duration"), ("record", "--interval"),
                             ("record", "--window")):
        pytest.skip("%s has no %s" % (command, option))
    args = [command, option, value]
    if command == "record":
        args += ["-o", str(tmp_path / "p.svg")]
    proc = run_spyglass(args + ["--", "true"], timeout=HANG)
    assert_one_error(proc, 2, option)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("interp", [p for p in INTERPS if p.id == "debian3.11"])
def test_output_errors(interp, tmp_path, start_target):
    t = start_target(interp, "faults.py")
    cases = [(str(tmp_path), "is a directory"),
             (str(tmp_path / "missing" / "p.svg"), "directory does not exist"),
             ("/proc/self/p.svg", "cannot create")]
    for path, message in cases:
        proc = run_spyglass(["record", "--pid", str(t.pid), "-d", "0.2", "-o", path],
                            timeout=HANG)
        assert_one_error(proc, 1, message)
        assert "sampling" not in proc.stderr  # refused before touching the target
    assert os.listdir(str(tmp_path)) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte; skips where mounting is not allowed."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      stderr=subprocess.PIPE).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        with open(str(mnt / "filler"), "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 512)
            except OSError:
                pass
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.parametrize("interp", [p for p in INTERPS if p.id == "debian3.11"])
@pytest.mark.parametrize("name", ["p.svg", "p.txt", "p.json", "p.prof", "p.pb.gz"])
def test_disk_full(interp, name, full_disk, start_target):
    t = start_target(interp, "faults.py")
    proc = run_spyglass(["record", "--pid", str(t.pid), "-d", "0.2", "-o", str(full_disk / name)],
                        timeout=HANG)
    assert_one_error(proc, 1, "could not write", "No space left on device")
    assert sorted(os.listdir(str(full_disk))) == ["filler"]  # no partial file, no temp file
    assert_target_alive(t)


def assert_target_alive(t):
    assert t.proc.poll() is None
    for tid, (state, tracer) in thread_states(t.pid).items():
        assert state not in "tT" and tracer == 0, (tid, state, tracer)


def as_user(uid):
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]


@pytest.mark.parametrize("interp", [p for p in INTERPS if p.id == "debian3.11"])
@pytest.mark.parametrize("command", ["record", "top", "dump"])
def test_permission_denied_names_the_fix(interp, command, tmp_path):
    """Target as nobody, spyglass as daemon: neither may read the other."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start processes as other users")
    script = os.path.join(os.path.dirname(SPYGLASS), "..", "tests", "targets", "faults.py")
    target = subprocess.Popen(as_user(65534) + [interp.path, script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd="/")
    try:
        ready = target.stdout.readline()
        assert ready.startswith(b"READY"), target.stderr.read()
        out = "/tmp/spyglass-perm-%d.svg" % target.pid
        args = [command, "--pid", str(target.pid)] + (["-o", out] if command == "record" else [])
        proc = subprocess.run(as_user(1) + [SPYGLASS] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=HANG, cwd="/")
        proc.stderr = proc.stderr.decode()
        assert_one_error(proc, 1, "permission denied")
        assert "run spyglass as the target's user or as root" in proc.stderr
        assert not os.path.exists(out)
    finally:
        target.kill()
        target.wait()


# 5. Hostile names, read live from a target (the writers' own escaping of
# hand-built names is tested in test_formats_schema.py and tests/browser).

def strict_json(path):
    def no_constant(c):
        raise ValueError("non-standard JSON constant " + c)
    with open(path, encoding="utf-8", errors="strict") as f:
        return json.load(f, parse_constant=no_constant)


@pytest.mark.parametrize("interp", [p for p in interpreter_params((3, 8)) if p.id in MATRIX])
def test_hostile_names_keep_every_format_valid(interp, tmp_path, start_target):
    t = start_target(interp, "hostile.py")
    outputs = {}
    for name in ("p.svg", "p.txt", "p.json", "p.trace.json", "p.prof", "p.pb.gz"):
        out = tmp_path / name
        proc = run_spyglass(["record", "--pid", str(t.pid), "--threads", "-d", "0.3",
                             "-o", str(out)], timeout=HANG)
        assert proc.returncode == 0, proc.stderr
        outputs[name] = out
    # Collapsed: one stack per line, each ending in its count; the names got through.
    text = outputs["p.txt"].read_bytes().decode("utf-8")
    lines = text.splitlines()
    assert lines and all(re.search(r" \d+$", l) for l in lines), lines[:3]
    assert "<script>alert(1)</script>" in text and "q\"u'o&te<>" in text
    assert any(l.count(";") >= 8 and "L" * 1000 in l for l in lines)
    # SVG: well-formed XML, and the markup in names is text, never elements.
    svg = outputs["p.svg"].read_bytes()
    root = ET.fromstring(svg)
    assert b"<script>alert(1)" not in svg
    assert not [e for e in root.iter() if e.tag.endswith("script") and "alert(1)" in (e.text or "")]
    # JSON formats: strict UTF-8, no NaN.
    strict_json(str(outputs["p.json"]))
    strict_json(str(outputs["p.trace.json"]))
    # pstats loads in Python's own reader; pprof is a gzip stream.
    subprocess.run([sys.executable, "-c", "import pstats,sys; pstats.Stats(sys.argv[1])",
                    str(outputs["p.prof"])], check=True)
    gzip.decompress(outputs["p.pb.gz"].read_bytes())
    # dump: the text escapes control characters (no terminal escape gets
    # through, one frame per line); the JSON is strict.
    proc = run_spyglass(["dump", "--pid", str(t.pid)], timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", proc.stdout), repr(proc.stdout[:300])
    assert "ctl\\x01\\x07\\x1b[31m\\x7f (" in proc.stdout and "new\\nline (" in proc.stdout
    dumped = run_spyglass(["dump", "--pid", str(t.pid), "--json"], timeout=HANG)
    assert dumped.returncode == 0, dumped.stderr
    names = [f["function"] if "function" in f else f.get("name")
             for th in json.loads(dumped.stdout)["threads"] for f in th["frames"]]
    assert "new\nline" in names, names
    # top's plain-text snapshots: no control character reaches the terminal, and
    # every frame stays on its one row (a newline in a name would split it).
    top = subprocess.Popen([SPYGLASS, "top", "--pid", str(t.pid), "--interval", "0.3",
                            "--rows", "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    top.send_signal(signal.SIGINT)
    out, err = top.communicate(timeout=HANG)
    assert top.returncode == 0, err
    text = out.decode("utf-8")  # strict: valid UTF-8 whatever the names held
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text), repr(text[:300])
    rows = [l for l in text.splitlines() if re.match(r"^\s*[\d.]+%\s+[\d.]+%", l)]
    assert rows, text[:500]
    assert any("new?line" in l for l in rows) and any("ctl???" in l for l in rows), rows
