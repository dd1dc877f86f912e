/* Direct row paths for the layers a 6x16 GEMM tile serves badly (AVX2 only; the scalar path
 * keeps the GEMM route).  Each runs work items of whole output rows (n, oh), so every output is
 * summed by one item in a fixed order: bitwise identical for any thread count.
 *
 * Pixel lanes ("prow", <= 4 filters per group and few channels: 1->1, 3->3): the lanes hold
 * 8 consecutive output pixels of one phase row, which read 8 consecutive input pixels for every
 * tap.  The input is first copied to a planar, zero-padded layout [n][h][c][pad | w | pad] so
 * that each tap is one unaligned load with no border test (taps outside the row read zeros; in
 * h the valid taps of the row are exact).  The phase rows land in a row buffer
 * [filter][phase][j] and are interleaved into the NHWC output row with the bias and clamp
 * already applied.
 *
 * Channel dot ("cdot", <= 4 filters per group and 16+ channels: 64->1, 56->1, 128->3): the
 * lanes hold 8 channels of one NHWC input pixel, read in place; with one filter the outputs of
 * a phase row share each input vector across their column taps; each output's lanes are
 * reduced once at the end.
 *
 * Channel lanes ("cpix", few input channels and more than 4 filters: 1->32): one output pixel
 * at a time over its valid-tap rectangle, 16 filters per panel (the GEMM packing), with no
 * indirection list: the taps of one phase have evenly spaced input offsets e, so the tap inputs
 * and panels are arithmetic progressions. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "core/threadpool.h"
#include "kernels/ukernel.h"
#include "plan/plan_internal.h"

enum { NR = TCONV_GEMM_NR };

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* True when every phase's e offsets step evenly (always for the phase construction, checked
 * anyway because the channel-lanes kernel depends on it); *step gets one step per phase. */
static bool axis_uniform(const tconv_axis *ax) {
  for (size_t p = 0; p < ax->nphase; p++)
    for (size_t i = ax->tstart[p] + 2; i < ax->tstart[p + 1]; i++)
      if (ax->e[i] - ax->e[i - 1] != ax->e[ax->tstart[p] + 1] - ax->e[ax->tstart[p]]) return false;
  return true;
}

static inline size_t axis_step(const tconv_axis *ax, size_t p) {
  size_t t0 = ax->tstart[p];
  return ax->tstart[p + 1] - t0 > 1 ? ax->e[t0 + 1] - ax->e[t0] : 0;
}

/* The batch lanes' tables (see blane_item), built once per plan from the pixel-lanes weights;
 * left NULL when the layer is not theirs (one channel, one filter, batch of 8k images of at
 * most 65536 pixels) or the tables would be large. */
static tconv_status blane_prepare(tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OW = g->out_w;
  if (p->icg != 1 || p->ocg != 1 || g->groups != 1 || g->batch % 8 ||
      g->in_h * g->in_w > 65536 || OW > 65536)
    return TCONV_OK;
  size_t nthmax = tconv_axis_taps_max(ah), ne = 0, nwt = 0;
  if (nthmax < 1) nthmax = 1;
  for (size_t ox = 0; ox < OW; ox++) ne += aw->hi[ox] - aw->lo[ox];
  /* small kernels only: the tables stay within a few output rows (a wide kernel's would not
   * follow the tensors' size) */
  if (ne > 8 * OW || tconv_mul_overflow(ah->nphase * nthmax, ne, &nwt) || nwt > 64 * OW ||
      nthmax > 64)
    return TCONV_OK;
  p->bl_nthmax = nthmax;
  p->bl_ne = ne;
  p->bl_cstart = tconv_alloc((OW + 1) * sizeof(size_t));
  p->bl_xcol = tconv_alloc((ne ? ne : 1) * sizeof(size_t));
  p->bl_wt = tconv_alloc_zeroed((nwt ? nwt : 1) * sizeof(float));
  RETURN_IF(p->bl_cstart == NULL || p->bl_xcol == NULL || p->bl_wt == NULL,
            TCONV_OUT_OF_MEMORY, "plan: cannot allocate the batch-lanes tables");
  size_t e = 0;
  for (size_t ox = 0; ox < OW; ox++) {
    const size_t pw = ox % aw->s, qw = (ox + aw->pb) / aw->s;
    const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw];
    const size_t *ew = aw->e + aw->tstart[pw];
    p->bl_cstart[ox] = e;
    for (size_t b = aw->lo[ox]; b < aw->hi[ox]; b++, e++) {
      p->bl_xcol[e] = qw - ew[b];
      for (size_t ph = 0; ph < ah->nphase; ph++) {
        const float *w = p->rowpack + p->rowpack_off[ph * aw->nphase + pw];
        for (size_t a = 0; a < ah->tstart[ph + 1] - ah->tstart[ph]; a++)
          p->bl_wt[(ph * nthmax + a) * ne + e] = w[a * ntw + b];
      }
    }
  }
  p->bl_cstart[OW] = e;
  return TCONV_OK;
}

/* The direct paths' weights per (group, phase): [tap][c][filter] for pixel lanes, or
 * [tap][filter][c] (by_filter) for channel dot. */
