#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX2+FMA "pixel-lanes" row kernel for layers with at most 4 filters per group (Cout 1..4,
 * where a GEMM tile would leave most of its 16 lanes idle): the lanes hold 8 consecutive output
 * pixels of one phase row, and the registers hold up to 12 accumulators (JV pixel vectors x R
 * filters).  Inputs come from a planar copy of the input rows ([c][w], zero-padded on both
 * sides) so that every tap of the phase is one unaligned load per 8 pixels, with no border
 * tests: out-of-image taps read the zero padding.  Contract: src/kernels/ukernel.h. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/cpix_table.h"
#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

/* One block of JV vectors (8*JV pixels from j0) x R filters; R and JV are constants after
 * inlining, so the accumulator array lives in registers.  With few accumulators the channel
 * sum is split into KS interleaved partial sums (fixed order, added at the end) so that the
 * FMA latency is covered. */
#define KSPLIT(R, JV) ((R) * (JV) <= 2 ? 4 : (R) * (JV) <= 4 ? 2 : 1)
INLINE void prow_step(const size_t R, const size_t JV, __m256 (*acc)[4], const float *xt,
                      const float *wt) {
  if (R * JV + R + 1 <= 16) { /* R weights in registers, one pixel vector at a time */
    __m256 wb[4];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++) wb[r] = _mm256_broadcast_ss(wt + r);
#pragma GCC unroll 12
    for (size_t v = 0; v < JV; v++) {
      const __m256 xv = _mm256_loadu_ps(xt + 8 * v);
#pragma GCC unroll 4
      for (size_t r = 0; r < R; r++) acc[v][r] = _mm256_fmadd_ps(xv, wb[r], acc[v][r]);
    }
  } else { /* JV pixel vectors in registers, one weight at a time */
    __m256 xv[12];
#pragma GCC unroll 12
    for (size_t v = 0; v < JV; v++) xv[v] = _mm256_loadu_ps(xt + 8 * v);
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++) {
      const __m256 wb = _mm256_broadcast_ss(wt + r);
#pragma GCC unroll 12
      for (size_t v = 0; v < JV; v++) acc[v][r] = _mm256_fmadd_ps(xv[v], wb, acc[v][r]);
    }
  }
}

INLINE void prow_block(const size_t R, const size_t JV, size_t j0, size_t kc, size_t ntaps,
                       const float *const *x, size_t xs, const float *w, const float *bias,
                       float *out, size_t ldo, const tconv_uk_params *params, unsigned flags) {
  const size_t KS = KSPLIT(R, JV);
  __m256 acc[12][4];
#pragma GCC unroll 4
  for (size_t r = 0; r < R; r++) {
    const __m256 b = bias ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();
#pragma GCC unroll 12
    for (size_t v = 0; v < JV; v++) acc[v][r] = b;
#pragma GCC unroll 12
    for (size_t v = JV; v < KS * JV; v++) acc[v][r] = _mm256_setzero_ps();
  }
  for (size_t t = 0; t < ntaps; t++) {
    const float *xt = x[t] + j0;
    const float *wt = w + t * kc * R;
    size_t c = 0;
#pragma GCC unroll 2
    for (; c + KS <= kc; c += KS, xt += KS * xs, wt += KS * R)
#pragma GCC unroll 4
      for (size_t ks = 0; ks < KS; ks++) prow_step(R, JV, acc + ks * JV, xt + ks * xs, wt + ks * R);
    for (; c < kc; c++, xt += xs, wt += R) prow_step(R, JV, acc, xt, wt);
  }
#pragma GCC unroll 4
  for (size_t ks = 1; ks < KS; ks++)
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++)
#pragma GCC unroll 12
      for (size_t v = 0; v < JV; v++) acc[v][r] = _mm256_add_ps(acc[v][r], acc[ks * JV + v][r]);
  if (flags & TCONV_UK_CLAMP) {
    const __m256 lo = _mm256_set1_ps(params->lo), hi = _mm256_set1_ps(params->hi);
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++)
#pragma GCC unroll 12
      for (size_t v = 0; v < JV; v++) acc[v][r] = _mm256_min_ps(_mm256_max_ps(acc[v][r], lo), hi);
  }
