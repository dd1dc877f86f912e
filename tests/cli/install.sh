#!/bin/sh
# `make install` into a staged prefix (DESTDIR + PREFIX), then use the installed copy the way
# another project would: build packaging/consumer/main.c through pkg-config and through CMake's
# find_package(tconv) (tconv::tconv and tconv::tconv_static), run them, read the man pages
# with man -M, check the shared library's names and exports, and uninstall.
# The consumer runs the seed's 28x28x1 -> 56x56x32 layer on all-ones input and kernel; its
# numbers are checked against the count of (input, tap) pairs computed here independently.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${TCONV_BUILD:-build}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description command...
  d=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then ok; else bad "$d"; sed 's/^/    /' "$tmp/out" | head -n 20; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A sanitizer build's library needs the sanitizer runtime in every program linked to it; the
# consumer builds here are plain, so the install is only tested on ordinary builds.
if nm "$BUILD/libtconv.a" 2>/dev/null | grep -q '__asan_init\|__ubsan_handle'; then
  echo "install: $BUILD is a sanitizer build; the install test runs on ordinary builds"
  echo "install: 0 passed, 0 failed"
  exit 0
fi

stage=$tmp/stage
prefix=/opt/tconv-test
root=$stage$prefix
version=$(sed -n 's/^#define TCONV_VERSION_STRING "\(.*\)"$/\1/p' include/tconv.h)
major=$(sed -n 's/^#define TCONV_VERSION_MAJOR \([0-9]*\)$/\1/p' include/tconv.h)

# ---- install -------------------------------------------------------------------------------
if ! ${MAKE:-make} -s BUILD="$BUILD" DESTDIR="$stage" PREFIX="$prefix" install >"$tmp/make.log" 2>&1; then
  bad "make install"
  tail -n 30 "$tmp/make.log"
  echo "install: $pass passed, $fail failed"
  exit 1
fi
ok
# Everything lands under DESTDIR/PREFIX and nothing else under DESTDIR.
check "nothing installed outside PREFIX" sh -c "
  cd '$stage' && find . -type f -o -type l | grep -v '^\\.$prefix/' && exit 1 || exit 0"
for f in bin/tconv include/tconv.h lib/libtconv.a "lib/libtconv.so.$version" \
  lib/pkgconfig/tconv.pc lib/cmake/tconv/tconvConfig.cmake \
  lib/cmake/tconv/tconvConfigVersion.cmake lib/cmake/tconv/tconvTargets.cmake \
  share/man/man1/tconv.1 share/man/man1/tconv-apply.1; do
  check "installed $f" test -f "$root/$f" -a -s "$root/$f"
done
check "libtconv.so.$major -> libtconv.so.$version" \
  test "$(readlink "$root/lib/libtconv.so.$major")" = "libtconv.so.$version"
check "libtconv.so -> libtconv.so.$major" test "$(readlink "$root/lib/libtconv.so")" = "libtconv.so.$major"
check "soname libtconv.so.$major" sh -c \
  "readelf -d '$root/lib/libtconv.so.$version' | grep -q 'SONAME.*\\[libtconv\\.so\\.$major\\]'"
# DESTDIR is a staging area: the files must name PREFIX, never the stage.
check "no DESTDIR path in the package files" sh -c \
  "! grep -rl '$stage' '$root/lib/pkgconfig' '$root/lib/cmake' '$root/share/man'"
check "tconv.pc names PREFIX" grep -qx "prefix=$prefix" "$root/lib/pkgconfig/tconv.pc"
check "installed tool runs" sh -c "'$root/bin/tconv' --version | grep -qx 'tconv $version'"

# ---- only tconv_* exported -----------------------------------------------------------------
nm -D --defined-only "$root/lib/libtconv.so.$version" | awk 'NF >= 3 { print $3 }' >"$tmp/syms"
check "exports some symbols" test "$(wc -l <"$tmp/syms")" -gt 50
check "exports only tconv_* symbols" sh -c "! grep -v '^tconv_' '$tmp/syms'"
check "exports tconv_layer_forward" grep -qx tconv_layer_forward "$tmp/syms"

# ---- what the consumer must print ----------------------------------------------------------
# Per axis (I = 28, k = 3, s = 2, SAME: O = 56, crop 0 at the start): output o is reached by
# the taps t with (o - t) even and 0 <= (o - t) / 2 < I.  All ones: y = count_h * count_w.
counts=$(awk 'BEGIN { for (o = 0; o < 56; o++) { n = 0
  for (t = 0; t < 3; t++) if ((o - t) >= 0 && (o - t) % 2 == 0 && (o - t) / 2 < 28) n++
  printf "%d ", n } }')
expect=$(echo "$counts" | awk -v v="$version" '{ s = 0; for (i = 1; i <= NF; i++) s += $i
  printf "tconv %s: (1, 28, 28, 1) -> (1, 56, 56, 32) sum %d y[0,0,0,0] %d y[0,1,1,5] %d ", v,
    s * s * 32, $1 * $1, $2 * $2
  printf "y[0,2,2,31] %d y[0,55,55,0] %d\n", $3 * $3, $56 * $56 }')

# ---- pkg-config ----------------------------------------------------------------------------
# PKG_CONFIG_SYSROOT_DIR reads a staged install: it prefixes the .pc file's paths with DESTDIR.
pc() { PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_LIBDIR= \
  pkg-config "$@"; }
