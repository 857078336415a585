#!/bin/bash
# The README's first command (`make demo`, after tools/deps.sh and the build):
# serve the example Flask app (examples/app.py) with gunicorn and 2 workers on
# a free 127.0.0.1 port, put a bounded load on it (examples/load.py), record
# every worker for a few seconds with --subprocesses --by-endpoint, write the
# flame graph and print the time by endpoint. Then the same app in FastAPI
# under uvicorn (examples/fastapi_app.py), recorded with --async, so that its
# async routes' awaiting counts too, and the endpoint table next to the
# X-Response-Time the app measured. Everything it starts is stopped on the
# way out, also on Ctrl-C or failure.
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
UVICORN=""
cleanup() {
    trap - EXIT INT TERM
    [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
    [ -n "$UVICORN" ] && kill -TERM "$UVICORN" 2>/dev/null
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

echo

# ---- the async app: FastAPI under uvicorn, recorded with --async -------------------------
if ! $PY -c "import fastapi, uvicorn" 2>/dev/null; then
    echo "== (python3-fastapi / python3-uvicorn are not installed: the async part is skipped)"
    exit 0
fi
ASYNC_SVG=$OUT_DIR/fastapi.svg
ASYNC_TXT=$OUT_DIR/fastapi.txt
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY -m uvicorn --app-dir examples --host 127.0.0.1 --port "$PORT" fastapi_app:app \
    >"$OUT_DIR/uvicorn.log" 2>&1 &
UVICORN=$!
ready=""
for _ in $(seq 150); do
    kill -0 "$UVICORN" 2>/dev/null || fail "uvicorn exited"
    if $PY -c "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:$PORT/', timeout=1)" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.2
done
[ -n "$ready" ] || fail "uvicorn did not come up on 127.0.0.1:$PORT in 30 s"
echo "== the same app in FastAPI (examples/fastapi_app.py) under uvicorn (pid $UVICORN) on 127.0.0.1:$PORT:"
echo "   /slow_endpoint is async: it burns CPU, then awaits asyncio.sleep as its database query"
echo "== load: examples/load.py, 1 client, the same paths"
$PY examples/load.py --port "$PORT" --requests 5000 --concurrency 1 --json \
    --seconds $((SECONDS_TO_RECORD + 3)) >"$OUT_DIR/load_async.json" 2>&1 &
LOAD=$!
sleep 1
echo "== spyglass record --pid $UVICORN --async --by-endpoint --idle -d $SECONDS_TO_RECORD -o $ASYNC_TXT"
echo
$SPYGLASS record --pid "$UVICORN" --async --by-endpoint --idle \
    --duration "$SECONDS_TO_RECORD" -o "$ASYNC_TXT" || fail "spyglass record --async failed"
$SPYGLASS report "$ASYNC_TXT" -o "$ASYNC_SVG" >/dev/null || fail "spyglass report failed"
wait "$LOAD" 2>/dev/null || true
LOAD=""
echo
echo "== inside the app's timing middleware (response_time on the stack: what its"
echo "   X-Response-Time header measures), the profile's share of time per route against"
echo "   the header's, summed over every request the load made:"
$PY - "$ASYNC_TXT" "$OUT_DIR/load_async.json" <<'PYEOF'
import json, sys
def route(label):
    return "/users/{user_id}" if label.startswith("/users/") else label
profile, header = {}, {}
for line in open(sys.argv[1], encoding="utf-8"):
    stack, count = line.rstrip("\n").rsplit(" ", 1)
    frames = stack.split(";")
    if frames[0].startswith("GET /") and any(f.split(" (")[0] == "response_time" for f in frames):
        r = route(frames[0][4:].replace("{n}", "1"))
        profile[r] = profile.get(r, 0) + int(count)
for path, st in json.load(open(sys.argv[2]))["paths"].items():
    header[route(path)] = header.get(route(path), 0.0) + st["xrt"]
n, total = sum(profile.values()) or 1, sum(header.values()) or 1.0
print("  %-24s %9s %9s" % ("route", "profile", "header"))
for r in sorted(header, key=lambda r: -header[r]):
    print("  GET %-20s %8.1f%% %8.1f%%" % (r, 100.0 * profile.get(r, 0) / n, 100.0 * header[r] / total))
PYEOF
echo "== flame graph: $(pwd)/$ASYNC_SVG"
echo "   Under GET /slow_endpoint: heavy_computation running, and the request's tasks"
echo "   waiting: database_query_simulation > sleep ((idle) leaf) and the middleware's call_next."
echo "   The table counts each request once per sample, running or awaiting (its wall time);"
echo "   the app's X-Response-Time covers its middleware's call_next only, not sending the body."
