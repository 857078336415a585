"""`spyglass agent` end to end: windows, labels, sample counts, a server that
goes away and comes back, and a flood of processes.

The server is a real OpenTelemetry Collector with the profiles pipeline (our
own small distribution of its released modules: tools/otelcol/, built by
tools/otelcol.sh into build/otelcol/otelcol; make test starts that build in
the background at its beginning). It receives the agent's OTLP/HTTP profiles
and its file exporter writes each request as a JSON line: that file is what
"arrived". The agent also writes every window to --dir as pprof; each window
must arrive at the collector with the same labels and sample counts.

Each agent here follows only processes its test started: --match on a marker
argument unique to the test. Waits are on counts (windows written, spool
files), never on fixed sleeps.
"""
import glob
import gzip
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from conftest import INTERPRETERS, ROOT, SPYGLASS, TARGETS, Interpreter, interpreter_params
from test_interop import go_pprof

OTELCOL = os.path.join(ROOT, "build", "otelcol", "otelcol")
OTELCOL_CONFIG = os.path.join(ROOT, "tools", "otelcol", "config.yaml")
TARGET = os.path.join(TARGETS, "agent_target.py")
EVERY = 3  # seconds per window in the long test
RATE = 19


# ---- a minimal protobuf reader (the pprof files of --dir) ----

