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
#include <stdbool.h>

#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

/* NP panels, the last one with nlast <= 16 lanes; HALF: nlast <= 8, so the last panel runs in
 * ymm registers (half the FMA work on a double-pumped 512-bit unit such as Zen 4's).  NF = the
 * full-width (zmm) panels. */
INLINE void gemm_np(const size_t NP, const bool HALF, size_t mr, size_t nr, size_t kc, size_t ks,
                    const float *const *a, const ptrdiff_t *toff, const float *const *w,
                    size_t wstride,
                    float *const *c, const float *bias, const tconv_uk_params *params,
                    unsigned flags) {
  const size_t NF = HALF ? NP - 1 : NP;
  /* lanes of the last panel (earlier panels are full) */
  const size_t nlast = nr - 16 * (NP - 1);
  const __mmask16 mlast = (__mmask16)(nlast >= 16 ? 0xFFFFu : (1u << nlast) - 1u);
  const __mmask8 mhalf = (__mmask8)(nlast >= 8 ? 0xFFu : (1u << nlast) - 1u);
  const size_t qh = NP - 1; /* the half panel's index */
  __m512 acc[6][4];
  __m256 acch[6];
  if (flags & TCONV_UK_ACCUMULATE) {
#pragma GCC unroll 6
    for (size_t m = 0; m < 6; m++) {
      const float *cm = c[m < mr ? m : 0];
#pragma GCC unroll 4
      for (size_t q = 0; q < NF; q++)
        acc[m][q] = q + 1 < NP ? _mm512_loadu_ps(cm + 16 * q)
                               : _mm512_maskz_loadu_ps(mlast, cm + 16 * q);
      if (HALF) acch[m] = _mm256_maskz_loadu_ps(mhalf, cm + 16 * qh);
    }
  } else {
#pragma GCC unroll 4
    for (size_t q = 0; q < NF; q++) {
      const __m512 b = bias == NULL  ? _mm512_setzero_ps()
                       : q + 1 < NP ? _mm512_loadu_ps(bias + 16 * q)
                                    : _mm512_maskz_loadu_ps(mlast, bias + 16 * q);
#pragma GCC unroll 6
      for (size_t m = 0; m < 6; m++) acc[m][q] = b;
    }
    if (HALF) {
      const __m256 b =
          bias == NULL ? _mm256_setzero_ps() : _mm256_maskz_loadu_ps(mhalf, bias + 16 * qh);
#pragma GCC unroll 6
      for (size_t m = 0; m < 6; m++) acch[m] = b;
    }
  }
  /* one k step: NF (+ half) weight vectors, 6 broadcasts, 6 x NP multiply-adds */
#define GEMM_STEP(k)                                                                               \
  do {                                                                                             \
    const float *wk = wp + 16 * (k);                                                               \
    __m512 b[4];                                                                                   \
    _Pragma("GCC unroll 4") for (size_t q = 0; q < NF; q++) b[q] = _mm512_loadu_ps(wk + q * wstride); \
    const __m256 bh = HALF ? _mm256_loadu_ps(wk + qh * wstride) : _mm256_setzero_ps();            \
    _Pragma("GCC unroll 6") for (size_t m = 0; m < 6; m++) {                                       \
      const __m512 va = _mm512_set1_ps(ar[m][k]);                                                  \
      _Pragma("GCC unroll 4") for (size_t q = 0; q < NF; q++)                                      \
          acc[m][q] = _mm512_fmadd_ps(va, b[q], acc[m][q]);                                        \
      if (HALF) acch[m] = _mm256_fmadd_ps(_mm512_castps512_ps256(va), bh, acch[m]);                \
    }                                                                                              \
  } while (0)
  /* TCONV_UK_PREFETCH_C: the first k steps of the call ask for one output line each (write
   * intent) until all of the tile's are, so their fetch overlaps the multiply-adds without a
   * burst of misses; the steps after them carry no test */
  size_t pf = 0;
  const size_t npf = (flags & TCONV_UK_PREFETCH_C) ? mr * NP : 0;
  for (size_t s = 0; s < ks; s++) {
    const float *ar[6];
#pragma GCC unroll 6
    for (size_t m = 0; m < 6; m++) ar[m] = toff != NULL ? a[m] - toff[s] : a[s * 6 + m];
    const float *wp = w[s];
    size_t k = 0;
    for (; pf < npf && k < kc; k++, pf++) {
      __builtin_prefetch(c[pf / NP] + 16 * (pf % NP), 1, 3);
      GEMM_STEP(k);
    }
    for (; k < kc; k++) GEMM_STEP(k);
  }
#undef GEMM_STEP
  if (flags & TCONV_UK_CLAMP) {
    const __m512 lo = _mm512_set1_ps(params->lo), hi = _mm512_set1_ps(params->hi);
#pragma GCC unroll 6
    for (size_t m = 0; m < 6; m++) {
#pragma GCC unroll 4
      for (size_t q = 0; q < NF; q++) acc[m][q] = _mm512_min_ps(_mm512_max_ps(acc[m][q], lo), hi);
      if (HALF)
        acch[m] = _mm256_min_ps(_mm256_max_ps(acch[m], _mm512_castps512_ps256(lo)),
                                _mm512_castps512_ps256(hi));
    }
  }
#pragma GCC unroll 6
  for (size_t m = 0; m < 6; m++) {
    if (m >= mr) break;
#pragma GCC unroll 4
    for (size_t q = 0; q < NF; q++) {
      if ((flags & TCONV_UK_STREAM) && (q + 1 < NP || mlast == 0xFFFFu))
        _mm512_stream_ps(c[m] + 16 * q, acc[m][q]);
      else if (q + 1 < NP || mlast == 0xFFFFu) /* a masked store costs more even with every lane */
        _mm512_storeu_ps(c[m] + 16 * q, acc[m][q]);
      else
        _mm512_mask_storeu_ps(c[m] + 16 * q, mlast, acc[m][q]);
    }
    if (HALF && mhalf == 0xFFu)
      _mm256_storeu_ps(c[m] + 16 * qh, acch[m]);
    else if (HALF)
      _mm256_mask_storeu_ps(c[m] + 16 * qh, mhalf, acch[m]);
  }
}