#pragma GCC unroll 4
  for (size_t r = 0; r < R; r++)
#pragma GCC unroll 12
    for (size_t v = 0; v < JV; v++) _mm256_storeu_ps(out + r * ldo + j0 + 8 * v, acc[v][r]);
}

/* Up to 12 accumulators: JV = 12 / R pixel vectors, fewer on the row's tail. */
#define PROW_CASE(R, JV)                                                                           \
  prow_block(R, JV, j0, kc, ntaps, x, xs, w, bias, out, ldo, params, flags);                       \
  break;

void tconv_f32_prow_ukernel__avx2_fma(size_t R, size_t n, size_t kc, size_t ntaps,
                                      const float *const *x, size_t xs, const float *w,
                                      const float *bias, float *out, size_t ldo,
                                      const tconv_uk_params *params, unsigned flags) {
  const size_t jvmax = R == 1 ? 8 : R == 2 ? 6 : R == 3 ? 4 : 3;
  for (size_t j0 = 0; j0 < n;) {
    size_t jv = (n - j0 + 7) / 8;
    if (jv > jvmax) jv = jvmax;
    switch (R * 16 + jv) {
      case 16 + 1: PROW_CASE(1, 1)
      case 16 + 2: PROW_CASE(1, 2)
      case 16 + 3: PROW_CASE(1, 3)
      case 16 + 4: PROW_CASE(1, 4)
      case 16 + 5: PROW_CASE(1, 5)
      case 16 + 6: PROW_CASE(1, 6)
      case 16 + 7: PROW_CASE(1, 7)
      case 16 + 8: PROW_CASE(1, 8)
      case 32 + 1: PROW_CASE(2, 1)
      case 32 + 2: PROW_CASE(2, 2)
      case 32 + 3: PROW_CASE(2, 3)
      case 32 + 4: PROW_CASE(2, 4)
      case 32 + 5: PROW_CASE(2, 5)
      case 32 + 6: PROW_CASE(2, 6)
      case 48 + 1: PROW_CASE(3, 1)
      case 48 + 2: PROW_CASE(3, 2)
      case 48 + 3: PROW_CASE(3, 3)
      case 48 + 4: PROW_CASE(3, 4)
      case 64 + 1: PROW_CASE(4, 1)
      case 64 + 2: PROW_CASE(4, 2)
      case 64 + 3: PROW_CASE(4, 3)
      default: return; /* R outside 1..4: the planner never asks */
    }
    j0 += 8 * jv;
  }
}

/* Pixel lanes for one filter, two output rows at once: the rows jh and jh + 1 of one phase read
 * the same input rows through neighbouring taps, so each input vector loaded feeds both rows
 * (one filter gives each load a single multiply-add otherwise, and the kernel ran bound by its
 * loads from L1: 56->1 k9 s3 twice as fast with the loads taken out).  Blocks of JV <= 4
 * vectors x 2 rows x KS partial sums, 8 accumulators in all. */
#define KSPAIR(JV) ((JV) == 1 ? 4 : (JV) == 2 ? 2 : 1)
/* The taps of one row only: into a (a0 or a1, named at the call so both stay in registers). */
INLINE void prow2_single(const size_t JV, const size_t KS, __m256 *a, const float *xt, size_t xs,
                         const float *pw, size_t kc) {
  for (size_t c = 0; c + KS <= kc; c += KS, xt += KS * xs, pw += KS)
#pragma GCC unroll 4
    for (size_t ks = 0; ks < KS; ks++) {
      const __m256 u = _mm256_broadcast_ss(pw + ks);
#pragma GCC unroll 4
      for (size_t v = 0; v < JV; v++)
        a[ks * JV + v] = _mm256_fmadd_ps(_mm256_loadu_ps(xt + ks * xs + 8 * v), u, a[ks * JV + v]);
    }
  for (size_t c = kc / KS * KS; c < kc; c++, xt += xs, pw++) {
    const __m256 u = _mm256_broadcast_ss(pw);
#pragma GCC unroll 4
    for (size_t v = 0; v < JV; v++) a[v] = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 8 * v), u, a[v]);
  }
}

