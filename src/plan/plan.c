/* The planner: phase (sub-pixel) decomposition of the transposed convolution into implicit GEMMs.
 *
 * Per spatial axis (input I, kernel k, stride s, dilation d, crop pb, output O) the definition is
 *     y[o] = bias + sum over (i, t) with o + pb = i*s + t*d of x[i] * w[t].
 * Write f = o + pb = r + s*q with r = f mod s.  Tap t reaches f only if t*d = r (mod s), and then
 * from input i = q - e(t) with e(t) = (t*d - r) / s.  So the outputs of one residue class ("phase")
 * are a stride-1 correlation of x with the sub-kernel of the taps of that class, each shifted by
 * e(t): no zero insertion, and no multiply-add whose result lands outside [0, O) is ever issued
 * (we iterate over outputs).  A tap whose input i = q - e falls outside [0, I) contributes nothing;
 * because e grows with t, the valid taps of one output form a contiguous range [lo, hi) of its
 * phase's list, precomputed per output index.  Phases are identified by o mod s (o < s), and only
 * the min(O, s) classes that own outputs exist; taps of other classes never reach the output.
 *
 * In 2-D a phase (ph, pw) is a GEMM: M = its output pixels (all images), N = filters per group,
 * K = (taps_h * taps_w) x channels per group.  Rows are ordered (jh, jw, n) — image fastest — so
 * a 6-row tile usually holds one spatial position of six images, which share the same valid taps:
 * border tiles skip the invalid taps exactly instead of multiplying zeros.  A tile's tap list and
 * its per-row input pointers (an indirection list; rows whose tap is invalid point at a zero
 * vector) feed the micro-kernel, which adds bias, clamps (relu / relu6) and stores straight into
 * the interleaved NHWC output.  NCHW goes through NHWC workspaces.
 *
 * Blocking: K is cut into chunks whose weight panel (taps x channels x 16 floats) fits L1; for each
 * chunk a block of tiles sweeps every 16-filter panel, so the panel is reused across the block and
 * the block's inputs stay in L2.  Chunks after the first accumulate onto C.
 *
 * Determinism: work items are (group, phase, block of tiles); tiles are fixed 6-row slices of the
 * phase, and every output element is summed by one item in a fixed order (taps ascending, then
 * channels ascending), so results are bitwise identical for any thread count. */
#include "plan/plan.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/internal.h"
#include "core/threadpool.h"
#include "kernels/ref/ref.h"
#include "kernels/ukernel.h"
#include "plan/dispatch.h"
#include "plan/plan_internal.h"

enum { MR = TCONV_GEMM_MR, NR = TCONV_GEMM_NR };
/* Floats of packed weights per panel and K chunk: 48 KiB, K = 768 per call at most.  Longer
 * calls load and store their accumulators less often: with the taps split evenly, 12288
 * measured 1-3% faster than 4096 on the suite's GEMM shapes, on both routes, none slower. */
#define CHUNK_FLOATS 12288

/* Safe to call twice (a failed axis_build frees, then tconv_plan_destroy frees again). */
static void axis_free(tconv_axis *ax) {
  tconv_dealloc(ax->tstart);
  tconv_dealloc(ax->tap);
  tconv_dealloc(ax->e);
  tconv_dealloc(ax->lo);
  tconv_dealloc(ax->hi);
  ax->tstart = ax->tap = ax->e = ax->lo = ax->hi = NULL;
}

/* Taps grouped by phase and the valid-tap range of every output index (see the top comment). */
static tconv_status axis_build(tconv_axis *ax, size_t I, size_t O, size_t k, size_t s, size_t d,
                               size_t pb) {
  memset(ax, 0, sizeof *ax);
  ax->s = s;
  ax->pb = pb;
  ax->in = I;
  ax->out = O;
  ax->nphase = O < s ? O : s;
  ax->tstart = tconv_alloc_zeroed((ax->nphase + 1) * sizeof(size_t));
  ax->tap = tconv_alloc((k ? k : 1) * sizeof(size_t));
  ax->e = tconv_alloc((k ? k : 1) * sizeof(size_t));
  ax->lo = tconv_alloc((O ? O : 1) * sizeof(size_t));
  ax->hi = tconv_alloc((O ? O : 1) * sizeof(size_t));
  if (!ax->tstart || !ax->tap || !ax->e || !ax->lo || !ax->hi) {
    axis_free(ax);
    return tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate the phase tables");
  }
  const size_t pbm = pb % s;
  /* count the taps per phase, then place them (t ascending, hence e ascending) */
  for (size_t t = 0; t < k; t++) {
    size_t p = ((t * d) % s + s - pbm) % s;
    if (p < ax->nphase) ax->tstart[p + 1]++;
  }
  for (size_t p = 0; p < ax->nphase; p++) ax->tstart[p + 1] += ax->tstart[p];
  size_t *fill = tconv_alloc_zeroed((ax->nphase ? ax->nphase : 1) * sizeof(size_t));
  if (fill == NULL) {
    axis_free(ax);
    return tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate the phase tables");
  }
  for (size_t t = 0; t < k; t++) {
    size_t r = (t * d) % s, p = (r + s - pbm) % s;
    if (p >= ax->nphase) continue;
    size_t at = ax->tstart[p] + fill[p]++;
    ax->tap[at] = t;
    ax->e[at] = (t * d - r) / s;
  }
  tconv_dealloc(fill);
  for (size_t o = 0; o < O; o++) {
    size_t p = o % s, q = (o + pb) / s, lo = 0, hi = 0;
    size_t n = ax->tstart[p + 1] - ax->tstart[p];
    const size_t *e = ax->e + ax->tstart[p];
    while (lo < n && e[lo] + I <= q) lo++; /* i = q - e >= I */
    hi = lo;
    while (hi < n && e[hi] <= q) hi++; /* i = q - e >= 0 */
    ax->lo[o] = lo;
    ax->hi[o] = hi;
  }
  return TCONV_OK;
}

size_t tconv_axis_taps_max(const tconv_axis *ax) {
  size_t most = 0;
  for (size_t p = 0; p < ax->nphase; p++)
    if (ax->tstart[p + 1] - ax->tstart[p] > most) most = ax->tstart[p + 1] - ax->tstart[p];
  return most;
}

