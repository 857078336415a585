"""Command-line behaviour: help, version, usage errors, and attach failures."""
import os
import subprocess

import pytest

from conftest import make_zombie, run_spyglass, wait_exec

SUPPORTED = "2.7, 3.6, 3.7, 3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14, 3.15, 3.13t, 3.14t, 3.15t"


def test_version():
    proc = run_spyglass(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.startswith("spyglass ")
    assert SUPPORTED in proc.stdout


def test_help_lists_commands():
    proc = run_spyglass(["--help"])
    assert proc.returncode == 0
    assert "dump" in proc.stdout
    assert "Exit status" in proc.stdout


def test_no_arguments_is_a_usage_error():
    proc = run_spyglass([])
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_unknown_command():
    proc = run_spyglass(["frobnicate"])
    assert proc.returncode == 2
    assert "spyglass: error: unknown command 'frobnicate'" in proc.stderr
    assert "hint:" in proc.stderr


def test_dump_help():
    proc = run_spyglass(["dump", "--help"])
    assert proc.returncode == 0
    assert "usage: spyglass dump --pid PID" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["dump"], "give --pid PID"),
    (["dump", "--pid", "abc"], "--pid wants a process id, got 'abc'"),
    (["dump", "--pid", "-5"], "--pid wants a process id"),
    (["dump", "--pid", "1", "--bogus"], "unknown option '--bogus'"),
    (["dump", "--pid"], "option '--pid' needs a value"),
    (["dump", "--pid", "1", "extra"], "unexpected argument 'extra'"),
])
def test_dump_usage_errors(args, message):
    proc = run_spyglass(args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def unused_pid():
    pid = 4000000
    while os.path.exists("/proc/%d" % pid):
        pid -= 1
    return pid


def test_dump_no_such_process():
    pid = unused_pid()
    proc = run_spyglass(["dump", "--pid", str(pid)])
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "spyglass: error: no such process: %d" % pid
    assert lines[1].startswith("hint: ")


def test_dump_not_a_python_process():
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        wait_exec(sleeper.pid, "sleep")  # a fork of pytest's Python until then
        proc = run_spyglass(["dump", "--pid", str(sleeper.pid)])
        assert proc.returncode == 1
        assert ("spyglass: error: process %d (sleep) is not running Python" % sleeper.pid
                in proc.stderr)
        assert "hint:" in proc.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_dump_zombie_process():
    # A child that exits and is not reaped stays a zombie: it has no memory.
    child = make_zombie()
    try:
        proc = run_spyglass(["dump", "--pid", str(child.pid)])
        assert proc.returncode == 1
        assert "spyglass: error:" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 2
    finally:
        child.wait()
