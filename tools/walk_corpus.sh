#!/bin/bash
# Regenerates fuzz/corpus/walk/: one capture (python/capture.h) per interpreter
# on this machine, taken by build/tools/walk_capture from tests/targets/stacks.py
# (named threads, a 40-deep recursion, generator and coroutine frames, unicode
# names, known locals). Run it after a layout or walker change that alters what
# is read, and commit the result:
#   make tools && bash tools/walk_corpus.sh
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
OUT=fuzz/corpus/walk
TOOL=$B/tools/walk_capture
[ -x "$TOOL" ] || { echo "walk_corpus: build $TOOL first (make tools)" >&2; exit 1; }
mkdir -p "$OUT"
interpreters=(/root/.pyenv/versions/*/bin/python /usr/bin/python3)
status=0
for py in "${interpreters[@]}"; do
    [ -x "$py" ] || continue
    label=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
    [ "$py" = /usr/bin/python3 ] && label="debian-$label"
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    SPYGLASS_DEPTH=40 PYTHONDONTWRITEBYTECODE=1 "$py" tests/targets/stacks.py >"$fifo" 2>/dev/null &
    target=$!
    if read -r -t 30 ready pid <"$fifo" && [ "$ready" = READY ] && [ "$pid" = "$target" ]; then
        if "$TOOL" "$target" "$OUT/$label.capt"; then
            echo "walk_corpus: $OUT/$label.capt ($(stat -c %s "$OUT/$label.capt") bytes)"
        else
            status=1
        fi
    else
        echo "walk_corpus: $py: the target did not get ready" >&2
        status=1
    fi
    kill "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
    rm -f "$fifo"
done
exit $status