/* The window axis of colmerge: window q owns the outputs q*s - pb + r, r < s (o + pb = q*s + r),
 * which tap t = e*s + r reaches from input q - e; windows q0 = pb / s .. (O - 1 + pb) / s, taps
 * e < T valid while 0 <= q - e < I.  That is the axis of a stride-1 kernel of T taps whose
 * "outputs" are the windows, cropped by q0, so the GEMM code walks it like any other axis. */
static tconv_status axis_build_windows(tconv_axis *ax, size_t I, size_t O, size_t T, size_t s,
                                       size_t pb) {
  const size_t q0 = pb / s, nq = (O - 1 + pb) / s - q0 + 1; /* O >= 1: checked by the caller */
  return axis_build(ax, I, nq, T, 1, 1, q0);
}

/* Merge the column phases into the filters?  A phase GEMM has ocg filters and K = taps x icg;
 * when the kernel width is a multiple of the stride, the s column phases of a window read the
 * very same kw/s input pixels, so one GEMM with s x ocg filters does the work of s of them:
 * each broadcast input feeds s times more lanes and a tile's set-up is shared by all phases
 * (21->21 k16 s8: 8 row GEMMs of 168 filters instead of 64 of 21; 3.2 -> 2.2 ms).  Worth it
 * while the phases' own calls are narrower than the widest micro-kernel call (64 filters; at
 * 64 and 256 filters measured equal or 5% slower) — or at 64 when the kernel width is the
 * stride (windows of one input pixel, no crop: 128x128 128->64 k2 s2 'valid' 5% faster, the
 * tiles' set-up halved and the output streamed; k4 s2 'same' at 64 filters measured equal) —
 * and the windows that stick out of a 'same' crop add at most 5% (16-pixel-wide 'same' k4 s2
 * rows, 17 windows for 16 pairs: up to 12% slower).  Not for the direct row paths' layers
 * (few filters or channels), grouped layers (the lanes (r, filter) must be contiguous in the
 * output) or dilated columns (the phases' taps would read different inputs). */
static bool colmerge_fits(const tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  const size_t s = g->stride_w, kw = g->kernel_w, OW = g->out_w;
  if (g->groups != 1 || g->dilation_w != 1 || s < 2 || kw < s || kw % s != 0 || p->dot ||
      p->ocg <= 4 || p->ocg > 64 || (p->ocg == 64 && kw != s) || p->icg <= 8 || OW == 0)
    return false;
  const size_t nq = (OW - 1 + g->pad_left) / s - g->pad_left / s + 1; /* windows */
  return nq <= (OW + OW / 20) / s;
}

void tconv_plan_destroy(tconv_plan *p) {
  if (p == NULL) return;
  axis_free(&p->ax_h);
  axis_free(&p->ax_w);
  tconv_dealloc(p->kernel);
  tconv_dealloc(p->packed);
  tconv_dealloc(p->pack_off);
  tconv_dealloc(p->zero);
  tconv_dealloc(p->rowpack);
  tconv_dealloc(p->rowpack_off);
  tconv_dealloc(p->cpix_run);
  tconv_wino_destroy(p->wino);
  tconv_dealloc(p->bl_cstart);
  tconv_dealloc(p->bl_xcol);
  tconv_dealloc(p->bl_wt);
  tconv_dealloc(p);
}

/* Packs w[th][tw][j][c] (TF layout) per (group, phase, 16-filter panel, tap): panel-major so one
 * micro-kernel call reads one contiguous kc x 16 stream per tap. */
static void plan_pack(tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  if (p->colmerge) { /* per row phase; filter j = r * ocg + f takes column tap e * s + r */
    const size_t ocg = p->ocg, IC = g->in_c, KW = g->kernel_w, s = p->cm_s, T = p->ax_w.tstart[1];
    const tconv_axis *ah = &p->ax_h;
    for (size_t ph = 0; ph < ah->nphase; ph++) {
      float *dst = p->packed + p->pack_off[ph];
      for (size_t jt = 0; jt < p->ntiles; jt++)
        for (size_t a = ah->tstart[ph]; a < ah->tstart[ph + 1]; a++)
          for (size_t e = 0; e < T; e++)
            for (size_t c = 0; c < IC; c++)
              for (size_t n = 0; n < NR; n++) {
                const size_t j = jt * NR + n, r = j / ocg, f = j % ocg;
                *dst++ = j < p->gn ? p->kernel[((ah->tap[a] * KW + e * s + r) * ocg + f) * IC + c]
                                   : 0.0f;
              }
    }
    return;
  }
  const size_t G = g->groups, icg = p->icg, ocg = p->ocg, IC = g->in_c, KW = g->kernel_w;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  for (size_t grp = 0; grp < G; grp++)
    for (size_t ph = 0; ph < ah->nphase; ph++)
      for (size_t pw = 0; pw < aw->nphase; pw++) {
        const size_t nth = ah->tstart[ph + 1] - ah->tstart[ph];
        const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw];
        float *dst = p->packed + p->pack_off[(grp * ah->nphase + ph) * aw->nphase + pw];
        for (size_t jt = 0; jt < p->ntiles; jt++)
          for (size_t a = 0; a < nth; a++)
            for (size_t b = 0; b < ntw; b++) {
              const size_t th = ah->tap[ah->tstart[ph] + a], tw = aw->tap[aw->tstart[pw] + b];
              const float *src = p->kernel + (th * KW + tw) * ocg * IC + grp * icg;
              if (p->dot) { /* [filter][channel] */
                for (size_t n = 0; n < p->nrp; n++)
                  for (size_t c = 0; c < icg; c++) {
                    size_t j = jt * p->nrp + n;
                    *dst++ = j < ocg ? src[j * IC + c] : 0.0f;
                  }
              } else { /* [channel][filter] */
                for (size_t c = 0; c < icg; c++)
                  for (size_t n = 0; n < NR; n++) {
                    size_t j = jt * NR + n;
                    *dst++ = j < ocg ? src[j * IC + c] : 0.0f;
                  }
              }
            }
      }
}

