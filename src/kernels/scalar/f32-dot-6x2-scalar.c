/* Portable version of the "dot" micro-kernel (few filters per group): same contract and weight
 * layout as tconv_f32_dot_ukernel_6x2__avx2_fma — per tap, [nr][kc] filter-major. */
#include "kernels/ukernel.h"

void tconv_f32_dot_ukernel_6x2__scalar(size_t mr, size_t nr, size_t kc, size_t ks,
                                       const float *const *a, const float *const *w,
                                       float *const *c, const float *bias,
                                       const tconv_uk_params *params, unsigned flags) {
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr; n++) {
      float acc = 0.0f;
      for (size_t s = 0; s < ks; s++) {
        const float *am = a[s * TCONV_GEMM_MR + m], *wn = w[s] + n * kc;
        for (size_t k = 0; k < kc; k++) acc += am[k] * wn[k];
      }
      float v = acc + ((flags & TCONV_UK_ACCUMULATE) ? c[m][n] : bias ? bias[n] : 0.0f);
      if (flags & TCONV_UK_CLAMP) {
        v = v < params->lo ? params->lo : v;
        v = v > params->hi ? params->hi : v;
      }
      c[m][n] = v;
    }
}
