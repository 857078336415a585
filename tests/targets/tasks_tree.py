"""A target whose asyncio tasks are known by construction, for `dump --tasks` and
`record --async` tests. Runs on Python 3.6 - 3.13 (C _asyncio or, with --pure, the
pure-Python Task/Future).

    python tasks_tree.py [--workers N] [--loops 1|2] [--expect PATH] [--pure] [--no-spin]
                         [--block-ms MS --steps PATH]

Loop 1 (the main thread) runs, under the task "main":
  gather-owner      awaits asyncio.gather(worker-0 .. worker-{N-1})   (N = --workers, 160)
  worker-I          each awaits asyncio.sleep(3600 + I / 1000)
  tg-owner          3.11+: `async with asyncio.TaskGroup()` around tg-child-0 .. tg-child-19
                    (before 3.11: asyncio.wait() on the same children)
  tg-child-I        each awaits asyncio.sleep(3600)
  lock-owner        holds an asyncio.Lock and awaits asyncio.sleep(3600)
  lock-waiter       awaits that Lock (async with lock)
  event-waiter      awaits Event.wait()
  cond-waiter       awaits Condition.wait()
  sem-waiter        awaits Semaphore.acquire() on a Semaphore(0)
  queue-consumer    awaits Queue.get() on an empty Queue
  future-waiter     awaits a plain loop.create_future() nobody sets
  task-awaiter      awaits the Task worker-0
  deadlock-a        awaits the Task deadlock-b ...
  deadlock-b        ... which awaits the Task deadlock-a (asyncio allows this cycle; only a
                    task awaiting itself is refused)
  sock-reader       awaits loop.sock_recv() on one end of a socketpair with no data
  stream-reader     awaits StreamReader.read() on another socketpair with no data
  agen-consumer     `async for` over an async generator that awaits asyncio.sleep(3600)
  nested            nested_1 > nested_2 > nested_3 > asyncio.sleep(3600)
  spinner           (unless --no-spin) burns the CPU in pure Python (spin > burn) and
                    awaits asyncio.sleep(0) every 20 ms, so a running task exists
  blocker           (with --block-ms MS) every 50 ms runs one step that holds the loop
                    for MS milliseconds (block > burn), for the blocked-loop report
"main" itself awaits an Event nobody sets.
With --steps PATH, the spinner and the blocker append each step that held the loop for
50 ms or more to PATH, as "label start end" (time.monotonic(), seconds): what an outside
observer of the loop must agree with.
With --loops 2 a thread "asyncio-loop-2" runs a second loop: l2-main awaits an Event;
l2-sleeper-0..2 await asyncio.sleep(3600); l2-queue awaits Queue.get().

Task names are given where asyncio has them (3.8+); before, tasks are told apart by
their coroutine chains. Every line a test looks for is marked "# LINE:<name>".

Once every task (but the spinner) is in its final waiting state, the target checks that
by looking at its own tasks (cr_await / gi_yieldfrom chains, _fut_waiter), writes the
--expect file if asked, and prints "READY <pid>". It refuses to print READY if any task
is not where it was built to be.

The --expect file is JSON, deterministic for a given interpreter (names sorted; no
addresses), with one entry per task:
  name       the task's name (null before 3.8)
  label      the name this file gives it (the same as name on 3.8+)
  loop       1 or 2;  state  "PENDING"
  chain      its coroutines, outermost first, as {function, qualname, file, line, kind}:
             function is the code's co_name, qualname the coroutine's __qualname__, file
             its co_filename as the code object has it (relative before 3.9 when the
             script was started by a relative name), line where it is suspended, kind
             coroutine / generator (3.6's @coroutine functions) / async_generator. An
             async_generator_asend between a consumer and its generator is skipped, and
             so is a pure-Python Future's own __await__/__iter__ generator at the bottom
             (a C Future has no frame there).
  awaits     what the innermost coroutine waits on: {"kind": K, ...}, K one of
             sleep (seconds; when: the TimerHandle's due date in loop time, which is
             time.monotonic()), task (task), gather (children), taskgroup (children),
             wait (children), lock, event, condition, semaphore, queue, socket, stream,
             future, running.
The spinner's entry has "running": true, its chain only "spin" and "lines" the lines
it is found on: any of its loop's while it runs (burn's call, or spin's own line between
calls: 3.6 was seen on the loop's test), or asyncio.sleep(0)'s while it yields (the chain
then goes on into asyncio's sleep). One entry per loop: {index, thread (its name), tasks (count),
current_task: "spinner" for loop 1 when spinning (null between its steps), else null}.
"""
import os
import sys