/* Both entries share one switch over the panel count; toff NULL = a is the indirection list,
 * else a holds the 6 row pointers and tap s of row m is a[m] - toff[s]. */
INLINE void gemm_any(size_t mr, size_t nr, size_t kc, size_t ks, const float *const *a,
                     const ptrdiff_t *toff, const float *const *w, size_t wstride,
                     float *const *c, const float *bias, const tconv_uk_params *params,
                     unsigned flags) {
  const bool half = (nr - 1) % 16 < 8; /* the last panel has at most 8 filters */
  switch ((nr + 15) / 16 * 2 + half) {
    case 2: gemm_np(1, false, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 3: gemm_np(1, true, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 4: gemm_np(2, false, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 5: gemm_np(2, true, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 6: gemm_np(3, false, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 7: gemm_np(3, true, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 8: gemm_np(4, false, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    case 9: gemm_np(4, true, mr, nr, kc, ks, a, toff, w, wstride, c, bias, params, flags); break;
    default: break; /* nr outside 1..64: the planner never asks */
  }
}

void tconv_f32_gemm_ukernel_6x64__avx512f(size_t mr, size_t nr, size_t kc, size_t ks,
                                          const float *const *a, const float *const *w,
                                          size_t wstride, float *const *c, const float *bias,
                                          const tconv_uk_params *params, unsigned flags) {
  gemm_any(mr, nr, kc, ks, a, NULL, w, wstride, c, bias, params, flags);
}

void tconv_f32_gemm_ukernel_6x64_rows__avx512f(size_t mr, size_t nr, size_t kc, size_t ks,
                                               const float *const *rows, const ptrdiff_t *toff,
                                               const float *const *w, size_t wstride,
                                               float *const *c, const float *bias,
                                               const tconv_uk_params *params, unsigned flags) {
  gemm_any(mr, nr, kc, ks, rows, toff, w, wstride, c, bias, params, flags);
}
#endif /* __x86_64__ */
