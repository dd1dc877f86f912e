/* Winograd F(m x m, r x r) for undilated layers (the AVX2 route), per stride phase.
 *
 * Without dilation each stride phase of an axis (plan.c: the outputs o = p + s*q, taps t = p',
 * p' + s, ... with input offsets e = 0 .. T-1) is a correlation with its taps flipped:
 *     y[p + s*q] = sum over i < T of x[q + base - (T-1) + i] * g[i],  g[i] = w[tap[T-1-i]],
 * base = (p + pad) / s (inputs outside the image are zeros); with stride 1 there is one phase,
 * T = k and base = pad.  Winograd's minimal filtering computes m outputs of an
 * r-tap correlation from alpha = m + r - 1 inputs with alpha multiplies instead of m*r:
 *     y = A^T [ (G g) . (B^T d) ]
 * and in 2-D, per tile of m_h x m_w outputs and alpha x alpha inputs,
 *     Y = A_h^T [ (G_h g G_w^T) . (B_h^T d B_w) ] A_w.
 * Summed over channels, the element-wise product becomes alpha^2 independent GEMMs, one per
 * point xi = (a, b): M[xi][tile][k] = sum over c of V[xi][tile][c] * U[xi][c][k], with
 * V = B^T d B per tile and channel and U = G g G^T per channel and filter (transformed and
 * packed once, when the plan is made).  A 3x3 layer does 36 multiply-adds per 16 outputs
 * instead of 144.
 *
 * The matrices come from the Toom-Cook construction over the points 0, 1, -1, 2, -2 and
 * infinity (alpha = 6, so m = 7 - r: F(4, 3), F(3, 4), F(2, 5), F(5, 2)).  For the correlation,
 * A[i][j] = p_i^j, G[i][j] = p_i^j / prod_{k != i} (p_i - p_k), and row i of B^T holds the
 * coefficients of prod_{k != i} (x - p_k); the infinity row is e_{m-1} in A, e_{r-1} in G and
 * the coefficients of prod_k (x - p_k) in B^T.  Error: about 1e-6 of sum |x||w| per output for
 * F(4, 3), against 1e-7 for the direct sum (tests/unit/test_kernels.c checks 1e-5).
 *
 * Every phase has its own tiles, m per axis (7 - its taps) and U.  Two schedules:
 *  - fused (all the U within 8 MiB): work items are blocks of 24 tiles of one phase (images,
 *    tile rows, tile columns in order); an item transforms its tiles' inputs into V (in L2),
 *    runs the alpha^2 GEMMs through the GEMM micro-kernels (16 or 64 filters per call, each
 *    point's U in L1 across the block's rows), and transforms M into the output with bias and
 *    activation;
 *  - staged (more U, up to 1 GiB): phase by phase, the input transforms of all its tiles,
 *    then each point's GEMM over all of them, then the output transforms, so each U is read
 *    once per call rather than once per block.
 * Each output is computed by one item in a fixed order: bitwise identical for every thread
 * count, and on the AVX2 and AVX-512 routes (the micro-kernels' and transforms' operations per
 * lane are the same). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"
#include "core/threadpool.h"
#include "kernels/ukernel.h"
#include "plan/plan_internal.h"

enum { ALPHA = TCONV_WINO_ALPHA, XI = ALPHA * ALPHA, MR = TCONV_GEMM_MR, NR = TCONV_GEMM_NR };
/* Transformed weights: fused blocks up to 8 MiB, staged phases up to 1 GiB (64x4x4 1024->512
 * k5 s2: 302 MiB, against 52 MiB of weights) */
#define WINO_FUSED_MAX_WEIGHTS (8.0 * (1 << 20))
#define WINO_MAX_WEIGHTS (1024.0 * (1 << 20))
enum { STAGED_ROWS = 8 * MR }; /* rows per staged GEMM item */

