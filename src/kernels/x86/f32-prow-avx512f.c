#if defined(__x86_64__)
/* AVX-512 pixel lanes for one filter, four output rows of a phase at once (the AVX2 kernel
 * runs two).  Rows jh .. jh + 3 read the same input rows through neighbouring taps, so each
 * input vector loaded feeds up to four rows: per channel and tap, two zmm of input and four
 * broadcast weights feed 8 zmm multiply-adds, a quarter of the bytes per multiply-add of the
 * AVX2 pair kernel (both are bound by their loads from L1).
 *
 * Summation order: the AVX2 pair kernel's, pixel for pixel (bitwise-equal rows, tested): blocks
 * of 32 pixels, in the last one jv = ceil(left / 8) vectors of 8, and KS = 4, 2, 1, 1 partial
 * sums over the channels for jv = 1, 2, 3, 4 (channel c into sum c mod KS, the tail of
 * kc mod KS into sum 0, sums added in order).  Contract: src/kernels/ukernel.h.
 * Also here: the six-row output interleave of the pixel lanes (RGB out, stride 2). */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

/* One tap of the rows in M (bit k: row k), ZV zmm of pixels (the last one masked by ml). */
INLINE void prow4_tap(const size_t ZV, const size_t KS, const unsigned M, __m512 (*acc)[8],
                      const float *xt, size_t xs, const float *const *w, size_t kc,
                      __mmask16 ml) {
  size_t c = 0;
  for (; c + KS <= kc; c += KS, xt += KS * xs)
#pragma GCC unroll 4
    for (size_t ks = 0; ks < KS; ks++) {
      __m512 u[4];
#pragma GCC unroll 4
      for (size_t k = 0; k < 4; k++)
        if (M >> k & 1) u[k] = _mm512_set1_ps(w[k][c + ks]);
#pragma GCC unroll 2
      for (size_t v = 0; v < ZV; v++) {
        __m512 xv = v + 1 < ZV ? _mm512_loadu_ps(xt + ks * xs + 16 * v)
                               : _mm512_maskz_loadu_ps(ml, xt + ks * xs + 16 * v);
        __asm__("" : "+v"(xv)); /* one load for every row, not a memory operand each */
#pragma GCC unroll 4
        for (size_t k = 0; k < 4; k++)
          if (M >> k & 1) acc[k][ks * ZV + v] = _mm512_fmadd_ps(xv, u[k], acc[k][ks * ZV + v]);
      }
    }
  for (; c < kc; c++, xt += xs) {
    __m512 u[4];
#pragma GCC unroll 4
    for (size_t k = 0; k < 4; k++)
      if (M >> k & 1) u[k] = _mm512_set1_ps(w[k][c]);
#pragma GCC unroll 2
    for (size_t v = 0; v < ZV; v++) {
      __m512 xv = v + 1 < ZV ? _mm512_loadu_ps(xt + 16 * v)
                             : _mm512_maskz_loadu_ps(ml, xt + 16 * v);
      __asm__("" : "+v"(xv));
#pragma GCC unroll 4
      for (size_t k = 0; k < 4; k++)
        if (M >> k & 1) acc[k][v] = _mm512_fmadd_ps(xv, u[k], acc[k][v]);
    }
  }
}

INLINE void prow4_block(const size_t ZV, const size_t KS, size_t j0, __mmask16 ml, size_t kc,
                        size_t ntaps, const float *const *x, size_t xs, const float *const *w,
                        const float *bias, float *const *out, const tconv_uk_params *params,
                        unsigned flags) {
  __m512 acc[4][8];
  const __m512 b = bias ? _mm512_set1_ps(bias[0]) : _mm512_setzero_ps();
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; k++)
#pragma GCC unroll 8
    for (size_t v = 0; v < KS * ZV; v++) acc[k][v] = v < ZV ? b : _mm512_setzero_ps();
  for (size_t t = 0; t < ntaps; t++) {
    const float *const *wt = w + 4 * t;
    const unsigned m = (wt[0] != NULL) | (wt[1] != NULL) << 1 | (wt[2] != NULL) << 2 |
                       (wt[3] != NULL) << 3;
    const float *xt = x[t] + j0;
    switch (m) {
#define PROW4_TAP(M)                                                                               \
  case M: prow4_tap(ZV, KS, M, acc, xt, xs, wt, kc, ml); break;
      PROW4_TAP(1) PROW4_TAP(2) PROW4_TAP(3) PROW4_TAP(4) PROW4_TAP(5) PROW4_TAP(6)
      PROW4_TAP(7) PROW4_TAP(8) PROW4_TAP(9) PROW4_TAP(10) PROW4_TAP(11) PROW4_TAP(12)
      PROW4_TAP(13) PROW4_TAP(14) PROW4_TAP(15)
#undef PROW4_TAP
      default: break;
    }
  }
  const __m512 lo = _mm512_set1_ps(params->lo), hi = _mm512_set1_ps(params->hi);
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; k++) {
#pragma GCC unroll 4
    for (size_t ks = 1; ks < KS; ks++)
#pragma GCC unroll 2
      for (size_t v = 0; v < ZV; v++) acc[k][v] = _mm512_add_ps(acc[k][v], acc[k][ks * ZV + v]);
#pragma GCC unroll 2
    for (size_t v = 0; v < ZV; v++) {
      __m512 r = acc[k][v];
      if (flags & TCONV_UK_CLAMP) r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
      if (v + 1 < ZV || ml == 0xFFFFu) /* a masked store costs more even with every lane */
        _mm512_storeu_ps(out[k] + j0 + 16 * v, r);
      else
        _mm512_mask_storeu_ps(out[k] + j0 + 16 * v, ml, r);
    }
  }
}

