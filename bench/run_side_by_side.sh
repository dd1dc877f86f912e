#!/usr/bin/env bash
# run_side_by_side.sh - tconv and the CPU peers (oneDNN, XNNPACK, PyTorch from Debian) on the
# same shape suite, interleaved in one run on this machine, printed as one table.
#
# usage: bash bench/run_side_by_side.sh [--shapes a,b,...] [--runs N] [--budget SECONDS]
#                                       [--out DIR] [--no-install]
#   --shapes     subset of bench/shapes.txt ids (default: all)
#   --runs N     whole-suite repetitions (default 2); the table keeps each cell's lowest
#                per-run median (host contention only ever slows a run down)
#   --budget     seconds of timed calls per cell (default 0.4)
#   --out DIR    results folder (default build-bench/)
#   --no-install do not apt-get the peers (they must already be installed)
# Bench-only dependencies (never the library's): libdnnl-dev libxnnpack-dev libpthreadpool-dev
# libopenblas-dev python3-torch python3-numpy.  Peers' harness: ../shared/bench-peers (copied;
# override with PEERS_SRC=DIR).  Forward pass only, 1 and 2 threads; 1-thread runs pinned to
# CPU 0.  The FMA peak is measured in the same run by the peers' peak.c.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SRC=${PEERS_SRC:-$ROOT/../shared/bench-peers}
OUT=$ROOT/build-bench
RUNS=2
SHAPES=""
BUDGET=0.4
INSTALL=1
while [ $# -gt 0 ]; do
    case "$1" in
        --shapes) SHAPES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
export BENCH_BUDGET=$BUDGET
PKGS="build-essential pkg-config libdnnl-dev libxnnpack-dev libpthreadpool-dev libopenblas-dev python3-torch python3-numpy"
if [ "$INSTALL" = 1 ] && ! dpkg -s $PKGS >/dev/null 2>&1; then
    echo "== installing the peers (bench-only): $PKGS" >&2
    apt-get install -y $PKGS >&2
fi
PY=/usr/bin/python3

# ---------------------------------------------------------------- build
mkdir -p "$OUT/peers"
cp "$PEERS_SRC"/*.c "$PEERS_SRC"/*.h "$PEERS_SRC"/*.py "$OUT/peers/"
cp "$ROOT/bench/shapes.txt" "$OUT/shapes.txt"
P=$OUT/peers
CFLAGS="-O2 -march=native -Wall -Wno-unused-function"
gcc -O3 -march=native -fno-tree-loop-distribute-patterns -pthread "$P/peak.c" -o "$P/peak"
gcc $CFLAGS -fopenmp "$P/onednn_deconv.c" -o "$P/onednn_deconv" -ldnnl -lm
gcc $CFLAGS "$P/xnnpack_deconv.c" -o "$P/xnnpack_deconv" -lXNNPACK -lpthreadpool -lm
make -C "$ROOT" -s BUILD="$OUT/tconv-build" "$OUT/tconv-build/tconv" >&2
TCONV=$OUT/tconv-build/tconv

SEL=()
[ -n "$SHAPES" ] && SEL=(--shapes "$SHAPES")
TSEL=()
[ -n "$SHAPES" ] && TSEL=(--only "$SHAPES")
one_t() { taskset -c 0 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$@"; }
two_t() { env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$@"; }
S=$OUT/shapes.txt
for r in $(seq 1 "$RUNS"); do
    D=$OUT/run$r
    mkdir -p "$D"
    : > "$D/results.csv"
    echo "== run $r: peak" >&2
    "$P/peak" > "$D/peak.csv"
    echo "== run $r: tconv" >&2
    "$TCONV" bench --shapes "$S" "${TSEL[@]}" --threads 2 --csv >> "$D/results.csv"
    one_t "$TCONV" bench --shapes "$S" "${TSEL[@]}" --threads 1 --csv >> "$D/results.csv"
    echo "== run $r: oneDNN" >&2
    two_t "$P/onednn_deconv" "$S" "${SEL[@]}" --passes fwd >> "$D/results.csv"
    one_t "$P/onednn_deconv" "$S" "${SEL[@]}" --passes fwd >> "$D/results.csv"
    echo "== run $r: XNNPACK" >&2
    "$P/xnnpack_deconv" "$S" "${SEL[@]}" --threads 2 >> "$D/results.csv"
    one_t "$P/xnnpack_deconv" "$S" "${SEL[@]}" --threads 1 >> "$D/results.csv"
    echo "== run $r: torch" >&2
    two_t env OMP_WAIT_POLICY=PASSIVE "$PY" "$P/torch_deconv.py" "$S" "${SEL[@]}" --passes fwd >> "$D/results.csv" || echo "torch failed" >&2
    one_t env OMP_WAIT_POLICY=PASSIVE "$PY" "$P/torch_deconv.py" "$S" "${SEL[@]}" --passes fwd >> "$D/results.csv" || echo "torch failed" >&2
    echo "== run $r: tconv again (interleaved)" >&2
    "$TCONV" bench --shapes "$S" "${TSEL[@]}" --threads 2 --csv >> "$D/results.csv"
    one_t "$TCONV" bench --shapes "$S" "${TSEL[@]}" --threads 1 --csv >> "$D/results.csv"
done
"$PY" "$ROOT/bench/side_by_side.py" "$OUT" | tee "$OUT/table.md"