/* One phase (ph, pw) of the layer: m and taps per axis, its output counts, tiles and U. */
typedef struct wino_phase {
  size_t ph, pw;
  size_t mh, mw, rh, rw;  /* outputs per tile (7 - taps) and taps, per axis */
  size_t ch, cw, th, tw;  /* the phase's outputs and tiles per image, per axis */
  size_t tiles;           /* batch x th x tw */
  ptrdiff_t ih0, iw0;     /* input row / column of tile 0's patch: base - (T - 1) */
  float *u;               /* per point xi: 16-filter panels of icg x 16 (the GEMM packing) */
} wino_phase;

struct tconv_wino {
  bool staged;   /* large transformed weights: run phase by phase, step by step (wino_run) */
  size_t nphase;
  wino_phase *ph;
  float *u;
};

/* G (alpha x r) of F(7 - r, r): G[i][j] = p_i^j / prod_{k != i} (p_i - p_k), the infinity row
 * e_{r-1}.  (B^T and A^T are written out in src/kernels/wino_block.h.) */
static void wino_g(size_t r, double *gm) {
  static const double pts[ALPHA - 1] = {0.0, 1.0, -1.0, 2.0, -2.0};
  for (size_t i = 0; i < ALPHA; i++) {
    double f = 1.0;
    for (size_t k = 0; k < ALPHA - 1; k++)
      if (k != i && i < ALPHA - 1) f *= pts[i] - pts[k];
    for (size_t j = 0; j < r; j++)
      gm[i * r + j] = i < ALPHA - 1 ? pow(pts[i], (double)j) / f : (double)(j == r - 1);
  }
}

bool tconv_wino_staged(const struct tconv_wino *w) { return w != NULL && w->staged; }

void tconv_wino_destroy(struct tconv_wino *w) {
  if (w == NULL) return;
  tconv_dealloc(w->u);
  tconv_dealloc(w->ph);
  tconv_dealloc(w);
}

/* The phases' taps per axis, all within 2..5 (F(7 - r, r))?  (Undilated: a phase's taps have
 * the offsets e = 0, 1, ...) */
static bool axis_taps_fit(const tconv_axis *ax) {
  for (size_t q = 0; q < ax->nphase; q++) {
    const size_t T = ax->tstart[q + 1] - ax->tstart[q];
    if (T < 2 || T > 5) return false;
  }
  return true;
}

/* Per axis: the multiplies of the tiles (6 per tile) and the useful ones (the valid taps). */
static void axis_work(const tconv_axis *ax, double *tiles6, double *useful) {
  *tiles6 = *useful = 0;
  for (size_t q = 0; q < ax->nphase; q++) {
    const size_t T = ax->tstart[q + 1] - ax->tstart[q], m = ALPHA + 1 - T;
    const size_t cnt = (ax->out - q + ax->s - 1) / ax->s;
    *tiles6 += (double)((cnt + m - 1) / m * ALPHA);
  }
  for (size_t o = 0; o < ax->out; o++) *useful += (double)(ax->hi[o] - ax->lo[o]);
}

/* The transformed weights: 36 x channels x filters floats per phase. */
static double wino_weight_bytes(const tconv_plan *p) {
  return (double)(p->ax_h.nphase * p->ax_w.nphase) * XI * (double)p->icg * (double)p->ocg *
         sizeof(float);
}

/* No dilation, one group, every phase's taps 2-5 per axis, channels in multiples of 8 and
 * filters of 16 (whole vectors and panels), enough of both that the transforms stay small
 * next to the GEMMs, and fewer multiplies than the direct path's useful ones by a margin of
 * 1.2 for the transforms (7x7 outputs of a 5x5 'same' layer, 256->128: 576 against 841 per
 * channel and filter, 125 -> 97 ms; 56x56 of a 3x3: 7056 against 27556). */