static tconv_status pack_rows(tconv_plan *p, bool by_filter) {
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t nslot = g->groups * ah->nphase * aw->nphase;
  p->rowpack_off = tconv_alloc((nslot + 1) * sizeof(size_t));
  RETURN_IF(p->rowpack_off == NULL, TCONV_OUT_OF_MEMORY, "plan: cannot allocate row tables");
  size_t total = 0;
  for (size_t grp = 0, i = 0; grp < g->groups; grp++)
    for (size_t ph = 0; ph < ah->nphase; ph++)
      for (size_t pw = 0; pw < aw->nphase; pw++, i++) {
        p->rowpack_off[i] = total;
        total += (ah->tstart[ph + 1] - ah->tstart[ph]) * (aw->tstart[pw + 1] - aw->tstart[pw]) *
                 p->icg * p->ocg; /* <= the GEMM packing, already checked for overflow */
      }
  p->rowpack = tconv_alloc((total ? total : 1) * sizeof(float));
  RETURN_IF(p->rowpack == NULL, TCONV_OUT_OF_MEMORY, "plan: cannot allocate %zu row weights",
            total);
  const size_t icg = p->icg, ocg = p->ocg, IC = g->in_c, KW = g->kernel_w;
  for (size_t grp = 0, i = 0; grp < g->groups; grp++)
    for (size_t ph = 0; ph < ah->nphase; ph++)
      for (size_t pw = 0; pw < aw->nphase; pw++, i++) {
        float *dst = p->rowpack + p->rowpack_off[i];
        for (size_t a = ah->tstart[ph]; a < ah->tstart[ph + 1]; a++)
          for (size_t b = aw->tstart[pw]; b < aw->tstart[pw + 1]; b++, dst += icg * ocg)
            for (size_t c = 0; c < icg; c++)
              for (size_t r = 0; r < ocg; r++)
                dst[by_filter ? r * icg + c : c * ocg + r] =
                    p->kernel[((ah->tap[a] * KW + aw->tap[b]) * ocg + r) * IC + grp * icg + c];
      }
  return TCONV_OK;
}

/* Channel dot: at most 4 filters per group, channels in whole 8-lane vectors (16 or more:
 * with fewer, the pixel lanes' planar rows hold more work per load), every column phase's taps
 * one input pixel apart and at most 4 of them (the one-filter kernel's register budget; wider
 * kernels against narrow inputs would mostly loop over masked taps).  At 1 thread, against
 * pixel lanes: 64->1 k5 s2 on 14x14 images 3.4 -> 2.25 ms (AVX-512VL build; AVX2 2.4); 56->1
 * k9 s3 on 128x128 2.3 -> 1.6 ms; 128->2 k4 s2 12-13% faster; 128->3 k5 s2 on 32x32 equal;
 * 256->4 k3 s2 on 16x16 17% faster (AVX2 build: 7% slower). */
static bool cdot_fits(const tconv_plan *p) {
  const tconv_axis *aw = &p->ax_w;
  if (p->ocg > 4 || p->icg < 16 || p->icg % 8 || !axis_uniform(aw)) return false;
  for (size_t pw = 0; pw < aw->nphase; pw++)
    if (aw->tstart[pw + 1] - aw->tstart[pw] > 4 || axis_step(aw, pw) > 1) return false;
  return true;
}

tconv_status tconv_direct_prepare(tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  p->direct = TCONV_DIRECT_NONE;
  /* colmerge's ax_w is the window axis, not the phases these paths walk (and its layers are
   * never theirs: more than 4 filters and 8 channels) */
  if (p->icg == 0 || p->ocg == 0 || p->colmerge) return TCONV_OK;
  if (p->ocg > 4) {
    if (p->icg <= 8 && !p->dot && axis_uniform(ah) && axis_uniform(aw)) {
      /* per column phase, the contiguous run of pixels whose taps are all valid */
      p->cpix_run = tconv_alloc(2 * aw->nphase * sizeof(size_t));
      RETURN_IF(p->cpix_run == NULL, TCONV_OUT_OF_MEMORY, "plan: cannot allocate row tables");
      for (size_t pw = 0; pw < aw->nphase; pw++) {
        const size_t nb = aw->tstart[pw + 1] - aw->tstart[pw];
        const size_t npix = (aw->out - pw + aw->s - 1) / aw->s;
        size_t ja = 0, jb = npix;
#define FULL(jj) (aw->lo[pw + (jj) * aw->s] == 0 && aw->hi[pw + (jj) * aw->s] == nb)
        while (ja < jb && !FULL(ja)) ja++;
        while (jb > ja && !FULL(jb - 1)) jb--;
        for (size_t jj = ja; jj < jb; jj++)
          if (!FULL(jj)) ja = jb = 0; /* not one run (never for the phase construction) */
#undef FULL
        p->cpix_run[2 * pw] = ja;
        p->cpix_run[2 * pw + 1] = jb;
      }
      p->direct = TCONV_DIRECT_CPIX;
    }
    return TCONV_OK;
  }
  if (cdot_fits(p)) {
    tconv_status st = pack_rows(p, true);
    if (st == TCONV_OK) p->direct = TCONV_DIRECT_CDOT;
    return st;
  }
  /* pixel lanes: planar row geometry, then weights per (group, phase) as [tap][c][filter] */
  size_t emax = 0;
  for (size_t i = 0; i < aw->tstart[aw->nphase]; i++) emax = aw->e[i] > emax ? aw->e[i] : emax;
  const size_t j8 = round8((g->out_w + aw->s - 1) / aw->s);
  const size_t qmax = (aw->nphase - 1 + aw->pb) / aw->s;
  size_t padr = j8 + qmax > g->in_w ? j8 + qmax - g->in_w : 0, wp = 0;
  /* Only when the zero padding stays small next to the row: a kernel far wider than the input
   * would make the planar rows (and the work on their zeros) grow with the kernel instead of
   * the tensors — the GEMM route skips invalid taps instead (found by fuzz/fuzz_layer.c). */
  if (tconv_add_overflow(emax, g->in_w, &wp) || tconv_add_overflow(wp, padr, &wp) ||
      wp > 2 * g->in_w + 64)
    return TCONV_OK;
  p->xpad_l = emax;
  p->xpad_w = wp;
  tconv_status st = pack_rows(p, false);
  if (st != TCONV_OK) return st;
  p->direct = TCONV_DIRECT_PROW;
  return blane_prepare(p);
}

typedef struct direct_job {
  const tconv_plan *p;
  const float *x; /* NHWC */
  float *y;       /* NHWC */
  const float *bias;
  const tconv_activation *act;
  tconv_uk_params params;
  unsigned flags;
  bool act_after;
  void *scratch;  /* per thread: tap pointers, row buffer, planar window */
  size_t scratch_stride, ldo, maxtaps;
  size_t band, nbands; /* prow: output rows per item, items per image */
  size_t nk;           /* prow with one filter: rows per call (prow_rows), else 0 */
  size_t win_off;      /* prow: byte offset of the planar window in a thread's scratch */
  size_t rb_off;       /* prow: byte offset of the row buffers */
  tconv_cpix_ukernel_fn cpix; /* cpix: the AVX2 or the AVX-512 kernel */
  tconv_cdot_ukernel_fn cdot; /* cdot: the AVX2 or the AVX-512VL build */
  tconv_cdotr_ukernel_fn cdotr;
} direct_job;

