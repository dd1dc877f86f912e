#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX2+FMA "dot" micro-kernel for layers with very few filters per group (Cout 1..4: the GEMM
 * kernel would leave 12-15 of its 16 lanes idle).  It vectorises over the input channels
 * instead: 6 output pixels x 2 filters = 12 ymm accumulators of per-lane partial sums, reduced
 * across lanes once at the end.  Weights per tap are [2][kc] (filter-major).  Contract:
 * src/kernels/ukernel.h. */
#include <immintrin.h>

#include "kernels/ukernel.h"

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* One k-step of 8 channels for all six rows; LOAD(p) is a full or a masked load. */
#define STEP2(LOAD)                                                                                \
  {                                                                                                \
    const __m256 b0 = LOAD(w0 + k), b1 = LOAD(w1 + k);                                            \
    __m256 x = LOAD(a0 + k);                                                                       \
    c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);                         \
    x = LOAD(a1 + k);                                                                              \
    c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);                         \
    x = LOAD(a2 + k);                                                                              \
    c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);                         \
    x = LOAD(a3 + k);                                                                              \
    c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);                         \
    x = LOAD(a4 + k);                                                                              \
    c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);                         \
    x = LOAD(a5 + k);                                                                              \
    c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);                         \
  }
#define STEP1(LOAD)                                                                                \
  {                                                                                                \
    const __m256 b0 = LOAD(w0 + k);                                                                \
    c00 = _mm256_fmadd_ps(LOAD(a0 + k), b0, c00);                                                  \
    c10 = _mm256_fmadd_ps(LOAD(a1 + k), b0, c10);                                                  \
    c20 = _mm256_fmadd_ps(LOAD(a2 + k), b0, c20);                                                  \
    c30 = _mm256_fmadd_ps(LOAD(a3 + k), b0, c30);                                                  \
    c40 = _mm256_fmadd_ps(LOAD(a4 + k), b0, c40);                                                  \
    c50 = _mm256_fmadd_ps(LOAD(a5 + k), b0, c50);                                                  \
  }
#define FULL(p) _mm256_loadu_ps(p)
#define MASKED(p) _mm256_maskload_ps((p), mask)

void tconv_f32_dot_ukernel_6x2__avx2_fma(size_t mr, size_t nr, size_t kc, size_t ks,
                                         const float *const *a, const float *const *w,
                                         float *const *c, const float *bias,
                                         const tconv_uk_params *params, unsigned flags) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const size_t kv = kc & ~(size_t)7;
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(kc - kv)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (size_t s = 0; s < ks; s++) {
    const float *a0 = a[s * 6 + 0], *a1 = a[s * 6 + 1], *a2 = a[s * 6 + 2];
    const float *a3 = a[s * 6 + 3], *a4 = a[s * 6 + 4], *a5 = a[s * 6 + 5];
    const float *w0 = w[s], *w1 = w[s] + kc;
    size_t k = 0;
    if (nr >= 2) {
      for (; k < kv; k += 8) STEP2(FULL)
      if (k < kc) STEP2(MASKED)
    } else {
      for (; k < kv; k += 8) STEP1(FULL)
      if (k < kc) STEP1(MASKED)
    }
  }
  const __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                            {c30, c31}, {c40, c41}, {c50, c51}};
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr; n++) {
      float v = hsum(acc[m][n]) + ((flags & TCONV_UK_ACCUMULATE) ? c[m][n] : bias ? bias[n] : 0.0f);
      if (flags & TCONV_UK_CLAMP) {
        v = v < params->lo ? params->lo : v;
        v = v > params->hi ? params->hi : v;
      }
      c[m][n] = v;
    }
}

#endif /* __x86_64__ */