tconv_status tconv_plan_create(const tconv_geometry *g, const float *kernel, tconv_plan **out) {
  RETURN_IF(g == NULL || kernel == NULL || out == NULL, TCONV_INVALID_ARGUMENT,
            "plan: NULL argument");
  *out = NULL;
  RETURN_IF(g->groups == 0 || g->in_c % g->groups || g->out_c % g->groups, TCONV_INVALID_ARGUMENT,
            "plan: groups %zu must divide in_c %zu and out_c %zu", g->groups, g->in_c, g->out_c);
  RETURN_IF(g->stride_h == 0 || g->stride_w == 0 || g->dilation_h == 0 || g->dilation_w == 0,
            TCONV_INVALID_ARGUMENT, "plan: strides and dilations must be >= 1");
  size_t kn = 0, dims[4] = {g->kernel_h, g->kernel_w, g->out_c / g->groups, g->in_c};
  RETURN_IF(tconv_product_overflow(dims, 4, &kn) || kn > SIZE_MAX / sizeof(float),
            TCONV_LIMIT_EXCEEDED, "plan: kernel size overflows");
  tconv_plan *p = tconv_alloc_zeroed(sizeof *p);
  RETURN_IF(p == NULL, TCONV_OUT_OF_MEMORY, "plan: out of memory");
  p->g = *g;
  p->icg = g->in_c / g->groups;
  p->ocg = g->out_c / g->groups;
  /* few filters and enough channels: vectorise over channels (dot kernel) instead of filters */
  p->dot = p->ocg <= 4 && p->icg >= 16;
  p->nrp = p->dot ? TCONV_DOT_NR : NR;
  p->ntiles = (p->ocg + p->nrp - 1) / p->nrp;
  /* Row order: position-major (image fastest) makes border tiles exact, which pays when each
   * pixel carries a lot of work; with little work per pixel the six images' scattered inputs
   * cost more than the skipped taps, so rows run image by image along the output rows.
   * Position-major rows sweep the positions of MR images at a time, not of the whole batch:
   * neighbouring positions then read the same input rows while those are still in L2 (a sweep
   * over all 256 images at each position re-read them from L3: 256x7x7 256->128 k5 s1 11%
   * faster, 64x8x8 512->256 k5 s2 2-4%, 64x4x4 1024->512 equal; groups of 12 or 24 measured
   * the same as 6). */
  p->pos_major = g->batch >= MR && p->icg * p->ocg >= 4096;
  tconv_status st = TCONV_OK;
  p->kernel = tconv_alloc(kn * sizeof(float));
  p->zero = tconv_alloc_zeroed((p->icg ? p->icg : 1) * sizeof(float));
  if (p->kernel == NULL || p->zero == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate %zu kernel values", kn);
    goto fail;
  }
  memcpy(p->kernel, kernel, kn * sizeof(float));
  st = axis_build(&p->ax_h, g->in_h, g->out_h, g->kernel_h, g->stride_h, g->dilation_h, g->pad_top);
  if (st != TCONV_OK) goto fail;
  st = axis_build(&p->ax_w, g->in_w, g->out_w, g->kernel_w, g->stride_w, g->dilation_w,
                  g->pad_left);
  if (st != TCONV_OK) goto fail;
  p->gn = p->ocg;
  /* Winograd, where it fits, does fewer multiplies than any GEMM route: colmerge then stays off
   * (the Winograd phases are the column phases) */
  const bool wino = tconv_wino_fits(p);
  if (!wino && colmerge_fits(p)) {
    const size_t s = g->stride_w;
    axis_free(&p->ax_w);
    st = axis_build_windows(&p->ax_w, g->in_w, g->out_w, g->kernel_w / s, s, g->pad_left);
    if (st != TCONV_OK) goto fail;
    p->colmerge = true;
    p->cm_s = s;
    p->cm_pb = g->pad_left;
    p->cm_edges = g->pad_left % s != 0 || (g->out_w + g->pad_left) % s != 0;
    p->gn = s * p->ocg;
    p->ntiles = (p->gn + NR - 1) / NR;
  }
  /* packed offsets per (group, phase); the panels of one phase hold its taps only, so the total
   * is at most groups x kh x kw x icg x (ntiles x 16) */
  size_t nphase = p->ax_h.nphase * p->ax_w.nphase, noff = 0;
  if (tconv_mul_overflow(nphase, g->groups, &noff) || tconv_add_overflow(noff, 1, &noff) ||
      noff > SIZE_MAX / sizeof(size_t)) {
    st = tconv_error(TCONV_LIMIT_EXCEEDED, "plan: too many phases");
    goto fail;
  }
  p->pack_off = tconv_alloc(noff * sizeof(size_t));
  if (p->pack_off == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate the packing table");
    goto fail;
  }
  size_t total = 0, per_tap = 0;
  if (tconv_mul_overflow(p->icg, p->ntiles * p->nrp, &per_tap)) goto too_big;
  for (size_t grp = 0, i = 0; grp < g->groups; grp++)
    for (size_t ph = 0; ph < p->ax_h.nphase; ph++)
      for (size_t pw = 0; pw < p->ax_w.nphase; pw++, i++) {
        size_t taps = (p->ax_h.tstart[ph + 1] - p->ax_h.tstart[ph]) *
                      (p->ax_w.tstart[pw + 1] - p->ax_w.tstart[pw]);
        size_t sz;
        p->pack_off[i] = total;
        if (tconv_mul_overflow(taps, per_tap, &sz) || tconv_add_overflow(total, sz, &total))
          goto too_big;
      }
  if (total > SIZE_MAX / sizeof(float)) goto too_big;
  p->packed = tconv_alloc((total ? total : 1) * sizeof(float));
  if (p->packed == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate %zu packed weights", total);
    goto fail;
  }
  plan_pack(p);
  st = tconv_direct_prepare(p);
  if (st == TCONV_OK && wino) st = tconv_wino_prepare(p);
  if (st != TCONV_OK) goto fail;
  tconv_plan_choose(p);
  *out = p;
  return TCONV_OK;
too_big:
  st = tconv_error(TCONV_LIMIT_EXCEEDED, "plan: packed weights overflow size_t");
fail:
  tconv_plan_destroy(p);
  return st;
}