#if defined(__x86_64__) /* the kernels below are x86 only; plan.c calls this only there */

/* A thread's tap lists and row buffers (prow_item). */
typedef struct prow_scratch {
  const float **xt;    /* per tap: the input row */
  const float **w;     /* per tap, 4 rows: the weights (prow_rows; NULL: not a tap of it) */
  float *rb[4];        /* row buffers [filter][phase][j] */
} prow_scratch;

/* Input rows [ih0, ih1] that the valid taps of output rows [oh0, oh1) read (e ascends with the
 * tap, so a row's first valid tap reads its highest input row).  False when none. */
static bool band_rows(const tconv_axis *ah, size_t oh0, size_t oh1, size_t *ih0, size_t *ih1) {
  bool any = false;
  for (size_t oh = oh0; oh < oh1; oh++) {
    const size_t lo = ah->lo[oh], hi = ah->hi[oh];
    if (lo >= hi) continue;
    const size_t *e = ah->e + ah->tstart[oh % ah->s];
    const size_t qh = (oh + ah->pb) / ah->s;
    const size_t top = qh - e[lo], bottom = qh - e[hi - 1];
    if (!any || bottom < *ih0) *ih0 = bottom;
    if (!any || top > *ih1) *ih1 = top;
    any = true;
  }
  return any;
}

/* Work item `item` of a job in bands: image *n, output rows [*oh0, *oh1). */
static void item_band(const direct_job *j, size_t item, size_t *n, size_t *oh0, size_t *oh1) {
  const size_t OH = j->p->g.out_h;
  *n = item / j->nbands;
  *oh0 = item % j->nbands * j->band;
  *oh1 = *oh0 + j->band < OH ? *oh0 + j->band : OH;
}

/* The input rows [*r0, *r0 + *nrows) of the item this thread will most likely run after
 * `item` (tconv_parallel_next_item) that `item` itself (image n, output rows [oh0, oh1)) does
 * not read, for prefetching; *nrows = 0 when there are none. */
static void next_item_rows(const direct_job *j, size_t item, size_t n, size_t oh0, size_t oh1,
                           size_t *r0, size_t *nrows) {
  const tconv_axis *ah = &j->p->ax_h;
  const size_t next = tconv_parallel_next_item(item);
  size_t a0 = 0, a1 = 0, i0 = 0, i1 = 0, n2, o2, o3;
  *r0 = *nrows = 0;
  if (next >= j->p->g.batch * j->nbands) return;
  item_band(j, next, &n2, &o2, &o3);
  if (!band_rows(ah, o2, o3, &a0, &a1)) return;
  /* the same image: only the rows past this band's */
  if (n2 == n && band_rows(ah, oh0, oh1, &i0, &i1) && i1 + 1 > a0) a0 = i1 + 1;
  if (a0 <= a1) *r0 = n2 * j->p->g.in_h + a0, *nrows = a1 - a0 + 1;
}

/* The phase rows of one group (rb: [filter][phase][j], ldo apart) into its output row yg:
 * output ow = pw + sw * jj. */
static void prow_interleave(const direct_job *j, float *yg, const float *rb) {
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const size_t OW = g->out_w, OC = g->out_c, ocg = p->ocg, sw = p->ax_w.s;
  const size_t nph = p->ax_w.nphase, ldo = j->ldo;
  size_t ow = 0;
  if (g->groups == 1 && nph == sw && sw * ocg <= 8) {
    /* whole jj steps (every phase present) by register transposes: the row is contiguous */
    const float *rows[8];
    for (size_t pw = 0; pw < sw; pw++)
      for (size_t r = 0; r < ocg; r++) rows[pw * ocg + r] = rb + (r * nph + pw) * ldo;
    size_t done = 0;
    if (sw * ocg == 6 && tconv_dispatch_avx512()) /* RGB out, stride 2 */
      done = tconv_f32_interleave6__avx512f(OW / sw, rows, yg);
    if (done < OW / sw) {
      for (size_t k = 0; k < sw * ocg; k++) rows[k] += done;
      tconv_f32_interleave__avx2(sw * ocg, OW / sw - done, rows, yg + done * sw * ocg);
    }
    ow = OW / sw * sw;
  }
  for (size_t pw = ow % sw, jj = ow / sw; ow < OW; ow++) {
    for (size_t r = 0; r < ocg; r++) yg[ow * OC + r] = rb[(r * nph + pw) * ldo + jj];
    if (++pw == sw) pw = 0, jj++;
  }
}

/* One output row (n, oh) from the planar window win, whose row 0 is input row ih_base. */
static void prow_row(const direct_job *j, size_t n, size_t oh, const float *win, size_t ih_base,
                     const float **xt, float *rb) {
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, IC = g->in_c;
  const size_t icg = p->icg, ocg = p->ocg, sw = aw->s, nph = aw->nphase, wp = p->xpad_w;
  const size_t ldo = j->ldo, ph = oh % ah->s, qh = (oh + ah->pb) / ah->s;
  const size_t lo = ah->lo[oh], hi = ah->hi[oh];
  const size_t *eh = ah->e + ah->tstart[ph];
  float *yrow = j->y + (n * OH + oh) * OW * OC;
  for (size_t grp = 0; grp < g->groups; grp++) {
    for (size_t pw = 0; pw < aw->nphase; pw++) {
      const size_t cw = (OW - pw + sw - 1) / sw, qoff = (pw + aw->pb) / sw;
      const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw];
      const size_t *ew = aw->e + aw->tstart[pw];
      size_t t = 0;
      for (size_t a = lo; a < hi; a++) {
        const float *row = win + ((qh - eh[a] - ih_base) * IC + grp * icg) * wp + p->xpad_l + qoff;
        for (size_t b = 0; b < ntw; b++) xt[t++] = row - ew[b];
      }
      const float *w =
          p->rowpack + p->rowpack_off[(grp * ah->nphase + ph) * aw->nphase + pw] + lo * ntw * icg * ocg;
      tconv_f32_prow_ukernel__avx2_fma(ocg, cw, icg, t, xt, wp, w,
                                       j->bias ? j->bias + grp * ocg : NULL, rb + pw * ldo,
                                       nph * ldo, &j->params, j->flags);
    }
    prow_interleave(j, yrow + grp * ocg, rb);
  }
  if (j->act_after) tconv_activation_apply(j->act, yrow, OW * OC);
}

