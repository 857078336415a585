#!/usr/bin/python3
"""Installs the PyPI packages of tests/pydeps.txt for every pyenv interpreter.

    python3 tools/pydeps.py            install what is missing, quietly
    python3 tools/pydeps.py --show     say what each interpreter has or lacks

Each pyenv interpreter the tests run (tests/e2e/conftest.py's INTERPRETERS)
gets the requirement lines whose marker matches it, installed with its own
pip into build/pydeps/X.Y (`pip install --target`: never into the system or
the interpreter). A stamp
file there holds the hash of the lines and the interpreter's path: while it
matches, nothing is done, so a warm run costs a few file reads. A changed
list reinstalls that version into a fresh folder, renamed into place when
pip succeeded. Versions install in parallel; an exclusive lock on
build/pydeps/.lock lets any number of callers (pytest-xdist workers) run this
at once: the first installs, the others wait and find the stamps.

tests/e2e/conftest.py imports this module (ensure(), PYTHONPATH per
interpreter, skip reasons); the Makefile's e2e target need not call it.
"""
import concurrent.futures
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, "tests", "pydeps.txt")
OUT = os.path.join(ROOT, "build", "pydeps")
PYENV = "/root/.pyenv/versions"
CONFTEST = os.path.join(ROOT, "tests", "e2e", "conftest.py")
STAMP = ".pydeps-stamp"
# pip spends most of its time waiting on the network: it fetches each
# package's index page in turn (some are megabytes), and here pip caches
# nothing between runs, so every version fetches all of them. All versions at
# once: 3 at a time took 7 min 16 s cold at load 17, all at once 6 min 50 s.
PARALLEL = int(os.environ.get("PYDEPS_JOBS", "16"))

_MARKER = re.compile(r'python_version\s*(==|!=|<=|>=|<|>)\s*"(\d+)(?:\.(\d+))?"')


def marker_matches(marker, version):
    """Evaluates 'python_version OP "X.Y" and ...' for version (major, minor)."""
    for clause in marker.split(" and "):
        clause = clause.strip()
        if not clause:
            continue
        m = _MARKER.fullmatch(clause)
        if not m:
            raise ValueError("%s: cannot read the marker %r" % (LIST, clause))
        op, want = m.group(1), (int(m.group(2)), int(m.group(3) or 0))
        ok = {"==": version == want, "!=": version != want, "<": version < want,
              "<=": version <= want, ">": version > want, ">=": version >= want}[op]
        if not ok:
            return False
    return True


def parse_list(path=LIST):
    """Returns [(name, requirement or None, marker, reason or None)]."""
    entries = []
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            none = re.match(r"#\s*none:\s*([\w.-]+)\s*;(.*?)--\s*(.+)$", line)
            if none:
                entries.append((none.group(1).lower(), None, none.group(2).strip(),
                                none.group(3).strip()))
                continue
            if not line or line.startswith("#"):
                continue
            requirement, _, marker = line.partition(";")
            name = re.match(r"[A-Za-z0-9_.-]+", requirement.strip())
            if not name:
                raise ValueError("%s:%d: not a requirement: %r" % (path, number, line))
            entries.append((name.group(0).lower(), requirement.strip(), marker.strip(), None))
    return entries


def interpreters():
    """[("X.Y", python path, (X, Y))] of the pyenv interpreters the tests run:
    those tests/e2e/conftest.py's INTERPRETERS names, so that a build someone
    added to pyenv for other work (a 3.14, a free-threaded 3.13t) costs no
    install; every X.Y.Z under PYENV if that list cannot be read."""
    try:
        with open(CONFTEST) as f:
            named = re.findall(r'PYENV \+ "/(\d+\.\d+\.\d+)/bin/python"', f.read())
    except OSError:
        named = []
    if not named and os.path.isdir(PYENV):
        named = [n for n in os.listdir(PYENV) if re.match(r"\d+\.\d+\.\d+$", n)]
    found = {}
    for name in sorted(named, key=lambda n: [int(x) for x in n.split(".")]):
        python = os.path.join(PYENV, name, "bin", "python")
        major, minor = (int(x) for x in name.split(".")[:2])
        if os.access(python, os.X_OK):
            found["%d.%d" % (major, minor)] = (python, (major, minor))
    return [(name, python, version) for name, (python, version) in sorted(found.items())]


def plan(version, entries):
    """What one interpreter version gets: ({name: requirement}, {name: reason})."""
    wanted, lacking = {}, {}
    for name, requirement, marker, reason in entries:
        if not marker_matches(marker, version):
            continue
        if requirement:
            wanted[name] = requirement
        else:
            lacking[name] = reason
    return wanted, lacking


def stamp_of(python, wanted):
    text = python + "\n" + "\n".join(sorted(wanted.values()))
    return hashlib.sha256(text.encode()).hexdigest()


def installed(folder, stamp):
    try:
        with open(os.path.join(folder, STAMP)) as f:
            return f.read().strip() == stamp
    except OSError:
        return False


def run_pip(python, target, requirements, env):
    """One `pip install --target`; returns None or pip's last lines."""
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-warn-script-location", "--no-compile", "--target", target] + requirements
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    if proc.returncode == 0:
        return None
    return " | ".join(proc.stdout.decode("utf-8", "replace").strip().splitlines()[-3:])


def install(name, python, wanted, stamp):
    """pip-installs wanted into OUT/name; returns None or an error sentence.
    A "pip" line is the pip to install with: it goes first into .pip inside
    the folder (not importable from it) and runs the rest, for an
    interpreter whose own pip is too old to take today's wheels."""
    folder = os.path.join(OUT, name)
    fresh = folder + ".new"
    shutil.rmtree(fresh, ignore_errors=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    packages = dict(wanted)
    started = time.time()
    error = None
    if "pip" in packages:
        tool = os.path.join(fresh, ".pip")
        error = run_pip(python, tool, [packages.pop("pip")], env)
        env["PYTHONPATH"] = tool
    if error is None:
        error = run_pip(python, fresh, sorted(packages.values()), env)
    print("pydeps: Python %s: pip took %.0f s" % (name, time.time() - started), flush=True)
    if error is not None:
        shutil.rmtree(fresh, ignore_errors=True)
        return "pip install for Python %s failed: %s" % (name, error)
    with open(os.path.join(fresh, STAMP), "w") as f:
        f.write(stamp + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(fresh, folder)
    return None


def ensure():
    """Installs what is missing. Returns {"X.Y": {"path", "python",
    "packages": {name: requirement}, "lacking": {name: reason}, "error"}}."""
    entries = parse_list()
    os.makedirs(OUT, exist_ok=True)
    result, todo = {}, []
    with open(os.path.join(OUT, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, python, version in interpreters():
            wanted, lacking = plan(version, entries)
            folder = os.path.join(OUT, name)
            stamp = stamp_of(python, wanted)
            result[name] = {"path": folder, "python": python, "packages": wanted,
                            "lacking": lacking, "error": None}
            if wanted and not installed(folder, stamp):
                todo.append((name, python, wanted, stamp))
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            errors = pool.map(lambda job: (job[0], install(*job)), todo)
            for name, error in errors:
                result[name]["error"] = error
    return result


def main():
    result = ensure()
    failed = [r["error"] for r in result.values() if r["error"]]
    if "--show" in sys.argv:
        print(json.dumps(result, indent=2, sort_keys=True))
    for error in failed:
        print("pydeps: error: " + error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
