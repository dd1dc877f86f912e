/* The channel-dot kernels' body (few filters, many channels: 64->1, 56->1, 128->3), shared by
 * their AVX2 file (16 ymm registers: blocks of 8 outputs with one filter) and their AVX-512VL
 * file (32 ymm registers: blocks of 16).  The lanes hold 8 consecutive input channels of one
 * NHWC pixel; every output's sum runs in the same order whatever its block (one filter: row
 * taps, 8-channel steps, column taps descending; 2-4 filters: row taps, column taps, channel
 * steps; lanes reduced by one fixed tree), so the two files give bitwise-identical results.
 * Include after defining CDOT_PMAX (8 or 16), CDOT_FN and CDOTR_FN. */
#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

/* Prefetches into L2 that the caller spreads over a call (the next work item's input): `per`
 * 64-byte lines at each step while any are left.  Issued in bursts of a whole input row they
 * held the miss buffers (128->3 k5 s2: 11% of the time on the prefetches). */
typedef struct cdot_pf {
  const char *p;
  size_t left, per;
} cdot_pf;

INLINE void cdot_prefetch(cdot_pf *pf) {
  for (size_t q = 0; q < pf->per && pf->left; q++, pf->left--, pf->p += 64)
    __builtin_prefetch(pf->p, 0, 2);
}

/* The 8 lanes of v summed in a fixed tree: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
INLINE float cdot_hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* P outputs from p0, their NB column taps one input pixel apart: window pixel i (i < P + NB -
 * 1, input column c0 + p0 + i) holds what output p reads with tap b = p + NB - 1 - i, so each
 * input vector is loaded once and feeds up to NB outputs (64->1 k5 s2, P = 8: 13 loads per 24
 * FMAs instead of 27).  EDGE blocks skip the window pixels outside [0, ncols) (those taps are
 * neither read nor summed); only the first and last NB - 1 window pixels may be out (the
 * caller's bound), so the tests fold away for the others. */