INLINE void prow2_block(const size_t JV, size_t j0, size_t kc, size_t ntaps,
                        const float *const *x, size_t xs, const float *const *w,
                        const float *bias, float *out0, float *out1,
                        const tconv_uk_params *params, unsigned flags) {
  const size_t KS = KSPAIR(JV);
  __m256 a0[4], a1[4];
  const __m256 b = bias ? _mm256_set1_ps(bias[0]) : _mm256_setzero_ps();
#pragma GCC unroll 4
  for (size_t v = 0; v < KS * JV; v++) a0[v] = a1[v] = v < JV ? b : _mm256_setzero_ps();
  for (size_t t = 0; t < ntaps; t++) {
    const float *xt = x[t] + j0;
    const float *p0 = w[2 * t], *p1 = w[2 * t + 1];
    if (p0 != NULL && p1 != NULL) {
      for (size_t c = 0; c + KS <= kc; c += KS, xt += KS * xs, p0 += KS, p1 += KS)
#pragma GCC unroll 4
        for (size_t ks = 0; ks < KS; ks++) {
          const __m256 u0 = _mm256_broadcast_ss(p0 + ks), u1 = _mm256_broadcast_ss(p1 + ks);
#pragma GCC unroll 4
          for (size_t v = 0; v < JV; v++) {
            __m256 xv = _mm256_loadu_ps(xt + ks * xs + 8 * v);
            __asm__("" : "+x"(xv)); /* one load for both rows, not one memory operand each */
            a0[ks * JV + v] = _mm256_fmadd_ps(xv, u0, a0[ks * JV + v]);
            a1[ks * JV + v] = _mm256_fmadd_ps(xv, u1, a1[ks * JV + v]);
          }
        }
      for (size_t c = kc / KS * KS; c < kc; c++, xt += xs, p0++, p1++) {
        const __m256 u0 = _mm256_broadcast_ss(p0), u1 = _mm256_broadcast_ss(p1);
#pragma GCC unroll 4
        for (size_t v = 0; v < JV; v++) {
          __m256 xv = _mm256_loadu_ps(xt + 8 * v);
          __asm__("" : "+x"(xv));
          a0[v] = _mm256_fmadd_ps(xv, u0, a0[v]);
          a1[v] = _mm256_fmadd_ps(xv, u1, a1[v]);
        }
      }
    } else if (p0 != NULL) {
      prow2_single(JV, KS, a0, xt, xs, p0, kc);
    } else if (p1 != NULL) {
      prow2_single(JV, KS, a1, xt, xs, p1, kc);
    }
  }
#pragma GCC unroll 4
  for (size_t ks = 1; ks < KS; ks++)
#pragma GCC unroll 4
    for (size_t v = 0; v < JV; v++) {
      a0[v] = _mm256_add_ps(a0[v], a0[ks * JV + v]);
      a1[v] = _mm256_add_ps(a1[v], a1[ks * JV + v]);
    }
  if (flags & TCONV_UK_CLAMP) {
    const __m256 lo = _mm256_set1_ps(params->lo), hi = _mm256_set1_ps(params->hi);
#pragma GCC unroll 4
    for (size_t v = 0; v < JV; v++) {
      a0[v] = _mm256_min_ps(_mm256_max_ps(a0[v], lo), hi);
      a1[v] = _mm256_min_ps(_mm256_max_ps(a1[v], lo), hi);
    }
  }
#pragma GCC unroll 4
  for (size_t v = 0; v < JV; v++) {
    _mm256_storeu_ps(out0 + j0 + 8 * v, a0[v]);
    _mm256_storeu_ps(out1 + j0 + 8 * v, a1[v]);
  }
}

