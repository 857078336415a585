#!/usr/bin/env bash
# tools/otelcol.sh: the OpenTelemetry Collector that `spyglass agent --otlp`
# is tested against, built from tools/otelcol/ (our own small distribution:
# the OTLP receiver and the file exporter, at one collector release, all
# from the Go module proxy) into build/otelcol/otelcol.
#
#   tools/otelcol.sh build        build it (skipped when up to date); errors are one line
#   tools/otelcol.sh background   start `build` in the background (make test does, at its
#                                 start, so the download and compile overlap lint and unit)
#   tools/otelcol.sh wait         wait for a background build; build now if none ran
#
# Caches live under build/ (GOMODCACHE build/gomodcache, GOCACHE build/gocache),
# so a second build takes seconds and `make clean` removes everything.
# Measured on the 2-core machine, load average 19-33: cold 13.5 min wall,
# 143 s user + 31 s sys CPU, 448 MB modules + 538 MB build cache; warm 3.5 s.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mod=$here/otelcol
out=$root/build/otelcol
bin=$out/otelcol
log=$out/build.log
rcfile=$out/build.rc

die() { echo "otelcol.sh: $*" >&2; exit 1; }

find_go() {
    local g
    for g in /usr/local/go/bin/go "$(command -v go 2>/dev/null)"; do
        [ -n "$g" ] && [ -x "$g" ] || continue
        # The collector's modules want Go 1.26 (tools/otelcol/go.mod).
        if "$g" version 2>/dev/null | grep -Eq 'go1\.(2[6-9]|[3-9][0-9])'; then
            echo "$g"
            return 0
        fi
    done
    return 1
}

build() {
    local go
    go=$(find_go) || die "no Go 1.26 or newer (looked at /usr/local/go/bin/go and go in PATH)"
    if [ -x "$bin" ] && [ -z "$(find "$mod" -newer "$bin" -type f 2>/dev/null)" ]; then
        return 0
    fi
    mkdir -p "$out" || die "cannot create $out"
    if ! (cd "$mod" && GOMODCACHE="$root/build/gomodcache" GOCACHE="$root/build/gocache" \
            GOFLAGS="-p=2 -mod=readonly -modcacherw -buildvcs=false -trimpath" \
            GOTOOLCHAIN=local "$go" build -o "$bin.tmp" .) >"$log" 2>&1; then
        die "build failed: $(grep -v '^go: downloading' "$log" | head -1) (log: $log)"
    fi
    mv -f "$bin.tmp" "$bin" || die "cannot write $bin"
}

case "${1:-}" in
build)
    build
    ;;
background)
    mkdir -p "$out" || die "cannot create $out"
    rm -f "$rcfile"
    (build >"$out/background.err" 2>&1; echo $? >"$rcfile") </dev/null >/dev/null 2>&1 &
    ;;
wait)
    if [ -e "$out/background.err" ] && [ ! -e "$rcfile" ]; then
        echo "otelcol.sh: waiting for the collector's build (tools/otelcol, started with make test)" >&2
        while [ ! -e "$rcfile" ]; do sleep 1; done
    fi
    if [ -e "$rcfile" ] && [ "$(cat "$rcfile")" != 0 ]; then
        cat "$out/background.err" >&2
        exit 1
    fi
    build
    ;;
*)
    die "usage: $0 build | background | wait"
    ;;
esac
