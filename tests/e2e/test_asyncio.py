"""asyncio: `dump --tasks` and `record --async` against targets whose tasks are known.

tests/targets/tasks_tree.py builds ~200 tasks in a known tree (gather, TaskGroup or
asyncio.wait, Lock/Event/Condition/Semaphore/Queue waiters, a plain future, a task
awaiting a task, a deadlock pair, socket and stream reads, an async generator, a
nested chain, a spinning task, a second loop in a thread), checks them itself and
writes what an outside reader must find (--expect). Every interpreter 3.6 - 3.13 (not
free-threaded: tasks_version_supported) runs it
twice: with the C _asyncio Task and with the pure-Python one (--pure).
"""
import json
import math
import os
import re
import signal
import subprocess

import pytest

from conftest import (SPYGLASS, interpreter_params, pydeps_env, pydeps_skip, read_collapsed,
                      run_spyglass, wait_sampling)

# tasks_version_supported (python/tasks.h): 3.6 - 3.13, not free-threaded.
ASYNC = [p for p in interpreter_params((3, 6), (3, 13)) if not p.values[0].free_threaded]
NOT_READ = [p for p in interpreter_params((3, 13)) if p.id not in [a.id for a in ASYNC]]
MODES = [pytest.param([], id="c"), pytest.param(["--pure"], id="pure")]


def tree_target(start_target, interp, tmp_path, mode, workers=160, extra=()):
    expect_path = str(tmp_path / "expect.json")
    t = start_target(interp, "tasks_tree.py",
                     args=["--workers", str(workers), "--loops", "2", "--expect", expect_path]
                     + list(mode) + list(extra), timeout=60)
    with open(expect_path) as f:
        return t, json.load(f)


def dump_tasks(pid, binary=None):
    proc = run_spyglass(["dump", "--tasks", "--json", "--pid", str(pid)], binary=binary,
                        check=True)
    return json.loads(proc.stdout)


def chain(task):
    """A dumped task's coroutines, outermost first, as the expect file has them."""
    return [{"function": f["name"], "qualname": f["function"], "file": f["file"],
             "line": f["line"], "kind": f["kind"]} for f in reversed(task["frames"])]


def loop_numbers(dump, expect):
    """Dumped loop index -> the expect file's loop number, by the thread running it."""
    by_thread = dict((l["thread"], l["index"]) for l in expect["loops"])
    return dict((i, by_thread[l["thread"]["name"]]) for i, l in enumerate(dump["loops"]))


def match_tasks(dump, expect):
    """Dumped task id -> expect label: by name (3.8+); before, by loop, outermost
    coroutine and, for sleepers, the timer's due time (exact: the same double)."""
    loops = loop_numbers(dump, expect)
    labels, free = {}, list(expect["tasks"])
    for t in dump["tasks"]:
        if t["name"] is not None:
            want = [e for e in free if e["name"] == t["name"]]
        else:
            outer = chain(t)[0]["qualname"] if t["frames"] else None
            want = [e for e in free if e["loop"] == loops[t["loop"]] and
                    e["chain"][0]["qualname"] == outer and
                    ("when" not in e["awaits"] or
                     e["awaits"]["when"] == t["awaits"].get("when"))]
        assert want, "no expected task for %r" % t
        labels[t["id"]] = want[0]["label"]
        free.remove(want[0])
    assert not free, "not found: %s (unreadable: %d)" % ([e["label"] for e in free],
                                                         dump["unreadable"])
    return labels


def check_spinner(t, e):
    """The spinner burns the CPU (running, burn on top of spin) or is between two of
    its steps, suspended in asyncio.sleep(0)."""
    outer = chain(t)[0]
    assert (outer["qualname"], outer["file"]) == ("spin", e["chain"][0]["file"]), t
    assert outer["line"] in e["lines"], (outer, e["lines"])
    if t["running"]:
        assert t["awaits"]["kind"] == "running", t
        assert t["frames"][0]["name"] in ("burn", "spin"), t["frames"]


def check_task(t, e, labels, loops):
    assert loops[t["loop"]] == e["loop"], (t, e)
    assert t["state"] == "pending"
    if e["label"] == "spinner":
        return check_spinner(t, e)
    assert not t["running"], t
    assert chain(t) == e["chain"], (e["label"], chain(t), e["chain"])
    aw, want = t["awaits"], e["awaits"]
    assert aw["kind"] == want["kind"], (e["label"], aw, want)
    if want["kind"] == "sleep":
        assert aw["when"] == want["when"], (e["label"], aw, want)
    if want["kind"] == "task":
        assert labels[aw["task"]] == want["task"], (e["label"], aw)
    if "children" in want:
        got = [labels.get(c) for c in aw["children"]]
        if want["kind"] == "gather":  # a list, in order; TaskGroup and wait keep sets
            assert got == want["children"], (e["label"], got)
        else:
            assert sorted(got) == sorted(want["children"]), (e["label"], got)