void tconv_f32_prow2_ukernel__avx2_fma(size_t n, size_t kc, size_t ntaps, const float *const *x,
                                       size_t xs, const float *const *w, const float *bias,
                                       float *const *out, const tconv_uk_params *params,
                                       unsigned flags) {
  float *out0 = out[0], *out1 = out[1];
  for (size_t j0 = 0; j0 < n;) {
    size_t jv = (n - j0 + 7) / 8;
    if (jv > 4) jv = 4;
    switch (jv) {
      case 1: prow2_block(1, j0, kc, ntaps, x, xs, w, bias, out0, out1, params, flags); break;
      case 2: prow2_block(2, j0, kc, ntaps, x, xs, w, bias, out0, out1, params, flags); break;
      case 3: prow2_block(3, j0, kc, ntaps, x, xs, w, bias, out0, out1, params, flags); break;
      default: prow2_block(4, j0, kc, ntaps, x, xs, w, bias, out0, out1, params, flags); break;
    }
    j0 += 8 * jv;
  }
}

/* Batch lanes (one channel, one filter, 8 images in the lanes): one output row.  Output column
 * o sums, over the row taps a < na and its column entries e in [cstart[o], cstart[o+1]),
 * xrow[a][8 * xcol[e] + l] * wrow[a][e] — input pixels [col][8 images], so every tap is one
 * aligned-size load with no transposes in the loop. */
void tconv_f32_blane_row__avx2_fma(size_t ow, const size_t *cstart, const size_t *xcol,
                                   size_t na, const float *const *xrow, const float *const *wrow,
                                   float bias, float *out, const tconv_uk_params *params,
                                   unsigned flags) {
  const __m256 b = _mm256_set1_ps(bias);
  const __m256 lo = _mm256_set1_ps(params->lo), hi = _mm256_set1_ps(params->hi);
  size_t o = 0;
  /* four outputs at a time, each its own chain of multiply-adds (one output's chain is a few
   * dependent FMAs: alone, their latency was the loop's bound); the same order per output */
  for (; o + 4 <= ow; o += 4) {
    __m256 acc[4] = {b, b, b, b};
    size_t ne[4], emax = 0;
#pragma GCC unroll 4
    for (size_t q = 0; q < 4; q++) {
      ne[q] = cstart[o + q + 1] - cstart[o + q];
      emax = ne[q] > emax ? ne[q] : emax;
    }
    for (size_t a = 0; a < na; a++) {
      const float *xr = xrow[a], *wr = wrow[a];
      for (size_t k = 0; k < emax; k++)
#pragma GCC unroll 4
        for (size_t q = 0; q < 4; q++)
          if (k < ne[q]) {
            const size_t e = cstart[o + q] + k;
            acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8 * xcol[e]), _mm256_broadcast_ss(wr + e),
                                     acc[q]);
          }
    }
#pragma GCC unroll 4
    for (size_t q = 0; q < 4; q++) {
      if (flags & TCONV_UK_CLAMP) acc[q] = _mm256_min_ps(_mm256_max_ps(acc[q], lo), hi);
      _mm256_storeu_ps(out + 8 * (o + q), acc[q]);
    }
  }
  for (; o < ow; o++) {
    __m256 acc = b;
    const size_t e0 = cstart[o], e1 = cstart[o + 1];
    for (size_t a = 0; a < na; a++) {
      const float *xr = xrow[a], *wr = wrow[a];
      for (size_t e = e0; e < e1; e++)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(xr + 8 * xcol[e]), _mm256_broadcast_ss(wr + e), acc);
    }
    if (flags & TCONV_UK_CLAMP) acc = _mm256_min_ps(_mm256_max_ps(acc, lo), hi);
    _mm256_storeu_ps(out + 8 * o, acc);
  }
}

