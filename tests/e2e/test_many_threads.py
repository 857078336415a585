"""A process of more threads than the tid search probes (python/tid.c reads at
most 64 thread structs): every thread's OS thread is still found, on every
interpreter. Before 3.11 a thread state has no native id, and the search needs
the main thread's struct (its tid is the pid) among those it reads: the main
thread is the oldest, last of the thread list, so with 70 threads it was left
out and every thread's state was unknown (never active)."""
import json
import os

import pytest

from conftest import interpreter_params, run_spyglass

POOL = 70  # threads besides the main one: more than TID_PROBE_THREADS


def dump(pid):
    return json.loads(run_spyglass(["dump", "--pid", str(pid), "--json"], check=True).stdout)


@pytest.mark.parametrize("interp", interpreter_params())
def test_every_thread_of_a_big_pool_is_known(interp, start_target):
    # bench_target.py: POOL threads wait under 5 frames each, then READY;
    # the main thread then works without end. A pool thread may still be on
    # its way into its wait at READY: dumps are taken until all wait.
    t = start_target(interp, "bench_target.py", args=["--depth", "5", "--threads", str(POOL)])
    for _ in range(100):
        threads = dump(t.pid)["threads"]
        pool = [x for x in threads if x["name"].startswith("pool-")]
        if len(pool) == POOL and all(x["state"] == "idle" for x in pool):
            break
    assert len(pool) == POOL and all(x["state"] == "idle" for x in pool), pool
    tasks = set(int(x) for x in os.listdir("/proc/%d/task" % t.pid))
    assert len(threads) == POOL + 1
    assert [x for x in threads if x["tid"] not in tasks] == []
    assert len(set(x["tid"] for x in threads)) == POOL + 1
    main = [x for x in threads if x["tid"] == t.pid]
    assert len(main) == 1, threads
    assert [f["function"] for f in main[0]["frames"]][-3:] == ["descend", "main", "<module>"], main
