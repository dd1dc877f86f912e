#if defined(__x86_64__)
/* AVX-512 GEMM micro-kernel, 6 rows x up to 4 of the 16-filter panels (6x16 .. 6x64): 6*NP zmm
 * accumulators (24 at most), NP weight vectors and one broadcast per k step — at most 29 of the
 * 32 zmm registers.  It reads the same packed panels as the 6x16 kernels (one per 16 filters,
 * wstride floats apart), so the planner only groups adjacent panels per call; per k step it
 * issues NP loads + 6 broadcasts for 6*NP FMAs (AVX2 6x16: 8 loads for 12 half-width FMAs).
 * Per element the summation order is the contract's (taps, then k), the same as the 6x16
 * kernels, so the AVX2 and AVX-512 routes give bitwise-identical results.
 * Contract: src/kernels/ukernel.h. */
#include <immintrin.h>

#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

INLINE void gemm_np(const size_t NP, size_t mr, size_t nr, size_t kc, size_t ks,
                    const float *const *a, const float *const *w, size_t wstride,
                    float *const *c, const float *bias, const tconv_uk_params *params,
                    unsigned flags) {
  /* lanes of the last panel (earlier panels are full) */
  const size_t nlast = nr - 16 * (NP - 1);
  const __mmask16 mlast = (__mmask16)(nlast >= 16 ? 0xFFFFu : (1u << nlast) - 1u);
  __m512 acc[6][4];
  if (flags & TCONV_UK_ACCUMULATE) {
#pragma GCC unroll 6
    for (size_t m = 0; m < 6; m++) {
      const float *cm = c[m < mr ? m : 0];
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++)
        acc[m][q] = q + 1 < NP ? _mm512_loadu_ps(cm + 16 * q)
                               : _mm512_maskz_loadu_ps(mlast, cm + 16 * q);
    }
  } else {
#pragma GCC unroll 4
    for (size_t q = 0; q < NP; q++) {
      const __m512 b = bias == NULL  ? _mm512_setzero_ps()
                       : q + 1 < NP ? _mm512_loadu_ps(bias + 16 * q)
                                    : _mm512_maskz_loadu_ps(mlast, bias + 16 * q);
#pragma GCC unroll 6
      for (size_t m = 0; m < 6; m++) acc[m][q] = b;
    }
  }
  for (size_t s = 0; s < ks; s++) {
    const float *a0 = a[s * 6 + 0], *a1 = a[s * 6 + 1], *a2 = a[s * 6 + 2];
    const float *a3 = a[s * 6 + 3], *a4 = a[s * 6 + 4], *a5 = a[s * 6 + 5];
    const float *wp = w[s];
    for (size_t k = 0; k < kc; k++, wp += 16) {
      __m512 b[4];
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) b[q] = _mm512_loadu_ps(wp + q * wstride);
      __m512 va = _mm512_set1_ps(a0[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[0][q] = _mm512_fmadd_ps(va, b[q], acc[0][q]);
      va = _mm512_set1_ps(a1[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[1][q] = _mm512_fmadd_ps(va, b[q], acc[1][q]);
      va = _mm512_set1_ps(a2[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[2][q] = _mm512_fmadd_ps(va, b[q], acc[2][q]);
      va = _mm512_set1_ps(a3[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[3][q] = _mm512_fmadd_ps(va, b[q], acc[3][q]);
      va = _mm512_set1_ps(a4[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[4][q] = _mm512_fmadd_ps(va, b[q], acc[4][q]);
      va = _mm512_set1_ps(a5[k]);
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[5][q] = _mm512_fmadd_ps(va, b[q], acc[5][q]);
    }
  }
  if (flags & TCONV_UK_CLAMP) {
    const __m512 lo = _mm512_set1_ps(params->lo), hi = _mm512_set1_ps(params->hi);
#pragma GCC unroll 6
    for (size_t m = 0; m < 6; m++)
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[m][q] = _mm512_min_ps(_mm512_max_ps(acc[m][q], lo), hi);
  }
#pragma GCC unroll 6
  for (size_t m = 0; m < 6; m++) {
    if (m >= mr) break;
#pragma GCC unroll 4
    for (size_t q = 0; q < NP; q++) {
      if (q + 1 < NP)
        _mm512_storeu_ps(c[m] + 16 * q, acc[m][q]);
      else
        _mm512_mask_storeu_ps(c[m] + 16 * q, mlast, acc[m][q]);
    }
  }
}

void tconv_f32_gemm_ukernel_6x64__avx512f(size_t mr, size_t nr, size_t kc, size_t ks,
                                          const float *const *a, const float *const *w,
                                          size_t wstride, float *const *c, const float *bias,
                                          const tconv_uk_params *params, unsigned flags) {
  switch ((nr + 15) / 16) {
    case 1: gemm_np(1, mr, nr, kc, ks, a, w, wstride, c, bias, params, flags); break;
    case 2: gemm_np(2, mr, nr, kc, ks, a, w, wstride, c, bias, params, flags); break;
    case 3: gemm_np(3, mr, nr, kc, ks, a, w, wstride, c, bias, params, flags); break;
    case 4: gemm_np(4, mr, nr, kc, ks, a, w, wstride, c, bias, params, flags); break;
    default: break; /* nr outside 1..64: the planner never asks */
  }
}
#endif /* __x86_64__ */