/* ---- running the GEMM path ---------------------------------------------------------------- */

typedef struct gemm_job {
  const tconv_plan *p;
  const float *x; /* NHWC */
  float *y;       /* NHWC */
  const float *bias;
  const tconv_activation *act;
  tconv_gemm_ukernel_fn uk;
  tconv_gemm64_ukernel_fn uk64; /* AVX-512: np adjacent panels per call (NULL: uk, 1 panel) */
  tconv_gemm64_rows_ukernel_fn uk64_rows; /* uk64 for tiles whose rows share their taps */
  size_t np;
  tconv_uk_params params;
  unsigned last_flags;  /* CLAMP for relu / relu6 */
  bool act_after;       /* other activations: applied per finished tile */
  unsigned stream;      /* TCONV_UK_STREAM on the final stores, or 0 (tconv_plan_streams) */
  size_t tiles_per_block, tap_chunk, ic_chunk;
  size_t *item_start; /* per (group, phase): first item; length groups*phases + 1 */
  size_t nslots;
  bool interleaved;    /* every slot has the same number of blocks: items run (block, slot) */
  void *scratch; /* per thread: tiles_per_block * scratch_stride bytes */
  size_t scratch_stride;
  size_t rows_off; /* colmerge edges: a tile's MR scratch rows of gn floats, this far in */
} gemm_job;

/* Per-tile scratch: row pointers, pixel coordinates, the valid-tap bounding box, and the
 * indirection list of the current chunk. */
typedef struct tile_info {
  size_t mr;
  float *c[MR];
  size_t base[MR];                        /* input index of (n, q_h, q_w, group) */
  size_t lh[MR], hh[MR], lw[MR], hw[MR];  /* each row's valid tap ranges */
  size_t ah, bh, aw, bw; /* union of the rows' valid tap ranges */
  bool same;             /* every row's ranges are the union: no tap to check per row */
  bool offs;             /* same, run by uk64_rows: the list holds ks tap offsets, not pointers */
  size_t ks;
  /* colmerge edge windows (elen[m] > 0): row m is computed in the tile's scratch rows, then
   * its elen[m] floats from eoff[m] (the outputs that exist) are copied to edst[m] */
  float *edst[MR];
  size_t eoff[MR], elen[MR];
} tile_info;

static size_t scratch_stride(size_t tap_chunk, size_t row_floats, size_t *rows_off) {
  /* tile_info, then tap_chunk*MR input pointers, tap_chunk tap indices, MR rows */
  size_t s = sizeof(tile_info) + tap_chunk * MR * sizeof(float *) + tap_chunk * sizeof(size_t);
  *rows_off = s = (s + 63) & ~(size_t)63;
  s += MR * row_floats * sizeof(float);
  return (s + 63) & ~(size_t)63;
}

