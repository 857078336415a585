#!/bin/bash
# `make bench`: prints profiler cost and target slowdown figures, then the same
# beside py-spy and Austin. Never pass/fail. The peers are benchmark tools only
# (spyglass never depends on them): pip installs them into build/benchtools.
set -eu
cd "$(dirname "$0")/.."
tools=build/benchtools
if [ ! -x "$tools/bin/py-spy" ] || [ ! -x "$tools/bin/austin" ]; then
    echo "bench: installing py-spy and austin-dist 3.7.0 into $tools (pip)"
    # austin-dist 4.x's binary needs glibc 2.38; Debian bookworm has 2.36.
    /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$tools" py-spy austin-dist==3.7.0 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
# The floor: a loop that only sleeps to the sampler's deadlines.
mkdir -p build/bench
cc -std=c17 -O2 -Wall -Wextra -o build/bench/tickfloor bench/tickfloor.c
/usr/bin/python3 bench/bench.py "$@"
echo
/usr/bin/python3 bench/peers.py "$@"
echo
/usr/bin/python3 bench/asyncio_bench.py
