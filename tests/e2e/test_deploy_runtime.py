"""Right answers on real deployments, the runtime side (issue 13, items 1, 3, 6, 7, 8).

- uWSGI workers (Debian's uwsgi + uwsgi-plugin-python3, the real server): a
  worker's main thread state keeps the master's thread id unless uWSGI is
  told --py-call-osafterfork; a worker sleeping in a request must be idle,
  never active, and its thread id the worker's.
- A target in its own PID namespace (`unshare --pid --fork --mount-proc`):
  thread ids are mapped through NSpid, the sleeping thread is idle, and the
  ids inside the namespace are shown beside ours.
- A 20,000-deep stack keeps both ends, with "(N frames omitted)" between.
- Torn stacks (tests/targets/churn.py without --blocking) are left out and
  counted, not folded into the profile.
- --gil says how many active samples without the GIL it left out.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import (INTERPRETERS, ROOT, TARGETS, interpreter_params, marked_lines,
                      read_collapsed, run_spyglass)

sys.path.insert(0, os.path.join(ROOT, "bench"))
import consistency  # noqa: E402  (bench/consistency.py: what a valid churn stack is)

UWSGI = "/usr/bin/uwsgi"
UWSGI_PYTHON = "/usr/bin/python3"  # the only libpython Debian's uwsgi-plugin-python3 embeds


def wait_for(predicate, what, timeout=60):
    """Polls predicate (a readiness signal) until it returns something true."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("gave up waiting for " + what)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(pid):
    """The pids whose parent is pid (this kernel has no task/N/children file)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(name))
    return found


def uwsgi_params():
    params = []
    for ident, path, _ in INTERPRETERS:
        marks = []
        if path != UWSGI_PYTHON:
            marks.append(pytest.mark.skip(reason=(
                "Debian's uwsgi-plugin-python3 embeds only /usr/bin/python3's libpython; "
                "`pip install uwsgi` for %s compiles uWSGI (measured: about 3 min of wall "
                "time per interpreter on this 2-core machine under load, ~27 min for all "
                "nine), beyond the test suite's 15-minute budget" % ident)))
        elif not os.access(UWSGI, os.X_OK):
            marks.append(pytest.mark.skip(reason="uwsgi is not installed (tools/deps.sh)"))
        for afterfork in (False, True):
            params.append(pytest.param(path, afterfork, marks=marks,
                                       id="%s-%s" % (ident, "osafterfork" if afterfork
                                                     else "plain")))
    return params


class Uwsgi(object):
    """uWSGI with 2 workers and a master serving tests/targets/uwsgi_app.py."""

    def __init__(self, tmp_path, afterfork):
        self.marks = str(tmp_path / "marks")
        self.port = free_port()
        env = dict(os.environ, SPYGLASS_UWSGI_MARKS=self.marks, PYTHONDONTWRITEBYTECODE="1")
        args = [UWSGI, "--plugin", "http,python3", "--http", "127.0.0.1:%d" % self.port,
                "--processes", "2", "--master", "--die-on-term",
                "--wsgi-file", os.path.join(TARGETS, "uwsgi_app.py")]
        if afterfork:
            args.append("--py-call-osafterfork")
        self.log = open(str(tmp_path / "uwsgi.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def get(self, path):
        """Sends a request from a thread; the answer is never waited for."""
        def send():
            try:
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                       timeout=120).read()
            except Exception:
                pass
        threading.Thread(target=send, daemon=True).start()

    def worker_doing(self, what):
        """The pid of the worker that marked `what` (SLEEP or SPIN), or None."""
        if not os.path.exists(self.marks):
            return None
        with open(self.marks) as f:
            for line in f:
                if line.split()[0] == what:
                    return int(line.split()[1])
        return None

    def stop(self):
        workers = children(self.pid)  # before the master goes: then they are orphans
        self.proc.kill()
        self.proc.wait()
        for pid in workers:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        self.log.close()


def thread_running(dump, function):
    """The thread of a dump --json process whose stack has function."""
    for t in dump["threads"]:
        if any(f["name"] == function for f in t["frames"]):
            return t
    raise AssertionError("no thread in %s: %s" % (function, dump))


@pytest.mark.parametrize("python,afterfork", uwsgi_params())
def test_uwsgi_worker_sleep_is_idle_with_its_own_tid(python, afterfork, tmp_path):
    server = Uwsgi(tmp_path, afterfork)
    try:
        # The server is up when it answers; then one worker sleeps, the other spins.
        wait_for(lambda: server.proc.poll() is None and os.path.exists("/proc/%d" % server.pid)
                 and _answers(server.port), "uWSGI to answer")
        server.get("/sleep?s=60")
        sleeper = wait_for(lambda: server.worker_doing("SLEEP"), "a worker to sleep")
        server.get("/spin?s=60")
        spinner = wait_for(lambda: server.worker_doing("SPIN"), "a worker to spin")
        assert sleeper != spinner

        dump = json.loads(run_spyglass(["dump", "--pid", str(sleeper), "--json"],
                                       check=True).stdout)
        t = thread_running(dump, "sleep_for")
        assert t["tid"] == sleeper  # before: the master's pid
        assert t["state"] == "idle" and t["active"] is False  # before: active
        text = run_spyglass(["dump", "--pid", str(sleeper)], check=True).stdout
        assert re.search(r"\(idle\) \"[^\"]*\" \[tid %d\]" % sleeper, text), text

        out = tmp_path / "tree.txt"
        proc = run_spyglass(["record", "--pid", str(server.pid), "--subprocesses", "-d", "1",
                             "--rate", "50", "-o", str(out)], check=True)
        names = [f.split(" (")[0] for stack, _ in read_collapsed(str(out)) for f in stack]
        assert "spin_for" in names, proc.stderr
        assert "sleep_for" not in names, proc.stderr  # before: 98 of 98 samples "active"
        assert "unknown OS state" not in proc.stderr
    finally:
        server.stop()


def _answers(port):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5).read()
        return True
    except Exception:
        return False


class Namespaced(object):
    """A target started as pid 1 of a new PID namespace; pid is ours for it."""

    def __init__(self, interpreter, script, args=(), env=None):
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", interpreter.path,
             os.path.join(TARGETS, script)] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **(env or {})))
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY"), (line, self.proc.stderr.read())
        self.inner_pid = int(line.split()[1])
        self.pid = wait_for(lambda: (children(self.proc.pid) or [None])[0], "the python child")

    def kill(self):
        self.proc.kill()  # unshare's child, pid 1 inside, takes the namespace down with it
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.mark.parametrize("interpreter", interpreter_params())
def test_pid_namespace_maps_thread_ids(interpreter, tmp_path):
    # stacks.py: MainThread spins; sleeper-1 sleeps for a day, never waking.
    target = Namespaced(interpreter, "stacks.py", env={"SPYGLASS_DEPTH": "5"})
    try:
        assert target.inner_pid == 1 and target.pid != 1
        dump = json.loads(run_spyglass(["dump", "--pid", str(target.pid), "--json"],
                                       check=True).stdout)
        by_name = {t["name"]: t for t in dump["threads"]}
        host_tids = set(int(x) for x in os.listdir("/proc/%d/task" % target.pid))
        sleeper, main = by_name["sleeper-1"], by_name["MainThread"]
        assert sleeper["state"] == "idle"  # before: active, tid 0 or the inside id
        assert sleeper["tid"] in host_tids and sleeper["ns_tid"] not in (0, sleeper["tid"])
        assert main["tid"] == target.pid and main["ns_tid"] == 1
        text = run_spyglass(["dump", "--pid", str(target.pid)], check=True).stdout
        assert "Process %d (pid 1 in its PID namespace)" % target.pid in text
        assert "[tid %d, 1 in its PID namespace]" % target.pid in text

        out = tmp_path / "ns.txt"
        proc = run_spyglass(["record", "--pid", str(target.pid), "-d", "1", "-o", str(out)],
                            check=True)
        assert "sampling pid %d (pid 1 in its PID namespace)" % target.pid in proc.stderr
        stacks = read_collapsed(str(out))
        assert any(f.startswith("spin ") for s, _ in stacks for f in s), proc.stderr
        # before: every sample had the sleeper, as active
        assert not [s for s, _ in stacks if any(f.startswith("sleeper ") for f in s)]
        assert "unknown OS state" not in proc.stderr
    finally:
        target.kill()


DEEP = 20000


@pytest.mark.parametrize("interpreter", interpreter_params())
def test_deep_stack_keeps_both_ends(interpreter, start_target, tmp_path):
    target = start_target(interpreter, "deep.py", args=["--depth", str(DEEP), "--seconds", "120"])
    dump = json.loads(run_spyglass(["dump", "--pid", str(target.pid), "--json"],
                                   check=True, timeout=120).stdout)
    deep = [t for t in dump["threads"] if t["name"] == "deep"][0]
    frames = [f["name"] for f in deep["frames"]]
    assert len(frames) == 4096 and deep["depth"] == len(frames) + deep["frames_omitted"]
    assert frames[0] == "spin" and frames[2047] == "recurse"
    assert frames[-1].lstrip("_") == "bootstrap" and "descend" in frames[-6:]
    # every recurse() call is either shown or among the omitted
    assert frames.count("recurse") + deep["frames_omitted"] == DEEP
    text = run_spyglass(["dump", "--pid", str(target.pid)], check=True, timeout=120).stdout
    assert "... (%d frames omitted: %d frames deep in all) ..." % (
        deep["frames_omitted"], deep["depth"]) in text

    out = tmp_path / "deep.txt"
    proc = run_spyglass(["record", "--pid", str(target.pid), "-d", "1", "--rate", "20",
                         "-o", str(out)], check=True, timeout=120)
    stacks = [s for s, _ in read_collapsed(str(out)) if any(f.startswith("spin ") for f in s)]
    assert stacks, proc.stderr
    for s in stacks:
        assert len(s) == 4097
        assert s[0].split(" ")[0].lstrip("_").endswith("bootstrap")  # the root is kept
        assert s[2048] == "(%d frames omitted)" % deep["frames_omitted"]
        assert s[-1].startswith("spin ")
    assert re.search(r"stacks were deeper than 4096 frames \(deepest %d\)" % deep["depth"],
                     proc.stderr), proc.stderr


@pytest.mark.parametrize("interpreter", interpreter_params())
def test_torn_stacks_are_left_out_and_counted(interpreter, tmp_path):
    out = tmp_path / "churn.txt"
    churn = os.path.join(TARGETS, "churn.py")
    proc = run_spyglass(["record", "--nonblocking", "--rate", "200", "-o", str(out), "--",
                         interpreter.path, churn, "--seconds", "2"], check=True, timeout=120)
    lines = marked_lines(churn)
    total = torn = 0
    for frames, count in read_collapsed(str(out)):
        if not any(consistency.LOOP.match(f) for f in frames):
            continue  # start-up
        total += count
        torn += 0 if consistency.valid(frames, lines) else count
    assert total >= 50, proc.stderr
    # Before: 1.6-23% of these were torn (the root lost, impossible depths).
    # The checks leave a residue from an address reused between two reads:
    # 0-0.15% measured; 1% is the bound.
    assert torn * 100 <= total, (torn, total, proc.stderr)
    m = re.search(r"(\d+) thread stacks \(([\d.]+)% of (\d+)\) left out as torn", proc.stderr)
    if m:
        assert int(m.group(1)) > 0 and int(m.group(3)) >= total


@pytest.mark.parametrize("interpreter", interpreter_params())
def test_gil_says_what_it_left_out(interpreter, start_target, tmp_path):
    target = start_target(interpreter, "nogil.py", args=["--seconds", "60"])
    out = tmp_path / "gil.txt"
    proc = run_spyglass(["record", "--pid", str(target.pid), "--gil", "-d", "1", "-o", str(out)],
                        check=True)
    m = re.search(r"--gil left out (\d+) active samples of threads running without the GIL",
                  proc.stderr)
    assert m and int(m.group(1)) > 0, proc.stderr  # before: nothing said
    names = [f.split(" (")[0] for stack, _ in read_collapsed(str(out)) for f in stack]
    assert "spin" in names