static void gemm_item(void *ctx, size_t item, size_t thread) {
  const gemm_job *job = ctx;
  const tconv_plan *p = job->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  /* locate (group, phase, block) */
  size_t slot, block;
  if (job->interleaved) { /* items (block, slot): a block's phases run back to back */
    slot = item % job->nslots, block = item / job->nslots;
  } else { /* items (slot, block) */
    size_t lo = 0, hi = job->nslots;
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (job->item_start[mid] <= item) lo = mid; else hi = mid;
    }
    slot = lo, block = item - job->item_start[slot];
  }
  const size_t nph = ah->nphase * aw->nphase;
  const size_t grp = slot / nph, ph = (slot % nph) / aw->nphase, pw = slot % aw->nphase;
  const size_t ch = (g->out_h - ph + ah->s - 1) / ah->s, cw = (aw->out - pw + aw->s - 1) / aw->s;
  const size_t N = g->batch, M = N * ch * cw;
  const size_t nth = ah->tstart[ph + 1] - ah->tstart[ph], ntw = aw->tstart[pw + 1] - aw->tstart[pw];
  const size_t ntaps = nth * ntw, icg = p->icg, ocg = p->ocg, IC = g->in_c, OC = g->out_c;
  const size_t in_w = g->in_w;
  const size_t *eh = ah->e + ah->tstart[ph], *ew = aw->e + aw->tstart[pw];
  const size_t m0 = block * job->tiles_per_block * MR;
  const size_t m1 = m0 + job->tiles_per_block * MR < M ? m0 + job->tiles_per_block * MR : M;
  const size_t ntile_m = (m1 - m0 + MR - 1) / MR;
  unsigned char *scr = (unsigned char *)job->scratch +
                       thread * job->tiles_per_block * job->scratch_stride;

  /* the block's first row, then the next ones by stepping, without divisions; position-major
   * rows run (image group ng of MR images, jh, jw, image) with gsz images in the group (MR, or
   * fewer in the last one) */
  const size_t P = ch * cw; /* > 0: the phase has rows, or no item would run */
  size_t ng = 0, gsz = MR, n, jh, jw;
  if (p->pos_major) {
    ng = m0 / (MR * P); /* ng * MR < N since m0 < N * P */
    gsz = N - ng * MR < MR ? N - ng * MR : MR;
    const size_t r = m0 - ng * MR * P;
    n = ng * MR + r % gsz, jh = r / gsz;
  } else {
    n = m0 / P, jh = m0 % P;
  }
  jw = jh % cw, jh /= cw;
  const size_t qh0 = (ph + ah->pb) / ah->s, qw0 = (pw + aw->pb) / aw->s;
  const size_t sh = ah->s, sw = aw->s, in_h = g->in_h, out_h = g->out_h, out_w = g->out_w;
  const size_t *const lo_h = ah->lo, *const hi_h = ah->hi, *const lo_w = aw->lo, *const hi_w = aw->hi;
  const bool colmerge = p->colmerge;
  float *const y = job->y;
  for (size_t t = 0; t < ntile_m; t++) {
    tile_info *ti = (tile_info *)(scr + t * job->scratch_stride);
    size_t mb = m0 + t * MR;
    ti->mr = m1 - mb < MR ? m1 - mb : MR;
    /* the union in locals: the stores below are size_t too, so the compiler would otherwise
     * re-read every ti-> and geometry field after each of them */
    size_t uah = SIZE_MAX, uaw = SIZE_MAX, ubh = 0, ubw = 0;
    for (size_t m = 0; m < ti->mr; m++) {
      const size_t oh = ph + sh * jh, ow = pw + sw * jw;
      const size_t lh = lo_h[oh], hh = hi_h[oh], lw = lo_w[ow], hw = hi_w[ow];
      ti->base[m] = ((n * in_h + qh0 + jh) * in_w + qw0 + jw) * IC + grp * icg;
      ti->lh[m] = lh, ti->hh[m] = hh, ti->lw[m] = lw, ti->hw[m] = hw;
      uah = lh < uah ? lh : uah, ubh = hh > ubh ? hh : ubh;
      uaw = lw < uaw ? lw : uaw, ubw = hw > ubw ? hw : ubw;
      float *yrow = y + (n * out_h + oh) * out_w * OC;
      ti->elen[m] = 0;
      if (!colmerge) {
        ti->c[m] = yrow + ow * OC + grp * ocg;
      } else { /* window q = qw0 + jw: outputs col .. col + s - 1 */
        const ptrdiff_t col = (ptrdiff_t)((qw0 + jw) * p->cm_s) - (ptrdiff_t)p->cm_pb;
        const ptrdiff_t room = (ptrdiff_t)out_w - col;
        if (col >= 0 && room >= (ptrdiff_t)p->cm_s) {
          ti->c[m] = yrow + (size_t)col * OC;
        } else { /* an edge window: only outputs r0 .. r1 - 1 exist */
          const size_t r0 = col < 0 ? (size_t)-col : 0;
          const size_t r1 = room < (ptrdiff_t)p->cm_s ? (size_t)room : p->cm_s;
          ti->c[m] = (float *)((unsigned char *)ti + job->rows_off) + m * p->gn;
          ti->edst[m] = yrow + (size_t)(col + (ptrdiff_t)r0) * OC;
          ti->eoff[m] = r0 * OC;
          ti->elen[m] = (r1 - r0) * OC;
        }
      }
      if (p->pos_major) { /* rows (ng, jh, jw, n) */
        if (++n == ng * MR + gsz) {
          n = ng * MR;
          if (++jw == cw) {
            jw = 0;
            if (++jh == ch) {
              jh = 0, ng++;
              n = ng * MR;
              gsz = N - n < MR ? N - n : MR;
            }
          }
        }
      } else if (++jw == cw) { /* rows (n, jh, jw) */
        jw = 0;
        if (++jh == ch) jh = 0, n++;
      }
    }
    for (size_t m = ti->mr; m < MR; m++) { /* padding rows repeat row 0 (results discarded) */
      ti->base[m] = ti->base[0];
      ti->lh[m] = ti->lh[0], ti->hh[m] = ti->hh[0], ti->lw[m] = ti->lw[0], ti->hw[m] = ti->hw[0];
    }
    ti->ah = uah, ti->bh = ubh, ti->aw = uaw, ti->bw = ubw;
    bool same = true;
    for (size_t m = 0; m < ti->mr; m++)
      same &= ti->lh[m] == uah && ti->hh[m] == ubh && ti->lw[m] == uaw && ti->hw[m] == ubw;
    ti->same = same;
  }

  const float *wgrp = p->packed + p->pack_off[slot];
  const size_t nrp = p->nrp, panel = ntaps * icg * nrp; /* floats per panel of this phase */
  /* the phase's taps in chunks of equal size (9 taps, at most 6 per chunk: 5 + 4, not 6 + 3) */
  size_t nchunk_t = ntaps ? (ntaps + job->tap_chunk - 1) / job->tap_chunk : 1;
  const size_t tap_chunk = ntaps ? (ntaps + nchunk_t - 1) / nchunk_t : 1;
  const size_t nchunk_c = icg ? (icg + job->ic_chunk - 1) / job->ic_chunk : 1;
  const float *wptr[64];
  float *crow[MR];
  for (size_t ct = 0; ct < nchunk_t; ct++)
    for (size_t cc = 0; cc < nchunk_c; cc++) {
      const size_t u0 = ct * tap_chunk;
      const size_t u1 = u0 + tap_chunk < ntaps ? u0 + tap_chunk : ntaps;
      const size_t k0 = cc * job->ic_chunk, k1 = k0 + job->ic_chunk < icg ? k0 + job->ic_chunk : icg;
      const bool first = ct == 0 && cc == 0, last = ct + 1 == nchunk_t && cc + 1 == nchunk_c;
      /* indirection lists of this chunk */
      for (size_t t = 0; t < ntile_m; t++) {
        tile_info *ti = (tile_info *)(scr + t * job->scratch_stride);
        const float **a = (const float **)(ti + 1);
        size_t *taps = (size_t *)(a + job->tap_chunk * MR);
        size_t ks = 0;
        const size_t tah = ti->ah, tbh = ti->bh, taw = ti->aw, tbw = ti->bw;
        /* the row entry for long enough taps: it finds a tap's pointers by one more dependent
         * load at each tap's start, which over 21 k steps (21->21 k16 s8) cost 0.7% */
        ti->offs = ti->same && job->uk64_rows != NULL && k1 - k0 >= 32;
        for (size_t u = u0, ta = u0 / (ntw ? ntw : 1), tb = u0 - ta * ntw; u < u1; u++) {
          if (ta >= tah && ta < tbh && tb >= taw && tb < tbw) {
            /* input of row m = base[m] - (e_h * W + e_w) * C, when the tap is valid for it */
            const size_t off = (eh[ta] * in_w + ew[tb]) * IC;
            const float *xk = job->x + k0;
            if (ti->offs) /* every row reads this tap: its offset only */
              ((ptrdiff_t *)a)[ks] = (ptrdiff_t)off;
            else if (ti->same) /* every row's taps are the tile's: all valid here */
              for (size_t m = 0; m < MR; m++) a[ks * MR + m] = xk + (ti->base[m] - off);
            else
              for (size_t m = 0; m < MR; m++) {
                const bool ok =
                    ta >= ti->lh[m] && ta < ti->hh[m] && tb >= ti->lw[m] && tb < ti->hw[m];
                a[ks * MR + m] = ok ? xk + (ti->base[m] - off) : p->zero;
              }
            taps[ks++] = u;
          }
          if (++tb == ntw) tb = 0, ta++;
        }
        ti->ks = ks;
      }
      for (size_t jt = 0; jt < p->ntiles; jt += job->np) {
        const float *wpanel = wgrp + jt * panel;
        const size_t width = job->np * nrp; /* filters per call */
        const size_t nr = p->gn - jt * nrp < width ? p->gn - jt * nrp : width;
        const float *bias = job->bias ? job->bias + grp * p->gn + jt * nrp : NULL;
        unsigned flags = (first ? 0u : TCONV_UK_ACCUMULATE) |
                         (last ? job->last_flags | job->stream : 0u);
        for (size_t t = 0; t < ntile_m; t++) {
          tile_info *ti = (tile_info *)(scr + t * job->scratch_stride);
          const float **a = (const float **)(ti + 1);
          const size_t *taps = (const size_t *)(a + job->tap_chunk * MR);
          for (size_t s = 0; s < ti->ks; s++) wptr[s] = wpanel + (taps[s] * icg + k0) * nrp;
          for (size_t m = 0; m < ti->mr; m++) crow[m] = ti->c[m] + jt * nrp;
          /* Short calls (K <= 128) cannot hide the next tile's first misses behind their own
           * work: fetch its partial sums and its first inputs now (128x128 128->64 k2 s2: 3%
           * faster; longer calls measured equal or 1% slower with it). */
          if (t + 1 < ntile_m && (k1 - k0) * ti->ks <= 128) {
            const tile_info *tn = (const tile_info *)(scr + (t + 1) * job->scratch_stride);
            const float *const *an = (const float *const *)(tn + 1);
            if (!first)
              for (size_t m = 0; m < tn->mr; m++)
                for (size_t q = 0; q < width && jt * nrp + q < p->gn; q += 16)
                  __builtin_prefetch(tn->c[m] + jt * nrp + q, 1, 3);
            if (tn->ks > 0 && jt == 0) /* its inputs are the same for every jt */
              for (size_t m = 0; m < MR; m++) {
                const float *am = tn->offs ? job->x + k0 + tn->base[m] - ((const ptrdiff_t *)an)[0]
                                           : an[m];
                for (size_t k = 0; k < k1 - k0; k += 16) __builtin_prefetch(am + k, 0, 2);
              }
          }
          /* A long call's first stores go to lines nobody has read yet: ask for them (with
           * intent to write) while it multiplies, so their fetch overlaps its multiply-adds
           * instead of stalling the stores at its end.  The AVX-512 kernel spreads the requests
           * over its first k steps (TCONV_UK_PREFETCH_C); before it, one burst here (256x7x7
           * 128->64 k5 s2: 1.7%, 32x32 512->256 k2 s2: 3%, 8x56x56 64->64 k3 s1: 1% faster; the
           * others equal), spread 0.5-0.7% more.  Streamed stores skip it. */
          unsigned tflags = flags;
          if (first && !job->stream && (k1 - k0) * ti->ks > 128) {
            if (job->uk64 != NULL)
              tflags |= TCONV_UK_PREFETCH_C;
            else
              for (size_t m = 0; m < ti->mr; m++)
                for (size_t q = 0; q < width && jt * nrp + q < p->gn; q += 16)
                  __builtin_prefetch(crow[m] + q, 1, 3);
          }
          if (ti->offs) {
            const float *rows[MR];
            for (size_t m = 0; m < MR; m++) rows[m] = job->x + k0 + ti->base[m];
            job->uk64_rows(ti->mr, nr, k1 - k0, ti->ks, rows, (const ptrdiff_t *)a, wptr, panel,
                           crow, bias, &job->params, tflags);
          } else if (job->uk64)
            job->uk64(ti->mr, nr, k1 - k0, ti->ks, a, wptr, panel, crow, bias, &job->params, tflags);
          else
            job->uk(ti->mr, nr, k1 - k0, ti->ks, a, wptr, crow, bias, &job->params, flags);
          if (last && job->act_after)
            for (size_t m = 0; m < ti->mr; m++) tconv_activation_apply(job->act, crow[m], nr);
        }
      }
      if (last && p->cm_edges)
        for (size_t t = 0; t < ntile_m; t++) {
          const tile_info *ti = (const tile_info *)(scr + t * job->scratch_stride);
          for (size_t m = 0; m < ti->mr; m++)
            if (ti->elen[m] > 0)
              memcpy(ti->edst[m], ti->c[m] + ti->eoff[m], ti->elen[m] * sizeof(float));
        }
    }