check "pkg-config --modversion" test "$(pc --modversion tconv)" = "$version"
check "pkg-config --cflags" test "$(pc --cflags tconv | tr -d ' ')" = "-I$root/include"
if cc -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer_pc" packaging/consumer/main.c \
  $(pc --cflags --libs tconv) >"$tmp/cc.log" 2>&1; then
  ok
  check "pkg-config build links the installed libtconv.so.$major" sh -c \
    "LD_LIBRARY_PATH='$root/lib' ldd '$tmp/consumer_pc' | grep -q 'libtconv.so.$major => $root/lib/'"
  got=$(LD_LIBRARY_PATH="$root/lib" "$tmp/consumer_pc" 2>&1)
  check "pkg-config build runs the seed example: $got" test "$got" = "$expect"
else
  bad "cc with pkg-config --cflags --libs tconv"
  cat "$tmp/cc.log"
fi

# ---- CMake ---------------------------------------------------------------------------------
# The CMake files locate the prefix from their own directory, so the staged tree is found as is.
if command -v cmake >/dev/null; then
  if cmake -S packaging/consumer -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$root" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1; then
    ok
    got=$("$tmp/cmake/consumer" 2>&1)
    check "find_package(tconv) -> tconv::tconv runs the seed example: $got" test "$got" = "$expect"
    check "tconv::tconv links the installed libtconv.so.$major" sh -c \
      "ldd '$tmp/cmake/consumer' | grep -q 'libtconv.so.$major => $root/lib/'"
    got=$("$tmp/cmake/consumer_static" 2>&1)
    check "tconv::tconv_static runs the seed example: $got" test "$got" = "$expect"
    check "tconv::tconv_static needs no libtconv.so" sh -c "! ldd '$tmp/cmake/consumer_static' | grep -q libtconv"
  else
    bad "cmake configure/build of packaging/consumer with find_package(tconv)"
    tail -n 30 "$tmp/cmake.log"
  fi
  # The version file: 0.0 and the exact version match; the next major and a newer minor do not.
  # Ranges (CMake >= 3.19) too.
  n=0
  for req in "$version:yes" "$major.0:yes" "$((major + 1)).0:no" "$major.999:no" \
    "$major.0...<$((major + 1)).0:yes" "$((major + 1)).0...$((major + 2)).0:no"; do
    v=${req%:*}
    want=${req#*:}
    n=$((n + 1))
    d=$tmp/v/$n
    mkdir -p "$d"
    printf 'cmake_minimum_required(VERSION 3.19)\nproject(v NONE)\nfind_package(tconv %s QUIET)\nif(NOT tconv_FOUND)\n  message(FATAL_ERROR "not found")\nendif()\n' "$v" \
      >"$d/CMakeLists.txt"
    if cmake -S "$d" -B "$d/b" -DCMAKE_PREFIX_PATH="$root" >/dev/null 2>&1; then
      got=yes
    else
      got=no
    fi
    check "find_package(tconv $v) found: $want" test "$got" = "$want"
  done
else
  bad "cmake is not installed (scripts/setup-debian.sh lists it)"
fi

# ---- man pages -----------------------------------------------------------------------------
if command -v man >/dev/null; then
  check "man -M PREFIX/share/man tconv" sh -c "MANWIDTH=80 MANPAGER=cat PAGER=cat \
    man -M '$root/share/man' tconv 2>&1 | grep -q 'tconv-apply(1)'"
  check "man -M PREFIX/share/man tconv-apply shows apply --help" sh -c "MANWIDTH=80 MANPAGER=cat \
    PAGER=cat man -M '$root/share/man' tconv-apply 2>&1 | grep -q -- '--kernel K.npy'"
else
  check "groff renders tconv.1" sh -c "groff -man -Tutf8 '$root/share/man/man1/tconv.1' | grep -q 'tconv-apply'"
fi
# One page per command of `tconv --help`, each without roff warnings.
for c in $("$root/bin/tconv" --help | sed -n 's/^  \([a-z][a-z0-9_-]*\)  .*/\1/p'); do
  check "man page for tconv $c" test -s "$root/share/man/man1/tconv-$c.1"
done
if command -v groff >/dev/null; then
  check "man pages format without warnings" sh -c "for f in '$root'/share/man/man1/*.1; do
    groff -k -man -Tutf8 -ww -z \"\$f\" 2>&1; done | grep . && exit 1 || exit 0"
fi

# ---- Python binding from the installed prefix ----------------------------------------------
pydir=$prefix/lib/python3/dist-packages
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  check "make install-python" ${MAKE:-make} -s BUILD="$BUILD" DESTDIR="$stage" PREFIX="$prefix" \
    install-python
  got=$(cd "$tmp" && env -u TCONV_LIBRARY PYTHONPATH="$stage$pydir" PYTHONDONTWRITEBYTECODE=1 \
    /usr/bin/python3 -c '
import os, numpy as np, tconv
from tconv import Conv2DTranspose
layer = Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding="same")
y = layer(np.ones((1, 28, 28, 1), np.float32))
print(os.path.realpath(tconv.library_path()), y.shape)' 2>&1)
  check "installed binding loads the installed library: $got" \
    test "$got" = "$root/lib/libtconv.so.$version (1, 56, 56, 32)"
  check "make uninstall-python" ${MAKE:-make} -s BUILD="$BUILD" DESTDIR="$stage" PREFIX="$prefix" \
    uninstall-python
else
  bad "/usr/bin/python3 with numpy is missing (scripts/setup-debian.sh installs python3-numpy)"
fi

# ---- uninstall -----------------------------------------------------------------------------
check "make uninstall" ${MAKE:-make} -s BUILD="$BUILD" DESTDIR="$stage" PREFIX="$prefix" uninstall
check "uninstall leaves no files" sh -c "! find '$stage' -type f -o -type l | grep ."

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
