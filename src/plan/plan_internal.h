/* The plan's insides, shared by the planner's files (plan.c: phases, packing, the GEMM path). */
#ifndef TCONV_PLAN_INTERNAL_H
#define TCONV_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/ukernel.h"
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

/* The most taps of any phase of an axis (plan.c). */
size_t tconv_axis_taps_max(const tconv_axis *ax);

struct tconv_plan {
  tconv_geometry g;
  size_t icg, ocg, ntiles; /* channels per group; filter panels per group */
  size_t gn;               /* the GEMM's filters: ocg, or stride_w x ocg with colmerge */
  bool dot;                /* dot kernel (few filters): panels of 2 filters, [tap][filter][ch] */
  size_t nrp;              /* filters per panel: 16 (GEMM) or 2 (dot) */
  bool pos_major;          /* GEMM rows (MR-image group, jh, jw, n) rather than (n, jh, jw) */
  float *kernel;           /* the TF-layout copy (reference path) */
  tconv_axis ax_h, ax_w;
  float *packed;           /* per (group, phase): ntiles panels x taps x icg x nrp */
  size_t *pack_off;        /* (group * nphase_h + ph) * nphase_w + pw -> offset in packed */
  float *zero;             /* icg zeros: the input of taps that fall outside the image */
  int direct;              /* TCONV_DIRECT_*: a direct row path for the AVX2 route (direct.c) */
  float *rowpack;          /* per (group, phase): taps x icg x ocg (pixel lanes) or
                              taps x ocg x icg (channel dot) */
  size_t *rowpack_off;     /* (group * nphase_h + ph) * nphase_w + pw -> offset in rowpack */
  size_t xpad_l, xpad_w;   /* pixel lanes: planar input row = xpad_l zeros, in_w, zeros */
  /* Column phases merged into the filters ("colmerge", plan.c): ax_w is then the axis of the
   * windows q (stride 1, pb = the first window, taps e = 0 .. kw/s - 1) and the GEMM's filters
   * are (r, filter), the s x ocg contiguous floats of outputs q*s - pad_left + r, r < s. */
  bool colmerge;
  bool cm_edges;           /* some windows reach past the output's left or right edge */
  size_t cm_s, cm_pb;      /* the real column stride and crop */
  /* batch lanes (direct.c; one channel, one filter, batch of 8k): per output column o its
   * entries [bl_cstart[o], bl_cstart[o+1]) reading input column bl_xcol[e], and
   * bl_wt[(ph * bl_nthmax + a) * bl_ne + e] the weight of row tap a of row phase ph there */
  size_t *bl_cstart, *bl_xcol;
  float *bl_wt;
  size_t bl_nthmax, bl_ne;
  struct tconv_wino *wino; /* Winograd per stride phase (winograd.c; AVX2 route), or NULL */
  size_t *cpix_run;        /* channel lanes: per column phase pw, [2pw, 2pw+1] = the pixels
                              [ja, jb) whose column taps are all valid (ja = jb: none) */
};

enum { TCONV_DIRECT_NONE = 0, TCONV_DIRECT_PROW = 1, TCONV_DIRECT_CPIX = 2, TCONV_DIRECT_CDOT = 3 };

tconv_status tconv_plan_run_nhwc(const tconv_plan *p, const float *x, const float *bias,
                                 const tconv_activation *act, float *y, tconv_threadpool *pool,
                                 tconv_path path);
/* Does the GEMM path stream this output past the caches (plan.c says when)?  The AVX-512
 * route only, and not with an activation applied after the store; the tests check the route. */
bool tconv_plan_streams(const tconv_plan *p, const float *y);
/* The GEMM path's K chunk limits: channels and taps per micro-kernel call (the tests use it to
 * check that a case really splits its K). */
void tconv_plan_gemm_chunks(const tconv_plan *p, size_t *ic_chunk, size_t *tap_chunk);
/* direct.c: chooses and prepares a direct row path (sets p->direct); run on the AVX2 route. */
tconv_status tconv_direct_prepare(tconv_plan *p);
tconv_status tconv_direct_run(const tconv_plan *p, const float *x, const float *bias,
                              const tconv_activation *act, float *y, tconv_threadpool *pool);
/* winograd.c: does the Winograd path fit the plan (asked on the phase axes, before colmerge);
 * prepares it (sets p->wino), runs it (the AVX-512 GEMM micro-kernel when avx512), frees it. */
bool tconv_wino_fits(const tconv_plan *p);
tconv_status tconv_wino_prepare(tconv_plan *p);
tconv_status tconv_wino_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool,
                            bool avx512);
void tconv_wino_destroy(struct tconv_wino *w);
bool tconv_wino_staged(const struct tconv_wino *w); /* which of its two schedules (the tests) */
extern size_t tconv_wino_stage_bytes; /* V and M of one staged stage (64 MiB; the tests lower it) */
/* How a forward path applies the activation: relu and relu6 as the kernels' clamp (params and
 * *flags = TCONV_UK_CLAMP), linear not at all; returns true for the others, which the path
 * applies to the stored outputs. */
bool tconv_activation_split(const tconv_activation *act, tconv_uk_params *params,
                            unsigned *flags);
/* Picks special paths for the geometry (called once at the end of plan creation). */
void tconv_plan_choose(tconv_plan *p);
/* N images of C x HW floats between NCHW and NHWC (to_nhwc picks the direction), one image per
 * work item; the forward and backward NCHW paths both go through it. */
void tconv_layout_convert(const float *src, float *dst, size_t N, size_t C, size_t HW,
                          bool to_nhwc, tconv_threadpool *pool);

#endif
