"""Shared fixtures for the end-to-end tests.

Every e2e test that applies to an interpreter runs once per interpreter in
INTERPRETERS; an interpreter absent from this machine is skipped with a reason.
The tests only ever point spyglass at processes they started themselves.

Besides pyenv's (and Debian's 3.11), INTERPRETERS lists what no package here
has: Debian sid's 3.14 and 3.15 (make test installs them: tools/sid_pythons.sh;
they run in the modules of SID_MODULES), and 3.14, 3.14t and 3.13t built from
source into pyenv's directory (tools/build_python.sh; too slow for make test, a
developer's choice).

SPYGLASS_LAYOUT=offsets in the environment runs the suite with spyglass
reading every offset _Py_DebugOffsets has from the target and none from its
table (spyglass itself reads the variable); interpreters before 3.13, which
have no such offsets, are skipped. `make e2e-offsets` runs the dump and record
tests on 3.13.0 that way.
"""
import glob
import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = os.path.join(ROOT, "tests", "targets")
SPYGLASS = os.environ.get("SPYGLASS", os.path.join(ROOT, "build", "spyglass"))
SPYGLASS_ASAN = os.path.join(ROOT, "build", "spyglass-asan")

PYENV = "/root/.pyenv/versions"
SID = os.path.join(ROOT, "build", "sid")


def built(pattern):
    """The newest interpreter matching a glob under pyenv's directory (a
    source build: 3.14.7/bin/python3.14), or the pattern itself if none."""
    found = sorted(glob.glob(os.path.join(PYENV, pattern)),
                   key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[-3])])
    return found[-1] if found else os.path.join(PYENV, pattern)


# (test id, path, (major, minor)) for every CPython the project supports here;
# a "t" id is a free-threaded build.
INTERPRETERS = [
    ("py2.7", PYENV + "/2.7.18/bin/python", (2, 7)),
    ("py3.6", PYENV + "/3.6.15/bin/python", (3, 6)),
    ("py3.7", PYENV + "/3.7.16/bin/python", (3, 7)),
    ("py3.8", PYENV + "/3.8.18/bin/python", (3, 8)),
    ("py3.9", PYENV + "/3.9.18/bin/python", (3, 9)),
    ("py3.10", PYENV + "/3.10.13/bin/python", (3, 10)),
    ("py3.11", PYENV + "/3.11.7/bin/python", (3, 11)),
    ("py3.12", PYENV + "/3.12.1/bin/python", (3, 12)),
    ("py3.13", PYENV + "/3.13.0/bin/python", (3, 13)),
    ("debian3.11", "/usr/bin/python3", (3, 11)),
    ("sid3.14", SID + "/python3.14", (3, 14)),
    ("sid3.15", SID + "/python3.15", (3, 15)),
    ("py3.14", built("3.14.*[0-9]/bin/python3.14"), (3, 14)),
    ("py3.13t", built("3.13.*t/bin/python3.13t"), (3, 13)),
    ("py3.14t", built("3.14.*t/bin/python3.14t"), (3, 14)),
]
LAYOUT = os.environ.get("SPYGLASS_LAYOUT", "")


# PyPI packages for the pyenv interpreters (tests/pydeps.txt), installed by
# tools/pydeps.py into build/pydeps/<version> at first use: once per machine,
# under a file lock that pytest-xdist workers share.
sys.path.insert(0, os.path.join(ROOT, "tools"))
import pydeps as _pydeps  # noqa: E402

_pydeps_state = None


def _pydeps_info(interpreter):
    """tools/pydeps.py's entry for a pyenv interpreter, or None (Debian's, and
    those tools/pydeps.py does not install for: a source build, a free-threaded
    one, whose extension modules could not share a folder with X.Y's)."""
    global _pydeps_state
    if not interpreter.path.startswith(PYENV + "/"):
        return None
    if _pydeps_state is None:
        _pydeps_state = _pydeps.ensure()
    info = _pydeps_state.get("%d.%d" % interpreter.version)
    return info if info and info.get("python") == interpreter.path else None