/* Output rows oh and oh2 = oh + s of one image (the next row of the same phase; oh2 >= OH:
 * none) in one pass of the one-filter pair kernel (AVX2; prow_rows runs four with AVX-512).
 * The rows' taps are merged by input row, highest first, which keeps each row's own taps in
 * order: a row's result does not depend on its partner (or on having one), so the pairing may
 * follow the bands.  Kept apart from prow_rows, which does the same for any row count: its
 * general merge measured 17% slower on 63x28x28 1->1 rows and 3% on 64->1 k5 s2. */
static void prow_pair(const direct_job *j, size_t n, size_t oh, size_t oh2, const float *win,
                      size_t ih_base, const prow_scratch *sc) {
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, IC = g->in_c;
  const size_t icg = p->icg, sw = aw->s, wp = p->xpad_w, ldo = j->ldo;
  const size_t ph = oh % ah->s, qh = (oh + ah->pb) / ah->s;
  const bool two = oh2 < OH;
  const size_t lo0 = ah->lo[oh], hi0 = ah->hi[oh];
  const size_t lo1 = two ? ah->lo[oh2] : 0, hi1 = two ? ah->hi[oh2] : 0;
  const size_t *eh = ah->e + ah->tstart[ph];
  float *yrow = j->y + (n * OH + oh) * OW * OC, *yrow2 = j->y + (n * OH + oh2) * OW * OC;
  for (size_t grp = 0; grp < g->groups; grp++) {
    for (size_t pw = 0; pw < aw->nphase; pw++) {
      const size_t cw = (OW - pw + sw - 1) / sw, qoff = (pw + aw->pb) / sw;
      const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw];
      const size_t *ew = aw->e + aw->tstart[pw];
      const float *wg = p->rowpack + p->rowpack_off[(grp * ah->nphase + ph) * aw->nphase + pw];
      size_t t = 0;
      for (size_t a = lo0, a2 = lo1; a < hi0 || a2 < hi1;) {
        /* row oh's tap a reads input row qh - e[a], row oh2's tap a2 reads qh + 1 - e[a2] */
        bool take0 = a < hi0, take1 = a2 < hi1;
        if (take0 && take1) {
          const size_t r0 = qh - eh[a], r1 = qh + 1 - eh[a2];
          take0 = r0 >= r1;
          take1 = r1 >= r0;
        }
        const size_t r = take0 ? qh - eh[a] : qh + 1 - eh[a2];
        const float *row = win + ((r - ih_base) * IC + grp * icg) * wp + p->xpad_l + qoff;
        for (size_t b = 0; b < ntw; b++, t++) {
          sc->xt[t] = row - ew[b];
          sc->w[2 * t] = take0 ? wg + (a * ntw + b) * icg : NULL;
          sc->w[2 * t + 1] = take1 ? wg + (a2 * ntw + b) * icg : NULL;
        }
        a += take0;
        a2 += take1;
      }
      float *const rows[2] = {sc->rb[0] + pw * ldo, sc->rb[1] + pw * ldo};
      tconv_f32_prow2_ukernel__avx2_fma(cw, icg, t, sc->xt, wp, sc->w,
                                        j->bias ? j->bias + grp : NULL, rows, &j->params, j->flags);
    }
    prow_interleave(j, yrow + grp, sc->rb[0]);
    if (two) prow_interleave(j, yrow2 + grp, sc->rb[1]);
  }
  if (j->act_after) {
    tconv_activation_apply(j->act, yrow, OW * OC);
    if (two) tconv_activation_apply(j->act, yrow2, OW * OC);
  }
}

/* Output rows oh + k*s, k < j->nk = 4 (AVX-512), of one image (the next rows of the same
 * phase; rows >= oh_end are left out) in one pass of the one-filter kernel, their taps merged
 * as in prow_pair: a row's result does not depend on the rows it runs with. */
static void prow_rows(const direct_job *j, size_t n, size_t oh, size_t oh_end, const float *win,
                      size_t ih_base, const prow_scratch *sc) {
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, IC = g->in_c;
  const size_t icg = p->icg, sw = aw->s, wp = p->xpad_w, ldo = j->ldo, s = ah->s;
  const size_t ph = oh % s, qh = (oh + ah->pb) / s;
  const size_t *eh = ah->e + ah->tstart[ph];
  const size_t nk = j->nk;
  size_t lo[4], hi[4], nrows = 0;
  float *rows[4];
  for (size_t k = 0; k < 4; k++) {
    const size_t o = oh + k * s;
    const bool in = k < nk && o < oh_end;
    lo[k] = in ? ah->lo[o] : 0;
    hi[k] = in ? ah->hi[o] : 0;
    nrows += in;
  }
  for (size_t grp = 0; grp < g->groups; grp++) {
    for (size_t pw = 0; pw < aw->nphase; pw++) {
      const size_t cw = (OW - pw + sw - 1) / sw, qoff = (pw + aw->pb) / sw;
      const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw];
      const size_t *ew = aw->e + aw->tstart[pw];
      const float *wg = p->rowpack + p->rowpack_off[(grp * ah->nphase + ph) * aw->nphase + pw];
      size_t a[4] = {lo[0], lo[1], lo[2], lo[3]}, t = 0;
      for (;;) {
        /* row k's tap a[k] reads input row qh + k - e[a[k]]: take the highest, by every row
         * that reads it */
        size_t r = 0;
        bool any = false;
        for (size_t k = 0; k < 4; k++)
          if (a[k] < hi[k] && (!any || qh + k - eh[a[k]] > r)) r = qh + k - eh[a[k]], any = true;
        if (!any) break;
        unsigned m = 0;
        for (size_t k = 0; k < 4; k++)
          if (a[k] < hi[k] && qh + k - eh[a[k]] == r) m |= 1u << k;
        const float *row = win + ((r - ih_base) * IC + grp * icg) * wp + p->xpad_l + qoff;
        for (size_t b = 0; b < ntw; b++, t++) {
          sc->xt[t] = row - ew[b];
          for (size_t k = 0; k < nk; k++)
            sc->w[nk * t + k] = m >> k & 1 ? wg + (a[k] * ntw + b) * icg : NULL;
        }
        for (size_t k = 0; k < 4; k++) a[k] += m >> k & 1;
      }
      for (size_t k = 0; k < 4; k++) rows[k] = sc->rb[k] + pw * ldo;
      tconv_f32_prow4_ukernel__avx512f(cw, icg, t, sc->xt, wp, sc->w,
                                       j->bias ? j->bias + grp : NULL, rows, &j->params, j->flags);
    }
    for (size_t k = 0; k < nrows; k++)
      prow_interleave(j, j->y + (n * OH + oh + k * s) * OW * OC + grp, sc->rb[k]);
  }
  if (j->act_after)
    for (size_t k = 0; k < nrows; k++)
      tconv_activation_apply(j->act, j->y + (n * OH + oh + k * s) * OW * OC, OW * OC);
}

