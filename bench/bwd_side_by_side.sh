#!/usr/bin/env bash
# bwd_side_by_side.sh - tconv's backward passes next to oneDNN and PyTorch, interleaved in one
# run, printed as one table (shape, pass, threads, tconv ms, best peer ms and which, ratio).
#
# usage: bash bench/bwd_side_by_side.sh [--shapes a,b] [--threads 1,2] [--budget S]
#                                       [--passes bwd_d,bwd_w] [--out DIR]
# Needs a tconv build in $BUILD (default build/; `make BUILD=...` first) and the peers from
# Debian: libdnnl-dev python3-torch.  ms = median of the timed calls; every peer variant is
# timed (oneDNN plain / nhwc+anyW / blocked, torch NCHW / channels_last) and the best counts.
# 1-thread runs are pinned to CPU 0.  The box is shared: compare only within one run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SRC=${PEERS_SRC:-$ROOT/../shared/bench-peers}
BUILD=${BUILD:-$ROOT/build}
OUT=$ROOT/build-bench-bwd
SHAPES="" THREADS="1,2" BUDGET=0.4 PASSES="bwd_d,bwd_w"
while [ $# -gt 0 ]; do
    case "$1" in
        --shapes) SHAPES=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --budget) BUDGET=$2; shift 2 ;;
        --passes) PASSES=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done
export BENCH_BUDGET=$BUDGET
mkdir -p "$OUT/peers"
cp "$PEERS_SRC"/*.c "$PEERS_SRC"/*.h "$PEERS_SRC"/*.py "$OUT/peers/"
P=$OUT/peers
gcc -O2 -march=native -Wall -Wno-unused-function -fopenmp "$P/onednn_deconv.c" -o "$P/onednn_deconv" -ldnnl -lm
LIBS=$(pkg-config --libs libpng libjpeg zlib libcjson snappy libzip 2>/dev/null || true)
cc -O2 -I"$ROOT/include" "$ROOT/bench/bwd_timing.c" "$BUILD/libtconv.a" -lm -lpthread $LIBS \
   -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -o "$OUT/bwd_timing"
SEL=()
[ -n "$SHAPES" ] && SEL=(--shapes "$SHAPES")
CSV=$OUT/results.csv
: > "$CSV"
for t in ${THREADS//,/ }; do
    if [ "$t" = 1 ]; then pin=(taskset -c 0); else pin=(); fi
    run() { "${pin[@]}" env OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE "$@"; }
    echo "== $t thread(s): tconv, oneDNN, torch, tconv" >&2
    run "$OUT/bwd_timing" "$ROOT/bench/shapes.txt" "${SEL[@]}" --passes "$PASSES" --threads "$t" >> "$CSV"
    run "$P/onednn_deconv" "$ROOT/bench/shapes.txt" "${SEL[@]}" --passes "$PASSES" >> "$CSV"
    run /usr/bin/python3 "$P/torch_deconv.py" "$ROOT/bench/shapes.txt" "${SEL[@]}" --passes "$PASSES" >> "$CSV" 2>/dev/null
    run "$OUT/bwd_timing" "$ROOT/bench/shapes.txt" "${SEL[@]}" --passes "$PASSES" --threads "$t" >> "$CSV"
done
/usr/bin/python3 - "$CSV" <<'PY'
import sys, collections
best = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) < 8 or f[0] != "RESULT" or f[7] == "nan":
        continue
    who, var, sid, name, ps, thr, ms = f[1], f[2], f[3], f[4], f[5], int(f[6]), float(f[7])
    key = (sid, name, ps, thr)
    side = "tconv" if who == "tconv" else "peer"
    cur = best.setdefault(key, {})
    if side not in cur or ms < cur[side][0]:
        cur[side] = (ms, f"{who} {var}")
print("| shape | pass | threads | tconv ms | best peer ms | peer | ratio (peer/tconv, >1 = tconv faster) |")
print("|---|---|---|---|---|---|---|")
import math
logs = []
for key in sorted(best):
    c = best[key]
    if "tconv" not in c:
        continue
    t = c["tconv"][0]
    if "peer" in c:
        p, who = c["peer"]
        logs.append(math.log(p / t))
        print(f"| {key[0]} {key[1]} | {key[2]} | {key[3]} | {t:.3f} | {p:.3f} | {who} | {p / t:.2f} |")
    else:
        print(f"| {key[0]} {key[1]} | {key[2]} | {key[3]} | {t:.3f} | - | - | - |")
if logs:
    print(f"\ngeometric mean ratio: {math.exp(sum(logs) / len(logs)):.2f} over {len(logs)} cells")
PY
