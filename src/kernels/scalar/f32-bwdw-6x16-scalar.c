/* Portable backward-weights micro-kernel (contract: src/kernels/bwd_ukernel.h). */
#include "kernels/bwd_ukernel.h"

void tconv_f32_bwdw_ukernel_6x16__scalar(size_t mr, size_t nr, size_t np, const float *a,
                                         size_t as, const float *b, size_t bs, float *c) {
  enum { NR = TCONV_BWDW_NR };
  float acc[TCONV_BWDW_MR][NR];
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr; n++) acc[m][n] = c[m * NR + n];
  for (size_t p = 0; p < np; p++, a += as, b += bs)
    for (size_t m = 0; m < mr; m++) {
      const float am = a[m];
      for (size_t n = 0; n < nr; n++) acc[m][n] += am * b[n];
    }
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr; n++) c[m * NR + n] = acc[m][n];
}