if "--pure" in sys.argv:
    # Before asyncio is imported: it then falls back to its pure-Python Task, Future and
    # running-loop holder.
    sys.modules["_asyncio"] = None

import asyncio  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

PY = sys.version_info[:2]
HERE = os.path.abspath(__file__)


def arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


WORKERS = int(arg("--workers", "160"))
LOOPS = int(arg("--loops", "1"))
EXPECT = arg("--expect", None)
PURE = "--pure" in sys.argv
SPIN = "--no-spin" not in sys.argv
BLOCK_MS = float(arg("--block-ms", "0"))
STEPS = arg("--steps", None)
TG_CHILDREN = 20
SLEEP = 3600.0


def marked_lines():
    lines = {}
    with open(HERE) as f:
        for number, text in enumerate(f, 1):
            if "# LINE:" in text:
                lines[text.split("# LINE:")[1].split()[0]] = number
    return lines


LINES = marked_lines()

# label -> (task, what it awaits by construction, marker of its innermost own line)
TASKS = {}
AGENS = {}  # label -> the async generator object its task iterates (asend hides it)


def create_task(loop, coro, label, awaits, line):
    if PY >= (3, 8):
        task = loop.create_task(coro, name=label)
    else:
        task = loop.create_task(coro)
    TASKS[label] = (task, awaits, line)
    return task


def all_tasks(loop):
    if PY >= (3, 7):
        return asyncio.all_tasks(loop)
    return asyncio.Task.all_tasks(loop)


def current_task(loop):
    if PY >= (3, 7):
        return asyncio.current_task(loop)
    return asyncio.Task.current_task(loop)


# ---- the coroutines --------------------------------------------------------------------

async def worker(i):
    await asyncio.sleep(SLEEP + i / 1000.0)  # LINE:worker


async def gather_owner(workers):
    await asyncio.gather(*workers)  # LINE:gather_owner


async def tg_child(i):
    await asyncio.sleep(SLEEP)  # LINE:tg_child


async def tg_owner(loop):
    if PY >= (3, 11):
        async with asyncio.TaskGroup() as tg:  # LINE:tg_owner_with
            for i in range(TG_CHILDREN):
                child = tg.create_task(tg_child(i), name="tg-child-%d" % i)
                TASKS["tg-child-%d" % i] = (child, {"kind": "sleep", "seconds": SLEEP}, "tg_child")
    else:
        children = [create_task(loop, tg_child(i), "tg-child-%d" % i,
                                {"kind": "sleep", "seconds": SLEEP}, "tg_child")
                    for i in range(TG_CHILDREN)]
        await asyncio.wait(children)  # LINE:tg_owner_wait


async def lock_owner(lock, held):
    await lock.acquire()
    held.set()
    await asyncio.sleep(SLEEP)  # LINE:lock_owner


async def lock_waiter(lock):
    async with lock:  # LINE:lock_waiter
        pass


async def event_waiter(event):
    await event.wait()  # LINE:event_waiter


async def cond_waiter(cond):
    async with cond:
        await cond.wait()  # LINE:cond_waiter


async def sem_waiter(sem):
    await sem.acquire()  # LINE:sem_waiter


async def queue_consumer(queue):
    await queue.get()  # LINE:queue_consumer


async def future_waiter(fut):
    await fut  # LINE:future_waiter


async def task_awaiter(task):
    await task  # LINE:task_awaiter


async def deadlock(pair, other):
    await asyncio.sleep(0)  # both tasks exist before either awaits the other
    await pair[other]  # LINE:deadlock


async def sock_reader(loop, sock):
    await loop.sock_recv(sock, 1024)  # LINE:sock_reader


async def stream_reader(sock):
    reader, writer = await asyncio.open_connection(sock=sock)
    STREAMS.append(writer)
    await reader.read(1024)  # LINE:stream_reader


async def ticker():
    while True:
        await asyncio.sleep(SLEEP)  # LINE:agen
        yield 1


async def agen_consumer(gen):
    async for _ in gen:  # LINE:agen_consumer
        pass


