#!/bin/sh
# Regenerates src/models/upsample_weights.c, the default `tconv upsample` filters: learned with
# tconv's own training code (tconv upsample --train) from the CC0/public-domain photographs in
# data/photos/train/ (see data/photos/PROVENANCE.md), one filter per scale (kernel 4 x scale),
# then evaluated on data/photos/heldout/, which training never sees.
#   make && sh scripts/train-upsample.sh [build/tconv]
set -e
T=${1:-build/tconv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in 2 3 4; do
  "$T" upsample --train data/photos/train --scale "$s" --kernel $((4 * s)) --steps 3000 \
    --patch $((48 / s)) --seed 7 --out "$tmp/scale$s.safetensors"
done
"$T" upsample --export-c "$tmp/scale2.safetensors" "$tmp/scale3.safetensors" \
  "$tmp/scale4.safetensors" | sed "s|$tmp/||" > src/models/upsample_weights.c
for s in 2 3 4; do
  "$T" upsample --eval data/photos/heldout --scale "$s" --weights "$tmp/scale$s.safetensors"
done