/* AVX2+FMA "channel-lanes" pixel kernel for few input channels and many filters (Cin 1..8):
 * one output pixel, every 16-filter panel of its group, over its valid-tap rectangle, with no
 * indirection list — the tap inputs and panels are arithmetic progressions (the e offsets of
 * one phase step uniformly).  The pixels whose taps are all valid (the row's interior) run a
 * flat loop over a table of U = taps x channels (input offset, weight row) pairs, unrolled
 * for small U; the border pixels walk their tap rectangle. */

/* One pixel's accumulators from init: 2*NP vectors of 8 filters. */
#define CPIX_ACC_DECL(NP, init)                                                                    \
  __m256 acc[8];                                                                                   \
  _Pragma("GCC unroll 8") for (size_t q = 0; q < 2 * (NP); q++) acc[q] = (init)[q]

INLINE void cpix_store(const size_t NP, size_t nr, size_t nc, __m256 *acc, float *y,
                       const tconv_uk_params *params, unsigned flags) {
  if (flags & TCONV_UK_CLAMP) {
    const __m256 lo_v = _mm256_set1_ps(params->lo), hi_v = _mm256_set1_ps(params->hi);
#pragma GCC unroll 8
    for (size_t q = 0; q < 2 * NP; q++) acc[q] = _mm256_min_ps(_mm256_max_ps(acc[q], lo_v), hi_v);
  }
  if (nr == 16) {
#pragma GCC unroll 8
    for (size_t q = 0; q < 2 * NP; q++) _mm256_storeu_ps(y + 8 * q, acc[q]);
  } else {
    float t[64];
#pragma GCC unroll 8
    for (size_t q = 0; q < 2 * NP; q++) _mm256_storeu_ps(t + 8 * q, acc[q]);
    for (size_t n = 0; n < nc; n++) y[n] = t[n];
  }
}

/* Interior pixels [ja, jb): U (input offset, weight row) pairs, U a constant after inlining
 * for the unrolled cases (0 = runtime count u); CLAMP and FULL (every panel 16 wide) are
 * constants too, so the per-pixel loop carries no tests.  With few enough weights they stay
 * in registers across the pixels. */
INLINE void cpix_interior(const size_t NP, const size_t U, const bool CLAMP, const bool FULL,
                          size_t u, size_t nr, size_t nc, size_t ja, size_t jb, size_t nrows,
                          const float *x, ptrdiff_t xj, ptrdiff_t xr, const ptrdiff_t *voff,
                          const float *const *vw, size_t wpanel, const __m256 *init, float *y,
                          size_t ys, size_t yr, const tconv_uk_params *params) {
  const size_t n_u = U ? U : u;
  const __m256 lo_v = _mm256_set1_ps(params->lo), hi_v = _mm256_set1_ps(params->hi);
  const bool WREG = U != 0 && U * 2 * NP <= 8;
  __m256 wr[8];
  if (WREG) {
#pragma GCC unroll 8
    for (size_t v = 0; v < U; v++)
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) {
        wr[(v * NP + q) * 2] = _mm256_loadu_ps(vw[v] + q * wpanel);
        wr[(v * NP + q) * 2 + 1] = _mm256_loadu_ps(vw[v] + q * wpanel + 8);
      }
  }
  for (size_t r = 0; r < nrows; r++) {
    const float *xp = x + (ptrdiff_t)r * xr + (ptrdiff_t)ja * xj;
    float *yp = y + r * yr + ja * ys;
    for (size_t jj = ja; jj < jb; jj++, xp += xj, yp += ys) {
      __m256 acc[8];
#pragma GCC unroll 8
      for (size_t q = 0; q < 2 * NP; q++) acc[q] = init[q];
#pragma GCC unroll 16
      for (size_t v = 0; v < n_u; v++) {
        const __m256 xv = _mm256_broadcast_ss(xp + voff[v]);
#pragma GCC unroll 4
        for (size_t q = 0; q < NP; q++) {
          const __m256 w0 = WREG ? wr[(v * NP + q) * 2] : _mm256_loadu_ps(vw[v] + q * wpanel);
          const __m256 w1 =
              WREG ? wr[(v * NP + q) * 2 + 1] : _mm256_loadu_ps(vw[v] + q * wpanel + 8);
          acc[2 * q] = _mm256_fmadd_ps(xv, w0, acc[2 * q]);
          acc[2 * q + 1] = _mm256_fmadd_ps(xv, w1, acc[2 * q + 1]);
        }
      }
      if (CLAMP) {
#pragma GCC unroll 8
        for (size_t q = 0; q < 2 * NP; q++)
          acc[q] = _mm256_min_ps(_mm256_max_ps(acc[q], lo_v), hi_v);
      }
      if (FULL) {
#pragma GCC unroll 8
        for (size_t q = 0; q < 2 * NP; q++) _mm256_storeu_ps(yp + 8 * q, acc[q]);
      } else {
        cpix_store(NP, nr, nc, acc, yp, params, 0);
      }
    }
  }
}

