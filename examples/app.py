"""The example web service that `make demo` profiles.

A small Flask app with one slow endpoint, the shape service owners bring to a
profiler: /slow_endpoint burns CPU in heavy_computation() and then waits on a
simulated database query; / and /fast are cheap.

Run it directly (Flask's threaded server) or under gunicorn:
    python3 examples/app.py --port 8000
    gunicorn --workers 2 --bind 127.0.0.1:8000 --chdir examples app:app
"""
import argparse
import time

from flask import Flask, jsonify

app = Flask(__name__)


def heavy_computation(n=200000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def database_query_simulation(seconds=0.05):
    time.sleep(seconds)
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, threaded=True)
