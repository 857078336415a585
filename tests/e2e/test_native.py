"""`--native` end to end: the C and C++ frames under the Python ones, on every interpreter.

The targets are tests/targets/native_work.py and a C extension,
tests/targets/native_ext.c, which this module builds per interpreter with
`cc -shared` (no setuptools) into build/native_ext/, once plain (nativechain)
and once stripped (nativechain_stripped). By construction:

- the main thread runs <module> -> main -> py_outer -> c_a -> c_b -> callback
  -> c_c, and c_c spins with the GIL released: every sample of it is exactly
  that stack;
- a thread "hidden" spins in hidden -> hidden_spin, a static function; a
  thread "stripped" does the same in the stripped build, where hidden is
  named by .dynsym and hidden_spin is "nativechain_stripped.so+0x...";
- a pthread that never runs Python, "c-spinner", spins in c_thread_main ->
  c_thread_spin;
- in library mode one loop runs zlib.compress, hashlib.sha256, a backtracking
  re match (and numpy.dot), each from its own marked line.

Recordings run until the target has used a set amount of CPU (wait_cpu), not
for a set time, so a loaded machine only makes them slower.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (ROOT, SPYGLASS, SPYGLASS_ASAN, TARGETS, cpu_seconds as cpu_seconds_of,
                      interpreter_params, marked_lines, pydeps_env, pydeps_skip, read_collapsed,
                      run_spyglass, wait_cpu, wait_sampling)
from test_faults import (HANG, INTERPS as FAULT_INTERPS, assert_target_free,
                         communicate_or_fail, unused_pid)

ALL = interpreter_params()
WORK = os.path.join(TARGETS, "native_work.py")
LINES = marked_lines(WORK)
EXT_SRC = os.path.join(TARGETS, "native_ext.c")
EXT_DIR = os.path.join(ROOT, "build", "native_ext")
UWSGI_PLUGIN = "/usr/lib/uwsgi/plugins/python3_plugin.so"
# CPU seconds spyglass spends sampling before a recording is stopped: about
# 150 samples of a few threads (0.3-0.7 ms each, more under the sanitizer).
SAMPLING_CPU = 0.1
# The chain test runs the sanitizer build (`make asan`; `make e2e` builds it) when it exists.
CHECKED = SPYGLASS_ASAN if os.path.exists(SPYGLASS_ASAN) else SPYGLASS

# A native frame in collapsed output: "symbol (library)", no line.
NATIVE = re.compile(r"^(?P<name>.+) \((?P<lib>[^/:()]+)\)$")


def build_extension(interp):
    """Builds nativechain and nativechain_stripped for interp (cached by the
    source's time) into one directory, which it returns."""
    out = os.path.join(EXT_DIR, interp.id)
    include = None
    for name, extra in (("nativechain", []), ("nativechain_stripped", ["-s"])):
        so = os.path.join(out, name + ".so")
        if os.path.exists(so) and os.path.getmtime(so) >= os.path.getmtime(EXT_SRC):
            continue
        os.makedirs(out, exist_ok=True)
        if include is None:
            include = subprocess.check_output(
                [interp.path, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"]
            ).decode().strip()
        tmp = "%s.%d.tmp" % (so, os.getpid())  # xdist workers may build the same one
        subprocess.check_call(["cc", "-shared", "-fPIC", "-O0", "-g", "-pthread", "-I", include,
                               "-DMODNAME=" + name, "-o", tmp, EXT_SRC] + extra)
        os.rename(tmp, so)
    return out


def record(args, t, tmp_path, cpu_seconds=1.0, binary=SPYGLASS):
    """Records t with `record --native --threads --format raw` until it used
    cpu_seconds more CPU and spyglass SAMPLING_CPU of its own (a target with
    several busy threads gets its CPU faster than a loaded machine lets
    spyglass through its first samples, which read every library's unwind
    tables); returns (stacks, stderr)."""
    out = str(tmp_path / "native.txt")
    proc = subprocess.Popen([binary, "record", "--native", "--threads", "--format", "raw",
                             "--rate", "200", "-o", out, "--pid", str(t.pid)] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = wait_sampling(proc)
        wait_cpu(t.pid, cpu_seconds)
        wait_sampled(proc, SAMPLING_CPU)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = b"".join(seen).decode() + err.decode()
    assert proc.returncode == 0, stderr
    return read_collapsed(out), stderr


def wait_sampled(proc, seconds):
    """Waits until spyglass (proc) has used `seconds` of CPU since it
    started: its samples, not the target's progress, are what a test needs."""
    deadline = time.time() + HANG
    while cpu_seconds_of(proc.pid) < seconds:
        assert time.time() < deadline, "spyglass used under %.2f s of CPU in %d s" % (seconds,
                                                                                     HANG)
        time.sleep(0.02)


def by_thread(stacks):
    """{thread name: [(frames after the thread root, count)]}."""
    threads = {}
    for frames, count in stacks:
        m = re.match(r'^thread (?:"(.*)"|0x[0-9a-f]+) \(tid \d+\)$', frames[0])
        assert m, frames
        threads.setdefault(m.group(1), []).append((frames[1:], count))
    return threads


def py(name, line_key):
    """A Python frame of native_work.py as collapsed writes it."""
    return "%s (%s:%d)" % (name, WORK, LINES[line_key])


def share(entries, predicate):
    total = sum(c for _, c in entries)
    return sum(c for f, c in entries if predicate(f)) / float(total) if total else 0.0


def start_work(start_target, interp, ext, modes, env=None):
    return start_target(interp, "native_work.py", args=["--ext", ext] + modes, env=env)


@pytest.mark.parametrize("interp", ALL)
def test_native_chain_c_thread_and_stripped_library(interp, tmp_path, start_target):
    ext = build_extension(interp)
    t = start_work(start_target, interp, ext, ["hidden", "stripped", "cthread", "chain"])
    stacks, stderr = record([], t, tmp_path, cpu_seconds=0.5, binary=CHECKED)
    threads = by_thread(stacks)
    # The main thread: exactly the chain, C and Python interleaved as called.
    lib = "nativechain.so"
    chain = [py("<module>", "main_call"), py("main", "outer_call"), py("py_outer", "outer"),
             "c_a (%s)" % lib, "c_b (%s)" % lib, py("callback", "callback"), "c_c (%s)" % lib]
    # A stripped interpreter (Debian's, without its debug file) cannot name
    # its static calling machinery, so those frames stay, and stderr says why.
    unnamed = unnamed_frames(interpreter_binary(interp))
    threads = dict((name, [(without(frames, unnamed), count) for frames, count in entries])
                   for name, entries in threads.items())
    main = threads.get("MainThread")
    if not main:
        pytest.fail("no MainThread stack in %r\n%s" % (stacks, stderr))
    for frames, _ in main:
        assert frames == chain, frames
    note = UNNAMED_NOTE.search(stderr)
    assert bool(note) == bool(unnamed), stderr
    assert not note or note.group(1) == os.path.basename(interpreter_binary(interp)), stderr
    # A thread started from C, with no Python state: its C stack alone (once
    # it runs: a sample may catch it still in glibc's __clone3).
    spinner = threads.get("c-spinner")
    assert spinner, sorted(threads)
    expected = ["c_thread_main (%s)" % lib, "c_thread_spin (%s)" % lib]
    assert share(spinner, lambda f: f == expected) > 0.9, spinner
    # A static function, named from the symbol table...
    tail = [py("hidden_loop", "hidden"), "hidden (%s)" % lib, "hidden_spin (%s)" % lib]
    assert share(threads["hidden"], lambda f: f[-3:] == tail) > 0.8, threads["hidden"]
    # ... and stripped: an exported function is named from .dynsym, a static
    # one is the library and its offset in the file.
    stripped = "nativechain_stripped.so"

    def offset_leaf(frames):
        return (frames[-3:-1] == [py("stripped_loop", "stripped"), "hidden (%s)" % stripped]
                and re.match(r"^nativechain_stripped\.so\+0x[0-9a-f]+ \(%s\)$" % stripped,
                             frames[-1]))
    assert share(threads["stripped"], offset_leaf) > 0.8, threads["stripped"]
    m = re.search(r"native: (\d+) Python stacks merged \((\d+) where .*?\), (\d+) stacks of "
                  r"threads without Python", stderr)
    assert m and int(m.group(1)) > 0 and int(m.group(3)) > 0, stderr
    assert re.search(r"unwinding took [\d.]+ us of CPU per sample", stderr), stderr


def has_debug_symbols(path):
    """Whether the binary or its build-id debug file has a .symtab (Debian's
    python3.11 is stripped; python3.11-dbg brings the debug file)."""
    notes = subprocess.check_output(["readelf", "-n", "-S", "-W", path]).decode()
    if " .symtab " in notes:
        return True
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    return bool(m) and os.path.exists("/usr/lib/debug/.build-id/%s/%s.debug"
                                      % (m.group(1)[:2], m.group(1)[2:]))


def interpreter_binary(interp):
    """The file that holds the interpreter: libpython where the executable
    maps one, else the executable (Debian's python3.11 is static, though
    Debian also ships a libpython3.11.so for embedding)."""
    code = ("import os; print(([l.split()[-1] for l in open('/proc/self/maps') "
            "if '/libpython' in l] + [os.path.realpath(__import__('sys').executable)])[0])")
    return subprocess.check_output([interp.path, "-c", code]).decode().strip()


def unnamed_frames(path):
    """A pattern for the frames of the interpreter's file that have no
    symbol, if it has no symbol table (stripped, no debug file), else None:
    its static calling machinery then shows as FILE+0xOFFSET, unhidden, and
    spyglass says so."""
    if has_debug_symbols(path):
        return None
    name = re.escape(os.path.basename(path))
    return re.compile(r"^%s\+0x[0-9a-f]+( \(%s\))?$" % (name, name))


def without(frames, pattern):
    """frames less those pattern (from unnamed_frames) matches."""
    return [f for f in frames if not (pattern and pattern.match(f))]


UNNAMED_NOTE = re.compile(r"native: \d+ frames in (\S+) have no symbol .*debug symbols would "
                          r"name them")


@pytest.mark.parametrize("interp", ALL)
def test_native_library_functions_under_their_python_line(interp, tmp_path, start_target):
    t = start_target(interp, "native_work.py", args=["zlib", "sha", "re"])
    stacks, _ = record([], t, tmp_path, cpu_seconds=0.6)
    main = by_thread(stacks)["MainThread"]
    binary = os.path.basename(interpreter_binary(interp))
    sre = r"^(_?sre|pattern_)" if has_debug_symbols(interpreter_binary(interp)) \
        else r"^%s\+0x" % re.escape(binary)
    wanted = {"zlib": r"^deflate", "sha": r"(?i)sha256", "re": sre}
    for key, pattern in sorted(wanted.items()):
        line = ":%d)" % LINES[key]
        under = []  # the native frames called from that line
        for frames, count in main:
            at = [i for i, f in enumerate(frames) if f.endswith(line)]
            if at:
                below = frames[at[0] + 1:]  # none while the line's own bytecode runs
                assert all(NATIVE.match(f) for f in below), (key, frames)
                under.append((below, count))
        assert under, (key, main[:5])
        names = [NATIVE.match(f).group("name") for below, _ in under for f in below]
        assert any(re.search(pattern, n) for n in names), (key, pattern, sorted(set(names)))


@pytest.mark.parametrize("interp", ALL)
def test_native_numpy_matmul_shows_blas_and_its_worker_thread(interp, tmp_path, start_target):
    # Debian's python3-numpy (tools/deps.sh) for /usr/bin/python3; PyPI's wheels,
    # which bundle OpenBLAS, for the pyenv interpreters (tests/pydeps.txt).
    reason = pydeps_skip(interp, "numpy")
    if reason:
        pytest.skip(reason)
    t = start_target(interp, "native_work.py", args=["numpy"], env=pydeps_env(interp))
    stacks, _ = record([], t, tmp_path, cpu_seconds=0.5)
    threads = by_thread(stacks)
    line = ":%d)" % LINES["numpy"]
    gemm = [f for frames, _ in threads["MainThread"] if any(x.endswith(line) for x in frames)
            for f in frames if NATIVE.match(f) and "gemm" in NATIVE.match(f).group("name").lower()]
    assert gemm, threads["MainThread"][:5]
    # BLAS's own threads run no Python: their stacks are native frames only, in a BLAS library.
    workers = [frames for name, entries in threads.items() for frames, _ in entries
               if all(NATIVE.match(f) for f in frames)
               and any("blas" in NATIVE.match(f).group("lib") for f in frames)]
    assert workers, sorted(threads)


@pytest.mark.parametrize("interp", ALL)
def test_native_dump_text_and_json(interp, start_target):
    ext = build_extension(interp)
    t = start_work(start_target, interp, ext, ["cthread", "chain"])
    lib = "nativechain.so"
    deadline = time.time() + 30
    while True:  # READY comes just before c_c, and the C thread may not have run yet
        doc = json.loads(run_spyglass(["dump", "--pid", str(t.pid), "--native", "--json"],
                                      check=True).stdout)
        leaves = dict((th["name"], th["frames"][0]["name"] if th["frames"] else None)
                      for th in doc["threads"])
        if leaves.get("MainThread") == "c_c" and leaves.get("c-spinner") == "c_thread_spin" \
                or time.time() > deadline:
            break
        time.sleep(0.05)
    main = [th for th in doc["threads"] if th["name"] == "MainThread"][0]
    unnamed = unnamed_frames(interpreter_binary(interp))
    leaf = [(f["name"], f["file"] if f["native"] else f["line"]) for f in main["frames"]
            if not (unnamed and unnamed.match(f["name"]))][:5]
    assert leaf == [("c_c", lib), ("callback", LINES["callback"]), ("c_b", lib), ("c_a", lib),
                    ("py_outer", LINES["outer"])], main["frames"]
    assert main["python"] is True and main["native_frames"] is True
    spinner = [th for th in doc["threads"] if th["name"] == "c-spinner"]
    assert spinner and spinner[0]["python"] is False and spinner[0]["ident"] == 0, doc
    assert [f["name"] for f in spinner[0]["frames"]] == ["c_thread_spin", "c_thread_main"]
    proc = run_spyglass(["dump", "--pid", str(t.pid), "-n"], check=True)
    text = proc.stdout
    between = r"(    %s \[native\]\n)*" % unnamed.pattern.strip("^$") if unnamed else ""
    assert re.search(r"\n    c_c \(%s\) \[native\]\n%s    callback \(%s:%d\)\n"
                     % (re.escape(lib), between, re.escape(WORK), LINES["callback"]), text), \
        (text, proc.stderr)
    assert bool(UNNAMED_NOTE.search(proc.stderr)) == bool(unnamed), proc.stderr
    assert re.search(r'\nNative thread \(active\) "c-spinner" \[tid \d+\]\n'
                     r'    c_thread_spin \(nativechain\.so\) \[native\]\n', text), text


@pytest.mark.parametrize("interp", ALL)
def test_native_top_shows_native_rows_with_their_library(interp, start_target):
    ext = build_extension(interp)
    t = start_work(start_target, interp, ext, ["chain"])
    top = subprocess.Popen([SPYGLASS, "top", "--native", "--pid", str(t.pid), "--interval",
                            "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    try:
        deadline = time.time() + HANG
        while time.time() < deadline:
            line = top.stdout.readline().decode()
            assert line, "top ended: %r" % lines[-20:]
            lines.append(line)
            if re.match(r"^\s*[\d.]+%\s+[\d.]+%\s+\S+\s+\S+\s+c_c \(nativechain\.so\)\s+"
                        r"\(native\)\s*$", line):
                break
        else:
            pytest.fail("no c_c (nativechain.so) row: %r" % lines[-20:])
    finally:
        top.send_signal(signal.SIGINT)
        _, err = top.communicate(timeout=HANG)
    assert top.returncode == 0, err
    assert b"spyglass: native: " in err, err


# Faults: threads that exit while they are unwound, a target that ends
# mid-recording. The fault matrix's interpreters (test_faults.py).

@pytest.mark.parametrize("interp", FAULT_INTERPS)
def test_native_thread_churn_leaves_nothing_stopped(interp, tmp_path, start_target):
    counter = str(tmp_path / "counter")
    t = start_target(interp, "faults.py", args=["--counter", counter, "--churn", "500"])
    stacks, _ = record(["--rate", "250"], t, tmp_path, cpu_seconds=1.0)  # the last --rate wins
    assert t.proc.poll() is None, "the target died"
    assert_target_free(t.pid, counter)
    # The long-lived thread's stacks stay whole: its Python frames, then
    # only native ones (the GIL it waits for, mostly).
    for frames, _ in by_thread(stacks)["steady"]:
        inner = [i for i, f in enumerate(frames) if f.startswith("steady_inner (")]
        assert inner and frames[inner[0] - 1].startswith("steady_outer ("), frames
        assert all(NATIVE.match(f) for f in frames[inner[0] + 1:]), frames


@pytest.mark.parametrize("interp", FAULT_INTERPS)
@pytest.mark.parametrize("end", ["exit", "kill"])
def test_native_target_ending_mid_recording(interp, end, tmp_path, start_target):
    t = start_target(interp, "faults.py", args=["--end", end])
    out = tmp_path / "p.txt"
    # --idle: a thread whose OS thread the walker could not name (python/tid.h;
    # on 2.7 now and then for a whole run) is kept as "(unknown state)".
    rec = subprocess.Popen([SPYGLASS, "record", "-n", "--idle", "--rate", "250", "--pid",
                            str(t.pid), "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = wait_sampling(rec)
    wait_cpu(t.pid, 0.3)
    wait_sampled(rec, 0.05)  # at least a sample or two (the first reads the unwind tables)
    os.kill(t.pid, signal.SIGUSR1)  # the target ends itself, the `end` way
    _, err = communicate_or_fail(rec, t.pid, "spyglass hung after the target's %s" % end)
    stderr = b"".join(seen).decode() + err.decode()
    assert rec.returncode == 0, stderr
    assert stderr.strip().splitlines()[-1].endswith("the target exited"), stderr
    assert "spin (" in out.read_text(), stderr


def test_native_options(tmp_path):
    """-n is --native; --nonblocking keeps its long form and cannot go with
    --native; raw is py-spy's name for collapsed."""
    pid = str(unused_pid())
    for command in ("record", "top", "dump"):
        proc = run_spyglass([command, "--pid", pid, "--native", "--nonblocking"])
        assert proc.returncode == 2, proc.stderr
        assert "--native unwinds each thread while it" in proc.stderr, proc.stderr
        proc = run_spyglass([command, "--pid", pid, "-n", "--subprocesses"])
        assert proc.returncode == 2 and "--subprocesses" in proc.stderr, proc.stderr
        help_text = run_spyglass([command, "--help"], check=True).stdout
        assert re.search(r"-n, --native\b", help_text), help_text
        assert re.search(r"^\s+--nonblocking\b", help_text, re.M), help_text
    proc = run_spyglass(["record", "--pid", pid, "-n", "--memory"])
    assert proc.returncode == 2 and "--memory" in proc.stderr, proc.stderr
    for command in ("record", "top"):
        proc = run_spyglass([command, "--pid", pid, "-n", "--async"])
        assert proc.returncode == 2 and "--async" in proc.stderr, proc.stderr
    # The format is accepted: what fails is the process, a runtime error (1).
    proc = run_spyglass(["record", "--pid", pid, "--format", "raw", "-o", str(tmp_path / "x")])
    assert proc.returncode == 1, proc.stderr


def test_native_uwsgi_worker_embedded_libpython(tmp_path):
    """uWSGI embeds libpython in a plugin: its worker's stack runs from uWSGI's
    own loop through the plugin into the application, and on into C."""
    from test_deploy_runtime import UWSGI, Uwsgi, _answers, wait_for
    if not os.access(UWSGI, os.X_OK) or not os.path.exists(UWSGI_PLUGIN):
        pytest.skip("uwsgi and its python3 plugin are not installed (tools/deps.sh)")
    server = Uwsgi(tmp_path, False)
    try:
        wait_for(lambda: server.proc.poll() is None and _answers(server.port), "uWSGI to answer")
        server.get("/spin?s=60")
        spinner = wait_for(lambda: server.worker_doing("SPIN"), "a worker to spin")
        frames = []
        deadline = time.time() + 30
        while time.time() < deadline:  # until it is in spin_for's loop, not still marking
            doc = json.loads(run_spyglass(["dump", "--pid", str(spinner), "--native", "--json"],
                                          check=True).stdout)
            frames = [(f["name"], f["native"]) for t in doc["threads"] for f in t["frames"]
                      if any(g["name"] == "spin_for" for g in t["frames"])]
            if ("spin_for", False) in frames and ("python_call", True) in frames:
                break
            time.sleep(0.05)
        # The plugin's libpython (Debian's is stripped too): its unnamed frames are kept.
        with open("/proc/%d/maps" % spinner) as maps:
            libpython = [line.split()[-1] for line in maps if "/libpython" in line][0]
        unnamed = unnamed_frames(libpython)
        frames = [(name, native) for name, native in frames
                  if not (unnamed and unnamed.match(name))]
        names = [name for name, _ in frames]
        at = names.index("application")
        # outwards from the application: the plugin's call into Python, then uWSGI's loop
        assert names[at + 1:at + 3] == ["python_call", "uwsgi_request_wsgi"], frames
        assert all(native for _, native in frames[at + 1:]), frames
        assert names.index("spin_for") < at, frames
    finally:
        server.stop()