/* NP panels (16*NP filters, NP constant after inlining), pixels jj < npix of one phase row;
 * nr filters valid in the last panel. */
INLINE void cpix_block(const size_t NP, size_t nr, size_t npix, size_t nrows, size_t kc,
                       size_t na, size_t nb, size_t ja, size_t jb, const size_t *lo,
                       const size_t *hi, size_t ls, const float *x, ptrdiff_t x0, ptrdiff_t xj,
                       ptrdiff_t xr, ptrdiff_t xa, ptrdiff_t xb, const float *w, size_t wa,
                       size_t wb, size_t wpanel, const float *bias, float *y, size_t ys,
                       size_t yr, const tconv_uk_params *params, unsigned flags) {
  const size_t nc = 16 * (NP - 1) + nr;
  __m256 init[8];
  {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 8
    for (size_t q = 0; q < 2 * NP; q++) {
      const int left = (int)nc - (int)(8 * q);
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
      init[q] = bias ? _mm256_maskload_ps(bias + 8 * q, m) : _mm256_setzero_ps();
    }
  }
  ptrdiff_t voff[CPIX_UMAX];
  const float *vw[CPIX_UMAX];
  size_t u = ja < jb ? cpix_table(na, nb, kc, x0, xa, xb, w, wa, wb, voff, vw) : 0;
  if (u == 0) ja = jb = 0;
#define CPIX_INT3(UU, CL, FU, J0, J1)                                                              \
  cpix_interior(NP, UU, CL, FU, u, nr, nc, J0, J1, nrows, x, xj, xr, voff, vw, wpanel, init, y,    \
                ys, yr, params)
#define CPIX_INT(UU, J0, J1)                                                                       \
  if (flags & TCONV_UK_CLAMP) {                                                                    \
    if (nr == 16) CPIX_INT3(UU, true, true, J0, J1); else CPIX_INT3(UU, true, false, J0, J1);      \
  } else {                                                                                         \
    if (nr == 16) CPIX_INT3(UU, false, true, J0, J1); else CPIX_INT3(UU, false, false, J0, J1);    \
  }
  if (ja < jb) {
    switch (u) {
      case 1: CPIX_INT(1, ja, jb); break;
      case 2: CPIX_INT(2, ja, jb); break;
      case 4: CPIX_INT(4, ja, jb); break;
      default: CPIX_INT(0, ja, jb); break;
    }
  }
  /* the border pixels: each one's tap rectangle as a table too, shared by the rows */
  for (size_t jj = 0; jj < npix; jj++) {
    if (jj == ja && ja < jb) {
      jj = jb - 1;
      continue;
    }
    const size_t l = lo[jj * ls], h = na ? hi[jj * ls] : l;
    u = h > l ? cpix_table_cols(na, l, h, kc, x0, xa, xb, w, wa, wb, voff, vw) : 0;
    if (u > 0 || h <= l) { /* u = 0 here: no valid tap, the bias alone */
      CPIX_INT(0, jj, jj + 1);
      continue;
    }
    for (size_t r = 0; r < nrows; r++) { /* more than CPIX_UMAX taps: walk the rectangle */
      CPIX_ACC_DECL(NP, init);
      for (size_t a = 0; a < na; a++) {
        for (size_t b = l; b < h; b++) {
          const float *xp = x + (x0 + (ptrdiff_t)r * xr + (ptrdiff_t)jj * xj - (ptrdiff_t)a * xa -
                                 (ptrdiff_t)b * xb);
          const float *wp = w + a * wa + b * wb;
          for (size_t k = 0; k < kc; k++) {
            const __m256 xv = _mm256_broadcast_ss(xp + k);
#pragma GCC unroll 4
            for (size_t q = 0; q < NP; q++) {
              acc[2 * q] =
                  _mm256_fmadd_ps(xv, _mm256_loadu_ps(wp + q * wpanel + 16 * k), acc[2 * q]);
              acc[2 * q + 1] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wp + q * wpanel + 16 * k + 8),
                                               acc[2 * q + 1]);
            }
          }
        }
      }
      cpix_store(NP, nr, nc, acc, y + r * yr + jj * ys, params, flags);
    }
  }
