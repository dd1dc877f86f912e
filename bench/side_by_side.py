#!/usr/bin/python3
"""side_by_side.py OUT_DIR - one table from the run*/results.csv and run*/peak.csv written by
run_side_by_side.sh: per (shape, threads) forward cell, tconv's and the best peer's ms (the lowest
of the runs' medians), GFLOP/s (nominal 2*N*H*W*Cin*Cout*K^2), % of the FMA peak measured by
peak.c in the same run (nominal and on useful FLOPs: the MACs whose output lands inside the
cropped output), and tconv's speed-up over the best peer."""
import glob
import math
import os
import sys


def useful_fraction(H, W, K, S, same):
    def axis(I):
        O = I * S if same else I * S + max(K - S, 0)
        full = (I - 1) * S + K
        pb = max(full - O, 0) // 2
        hit = sum(1 for t in range(K) for i in range(I) if 0 <= i * S + t - pb < O)
        return hit / (I * K)
    return axis(H) * axis(W)


def main():
    out = sys.argv[1]
    shapes = {}
    for line in open(os.path.join(out, "shapes.txt")):
        t = line.split()
        if not t or t[0].startswith("#") or len(t) < 10:
            continue
        N, H, W, Ci, Co, K, S = map(int, t[2:9])
        shapes[t[0]] = dict(name=t[1], flops=2.0 * N * H * W * Ci * Co * K * K,
                            useful=useful_fraction(H, W, K, S, t[9] == "same"),
                            geo=f"N{N} {H}x{W} {Ci}->{Co} k{K} s{S} {t[9]}")
    peak = {1: 0.0, 2: 0.0}
    best = {}  # (shape, threads) -> {peer/variant: ms}
    for run in sorted(glob.glob(os.path.join(out, "run*"))):
        pf = os.path.join(run, "peak.csv")
        if os.path.exists(pf):
            for line in open(pf):
                t = line.strip().split(",")
                for th in (1, 2):
                    if len(t) == 3 and t[1] == f"fma_gflops_{th}t_best":
                        peak[th] = max(peak[th], float(t[2]))
        for line in open(os.path.join(run, "results.csv")):
            t = line.strip().split(",")
            if len(t) < 12 or t[0] != "RESULT" or t[5] != "fwd" or t[7] == "nan":
                continue
            key = (t[3], int(t[6]))
            who = f"{t[1]} {t[2]}"
            ms = float(t[7])
            cell = best.setdefault(key, {})
            cell[who] = min(ms, cell.get(who, math.inf))
    print(f"FMA peak measured by peak.c in this run: {peak[1]:.1f} GFLOP/s (1 thread), "
          f"{peak[2]:.1f} GFLOP/s (2 threads)\n")
    print("| shape | geometry | thr | tconv ms | GFLOP/s | % peak (useful) | best peer | peer ms "
          "| peer GFLOP/s | peer % peak (useful) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ups = []
    for key in sorted(best):
        sid, th = key
        cell, s = best[key], shapes.get(key[0])
        if s is None:
            continue
        mine = {k: v for k, v in cell.items() if k.startswith("tconv")}
        peers = {k: v for k, v in cell.items() if not k.startswith("tconv")}
        if not mine:
            continue
        tv = min(mine.values())
        pk = peak[th] or float("nan")
        gf = s["flops"] / tv / 1e6
        row = (f"| {sid} {s['name']} | {s['geo']} | {th} | {tv:.4g} | {gf:.1f} | "
               f"{100 * gf / pk:.0f}% ({100 * gf * s['useful'] / pk:.0f}%) |")
        if peers:
            who = min(peers, key=peers.get)
            pv = peers[who]
            pg = s["flops"] / pv / 1e6
            up = pv / tv
            ups.append(up)
            row += (f" {who} | {pv:.4g} | {pg:.1f} | {100 * pg / pk:.0f}% "
                    f"({100 * pg * s['useful'] / pk:.0f}%) | {up:.2f}x |")
        else:
            row += " - | - | - | - | - |"
        print(row)
    if ups:
        gm = math.exp(sum(math.log(u) for u in ups) / len(ups))
        wins = sum(1 for u in ups if u >= 1.0)
        print(f"\ngeometric-mean speed-up over the best peer: {gm:.2f}x over {len(ups)} cells; "
              f"tconv at least as fast in {wins} of {len(ups)}")


main()
