#!/bin/bash
# The README's first command (`make demo`, after tools/deps.sh and the build):
# serve the example Flask app (examples/app.py) with gunicorn and 2 workers on
# a free 127.0.0.1 port, put a bounded load on it (examples/load.py), record
# every worker for a few seconds with --subprocesses --by-endpoint, write the
# flame graph and print the time by endpoint. Everything it starts is stopped
# on the way out, also on Ctrl-C or failure.
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
SPYGLASS=./build/spyglass
OUT_DIR=build/demo
SVG=$OUT_DIR/flamegraph.svg
SECONDS_TO_RECORD=${DEMO_SECONDS:-5}
mkdir -p "$OUT_DIR"

SERVER=""
LOAD=""
cleanup() {
    trap - EXIT INT TERM
    [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -TERM "$SERVER" 2>/dev/null # gunicorn stops its workers
        for _ in $(seq 50); do
            kill -0 "$SERVER" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
}
trap 'cleanup' EXIT
trap 'echo; echo "demo: interrupted"; cleanup; exit 130' INT TERM

fail() {
    echo "demo: $*" >&2
    [ -s "$OUT_DIR/gunicorn.log" ] && tail -n 20 "$OUT_DIR/gunicorn.log" >&2
    exit 1
}

[ -x "$SPYGLASS" ] || fail "build/spyglass is missing: run 'make demo' (or 'make' first)"
$PY -c "import flask, gunicorn" 2>/dev/null ||
    fail "python3-flask and gunicorn are needed: run 'make demo' (it calls tools/deps.sh)"

PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY -m gunicorn --workers 2 --bind "127.0.0.1:$PORT" --chdir examples app:app \
    >"$OUT_DIR/gunicorn.log" 2>&1 &
SERVER=$!

# Ready when it answers and both workers are up.
ready=""
for _ in $(seq 150); do
    kill -0 "$SERVER" 2>/dev/null || fail "gunicorn exited"
    if $PY -c "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:$PORT/', timeout=1)" 2>/dev/null &&
        [ "$(grep -l "^PPid:[[:space:]]*$SERVER\$" /proc/[0-9]*/status 2>/dev/null | wc -l)" -ge 2 ]; then
        ready=1
        break
    fi
    sleep 0.2
done
[ -n "$ready" ] || fail "gunicorn did not come up on 127.0.0.1:$PORT in 30 s"

echo "== the example Flask app runs under gunicorn (master pid $SERVER, 2 workers) on 127.0.0.1:$PORT"
echo "== load: examples/load.py, 4 clients, /slow_endpoint, /fast, /, /users/1, /users/2 in turn"
$PY examples/load.py --port "$PORT" --requests 5000 --concurrency 4 \
    --seconds $((SECONDS_TO_RECORD + 3)) >"$OUT_DIR/load.log" 2>&1 &
LOAD=$!
sleep 1
echo "== spyglass record --pid $SERVER --subprocesses --by-endpoint --idle -d $SECONDS_TO_RECORD -o $SVG"
echo
$SPYGLASS record --pid "$SERVER" --subprocesses --by-endpoint --idle \
    --duration "$SECONDS_TO_RECORD" -o "$SVG" || fail "spyglass record failed"
wait "$LOAD" 2>/dev/null || true
LOAD=""
echo
echo "== $(cat "$OUT_DIR/load.log")"
echo "== flame graph: $(pwd)/$SVG"
echo "   Open it in a browser: each stack starts at the endpoint it served, then the"
echo "   worker process. Under GET /slow_endpoint: heavy_computation burning CPU, and"
echo "   database_query_simulation waiting (its (idle) leaf). Click to zoom, Ctrl-F to search."
