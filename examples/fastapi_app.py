"""The example ASGI service: FastAPI, served by uvicorn.

The same shape as app.py: /slow_endpoint is async and burns CPU in
heavy_computation(), then awaits a simulated database query; /, /fast and
/users/{user_id} are cheap. An HTTP middleware times every request, sets
X-Response-Time (seconds) and logs the slow ones.

    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 fastapi_app:app
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 --workers 2 fastapi_app:app

EXAMPLE_DB_SECONDS sets the simulated query's duration (default 0.05).

Time an async endpoint spends awaiting is not on any thread's stack: a
profiler sees the event loop waiting, not the request. Plain `spyglass
record --by-endpoint` shows that time as "(no request)"; with --async it reads
the waiting tasks too and puts the awaiting under the route:

    spyglass record --pid PID --async --by-endpoint --idle -d 10 -o fastapi.svg
"""
import asyncio
import logging
import os
import time

from fastapi import FastAPI, Request

app = FastAPI()
log = logging.getLogger("example")
DB_SECONDS = float(os.environ.get("EXAMPLE_DB_SECONDS", "0.05"))
SLOW_REQUEST_SECONDS = 0.5


def heavy_computation(n=200000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


async def database_query_simulation(seconds=None):
    await asyncio.sleep(DB_SECONDS if seconds is None else seconds)
    return [{"id": 1, "name": "example"}]


@app.middleware("http")
async def response_time(request: Request, call_next):
    started = time.perf_counter()
    response = await call_next(request)
    elapsed = time.perf_counter() - started
    response.headers["X-Response-Time"] = "%.6f" % elapsed
    if elapsed > SLOW_REQUEST_SECONDS:
        log.warning("slow request: %s %s took %.3f s", request.method, request.url.path, elapsed)
    return response


@app.get("/")
async def index():
    return {"status": "ok"}


@app.get("/fast")
async def fast():
    return {"status": "fast"}


@app.get("/slow_endpoint")
async def slow_endpoint():
    result = heavy_computation()
    rows = await database_query_simulation()
    return {"result": result, "rows": len(rows)}


@app.get("/users/{user_id}")
async def user(user_id: int):
    heavy_computation(20000)
    return {"id": user_id}
