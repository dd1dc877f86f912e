/* The Winograd transforms' body (alpha = 6 over the points 0, 1, -1, 2, -2 and infinity; the
 * matrices: src/plan/winograd.c), shared by the AVX2 file (8 lanes per vector) and the AVX-512
 * file (16).  Every lane runs the same sequence of adds and fused multiply-adds whatever the
 * vector width, so both files give bitwise-identical results.  The 1-D transforms are written
 * out (B^T has 22 non-zeros of 36, most of them 1, 2, 4 or 5; A^T is two sums and two
 * differences scaled by powers of 2): 12 operations per 6 inputs instead of 36 multiply-adds.
 * The small loops are unrolled so that the patch stays in registers: kept in stack arrays,
 * each zmm store reloaded at once missed store-to-load forwarding (4x slower on Zen 4).
 * Include after defining V (the vector type), VLANES, VLOAD, VSTORE, VADD, VSUB, VFMA (a*b+c),
 * VSET1, VMIN, VMAX, VZERO, WINO_IN_FN and WINO_OUT_FN (and WINO_LINKAGE static for file-local
 * functions). */
#include <stddef.h>

#include "kernels/ukernel.h"

#define WINO_INLINE static inline __attribute__((always_inline))
#ifndef WINO_LINKAGE
#define WINO_LINKAGE
#endif

/* v = B^T d:
 *   v0 = 4 d0 - 5 d2 + d4            v3 = 2 (d3 - d1) + (d4 - d2)
 *   v1 = -4 (d1 + d2) + (d3 + d4)    v4 = -2 (d3 - d1) + (d4 - d2)
 *   v2 = 4 (d1 - d2) + (d4 - d3)     v5 = 4 d1 - 5 d3 + d5 */
WINO_INLINE void wino_bt(const V *d, V *v) {
  const V four = VSET1(4.0f), mfour = VSET1(-4.0f), five = VSET1(-5.0f);
  const V two = VSET1(2.0f), mtwo = VSET1(-2.0f);
  const V d31 = VSUB(d[3], d[1]), d42 = VSUB(d[4], d[2]);
  v[0] = VFMA(four, d[0], VFMA(five, d[2], d[4]));
  v[1] = VFMA(mfour, VADD(d[1], d[2]), VADD(d[3], d[4]));
  v[2] = VFMA(four, VSUB(d[1], d[2]), VSUB(d[4], d[3]));
  v[3] = VFMA(two, d31, d42);
  v[4] = VFMA(mtwo, d31, d42);
  v[5] = VFMA(four, d[1], VFMA(five, d[3], d[5]));
}

/* y = A^T s for m = 2..5 outputs: y_i = [i = 0] s0 + (s1 + (-1)^i s2) + 2^i (s3 + (-1)^i s4),
 * plus s5 on the last output. */
WINO_INLINE void wino_at(size_t m, const V *s, V *y) {
  const V a = VADD(s[1], s[2]), b = VSUB(s[1], s[2]), c = VADD(s[3], s[4]), d = VSUB(s[3], s[4]);
  y[0] = VADD(VADD(s[0], a), c);
  y[1] = VFMA(VSET1(2.0f), d, b);
  if (m > 2) y[2] = VFMA(VSET1(4.0f), c, a);
  if (m > 3) y[3] = VFMA(VSET1(8.0f), d, b);
  if (m > 4) y[4] = VFMA(VSET1(16.0f), c, a);
  y[m - 1] = VADD(y[m - 1], s[5]);
}

/* Channels c0 .. C (C - c0 a multiple of VLANES): v[(a*6 + b)*vs + c] = (B^T d B)[a][b] of the
 * 6 x 6 patch x[i*6 + j] — rows first (along j), then columns. */
WINO_LINKAGE void WINO_IN_FN(size_t c0, size_t C, const float *const *x, float *v, size_t vs) {
  for (size_t c = c0; c < C; c += VLANES) {
    V t[6][6];
    #pragma GCC unroll 6
    for (size_t i = 0; i < 6; i++) {
      V d[6];
      #pragma GCC unroll 6
      for (size_t j = 0; j < 6; j++) d[j] = VLOAD(x[i * 6 + j] + c);
      wino_bt(d, t[i]);
    }
    #pragma GCC unroll 6
    for (size_t b = 0; b < 6; b++) {
      V d[6], r[6];
      #pragma GCC unroll 6
      for (size_t i = 0; i < 6; i++) d[i] = t[i][b];
      wino_bt(d, r);
      #pragma GCC unroll 6
      for (size_t a = 0; a < 6; a++) VSTORE(v + (a * 6 + b) * vs + c, r[a]);
    }
  }
}

/* Filters k0 .. K (K - k0 a multiple of VLANES): the mh x mw tile A_h^T M A_w (columns first,
 * along a; then rows), plus bias, clamped with CLAMP, stored to y[i*mw + j] where not NULL. */
WINO_LINKAGE void WINO_OUT_FN(size_t k0, size_t K, size_t mh, size_t mw, const float *mm,
                              size_t ms, const float *bias, float *const *y,
                              const tconv_uk_params *params, unsigned flags) {
  const V lo = VSET1(params->lo), hi = VSET1(params->hi);
  for (size_t k = k0; k < K; k += VLANES) {
    V s[6][6]; /* s[b][i] = (A_h^T M)[i][b] */
    #pragma GCC unroll 6
    for (size_t b = 0; b < 6; b++) {
      V d[6];
      #pragma GCC unroll 6
      for (size_t a = 0; a < 6; a++) d[a] = VLOAD(mm + (a * 6 + b) * ms + k);
      wino_at(mh, d, s[b]);
    }
    const V bv = bias != NULL ? VLOAD(bias + k) : VZERO();
    #pragma GCC unroll 6
    for (size_t i = 0; i < mh; i++) {
      V d[6], r[5];
      #pragma GCC unroll 6
      for (size_t b = 0; b < 6; b++) d[b] = s[b][i];
      wino_at(mw, d, r);
      #pragma GCC unroll 6
      for (size_t j = 0; j < mw; j++) {
        float *dst = y[i * mw + j];
        if (dst == NULL) continue; /* outside the output */
        V o = VADD(r[j], bv);
        if (flags & TCONV_UK_CLAMP) o = VMIN(VMAX(o, lo), hi);
        VSTORE(dst + k, o);
      }
    }
  }
}