async def nested_3():
    await asyncio.sleep(SLEEP)  # LINE:nested_3


async def nested_2():
    await nested_3()  # LINE:nested_2


async def nested_1():
    await nested_2()  # LINE:nested_1


def burn(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003  # LINE:burn
    return x


def note_step(label, start):
    """Records a step that held the loop 50 ms or more (--steps)."""
    end = time.monotonic()
    if STEPS and end - start >= 0.05:
        with open(STEPS, "a") as f:
            f.write("%s %.6f %.6f\n" % (label, start, end))


async def spin():  # LINE:spin_def
    while True:
        start = time.monotonic()
        until = start + 0.02
        while time.monotonic() < until:
            burn(2000)  # LINE:spin_burn
        note_step("spinner", start)
        await asyncio.sleep(0)  # LINE:spin_yield


def block(ms):
    until = time.monotonic() + ms / 1000.0
    while time.monotonic() < until:
        burn(2000)  # LINE:block


async def blocker(ms):
    while True:
        await asyncio.sleep(0.05)
        start = time.monotonic()
        block(ms)  # LINE:block_call
        note_step("blocker", start)


async def forever(event):
    await event.wait()  # LINE:forever


STREAMS = []  # stream writers: kept so their transports stay open
KEEP = []  # sockets and futures the tasks wait on


# ---- building the tree ------------------------------------------------------------------

async def main(loop):
    workers = [create_task(loop, worker(i), "worker-%d" % i,
                           {"kind": "sleep", "seconds": SLEEP + i / 1000.0}, "worker")
               for i in range(WORKERS)]
    create_task(loop, gather_owner(workers), "gather-owner",
                {"kind": "gather", "children": ["worker-%d" % i for i in range(WORKERS)]},
                "gather_owner")
    children = ["tg-child-%d" % i for i in range(TG_CHILDREN)]
    if PY >= (3, 11):
        create_task(loop, tg_owner(loop), "tg-owner", {"kind": "taskgroup", "children": children},
                    "tg_owner_with")
    else:
        create_task(loop, tg_owner(loop), "tg-owner", {"kind": "wait", "children": children},
                    "tg_owner_wait")
    lock, held = asyncio.Lock(), asyncio.Event()
    create_task(loop, lock_owner(lock, held), "lock-owner",
                {"kind": "sleep", "seconds": SLEEP}, "lock_owner")
    await held.wait()
    create_task(loop, lock_waiter(lock), "lock-waiter", {"kind": "lock"}, "lock_waiter")
    create_task(loop, event_waiter(asyncio.Event()), "event-waiter", {"kind": "event"},
                "event_waiter")
    create_task(loop, cond_waiter(asyncio.Condition()), "cond-waiter", {"kind": "condition"},
                "cond_waiter")
    create_task(loop, sem_waiter(asyncio.Semaphore(0)), "sem-waiter", {"kind": "semaphore"},
                "sem_waiter")
    create_task(loop, queue_consumer(asyncio.Queue()), "queue-consumer", {"kind": "queue"},
                "queue_consumer")
    fut = loop.create_future()
    KEEP.append(fut)
    create_task(loop, future_waiter(fut), "future-waiter", {"kind": "future"}, "future_waiter")
    create_task(loop, task_awaiter(workers[0]), "task-awaiter",
                {"kind": "task", "task": "worker-0"}, "task_awaiter")
    pair = {}
    pair["a"] = create_task(loop, deadlock(pair, "b"), "deadlock-a",
                            {"kind": "task", "task": "deadlock-b"}, "deadlock")
    pair["b"] = create_task(loop, deadlock(pair, "a"), "deadlock-b",
                            {"kind": "task", "task": "deadlock-a"}, "deadlock")
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    a.setblocking(False)
    KEEP.extend([a, b, c, d])
    create_task(loop, sock_reader(loop, a), "sock-reader", {"kind": "socket"}, "sock_reader")
    create_task(loop, stream_reader(c), "stream-reader", {"kind": "stream"}, "stream_reader")
    gen = ticker()
    AGENS["agen-consumer"] = gen
    create_task(loop, agen_consumer(gen), "agen-consumer", {"kind": "sleep", "seconds": SLEEP},
                "agen")
    create_task(loop, nested_1(), "nested", {"kind": "sleep", "seconds": SLEEP}, "nested_3")
    await settled(loop)
    await forever(asyncio.Event())


async def loop2_main(loop):
    for i in range(3):
        create_task(loop, worker(i), "l2-sleeper-%d" % i,
                    {"kind": "sleep", "seconds": SLEEP + i / 1000.0}, "worker")
    create_task(loop, queue_consumer(asyncio.Queue()), "l2-queue", {"kind": "queue"},
                "queue_consumer")
    await settled(loop)
    await forever(asyncio.Event())


SETTLED = {}  # loop -> threading.Event, set once its tasks all wait where they should


async def settled(loop):
    """Lets every other task of this loop reach its final waiting state (bounded: after
    5 s the report names whatever is not there), then says so."""
    me = current_task(loop)
    for _ in range(500):
        await asyncio.sleep(0.01)
        mine = [label for label, (t, _, _) in list(TASKS.items()) if t._loop is loop and t is not me]
        if not any(describe(label)[1] for label in mine):
            break
    SETTLED[loop].set()


# ---- looking at our own tasks --------------------------------------------------------------

def chain_of(task, label=None):
    """The task's coroutine chain through cr_await / gi_yieldfrom / ag_await (an
    async_generator_asend hides its generator from Python: the one we kept stands in),
    outermost first, without a pure-Python Future's own __await__/__iter__ generator."""
    out = []
    c = task._coro
    for _ in range(64):
        if isinstance(c, types.CoroutineType):
            fr, aw, code, kind = c.cr_frame, c.cr_await, c.cr_code, "coroutine"
        elif isinstance(c, types.GeneratorType):
            fr, aw, code, kind = c.gi_frame, c.gi_yieldfrom, c.gi_code, "generator"
        elif isinstance(c, types.AsyncGeneratorType):
            fr, aw, code, kind = c.ag_frame, c.ag_await, c.ag_code, "async_generator"
        elif type(c).__name__ == "async_generator_asend" and label in AGENS:
            c = AGENS[label]
            continue
        else:
            break
        if fr is None:
            break
        if kind == "generator" and code.co_name in ("__await__", "__iter__") and \
                code.co_filename.endswith(os.path.join("asyncio", "futures.py")):
            break
        out.append({"function": code.co_name, "qualname": c.__qualname__,
                    "file": code.co_filename, "line": fr.f_lineno, "kind": kind})
        c = aw
    return out


SPIN_FILE = spin.__code__.co_filename  # relative before 3.9 if the script was named so


INNERMOST = {  # awaits kind -> the asyncio function its chain ends in
    "sleep": "sleep", "lock": "acquire", "event": "wait", "condition": "wait",
    "semaphore": "acquire", "queue": "get", "stream": "_wait_for_data",
    "wait": "_wait", "taskgroup": "__aexit__",
}


def describe(label, loops=None):
    """The task's entry of the --expect file, and what is not as built."""
    task, awaits, line = TASKS[label]
    chain = chain_of(task, label)
    problems = []
    d = {"label": label, "name": task.get_name() if PY >= (3, 8) else None,
         "loop": [l for l, _ in loops].index(task._loop) + 1 if loops else None,
         "state": task._state, "chain": chain, "awaits": dict(awaits)}
    if task.done():
        problems.append("%s: done" % label)
    own = [c for c in chain if os.path.abspath(c["file"]) == HERE]
    if not own or own[-1]["line"] != LINES[line]:
        problems.append("%s: innermost own frame %s, want line %d" % (
            label, own[-1] if own else None, LINES[line]))
    want = INNERMOST.get(awaits["kind"])
    if awaits["kind"] == "taskgroup" and hasattr(asyncio.TaskGroup, "_aexit"):
        want = "_aexit"  # 3.13.x patch releases and 3.14: __aexit__ awaits _aexit
    if awaits["kind"] == "socket":
        want = "sock_recv" if PY >= (3, 7) else "sock_reader"  # 3.6: sock_recv is no coroutine
    if want and (not chain or chain[-1]["function"] != want):
        problems.append("%s: innermost %s, want %s" % (
            label, chain[-1]["function"] if chain else None, want))
    waiter = task._fut_waiter
    if waiter is None:
        problems.append("%s: no _fut_waiter" % label)
    if awaits["kind"] == "sleep":
        timers = [h for h in task._loop._scheduled if h._args and h._args[0] is waiter]
        if len(timers) != 1:
            problems.append("%s: %d timer handles" % (label, len(timers)))
        else:
            d["awaits"]["when"] = timers[0]._when
    elif awaits["kind"] == "task":
        if waiter is not TASKS[awaits["task"]][0]:
            problems.append("%s: waits on %r" % (label, waiter))
    elif awaits["kind"] == "gather":
        names = dict((id(t), other) for other, (t, _, _) in TASKS.items())
        kids = [names.get(id(t)) for t in getattr(waiter, "_children", [])]
        if kids != awaits["children"]:
            problems.append("%s: gather children %s" % (label, kids[:3]))
    return d, problems


def expectation(loops):
    names = dict((id(t), label) for label, (t, _, _) in TASKS.items())
    tasks, problems = [], []
    for label in sorted(TASKS, key=sort_key):
        task = TASKS[label][0]
        if label == "blocker":
            continue  # it sleeps or blocks: not for the exact tree
        if label == "spinner":
            tasks.append({"label": label, "name": task.get_name() if PY >= (3, 8) else None,
                          "loop": 1, "state": "PENDING", "running": True,
                          "chain": [{"function": "spin", "qualname": "spin", "file": SPIN_FILE,
                                     "line": LINES["spin_burn"], "kind": "coroutine"}],
                          "lines": list(range(LINES["spin_def"] + 1, LINES["spin_yield"] + 1)),
                          "awaits": {"kind": "running"}})
            continue
        d, p = describe(label, loops)
        tasks.append(d)
        problems += p
    out_loops = []
    for index, (loop, thread) in enumerate(loops, 1):
        ours = list(all_tasks(loop))
        unknown = [t for t in ours if id(t) not in names]
        if unknown:
            problems.append("loop %d: tasks nobody made: %r" % (index, unknown))
        out_loops.append({"index": index, "thread": thread.name,
                          "current_task": "spinner" if index == 1 and SPIN else None,
                          "tasks": len(ours)})
    pure = type(asyncio.Task).__module__ != "_asyncio" and asyncio.Task.__module__ != "_asyncio"
    if pure != PURE:
        problems.append("asyncio.Task is %r" % asyncio.Task)
    return {"python": "%d.%d" % PY, "pure": PURE, "pid": os.getpid(), "workers": WORKERS,
            "loops": out_loops, "tasks": tasks}, problems


def sort_key(label):
    head, _, tail = label.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (label, -1)


# ---- running ------------------------------------------------------------------------------

def run_loop2(loops):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    SETTLED[loop] = threading.Event()
    loops.append((loop, threading.current_thread()))
    task = create_task(loop, loop2_main(loop), "l2-main", {"kind": "event"}, "forever")
    loop.run_until_complete(task)


def run():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    SETTLED[loop] = threading.Event()
    loops = [(loop, threading.current_thread())]
    create_task(loop, main(loop), "main", {"kind": "event"}, "forever")

    def poll(step):
        """Runs on loop 1 every 10 ms until this step's condition holds."""
        if step == "loop1":
            if not SETTLED[loop].is_set():
                return loop.call_later(0.01, poll, step)
            if LOOPS > 1:
                th = threading.Thread(target=run_loop2, args=(loops,), name="asyncio-loop-2")
                th.daemon = True
                th.start()
            step = "loop2"
        if step == "loop2":
            if LOOPS > 1 and not (len(loops) > 1 and SETTLED[loops[1][0]].is_set()):
                return loop.call_later(0.01, poll, step)
            if SPIN:
                create_task(loop, spin(), "spinner", {"kind": "running"}, None)
            if BLOCK_MS:
                create_task(loop, blocker(BLOCK_MS), "blocker", {"kind": "running"}, None)
            loop.call_soon(report)

    def report():
        expect, problems = expectation(loops)
        if problems:
            sys.stderr.write("NOT READY\n" + "\n".join(problems) + "\n")
            sys.stderr.flush()
            os._exit(3)
        if EXPECT:
            with open(EXPECT + ".tmp", "w") as f:
                json.dump(expect, f, indent=1, sort_keys=True)
                f.write("\n")
            os.rename(EXPECT + ".tmp", EXPECT)
        sys.stdout.write("READY %d\n" % os.getpid())
        sys.stdout.flush()

    loop.call_soon(poll, "loop1")
    loop.run_forever()


if __name__ == "__main__":
    run()
