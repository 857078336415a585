#!/bin/bash
# Runs the browser test of the SVG flame graph: builds the fixture SVGs with
# the real writer, then drives them in headless Chromium with playwright-core.
#
#   bash tests/browser/run.sh        (from anywhere; needs root only to install Chromium)
#
# Installs what is missing: Debian's chromium (apt-get) and playwright-core
# (npm ci, into tests/browser/node_modules). Screenshots go to $SCREENSHOT_DIR
# (default /tmp). Exits non-zero if any check fails.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "browser test: error: /usr/bin/chromium missing; run as root or: apt-get install chromium" >&2
        exit 1
    fi
    echo "browser test: installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "browser test: error: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "browser test: installing playwright-core"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

work="$(mktemp -d /tmp/spyglass-browser.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$root"
# The writer and what it links against: the format, profile and util layers.
${CC:-gcc} -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -O2 -Isrc \
    -o "$work/fixtures" tests/browser/fixtures.c \
    $(find src/format src/profile src/util -name '*.c' | sort) build/gen/flamegraph_assets.c -lz -lm
"$work/fixtures" "$work"
# A flame graph as `spyglass report` draws it from a cProfile dump of the
# example Flask app (needs build/spyglass and Debian's python3-flask).
python3 tests/targets/flask_cprofile.py "$work/app_profile.prof"
"${SPYGLASS:-$root/build/spyglass}" report "$work/app_profile.prof" -o "$work/report.svg"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    node "$here/flamegraph.test.mjs" "$work/demo.svg" "$work/xss.svg" "$work/big.svg" \
    "$work/report.svg"
