"""Profiles the example Flask app (examples/app.py) with cProfile, the way a
service owner does in development, and dumps the stats.

    python flask_cprofile.py OUT.prof [REQUESTS]

Sends REQUESTS (default 3) rounds of /slow_endpoint, /fast and /users/7
through Flask's test client (no network) between enable() and disable(),
then stats.dump_stats(OUT). heavy_computation() and the simulated database
wait (time.sleep) dominate by construction. Needs Flask.
"""
import cProfile
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..", "examples")))
from app import app  # noqa: E402


def main():
    out = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    client = app.test_client()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        for path in ("/slow_endpoint", "/fast", "/users/7"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
    profiler.disable()
    profiler.dump_stats(out)


if __name__ == "__main__":
    main()
