"""An aiohttp server with known endpoints: GET /users/{user_id} burns CPU in
spin() inside its handler, GET /sleep awaits asyncio.sleep (no thread's
stack while it waits). Prints "READY <port>" once it listens.

    python aiohttp_app.py [PORT]     (0 or none: any free port)
"""
import asyncio
import socket
import sys
import time

from aiohttp import web


def spin(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:  # LINE:spin
        n += 1
    return n


async def user(request):
    spin(0.02)  # LINE:user
    return web.Response(text="user %s\n" % request.match_info["user_id"])


async def nap(request):
    await asyncio.sleep(0.02)
    return web.Response(text="slept\n")


def main():
    app = web.Application()
    app.router.add_get("/users/{user_id}", user)
    app.router.add_get("/sleep", nap)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    sock.listen(128)  # before READY: a client may connect at once
    print("READY %d" % sock.getsockname()[1], flush=True)
    web.run_app(app, sock=sock, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