def pydeps_skip(interpreter, *packages):
    """The reason to skip a test that needs packages on interpreter, or None.
    Debian's python3 has them from Debian (tools/deps.sh); a pyenv one from
    tests/pydeps.txt, where a version that cannot have one says why."""
    info = _pydeps_info(interpreter)
    if info is None:
        code = "import " + ", ".join(packages)
        if subprocess.call([interpreter.path, "-c", code], stderr=subprocess.DEVNULL) != 0:
            return "%s not installed for %s (%s)" % (
                ", ".join(packages), interpreter,
                "tools/deps.sh" if interpreter.path == "/usr/bin/python3" else
                "tests/pydeps.txt is for pyenv's own builds")
        return None
    for package in packages:
        if package in info["lacking"]:
            return "no %s for %s: %s" % (package, interpreter, info["lacking"][package])
        if package not in info["packages"]:
            return "tests/pydeps.txt has no %s for %s" % (package, interpreter)
    return None


def pydeps_env(interpreter):
    """Environment entries that make tests/pydeps.txt's packages importable
    by interpreter (PYTHONPATH); {} for Debian's python3. Fails the test if
    they could not be installed."""
    info = _pydeps_info(interpreter)
    if info is None:
        return {}
    if info["error"]:
        pytest.fail(info["error"])
    return {"PYTHONPATH": info["path"]}


class Interpreter(object):
    def __init__(self, ident, path, version):
        self.id = ident
        self.path = path
        self.version = version
        self.free_threaded = ident.endswith("t")
        # Started through a script (sid's loader), not as the interpreter's binary.
        self.wrapped = path.startswith(SID + "/")

    def __repr__(self):
        return self.id


def absent_reason(ident, path):
    """Why an interpreter is not there: for sid's, what tools/sid_pythons.sh
    said (build/sid/unavailable: a mirror it could not reach, a package sid
    no longer has)."""
    reason = "%s not installed at %s" % (ident, path)
    if path.startswith(SID + "/"):
        try:
            with open(os.path.join(SID, "unavailable")) as f:
                reason += ": " + " ".join(f.read().split())
        except OSError:
            reason += " (make sid installs it: tools/sid_pythons.sh)"
    return reason


def interpreter_params(min_version=(0, 0), max_version=(99, 0)):
    """pytest params for every interpreter from min_version to max_version,
    skipped if absent."""
    params = []
    for ident, path, version in INTERPRETERS:
        if version < min_version or version > max_version:
            continue
        marks = []
        if not os.access(path, os.X_OK):
            marks.append(pytest.mark.skip(reason=absent_reason(ident, path)))
        elif LAYOUT == "offsets" and version < (3, 13):
            marks.append(pytest.mark.skip(reason="SPYGLASS_LAYOUT=offsets: %s has no "
                                          "_Py_DebugOffsets (3.13+)" % ident))
        params.append(pytest.param(Interpreter(ident, path, version), id=ident, marks=marks))
    return params


