"""An aiohttp service whose async handlers await, timed by its own middleware, for
`record --async` (tests/e2e/test_asyncio.py).

    python aiohttp_target.py

Routes (each awaits asyncio.sleep, as a database call would, around some CPU):
  /slow        burns ~20 ms of CPU, then awaits 30 ms
  /items/{n}   awaits 3 ms, then burns ~2 ms
  /fast        returns at once
  /stats       the wall time the timing middleware measured per route, one
               "SECONDS ROUTE" line each (itself not counted)

Prints "READY port=N" once it serves.
"""
import asyncio
import socket
import sys
import time

from aiohttp import web

SPENT = {}


def burn(seconds):
    until = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < until:
        for i in range(500):
            x = (x * 31 + i) % 1000003
    return x


@web.middleware
async def timing(request, handler):
    started = time.perf_counter()
    response = await handler(request)  # LINE:timing
    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else request.path
    if route != "/stats":
        SPENT[route] = SPENT.get(route, 0.0) + time.perf_counter() - started
    return response


async def slow_handler(request):
    burn(0.02)
    await asyncio.sleep(0.03)  # LINE:slow_sleep
    return web.Response(text="slow")


async def items_handler(request):
    await asyncio.sleep(0.003)  # LINE:items_sleep
    burn(0.002)
    return web.Response(text="items %s" % request.match_info["n"])


async def fast_handler(request):
    return web.Response(text="fast")


async def stats_handler(request):
    return web.Response(text="".join("%.6f %s\n" % (t, r) for r, t in sorted(SPENT.items())))


def main():
    app = web.Application(middlewares=[timing])
    app.add_routes([web.get("/slow", slow_handler), web.get("/items/{n}", items_handler),
                    web.get("/fast", fast_handler), web.get("/stats", stats_handler)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def serve():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        sys.stdout.write("READY port=%d\n" % port)
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.get_event_loop().run_until_complete(serve())


if __name__ == "__main__":
    main()