#undef CPIX_INT3
#undef CPIX_INT
}

void tconv_f32_cpix_ukernel__avx2_fma(size_t npix, size_t nrows, size_t nc, size_t kc, size_t na,
                                      size_t nb, size_t ja, size_t jb, const size_t *lo,
                                      const size_t *hi, size_t ls, const float *x, ptrdiff_t x0,
                                      ptrdiff_t xj, ptrdiff_t xr, ptrdiff_t xa, ptrdiff_t xb,
                                      const float *w, size_t wa, size_t wb, size_t wpanel,
                                      const float *bias, float *y, size_t ys, size_t yr,
                                      const tconv_uk_params *params, unsigned flags) {
  /* up to 4 panels (8 accumulators) per pass over the pixels */
  for (size_t j = 0; j < nc; j += 64, w += 4 * wpanel) {
    size_t nr;
    const size_t np = cpix_pass_panels(nc - j, &nr);
    const float *bj = bias ? bias + j : NULL;
#define CPIX(NP)                                                                                   \
  cpix_block(NP, nr, npix, nrows, kc, na, nb, ja, jb, lo, hi, ls, x, x0, xj, xr, xa, xb, w, wa,   \
             wb, wpanel, bj, y + j, ys, yr, params, flags)
    switch (np) {
      case 1: CPIX(1); break;
      case 2: CPIX(2); break;
      case 3: CPIX(3); break;
      default: CPIX(4); break;
    }
#undef CPIX
  }
}

