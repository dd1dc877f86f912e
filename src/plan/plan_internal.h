/* The plan's insides, shared by the planner's files (plan.c: phases, packing, the GEMM path). */
#ifndef TCONV_PLAN_INTERNAL_H
#define TCONV_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "plan/dispatch.h"
#include "plan/plan.h"

/* One spatial axis split into phases (see plan.c).  Phase p (< nphase = min(out, s)) owns the
 * outputs o = p, p + s, ...; its taps are tap[tstart[p] .. tstart[p+1]) with input offsets e
 * (ascending); output o reads input (o + pb) / s - e and its valid taps are the phase-relative
 * range [lo[o], hi[o]). */
typedef struct tconv_axis {
  size_t s, pb, in, out, nphase;
  size_t *tstart, *tap, *e;
  size_t *lo, *hi;
} tconv_axis;

struct tconv_plan {
  tconv_geometry g;
  size_t icg, ocg, ntiles; /* channels per group; filter panels per group */
  bool dot;                /* dot kernel (few filters): panels of 2 filters, [tap][filter][ch] */
  size_t nrp;              /* filters per panel: 16 (GEMM) or 2 (dot) */
  bool pos_major;          /* GEMM rows ordered (jh, jw, n) rather than (n, jh, jw) */
  float *kernel;           /* the TF-layout copy (reference path) */
  tconv_axis ax_h, ax_w;
  float *packed;           /* per (group, phase): ntiles panels x taps x icg x nrp */
  size_t *pack_off;        /* (group * nphase_h + ph) * nphase_w + pw -> offset in packed */
  float *zero;             /* icg zeros: the input of taps that fall outside the image */
};

tconv_status tconv_plan_run_nhwc(const tconv_plan *p, const float *x, const float *bias,
                                 const tconv_activation *act, float *y, tconv_threadpool *pool,
                                 tconv_path path);
/* Picks special paths for the geometry (called once at the end of plan creation). */
void tconv_plan_choose(tconv_plan *p);

#endif
