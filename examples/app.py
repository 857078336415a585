"""The example web service that `make demo` profiles.

A small Flask app with one slow endpoint, the shape service owners bring to a
profiler: /slow_endpoint burns CPU in heavy_computation() and then waits on a
simulated database query; /, /fast and /users/<id> are cheap. A WSGI
middleware times every request, sets X-Response-Time (seconds) and logs the
slow ones, the way many services do.

Run it directly (Flask's threaded server) or under gunicorn:
    python3 examples/app.py --port 8000
    gunicorn --workers 2 --bind 127.0.0.1:8000 --chdir examples app:app

EXAMPLE_DB_SECONDS sets the simulated query's duration (default 0.05).
"""
import argparse
import logging
import os
import time

from flask import Flask, jsonify

app = Flask(__name__)
log = logging.getLogger("example")
DB_SECONDS = float(os.environ.get("EXAMPLE_DB_SECONDS", "0.05"))
SLOW_REQUEST_SECONDS = 0.5


def heavy_computation(n=200000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def database_query_simulation(seconds=None):
    time.sleep(DB_SECONDS if seconds is None else seconds)
    return [{"id": 1, "name": "example"}]


@app.route("/")
def index():
    return "ok\n"


@app.route("/fast")
def fast():
    return jsonify(status="fast")


@app.route("/slow_endpoint")
def slow_endpoint():
    result = heavy_computation()
    rows = database_query_simulation()
    return jsonify(result=result, rows=len(rows))


@app.route("/users/<int:user_id>")
def user(user_id):
    heavy_computation(20000)
    return jsonify(id=user_id)


class ResponseTime(object):
    """WSGI middleware: X-Response-Time on every response, a log line for slow ones."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def timed_start_response(status, headers, exc_info=None):
            elapsed = time.perf_counter() - started
            headers.append(("X-Response-Time", "%.6f" % elapsed))
            if elapsed > SLOW_REQUEST_SECONDS:
                log.warning("slow request: %s %s took %.3f s", environ.get("REQUEST_METHOD"),
                            environ.get("PATH_INFO"), elapsed)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, timed_start_response)


app.wsgi_app = ResponseTime(app.wsgi_app)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, threaded=True)