/* A band of output rows of one image.  The input rows the band reads are copied to the
 * thread's planar window [row][c][pad | w | pad] (kept in L2, its zero padding written once
 * per call) as the rows come to need them, while the next input row is prefetched, so that
 * reading the input from memory overlaps the arithmetic of the rows before it.  The window
 * holds the same values as a whole-input copy would, so results do not depend on the banding. */
static void prow_item(void *ctx, size_t item, size_t thread) {
  const direct_job *j = ctx;
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h;
  size_t n, oh0, oh1;
  item_band(j, item, &n, &oh0, &oh1);
  const size_t IC = g->in_c, IW = g->in_w, wp = p->xpad_w, rowlen = IW * IC;
  unsigned char *scr = (unsigned char *)j->scratch + thread * j->scratch_stride;
  /* tap lists (4 * maxtaps entries: the taps of four rows), then four row buffers */
  prow_scratch sc;
  sc.xt = (const float **)scr;
  sc.w = sc.xt + 4 * j->maxtaps;
  float *rb = (float *)(scr + j->rb_off);
  for (size_t k = 0; k < 4; k++) sc.rb[k] = rb + k * p->ocg * p->ax_w.nphase * j->ldo;
  float *win = (float *)(scr + j->win_off);
  const float *ximg = j->x + n * g->in_h * rowlen;
  size_t ih0 = 0, ih1 = 0;
  if (!band_rows(ah, oh0, oh1, &ih0, &ih1)) ih1 = 0, ih0 = 1; /* reads no input */
  size_t next = ih0;      /* first input row not yet in the window */
  size_t fetched = ih0;   /* rows below it have been prefetched (or copied) */
  /* the first input rows of the item this thread will most likely run next that this band
   * does not read, up to three: it would copy them cold (64->1 k5 s2 on 14x14 inputs: 4%
   * faster, 7% at 2 threads; bands of 128->3 k5 s2 and 56->1 k9 s3 images: 1-3%) */
  size_t nx_r0, nx_rows;
  next_item_rows(j, item, n, oh0, oh1, &nx_r0, &nx_rows);
  const float *nx_row = j->x + nx_r0 * rowlen;
  const float *nx_end = nx_row + (nx_rows < 3 ? nx_rows : 3) * rowlen;
  for (size_t oh = oh0; oh < oh1; oh++) {
    /* one filter: rows oh + k*s, k < nk, from the band's start (fewer at the band's end) */
    if (j->nk && (oh - oh0) / ah->s % j->nk) continue; /* done with the row nk*s above */
    const size_t nk = j->nk ? j->nk : 1;
    size_t top = 0;
    bool any = false;
    for (size_t k = 0; k < nk; k++) {
      const size_t o = oh + k * ah->s;
      if (o >= oh1 || ah->lo[o] >= ah->hi[o]) continue;
      const size_t t = (o + ah->pb) / ah->s - ah->e[ah->tstart[o % ah->s] + ah->lo[o]];
      if (!any || t > top) top = t;
      any = true;
    }
    if (any) {
      for (; next <= top; next++)
        tconv_f32_planar__avx2(IW, IC, ximg + next * rowlen, IC,
                               win + (next - ih0) * IC * wp + p->xpad_l, wp);
      if (next <= ih1 && next >= fetched) {
        /* prefetcht1: fifty-odd prefetcht0 in a row held the L1 miss buffers and stalled
         * (64->1 k5 s2 on 14x14 inputs: 12% of the time on that instruction; t1 10% faster) */
        for (size_t b = 0; b < rowlen; b += 16) __builtin_prefetch(ximg + next * rowlen + b, 0, 2);
        fetched = next + 1;
      } else if (next > ih1 && nx_row < nx_end) {
        /* this band is in: fetch the next item's first rows, which it would copy cold */
        for (size_t b = 0; b < rowlen; b += 16) __builtin_prefetch(nx_row + b, 0, 2);
        nx_row += rowlen;
      }
    }
    if (j->nk == 2)
      prow_pair(j, n, oh, oh + ah->s < oh1 ? oh + ah->s : g->out_h, win, ih0, &sc);
    else if (j->nk)
      prow_rows(j, n, oh, oh1, win, ih0, &sc);
    else
      prow_row(j, n, oh, win, ih0, sc.xt, sc.rb[0]);
  }
}

/* Work items of less than this many FLOPs cost more in claims than they balance: a claim
 * moves the counter's line between cores (~0.2 us), and 28x28 1->32 k3 s2 (0.45 MFLOP) ran
 * 4.1 us at 2 threads in 8 bands, 3.4 us in 2 (min of 20000 calls). */
#define MIN_ITEM_FLOPS ((size_t)128 << 10)

/* Bands of output rows per work item: at most `band`, halved while the batch's bands are too
 * few to keep the threads busy (four items per thread at least), but not below
 * MIN_ITEM_FLOPS of work (row_flops per output row). */
