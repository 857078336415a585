"""A bounded load generator for the example apps: only ever talks to 127.0.0.1.

    python3 examples/load.py --port 8000 --requests 200 --concurrency 4 [--paths /slow_endpoint,/fast]

Sends at most --requests requests (cycling through --paths) for at most
--seconds seconds, then prints one summary line, or with --json one JSON
object with, per path, the requests answered and the sum of the server's own
X-Response-Time headers (seconds). The tests import run() for the same.
"""
import argparse
import json
import sys
import threading
import time
import urllib.request

DEFAULT_PATHS = "/slow_endpoint,/fast,/,/users/1,/users/2"


def run(port, paths, requests=200, concurrency=4, seconds=30.0):
    """Drives the load; returns {"sent", "ok", "failed", "paths": {path: {"ok", "xrt"}}}."""
    lock = threading.Lock()
    state = {"sent": 0, "ok": 0, "failed": 0,
             "paths": dict((p, {"ok": 0, "xrt": 0.0}) for p in paths)}
    deadline = time.time() + seconds
    # Straight to 127.0.0.1, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def worker():
        while time.time() < deadline:
            with lock:
                if state["sent"] >= requests:
                    return
                n = state["sent"]
                state["sent"] += 1
            path = paths[n % len(paths)]
            url = "http://127.0.0.1:%d%s" % (port, path)
            try:
                with opener.open(url, timeout=10) as r:
                    r.read()
                    xrt = float(r.headers.get("X-Response-Time") or 0.0)
                with lock:
                    state["ok"] += 1
                    state["paths"][path]["ok"] += 1
                    state["paths"][path]["xrt"] += xrt
            except Exception:
                with lock:
                    state["failed"] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--paths", default=DEFAULT_PATHS)
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    args = p.parse_args()
    state = run(args.port, args.paths.split(","), args.requests, args.concurrency, args.seconds)
    if args.json:
        print(json.dumps(state, sort_keys=True))
    else:
        print("load: %d requests, %d ok, %d failed" % (state["sent"], state["ok"], state["failed"]))
    return 0 if state["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