bool tconv_wino_fits(const tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  /* TCONV_WINOGRAD=off (or 0) keeps every layer on the direct sums, read at each plan */
  const char *env = getenv("TCONV_WINOGRAD");
  if (env != NULL && (strcmp(env, "0") == 0 || strcasecmp(env, "off") == 0)) return false;
#if !defined(__x86_64__)
  return false; /* the transforms are AVX2 kernels */
#endif
  if (!tconv_cpu_has_avx2_fma() || g->dilation_h != 1 || g->dilation_w != 1 || g->groups != 1 ||
      p->icg % 8 || p->ocg % 16 || p->icg < 32 || p->ocg < 32 || p->colmerge || p->dot ||
      !axis_taps_fit(&p->ax_h) || !axis_taps_fit(&p->ax_w))
    return false;
  if (wino_weight_bytes(p) > WINO_MAX_WEIGHTS) return false;
  double th6, tw6, uh, uw;
  axis_work(&p->ax_h, &th6, &uh);
  axis_work(&p->ax_w, &tw6, &uw);
  return th6 * tw6 * 1.2 < uh * uw;
}

tconv_status tconv_wino_prepare(tconv_plan *p) {
  const tconv_geometry *g = &p->g;
  const tconv_axis *ah = &p->ax_h, *aw = &p->ax_w;
  const size_t C = p->icg, K = p->ocg, KW = g->kernel_w, nphase = ah->nphase * aw->nphase;
  size_t n = 0, dims[4] = {nphase, XI, C, K};
  RETURN_IF(tconv_product_overflow(dims, 4, &n) || n > SIZE_MAX / sizeof(float),
            TCONV_LIMIT_EXCEEDED, "plan: Winograd weights overflow size_t");
  struct tconv_wino *w = tconv_alloc_zeroed(sizeof *w);
  if (w != NULL) {
    w->u = tconv_alloc(n * sizeof(float));
    w->ph = tconv_alloc_zeroed(nphase * sizeof(wino_phase));
  }
  double *gg = tconv_alloc(ALPHA * 5 * C * sizeof(double)); /* G_h g of one filter */
  if (w == NULL || w->u == NULL || w->ph == NULL || gg == NULL) {
    tconv_wino_destroy(w);
    tconv_dealloc(gg);
    return tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate the Winograd weights");
  }
  w->nphase = nphase;
  /* Fused blocks stream all the transformed weights once per block of 24 tiles: fine within
   * L3 (e: 4.7 MiB), not for 64x8x8 512->256 k5 s2 (75 MiB, from memory for each of 44
   * blocks); those run phase by phase, each point's GEMM over all the phase's tiles. */
  w->staged = wino_weight_bytes(p) > WINO_FUSED_MAX_WEIGHTS;
  for (size_t fi = 0; fi < nphase; fi++) {
    wino_phase *f = &w->ph[fi];
    f->ph = fi / aw->nphase, f->pw = fi % aw->nphase;
    f->rh = ah->tstart[f->ph + 1] - ah->tstart[f->ph];
    f->rw = aw->tstart[f->pw + 1] - aw->tstart[f->pw];
    f->mh = ALPHA + 1 - f->rh, f->mw = ALPHA + 1 - f->rw;
    f->ch = (ah->out - f->ph + ah->s - 1) / ah->s, f->cw = (aw->out - f->pw + aw->s - 1) / aw->s;
    f->th = (f->ch + f->mh - 1) / f->mh, f->tw = (f->cw + f->mw - 1) / f->mw;
    f->tiles = g->batch * f->th * f->tw;
    f->ih0 = (ptrdiff_t)((f->ph + ah->pb) / ah->s) - (ptrdiff_t)(f->rh - 1);
    f->iw0 = (ptrdiff_t)((f->pw + aw->pb) / aw->s) - (ptrdiff_t)(f->rw - 1);
    f->u = w->u + fi * XI * C * K;
    const size_t *tap_h = ah->tap + ah->tstart[f->ph], *tap_w = aw->tap + aw->tstart[f->pw];
    const size_t rh = f->rh, rw = f->rw;
    double gh[ALPHA * 5], gw[ALPHA * 5]; /* G_h, G_w */
    wino_g(rh, gh);
    wino_g(rw, gw);
    /* U[xi = (a, b)][c][k] = sum over i, j of G_h[a][i] G_w[b][j] g[i][j][k][c] with
     * g[i][j] = w[tap_h[rh-1-i]][tap_w[rw-1-j]], in double, packed as the GEMM's panels:
     * u + xi*C*K + (k/16)*C*16 + c*16 + k%16.  Per filter, along the channels (contiguous in
     * the kernel): gg[a][j][c] = (G_h g)[a][j], then U (1024->512 k5 s2: 1.1 -> 0.2 s). */
    for (size_t k = 0; k < K; k++) {
      for (size_t a = 0; a < ALPHA; a++)
        for (size_t j = 0; j < rw; j++) {
          double *row = gg + (a * rw + j) * C;
          for (size_t c = 0; c < C; c++) row[c] = 0.0;
          for (size_t i = 0; i < rh; i++) {
            const double coef = gh[a * rh + i];
            const size_t tap = tap_h[rh - 1 - i] * KW + tap_w[rw - 1 - j];
            const float *src = p->kernel + (tap * K + k) * C;
            for (size_t c = 0; c < C; c++) row[c] += coef * src[c];
          }
        }
      for (size_t a = 0; a < ALPHA; a++)
        for (size_t b = 0; b < ALPHA; b++) {
          float *dst = f->u + (a * ALPHA + b) * C * K + (k / NR) * C * NR + k % NR;
          for (size_t c = 0; c < C; c++) {
            double sum = 0.0;
            for (size_t j = 0; j < rw; j++) sum += gg[(a * rw + j) * C + c] * gw[b * rw + j];
            dst[c * NR] = (float)sum;
          }
        }
    }
  }
  tconv_dealloc(gg);
  p->wino = w;
  return TCONV_OK;
}