static size_t band_for_threads(size_t band, size_t OH, size_t batch, size_t threads,
                               size_t row_flops) {
  while (band > 1 && batch * ((OH + band - 1) / band) < 4 * threads &&
         (band + 1) / 2 * row_flops >= MIN_ITEM_FLOPS)
    band = (band + 1) / 2;
  return band;
}

/* Nominal FLOPs of one output row of one image: every output's taps per phase, on average
 * kh*kw / (sh*sw) of them, times its channels per group. */
static size_t plan_row_flops(const tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  const size_t taps = g->kernel_h * g->kernel_w / (g->stride_h * g->stride_w);
  return 2 * g->out_w * g->out_c * p->icg * (taps ? taps : 1);
}

/* Channel lanes: item (image n, band of j->band output rows).  Each row phase's rows in the
 * band run in groups of equal valid row taps, one kernel call per group and column phase: the
 * rows of a group read input rows one apart and share the call's set-up, tap tables included
 * (28x28 1->32 k3 s2 at 1 thread: 112 calls of one 28-pixel row became about 20; 8.7 -> 7.3
 * us, and 6.9 with the border pixels' taps as tables too). */
static void cpix_item(void *ctx, size_t item, size_t thread) {
  const direct_job *j = ctx;
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, IC = g->in_c, IW = g->in_w;
  const size_t icg = p->icg, ocg = p->ocg, sw = aw->s, sh = ah->s;
  size_t n, oh0, oh1;
  item_band(j, item, &n, &oh0, &oh1);
  (void)thread;
  for (size_t ph = 0; ph < ah->nphase; ph++) {
    const size_t nth = ah->tstart[ph + 1] - ah->tstart[ph], *eh = ah->e + ah->tstart[ph];
    const ptrdiff_t xa = (ptrdiff_t)(axis_step(ah, ph) * IW * IC);
    size_t oh = oh0 + (ph + sh - oh0 % sh) % sh; /* the band's first row of phase ph */
    while (oh < oh1) {
      const size_t lh = ah->lo[oh], hh = ah->hi[oh], qh = (oh + ah->pb) / sh;
      size_t nrows = 1;
      while (oh + nrows * sh < oh1 && ah->lo[oh + nrows * sh] == lh &&
             ah->hi[oh + nrows * sh] == hh)
        nrows++;
      float *yrow = j->y + (n * OH + oh) * OW * OC;
      const size_t ih0 = lh < hh ? qh - eh[lh] : 0;
      /* phase by phase along the rows: pixel jj of phase pw is ow = pw + sw*jj, input column
       * qoff + jj */
      for (size_t pw = 0; pw < aw->nphase; pw++) {
        const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw], ntaps = nth * ntw;
        const size_t *ew = aw->e + aw->tstart[pw];
        const ptrdiff_t xb = (ptrdiff_t)(axis_step(aw, pw) * IC);
        const size_t qoff = (pw + aw->pb) / sw;
        const size_t npix = (OW - pw + sw - 1) / sw;
        /* x of pixel jj, tap (a, b) (a, b counted from the phase's first tap, a from lh):
         * row ih0 - a*step_h, column qoff + jj - ew[0] - b*step_w; as integer offsets from
         * the group's row, which the kernel adds only for valid taps */
        const ptrdiff_t col0 = (ptrdiff_t)qoff - (ptrdiff_t)(ntw ? ew[0] : 0);
        for (size_t grp = 0; grp < g->groups; grp++) {
          const float *wg = p->packed + p->pack_off[(grp * ah->nphase + ph) * aw->nphase + pw] +
                            lh * ntw * icg * NR;
          const float *xg = j->x + (n * g->in_h + ih0) * IW * IC + grp * icg;
          j->cpix(npix, nrows, ocg, icg, lh < hh ? hh - lh : 0, ntw, p->cpix_run[2 * pw],
                  p->cpix_run[2 * pw + 1], aw->lo + pw, aw->hi + pw, sw, xg,
                  col0 * (ptrdiff_t)IC, (ptrdiff_t)IC, (ptrdiff_t)(IW * IC), xa, xb, wg,
                  ntw * icg * NR, icg * NR, ntaps * icg * NR,
                  j->bias ? j->bias + grp * ocg : NULL, yrow + pw * OC + grp * ocg, sw * OC,
                  sh * OW * OC, &j->params, j->flags);
        }
      }
      oh += nrows * sh;
    }
  }
  if (j->act_after)
    tconv_activation_apply(j->act, j->y + (n * OH + oh0) * OW * OC, (oh1 - oh0) * OW * OC);
}

/* Channel dot: item (image n, band of j->band output rows).  Per output row, group and column
 * phase one kernel call on the whole phase row: its valid row taps exactly, and per pixel the
 * column taps whose input column exists.  The inputs are read from the NHWC tensor
 * in place (8-channel vectors of one input pixel), no planar copy. */
