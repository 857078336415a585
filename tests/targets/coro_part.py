"""The coroutine part of stacks.py (async syntax does not parse on 2.7)."""
import asyncio
import time


async def handler(ev):
    ev.set()
    time.sleep(100000)  # LINE:coro_handler


async def serve(ev):
    await handler(ev)  # LINE:coro_serve


def coro_runner(ev):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(serve(ev))
