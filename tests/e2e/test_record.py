"""`spyglass record` end to end: shares, filters, spawn and attach modes, formats."""
import json
import os
import re
import signal
import subprocess
import time
import xml.dom.minidom

import pytest

from conftest import (SPYGLASS, TARGETS, interpreter_params, proc_stat, read_collapsed,
                      run_spyglass, wait_cpu)

ALL = interpreter_params()
SHARES = os.path.join(TARGETS, "shares.py")
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def func(frame):
    m = FRAME.match(frame)
    return m.group("name") if m else frame


def share(stacks, predicate):
    total = sum(c for _, c in stacks)
    hit = sum(c for frames, c in stacks if any(predicate(f) for f in frames))
    return 100.0 * hit / total if total else 0.0


def record(args, out, timeout=120):
    proc = run_spyglass(["record", "-o", str(out)] + args, timeout=timeout)
    return proc


@pytest.mark.parametrize("interp", ALL)
def test_record_idle_shares_match_ground_truth(interp, tmp_path, start_target):
    # Attached after READY, so interpreter start-up (imports) is not in the
    # profile. Ground truth is what the target measured itself over the same
    # window (its phases stretch when the machine is busy).
    stats = tmp_path / "stats"
    t = start_target(interp, "shares.py", args=["--cpu-percent", "60", "--stats", str(stats)])

    def totals():
        deadline = time.time() + 5
        while not stats.exists() and time.time() < deadline:
            time.sleep(0.05)
        return [float(x) for x in stats.read_text().split()]

    before = totals()
    out = tmp_path / "p.txt"
    proc = record(["--idle", "--rate", "200", "--duration", "3", "--pid", str(t.pid)], out)
    after = totals()
    assert proc.returncode == 0, proc.stderr
    d_cpu, d_idle, d_wall = [a - b for a, b in zip(after, before)]
    truth_cpu, truth_idle = 100.0 * d_cpu / d_wall, 100.0 * d_idle / d_wall
    stacks = read_collapsed(str(out))
    cpu = share(stacks, lambda f: func(f) == "cpu_burn")
    idle = share(stacks, lambda f: func(f) == "idle_wait")
    # The bound is 5 points. On an overloaded machine (load average
    # above twice the cores, as when tests run beside other work) samples
    # are late and skipped in bursts, and 8 points is what holds; past six
    # times the cores (9.9 and 13.7 points were seen at load 25-29 on 2
    # cores), 14.
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    tolerance = 5 if load <= 2 else 8 if load <= 6 else 14
    assert abs(cpu - truth_cpu) <= tolerance, (cpu, idle, truth_cpu, truth_idle)
    assert abs(idle - truth_idle) <= tolerance, (cpu, idle, truth_cpu, truth_idle)
    assert "samples" in proc.stderr and "wrote" in proc.stderr


@pytest.mark.parametrize("interp", ALL)
def test_record_drops_idle_by_default(interp, tmp_path, start_target):
    t = start_target(interp, "shares.py")
    out = tmp_path / "p.txt"
    proc = record(["--rate", "200", "--duration", "2", "--pid", str(t.pid)], out)
    assert proc.returncode == 0, proc.stderr
    stacks = read_collapsed(str(out))
    # The thread sleeps 40% of the time (with --idle, idle_wait is ~40%). A
    # thread whose sleep just ended is runnable ('R') before it runs again; on
    # a loaded machine that wait for a CPU lasts milliseconds, and those
    # samples are truly not idle. Hence a bound, not zero.
    assert share(stacks, lambda f: func(f) == "cpu_burn") > 50
    assert share(stacks, lambda f: func(f) == "idle_wait") < 20


