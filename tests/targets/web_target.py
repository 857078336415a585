"""Tiny web servers with known endpoints, for --by-endpoint on every interpreter.

A WSGI app served by wsgiref (every version, in a thread) and, from 3.6, an
ASGI app behind a minimal asyncio HTTP server (web_target_asgi.py), both in
this one process. No framework: the endpoint must come from the `environ`
and `scope` dicts alone (raw paths, numeric segments collapsed to {n}).
  WSGI: /w/slow burns CPU for 20 ms in wsgi_slow; /w/items/N for 2 ms; /w/fast
  ASGI: /a/slow burns CPU for 20 ms in asgi_slow; /a/items/N for 2 ms; /a/fast
Prints "READY wsgi=PORT asgi=PORT" (asgi=0 where there is no asyncio), then
serves until killed.

GET /w/stats answers with the wall time each endpoint has taken so far, one
"SECONDS ENDPOINT" line each (ENDPOINT as spyglass labels it): from the moment
its `environ` or `scope` dict is bound to the end of the frame that holds it,
which is when spyglass attributes samples to it. On a loaded machine every
request also takes however long the scheduler keeps it waiting, the 2 ms ones
too, so tests compare spyglass's split between endpoints with this one.
"""
import re
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


spent = {}  # endpoint label -> wall seconds, for /w/stats
spent_lock = threading.Lock()  # the WSGI and ASGI servers run in two threads


def account(method, path, started):
    """Adds the wall time since started to the endpoint of method and path."""
    label = "%s %s" % (method, re.sub(r"/[0-9]+(?=/|$)", "/{n}", path))
    with spent_lock:
        spent[label] = spent.get(label, 0.0) + time.time() - started


def burn(seconds):
    deadline = time.time() + seconds
    total = 0
    while time.time() < deadline:
        for i in range(500):
            total += i * i % 7
    return total


def wsgi_slow():
    return burn(0.020)


def wsgi_items():
    return burn(0.002)


def wsgi_app(environ, start_response):
    started = time.time()
    path = environ.get("PATH_INFO", "")
    if path == "/w/slow":
        wsgi_slow()
    elif path.startswith("/w/items/"):
        wsgi_items()
    if path == "/w/stats":
        with spent_lock:
            body = "".join("%.6f %s\n" % (s, label) for label, s in sorted(spent.items()))
        body = body.encode("ascii")
    else:
        body = b"ok\n"
        account(environ["REQUEST_METHOD"], path, started)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    server = make_server("127.0.0.1", 0, wsgi_app, WSGIServer, QuietHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    asgi = None
    if sys.version_info >= (3, 6):
        import web_target_asgi
        asgi = web_target_asgi.Server(burn, account)
    sys.stdout.write("READY wsgi=%d asgi=%d\n" % (server.server_port, asgi.port if asgi else 0))
    sys.stdout.flush()
    if asgi:
        asgi.serve_forever()
    else:
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