#if defined(__x86_64__)
  if (job->stream) _mm_sfence(); /* the streamed lines are visible before the item ends */
#endif
}

/* The most taps of any 2-D phase: the phases pair every row phase with every column phase. */
static size_t plan_taps_max(const tconv_plan *p) {
  return tconv_axis_taps_max(&p->ax_h) * tconv_axis_taps_max(&p->ax_w);
}

/* The K chunks of the GEMM path: ic_chunk channels x tap_chunk taps per micro-kernel call, so
 * one call's panel stays within CHUNK_FLOATS floats (the dot kernel takes whole channel rows).
 * gemm_item then splits each phase's taps into chunks of equal size. */
void tconv_plan_gemm_chunks(const tconv_plan *p, size_t *ic_chunk, size_t *tap_chunk) {
  const size_t icg = p->icg;
  const size_t cf = CHUNK_FLOATS;
  size_t ic = icg == 0 ? 1 : icg * NR <= cf ? icg : cf / NR;
  if (icg > ic) { /* equal channel chunks (1024: 512 + 512, not 768 + 256) */
    const size_t nc = (icg + ic - 1) / ic;
    ic = (icg + nc - 1) / nc;
  }
  size_t tc = icg * NR <= cf ? cf / (icg * NR + (icg == 0)) : 1;
  if (p->dot) { /* the dot kernel's weight rows are kc long: no channel chunks */
    ic = icg;
    tc = 64;
  }
  if (tc > 64) tc = 64; /* wptr[] bound */
  if (tc < 1) tc = 1;
  *ic_chunk = ic;
  *tap_chunk = tc;
}

