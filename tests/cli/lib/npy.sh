# Sourced by the CLI tests: npy FILE SHAPE-TEXT FLOAT-BYTES... writes a float32 little-endian .npy
# with numpy's header layout (no numpy needed), e.g. npy x.npy "(2,)" '\000\000\200\077' ...
npy() {
  f=$1
  shape=$2
  shift 2
  hdr="{'descr': '<f4', 'fortran_order': False, 'shape': $shape, }"
  len=${#hdr}
  pad=$(( (64 - (10 + len + 1) % 64) % 64 ))
  total=$((len + pad + 1))
  {
    printf '\223NUMPY\001\000'
    printf "\\$(printf %03o $((total % 256)))\\$(printf %03o $((total / 256)))"
    printf '%s' "$hdr"
    printf "%${pad}s" ""
    printf '\n'
    for v in "$@"; do printf "$v"; done
  } >"$f"
}
