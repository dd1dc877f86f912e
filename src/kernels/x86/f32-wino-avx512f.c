#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX-512F Winograd transforms, 16 channels (or filters) per vector; a last 8 go through the
 * AVX2 kernel.  Bitwise equal to it (the same operations per lane).  The body is
 * src/kernels/wino_block.h; contract: src/kernels/ukernel.h. */
#include <immintrin.h>

#define V __m512
#define VLANES 16
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VFMA _mm512_fmadd_ps
#define VSET1 _mm512_set1_ps
#define VMIN _mm512_min_ps
#define VMAX _mm512_max_ps
#define VZERO _mm512_setzero_ps
#define WINO_IN_FN wino_in16
#define WINO_OUT_FN wino_out16
#define WINO_LINKAGE static
#include "kernels/wino_block.h"

void tconv_f32_wino_in__avx512f(size_t c0, size_t C, const float *const *x, float *v,
                                size_t vs) {
  const size_t c16 = c0 + (C - c0) / 16 * 16;
  wino_in16(c0, c16, x, v, vs);
  if (c16 < C) tconv_f32_wino_in__avx2_fma(c16, C, x, v, vs);
}

void tconv_f32_wino_out__avx512f(size_t k0, size_t K, size_t mh, size_t mw, const float *mm,
                                 size_t ms, const float *bias, float *const *y,
                                 const tconv_uk_params *params, unsigned flags) {
  const size_t k16 = k0 + (K - k0) / 16 * 16;
  wino_out16(k0, k16, mh, mw, mm, ms, bias, y, params, flags);
  if (k16 < K) tconv_f32_wino_out__avx2_fma(k16, K, mh, mw, mm, ms, bias, y, params, flags);
}
#endif /* __x86_64__ */