@pytest.mark.parametrize("interp", ALL)
def test_record_gil_keeps_only_the_gil_holder(interp, tmp_path, start_target):
    # The main thread spins (holding the GIL); "sleeper" sleeps in 1 s naps
    # and takes the GIL only for a moment after each.
    t = start_target(interp, "shares.py", args=["--cpu-percent", "100", "--gil-thread"])
    with_gil, without = tmp_path / "gil.txt", tmp_path / "all.txt"
    base = ["--idle", "--threads", "--rate", "200", "--duration", "2", "--pid", str(t.pid)]
    proc = record(["--gil"] + base, with_gil)
    assert proc.returncode == 0, proc.stderr
    assert record(base, without).returncode == 0
    sleeper = lambda f: f.startswith('thread "sleeper"')
    # Without --gil both threads are in every sample: half the stacks.
    assert 40 <= share(read_collapsed(str(without)), sleeper) <= 60
    stacks = read_collapsed(str(with_gil))
    assert share(stacks, sleeper) < 3
    assert share(stacks, lambda f: f.startswith('thread "MainThread"')) > 97


@pytest.mark.parametrize("interp", ALL)
def test_record_threads_puts_threads_at_the_root(interp, tmp_path, start_target):
    # Attached once both threads run: a thread's first moments, before
    # threading has registered its name, are labelled by ident instead.
    t = start_target(interp, "shares.py", args=["--gil-thread"])
    out = tmp_path / "p.txt"
    proc = record(["--idle", "--threads", "--rate", "100", "--duration", "2",
                   "--pid", str(t.pid)], out)
    assert proc.returncode == 0, proc.stderr
    stacks = read_collapsed(str(out))
    roots = set(frames[0].split(" (tid")[0] for frames, _ in stacks)
    assert roots == {'thread "MainThread"', 'thread "sleeper"'}


@pytest.mark.parametrize("interp", ALL)
def test_record_function_merges_lines(interp, tmp_path):
    by_line, by_func = tmp_path / "l.txt", tmp_path / "f.txt"
    args = ["--idle", "--rate", "200", "--", interp.path, SHARES, "--seconds", "2"]
    assert record(args, by_line).returncode == 0
    assert record(["--function"] + args, by_func).returncode == 0
    lines = set(f for frames, _ in read_collapsed(str(by_line)) for f in frames
                if func(f) == "cycle")
    funcs = set(f for frames, _ in read_collapsed(str(by_func)) for f in frames
                if func(f) == "cycle")
    assert len(lines) >= 2  # cycle calls cpu_burn and idle_wait from two lines
    assert len(funcs) == 1
    assert all(FRAME.match(f).group("line") is None for f in funcs)


@pytest.mark.parametrize("interp", ALL)
def test_record_spawn_returns_child_exit_code(interp, tmp_path):
    out = tmp_path / "p.svg"
    proc = record(["--", interp.path, SHARES, "--seconds", "1", "--exit-code", "7"], out)
    assert proc.returncode == 7, proc.stderr
    assert out.exists()


@pytest.mark.parametrize("interp", ALL)
def test_record_attach_stops_when_target_exits(interp, tmp_path, start_target):
    t = start_target(interp, "shares.py", args=["--seconds", "2"])
    out = tmp_path / "p.txt"
    proc = record(["--pid", str(t.pid)], out, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "the target exited" in proc.stderr
    # The profile up to the exit was kept: mostly cpu_burn (a thread runnable
    # but waiting for a CPU after its sleep counts as active, and on a loaded
    # machine that is a visible share: see test_record_drops_idle_by_default).
    assert share(read_collapsed(str(out)), lambda f: func(f) == "cpu_burn") > 60


@pytest.mark.parametrize("interp", ALL)
def test_record_attach_sigint_writes_the_profile(interp, tmp_path, start_target):
    t = start_target(interp, "shares.py")
    out = tmp_path / "p.svg"
    rec = subprocess.Popen([SPYGLASS, "record", "--pid", str(t.pid), "-o", str(out)],
                           stderr=subprocess.PIPE)
    time.sleep(1.5)
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=30)
    assert rec.returncode == 0, err
    assert t.proc.poll() is None  # the target keeps running
    xml.dom.minidom.parse(str(out))
    assert proc_stat("/proc/%d/stat" % t.pid)[0] in "RS"


