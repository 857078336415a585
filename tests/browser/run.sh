#!/bin/bash
# Runs the browser tests: builds the fixture SVGs with the real writer and
# drives them in headless Chromium with playwright-core (flamegraph.test.mjs,
# the report's and report --diff's graphs included), then loads files that
# spyglass records and reports into speedscope's own importer, from the npm
# package (speedscope.test.mjs), which must log no warning.
#
#   bash tests/browser/run.sh        (from anywhere; needs root only to install Chromium)
#
# Installs what is missing: Debian's chromium (apt-get; tools/deps.sh does
# too) and the exact npm versions package-lock.json holds (npm ci, into
# tests/browser/node_modules). Screenshots go to $SCREENSHOT_DIR (default
# /tmp). Exits non-zero if any check fails.
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
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/speedscope" ]; then
    echo "browser test: installing playwright-core and speedscope (npm ci)"
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
spyglass="${SPYGLASS:-$root/build/spyglass}"
python3 tests/targets/flask_cprofile.py "$work/app_profile.prof"
"$spyglass" report "$work/app_profile.prof" -o "$work/report.svg"
# report --diff of two dumps of diff_target.py: CPU time moved from parse()
# to render().
python3 tests/targets/diff_target.py 40 10 --profile "$work/before.prof"
python3 tests/targets/diff_target.py 10 40 --profile "$work/after.prof"
"$spyglass" report --diff "$work/before.prof" "$work/after.prof" -o "$work/diff.svg"
status=0
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    node "$here/flamegraph.test.mjs" "$work/demo.svg" "$work/xss.svg" "$work/big.svg" \
    "$work/report.svg" "$work/diff.svg" || status=1
# speedscope's importers on recorded timelines (two threads, idle kept) and
# on the Flask dump's call tree, in both formats.
for name in rec.trace.json rec.speedscope.json; do
    "$spyglass" record --idle --threads --rate 250 -o "$work/$name" -- \
        python3 tests/targets/shares.py --seconds 1 --cpu-percent 50 --gil-thread
done
"$spyglass" report "$work/app_profile.prof" -o "$work/app.speedscope.json"
"$spyglass" report "$work/app_profile.prof" -o "$work/app.trace.json"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    node "$here/speedscope.test.mjs" "trace:$work/rec.trace.json:MainThread" \
    "speedscope:$work/rec.speedscope.json:MainThread" \
    "speedscope:$work/app.speedscope.json:all samples" "trace:$work/app.trace.json" || status=1
exit $status