static void cdot_item(void *ctx, size_t item, size_t thread) {
  const direct_job *j = ctx;
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, IC = g->in_c, IW = g->in_w;
  const size_t icg = p->icg, ocg = p->ocg, sw = aw->s, sh = ah->s;
  size_t n, oh0, oh1;
  item_band(j, item, &n, &oh0, &oh1);
  const float **xt = (const float **)((unsigned char *)j->scratch + thread * j->scratch_stride);
  /* the input rows of the item this thread will most likely run next that this one does not
   * read, prefetched into L2 a share per output row, so that they are not read cold (item + 1
   * was another thread's at the end of each claim: 128->3 k5 s2 then read a quarter of its
   * images cold at 2 threads) */
  const size_t rowlen = IW * IC;
  size_t nx_r0, nxrows;
  next_item_rows(j, item, n, oh0, oh1, &nx_r0, &nxrows);
  const float *nx = nxrows ? j->x + nx_r0 * rowlen : NULL;
  for (size_t oh = oh0; oh < oh1; oh++) {
    const size_t ph = oh % sh, qh = (oh + ah->pb) / sh, lo = ah->lo[oh], hi = ah->hi[oh];
    const size_t *eh = ah->e + ah->tstart[ph];
    float *yrow = j->y + (n * OH + oh) * OW * OC;
    /* this row's share of the next item's rows, spread by the kernels over their calls */
    const float *pf = NULL;
    size_t npf = 0;
    if (nx != NULL) {
      const size_t r0 = (oh - oh0) * nxrows / (oh1 - oh0), r1 = (oh + 1 - oh0) * nxrows / (oh1 - oh0);
      pf = nx + r0 * rowlen;
      npf = (r1 - r0) * rowlen / 16; /* whole lines: none past the tensor's end */
    }
    const size_t npf_call = (npf + g->groups * aw->nphase - 1) / (g->groups * aw->nphase);
    for (size_t grp = 0; grp < g->groups; grp++) {
      for (size_t a = lo; a < hi; a++)
        xt[a - lo] = j->x + (n * g->in_h + qh - eh[a]) * IW * IC + grp * icg;
      for (size_t pw = 0; pw < aw->nphase; pw++) {
        /* pixel jj, tap (a, b) reads input pixel (qh - eh[a], qoff + jj - ew[b]); ew[b] =
         * ew[0] + b (checked at planning) */
        const size_t ntw = aw->tstart[pw + 1] - aw->tstart[pw], qoff = (pw + aw->pb) / sw;
        const size_t *ew = aw->e + aw->tstart[pw];
        const float *wg = p->rowpack + p->rowpack_off[(grp * ah->nphase + ph) * aw->nphase + pw];
        const size_t npix = (OW - pw + sw - 1) / sw, na = ntw ? hi - lo : 0;
        const ptrdiff_t c0 = ntw ? (ptrdiff_t)qoff - (ptrdiff_t)ew[ntw - 1] : 0;
        const float *wa = wg + lo * ntw * ocg * icg, *bias = j->bias ? j->bias + grp * ocg : NULL;
        float *y0 = yrow + pw * OC + grp * ocg;
        const size_t n_pf = npf < npf_call ? npf : npf_call;
        if (ocg == 1)
          j->cdot(npix, icg, na, ntw ? ntw : 1, xt, c0, IW, IC, wa, bias, y0, sw * OC, &j->params,
                  j->flags, pf, n_pf);
        else
          j->cdotr(ocg, npix, icg, na, ntw, xt, c0, IW, IC, wa, bias, y0, sw * OC, &j->params,
                   j->flags, pf, n_pf);
        pf = n_pf ? pf + 16 * n_pf : pf;
        npf -= n_pf;
      }
    }
    if (j->act_after) tconv_activation_apply(j->act, yrow, OW * OC);
  }
}

/* Batch lanes: one channel and one filter (1->1 layers on image batches, the MNIST use), 8
 * images per work item, one image per vector lane.  The item's input is transposed once to
 * [h][w][8 images]; then every output pixel of the 8 images is one vector whose taps are plain
 * loads, with no planar window, tap lists or phase interleave per row (pixel lanes spent ~250
 * cycles of such overhead per 56-pixel row of 1->1 k3 s2); the rows go back to NHWC by 8x8
 * transposes.  The sums run over the row taps, then the column taps, in order: the same for any
 * thread count. */
static void blane_item(void *ctx, size_t item, size_t thread) {
  const direct_job *j = ctx;
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h;
  const size_t IH = g->in_h, IW = g->in_w, OH = g->out_h, OW = g->out_w, n0 = item * 8;
  unsigned char *scr = (unsigned char *)j->scratch + thread * j->scratch_stride;
  const float **xr = (const float **)scr, **wr = xr + p->bl_nthmax;
  float *t = (float *)(scr + j->win_off), *ob = t + IH * IW * 8;
  for (size_t h = 0; h < IH; h++)
    tconv_f32_planar__avx2(8, IW, j->x + (n0 * IH + h) * IW, IH * IW, t + h * IW * 8, 8);
  const float bias = j->bias ? j->bias[0] : 0.0f;
  for (size_t oh = 0; oh < OH; oh++) {
    const size_t ph = oh % ah->s, qh = (oh + ah->pb) / ah->s, lo = ah->lo[oh], hi = ah->hi[oh];
    const size_t *eh = ah->e + ah->tstart[ph];
    for (size_t a = lo; a < hi; a++) {
      xr[a - lo] = t + (qh - eh[a]) * IW * 8;
      wr[a - lo] = p->bl_wt + (ph * p->bl_nthmax + a) * p->bl_ne;
    }
    tconv_f32_blane_row__avx2_fma(OW, p->bl_cstart, p->bl_xcol, hi - lo, xr, wr, bias, ob,
                                  &j->params, j->flags);
    float *yr = j->y + (n0 * OH + oh) * OW;
    tconv_f32_planar__avx2(OW, 8, ob, 8, yr, OH * OW);
    if (j->act_after)
      for (size_t l = 0; l < 8; l++) tconv_activation_apply(j->act, yr + l * OH * OW, OW);
  }
}

/* Batch lanes run: per-thread scratch [tap pointers | the item's input [h][w][8] | a row]. */
static tconv_status blane_run(direct_job *j, tconv_threadpool *pool) {
  const tconv_plan *p = j->p;
  const tconv_geometry *g = &p->g;
  const size_t threads = tconv_pool_threads(pool);
  j->win_off = (2 * p->bl_nthmax * sizeof(float *) + 63) & ~(size_t)63;
  j->scratch_stride =
      (j->win_off + (g->in_h * g->in_w + g->out_w) * 8 * sizeof(float) + 63) & ~(size_t)63;
  j->scratch = tconv_alloc(threads * j->scratch_stride);
  RETURN_IF(j->scratch == NULL, TCONV_OUT_OF_MEMORY, "forward: cannot allocate the batch lanes");
  tconv_parallel_for(pool, g->batch / 8, blane_item, j);
  tconv_dealloc(j->scratch);
  return TCONV_OK;
}