def check_dump(dump, expect):
    assert dump["asyncio"] is True
    labels = match_tasks(dump, expect)
    loops = loop_numbers(dump, expect)
    for t in dump["tasks"]:
        e = [x for x in expect["tasks"] if x["label"] == labels[t["id"]]][0]
        check_task(t, e, labels, loops)
    # Loops: the thread each runs on, its task count, the one running now.
    for i, l in enumerate(dump["loops"]):
        want = [x for x in expect["loops"] if x["index"] == loops[i]][0]
        assert l["tasks"] == want["tasks"], (l, want)
        running = labels.get(l["running_task"]) if l["running_task"] else None
        assert running in (None, want["current_task"]), (l, want)
    # The deadlock pair, and no other cycle.
    assert sorted(sorted(labels[i] for i in cycle) for cycle in dump["deadlocks"]) == \
        [["deadlock-a", "deadlock-b"]], dump["deadlocks"]
    # Who awaits whom, the other way round.
    by_label = dict((labels[t["id"]], t) for t in dump["tasks"])
    assert labels[by_label["worker-0"]["awaited_by"][0]] in ("gather-owner", "task-awaiter")
    assert sorted(labels[i] for i in by_label["worker-0"]["awaited_by"]) == \
        ["gather-owner", "task-awaiter"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interp", ASYNC)
def test_dump_tasks_gives_the_exact_tree(interp, mode, start_target, tmp_path):
    t, expect = tree_target(start_target, interp, tmp_path, mode)
    assert len(expect["tasks"]) >= 200
    check_dump(dump_tasks(t.pid), expect)


@pytest.mark.parametrize("interp", ASYNC)
def test_dump_tasks_text(interp, start_target, tmp_path):
    """The text: each loop with its thread, tasks under the tasks awaiting them, the
    deadlock apart."""
    t, expect = tree_target(start_target, interp, tmp_path, [], workers=3)
    out = run_spyglass(["dump", "--tasks", "--pid", str(t.pid)], check=True).stdout
    assert re.search(r'^Loop 0x[0-9a-f]+ thread "MainThread" \[tid %d\]: \d+ tasks$' % t.pid,
                     out, re.M), out
    assert re.search(r'^Loop 0x[0-9a-f]+ thread "asyncio-loop-2" \[tid \d+\]: 5 tasks$', out,
                     re.M), out
    assert "DEADLOCK: these tasks await each other" in out, out
    lines = out.splitlines()
    sleep_lines = [l for l in lines if "awaits asyncio.sleep(), due in " in l]
    assert len(sleep_lines) >= 3 + 20 + 3, out
    due = [float(re.search(r"due in (-?[\d.]+) s", l).group(1)) for l in sleep_lines]
    assert all(3000 < d <= 3600.1 for d in due), due
    if interp.version >= (3, 8):
        gather = lines.index([l for l in lines if l.startswith('  Task "gather-owner": awaits '
                                                                'gather() of 3')][0])
        assert lines[gather + 2].startswith('    Task "worker-'), lines[gather:gather + 4]


def test_dump_tasks_without_asyncio(start_target):
    """A program that never imported asyncio has no tasks, and says so."""
    interp = [p.values[0] for p in interpreter_params((3, 11)) if not p.marks][0]
    t = start_target(interp, "locals.py")
    out = run_spyglass(["dump", "--tasks", "--pid", str(t.pid)], check=True).stdout
    assert "No asyncio tasks" in out, out
    d = dump_tasks(t.pid)
    assert d["asyncio"] is False and d["tasks"] == [], d


@pytest.mark.parametrize("interp", NOT_READ)
def test_dump_tasks_on_a_version_not_read_says_so(interp, start_target, tmp_path):
    """Where spyglass does not read asyncio's tasks yet (3.14+, free-threaded builds)
    the dump says so instead of claiming the program has none."""
    t = start_target(interp, "asyncio_sleeper.py")
    out = run_spyglass(["dump", "--tasks", "--pid", str(t.pid)], check=True).stdout
    assert "No asyncio tasks read: spyglass reads them on Python 3.6 to 3.13" in out, out
    assert run_spyglass(["dump", "--tasks", "--json", "--pid", str(t.pid)],
                        check=True).stdout.count('"asyncio": false') == 1


def test_dump_tasks_with_locals_is_a_usage_error():
    proc = run_spyglass(["dump", "--tasks", "--locals", "--pid", str(os.getpid())])
    assert proc.returncode == 2
    assert "cannot be combined with --tasks" in proc.stderr, proc.stderr


def func(frame):
    return frame.split(" (", 1)[0]


def short(name):
    """A frame's function without its class: 3.11+ names are qualified."""
    return name.rsplit(".", 1)[-1]


def record_async(pid, out, seconds, extra=()):
    proc = subprocess.Popen([SPYGLASS, "record", "--pid", str(pid), "--async", "-d",
                             str(seconds), "-o", str(out)] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 0, err
    return err


def task_part(frames):
    """The part of a stack after the loop's _run_once (a waiting task's awaiters and its
    own coroutines), by plain function name; None for a stack not rooted at a loop."""
    names = [func(f) for f in frames]
    at = [i for i, n in enumerate(names) if short(n) == "_run_once"]
    return [short(n) for n in names[at[0] + 1:]] if at else None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("interp", ASYNC)
def test_record_async_stacks(interp, mode, start_target, tmp_path):
    """Each waiting task is a stack: rooted at its loop's thread (down to _run_once),
    then the tasks awaiting it, then its own coroutines, then (idle)."""
    t, expect = tree_target(start_target, interp, tmp_path, mode, workers=40)
    out = tmp_path / "async.txt"
    err = record_async(t.pid, out, 1, ["--idle"])
    counts = {}
    for frames, count in read_collapsed(str(out)):
        part = task_part(frames)
        if part is not None:
            key = tuple(part)
            counts[key] = counts.get(key, 0) + count
    sleep = "sleep"
    # Workers under the gather that awaits them (worker-0 under task-awaiter: a direct
    # await is the nearer caller); TaskGroup / asyncio.wait children under their owner.
    gathered = counts.get(("gather_owner", "worker", sleep, "(idle)"), 0)
    direct = counts.get(("task_awaiter", "worker", sleep, "(idle)"), 0)
    assert gathered and direct, counts
    assert abs(gathered - 39 * direct) <= 0.05 * gathered, (gathered, direct)
    # The TaskGroup owner's coroutines as the target found them: __aexit__ (3.11+),
    # then _aexit in later 3.13.x releases.
    tg = [c["function"] for x in expect["tasks"] if x["label"] == "tg-owner" for c in x["chain"]]
    owner = tg if interp.version >= (3, 11) else ["tg_owner", "wait", "_wait"]
    children = counts.get(tuple(owner + ["tg_child", sleep, "(idle)"]), 0)
    assert abs(children - 20 * direct) <= 0.05 * children, (children, direct, counts)
    # Tasks that wait on tasks have no stack of their own; the deadlock pair does.
    assert not [k for k in counts if k[-2:] in (("gather_owner", "(idle)"),
                                                 ("tg_owner", "(idle)"))], counts
    assert counts.get(("deadlock", "deadlock", "(idle)"), 0) == 2 * direct, counts
    assert counts.get(("nested_1", "nested_2", "nested_3", sleep, "(idle)"), 0) == direct
    # The second loop's tasks are rooted at its thread.
    stacks = read_collapsed(str(out))
    l2 = sum(c for f, c in stacks if "run_loop2" in map(func, f) and task_part(f) and
             "loop2_main" in task_part(f))
    assert abs(l2 - direct) <= 0.05 * direct, (l2, direct)
    # The spinner burns on the main thread's stack, not idle.
    spin = [(f, c) for f, c in stacks if [short(func(x)) for x in f[-2:]] == ["spin", "burn"]]
    assert spin and "_run_once" in [short(func(x)) for x in spin[0][0]], spin
    assert re.search(r"spyglass: asyncio: 2\d\d\.\d tasks per sample", err) or \
        re.search(r"spyglass: asyncio: \d+\.\d tasks per sample", err), err
    assert "reading the tasks cost" in err, err


def slow_steps(err):
    """[(ms, coroutine)] from record's slow-callback list: the function of the task's
    outermost coroutine (3.8+: after its name)."""
    return [(float(m.group(1)), m.group(2) or m.group(3)) for m in
            re.finditer(r'^ +(\d+) ms from [\d.]+ s, pid \d+, '
                        r'(?:task "[^"]*" \(([^)]*)\)|a task of (\S+)), \d+ samples$', err, re.M)]


@pytest.mark.parametrize("interp", ASYNC)
def test_record_async_slow_callbacks(interp, start_target, tmp_path):
    """A task that holds its loop for 300 ms at a time is listed with its stack, and every
    step listed is one the target itself timed at least that long (no step made up)."""
    steps_path = tmp_path / "steps.txt"
    t, _ = tree_target(start_target, interp, tmp_path, [], workers=8,
                       extra=["--block-ms", "300", "--steps", str(steps_path)])
    err = record_async(t.pid, tmp_path / "slow.txt", 2, ["--slow-callback", "100"])
    found = slow_steps(err)
    assert [ms for ms, coro in found if coro == "blocker"], err
    assert re.search(r"^      blocker \(.*tasks_tree.py:%d\)$" % t.lines["block_call"], err, re.M), err
    real = {}
    with open(str(steps_path)) as f:
        for line in f:
            label, start, end = line.split()
            real[label] = max(real.get(label, 0.0), (float(end) - float(start)) * 1000)
    for ms, coro in found:  # the spinner's coroutine is spin()
        label = {"blocker": "blocker", "spin": "spinner"}[coro]
        assert ms <= real.get(label, 0.0) + 30, (ms, coro, real)


def test_top_async(start_target, tmp_path):
    """top --async, piped: waiting tasks' coroutines are rows (with idle shown)."""
    interp = [p.values[0] for p in interpreter_params((3, 12)) if not p.marks][0]
    t, _ = tree_target(start_target, interp, tmp_path, [], workers=8)
    top = subprocess.Popen([SPYGLASS, "top", "--pid", str(t.pid), "--async", "--idle",
                            "--interval", "0.5", "--rows", "40"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from conftest import read_line_until
    read_line_until(top.stdout, b"spyglass top: pid")
    read_line_until(top.stdout, b"spyglass top: pid")
    top.send_signal(signal.SIGINT)
    out, err = top.communicate(timeout=60)
    out, err = out.decode(), err.decode()
    assert top.returncode == 0, err
    assert re.search(r"^ +[\d.]+% +[\d.]+% .* (sleep|Event\.wait) ", out, re.M), out
    assert "spyglass: asyncio: " in err, err


# ---- an ASGI service: FastAPI under uvicorn ------------------------------------------

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")
MIX = ["/slow_endpoint", "/users/1", "/fast", "/users/22", "/", "/users/333"]


def web_env(interp, *packages):
    """(environment entries that give interp packages, or None, skip reason):
    Debian's packages for /usr/bin/python3; for the others the shared PyPI
    packages of the test set-up (tests/pydeps.txt, build/pydeps/X.Y)."""
    reason = pydeps_skip(interp, *packages)
    return (None, reason) if reason else (pydeps_env(interp), None)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, proc, timeout=60):
    import time
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            opener.open("http://127.0.0.1:%d/" % port, timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("uvicorn on port %d did not answer" % port)


@pytest.fixture
def uvicorn_app(request):
    started = []

    def start(interp, env):
        port = free_port()
        full = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **env)
        proc = subprocess.Popen([interp.path, "-m", "uvicorn", "--host", "127.0.0.1", "--port",
                                 str(port), "fastapi_app:app"], cwd=EXAMPLES, env=full,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started.append(proc)
        wait_http(port, proc)
        return proc, port

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()


def route_group(label):
    if not label.startswith("GET /"):
        return None
    path = label[4:]
    return "/users" if path.startswith("/users/") else path


@pytest.mark.parametrize("interp", [p for p in ASYNC if p.values[0].version >= (3, 8)])
def test_fastapi_async_route_wall_time(interp, uvicorn_app, tmp_path):
    """An async route's time is its running plus its awaiting: /slow_endpoint's simulated
    query (an asyncio.sleep in a task waiting) is under its route, and the routes' shares
    of the time inside the example's timing middleware agree with the X-Response-Time it
    measured."""
    import sys
    env, reason = web_env(interp, "fastapi", "uvicorn")
    if reason:
        pytest.skip(reason)
    sys.path.insert(0, EXAMPLES)
    import load  # examples/load.py
    srv, port = uvicorn_app(interp, env)
    out = tmp_path / "fastapi.txt"
    rec = subprocess.Popen([SPYGLASS, "record", "--pid", str(srv.pid), "--async",
                            "--by-endpoint", "--idle", "-o", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_sampling(rec)
    stats = load.run(port, MIX, requests=20 * len(MIX), concurrency=1, seconds=60)
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=120)
    err = err.decode()
    assert rec.returncode == 0, err
    assert stats["ok"] >= 60 and stats["failed"] == 0, stats
    stacks = read_collapsed(str(out))
    # The awaited query is under its route, waiting.
    query = sum(c for f, c in stacks if f[0] == "GET /slow_endpoint" and f[-1] == "(idle)" and
                [func(x) for x in f[-3:-1]] == ["database_query_simulation", "sleep"])
    assert query > 0, [f for f, _ in stacks if f[0] == "GET /slow_endpoint"][:5]
    # Shares of the time inside the middleware's timed window (response_time on the
    # stack: the request's task, waiting or running), against X-Response-Time.
    inside, truth = {}, {}
    for frames, count in stacks:
        group = route_group(frames[0])
        if group and "response_time" in map(func, frames):
            inside[group] = inside.get(group, 0) + count
    for path, st in stats["paths"].items():
        g = route_group("GET " + path)
        truth[g] = truth.get(g, 0.0) + st["xrt"]
    n = sum(inside.values())
    assert n >= 50, (inside, err)
    rate = float(re.search(r"\(([\d.]+) Hz achieved", err).group(1))
    total_xrt = sum(truth.values())
    lines = ["%-15s profile %5.1f%%  X-Response-Time %5.1f%%" % (
        g, 100.0 * inside.get(g, 0) / n, 100.0 * truth[g] / total_xrt) for g in sorted(truth)]
    print("\n".join(lines + ["in the timed window: %d samples at %.1f Hz = %.2f s; "
                             "X-Response-Time summed %.2f s" % (n, rate, n / rate, total_xrt)]))
    for g in truth:
        p = truth[g] / total_xrt
        tolerance = 5.0 + 300.0 * math.sqrt(p * (1 - p) / n)
        assert abs(100.0 * inside.get(g, 0) / n - 100.0 * p) <= tolerance, (g, lines)


# ---- aiohttp ------------------------------------------------------------------------------

@pytest.mark.parametrize("interp", [p for p in ASYNC if p.values[0].version >= (3, 8)])
def test_aiohttp_async_handler_wall_time(interp, start_target, tmp_path):
    """aiohttp runs each request's handler in a task of its own, awaited by the
    connection's: the handlers' running and awaiting (asyncio.sleep) are under the
    app's timing middleware, and their shares of it agree with what that middleware
    measured (tests/targets/aiohttp_target.py, GET /stats)."""
    import urllib.request
    env, reason = web_env(interp, "aiohttp")
    if reason:
        pytest.skip(reason)
    t = start_target(interp, "aiohttp_target.py", env=env)
    port = int(t.ready_line.split("port=")[1])
    out = tmp_path / "aiohttp.txt"
    rec = subprocess.Popen([SPYGLASS, "record", "--pid", str(t.pid), "--async",
                            "--by-endpoint", "--idle", "-o", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_sampling(rec)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = "http://127.0.0.1:%d" % port
    for n in range(40):
        for path in ("/slow", "/items/%d" % n, "/fast"):
            opener.open(url + path, timeout=10).read()
    rec.send_signal(signal.SIGINT)
    _, err = rec.communicate(timeout=120)
    assert rec.returncode == 0, err.decode()
    spent = dict((route, float(seconds)) for seconds, route in
                 (line.split(" ", 1) for line in
                  opener.open(url + "/stats", timeout=10).read().decode().splitlines()))
    handlers = {"slow_handler": "/slow", "items_handler": "/items/{n}", "fast_handler": "/fast"}
    inside = {}
    waiting = 0
    for frames, count in read_collapsed(str(out)):
        names = [func(f) for f in frames]
        route = [handlers[n] for n in names if n in handlers]
        if "timing" in names and route:
            inside[route[0]] = inside.get(route[0], 0) + count
            waiting += count if names[-2:] == ["sleep", "(idle)"] else 0
    n = sum(inside.values())
    assert n >= 50 and waiting > 0, (inside, waiting)
    total = sum(spent.values())
    lines = ["%-12s profile %5.1f%%  middleware %5.1f%%" % (
        r, 100.0 * inside.get(r, 0) / n, 100.0 * spent[r] / total) for r in sorted(spent)]
    print("\n".join(lines))
    for route in spent:
        p = spent[route] / total
        tolerance = 5.0 + 300.0 * math.sqrt(p * (1 - p) / n)
        assert abs(100.0 * inside.get(route, 0) / n - 100.0 * p) <= tolerance, (route, lines)


def test_slow_callback_needs_async():
    proc = run_spyglass(["record", "--pid", str(os.getpid()), "--slow-callback", "50"])
    assert proc.returncode == 2, proc.stderr
    assert "--slow-callback watches asyncio loops: give --async too" in proc.stderr
    proc = run_spyglass(["record", "--pid", str(os.getpid()), "--async", "--slow-callback",
                         "soon"])
    assert proc.returncode == 2
    assert "--slow-callback wants a positive number of milliseconds, got 'soon'" in proc.stderr
