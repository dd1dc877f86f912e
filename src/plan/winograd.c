/* Winograd F(m x m, r x r) for stride-1 layers (the AVX2 route).
 *
 * With stride 1 and no dilation the transposed convolution is a correlation with the flipped
 * kernel: y[o] = sum over i < k of x[o + pad - (k-1) + i] * g[i], g[i] = w[k-1-i] (per axis;
 * inputs outside the image are zeros).  Winograd's minimal filtering computes m outputs of an
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
 * Work items are blocks of tiles (images, tile rows, tile columns in order); an item
 * transforms its tiles' inputs into V (in L2), runs the alpha^2 GEMMs through the GEMM
 * micro-kernels (16 or 64 filters per call, each point's U stays in L1 across the block's
 * rows), and transforms M into the output with bias and activation.  Each output is written
 * by one item in a fixed order: bitwise identical for every thread count, and on the AVX2 and
 * AVX-512 routes (the micro-kernels' sums are the same). */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "core/threadpool.h"
#include "kernels/ukernel.h"
#include "plan/plan_internal.h"

enum { ALPHA = TCONV_WINO_ALPHA, XI = ALPHA * ALPHA, MR = TCONV_GEMM_MR, NR = TCONV_GEMM_NR };

struct tconv_wino {
  size_t mh, mw;         /* outputs per tile and axis: 7 - kernel size */
  size_t th, tw;         /* tiles per image and axis */
  float *u;              /* per point xi: 16-filter panels of icg x 16 (the GEMM packing) */
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

void tconv_wino_destroy(struct tconv_wino *w) {
  if (w == NULL) return;
  tconv_dealloc(w->u);
  tconv_dealloc(w);
}

/* Stride 1, no dilation, one group, kernel sides 2-5, channels in multiples of 8 and filters
 * of 16 (whole vectors and panels), enough of both that the transforms stay small next to the
 * GEMMs, and fewer multiplies than the direct path's useful ones by a margin for the
 * transforms and the tiles' overhang (7x7 outputs of a 5x5 'same' layer: 576 against 841,
 * measured no faster; 56x56 of a 3x3: 7056 against 27556). */
static bool wino_fits(const tconv_plan *p) {
  const tconv_geometry *g = &p->g;
#if !defined(__x86_64__)
  return false; /* the transforms are AVX2 kernels */
#endif
  if (!tconv_cpu_has_avx2_fma() || g->stride_h != 1 || g->stride_w != 1 || g->dilation_h != 1 ||
      g->dilation_w != 1 || g->groups != 1 || g->kernel_h < 2 || g->kernel_h > 5 ||
      g->kernel_w < 2 || g->kernel_w > 5 || p->icg % 8 || p->ocg % 16 || p->icg < 32 ||
      p->ocg < 32 || p->direct != TCONV_DIRECT_NONE || p->colmerge || p->dot)
    return false;
  const size_t mh = ALPHA + 1 - g->kernel_h, mw = ALPHA + 1 - g->kernel_w;
  const double tiles = (double)((g->out_h + mh - 1) / mh) * (double)((g->out_w + mw - 1) / mw);
  double useful_h = 0, useful_w = 0; /* valid taps summed over each axis's outputs */
  for (size_t o = 0; o < g->out_h; o++) useful_h += (double)(p->ax_h.hi[o] - p->ax_h.lo[o]);
  for (size_t o = 0; o < g->out_w; o++) useful_w += (double)(p->ax_w.hi[o] - p->ax_w.lo[o]);
  return tiles * XI * 1.5 < useful_h * useful_w;
}

tconv_status tconv_wino_prepare(tconv_plan *p) {
  if (!wino_fits(p)) return TCONV_OK;
  const tconv_geometry *g = &p->g;
  const size_t kh = g->kernel_h, kw = g->kernel_w, C = p->icg, K = p->ocg;
  size_t n = 0, dims[3] = {XI, C, K};
  RETURN_IF(tconv_product_overflow(dims, 3, &n) || n > SIZE_MAX / sizeof(float),
            TCONV_LIMIT_EXCEEDED, "plan: Winograd weights overflow size_t");
  struct tconv_wino *w = tconv_alloc_zeroed(sizeof *w);
  float *u = w != NULL ? tconv_alloc(n * sizeof(float)) : NULL;
  if (w == NULL || u == NULL) {
    tconv_dealloc(w);
    tconv_dealloc(u);
    return tconv_error(TCONV_OUT_OF_MEMORY, "plan: cannot allocate the Winograd weights");
  }
  w->u = u;
  w->mh = ALPHA + 1 - kh;
  w->mw = ALPHA + 1 - kw;
  w->th = (g->out_h + w->mh - 1) / w->mh;
  w->tw = (g->out_w + w->mw - 1) / w->mw;
  double gh[ALPHA * 5], gw[ALPHA * 5], gg[ALPHA * 5]; /* G_h, G_w; G_h g per (c, k) */
  wino_g(kh, gh);
  wino_g(kw, gw);
  /* U[xi = (a, b)][c][k] = sum over i, j of G_h[a][i] G_w[b][j] w[kh-1-i][kw-1-j][k][c], in
   * double, packed as the GEMM's panels: u + xi*C*K + (k/16)*C*16 + c*16 + k%16 */
  for (size_t k = 0; k < K; k++)
    for (size_t c = 0; c < C; c++) {
      for (size_t a = 0; a < ALPHA; a++)
        for (size_t j = 0; j < kw; j++) {
          double s = 0.0;
          for (size_t i = 0; i < kh; i++)
            s += gh[a * kh + i] * p->kernel[(((kh - 1 - i) * kw + (kw - 1 - j)) * K + k) * C + c];
          gg[a * kw + j] = s;
        }
      for (size_t a = 0; a < ALPHA; a++)
        for (size_t b = 0; b < ALPHA; b++) {
          double s = 0.0;
          for (size_t j = 0; j < kw; j++) s += gg[a * kw + j] * gw[b * kw + j];
          u[(a * ALPHA + b) * C * K + (k / NR) * C * NR + c * NR + k % NR] = (float)s;
        }
    }
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
  size_t tpb, ntiles;
  float *scratch;  /* per thread: V (XI x tpb x C) then M (XI x tpb x K) */
  size_t scratch_floats;
} wino_job;

static void wino_item(void *ctx, size_t item, size_t thread) {
  const wino_job *job = ctx;
  const tconv_plan *p = job->p;
  const tconv_geometry *g = &p->g;
  const struct tconv_wino *w = p->wino;
  const size_t C = p->icg, K = p->ocg, T = job->tpb;
  const size_t t0 = item * T, nt = t0 + T < job->ntiles ? T : job->ntiles - t0;
  float *v = job->scratch + thread * job->scratch_floats, *mm = v + XI * T * C;
  const ptrdiff_t oh0 = (ptrdiff_t)g->pad_top - (ptrdiff_t)(g->kernel_h - 1);
  const ptrdiff_t ow0 = (ptrdiff_t)g->pad_left - (ptrdiff_t)(g->kernel_w - 1);

  /* input transform: V[xi][t][c] */
  for (size_t t = 0; t < nt; t++) {
    const size_t tile = t0 + t, tc = tile % w->tw, tr = tile / w->tw % w->th;
    const size_t n = tile / (w->tw * w->th);
    const ptrdiff_t ih = (ptrdiff_t)(tr * w->mh) + oh0, iw = (ptrdiff_t)(tc * w->mw) + ow0;
    const float *px[XI];
    for (size_t i = 0; i < ALPHA; i++)
      for (size_t j = 0; j < ALPHA; j++) {
        const ptrdiff_t hh = ih + (ptrdiff_t)i, ww = iw + (ptrdiff_t)j;
        px[i * ALPHA + j] =
            hh >= 0 && hh < (ptrdiff_t)g->in_h && ww >= 0 && ww < (ptrdiff_t)g->in_w
                ? job->x + ((n * g->in_h + (size_t)hh) * g->in_w + (size_t)ww) * C
                : p->zero;
      }
    job->in(0, C, px, v + t * C, T * C);
  }

  /* the alpha^2 GEMMs: M[xi][t][k] = sum over c of V[xi][t][c] U[xi][c][k] */
  const size_t np = job->uk64 != NULL ? TCONV_GEMM64_NP : 1;
  for (size_t xi = 0; xi < XI; xi++)
    for (size_t q = 0; q < K / NR; q += np) {
      const float *wp = w->u + xi * C * K + q * C * NR;
      const size_t nr = K - q * NR < np * NR ? K - q * NR : np * NR;
      for (size_t r0 = 0; r0 < nt; r0 += MR) {
        const size_t mr = nt - r0 < MR ? nt - r0 : MR;
        const float *a[MR];
        float *c[MR];
        for (size_t m = 0; m < MR; m++) {
          const size_t t = r0 + (m < mr ? m : mr - 1); /* rows past mr: readable, unused */
          a[m] = v + (xi * T + t) * C;
          c[m] = mm + (xi * T + t) * K + q * NR;
        }
        if (job->uk64 != NULL)
          job->uk64(mr, nr, C, 1, a, &wp, C * NR, c, NULL, &job->params, 0);
        else
          job->uk(mr, nr, C, 1, a, &wp, c, NULL, &job->params, 0);
      }
    }

  /* output transform, bias and activation */
  for (size_t t = 0; t < nt; t++) {
    const size_t tile = t0 + t, tc = tile % w->tw, tr = tile / w->tw % w->th;
    const size_t n = tile / (w->tw * w->th);
    float *py[XI];
    for (size_t i = 0; i < w->mh; i++)
      for (size_t j = 0; j < w->mw; j++) {
        const size_t oh = tr * w->mh + i, ow = tc * w->mw + j;
        py[i * w->mw + j] = oh < g->out_h && ow < g->out_w
                                ? job->y + ((n * g->out_h + oh) * g->out_w + ow) * K
                                : NULL;
      }
    job->out(0, K, w->mh, w->mw, mm + t * K, T * K, job->bias, py, &job->params, job->flags);
    if (job->act_after)
      for (size_t i = 0; i < w->mh * w->mw; i++)
        if (py[i] != NULL) tconv_activation_apply(job->act, py[i], K);
  }
}

tconv_status tconv_wino_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool,
                            bool avx512) {
  const tconv_geometry *g = &p->g;
  const struct tconv_wino *w = p->wino;
  wino_job job = {
      .p = p, .x = x, .bias = bias, .y = y, .act = act,
      .uk = tconv_f32_gemm_ukernel_6x16__avx2_fma,
      .uk64 = avx512 ? tconv_f32_gemm_ukernel_6x64__avx512f : NULL,
      .in = avx512 ? tconv_f32_wino_in__avx512f : tconv_f32_wino_in__avx2_fma,
      .out = avx512 ? tconv_f32_wino_out__avx512f : tconv_f32_wino_out__avx2_fma,
  };
  job.act_after = tconv_activation_split(act, &job.params, &job.flags);
  job.ntiles = g->batch * w->th * w->tw;
  /* 24 tiles per item (V and M together 24 x 36 x (channels + filters) floats in L2), fewer
   * when that leaves the threads under 4 items each */
  const size_t threads = tconv_pool_threads(pool);
  size_t tpb = 24;
  while (tpb > MR && job.ntiles < 4 * threads * tpb) tpb -= MR;
  job.tpb = tpb;
  job.scratch_floats = (XI * tpb * (p->icg + p->ocg) + 15) & ~(size_t)15;
  job.scratch = tconv_alloc(threads * job.scratch_floats * sizeof(float));
  RETURN_IF(job.scratch == NULL, TCONV_OUT_OF_MEMORY, "forward: cannot allocate the Winograd tiles");
  tconv_parallel_for(pool, (job.ntiles + tpb - 1) / tpb, wino_item, &job);
  tconv_dealloc(job.scratch);
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