/* Stream the output past the caches (non-temporal stores on the AVX-512 route)?  When a layer
 * writes much more than it computes per output (k2 s2 'valid' 128->64 at 128x128: 16 MiB
 * written, 128 multiply-adds per float), every tile's stores miss and each line is first read
 * for ownership; streamed, the lines are only written (k: 6% faster at 1 and 2 threads).  Only
 * where it cannot cost: outputs of >= 8 MiB (well past the L2 caches), at most 512
 * multiply-adds per output (e, h: 768 and more, measured 2% slower streamed), the whole K in
 * one chunk (no partial sums read back), no colmerge edge rows, and whole 64-byte lines only
 * (the output and every pixel's filters 64-byte aligned: a partial line streamed costs far
 * more than the read it saves).  Not for the direct row paths' layers (their own kernels); the
 * caller also needs no activation applied after the store. */
bool tconv_plan_streams(const tconv_plan *p, const float *y) {
  const tconv_geometry *g = &p->g;
  size_t ic_chunk, tap_chunk;
  tconv_plan_gemm_chunks(p, &ic_chunk, &tap_chunk);
  const size_t ntaps_max = plan_taps_max(p);
  const size_t out_bytes = g->batch * g->out_h * g->out_w * g->out_c * sizeof(float);
  return p->direct == TCONV_DIRECT_NONE && !p->cm_edges && !p->dot && ((uintptr_t)y & 63) == 0 &&
         g->out_c % 16 == 0 && p->ocg % 16 == 0 && out_bytes >= ((size_t)8 << 20) &&
         ic_chunk >= p->icg && tap_chunk >= ntaps_max && ntaps_max * p->icg <= 512;
}

bool tconv_activation_split(const tconv_activation *act, tconv_uk_params *params,
                            unsigned *flags) {
  params->lo = -INFINITY;
  params->hi = INFINITY;
  *flags = 0;
  if (act == NULL || act->kind == TCONV_ACT_LINEAR) return false;
  if (act->kind != TCONV_ACT_RELU && act->kind != TCONV_ACT_RELU6) return true;
  params->lo = 0.0f;
  if (act->kind == TCONV_ACT_RELU6) params->hi = 6.0f;
  *flags = TCONV_UK_CLAMP;
  return false;
}

/* NHWC core of the GEMM path. */
static tconv_status gemm_run(const tconv_plan *p, const float *x, const float *bias,
                             const tconv_activation *act, float *y, tconv_threadpool *pool,
                             tconv_gemm_ukernel_fn uk, tconv_gemm64_ukernel_fn uk64,
                             tconv_gemm64_rows_ukernel_fn uk64_rows) {
  const tconv_geometry *g = &p->g;
  gemm_job job;
  memset(&job, 0, sizeof job);
  job.p = p;
  job.x = x;
  job.y = y;
  job.bias = bias;
  job.act = act;
  job.uk = uk;
  job.uk64 = p->dot ? NULL : uk64;
  job.uk64_rows = job.uk64 != NULL ? uk64_rows : NULL;
  job.np = job.uk64 ? TCONV_GEMM64_NP : 1;
  job.act_after = tconv_activation_split(act, &job.params, &job.last_flags);
  const size_t icg = p->icg;
  tconv_plan_gemm_chunks(p, &job.ic_chunk, &job.tap_chunk);
  const size_t threads = tconv_pool_threads(pool);
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t nph = ah->nphase * aw->nphase;
  job.nslots = g->groups * nph;
  /* tiles per block: enough to reuse each weight panel, few enough to spread over the threads;
   * 4096 / K of them for the longest call's K (16 at K = 256: 64x4x4 1024->512, with 52 MB of
   * weights, measured 3-5% faster than 8; the other GEMM shapes of the suite equal) */
  const size_t ntaps_max = plan_taps_max(p);
  size_t kcc = (job.tap_chunk < ntaps_max ? job.tap_chunk : ntaps_max) * job.ic_chunk;
  size_t tpb = 24576 / (MR * (kcc ? kcc : 1));
  tpb = tpb < 1 ? 1 : tpb > 16 ? 16 : tpb;
  size_t mtot = 0;
  for (size_t ph = 0; ph < ah->nphase; ph++)
    for (size_t pw = 0; pw < aw->nphase; pw++)
      mtot += g->batch * ((g->out_h - ph + ah->s - 1) / ah->s) *
              ((aw->out - pw + aw->s - 1) / aw->s);
  while (tpb > 1 && threads > 1 && mtot * g->groups / (tpb * MR) < 4 * threads) tpb /= 2;
  job.tiles_per_block = tpb;
  job.item_start = tconv_alloc((job.nslots + 1) * sizeof(size_t));
  job.scratch_stride = scratch_stride(job.tap_chunk, p->cm_edges ? p->gn : 0, &job.rows_off);
  job.scratch = tconv_alloc(threads * tpb * job.scratch_stride);
  /* colmerge: filter j = r * ocg + f has the bias of filter f */
  float *vbias = p->colmerge && bias != NULL ? tconv_alloc(p->gn * sizeof(float)) : NULL;
  if (job.item_start == NULL || job.scratch == NULL || (p->colmerge && bias != NULL && !vbias)) {
    tconv_dealloc(job.item_start);
    tconv_dealloc(job.scratch);
    tconv_dealloc(vbias);
    return tconv_error(TCONV_OUT_OF_MEMORY, "forward: cannot allocate the work lists");
  }
  if (vbias != NULL) {
    for (size_t j = 0; j < p->gn; j++) vbias[j] = bias[j % p->ocg];
    job.bias = vbias;
  }
  size_t items = 0;
  for (size_t slot = 0; slot < job.nslots; slot++) {
    const size_t ph = (slot % nph) / aw->nphase, pw = slot % aw->nphase;
    const size_t M = g->batch * ((g->out_h - ph + ah->s - 1) / ah->s) *
                     ((aw->out - pw + aw->s - 1) / aw->s);
    job.item_start[slot] = items;
    items += (M + tpb * MR - 1) / (tpb * MR);
  }
  job.item_start[job.nslots] = items;
  /* When every (group, phase) has as many blocks and all the packed weights together are
   * small (<= 4 MiB), run a block's phases back to back: they read neighbouring input pixels
   * (for k2 s2 'valid', the very same ones), so the block's input is fetched from memory once
   * instead of once per phase (k: 19 -> 14 ms; j, e: 1-3%).  With large weights the
   * phase-major order is kept: there the weights, not the input, are what must stay in cache
   * (64x8x8 512->256 k5 s2, 13 MB of weights, measured 6% slower interleaved). */
  size_t wtotal = 0;
  job.interleaved = true;
  for (size_t slot = 0; slot < job.nslots; slot++) {
    const size_t ph = (slot % nph) / aw->nphase, pw = slot % aw->nphase;
    const size_t taps =
        (ah->tstart[ph + 1] - ah->tstart[ph]) * (aw->tstart[pw + 1] - aw->tstart[pw]);
    wtotal += taps * icg * p->ntiles * p->nrp; /* within the packing, checked at planning */
    if (job.item_start[slot + 1] - job.item_start[slot] != job.item_start[1] - job.item_start[0])
      job.interleaved = false;
  }
  if (wtotal > ((size_t)4 << 20) / sizeof(float)) job.interleaved = false;
  job.stream =
      job.uk64 != NULL && !job.act_after && tconv_plan_streams(p, y) ? TCONV_UK_STREAM : 0;
  tconv_parallel_for(pool, items, gemm_item, &job);
  tconv_dealloc(job.item_start);
  tconv_dealloc(job.scratch);
  tconv_dealloc(vbias);
  return TCONV_OK;
}

