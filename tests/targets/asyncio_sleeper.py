"""An asyncio program with one task asleep: prints READY once the task runs.
Used where spyglass does not read asyncio's tasks (tests/e2e/test_asyncio.py)."""
import asyncio
import sys


async def sleeper(started):
    started.set()
    await asyncio.sleep(3600)


async def main():
    started = asyncio.Event()
    task = asyncio.ensure_future(sleeper(started))
    await started.wait()
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    await task


asyncio.run(main())
