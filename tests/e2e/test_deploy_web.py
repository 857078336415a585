"""Real web deployments, run the way their users run them (issue 13).

Each case starts the real server (Debian's packages for /usr/bin/python3,
tests/pydeps.txt's PyPI packages for the pyenv interpreters), drives a known
number of requests at an endpoint whose view burns CPU in spin(), and checks
what spyglass says about it:
  - the seeds' own commands, `record -o FILE -- python manage.py runserver`
    and a Flask app.run(debug=True): the view is served by a reloader's
    child, which must be in the profile;
  - a wrapper script (sh -c 'python app.py; exit 4'): profiled, exit 4;
  - --by-endpoint on uWSGI with threads (environ keys made per request),
    aiohttp, Tornado, gunicorn serving Django and uvicorn serving Django's
    ASGI application;
  - Celery's prefork pool replacing its worker after every task;
  - dump --locals of 100 threads x 60 frames: how long it stopped them.
Recordings end when the load has been served (a count), never after a time.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import (SPYGLASS, TARGETS, Target, interpreter_params, pydeps_env, pydeps_skip,
                      read_collapsed)

ALL = interpreter_params()
DEBIAN = [p for p in ALL if p.id == "debian3.11"]
DJANGO_SITE = os.path.join(TARGETS, "django_site")
FOLLOWED = re.compile(r"^spyglass: followed (.*)$", re.M)
# Requests per case: each spends 20 ms of CPU in spin(), so 60 give about
# 120 samples of the view at 100 Hz: plenty to tell 0 from most.
REQUESTS = 60


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_http(port, path="/", proc=None, timeout=90):
    """Waits until the server answers (any HTTP status); fails if proc ends."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("the server exited (%s)" % proc.returncode)
        try:
            OPENER.open("http://127.0.0.1:%d%s" % (port, path), timeout=5).read()
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    raise AssertionError("nothing answered on port %d" % port)


def drive(port, paths, clients=1):
    """Sends every path (clients at a time); returns how many were answered 200."""
    ok = [0]
    lock = threading.Lock()
    queue = list(paths)

    def client():
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            body = OPENER.open("http://127.0.0.1:%d%s" % (port, path), timeout=60).read()
            with lock:
                ok[0] += bool(body)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0]


def users(count, suffix=""):
    return ["/users/%d%s" % (i + 1, suffix) for i in range(count)]


