#!/bin/bash
# Runs each cmocka unit-test binary given on the command line; fails if any fails.
set -u
failed=0
for t in "$@"; do
    echo "== $t"
    if ! "$t"; then
        failed=$((failed + 1))
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "unit tests: $failed binaries failed" >&2
    exit 1
fi