/* In-register 8x8 transpose: on return r[i] lane k = the old r[k] lane i. */
static inline void transpose8x8_regs(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* 8x8 block: dst[k*ds + i] = src[i*sc + k] for i, k < 8. */
static inline void transpose8x8(const float *s, size_t sc, float *d, size_t ds) {
  __m256 r[8];
#pragma GCC unroll 8
  for (size_t i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * sc);
  transpose8x8_regs(r);
#pragma GCC unroll 8
  for (size_t k = 0; k < 8; k++) _mm256_storeu_ps(d + k * ds, r[k]);
}

/* The pixel-lanes path's output interleave: out[j*K + k] = rows[k][j] for j < n, k < K <= 8
 * (K = phases x filters of one output row), 8 values of j per register transpose.  Each j is
 * one unaligned 8-float store whose lanes past K are overwritten by the next j's store (stores
 * go in increasing order; AMD's masked stores are microcoded and far slower); the last ones,
 * which would run past the row, go through a small buffer. */
void tconv_f32_interleave__avx2(size_t K, size_t n, const float *const *rows, float *out) {
  const size_t total = n * K;
  size_t j = 0;
  if (K == 1) {
    for (; j < n; j++) out[j] = rows[0][j];
    return;
  }
  if (K == 2) { /* two phases of one filter: unpack and swap halves, 16 outputs per step */
    for (; j + 8 <= n; j += 8) {
      const __m256 a = _mm256_loadu_ps(rows[0] + j), b = _mm256_loadu_ps(rows[1] + j);
      const __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
      _mm256_storeu_ps(out + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(out + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
  }
  for (; j + 8 <= n; j += 8) {
    __m256 r[8];
#pragma GCC unroll 8
    for (size_t k = 0; k < 8; k++)
      r[k] = k < K ? _mm256_loadu_ps(rows[k] + j) : _mm256_setzero_ps();
    transpose8x8_regs(r);
#pragma GCC unroll 8
    for (size_t i = 0; i < 8; i++) {
      float *d = out + (j + i) * K;
      if ((j + i) * K + 8 <= total) {
        _mm256_storeu_ps(d, r[i]);
      } else {
        float t[8];
        _mm256_storeu_ps(t, r[i]);
        for (size_t k = 0; k < K; k++) d[k] = t[k];
      }
    }
  }
  for (; j < n; j++)
    for (size_t k = 0; k < K; k++) out[j * K + k] = rows[k][j];
}

/* NHWC row -> planar rows: dst[c*ds + w] = src[w*sc + c] for w < nw, c < nc, by 8x8 register
 * transposes (the pixel-lanes path's input copy).  When a size is not a multiple of 8 (and at
 * least 8), the last block overlaps the one before it: it rewrites a few values with the same
 * values instead of falling back to scalar copies.  Three contiguous channels (RGB) go by blends
 * and one permute per channel; one channel is a plain strided copy. */
void tconv_f32_planar__avx2(size_t nw, size_t nc, const float *src, size_t sc, float *dst,
                            size_t ds) {
  if (nw >= 8 && nc >= 8) {
    for (size_t c = 0;; c += 8) {
      if (c + 8 > nc) c = nc - 8;
      for (size_t w = 0;; w += 8) {
        if (w + 8 > nw) w = nw - 8;
        transpose8x8(src + w * sc + c, sc, dst + c * ds + w, ds);
        if (w + 8 == nw) break;
      }
      if (c + 8 == nc) break;
    }
    return;
  }
  if (nc == 3 && sc == 3 && nw >= 8) { /* RGB: 8 pixels = 3 vectors, two blends + a permute each */
    const __m256i i0 = _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5);
    const __m256i i1 = _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6);
    const __m256i i2 = _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7);
    for (size_t w = 0;; w += 8) {
      if (w + 8 > nw) w = nw - 8;
      const float *p = src + 3 * w; /* lane i of v[k] is channel (8k + i) % 3 */
      const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
      const __m256 v2 = _mm256_loadu_ps(p + 16);
      const __m256 c0 = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x92), v2, 0x24);
      const __m256 c1 = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x24), v2, 0x49);
      const __m256 c2 = _mm256_blend_ps(_mm256_blend_ps(v0, v1, 0x49), v2, 0x92);
      _mm256_storeu_ps(dst + w, _mm256_permutevar8x32_ps(c0, i0));
      _mm256_storeu_ps(dst + ds + w, _mm256_permutevar8x32_ps(c1, i1));
      _mm256_storeu_ps(dst + 2 * ds + w, _mm256_permutevar8x32_ps(c2, i2));
      if (w + 8 == nw) break;
    }
    return;
  }
  if (nc == 1) {
    for (size_t w = 0; w < nw; w++) dst[w] = src[w * sc];
    return;
  }
  for (size_t w = 0; w < nw; w++)
    for (size_t c = 0; c < nc; c++) dst[c * ds + w] = src[w * sc + c];
}

#endif /* __x86_64__ */
