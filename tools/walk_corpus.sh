#!/bin/bash
# Regenerates fuzz/corpus/walk/: captures (tests/support/capture.h) taken by
# build/tools/walk_capture from two targets on every interpreter here:
#   stacks-VERSION.capt  tests/targets/stacks.py: named threads, a 40-deep
#                        recursion, generator and coroutine frames, unicode
#                        names, known locals
#   web-VERSION.capt     tests/targets/web_target.py while it serves /w/slow
#                        (a WSGI environ on the stack, for --by-endpoint)
#   tasks-VERSION.capt, tasks-VERSION-pure.capt (3.6+)
#                        tests/targets/tasks_tree.py with 8 gathered workers and
#                        two loops, C and pure-Python tasks, read with the
#                        asyncio tasks (walk_capture --tasks)
# tests/unit/test_walk.c checks what each kind must contain. Run it after a
# layout or walker change that alters what is read, and commit the result:
#   make tools && bash tools/walk_corpus.sh [LABEL-PATTERN]
# (a pattern such as '3.14*' retakes only the interpreters whose label matches).
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
OUT=fuzz/corpus/walk
TOOL=$B/tools/walk_capture
[ -x "$TOOL" ] || { echo "walk_corpus: build $TOOL first (make tools)" >&2; exit 1; }
mkdir -p "$OUT"
status=0

# Starts "$@" with its stdout on a fifo; sets target (pid) and ready (its first line).
start() {
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    PYTHONDONTWRITEBYTECODE=1 "$@" >"$fifo" 2>/dev/null &
    target=$!
    ready=""
    read -r -t 30 ready <"$fifo" || true
    rm -f "$fifo"
}

stop() {
    kill "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
}

capture_stacks() { # PYTHON LABEL
    start env SPYGLASS_DEPTH=40 "$1" tests/targets/stacks.py
    if [ "$ready" = "READY $target" ] && "$TOOL" "$target" "$OUT/stacks-$2.capt"; then
        echo "walk_corpus: $OUT/stacks-$2.capt"
    else
        echo "walk_corpus: $1: no capture of stacks.py" >&2
        status=1
    fi
    stop
}

capture_web() { # PYTHON LABEL
    start "$1" tests/targets/web_target.py
    local port=${ready#READY wsgi=}
    port=${port%% *}
    if [ "${ready#READY }" = "$ready" ]; then
        echo "walk_corpus: $1: web_target.py did not start" >&2
        status=1
        stop
        return
    fi
    # Back-to-back requests for /w/slow (20 ms of CPU each), so that a request
    # is in flight at most moments; a few tries catch one.
    /usr/bin/python3 -c '
import sys, time, urllib.request
end = time.time() + 20
while time.time() < end:
    urllib.request.urlopen("http://127.0.0.1:%s/w/slow" % sys.argv[1]).read()
' "$port" 2>/dev/null &
    local load=$! ok=0
    sleep 0.5
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        if "$TOOL" "$target" "$OUT/web-$2.capt" 2>&1 | grep -q "endpoint: GET /w/slow"; then
            ok=1
            break
        fi
        sleep 0.2
    done
    kill "$load" 2>/dev/null || true
    wait "$load" 2>/dev/null || true
    stop
    if [ "$ok" = 1 ]; then
        echo "walk_corpus: $OUT/web-$2.capt"
    else
        rm -f "$OUT/web-$2.capt"
        echo "walk_corpus: $1: no capture caught a request to /w/slow" >&2
        status=1
    fi
}

capture_tasks() { # PYTHON LABEL [--pure]
    local name="tasks-$2${3:+-pure}"
    start "$1" tests/targets/tasks_tree.py --workers 8 --loops 2 ${3:-}
    if [ "$ready" = "READY $target" ] && "$TOOL" --tasks "$target" "$OUT/$name.capt"; then
        echo "walk_corpus: $OUT/$name.capt"
    else
        echo "walk_corpus: $1: no capture of tasks_tree.py ${3:-}" >&2
        status=1
    fi
    stop
}

# pyenv's own (bin/python) and those built from source (bin/python3; X.Y.Zt
# free-threaded), Debian's, and Debian sid's run through their loader
# (tools/sid_pythons.sh).
for py in /root/.pyenv/versions/*/bin/python /root/.pyenv/versions/*/bin/python3 \
    /usr/bin/python3 "$B"/sid/python3.*; do
    [ -x "$py" ] || continue
    case $py in */bin/python3) [ -x "${py%3}" ] && continue ;; esac
    label=$("$py" -c 'import sys, sysconfig
print("%d.%d.%d%s" % (sys.version_info[:3] + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "",)))')
    case $py in
    /usr/bin/python3) label="debian-$label" ;;
    "$B"/sid/*) label="debian-sid-$label" ;;
    esac
    # shellcheck disable=SC2053 # the pattern is a glob
    [[ $label == ${1:-*} ]] || continue
    capture_stacks "$py" "$label"
    capture_web "$py" "$label"
    # asyncio's tasks are read from 3.6 to 3.13 (3.14 keeps them in per-thread lists)
    if "$py" -c 'import sys; sys.exit(not (3, 6) <= sys.version_info[:2] <= (3, 13))'; then
        capture_tasks "$py" "$label"
        capture_tasks "$py" "$label" --pure
    fi
done
exit $status
