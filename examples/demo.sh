#!/bin/bash
# The README's first command (`make demo`): start the example web app, put a
# little load on it, and show what spyglass sees inside it.
set -eu
cd "$(dirname "$0")/.."
PORT=${PORT:-8765}
PY=/usr/bin/python3
SPYGLASS=./build/spyglass

$PY examples/app.py --port "$PORT" >/tmp/spyglass-demo-app.log 2>&1 &
APP=$!
trap 'kill $APP 2>/dev/null; wait $APP 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    if $PY -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
echo "== example app running as pid $APP on 127.0.0.1:$PORT; sending load"
$PY examples/load.py --port "$PORT" --requests 400 --concurrency 4 --seconds 20 --paths /slow_endpoint &
LOAD=$!
sleep 1.5
echo "== spyglass dump --pid $APP"
$SPYGLASS dump --pid "$APP"
echo
echo "== spyglass dump --pid $APP --locals (first thread serving a request)"
$SPYGLASS dump --pid "$APP" --locals | awk '/heavy_computation/{p=1} p&&n<12{print; n++}'
kill $LOAD 2>/dev/null || true
wait $LOAD 2>/dev/null || true
