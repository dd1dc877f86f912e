#!/bin/sh
# Fills the package-file templates in packaging/*.in for one install layout and writes them to
# OUTDIR: tconv.pc, tconvConfig.cmake, tconvConfigVersion.cmake, tconvTargets.cmake.
# Called by `make install` (packaging/install.mk) with the layout in the environment:
#   PREFIX LIBDIR INCLUDEDIR CMAKEDIR VERSION SOVERSION LIBS SIZEOF_VOID_P
# The .pc file holds absolute paths (pkg-config's convention; staged installs are read with
# PKG_CONFIG_SYSROOT_DIR).  The CMake files hold paths relative to their own directory when
# LIBDIR, INCLUDEDIR and CMAKEDIR are under PREFIX, so a staged or moved tree still works.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
here=$(dirname "$0")
for v in PREFIX LIBDIR INCLUDEDIR CMAKEDIR VERSION SOVERSION SIZEOF_VOID_P; do
  eval "val=\${$v:-}"
  [ -n "$val" ] || { echo "configure-files: $v is empty" >&2; exit 1; }
done
LIBS=${LIBS:-}
case $VERSION in
  *[!0-9.]* | .* | *. | *..*) echo "configure-files: bad VERSION '$VERSION'" >&2; exit 1 ;;
esac

# DIR relative to PREFIX, or DIR itself (absolute) when it lies elsewhere.
from_prefix() {
  case $1 in
    "$PREFIX") echo "." ;;
    "$PREFIX"/*) echo "${1#"$PREFIX"/}" ;;
    *) echo "$1" ;;
  esac
}
# DIR for the .pc file: ${prefix}/... under PREFIX, so --define-variable=prefix=... relocates.
pc_dir() {
  case $1 in
    "$PREFIX") echo '${prefix}' ;;
    "$PREFIX"/*) echo '${prefix}/'"${1#"$PREFIX"/}" ;;
    *) echo "$1" ;;
  esac
}
cmake_rel=$(from_prefix "$CMAKEDIR")
case $cmake_rel in
  /*) cmakedir_to_prefix=$PREFIX ;; # CMAKEDIR outside PREFIX: fall back to absolute paths
  .) cmakedir_to_prefix=. ;;
  *) cmakedir_to_prefix=$(echo "$cmake_rel" | sed 's|[^/][^/]*|..|g') ;;
esac
# CMake list of link items for the static archive: "-lm;-lpthread;-lpng16;..."
static_libs=$(echo $LIBS | tr ' ' ';')

# Escapes a value for the right-hand side of a sed s||| command.
sed_rhs() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

mkdir -p "$out"
for t in tconv.pc tconvConfig.cmake tconvConfigVersion.cmake tconvTargets.cmake; do
  sed -e "s|@PREFIX@|$(sed_rhs "$PREFIX")|g" \
      -e "s|@LIBDIR@|$(sed_rhs "$LIBDIR")|g" \
      -e "s|@INCLUDEDIR@|$(sed_rhs "$INCLUDEDIR")|g" \
      -e "s|@VERSION@|$VERSION|g" \
      -e "s|@SOVERSION@|$SOVERSION|g" \
      -e "s|@SIZEOF_VOID_P@|$SIZEOF_VOID_P|g" \
      -e "s|@LIBS_PRIVATE@|$(sed_rhs "$LIBS")|g" \
      -e "s|@STATIC_LINK_LIBRARIES@|$(sed_rhs "$static_libs")|g" \
      -e "s|@CMAKEDIR_TO_PREFIX@|$(sed_rhs "$cmakedir_to_prefix")|g" \
      -e "s|@PC_LIBDIR@|$(sed_rhs "$(pc_dir "$LIBDIR")")|g" \
      -e "s|@PC_INCLUDEDIR@|$(sed_rhs "$(pc_dir "$INCLUDEDIR")")|g" \
      -e "s|@LIBDIR_FROM_PREFIX@|$(sed_rhs "$(from_prefix "$LIBDIR")")|g" \
      -e "s|@INCLUDEDIR_FROM_PREFIX@|$(sed_rhs "$(from_prefix "$INCLUDEDIR")")|g" \
      "$here/$t.in" >"$out/$t.tmp"
  if grep -n '@[A-Z_]*@' "$out/$t.tmp" >&2; then
    echo "configure-files: unfilled placeholder in $t" >&2
    exit 1
  fi
  mv "$out/$t.tmp" "$out/$t"
done
