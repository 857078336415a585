#!/bin/bash
# Installs the Debian packages spyglass needs to build, test and run its demo,
# but only those missing: a no-op on a machine that has them all.
set -eu
# --native's tests (tests/e2e/test_native.py) build a C extension for /usr/bin/python3
# (python3-dev) and run numpy on a threaded BLAS (libopenblas0-pthread: reference BLAS,
# what python3-numpy pulls in alone, has no worker threads). Debian's python3.11 is
# stripped (python3.11-dbg does not hold its debug file): the tests expect its static
# functions as python3.11+0xOFFSET unless a debug file by build id is installed.
PKGS="gcc make clang libclang-rt-dev libcmocka-dev zlib1g-dev libncurses-dev python3 python3-pytest
      python3-pytest-xdist python3-jsonschema python3-flask gunicorn python3-fastapi
      python3-uvicorn python3-aiohttp python3-requests tmux procps golang-go python3-memory-profiler
      valgrind clang-format cppcheck libdw-dev uwsgi uwsgi-plugin-python3 chromium python3-django
      python3-tornado python3-celery strace python3-dev python3-numpy libopenblas0-pthread"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# Node.js may come from another source (with npm built in): install Debian's only if absent.
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
    echo "spyglass: installing missing packages:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "spyglass: error: need root to install packages (run with sudo, or install:$missing)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
fi