#if defined(__x86_64__)
typedef struct wino_job {
  const tconv_plan *p;
  const float *x, *bias;
  float *y;
  const tconv_activation *act;
  tconv_gemm_ukernel_fn uk;
  tconv_gemm64_ukernel_fn uk64; /* AVX-512: 4 panels per call (NULL: uk, one) */
  void (*in)(size_t, size_t, const float *const *, float *, size_t);
  void (*out)(size_t, size_t, size_t, size_t, const float *, size_t, const float *,
              float *const *, const tconv_uk_params *, unsigned);
  tconv_uk_params params;
  unsigned flags;  /* CLAMP for relu / relu6 */
  bool act_after;  /* other activations: applied to each stored pixel */
  size_t tpb;      /* tiles per item */
  /* fused: items of tpb tiles, each through all three steps in per-thread scratch */
  size_t *item_start; /* per phase: its first item; nphase + 1 entries */
  bool interleaved;    /* all phases have as many blocks: items run (block, phase) */
  float *scratch;  /* per thread: V (XI x (tpb x C + 16)) then M (XI x (tpb x K + 16)) */
  size_t scratch_floats;
  /* staged: one phase at a time, each step over all its tiles, V and M shared */
  const wino_phase *f;
  float *v, *m;
  size_t vs, ms;   /* floats between V's and M's points */
  size_t tbase, ntiles, rblocks; /* the stage: tiles [tbase, tbase + ntiles), row blocks */
} wino_job;

/* The 6 x 6 input patch of tile `tile` of phase f (pixels outside the image: the zero vector). */
static void tile_patch(const wino_job *job, const wino_phase *f, size_t tile, const float **px) {
  const tconv_plan *p = job->p;
  const tconv_geometry *g = &p->g;
  const size_t tc = tile % f->tw, tr = tile / f->tw % f->th, n = tile / (f->tw * f->th);
  const ptrdiff_t ih = (ptrdiff_t)(tr * f->mh) + f->ih0, iw = (ptrdiff_t)(tc * f->mw) + f->iw0;
  for (size_t i = 0; i < ALPHA; i++)
    for (size_t j = 0; j < ALPHA; j++) {
      const ptrdiff_t hh = ih + (ptrdiff_t)i, ww = iw + (ptrdiff_t)j;
      const bool inside = hh >= 0 && hh < (ptrdiff_t)g->in_h && ww >= 0 && ww < (ptrdiff_t)g->in_w;
      px[i * ALPHA + j] =
          inside ? job->x + ((n * g->in_h + (size_t)hh) * g->in_w + (size_t)ww) * p->icg : p->zero;
    }
}