def pb_fields(buf):
    """(field, value) pairs of a protobuf message: ints for varint and
    fixed64 fields, bytes for length-delimited ones."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        yield field, value


def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def read_pprof_window(path):
    """A --dir window: {"pid", "time", "walks", "service", "python", "threads":
    {thread: samples}, "labels": set of (key, value)}."""
    with gzip.open(path, "rb") as f:
        msg = f.read()
    strings, samples, comments, time_nanos = [], [], [], 0
    for field, value in pb_fields(msg):
        if field == 6:
            strings.append(value.decode("utf-8"))
        elif field == 2:
            samples.append(value)
        elif field == 13:
            comments.append(value)
        elif field == 9:
            time_nanos = value
    window = {"time": time_nanos, "threads": {}, "labels": set()}
    for sample in samples:
        count, labels = 0, {}
        for field, value in pb_fields(sample):
            if field == 2:  # packed values: [samples, nanoseconds]
                count = _varint(value, 0)[0]
            elif field == 3:
                label = dict(pb_fields(value))
                labels[strings[label[1]]] = strings[label[2]]
        window["labels"].update(labels.items())
        thread = labels["thread"]
        window["threads"][thread] = window["threads"].get(thread, 0) + count
    note = [strings[c] for c in comments if strings[c].startswith("note: ")][0]
    fields = dict(re.findall(r"(\w+)=([^\s;]+)", note))
    window.update(pid=int(fields["pid"]), walks=int(fields["walks"]),
                  left_out=int(fields["left_out"]), thread_walks=int(fields["thread_walks"]),
                  service=fields["service_name"], python=fields["python_version"])
    return window


def go_pprof_threads(raw):
    """{(thread, idle, gil, endpoint): samples} from `go tool pprof -raw`: each
    sample is a line "  COUNT  NANOS: LOCATIONS" followed by its labels
    ("endpoint:[(no request)] gil:[true] idle:[false] thread:[worker]")."""
    counts = {}
    lines = raw.split("Samples:", 1)[1].split("Locations", 1)[0].splitlines()
    for line, labels in zip(lines, lines[1:]):
        m = re.match(r"^\s+(\d+)\s+\d+:( \d+)+ $", line)
        if m:
            got = dict(re.findall(r"(\w+):\[([^\]]*)\]", labels))
            key = (got["thread"], got["idle"], got["gil"], got["endpoint"])
            counts[key] = counts.get(key, 0) + int(m.group(1))
    return counts


def read_dir_windows(folder):
    return [read_pprof_window(p) for p in sorted(glob.glob(os.path.join(folder, "*.pb.gz")))]


def read_collector_windows(paths):
    """Every profile the collector's file exporter wrote, as read_pprof_window's
    dicts (its walks unknown)."""
    windows = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                if line.strip():
                    windows.extend(_otlp_windows(json.loads(line)))
    return windows


def _otlp_value(value, strings):
    if "stringValueStrindex" in value:
        return strings[value["stringValueStrindex"]]
    if "intValue" in value:
        return int(value["intValue"])
    return value.get("stringValue", "")


def _otlp_windows(request):
    d = request["dictionary"]
    strings, attrs = d["stringTable"], d["attributeTable"]

    def kv(a):
        key = a["key"] if "key" in a else strings[a.get("keyStrindex", 0)]
        return key, _otlp_value(a.get("value", {}), strings)

    for rp in request["resourceProfiles"]:
        resource = dict(kv(a) for a in rp["resource"]["attributes"])
        for sp in rp["scopeProfiles"]:
            for prof in sp["profiles"]:
                window = {"time": int(prof["timeUnixNano"]), "threads": {}, "labels": set(),
                          "pid": resource["process.pid"], "service": resource["service.name"],
                          "python": resource["process.runtime.version"],
                          "host": resource["host.name"]}
                for s in prof.get("samples", []):
                    labels = dict(kv(attrs[i]) for i in s.get("attributeIndices", []))
                    window["labels"].update(labels.items())
                    thread = labels["thread.name"]
                    window["threads"][thread] = (window["threads"].get(thread, 0)
                                                 + sum(int(v) for v in s["values"]))
                yield window


# ---- the collector ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_collector():
    """Builds (or waits for make test's background build of) the collector;
    a failure is the test's failure, with the build's own reason."""
    proc = subprocess.run(["bash", os.path.join(ROOT, "tools", "otelcol.sh"), "wait"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")


class Collector(object):
    """The collector on 127.0.0.1:port, its exporter writing to out."""

    def __init__(self, port, out, log):
        env = dict(os.environ, SPYGLASS_OTLP_ENDPOINT="127.0.0.1:%d" % port,
                   SPYGLASS_OTLP_FILE=out)
        self.log = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen([OTELCOL, "--config", "file:" + OTELCOL_CONFIG],
                                         stdout=f, stderr=f, env=env, start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log, "rb") as f:
                if b"Everything is ready" in f.read():
                    return
            assert self.proc.poll() is None, "collector exited: %s" % open(self.log).read()[-2000:]
            time.sleep(0.05)
        raise AssertionError("collector not ready: %s" % open(self.log).read()[-2000:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def collectors():
    build_collector()
    started = []

    def start(port, out, log):
        c = Collector(port, out, log)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


# ---- targets and the agent ----

class Procs(object):
    """Processes a test started; all killed at its end."""

    def __init__(self):
        self.procs = []

    def target(self, interp, marker, *args):
        proc = subprocess.Popen([interp.path, TARGET, marker] + list(args), cwd=TARGETS,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.procs.append(proc)
        return proc

    def ready(self, proc, timeout=60):
        line = proc.stdout.readline()
        if not line.startswith(b"READY"):  # say why: a loaded machine may refuse a thread
            proc.kill()
            err = proc.stderr.read().decode("utf-8", "replace")[-2000:]
            raise AssertionError("target did not start (exit %s): %r %s"
                                 % (proc.wait(), line, err))

    def agent(self, args, stderr_path):
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen([SPYGLASS, "agent"] + args, stdout=subprocess.DEVNULL,
                                    stderr=err)
        self.procs.append(proc)
        return proc

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.kill_all()


def wait_for(what, predicate, agent=None, timeout=240):
    """Polls predicate() until it is true. The timeout only stops a broken run
    from hanging; nothing here asserts on time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if agent is not None:
            assert agent.poll() is None, "the agent exited while waiting for %s" % what
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def windows_of(folder, pid):
    return [w for w in read_dir_windows(folder) if w["pid"] == pid]


def interp(ident):
    for i, path, version in INTERPRETERS:
        if i == ident:
            return Interpreter(i, path, version)
    raise KeyError(ident)


def version_prefix(interp_):
    return "%d.%d." % interp_.version


def check_window_counts(window, first):
    """With --idle every walk of a process yields one sample per thread: the
    main thread (waiting in agent_wait) has one per walk; the worker too once
    it runs, i.e. in every window but a process's first. A thread whose walk
    was torn (it moved under it: the main thread wakes every 0.2 s) is left
    out, and the window's note counts it (left_out): 1 in 56 walks once."""
    walks, left_out = window["walks"], window["left_out"]
    main = window["threads"].get("MainThread", 0)
    said = "%r" % sorted(window.items())  # whole: pytest would cut a dict short
    # Every thread a walk found is in the profile or counted as left out.
    assert sum(window["threads"].values()) == window["thread_walks"] - left_out, said
    missing = 0
    if not first:
        # Twice on fresh clones at load, the main thread was one short of
        # walks - left_out (55 or 54 of 56, left_out 0 or 1), before the note
        # said whether its walk was empty or the thread was not found: a
        # thread a walk misses is allowed up to 2% of walks, and shows here.
        missing = 2 * walks - window["thread_walks"]
        assert 0 <= missing <= max(1, walks // 50), said
        assert main + window["threads"].get("worker", 0) == 2 * walks - left_out - missing, said
    assert walks - left_out - missing <= main <= walks, said


# ---- the tests ----

@pytest.mark.parametrize("interp_", interpreter_params())
def test_agent_dir_windows_have_labels(interp_, procs, tmp_path):
    """One interpreter, --dir only: each window is a pprof file whose samples
    carry thread, idle, gil and endpoint labels and whose profile says service,
    pid and Python version; its counts are one sample per thread per walk."""
    marker = "agent-test-%s" % uuid.uuid4().hex[:12]
    target = procs.target(interp_, marker)
    procs.ready(target)
    out = tmp_path / "windows"
    agent = procs.agent(["--match", marker, "--dir", str(out), "--every", "1", "--idle",
                         "--by-endpoint", "--stats", "3600"], str(tmp_path / "agent.err"))
    wait_for("two windows", lambda: len(windows_of(str(out), target.pid)) >= 2, agent)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 0, open(str(tmp_path / "agent.err")).read()
    windows = windows_of(str(out), target.pid)
    labels = set()
    for n, w in enumerate(windows):
        assert w["service"] == "agent_target"
        assert w["python"].startswith(version_prefix(interp_))
        assert ("thread", "MainThread") in w["labels"] and ("thread", "worker") in w["labels"]
        assert ("endpoint", "(no request)") in w["labels"]
        check_window_counts(w, first=n == 0)
        labels |= w["labels"]
    # the main thread mostly sleeps (a short last window may catch it awake)
    assert ("idle", "true") in labels and ("gil", "false") in labels
    # pprof's own reader sees the same samples with the same labels
    path = sorted(glob.glob(os.path.join(str(out), "*-%d.pb.gz" % target.pid)))[-1]
    raw = go_pprof(["-raw", path], tmp_path)
    assert "Comment: note: service_name=agent_target " in raw, raw
    by_labels = go_pprof_threads(raw)
    last = read_pprof_window(path)
    for thread in ("MainThread", "worker"):
        assert sum(n for k, n in by_labels.items() if k[0] == thread) == last["threads"][thread]
    assert set(k[3] for k in by_labels) == {"(no request)"}, by_labels
    assert set(k[1] for k in by_labels) <= {"true", "false"}, by_labels
    err = open(str(tmp_path / "agent.err")).read()
    assert "spyglass: agent: cpu" in err  # the final cost line
    assert "spyglass: error" not in err and "warning" not in err, err


def skip_absent(idents):
    for ident in idents:
        i = interp(ident)
        if not os.access(i.path, os.X_OK):
            pytest.skip("%s not installed at %s" % (ident, i.path))
    return [interp(i) for i in idents]


@pytest.mark.parametrize("idents", [("debian3.11", "py2.7", "py3.13")],
                         ids=["debian3.11+py2.7+py3.13"])
def test_agent_otlp_windows_survive_collector_outage(idents, procs, collectors, tmp_path):
    """Three processes (one started after the agent, one ending mid-window)
    pushed to a real collector for about a minute, the collector stopped for
    at least 20 s of windows and restarted: every window of --dir arrives, with
    the same labels and sample counts, and the spool drains."""
    first, second, late = skip_absent(idents)
    marker = "agent-test-%s" % uuid.uuid4().hex[:12]
    port = free_port()
    outs = [str(tmp_path / "otlp-1.json"), str(tmp_path / "otlp-2.json")]
    collector = collectors(port, outs[0], str(tmp_path / "collector.log"))
    a, b = procs.target(first, marker), procs.target(second, marker)
    procs.ready(a)
    procs.ready(b)
    folder, spool = str(tmp_path / "windows"), str(tmp_path / "spool")
    err_path = str(tmp_path / "agent.err")
    agent = procs.agent(["--match", marker, "--dir", folder, "--otlp", "http://127.0.0.1:%d" % port,
                         "--spool", spool, "--every", str(EVERY), "--rate", str(RATE), "--idle",
                         "--stats", "5"], err_path)
    wait_for("windows of the first two", lambda: windows_of(folder, a.pid) and
             windows_of(folder, b.pid), agent)
    c = procs.target(late, marker)  # started after the agent
    procs.ready(c)
    wait_for("two windows of the late one", lambda: len(windows_of(folder, c.pid)) >= 2, agent)
    b.kill()  # ends mid-window: its last window is a partial one
    b.wait()

    # The collector goes away for at least 20 s' worth of windows.
    collector.stop()
    before = len(windows_of(folder, a.pid))
    wait_for("20 s of windows while the collector is away",
             lambda: len(windows_of(folder, a.pid)) >= before + 20 // EVERY + 1, agent)
    spooled = glob.glob(os.path.join(spool, "otlp", "*.otlp"))
    assert len(spooled) >= 20 // EVERY, "windows should wait in the spool"
    collector = collectors(port, outs[1], str(tmp_path / "collector.log"))
    wait_for("the spool to drain", lambda: not glob.glob(os.path.join(spool, "otlp", "*.otlp")),
             agent)
    wait_for("a minute of windows", lambda: len(windows_of(folder, a.pid)) >= 60 // EVERY, agent)
    agent.send_signal(signal.SIGTERM)  # its last windows are sent as it stops
    assert agent.wait(timeout=60) == 0
    collector.stop()  # the file exporter writes what it holds
    err = open(err_path).read()

    sent = read_dir_windows(folder)
    arrived = read_collector_windows(outs)
    key = lambda w: (w["pid"], w["time"])
    by_key = dict((key(w), w) for w in arrived)
    assert len(by_key) == len(arrived), "a window arrived twice"
    missing = [key(w) for w in sent if key(w) not in by_key]
    assert not missing, "windows lost: %s" % missing
    for proc, interp_ in ((a, first), (b, second), (c, late)):
        mine = [w for w in sent if w["pid"] == proc.pid]
        assert len(mine) >= 2, "pid %d: %d windows" % (proc.pid, len(mine))
        for n, w in enumerate(mine):
            got = by_key[key(w)]
            assert got["threads"] == w["threads"], (w, got)
            assert got["service"] == w["service"] == "agent_target"
            assert got["python"] == w["python"] and w["python"].startswith(version_prefix(interp_))
            assert ("spyglass.idle", "true") in got["labels"]
            check_window_counts(w, first=n == 0)
    # The agent said the server went away, and that it came back.
    assert "windows wait in" in err and "takes windows again" in err, err
    last = [l for l in err.splitlines() if l.startswith("spyglass: agent: cpu")][-1]
    assert " 0 waiting, 0 dropped, 0 refused" in last, last


class FakePusher(http.server.BaseHTTPRequestHandler):
    """Stands in for Pyroscope's Connect push: only to test the agent's
    retries and spool, and the request's shape as Pyroscope v2.2.1 took it by
    hand (/work/scratch notes: POST /push.v1.PusherService/Push,
    application/proto, PushRequest{series{labels, samples{raw_profile}}}). No
    test here says Pyroscope accepts the push: its server cannot be built
    from the Go module proxy, so that was verified by hand only. The first
    `refuse` requests get 503; later ones are kept and get 200."""
    refuse = 3
    got = []  # (path, headers, body) of every request, refused ones too

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        cls.got.append((self.path, dict(self.headers), body))
        status = 503 if len(cls.got) <= cls.refuse else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def read_push(body, tmp_dir, n):
    """A PushRequest's one series: (labels dict, the raw_profile read as a
    --dir window)."""
    series = [v for f, v in pb_fields(body) if f == 1]
    assert len(series) == 1, "one series per push"
    labels, raws = {}, []
    for field, value in pb_fields(series[0]):
        if field == 1:
            pair = dict(pb_fields(value))
            labels[pair[1].decode()] = pair[2].decode()
        elif field == 2:
            raws.extend(v for f, v in pb_fields(value) if f == 1)
    assert len(raws) == 1, "one raw profile per series"
    path = os.path.join(tmp_dir, "push-%d.pb.gz" % n)
    with open(path, "wb") as f:
        f.write(raws[0])
    return labels, read_pprof_window(path)


def test_agent_push_retries_through_503_and_drains_its_spool(procs, tmp_path):
    """--push to a stand-in for Pyroscope that answers 503 three times: the
    windows wait in the spool and all arrive, once each, with the request
    shape Pyroscope took by hand and the labels and counts of --dir."""
    FakePusher.got = []
    server = http.server.HTTPServer(("127.0.0.1", 0), FakePusher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        marker = "agent-test-%s" % uuid.uuid4().hex[:12]
        target = procs.target(interp("debian3.11"), marker)
        procs.ready(target)
        folder, spool = str(tmp_path / "windows"), str(tmp_path / "spool")
        err_path = str(tmp_path / "agent.err")
        agent = procs.agent(["--match", marker, "--dir", folder, "--spool", spool, "--every", "1",
                             "--push", "http://127.0.0.1:%d" % server.server_address[1],
                             "--stats", "3600"], err_path)
        wait_for("four windows", lambda: len(windows_of(folder, target.pid)) >= 4, agent)
        wait_for("the spool to drain",
                 lambda: not glob.glob(os.path.join(spool, "pyroscope", "*")), agent)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0
    finally:
        server.shutdown()
        server.server_close()
    err = open(err_path).read()
    assert "windows wait in" in err and "takes windows again" in err, err
    for path, headers, _ in FakePusher.got:
        assert path == "/push.v1.PusherService/Push", path
        assert headers["Content-Type"] == "application/proto", headers
    kept = [read_push(body, str(tmp_path), n)
            for n, (_, _, body) in enumerate(FakePusher.got[FakePusher.refuse:])]
    sent = windows_of(folder, target.pid)
    assert sorted(w["time"] for _, w in kept) == sorted(w["time"] for w in sent)
    by_time = dict((w["time"], (labels, w)) for labels, w in kept)
    for w in sent:
        labels, got = by_time[w["time"]]
        assert labels["__name__"] == "process_cpu" and labels["service_name"] == "agent_target"
        assert labels["pid"] == str(target.pid) and labels["python_version"] == w["python"]
        assert got["threads"] == w["threads"] and got["labels"] == w["labels"]


FLOOD_WAVES = 4
FLOOD_SIZE = 40
FLOOD_RSS_MIB = 32  # the agent's VmHWM bound while 160 Python processes come and go


def pids_with_windows(folder):
    """The pids of the windows in folder, from the file names (TIME-SEQ-SERVICE-PID.pb.gz)."""
    return set(int(p.rsplit("-", 1)[1].split(".")[0])
               for p in glob.glob(os.path.join(folder, "*.pb.gz")))


def test_agent_flood_of_processes_keeps_rss_bounded(procs, tmp_path):
    """Waves of short-lived Python processes (FLOOD_WAVES x FLOOD_SIZE at once,
    each living 3 s after it is ready) followed by one agent: its peak RSS
    stays under FLOOD_RSS_MIB, it follows processes of every wave, and after
    the flood a new process is still found and profiled."""
    marker = "agent-test-%s" % uuid.uuid4().hex[:12]
    folder = str(tmp_path / "windows")
    err_path = str(tmp_path / "agent.err")
    agent = procs.agent(["--match", marker, "--dir", folder, "--every", "1", "--idle",
                         "--stats", "3600"], err_path)
    python = Interpreter("debian3.11", sys.executable, sys.version_info[:2])
    waves = []
    for wave in range(FLOOD_WAVES):
        batch = [procs.target(python, marker, "--exit-after", "3") for _ in range(FLOOD_SIZE)]
        for p in batch:
            procs.ready(p)
        waves.append(set(p.pid for p in batch))
        for p in batch:
            p.wait()
    survivor = procs.target(python, marker)
    procs.ready(survivor)
    wait_for("windows of a process started after the flood",
             lambda: survivor.pid in pids_with_windows(folder), agent)
    with open("/proc/%d/status" % agent.pid) as f:
        hwm_kib = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 0
    seen = pids_with_windows(folder)
    followed = [len(seen & wave) for wave in waves]
    sys.stderr.write("flood: windows from %s of %d processes per wave; agent VmHWM %d KiB\n"
                     % (followed, FLOOD_SIZE, hwm_kib))
    assert all(followed), "a wave of processes was never profiled: %s" % followed
    assert hwm_kib < FLOOD_RSS_MIB * 1024, "agent peak RSS %d KiB" % hwm_kib


def test_agent_skips_processes_it_may_not_read_and_counts_them(procs, tmp_path, request):
    """An agent running as nobody over a root process of ours: the process is
    skipped quietly (no error line, no window) and counted in the cost line."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process the agent (as nobody) may not read")
    marker = "agent-test-%s" % uuid.uuid4().hex[:12]
    target = procs.target(interp("debian3.11"), marker)
    procs.ready(target)
    base = tempfile.mkdtemp(prefix="spyglass-agent-")  # pytest's tmp_path is root's alone
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    folder = os.path.join(base, "windows")
    os.chmod(base, 0o777)
    err_path = str(tmp_path / "agent.err")
    with open(err_path, "wb") as err:
        agent = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  SPYGLASS, "agent", "--match", marker, "--dir", folder,
                                  "--every", "1", "--stats", "1", "--idle"],
                                 stdout=subprocess.DEVNULL, stderr=err)
    procs.procs.append(agent)
    wait_for("a cost line", lambda: "1 unreadable skipped" in open(err_path).read(), agent)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 0
    err = open(err_path).read()
    assert "spyglass: error" not in err and "warning" not in err, err
    assert not glob.glob(os.path.join(folder, "*.pb.gz"))


@pytest.mark.parametrize("args,status,message", [
    ([], 2, "where should the profiles go?"),
    (["--push", "https://pyro:4040"], 2, "https is not supported"),
    (["--otlp", "127.0.0.1:4318"], 2, "not an http:// URL"),
    (["--dir", "/tmp", "--every", "0"], 2, "--every wants seconds"),
    (["--dir", "/tmp", "--cgroup", "system.slice"], 2, "starting with '/'"),
    (["--dir", "/tmp", "--pid", "x"], 2, "--pid wants a process id"),
    (["--push", "http://127.0.0.1:9", "--spool", "/proc/none"], 1, "cannot use it as a folder"),
    (["--dir", "/dev/null/x"], 1, "cannot use it as a folder"),
], ids=["no-destination", "https", "no-scheme", "every-0", "cgroup", "pid", "spool", "dir"])
def test_agent_bad_options_are_one_clear_error(args, status, message):
    proc = subprocess.run([SPYGLASS, "agent"] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("spyglass: error: ") and message in lines[0], err
    assert lines[1].startswith("hint: "), err
