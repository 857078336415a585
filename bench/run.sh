#!/bin/bash
# `make bench`: prints profiler cost and target slowdown figures. Never pass/fail.
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/bench.py "$@"