/* Output transform of tile `tile` of phase f from M's row mrow (points ms apart), with bias and
 * activation: tile pixel (i, j) is phase output (tr*mh + i, tc*mw + j), the layer's output
 * (ph + sh*(tr*mh + i), pw + sw*(tc*mw + j)). */
static void tile_store(const wino_job *job, const wino_phase *f, size_t tile, const float *mrow,
                       size_t ms) {
  const tconv_geometry *g = &job->p->g;
  const size_t K = job->p->ocg, sh = g->stride_h, sw = g->stride_w;
  const size_t tc = tile % f->tw, tr = tile / f->tw % f->th, n = tile / (f->tw * f->th);
  float *py[XI];
  for (size_t i = 0; i < f->mh; i++)
    for (size_t j = 0; j < f->mw; j++) {
      const size_t qh = tr * f->mh + i, qw = tc * f->mw + j;
      py[i * f->mw + j] =
          qh < f->ch && qw < f->cw
              ? job->y + ((n * g->out_h + f->ph + sh * qh) * g->out_w + f->pw + sw * qw) * K
              : NULL;
    }
  job->out(0, K, f->mh, f->mw, mrow, ms, job->bias, py, &job->params, job->flags);
  if (job->act_after)
    for (size_t i = 0; i < f->mh * f->mw; i++)
      if (py[i] != NULL) tconv_activation_apply(job->act, py[i], K);
}

/* One point's GEMM over rows [r0, r1): M[t][k] = sum over c of V[t][c] U[c][k] (v, m: the
 * point's rows; u: its panels), channels in chunks of at most 512 (later chunks accumulate),
 * each chunk's panels over all the rows before the next. */
static void point_gemm(const wino_job *job, const float *u, const float *v, float *m, size_t r0,
                       size_t r1) {
  const size_t C = job->p->icg, K = job->p->ocg;
  const size_t np = job->uk64 != NULL ? TCONV_GEMM64_NP : 1;
  const size_t nchunk = (C + 511) / 512, kc = (C / 8 + nchunk - 1) / nchunk * 8;
  for (size_t c0 = 0; c0 < C; c0 += kc) {
    const size_t kn = C - c0 < kc ? C - c0 : kc;
    const unsigned flags = c0 > 0 ? TCONV_UK_ACCUMULATE : 0;
    for (size_t q = 0; q < K / NR; q += np) {
      const float *wp = u + q * C * NR + c0 * NR;
      const size_t nr = K - q * NR < np * NR ? K - q * NR : np * NR;
      for (size_t t0 = r0; t0 < r1; t0 += MR) {
        const size_t mr = r1 - t0 < MR ? r1 - t0 : MR;
        const float *a[MR];
        float *c[MR];
        for (size_t i = 0; i < MR; i++) {
          const size_t t = t0 + (i < mr ? i : mr - 1); /* rows past mr: readable, unused */
          a[i] = v + t * C + c0;
          c[i] = m + t * K + q * NR;
        }
        if (job->uk64 != NULL)
          job->uk64(mr, nr, kn, 1, a, &wp, C * NR, c, NULL, &job->params, flags);
        else
          job->uk(mr, nr, kn, 1, a, &wp, c, NULL, &job->params, flags);
      }
    }
  }
}