void tconv_f32_prow4_ukernel__avx512f(size_t n, size_t kc, size_t ntaps, const float *const *x,
                                      size_t xs, const float *const *w, const float *bias,
                                      float *const *out, const tconv_uk_params *params,
                                      unsigned flags) {
  for (size_t j0 = 0; j0 < n; j0 += 32) {
    size_t jv = (n - j0 + 7) / 8; /* the AVX2 kernel's vectors of 8 in this block */
    if (jv > 4) jv = 4;
    switch (jv) {
      case 1: prow4_block(1, 4, j0, 0x00FF, kc, ntaps, x, xs, w, bias, out, params, flags); break;
      case 2: prow4_block(1, 2, j0, 0xFFFF, kc, ntaps, x, xs, w, bias, out, params, flags); break;
      case 3: prow4_block(2, 1, j0, 0x00FF, kc, ntaps, x, xs, w, bias, out, params, flags); break;
      default: prow4_block(2, 1, j0, 0xFFFF, kc, ntaps, x, xs, w, bias, out, params, flags); break;
    }
  }
}

/* The output interleave for six rows (two column phases of three filters: RGB out, stride 2),
 * 16 pixels per step: the rows are paired (r0 r1, r2 r3, r4 r5 interleaved), then each of the
 * six output vectors is two two-table permutes of the three pairs, stored whole (the AVX2 8x8
 * transposes store eight overlapping vectors per 48 floats, three of them split across
 * lines).  Returns the pixels done, a multiple of 16; the caller finishes the row. */
size_t tconv_f32_interleave6__avx512f(size_t n, const float *const *rows, float *out) {
  /* output vector m (and m + 3, from the pairs' upper halves): float 16m + i is row k = f % 6
   * at pixel f / 6; step 1 takes pairs (r0 r1) and (r2 r3), step 2 adds (r4 r5) */
  static const int32_t step1[3][16] = {
      {0, 1, 16, 17, 0, 0, 2, 3, 18, 19, 0, 0, 4, 5, 20, 21},
      {0, 0, 6, 7, 22, 23, 0, 0, 8, 9, 24, 25, 0, 0, 10, 11},
      {26, 27, 0, 0, 12, 13, 28, 29, 0, 0, 14, 15, 30, 31, 0, 0}};
  static const int32_t step2[3][16] = {
      {0, 1, 2, 3, 16, 17, 6, 7, 8, 9, 18, 19, 12, 13, 14, 15},
      {20, 21, 2, 3, 4, 5, 22, 23, 8, 9, 10, 11, 24, 25, 14, 15},
      {0, 1, 26, 27, 4, 5, 6, 7, 28, 29, 10, 11, 12, 13, 30, 31}};
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  __m512i s1[3], s2[3];
  for (size_t m = 0; m < 3; m++) {
    s1[m] = _mm512_loadu_si512(step1[m]);
    s2[m] = _mm512_loadu_si512(step2[m]);
  }
  size_t j = 0;
  for (; j + 16 <= n; j += 16, out += 96) {
    __m512 pl[3], ph[3];
#pragma GCC unroll 3
    for (size_t q = 0; q < 3; q++) {
      const __m512 a = _mm512_loadu_ps(rows[2 * q] + j), b = _mm512_loadu_ps(rows[2 * q + 1] + j);
      pl[q] = _mm512_permutex2var_ps(a, lo, b);
      ph[q] = _mm512_permutex2var_ps(a, hi, b);
    }
#pragma GCC unroll 3
    for (size_t m = 0; m < 3; m++) {
      const __m512 tl = _mm512_permutex2var_ps(pl[0], s1[m], pl[1]);
      const __m512 th = _mm512_permutex2var_ps(ph[0], s1[m], ph[1]);
      _mm512_storeu_ps(out + 16 * m, _mm512_permutex2var_ps(tl, s2[m], pl[2]));
      _mm512_storeu_ps(out + 48 + 16 * m, _mm512_permutex2var_ps(th, s2[m], ph[2]));
    }
  }
  return j;
}
#endif
