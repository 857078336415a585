"""A bounded load generator for the example app: only ever talks to 127.0.0.1.

    python3 examples/load.py --port 8000 --requests 200 --concurrency 4 [--paths /slow_endpoint,/fast]
Prints one summary line. Stops after --requests requests or --seconds seconds.
"""
import argparse
import sys
import threading
import time
import urllib.request


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--paths", default="/slow_endpoint,/fast,/,/users/1,/users/2")
    args = p.parse_args()
    paths = args.paths.split(",")
    lock = threading.Lock()
    state = {"sent": 0, "ok": 0, "failed": 0}
    deadline = time.time() + args.seconds

    def worker():
        while time.time() < deadline:
            with lock:
                if state["sent"] >= args.requests:
                    return
                n = state["sent"]
                state["sent"] += 1
            url = "http://127.0.0.1:%d%s" % (args.port, paths[n % len(paths)])
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    r.read()
                with lock:
                    state["ok"] += 1
            except Exception:
                with lock:
                    state["failed"] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("load: %d requests, %d ok, %d failed" % (state["sent"], state["ok"], state["failed"]))
    return 0 if state["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