class Proc(object):
    """A process in its own session; its whole group is killed at the end."""

    def __init__(self, argv, cwd=TARGETS, env=None, stdout=subprocess.DEVNULL):
        full_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        full_env.pop("PYTHONPATH", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, cwd=cwd, env=full_env, start_new_session=True,
                                     stdout=stdout, stderr=subprocess.PIPE)
        self.pid = self.proc.pid

    def stop(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.communicate()


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop()


def start(procs, argv, **kwargs):
    p = Proc(argv, **kwargs)
    procs.append(p)
    return p


def interrupt(rec):
    """Ends a recording as Ctrl-C in a terminal does (SIGINT to spyglass and
    to the command it runs, one process group); returns (exit status, stderr)."""
    os.killpg(rec.pid, signal.SIGINT)
    _, err = rec.proc.communicate(timeout=120)
    return rec.proc.returncode, err.decode("utf-8", "replace")


def record_pid(procs, pid, out, extra=()):
    return start(procs, [SPYGLASS, "record", "--pid", str(pid), "-o", str(out)] + list(extra))


def func(frame):
    return frame.split(" (", 1)[0]


def samples_in(stacks, name):
    return sum(n for frames, n in stacks if name in map(func, frames))


def roots_of(stacks, name):
    """{root frame: samples} of the stacks that pass through function name."""
    roots = {}
    for frames, n in stacks:
        if name in map(func, frames):
            roots[frames[0]] = roots.get(frames[0], 0) + n
    return roots


def skip_unless(interpreter, *packages):
    reason = pydeps_skip(interpreter, *packages)
    if reason:
        pytest.skip(reason)
    return pydeps_env(interpreter)


# ---- the seeds' commands: reloaders ----------------------------------------


def check_reloader_child_profiled(code, err, stacks):
    """The view ran in the reloader's child: it is in the profile, and the
    summary names both processes (the watcher and the server)."""
    assert code != 1, err
    assert samples_in(stacks, "user") >= 10, (err, sorted(set(func(f[-1]) for f, _ in stacks)))
    followed = FOLLOWED.search(err)
    assert followed, err
    assert len(re.findall(r"\d+ \(", followed.group(1))) >= 2, followed.group(0)


@pytest.mark.parametrize("interpreter", ALL)
def test_django_runserver_as_the_seeds_write_it(interpreter, procs, tmp_path):
    env = skip_unless(interpreter, "django")
    port, out = free_port(), tmp_path / "profile.txt"
    rec = start(procs, [SPYGLASS, "record", "-o", str(out), "--", interpreter.path, "manage.py",
                        "runserver", "127.0.0.1:%d" % port], cwd=DJANGO_SITE, env=env)
    wait_http(port, "/users/1/", rec.proc)
    assert drive(port, users(REQUESTS, "/")) == REQUESTS
    code, err = interrupt(rec)
    check_reloader_child_profiled(code, err, read_collapsed(str(out)))


@pytest.mark.parametrize("interpreter", ALL)
def test_flask_debug_reloader_as_the_seeds_write_it(interpreter, procs, tmp_path):
    env = skip_unless(interpreter, "flask")
    port, out = free_port(), tmp_path / "profile.txt"
    rec = start(procs, [SPYGLASS, "record", "-o", str(out), "--", interpreter.path,
                        "flask_debug.py", str(port)], env=env)
    wait_http(port, "/users/1", rec.proc)
    assert drive(port, users(REQUESTS)) == REQUESTS
    code, err = interrupt(rec)
    check_reloader_child_profiled(code, err, read_collapsed(str(out)))


# ---- a wrapper script --------------------------------------------------------


@pytest.mark.parametrize("interpreter", ALL)
def test_wrapper_script_is_profiled_and_exits_with_its_status(interpreter, tmp_path):
    out = tmp_path / "w.txt"
    script = '"$0" hot.py --seconds 1 >/dev/null; exit 4'
    proc = subprocess.run([SPYGLASS, "record", "-o", str(out), "--", "sh", "-c", script,
                           interpreter.path], cwd=TARGETS, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 4, err
    stacks = read_collapsed(str(out))
    assert samples_in(stacks, "hot") >= 10, err
    followed = FOLLOWED.search(err)
    assert followed and "hot.py" in followed.group(1), err


@pytest.mark.parametrize("interpreter", ALL)
def test_memory_names_the_python_a_wrapper_started(interpreter, tmp_path):
    """--memory reads one process: a wrapper is not followed, but named."""
    script = '"$0" hot.py --seconds 30 >/dev/null 2>&1 & echo $!; wait'
    proc = subprocess.Popen([SPYGLASS, "record", "--memory", "-o", str(tmp_path / "m.txt"), "--",
                             "sh", "-c", script, interpreter.path], cwd=TARGETS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    python = int(proc.stdout.readline())
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        os.kill(python, signal.SIGKILL)
    err = err.decode()
    assert proc.returncode == 1, err
    assert "sh is not Python; it started Python process %d" % python in err, err
    assert "give --pid %d" % python in err, err


# ---- --by-endpoint on servers --------------------------------------------------


def assert_view_labelled(stacks, function, label, err):
    """Every sample inside function is rooted at label (a torn read may
    leave one out), and there are enough of them to mean something."""
    roots = roots_of(stacks, function)
    inside = sum(roots.values())
    assert inside >= 10, (roots, err)
    assert roots.get(label, 0) >= 0.9 * inside, (roots, err)


@pytest.mark.parametrize("interpreter", DEBIAN)
def test_uwsgi_threads_by_endpoint(interpreter, procs, tmp_path):
    """uWSGI builds the environ's keys per request and frees them: a key
    object's address comes back holding another key."""
    if not os.path.exists("/usr/lib/uwsgi/plugins/python3_plugin.so"):
        pytest.skip("uwsgi-plugin-python3 not installed (tools/deps.sh)")
    port, out = free_port(), tmp_path / "uwsgi.txt"
    srv = start(procs, ["uwsgi", "--plugin", "http,python3", "--http-socket",
                        "127.0.0.1:%d" % port, "--wsgi-file", "wsgi_mix.py", "--master",
                        "--processes", "2", "--threads", "2", "--disable-logging"])
    wait_http(port, "/", srv.proc)
    rec = record_pid(procs, srv.pid, out, ["--subprocesses", "--by-endpoint", "--idle"])
    wait_line(rec, "spyglass: sampling")
    paths = []
    for i in range(REQUESTS):
        paths += ["/spin/%d?x=%d" % (i, i), "/sleep?x=%d" % i]
    assert drive(port, paths, clients=4) == len(paths)
    code, err = interrupt(rec)
    assert code == 0, err
    stacks = read_collapsed(str(out))
    labels = set(frames[0] for frames, _ in stacks)
    assert labels <= {"GET /spin/{n}", "GET /sleep", "(no request)"}, labels
    assert_view_labelled(stacks, "spin", "GET /spin/{n}", err)
    assert set(roots_of(stacks, "nap")) <= {"GET /sleep"}, roots_of(stacks, "nap")


@pytest.mark.parametrize("interpreter", ALL)
def test_aiohttp_by_endpoint(interpreter, start_target, tmp_path):
    env = skip_unless(interpreter, "aiohttp")
    t = start_target(interpreter, "aiohttp_app.py", env=env, timeout=90)
    port, out = int(t.ready_line.split()[1]), tmp_path / "aiohttp.txt"
    rec = Proc([SPYGLASS, "record", "--pid", str(t.pid), "--by-endpoint", "-o", str(out)])
    try:
        assert drive(port, users(REQUESTS)) == REQUESTS
        code, err = interrupt(rec)
    finally:
        rec.stop()
    assert code == 0, err
    assert_view_labelled(read_collapsed(str(out)), "spin", "GET /users/{user_id}", err)


@pytest.mark.parametrize("interpreter", ALL)
def test_tornado_by_endpoint(interpreter, start_target, tmp_path):
    env = skip_unless(interpreter, "tornado")
    t = start_target(interpreter, "tornado_app.py", env=env, timeout=90)
    port, out = int(t.ready_line.split()[1]), tmp_path / "tornado.txt"
    rec = Proc([SPYGLASS, "record", "--pid", str(t.pid), "--by-endpoint", "-o", str(out)])
    try:
        assert drive(port, users(REQUESTS)) == REQUESTS
        code, err = interrupt(rec)
    finally:
        rec.stop()
    assert code == 0, err
    assert_view_labelled(read_collapsed(str(out)), "spin", "GET /users/{n}", err)


@pytest.mark.parametrize("interpreter", DEBIAN)
def test_gunicorn_django_by_endpoint(interpreter, procs, tmp_path):
    skip_unless(interpreter, "django", "gunicorn")
    port, out = free_port(), tmp_path / "gunicorn.txt"
    srv = start(procs, [interpreter.path, "-m", "gunicorn", "--workers", "2", "--bind",
                        "127.0.0.1:%d" % port, "manage:application"], cwd=DJANGO_SITE)
    wait_http(port, "/users/1/", srv.proc)
    rec = record_pid(procs, srv.pid, out, ["--subprocesses", "--by-endpoint"])
    wait_line(rec, "spyglass: sampling")
    assert drive(port, users(REQUESTS, "/"), clients=2) == REQUESTS
    code, err = interrupt(rec)
    assert code == 0, err
    assert_view_labelled(read_collapsed(str(out)), "spin", "GET /users/<int:user_id>/", err)


@pytest.mark.parametrize("interpreter", interpreter_params((3, 8)))
def test_uvicorn_django_asgi_by_endpoint(interpreter, procs, tmp_path):
    """Django under an ASGI server runs a plain view in a worker thread
    (asgiref's sync_to_async): the request is found there too."""
    env = skip_unless(interpreter, "django", "uvicorn")
    port, out = free_port(), tmp_path / "asgi.txt"
    srv = start(procs, [interpreter.path, "-m", "uvicorn", "--host", "127.0.0.1", "--port",
                        str(port), "--no-access-log", "manage:asgi_application"],
                cwd=DJANGO_SITE, env=env)
    wait_http(port, "/users/1/", srv.proc)
    rec = record_pid(procs, srv.pid, out, ["--by-endpoint"])
    wait_line(rec, "spyglass: sampling")
    assert drive(port, users(REQUESTS, "/")) == REQUESTS
    code, err = interrupt(rec)
    assert code == 0, err
    assert_view_labelled(read_collapsed(str(out)), "spin", "GET /users/<int:user_id>/", err)


# ---- short-lived workers ---------------------------------------------------------


@pytest.mark.parametrize("interpreter", DEBIAN)
def test_celery_prefork_workers_replaced_after_every_task(interpreter, procs, tmp_path):
    """--max-tasks-per-child=1: a new worker process per task, living about
    as long as its task. Every task's process must be found and sampled."""
    skip_unless(interpreter, "celery")
    tasks = 20
    env = {"CELERY_DIR": str(tmp_path), "CELERY_SPIN": "0.05"}
    worker = start(procs, [interpreter.path, "-m", "celery", "-A", "celery_tasks", "worker",
                           "--pool=prefork", "--concurrency=2", "--max-tasks-per-child=1",
                           "--without-heartbeat", "--without-gossip", "--without-mingle",
                           "-l", "warning"], env=env, stdout=subprocess.PIPE)
    # Ready: the master has forked its pool.
    deadline = time.time() + 90
    while time.time() < deadline and len(children(worker.pid)) < 2:
        assert worker.proc.poll() is None, worker.proc.stderr.read()
        time.sleep(0.1)
    out = tmp_path / "celery.txt"
    rec = record_pid(procs, worker.pid, out, ["--subprocesses"])
    wait_line(rec, "spyglass: sampling")
    subprocess.run([interpreter.path, "celery_tasks.py", "send", str(tasks)], cwd=TARGETS,
                   env=dict(os.environ, **env), check=True, timeout=120)
    done = tmp_path / "done"
    while time.time() < deadline + 120 and count_lines(done) < tasks:
        time.sleep(0.1)
    assert count_lines(done) == tasks
    code, err = interrupt(rec)
    assert code == 0, err
    stacks = read_collapsed(str(out))
    task_processes = set(frames[0] for frames, _ in stacks if "spin" in map(func, frames))
    assert len(task_processes) == tasks, (task_processes, err)
    assert re.search(r"spyglass: followed .* and \d+ more", err), err


def children(pid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def count_lines(path):
    try:
        with open(str(path)) as f:
            return len(f.readlines())
    except OSError:
        return 0


def wait_line(rec, prefix):
    """Reads spyglass's stderr up to the line starting with prefix."""
    while True:
        line = rec.proc.stderr.readline().decode()
        assert line, "spyglass ended before saying %r" % prefix
        if line.startswith(prefix):
            return line


# ---- dump --locals: a bounded stop -----------------------------------------------

PAUSE = re.compile(r"^spyglass: process (\d+) was stopped for ([\d.]+) ms to read its variables"
                   r"(?:; the limit is (\d+) ms: the variables of (\d+) of (\d+) frames were read "
                   r"after it resumed \(they may be torn\))?$", re.M)


@pytest.mark.parametrize("interpreter", ALL)
def test_dump_locals_says_how_long_it_stopped_the_target(interpreter, start_target):
    threads, depth = 100, 60
    t = start_target(interpreter, "many_threads.py", args=[str(threads), str(depth)], timeout=90)
    proc = subprocess.run([SPYGLASS, "dump", "--pid", str(t.pid), "--locals"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err, text = proc.stderr.decode(), proc.stdout.decode()
    assert proc.returncode == 0, err
    m = PAUSE.search(err)
    assert m and int(m.group(1)) == t.pid, err
    # Every thread is there, with its variables, whether they were read
    # during the stop or after it.
    assert text.count('"diver-') == threads, err
    assert text.count("label = ") >= threads * (depth - 3), err
    if m.group(3):
        assert 0 < int(m.group(4)) <= int(m.group(5)), m.group(0)
    # The target runs on: its threads are not stopped or traced.
    for tid in os.listdir("/proc/%d/task" % t.pid):
        with open("/proc/%d/task/%s/status" % (t.pid, tid)) as f:
            status = f.read()
        assert "TracerPid:\t0" in status and "State:\tt" not in status