/* ---- layouts and dispatch ----------------------------------------------------------------- */

typedef struct transpose_job {
  const float *src;
  float *dst;
  size_t C, HW;
  bool to_nhwc;
} transpose_job;

static void transpose_item(void *ctx, size_t n, size_t thread) {
  const transpose_job *t = ctx;
  (void)thread;
  const float *s = t->src + n * t->C * t->HW;
  float *d = t->dst + n * t->C * t->HW;
  if (t->to_nhwc) {
    for (size_t c = 0; c < t->C; c++)
      for (size_t i = 0; i < t->HW; i++) d[i * t->C + c] = s[c * t->HW + i];
  } else {
    for (size_t i = 0; i < t->HW; i++)
      for (size_t c = 0; c < t->C; c++) d[c * t->HW + i] = s[i * t->C + c];
  }
}

void tconv_layout_convert(const float *src, float *dst, size_t N, size_t C, size_t HW,
                          bool to_nhwc, tconv_threadpool *pool) {
  transpose_job t = {src, dst, C, HW, to_nhwc};
  tconv_parallel_for(pool, N, transpose_item, &t);
}

tconv_status tconv_plan_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool) {
  RETURN_IF(p == NULL || x == NULL || y == NULL, TCONV_INVALID_ARGUMENT, "forward: NULL argument");
  const tconv_geometry *g = &p->g;
  const size_t in_n = g->batch * g->in_h * g->in_w * g->in_c;
  const size_t out_n = g->batch * g->out_h * g->out_w * g->out_c; /* checked by the validator */
  if (out_n == 0) return TCONV_OK;
  const tconv_path path = tconv_dispatch_path();
  if (path == TCONV_PATH_REFERENCE) {
    tconv_ref_forward_gather(g, x, p->kernel, bias, y);
    if (act != NULL && act->kind != TCONV_ACT_LINEAR) tconv_activation_apply(act, y, out_n);
    return TCONV_OK;
  }
  if (g->data_format == TCONV_CHANNELS_LAST)
    return tconv_plan_run_nhwc(p, x, bias, act, y, pool, path);
  /* channels_first: through NHWC workspaces */
  float *xt = tconv_alloc((in_n ? in_n : 1) * sizeof(float));
  float *yt = tconv_alloc(out_n * sizeof(float));
  if (xt == NULL || yt == NULL) {
    tconv_dealloc(xt);
    tconv_dealloc(yt);
    return tconv_error(TCONV_OUT_OF_MEMORY, "forward: cannot allocate the NCHW workspaces");
  }
  tconv_layout_convert(x, xt, g->batch, g->in_c, g->in_h * g->in_w, true, pool);
  tconv_status st = tconv_plan_run_nhwc(p, xt, bias, act, yt, pool, path);
  if (st == TCONV_OK) tconv_layout_convert(yt, y, g->batch, g->out_c, g->out_h * g->out_w, false, pool);
  tconv_dealloc(xt);
  tconv_dealloc(yt);
  return st;
}

tconv_status tconv_plan_run_nhwc(const tconv_plan *p, const float *x, const float *bias,
                                 const tconv_activation *act, float *y, tconv_threadpool *pool,
                                 tconv_path path) {
  tconv_gemm_ukernel_fn uk =
      p->dot ? tconv_f32_dot_ukernel_6x2__scalar : tconv_f32_gemm_ukernel_6x16__scalar;
#if defined(__x86_64__)
  if (path == TCONV_PATH_AVX2 && p->direct != TCONV_DIRECT_NONE)
    return tconv_direct_run(p, x, bias, act, y, pool);
  if (path == TCONV_PATH_AVX2 && p->wino != NULL)
    return tconv_wino_run(p, x, bias, act, y, pool, tconv_dispatch_avx512());
  if (path == TCONV_PATH_AVX2)
    uk = p->dot ? tconv_f32_dot_ukernel_6x2__avx2_fma : tconv_f32_gemm_ukernel_6x16__avx2_fma;
#endif
  tconv_gemm64_ukernel_fn uk64 = NULL;
  tconv_gemm64_rows_ukernel_fn uk64_rows = NULL;
#if defined(__x86_64__)
  if (path == TCONV_PATH_AVX2 && tconv_dispatch_avx512()) {
    uk64 = tconv_f32_gemm_ukernel_6x64__avx512f;
    uk64_rows = tconv_f32_gemm_ukernel_6x64_rows__avx512f;
  }
#endif
  return gemm_run(p, x, bias, act, y, pool, uk, uk64, uk64_rows);
}

void tconv_plan_choose(tconv_plan *p) { (void)p; }
