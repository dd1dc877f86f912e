/* Portable GEMM micro-kernel with the same contract and packing as the AVX2 one (see
 * src/kernels/ukernel.h), so the planner can switch between them at run time. */
#include "kernels/ukernel.h"

void tconv_f32_gemm_ukernel_6x16__scalar(size_t mr, size_t nr, size_t kc, size_t ks,
                                         const float *const *a, const float *const *w,
                                         float *const *c, const float *bias,
                                         const tconv_uk_params *params, unsigned flags) {
  enum { MR = TCONV_GEMM_MR, NR = TCONV_GEMM_NR };
  float acc[MR][NR];
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < NR; n++)
      acc[m][n] = n >= nr                        ? 0.0f
                  : (flags & TCONV_UK_ACCUMULATE) ? c[m][n]
                  : bias                          ? bias[n]
                                                  : 0.0f;
  for (size_t s = 0; s < ks; s++) {
    const float *ws = w[s];
    for (size_t m = 0; m < mr; m++) {
      const float *am = a[s * MR + m];
      for (size_t k = 0; k < kc; k++) {
        const float x = am[k];
        const float *wk = ws + k * NR;
        for (size_t n = 0; n < NR; n++) acc[m][n] += x * wk[n];
      }
    }
  }
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr; n++) {
      float v = acc[m][n];
      if (flags & TCONV_UK_CLAMP) {
        v = v < params->lo ? params->lo : v;
        v = v > params->hi ? params->hi : v;
      }
      c[m][n] = v;
    }
}
