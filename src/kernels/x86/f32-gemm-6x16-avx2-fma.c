#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX2+FMA GEMM micro-kernel, 6 x 16: twelve ymm accumulators (6 rows x 2 vectors), two weight
 * vectors and one broadcast per k step — 15 of the 16 ymm registers, so nothing spills.
 * Contract: src/kernels/ukernel.h and docs/kernels.md. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/ukernel.h"

static inline __m256 row_load(const float *p, size_t nr, __m256i mask0, __m256i mask1, int hi) {
  if (nr >= 16) return hi ? _mm256_loadu_ps(p + 8) : _mm256_loadu_ps(p);
  return hi ? (nr > 8 ? _mm256_maskload_ps(p + 8, mask1) : _mm256_setzero_ps())
            : _mm256_maskload_ps(p, mask0);
}

/* n < 8 lanes of v to p.  AMD's vmaskmovps stores are microcoded (tens of cycles each), so the
 * partial stores go through a small buffer instead. */
static inline void store_lanes(float *p, size_t n, __m256 v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  for (size_t i = 0; i < n; i++) p[i] = t[i];
}

static inline void row_store(float *p, size_t nr, __m256 v0, __m256 v1) {
  if (nr >= 16) {
    _mm256_storeu_ps(p, v0);
    _mm256_storeu_ps(p + 8, v1);
  } else if (nr >= 8) {
    _mm256_storeu_ps(p, v0);
    store_lanes(p + 8, nr - 8, v1);
  } else {
    store_lanes(p, nr, v0);
  }
}

/* HALF: at most 8 filters, so only the first vector of each row is computed (the panel's
 * other 8 columns are zero padding). */
static inline __attribute__((always_inline)) void gemm_6x16(
    const bool HALF, size_t mr, size_t nr, size_t kc, size_t ks, const float *const *a,
    const float *const *w, float *const *c, const float *bias, const tconv_uk_params *params,
    unsigned flags) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n0 = (int)(nr < 8 ? nr : 8), n1 = (int)(nr > 8 ? nr - 8 : 0);
  const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n0), lane);
  const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n1), lane);

  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if (flags & TCONV_UK_ACCUMULATE) {
    const __m256 z = _mm256_setzero_ps();
    c00 = row_load(c[0], nr, mask0, mask1, 0);
    c01 = row_load(c[0], nr, mask0, mask1, 1);
    c10 = mr > 1 ? row_load(c[1], nr, mask0, mask1, 0) : z;
    c11 = mr > 1 ? row_load(c[1], nr, mask0, mask1, 1) : z;
    c20 = mr > 2 ? row_load(c[2], nr, mask0, mask1, 0) : z;
    c21 = mr > 2 ? row_load(c[2], nr, mask0, mask1, 1) : z;
    c30 = mr > 3 ? row_load(c[3], nr, mask0, mask1, 0) : z;
    c31 = mr > 3 ? row_load(c[3], nr, mask0, mask1, 1) : z;
    c40 = mr > 4 ? row_load(c[4], nr, mask0, mask1, 0) : z;
    c41 = mr > 4 ? row_load(c[4], nr, mask0, mask1, 1) : z;
    c50 = mr > 5 ? row_load(c[5], nr, mask0, mask1, 0) : z;
    c51 = mr > 5 ? row_load(c[5], nr, mask0, mask1, 1) : z;
  } else {
    c00 = bias ? row_load(bias, nr, mask0, mask1, 0) : _mm256_setzero_ps();
    c01 = bias ? row_load(bias, nr, mask0, mask1, 1) : _mm256_setzero_ps();
    c10 = c20 = c30 = c40 = c50 = c00;
    c11 = c21 = c31 = c41 = c51 = c01;
  }

  for (size_t s = 0; s < ks; s++) {
    const float *a0 = a[s * 6 + 0], *a1 = a[s * 6 + 1], *a2 = a[s * 6 + 2];
    const float *a3 = a[s * 6 + 3], *a4 = a[s * 6 + 4], *a5 = a[s * 6 + 5];
    const float *wp = w[s];
    for (size_t k = 0; k < kc; k++) {
      const __m256 b0 = _mm256_loadu_ps(wp);
      const __m256 b1 = HALF ? _mm256_setzero_ps() : _mm256_loadu_ps(wp + 8);
      wp += 16;
      __m256 va = _mm256_broadcast_ss(a0 + k);
      c00 = _mm256_fmadd_ps(va, b0, c00);
      if (!HALF) c01 = _mm256_fmadd_ps(va, b1, c01);
      va = _mm256_broadcast_ss(a1 + k);
      c10 = _mm256_fmadd_ps(va, b0, c10);
      if (!HALF) c11 = _mm256_fmadd_ps(va, b1, c11);
      va = _mm256_broadcast_ss(a2 + k);
      c20 = _mm256_fmadd_ps(va, b0, c20);
      if (!HALF) c21 = _mm256_fmadd_ps(va, b1, c21);
      va = _mm256_broadcast_ss(a3 + k);
      c30 = _mm256_fmadd_ps(va, b0, c30);
      if (!HALF) c31 = _mm256_fmadd_ps(va, b1, c31);
      va = _mm256_broadcast_ss(a4 + k);
      c40 = _mm256_fmadd_ps(va, b0, c40);
      if (!HALF) c41 = _mm256_fmadd_ps(va, b1, c41);
      va = _mm256_broadcast_ss(a5 + k);
      c50 = _mm256_fmadd_ps(va, b0, c50);
      if (!HALF) c51 = _mm256_fmadd_ps(va, b1, c51);
    }
  }

  if (flags & TCONV_UK_CLAMP) {
    const __m256 lo = _mm256_set1_ps(params->lo), hi = _mm256_set1_ps(params->hi);
#define CLAMP(v) v = _mm256_min_ps(_mm256_max_ps(v, lo), hi)
    CLAMP(c00); CLAMP(c01); CLAMP(c10); CLAMP(c11); CLAMP(c20); CLAMP(c21);
    CLAMP(c30); CLAMP(c31); CLAMP(c40); CLAMP(c41); CLAMP(c50); CLAMP(c51);
#undef CLAMP
  }
  row_store(c[0], nr, c00, c01);
  if (mr > 1) row_store(c[1], nr, c10, c11);
  if (mr > 2) row_store(c[2], nr, c20, c21);
  if (mr > 3) row_store(c[3], nr, c30, c31);
  if (mr > 4) row_store(c[4], nr, c40, c41);
  if (mr > 5) row_store(c[5], nr, c50, c51);
}

void tconv_f32_gemm_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t kc, size_t ks,
                                           const float *const *a, const float *const *w,
                                           float *const *c, const float *bias,
                                           const tconv_uk_params *params, unsigned flags) {
  if (nr <= 8)
    gemm_6x16(true, mr, nr, kc, ks, a, w, c, bias, params, flags);
  else
    gemm_6x16(false, mr, nr, kc, ks, a, w, c, bias, params, flags);
}

#endif /* __x86_64__ */
