#!/bin/sh
# Compares the symbols a built libtconv.so exports with the committed list abi/tconv.symbols,
# so that every change to the public surface is a deliberate one.
#   sh scripts/check-abi.sh build/libtconv.so            check (exit 1 on any difference)
#   sh scripts/check-abi.sh --update build/libtconv.so   rewrite the list (make abi-update)
# The list holds one "NAME KIND" line per exported symbol (KIND: function or object), sorted.
# What it can say:
#   added     a new public symbol: fine within a major version; run `make abi-update`, commit
#             abi/tconv.symbols and note the addition in CHANGELOG.md.
#   removed   a symbol callers may link against is gone: an ABI break.  Either keep it, or
#             bump TCONV_VERSION_MAJOR (the soname) and then run `make abi-update`.
#   changed   a symbol changed kind (function <-> object): an ABI break, as above.
#   foreign   an exported symbol outside the tconv_ namespace: a missing `static` or a
#             TCONV_API on the wrong declaration; never acceptable, --update refuses it too.
#   undefined a TCONV_API function of include/tconv.h that the library does not define (a
#             program calling it would not link); --update refuses it too.
# A symbol list cannot see struct layouts or signatures: a change to a public struct is an ABI
# break that this check does not catch (the Python binding's test checks its mirrored layouts).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
list=${TCONV_ABI_LIST:-$here/abi/tconv.symbols}
update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
[ $# -eq 1 ] || { echo "usage: $0 [--update] path/to/libtconv.so" >&2; exit 2; }
lib=$1
[ -f "$lib" ] || { echo "check-abi: no library at $lib (build it first: make)" >&2; exit 2; }
command -v nm >/dev/null || { echo "check-abi: nm not found (binutils)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# nm -D --defined-only: "ADDRESS TYPE NAME"; T/t/W/i are code, D/B/R/V/G/S data.
nm -D --defined-only "$lib" | awk '
  NF >= 3 {
    kind = ($2 ~ /^[TtWwi]$/) ? "function" : "object"
    print $3, kind
  }' | LC_ALL=C sort -u >"$tmp/now"
[ -s "$tmp/now" ] || { echo "check-abi: $lib exports nothing" >&2; exit 1; }

grep -v '^tconv_' "$tmp/now" >"$tmp/foreign" || true
if [ -s "$tmp/foreign" ]; then
  echo "check-abi: $lib exports symbols outside the tconv_ namespace:"
  sed 's/^/  foreign  /' "$tmp/foreign"
  echo "Make them static, or move them out of TCONV_API; the library must export only tconv_*."
  exit 1
fi

# Every function tconv.h declares with TCONV_API must be exported, or callers get link errors.
header=$here/include/tconv.h
tr '\n' ' ' <"$header" | grep -o 'TCONV_API [^;()#]*(' | grep -o 'tconv_[a-z0-9_]* *($' \
  | tr -d ' (' | LC_ALL=C sort -u >"$tmp/declared"
cut -d' ' -f1 "$tmp/now" | LC_ALL=C comm -23 "$tmp/declared" - >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
  echo "check-abi: include/tconv.h declares functions that $lib does not export:"
  sed 's/^/  undefined  /' "$tmp/missing"
  echo "Define them (and mark the definition's declaration TCONV_API), or drop the declaration."
  exit 1
fi

if [ "$update" -eq 1 ]; then
  {
    echo "# Exported symbols of libtconv.so (NAME KIND), checked by scripts/check-abi.sh."
    echo "# Regenerate with 'make abi-update' only for a deliberate change of the public API."
    cat "$tmp/now"
  } >"$list.tmp"
  mv "$list.tmp" "$list"
  echo "check-abi: wrote $(wc -l <"$tmp/now") symbols to $list"
  exit 0
fi

[ -f "$list" ] || { echo "check-abi: no committed list $list (make abi-update)" >&2; exit 2; }
grep -v '^#' "$list" | LC_ALL=C sort -u >"$tmp/want"
# Names only, to tell an addition or removal from a change of kind.
cut -d' ' -f1 "$tmp/now" >"$tmp/now.names"
cut -d' ' -f1 "$tmp/want" >"$tmp/want.names"
LC_ALL=C comm -13 "$tmp/want.names" "$tmp/now.names" >"$tmp/added"
LC_ALL=C comm -23 "$tmp/want.names" "$tmp/now.names" >"$tmp/removed"
LC_ALL=C comm -3 "$tmp/want" "$tmp/now" | tr -d '\t' | cut -d' ' -f1 | LC_ALL=C sort -u \
  | LC_ALL=C comm -23 - "$tmp/added" | LC_ALL=C comm -23 - "$tmp/removed" >"$tmp/changed"

n_now=$(wc -l <"$tmp/now")
if [ ! -s "$tmp/added" ] && [ ! -s "$tmp/removed" ] && [ ! -s "$tmp/changed" ]; then
  echo "check-abi: $lib exports the $n_now committed symbols, nothing more or less"
  exit 0
fi
echo "check-abi: the exported symbols of $lib differ from $list:"
sed 's/^/  added    /' "$tmp/added"
sed 's/^/  removed  /' "$tmp/removed"
sed 's/^/  changed  /' "$tmp/changed"
if [ -s "$tmp/removed" ] || [ -s "$tmp/changed" ]; then
  echo "Removed or changed symbols break programs linked against libtconv.so.$(
    sed -n 's/^#define TCONV_VERSION_MAJOR \([0-9]*\).*/\1/p' "$here/include/tconv.h")."
  echo "Keep them, or bump TCONV_VERSION_MAJOR in include/tconv.h, then run make abi-update."
fi
if [ -s "$tmp/added" ]; then
  echo "Additions are compatible: if they are meant to be public, run make abi-update, commit"
  echo "abi/tconv.symbols and list them in CHANGELOG.md."
fi
exit 1