static void fused_item(void *ctx, size_t item, size_t thread) {
  const wino_job *job = ctx;
  const tconv_plan *p = job->p;
  const struct tconv_wino *w = p->wino;
  size_t phase, block;
  if (job->interleaved) { /* items (block, phase) */
    phase = item % w->nphase, block = item / w->nphase;
  } else { /* items (phase, block): item_start[phase] <= item < item_start[phase + 1] */
    size_t lo = 0, hi = w->nphase;
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      if (job->item_start[mid] <= item) lo = mid; else hi = mid;
    }
    phase = lo, block = item - job->item_start[lo];
  }
  const wino_phase *f = &w->ph[phase];
  const size_t C = p->icg, K = p->ocg, T = job->tpb;
  const size_t t0 = block * T, nt = t0 + T < f->tiles ? T : f->tiles - t0;
  /* V's and M's points lie vs and ms floats apart: a whole number of cache lines plus one, so
   * the 36 rows that one transform writes or reads fall in 36 different L1 sets (T x C floats
   * apart, often a multiple of 4 KiB, they all fell in one or two: e's input transform 3x
   * slower) */
  const size_t vs = T * C + 16, ms = T * K + 16;
  float *v = job->scratch + thread * job->scratch_floats, *mm = v + XI * vs;
  for (size_t t = 0; t < nt; t++) {
    const float *px[XI];
    tile_patch(job, f, t0 + t, px);
    job->in(0, C, px, v + t * C, vs);
  }
  for (size_t xi = 0; xi < XI; xi++)
    point_gemm(job, f->u + xi * C * K, v + xi * vs, mm + xi * ms, 0, nt);
  for (size_t t = 0; t < nt; t++) tile_store(job, f, t0 + t, mm + t * K, ms);
}

/* Staged steps over one phase's tiles: input transforms (items of tpb tiles), the points'
 * GEMMs (items (point, block of rows)), output transforms (items of tpb tiles). */
static void staged_in_item(void *ctx, size_t item, size_t thread) {
  const wino_job *job = ctx;
  (void)thread;
  const size_t t1 = (item + 1) * job->tpb < job->ntiles ? (item + 1) * job->tpb : job->ntiles;
  for (size_t t = item * job->tpb; t < t1; t++) {
    const float *px[XI];
    tile_patch(job, job->f, job->tbase + t, px);
    job->in(0, job->p->icg, px, job->v + t * job->p->icg, job->vs);
  }
}

static void staged_gemm_item(void *ctx, size_t item, size_t thread) {
  const wino_job *job = ctx;
  (void)thread;
  const size_t xi = item / job->rblocks, rb = item % job->rblocks;
  const size_t r0 = rb * STAGED_ROWS;
  const size_t r1 = r0 + STAGED_ROWS < job->ntiles ? r0 + STAGED_ROWS : job->ntiles;
  point_gemm(job, job->f->u + xi * job->p->icg * job->p->ocg, job->v + xi * job->vs,
             job->m + xi * job->ms, r0, r1);
}

static void staged_out_item(void *ctx, size_t item, size_t thread) {
  const wino_job *job = ctx;
  (void)thread;
  const size_t t1 = (item + 1) * job->tpb < job->ntiles ? (item + 1) * job->tpb : job->ntiles;
  for (size_t t = item * job->tpb; t < t1; t++)
    tile_store(job, job->f, job->tbase + t, job->m + t * job->p->ocg, job->ms);
}

size_t tconv_wino_stage_bytes = (size_t)64 << 20;

/* Phase by phase, in stages of at most `span` tiles (V and M of one stage within
 * tconv_wino_stage_bytes, 64 MiB, so the scratch does not grow with the batch; the suite's
 * layers take a phase in one stage). */