tconv_status tconv_direct_run(const tconv_plan *p, const float *x, const float *bias,
                              const tconv_activation *act, float *y, tconv_threadpool *pool) {
  const tconv_geometry *g = &p->g;
  direct_job j;
  memset(&j, 0, sizeof j);
  j.p = p;
  j.x = x;
  j.y = y;
  j.bias = bias;
  j.act = act;
  j.act_after = tconv_activation_split(act, &j.params, &j.flags);
  const size_t threads = tconv_pool_threads(pool), OH = g->out_h;
  if (p->direct == TCONV_DIRECT_CPIX) {
    j.cpix = tconv_dispatch_avx512() ? tconv_f32_cpix_ukernel__avx512f
                                     : tconv_f32_cpix_ukernel__avx2_fma;
    j.band = band_for_threads(OH, OH, g->batch, threads, plan_row_flops(p));
    j.nbands = (OH + j.band - 1) / j.band;
    tconv_parallel_for(pool, g->batch * j.nbands, cpix_item, &j);
    return TCONV_OK;
  }
  if (p->direct == TCONV_DIRECT_CDOT) {
    /* per thread: one row's input row pointers (its valid row taps) */
    const size_t nth = tconv_axis_taps_max(&p->ax_h);
    j.cdot = tconv_dispatch_avx512() ? tconv_f32_cdot_ukernel__avx512f
                                     : tconv_f32_cdot_ukernel__avx2_fma;
    j.cdotr = tconv_dispatch_avx512() ? tconv_f32_cdotr_ukernel__avx512f
                                      : tconv_f32_cdotr_ukernel__avx2_fma;
    j.scratch_stride = ((nth < g->in_h ? nth : g->in_h) * sizeof(float *) + 63) & ~(size_t)63;
    j.scratch = tconv_alloc(threads * j.scratch_stride + 64);
    RETURN_IF(j.scratch == NULL, TCONV_OUT_OF_MEMORY, "forward: cannot allocate the tap lists");
    j.band = band_for_threads(OH, OH, g->batch, threads, plan_row_flops(p));
    j.nbands = (OH + j.band - 1) / j.band;
    tconv_parallel_for(pool, g->batch * j.nbands, cdot_item, &j);
    tconv_dealloc(j.scratch);
    return TCONV_OK;
  }
  if (p->bl_wt != NULL) return blane_run(&j, pool);
  /* pixel lanes: bands of output rows whose input rows fit a ~192 KiB window per thread,
   * smaller bands when there are too few items to keep the threads busy */
  const tconv_axis *ah = &p->ax_h;
  const size_t rowbytes = g->in_c * p->xpad_w * sizeof(float); /* bounded at planning */
  size_t ehmax = 0;
  for (size_t i = 0; i < ah->tstart[ah->nphase]; i++) ehmax = ah->e[i] > ehmax ? ah->e[i] : ehmax;
  const size_t fit = (192u << 10) / (rowbytes ? rowbytes : 1);
  size_t band = fit > ehmax + 1 ? (fit - ehmax - 1) * ah->s + 1 : 1;
  if (band > OH) band = OH ? OH : 1;
  band = band_for_threads(band, OH, g->batch, threads, plan_row_flops(p));
  /* rows a band can read: at most (band + s - 2) / s + 1 values of qh, minus e in [0, ehmax] */
  size_t winrows = (band + ah->s - 2) / ah->s + 1 + ehmax, winbytes = 0;
  if (winrows > g->in_h) winrows = g->in_h;
  RETURN_IF(tconv_mul_overflow(winrows, rowbytes, &winbytes) ||
                winbytes > SIZE_MAX / 4 / (threads + 1),
            TCONV_LIMIT_EXCEEDED, "forward: planar window overflows");
  j.band = band;
  j.nbands = (OH + band - 1) / band;
  j.ldo = round8((g->out_w + p->ax_w.s - 1) / p->ax_w.s);
  /* tap pointers per call: the row's valid h taps (each reads its own input row) x the
   * phase's w taps (bounded by the padding check at planning) */
  const size_t nth = tconv_axis_taps_max(ah), ntw = tconv_axis_taps_max(&p->ax_w);
  j.maxtaps = (nth < g->in_h ? nth : g->in_h) * ntw;
  if (p->ocg == 1) {
    /* four rows (AVX-512) where three or more row taps are shared and the phase rows are two
     * zmm or more: 56->1 k9 s3 on 128-pixel rows 12% faster than the pair; on 14-pixel rows
     * (64->1 k5 s2) or with two row taps (k4 s2) measured 16-24% slower */
    const size_t cw = (g->out_w + p->ax_w.s - 1) / p->ax_w.s; /* the widest phase row */
    const bool z = tconv_dispatch_avx512() && nth >= 3 && cw >= 32;
    j.nk = z ? 4 : 2;
  }
  /* tap lists for up to four rows (x: 4 * maxtaps pointers, w: 16 * maxtaps), then four row
   * buffers [filter][phase][j]: only the nphase = min(out_w, s) phases that own outputs */
  j.rb_off = (20 * j.maxtaps * sizeof(float *) + 63) & ~(size_t)63;
  size_t sz = j.rb_off + 4 * p->ocg * p->ax_w.nphase * j.ldo * sizeof(float);
  j.win_off = (sz + 63) & ~(size_t)63;
  j.scratch_stride = (j.win_off + winbytes + 63) & ~(size_t)63;
  j.scratch = tconv_alloc(threads * j.scratch_stride);
  RETURN_IF(j.scratch == NULL, TCONV_OUT_OF_MEMORY, "forward: cannot allocate the planar window");
  /* the window's padding columns are never written by the copies: zero them once */
  for (size_t t = 0; t < threads; t++)
    memset((unsigned char *)j.scratch + t * j.scratch_stride + j.win_off, 0, winbytes);
  tconv_parallel_for(pool, g->batch * j.nbands, prow_item, &j);
  tconv_dealloc(j.scratch);
  return TCONV_OK;
}

#else

tconv_status tconv_direct_run(const tconv_plan *p, const float *x, const float *bias,
                              const tconv_activation *act, float *y, tconv_threadpool *pool) {
  (void)p, (void)x, (void)bias, (void)act, (void)y, (void)pool;
  return tconv_error(TCONV_UNSUPPORTED, "forward: the direct row paths need x86-64");
}

#endif