INLINE void cdot_block(const size_t P, const size_t NB, const bool EDGE, size_t p0, size_t kc,
                       size_t na, const float *const *x, ptrdiff_t c0, size_t ncols, size_t xs,
                       const float *w, float bias, float *out, size_t os,
                       const tconv_uk_params *params, unsigned flags, cdot_pf *pf) {
  const ptrdiff_t cb = c0 + (ptrdiff_t)p0; /* the column of window pixel 0 */
  const ptrdiff_t ilo = EDGE && cb < 0 ? -cb : 0, ihi = EDGE ? (ptrdiff_t)ncols - cb : 0;
  __m256 acc[CDOT_PMAX];
#pragma GCC unroll 16
  for (size_t p = 0; p < P; p++) acc[p] = _mm256_setzero_ps();
  for (size_t a = 0; a < na; a++) {
    cdot_prefetch(pf);
    const float *xa = x[a], *wa = w + a * NB * kc;
    for (size_t k = 0; k < kc; k += 8) {
      __m256 wv[4];
#pragma GCC unroll 4
      for (size_t b = 0; b < NB; b++) wv[b] = _mm256_loadu_ps(wa + b * kc + k);
      /* one pointer stepped across the window: per-pixel pointers would need more general
       * registers than there are (spills in the loop with blocks of 16) */
      const float *xp = xa + k + (EDGE ? (size_t)(cb + ilo) : (size_t)cb) * xs;
#pragma GCC unroll 20
      for (size_t i = 0; i < P + NB - 1; i++) {
        if (EDGE && ((i < NB - 1 && (ptrdiff_t)i < ilo) || (i >= P && (ptrdiff_t)i >= ihi)))
          continue;
        const __m256 xv = _mm256_loadu_ps(xp);
        xp += xs;
#pragma GCC unroll 4
        for (size_t b = NB; b-- > 0;) {
          const size_t p = i + b - (NB - 1); /* wraps past P when i + b < NB - 1 */
          if (p < P) acc[p] = _mm256_fmadd_ps(xv, wv[b], acc[p]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (size_t p = 0; p < P; p++) {
    float v = cdot_hsum8(acc[p]) + bias;
    if (flags & TCONV_UK_CLAMP) {
      v = v < params->lo ? params->lo : v;
      v = v > params->hi ? params->hi : v;
    }
    out[(p0 + p) * os] = v;
  }
}

/* P outputs from p0 x R filters (2..4), tap by tap: for row tap a and column tap b, R weight
 * vectors per 8-channel step feed the P outputs' input vectors (window pixel p + NB - 1 - b, as
 * above).  Sums in the order row taps, column taps, channels; MASKED blocks skip the outputs
 * whose column for tap b lies outside [0, ncols). */
INLINE void cdotr_block(const size_t P, const size_t R, const bool MASKED, size_t p0, size_t kc,
                        size_t na, size_t nb, const float *const *x, ptrdiff_t c0, size_t ncols,
                        size_t xs, const float *w, const float *bias, float *out, size_t os,
                        const tconv_uk_params *params, unsigned flags, cdot_pf *pf) {
  const ptrdiff_t cb = c0 + (ptrdiff_t)p0;
  __m256 acc[CDOT_PMAX * 3];
#pragma GCC unroll 32
  for (size_t i = 0; i < P * R; i++) acc[i] = _mm256_setzero_ps();
  for (size_t a = 0; a < na; a++)
    for (size_t b = 0; b < nb; b++) {
      cdot_prefetch(pf);
      /* output p reads column cb + p + nb - 1 - b: valid for p in [plo, phi) */
      const ptrdiff_t off = cb + (ptrdiff_t)(nb - 1 - b);
      const ptrdiff_t plo = MASKED && off < 0 ? -off : 0;
      const ptrdiff_t phi = MASKED ? (ptrdiff_t)ncols - off : (ptrdiff_t)P;
      const float *wt = w + (a * nb + b) * R * kc;
      for (size_t k = 0; k < kc; k += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; r++) wv[r] = _mm256_loadu_ps(wt + r * kc + k);
        /* one pointer stepped across the valid outputs' inputs (as in cdot_block) */
        const float *xp = plo < phi ? x[a] + k + (size_t)(off + plo) * xs : x[a];
#pragma GCC unroll 16
        for (size_t p = 0; p < P; p++) {
          if (MASKED && ((ptrdiff_t)p < plo || (ptrdiff_t)p >= phi)) continue;
          const __m256 xv = _mm256_loadu_ps(xp);
          xp += xs;
#pragma GCC unroll 4
          for (size_t r = 0; r < R; r++) acc[p * R + r] = _mm256_fmadd_ps(xv, wv[r], acc[p * R + r]);
        }
      }
    }
#pragma GCC unroll 16
  for (size_t p = 0; p < P; p++)
#pragma GCC unroll 4
    for (size_t r = 0; r < R; r++) {
      float v = cdot_hsum8(acc[p * R + r]) + (bias ? bias[r] : 0.0f);
      if (flags & TCONV_UK_CLAMP) {
        v = v < params->lo ? params->lo : v;
        v = v > params->hi ? params->hi : v;
      }
      out[(p0 + p) * os + r] = v;
    }
}

#define CDOT_CASE(NB, P)                                                                           \
  case NB * 32 + P:                                                                                \
    if (full)                                                                                      \
      cdot_block(P, NB, false, p0, kc, n, x, c0, ncols, xs, w, b0, out, os, params, flags, &pf);  \
    else                                                                                           \
      cdot_block(P, NB, true, p0, kc, n, x, c0, ncols, xs, w, b0, out, os, params, flags, &pf);   \
    break;
#define CDOT_CASES8(NB)                                                                            \
  CDOT_CASE(NB, 1) CDOT_CASE(NB, 2) CDOT_CASE(NB, 3) CDOT_CASE(NB, 4) CDOT_CASE(NB, 5)            \
  CDOT_CASE(NB, 6) CDOT_CASE(NB, 7) CDOT_CASE(NB, 8)
#if CDOT_PMAX == 16
#define CDOT_CASES(NB)                                                                             \
  CDOT_CASES8(NB) CDOT_CASE(NB, 9) CDOT_CASE(NB, 10) CDOT_CASE(NB, 11) CDOT_CASE(NB, 12)          \
  CDOT_CASE(NB, 13) CDOT_CASE(NB, 14) CDOT_CASE(NB, 15) CDOT_CASE(NB, 16)
#else
#define CDOT_CASES(NB) CDOT_CASES8(NB)
#endif

void CDOT_FN(size_t np, size_t kc, size_t na, size_t nb, const float *const *x, ptrdiff_t c0,
             size_t ncols, size_t xs, const float *w, const float *bias, float *out, size_t os,
             const tconv_uk_params *params, unsigned flags, const float *pfp, size_t npf) {
  const float b0 = bias ? bias[0] : 0.0f;
  const size_t steps = ((np + CDOT_PMAX - 1) / CDOT_PMAX) * (na ? na : 1);
  cdot_pf pf = {(const char *)pfp, npf, steps ? (npf + steps - 1) / steps : 0};
  for (size_t p0 = 0; p0 < np;) {
    /* blocks of PMAX, the last two evened out (14 = 7 + 7 with PMAX 8, not 8 + 6) */
    size_t pn = np - p0;
    if (pn > CDOT_PMAX) pn = pn < 2 * CDOT_PMAX ? (pn + 1) / 2 : CDOT_PMAX;
    /* window pixels [ilo, ihi) are inside the row: all of them (full), or all but some of the
     * first and last nb - 1 (an edge block); otherwise (inputs narrower than the window) the
     * block runs one output at a time, each an edge block or without a column tap at all */
    const ptrdiff_t cb = c0 + (ptrdiff_t)p0, ilo = cb < 0 ? -cb : 0, ihi = (ptrdiff_t)ncols - cb;
    const bool full = ilo == 0 && ihi >= (ptrdiff_t)(pn + nb - 1);
    if (!full && (ilo > (ptrdiff_t)nb - 1 || ihi < (ptrdiff_t)pn) && pn > 1) {
      for (size_t q = 0; q < pn; q++)
        CDOT_FN(1, kc, na, nb, x, c0 + (ptrdiff_t)(p0 + q), ncols, xs, w, bias, out + (p0 + q) * os,
                os, params, flags, NULL, 0);
      p0 += pn;
      continue;
    }
    const size_t n = ilo > (ptrdiff_t)nb - 1 || ihi < 1 ? 0 : na; /* one output, no column tap */
    switch (nb * 32 + pn) {
      CDOT_CASES(1)
      CDOT_CASES(2)
      CDOT_CASES(3)
      CDOT_CASES(4)
      default: return; /* nb outside 1..4: not a layer of this kernel (the planner's bound) */
    }
    p0 += pn;
  }
}

#define CDOTR_CASE(R, P)                                                                           \
  case R * 32 + P:                                                                                 \
    if (full)                                                                                      \
      cdotr_block(P, R, false, p0, kc, na, nb, x, c0, ncols, xs, w, bias, out, os, params, flags,  \
                  &pf);                                                                            \
    else                                                                                           \
      cdotr_block(P, R, true, p0, kc, na, nb, x, c0, ncols, xs, w, bias, out, os, params, flags,   \
                  &pf);                                                                            \
    break;
#define CDOTR_CASES4(R) CDOTR_CASE(R, 1) CDOTR_CASE(R, 2) CDOTR_CASE(R, 3) CDOTR_CASE(R, 4)
#if CDOT_PMAX == 16 /* 32 registers: up to 24 accumulators */
#define CDOTR_PMAX(R) ((R) == 2 ? 12 : (R) == 3 ? 8 : 6)
#define CDOTR_CASES                                                                                \
  CDOTR_CASES4(2) CDOTR_CASE(2, 5) CDOTR_CASE(2, 6) CDOTR_CASE(2, 7) CDOTR_CASE(2, 8)             \
  CDOTR_CASE(2, 9) CDOTR_CASE(2, 10) CDOTR_CASE(2, 11) CDOTR_CASE(2, 12)                          \
  CDOTR_CASES4(3) CDOTR_CASE(3, 5) CDOTR_CASE(3, 6) CDOTR_CASE(3, 7) CDOTR_CASE(3, 8)             \
  CDOTR_CASES4(4) CDOTR_CASE(4, 5) CDOTR_CASE(4, 6)
#else /* 16 registers: up to 12 accumulators */
#define CDOTR_PMAX(R) ((R) == 2 ? 6 : (R) == 3 ? 4 : 3)
#define CDOTR_CASES                                                                                \
  CDOTR_CASES4(2) CDOTR_CASE(2, 5) CDOTR_CASE(2, 6) CDOTR_CASES4(3)                              \
  CDOTR_CASE(4, 1) CDOTR_CASE(4, 2) CDOTR_CASE(4, 3)
#endif

void CDOTR_FN(size_t R, size_t np, size_t kc, size_t na, size_t nb, const float *const *x,
              ptrdiff_t c0, size_t ncols, size_t xs, const float *w, const float *bias,
              float *out, size_t os, const tconv_uk_params *params, unsigned flags,
              const float *pfp, size_t npf) {
  if (R < 2 || R > 4) return; /* not a layer of this kernel (the planner's bound) */
  const size_t pmax = CDOTR_PMAX(R);
  const size_t steps = ((np + pmax - 1) / pmax) * (na && nb ? na * nb : 1);
  cdot_pf pf = {(const char *)pfp, npf, steps ? (npf + steps - 1) / steps : 0};
  for (size_t p0 = 0; p0 < np;) {
    size_t pn = np - p0;
    if (pn > pmax) pn = pn < 2 * pmax ? (pn + 1) / 2 : pmax;
    const ptrdiff_t cb = c0 + (ptrdiff_t)p0;
    const bool full = cb >= 0 && cb + (ptrdiff_t)(pn + nb - 1) <= (ptrdiff_t)ncols;
    switch (R * 32 + pn) {
      CDOTR_CASES
      default: return;
    }
    p0 += pn;
  }
}
