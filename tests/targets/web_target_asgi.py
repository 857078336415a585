"""The ASGI half of web_target.py (3.6+): a minimal asyncio HTTP/1.0 server
that builds an ASGI scope dict per request and awaits asgi_app(scope,
receive, send), the way uvicorn does."""
import asyncio
import socket
import time

BURN = None
ACCOUNT = None


def asgi_slow():
    return BURN(0.020)


def asgi_items():
    return BURN(0.002)


async def asgi_app(scope, receive, send):
    await receive()
    if scope["path"] == "/a/slow":
        asgi_slow()
    elif scope["path"].startswith("/a/items/"):
        asgi_items()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


async def handle(reader, writer):
    request_line = await reader.readline()
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    method, path = request_line.decode("latin-1").split(" ")[:2]
    started = time.time()
    scope = {"type": "http", "method": method, "path": path.split("?")[0],
             "query_string": b"", "headers": []}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            writer.write(b"HTTP/1.0 %d OK\r\n" % message["status"])
            for name, value in message["headers"]:
                writer.write(name + b": " + value + b"\r\n")
            writer.write(b"\r\n")
        else:
            writer.write(message["body"])

    await asgi_app(scope, receive, send)
    await writer.drain()
    writer.close()
    ACCOUNT(method, scope["path"], started)


class Server(object):
    def __init__(self, burn, account):
        global ACCOUNT, BURN
        BURN, ACCOUNT = burn, account
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = self.loop.run_until_complete(asyncio.start_server(handle, sock=self.sock))

    def serve_forever(self):
        self.loop.run_forever()
