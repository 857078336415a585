#!/bin/bash
# Installs Debian sid's python3.14 and python3.15 under build/sid/, for the e2e
# tests (tests/e2e/conftest.py runs every test on them too) and for
# tools/gen_layouts.py (with --dev: their headers as well).
#
#   bash tools/sid_pythons.sh [--dev]
#
# bookworm has no Python newer than 3.11, and these binaries need sid's glibc,
# so nothing is installed into the system: a private apt configuration
# (build/sid/apt/, sid's main archive only; the system's apt sources and
# dpkg database are not touched) downloads the .debs, dpkg-deb unpacks them
# into build/sid/root/, and build/sid/python3.X runs the interpreter through
# sid's own loader (ld-linux-x86-64.so.2 --library-path ...). So the process's
# /proc/PID/exe is the loader and python3.X is an ordinary mapped file, as
# with any interpreter started through a wrapper: spyglass must find the
# runtime there.
#
# Debian links libpython into the executable and builds 3.15 with the JIT
# compiled in (off unless PYTHON_JIT=1). A package sid no longer has, or a
# mirror that cannot be reached, leaves that interpreter out: the reason is
# written to build/sid/unavailable, and the tests skip it saying so.
# Measured here (make test's first run on a fresh clone): 15 MB of .debs and
# 63 MB of package index, 25 s; a run with everything there: 5 s, no network.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
SID=$B/sid
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
ROOTFS=$SID/root
APTDIR=$SID/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/parts" "$SID/debs"

# Runtime libraries the interpreters need from sid (glibc 2.43 and what
# python3.X-minimal links), then the interpreters and their standard library.
LIBS="libc6 libgcc-s1 libexpat1 libffi8 libzstd1 zlib1g"
PY314="python3.14-minimal libpython3.14-minimal libpython3.14-stdlib"
PY315="python3.15-minimal libpython3.15-minimal libpython3.15-stdlib"
[ $DEV = 1 ] && PY314="$PY314 libpython3.14-dev" && PY315="$PY315 libpython3.15-dev"

cat >"$APTDIR/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
EOF
cat >"$APTDIR/apt.conf" <<EOF
Dir::Etc::SourceList "$PWD/$APTDIR/sources.list";
Dir::Etc::SourceParts "$PWD/$APTDIR/parts";
Dir::Etc::Parts "$PWD/$APTDIR/parts";
Dir::State::Lists "$PWD/$APTDIR/lists";
Dir::Cache "$PWD/$APTDIR/cache";
Dir::State::status "/var/lib/dpkg/status";
Acquire::Languages "none";
// An unreachable mirror fails in seconds, not minutes.
Acquire::http::Timeout "20";
Acquire::Retries "1";
// sid's Release is valid for a week; a mirror or snapshot may be older. The
// signature is still checked.
Acquire::Check-Valid-Until "false";
APT::Architecture "amd64";
APT::Sandbox::User "root";
Dir::Cache::srcpkgcache "";
EOF
export APT_CONFIG=$PWD/$APTDIR/apt.conf

status=0
rm -f "$SID/unavailable"
unavailable() { # REASON: said here, and kept for the tests' skip reasons
    echo "sid_pythons: $1" >&2
    echo "$1" >>"$SID/unavailable"
}
missing() { # PACKAGE...: those not downloaded yet
    for p in "$@"; do
        ls "$SID/debs/${p}_"*.deb >/dev/null 2>&1 || echo "$p"
    done
}

# The package index is read only when a package is missing, and then
# refreshed once a day at most (sid changes daily).
# shellcheck disable=SC2086
if [ -n "$(missing $LIBS $PY314 $PY315)" ] &&
    [ -z "$(find "$APTDIR/lists" -name '*_Packages*' -mtime -1 2>/dev/null)" ]; then
    echo "sid_pythons: reading sid's package index"
    # apt-get update exits 0 when a mirror cannot be reached: the index says.
    apt-get -qq update 2>"$APTDIR/update.err"
    if [ -z "$(find "$APTDIR/lists" -name '*_Packages*' -mtime -1 2>/dev/null)" ]; then
        why=$(grep -m1 -o "Could not.*\|Failed to fetch.*" "$APTDIR/update.err" | cut -c1-120)
        unavailable "cannot read Debian sid's package index from deb.debian.org (${why:-offline?})"
        exit 1
    fi
fi

fetch() { # PACKAGE...: downloads into $SID/debs (kept: a rerun needs no network)
    local want
    want=$(missing "$@")
    [ -z "$want" ] && return 0
    # shellcheck disable=SC2086 # one word per package
    (cd "$SID/debs" && apt-get -qq download $want >/dev/null 2>&1) && return 0
    unavailable "$(echo "Debian sid lacks (or did not send) some of:" $want)"
    return 1
}

wrapper() { # VERSION: build/sid/pythonVERSION
    local v=$1 out=$SID/python$1
    cat >"$out.tmp" <<EOF
#!/bin/sh
# Debian sid's python$v, run on this machine through sid's loader and libraries
# (made by tools/sid_pythons.sh).
# --argv0 makes this script sys.executable, so that subprocesses and
# multiprocessing's children start through the loader too.
SELF=\$(readlink -f "\$0")
R=\$(dirname "\$SELF")/root
PYTHONHOME=\$R/usr exec "\$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --argv0 "\$SELF" \\
    --library-path "\$R/usr/lib/x86_64-linux-gnu" "\$R/usr/bin/python$v" "\$@"
EOF
    chmod +x "$out.tmp"
    mv "$out.tmp" "$out" # a test may be starting it right now
}

# One apt-get call for everything (each call parses sid's whole index); one
# per version only if that fails.
# shellcheck disable=SC2086
if ! fetch $LIBS $PY314 $PY315; then
    fetch $LIBS || exit 1
fi
for v in 3.14 3.15; do
    pkgs=PY${v/./}
    # shellcheck disable=SC2086
    if fetch ${!pkgs}; then
        wrapper $v
    else
        rm -f "$SID/python$v"
        status=1
    fi
done
# Unpacked again only when the set of .debs changed.
stamp=$(ls "$SID"/debs/*.deb)
if [ "$stamp" != "$(cat "$ROOTFS/.debs" 2>/dev/null)" ]; then
    rm -rf "$ROOTFS"
    mkdir -p "$ROOTFS"
    for deb in "$SID"/debs/*.deb; do
        dpkg-deb -x "$deb" "$ROOTFS"
    done
    echo "$stamp" >"$ROOTFS/.debs"
fi
for v in 3.14 3.15; do
    if [ -x "$SID/python$v" ] && "$SID/python$v" -c 'import threading, asyncio' 2>/dev/null; then
        echo "sid_pythons: $SID/python$v: $("$SID/python$v" -c 'import sys; print(sys.version.split()[0])')"
    elif [ -e "$SID/python$v" ]; then
        unavailable "$SID/python$v does not run here"
        rm -f "$SID/python$v"
        status=1
    fi
done
exit $status