static tconv_status staged_run(wino_job *job, tconv_threadpool *pool) {
  const tconv_plan *p = job->p;
  const struct tconv_wino *w = p->wino;
  const size_t per_tile = XI * (p->icg + p->ocg) * sizeof(float);
  size_t span = tconv_wino_stage_bytes / per_tile / STAGED_ROWS * STAGED_ROWS, most = 0;
  if (span < STAGED_ROWS) span = STAGED_ROWS;
  for (size_t i = 0; i < w->nphase; i++)
    if (w->ph[i].tiles > most) most = w->ph[i].tiles;
  if (span > most) span = most;
  /* points a cache line more than a multiple of it apart, as in fused_item */
  job->vs = span * p->icg + 16, job->ms = span * p->ocg + 16;
  job->v = tconv_alloc(XI * (job->vs + job->ms) * sizeof(float));
  RETURN_IF(job->v == NULL, TCONV_OUT_OF_MEMORY, "forward: cannot allocate the Winograd tiles");
  job->m = job->v + XI * job->vs;
  job->tpb = 8;
  for (size_t i = 0; i < w->nphase; i++) {
    job->f = &w->ph[i];
    const size_t ntiles = job->f->tiles;
    for (job->tbase = 0; job->tbase < ntiles; job->tbase += span) {
      job->ntiles = ntiles - job->tbase < span ? ntiles - job->tbase : span;
      job->rblocks = (job->ntiles + STAGED_ROWS - 1) / STAGED_ROWS;
      const size_t titems = (job->ntiles + job->tpb - 1) / job->tpb;
      tconv_parallel_for(pool, titems, staged_in_item, job);
      tconv_parallel_for(pool, XI * job->rblocks, staged_gemm_item, job);
      tconv_parallel_for(pool, titems, staged_out_item, job);
    }
  }
  tconv_dealloc(job->v);
  return TCONV_OK;
}

tconv_status tconv_wino_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool,
                            bool avx512) {
  const struct tconv_wino *w = p->wino;
  wino_job job = {
      .p = p, .x = x, .bias = bias, .y = y, .act = act,
      .uk = tconv_f32_gemm_ukernel_6x16__avx2_fma,
      .uk64 = avx512 ? tconv_f32_gemm_ukernel_6x64__avx512f : NULL,
      .in = avx512 ? tconv_f32_wino_in__avx512f : tconv_f32_wino_in__avx2_fma,
      .out = avx512 ? tconv_f32_wino_out__avx512f : tconv_f32_wino_out__avx2_fma,
  };
  job.act_after = tconv_activation_split(act, &job.params, &job.flags);
  if (w->staged) return staged_run(&job, pool);
  /* 24 tiles per item (V and M together 24 x 36 x (channels + filters) floats in L2), fewer
   * when that leaves the threads under 4 items each */
  const size_t threads = tconv_pool_threads(pool);
  size_t ntiles = 0, tpb = 24;
  for (size_t i = 0; i < w->nphase; i++) ntiles += w->ph[i].tiles;
  while (tpb > MR && ntiles < 4 * threads * tpb) tpb -= MR;
  job.tpb = tpb;
  job.scratch_floats = XI * (tpb * (p->icg + p->ocg) + 32); /* V and M, see fused_item */
  job.scratch = tconv_alloc(threads * job.scratch_floats * sizeof(float));
  job.item_start = tconv_alloc((w->nphase + 1) * sizeof(size_t));
  if (job.scratch == NULL || job.item_start == NULL) {
    tconv_dealloc(job.scratch);
    tconv_dealloc(job.item_start);
    return tconv_error(TCONV_OUT_OF_MEMORY, "forward: cannot allocate the Winograd tiles");
  }
  size_t items = 0;
  for (size_t i = 0; i < w->nphase; i++) {
    job.item_start[i] = items;
    items += (w->ph[i].tiles + tpb - 1) / tpb;
  }
  job.item_start[w->nphase] = items;
  /* When every phase has as many tiles per image, a block's phases run back to back: they
   * read the same images, which then come from memory once rather than once per phase
   * (256x7x7 128->64 k5 s2: the input transform waited on memory for 60% of its time) */
  job.interleaved = true;
  for (size_t i = 1; i < w->nphase; i++)
    if (w->ph[i].tiles != w->ph[0].tiles) job.interleaved = false;
  tconv_parallel_for(pool, items, fused_item, &job);
  tconv_dealloc(job.scratch);
  tconv_dealloc(job.item_start);
  return TCONV_OK;
}
#else
tconv_status tconv_wino_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool,
                            bool avx512) {
  (void)p, (void)x, (void)bias, (void)act, (void)y, (void)pool, (void)avx512;
  return tconv_error(TCONV_UNSUPPORTED, "forward: Winograd needs x86-64"); /* never planned */
}
#endif