# The test modules Debian sid's interpreters run in. They are started through
# a wrapper script and sid's loader, so tests about the interpreter's own file
# or command line (security, top's titles, subprocess trees, wrapper scripts)
# see the loader instead, and the whole suite on two more interpreters costs
# about 13 min of test time (measured at load 20-45): more than make test's
# 15-minute budget allows. These modules hold every dump and record test: 106
# tests on both, 114 s with one worker at load 17-25.
SID_MODULES = {"test_dump", "test_record", "test_asyncio", "test_locals", "test_web",
               "test_value_driver", "test_many_threads", "test_formats_schema",
               "test_deploy_runtime"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(item, "callspec", None)
        wrapped = [v for v in (params.params.values() if params else ())
                   if isinstance(v, Interpreter) and v.wrapped]
        if wrapped and item.module.__name__ not in SID_MODULES:
            item.add_marker(pytest.mark.skip(
                reason="%s runs in the dump, record, asyncio, locals, web, value, threads, "
                "formats and deploy-runtime tests only (conftest.SID_MODULES)" % wrapped[0].id))


def marked_lines(path):
    """Maps each '# LINE:name' marker in a target file to its line number."""
    lines = {}
    with open(path, "rb") as f:
        for number, text in enumerate(f.read().decode("utf-8").splitlines(), 1):
            m = re.search(r"# LINE:(\w+)", text)
            if m:
                lines[m.group(1)] = number
    return lines


class Target(object):
    """A Python target process started for one test; always killed afterwards."""

    def __init__(self, interpreter, script, args=(), env=None, ready="READY", timeout=30):
        self.script = os.path.join(TARGETS, script)
        full_env = dict(os.environ)
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
        full_env.pop("PYTHONPATH", None)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            [interpreter.path, self.script] + list(args), cwd=TARGETS,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.pid = self.proc.pid
        if ready:
            deadline = time.time() + timeout
            line = b""
            while time.time() < deadline:
                line = self.proc.stdout.readline()
                if not line or line.startswith(ready.encode()):
                    break
            if not line.startswith(ready.encode()):
                self.proc.kill()
                err = self.proc.stderr.read()  # before kill() closes it
                self.kill()
                raise RuntimeError("target %s did not get ready: %r %r" % (script, line, err))
            self.ready_line = line.decode().strip()
        self.lines = marked_lines(self.script)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def start_target():
    started = []

    def start(interpreter, script, **kwargs):
        t = Target(interpreter, script, **kwargs)
        started.append(t)
        return t

    yield start
    for t in started:
        t.kill()


def run_spyglass(args, binary=None, timeout=60, check=False, env=None):
    """Runs spyglass; returns the CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run([binary or SPYGLASS] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=full_env)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise AssertionError("spyglass %s failed (%d): %s" % (args, proc.returncode, proc.stderr))
    return proc


def read_collapsed(path):
    """Returns [(list of frame strings, count)] from a collapsed-stack file;
    every line must be "frame;frame;... count"."""
    stacks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            stack, count = line.rstrip("\n").rsplit(" ", 1)
            stacks.append((stack.split(";"), int(count)))
    return stacks


def proc_stat(path):
    """The fields of a /proc/PID/stat (or /proc/PID/task/TID/stat) file after the
    command name, which may itself hold spaces and parentheses: [0] is the state
    letter, [1] the parent pid, [11] and [12] user and system time in clock ticks."""
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def make_zombie():
    """A child that has exited and is not reaped: a zombie (reap with .wait())."""
    child = subprocess.Popen(["true"])
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc_stat("/proc/%d/stat" % child.pid)[0] == "Z":
            return child
        time.sleep(0.01)
    raise RuntimeError("no zombie")


def read_line_until(stream, prefix, timeout=60):
    """Reads lines from a subprocess pipe until one starts with prefix (bytes);
    returns every line read, that one last. It reads the pipe's descriptor a
    byte at a time, so nothing after that line is taken from the pipe:
    Popen.communicate() reads the descriptor too and gets all the rest. Fails
    with the lines seen if the pipe ends or the timeout passes first."""
    fd = stream.fileno()
    seen, line = [], b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
        if byte == b"\n":
            seen.append(line)
            if line.startswith(prefix):
                return seen
            line = b""
    raise AssertionError("no line starting with %r; got %r" % (prefix, seen + [line]))


def wait_sampling(proc, timeout=60):
    """Waits until a `spyglass record` started with stderr=PIPE says it samples
    ("spyglass: sampling pid ..."): the readiness signal to start a load.
    Returns the stderr lines read (bytes), which communicate() will not see again."""
    return read_line_until(proc.stderr, b"spyglass: sampling pid", timeout)


def cpu_seconds(pid):
    """User + system CPU time pid has used (/proc/PID/stat)."""
    fields = proc_stat("/proc/%d/stat" % pid)
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def wait_cpu(pid, seconds, timeout=60):
    """Waits until pid has used `seconds` more CPU time than now: a busy
    machine slows the target and the sampler alike, so this bounds a run by
    what the target did, not by wall time."""
    start = cpu_seconds(pid)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cpu_seconds(pid) - start >= seconds:
            return
        time.sleep(0.05)
    raise AssertionError("pid %d used less than %.1f s of CPU in %d s" % (pid, seconds, timeout))


def wait_exec(pid, name, timeout=30):
    """Waits until pid runs a program whose file name is name (a fork is a copy
    of its parent until it calls exec)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if os.path.basename(os.readlink("/proc/%d/exe" % pid)) == name:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError("pid %d did not exec %s" % (pid, name))


def wait_leaf(pid, thread, function, line, timeout=30):
    """Waits until `spyglass dump` shows thread's innermost frame in function
    (its plain name) at line (a target that prints READY just before entering its final loop may
    be a few bytecodes short of it); returns that dump."""
    deadline = time.time() + timeout
    dump = None
    while time.time() < deadline:
        dump = dump_json(pid)
        for t in dump["threads"]:
            if t["name"] == thread and t["frames"] and \
                    (t["frames"][0]["name"], t["frames"][0]["line"]) == (function, line):
                return dump
        time.sleep(0.02)
    raise AssertionError("thread %s never reached %s:%d: %r" % (thread, function, line, dump))


def dump_json(pid, locals_=False, binary=None, env=None):
    args = ["dump", "--pid", str(pid), "--json"] + (["--locals"] if locals_ else [])
    proc = run_spyglass(args, binary=binary, check=True, env=env)
    return json.loads(proc.stdout)