@pytest.mark.parametrize("interp", [p for p in ALL if p.id in ("py2.7", "py3.11", "py3.13")])
def test_record_formats_are_valid(interp, tmp_path):
    for name in ("p.svg", "p.json", "p.trace.json", "p.folded"):
        out = tmp_path / name
        proc = record(["--idle", "--", interp.path, SHARES, "--seconds", "1"], out)
        assert proc.returncode == 0, proc.stderr
        if name.endswith(".svg"):
            doc = xml.dom.minidom.parse(str(out))
            assert doc.documentElement.tagName == "svg"
        elif name.endswith(".json"):
            data = json.load(open(str(out)))
            if name == "p.trace.json":
                assert data["traceEvents"]
            else:
                assert data["$schema"].startswith("https://www.speedscope.app/")
        else:
            assert read_collapsed(str(out))


def test_record_usage_errors(tmp_path):
    for args, message in [
        (["record"], "give --pid PID or -- COMMAND"),
        (["record", "--pid", "1", "--", "python"], "not both"),
        (["record", "--rate", "0", "--", "python"], "--rate wants"),
        (["record", "--rate", "-5", "--", "python"], "--rate wants"),
        (["record", "--duration", "abc", "--", "python"], "--duration wants"),
        (["record", "--format", "png", "--", "python"], "unknown format 'png'"),
    ]:
        proc = run_spyglass(args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)


def test_record_output_into_missing_directory(tmp_path):
    proc = run_spyglass(["record", "-o", str(tmp_path / "nope" / "p.svg"), "--", "true"])
    assert proc.returncode == 1
    assert "directory does not exist" in proc.stderr


def test_record_output_is_a_directory(tmp_path):
    proc = run_spyglass(["record", "-o", str(tmp_path), "--", "true"])
    assert proc.returncode == 1
    assert "is a directory" in proc.stderr


def test_record_command_not_found(tmp_path):
    proc = run_spyglass(["record", "-o", str(tmp_path / "p.svg"), "--", "no-such-cmd-xyz"])
    assert proc.returncode == 1
    assert "cannot run 'no-such-cmd-xyz'" in proc.stderr
    assert not os.listdir(str(tmp_path))


def test_record_spawn_under_sudo_runs_the_command_as_the_user(tmp_path):
    """sudo spyglass record -- CMD must not run CMD as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root, as under sudo")
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        pytest.skip("no %s" % python)
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534")
    code = "import os, time; print(os.getuid(), os.getgid(), flush=True); time.sleep(0.5)"
    proc = subprocess.run([SPYGLASS, "record", "-o", str(tmp_path / "p.txt"), "--", python,
                           "-c", code], env=env, cwd="/", stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["65534", "65534"]
    assert (tmp_path / "p.txt").exists()


@pytest.mark.parametrize("interp", [p for p in ALL if p.id in ("py2.7", "py3.8", "py3.12",
                                                               "debian3.11")])
def test_record_spawn_forwards_sigterm_and_writes_the_profile(interp, tmp_path):
    out = tmp_path / "p.txt"
    rec = subprocess.Popen([SPYGLASS, "record", "-o", str(out), "--", interp.path, SHARES],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    line = rec.stdout.readline()  # READY <pid>: Python runs and is being sampled
    assert line.startswith("READY"), line
    child = int(line.split()[1])
    wait_cpu(child, 0.5)  # cpu_burn has run long enough to be sampled
    rec.send_signal(signal.SIGTERM)
    _, err = rec.communicate(timeout=30)
    # The child got the SIGTERM and died of it; spyglass says so in its exit
    # status (128 + 15, as a shell would) and still wrote the profile.
    assert rec.returncode == 128 + signal.SIGTERM, err
    assert not os.path.exists("/proc/%d" % child) or open("/proc/%d/stat" % child).read().split(") ")[1][0] in "ZX"
    assert share(read_collapsed(str(out)), lambda f: func(f) == "cpu_burn") > 50
