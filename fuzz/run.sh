#!/bin/bash
# `make fuzz`: builds every libFuzzer harness fuzz/fuzz_*.c with clang and runs
# each for FUZZ_SECONDS (default 60), starting from fuzz/corpus/NAME/ if present.
#   FUZZ_SECONDS=600 make fuzz       # longer
#   bash fuzz/run.sh --replay        # run each corpus once (no fuzzing): used by make test
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
MODE=${1:-fuzz}
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (apt-get install clang)" >&2
    exit 1
fi
# Builds (or brings up to date) every harness: the library once, then one link each.
make -s -j"$(nproc 2>/dev/null || echo 2)" fuzz-bins FUZZ_CC="$CC"
status=0
for harness in fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    bin=build/fuzz/$name
    corpus=fuzz/corpus/${name#fuzz_}
    work=build/fuzz/corpus-$name
    mkdir -p "$work"
    if [ "$MODE" = "--replay" ]; then
        if [ -d "$corpus" ]; then
            echo "== replaying $corpus through $name"
            "$bin" -runs=0 "$corpus" || status=1
        else
            echo "== $name: no corpus at $corpus; 2000 random runs instead"
            "$bin" -runs=2000 -seed=1 "$work" || status=1
        fi
    else
        echo "== fuzzing $name for ${SECONDS_EACH}s"
        dirs="$work"
        [ -d "$corpus" ] && dirs="$work $corpus"
        "$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=1 $dirs || status=1
    fi
done
exit $status
