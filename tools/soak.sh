#!/bin/bash
# `make soak`: the long reliability runs (issue 8), not part of `make test`.
#
#   1. record at 100 Hz for SOAK_SECONDS (default 1800) on a busy target
#      (tests/targets/hot.py), printing spyglass's RSS every SOAK_EVERY
#      seconds; fails if RSS grows by more than 10% + 2 MiB after the first
#      tenth of the run (warm-up: code cache, interned strings, stacks).
#   2. the fault matrix's long counts: spyglass killed 34 times per
#      interpreter (6 interpreters: 204 kills) while pausing the target, and
#      10 s of 1 kHz sampling over 1,000 thread starts per second.
#   3. valgrind memcheck over one --blocking record run.
#   4. a code flood (tests/targets/flood.py: a new function, file and line per
#      call) under record and top at 1 kHz with --idle for SOAK_FLOOD_SECONDS
#      (default 600), RSS printed every SOAK_EVERY seconds; fails if either
#      grows by more than 5% + 2 MiB after the first third (the caps on
#      frames, stacks and top's rows fill in 1.5-2.5 minutes; a run shorter
#      than 300 s is printed, not judged; RSS while record writes its output
#      at the end is not counted).
#
#   SOAK_SECONDS=120 make soak       # a short run
set -eu
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${SOAK_SECONDS:-1800}
EVERY=${SOAK_EVERY:-10}
PY=${SOAK_PYTHON:-/usr/bin/python3}
SPYGLASS=build/spyglass
OUT=$(mktemp -d /tmp/spyglass-soak.XXXXXX)
status=0

echo "== soak 1: record at 100 Hz for ${SECONDS_TOTAL}s on tests/targets/hot.py ($PY)"
"$PY" tests/targets/hot.py > "$OUT/target.out" &
target=$!
sleep 1
"$SPYGLASS" record --pid "$target" --rate 100 --duration "$SECONDS_TOTAL" \
    -o "$OUT/soak.svg" 2> "$OUT/record.err" &
rec=$!
warm_rss=0
max_after=0
start=$(date +%s)
while kill -0 "$rec" 2>/dev/null; do
    sleep "$EVERY"
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$rec/status" 2>/dev/null || true)
    [ -n "$rss" ] || break
    elapsed=$(( $(date +%s) - start ))
    echo "t=${elapsed}s spyglass RSS ${rss} KiB"
    if [ "$warm_rss" -eq 0 ] && [ "$elapsed" -ge $(( SECONDS_TOTAL / 10 )) ]; then
        warm_rss=$rss
    elif [ "$warm_rss" -ne 0 ] && [ "$rss" -gt "$max_after" ]; then
        max_after=$rss
    fi
done
wait "$rec" || status=1
kill "$target" 2>/dev/null || true
wait "$target" 2>/dev/null || true
cat "$OUT/record.err"
if [ "$warm_rss" -gt 0 ] && [ "$max_after" -gt 0 ]; then
    limit=$(( warm_rss + warm_rss / 10 + 2048 ))
    echo "RSS after warm-up ${warm_rss} KiB, highest later ${max_after} KiB (limit ${limit} KiB)"
    if [ "$max_after" -gt "$limit" ]; then
        echo "soak: FAIL: spyglass RSS grew after warm-up" >&2
        status=1
    fi
fi

echo "== soak 2: the fault matrix's long counts"
SPYGLASS_KILL_ROUNDS=${SOAK_KILL_ROUNDS:-34} SPYGLASS_CHURN_SECONDS=${SOAK_CHURN_SECONDS:-10} \
    /usr/bin/python3 -m pytest -q -rA -n 2 tests/e2e/test_faults.py -k "killing or churn" \
    || status=1

echo "== soak 3: valgrind memcheck over one record run"
if command -v valgrind >/dev/null; then
    "$PY" tests/targets/faults.py > /dev/null &
    target=$!
    sleep 1
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "$SPYGLASS" record --pid "$target" --blocking --duration 3 -o "$OUT/vg.svg" || status=1
    kill "$target"
    wait "$target" 2>/dev/null || true
else
    echo "soak: valgrind not installed (make deps)"
    status=1
fi
echo "== soak 4: record and top on a code flood for ${SOAK_FLOOD_SECONDS:-600}s"
FLOOD_SECONDS=${SOAK_FLOOD_SECONDS:-600}
"$PY" tests/targets/flood.py > "$OUT/flood1.out" &
flood1=$!
"$PY" tests/targets/flood.py > "$OUT/flood2.out" &
flood2=$!
until grep -q READY "$OUT/flood1.out" && grep -q READY "$OUT/flood2.out"; do sleep 0.1; done
"$SPYGLASS" record --pid "$flood1" --idle --rate 1000 --duration "$FLOOD_SECONDS" \
    -o "$OUT/flood.txt" 2> "$OUT/flood-record.err" &
rec=$!
"$SPYGLASS" top --pid "$flood2" --idle --rate 1000 --interval 60 --rows 5 \
    > /dev/null 2> "$OUT/flood-top.err" &
top=$!
start=$(date +%s)
warm=(0 0)
most=(0 0)
while kill -0 "$rec" 2>/dev/null; do
    sleep "$EVERY"
    elapsed=$(( $(date +%s) - start ))
    [ "$elapsed" -lt "$FLOOD_SECONDS" ] || continue # record is writing its output
    line="t=${elapsed}s"
    i=0
    for p in "$rec" "$top"; do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        [ -n "$rss" ] || rss=0
        line="$line $([ $i -eq 0 ] && echo record || echo top) ${rss} KiB"
        if [ "${warm[$i]}" -eq 0 ] && [ "$elapsed" -ge $(( FLOOD_SECONDS / 3 )) ]; then
            warm[$i]=$rss
        elif [ "${warm[$i]}" -ne 0 ] && [ "$rss" -gt "${most[$i]}" ]; then
            most[$i]=$rss
        fi
        i=$((i + 1))
    done
    echo "$line"
done
wait "$rec" || status=1
kill -INT "$top"
wait "$top" || status=1
kill "$flood1" "$flood2" 2>/dev/null || true
wait "$flood1" "$flood2" 2>/dev/null || true
cat "$OUT/flood-record.err" "$OUT/flood-top.err"
for i in 0 1; do
    limit=$(( warm[i] + warm[i] / 20 + 2048 ))
    echo "$([ $i -eq 0 ] && echo record || echo top): RSS ${warm[$i]} KiB after a third, highest later ${most[$i]} KiB (limit ${limit} KiB)"
    if [ "$FLOOD_SECONDS" -ge 300 ] && [ "${warm[$i]}" -gt 0 ] && [ "${most[$i]}" -gt "$limit" ]; then
        echo "soak: FAIL: spyglass grew on a code flood" >&2
        status=1
    fi
done
rm -rf "$OUT"
exit $status
