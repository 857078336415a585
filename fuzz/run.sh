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
# Every input must finish in seconds and within bounded memory: a harness
# that loops or grows without bound fails as a crash would.
LIMITS="-timeout=10 -rss_limit_mb=1024"
REPLAY_RUNS=${FUZZ_REPLAY_RUNS:-2000}
status=0
# Runs a harness, printing its last line, or everything if it fails.
run_harness() {
    local log
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then
        tail -n 1 "$log"
    else
        cat "$log"
        status=1
    fi
    rm -f "$log"
}
for harness in fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    bin=build/fuzz/$name
    corpus=fuzz/corpus/${name#fuzz_}
    work=build/fuzz/corpus-$name
    mkdir -p "$work"
    if [ "$MODE" = "--replay" ]; then
        # The corpus once, then a short seeded run of mutations around it,
        # new inputs kept in a scratch directory (never in fuzz/corpus/).
        scratch=$(mktemp -d)
        if [ -d "$corpus" ]; then
            echo "== replaying $corpus through $name, then $REPLAY_RUNS mutations"
            run_harness "$bin" $LIMITS -runs=0 "$corpus"
            run_harness "$bin" $LIMITS -runs="$REPLAY_RUNS" -seed=1 "$scratch" "$corpus"
        else
            echo "== $name: no corpus at $corpus; $REPLAY_RUNS random runs instead"
            run_harness "$bin" $LIMITS -runs="$REPLAY_RUNS" -seed=1 "$scratch"
        fi
        rm -rf "$scratch"
    else
        echo "== fuzzing $name for ${SECONDS_EACH}s"
        dirs="$work"
        [ -d "$corpus" ] && dirs="$work $corpus"
        "$bin" $LIMITS -max_total_time="$SECONDS_EACH" -print_final_stats=1 $dirs || status=1
    fi
done
exit $status
