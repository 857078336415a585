#!/bin/bash
# Builds a CPython from its source into pyenv's directory, where the e2e tests
# (tests/e2e/conftest.py) and tools/gen_layouts.py look for interpreters that no
# package here provides: 3.14 and the free-threaded 3.13t and 3.14t.
#
#   bash tools/build_python.sh SRC [--disable-gil]
#
# SRC is a CPython source tree or release tarball (Python-3.14.7.tar.xz from
# python.org, or a checkout of a release tag of python/cpython); nothing is
# downloaded here. The result goes to ~/.pyenv/versions/X.Y.Z (X.Y.Zt with
# --disable-gil: a free-threaded build), a static libpython with symbols.
# Optional modules whose -dev packages are missing (gdbm, mpdecimal, zstd) are
# left out; the tests need none of them.
#
# Too slow for `make test` on a fresh machine: measured on this 2-core VM,
# 6.5 min for 3.14.7, 6.8 min for 3.13.15t, 16.5 min for 3.14.7t while other
# builds ran. `make test` installs Debian sid's 3.14 and 3.15 instead
# (tools/sid_pythons.sh); these builds add the free-threaded legs.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 SRC [--disable-gil]" >&2; exit 2; }
SRC=$1
GIL=${2:-}
PYENV=${PYENV_ROOT:-$HOME/.pyenv}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ -f "$SRC" ]; then
    tar -xf "$SRC" -C "$WORK"
    SRC=$(find "$WORK" -maxdepth 2 -name configure -printf '%h\n' | head -1)
fi
[ -x "$SRC/configure" ] || chmod +x "$SRC/configure" "$SRC"/install-sh "$SRC"/config.* 2>/dev/null || true
VERSION=$(sed -n 's/^#define PY_VERSION[[:space:]]*"\([0-9.]*\)".*/\1/p' "$SRC/Include/patchlevel.h")
[ -n "$VERSION" ] || { echo "build_python: no Include/patchlevel.h in $SRC" >&2; exit 1; }
SUFFIX=""
[ "$GIL" = "--disable-gil" ] && SUFFIX=t
PREFIX=$PYENV/versions/$VERSION$SUFFIX
echo "build_python: CPython $VERSION$SUFFIX into $PREFIX"
mkdir -p "$WORK/build"
cd "$WORK/build"
"$SRC/configure" --prefix="$PREFIX" ${GIL:+"$GIL"} >configure.log 2>&1 ||
    { tail -20 configure.log >&2; exit 1; }
make -j2 >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
make install >install.log 2>&1 || { tail -20 install.log >&2; exit 1; }
"$PREFIX/bin/python${VERSION%.*}$SUFFIX" -c 'import sys; print("build_python:", sys.version)'
