/* Portable backward-weights micro-kernel (contract: src/kernels/bwd_ukernel.h). */
#include "kernels/bwd_ukernel.h"

void tconv_f32_bwdw_ukernel_6x16__scalar(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                         const float *const *a, size_t as, const float *const *b,
                                         size_t boff, size_t bs, size_t bb, double *c,
                                         size_t ldc) {
  enum { NR = TCONV_BWDW_NR, MAXN = 4 * TCONV_BWDW_NR };
  float acc[TCONV_BWDW_MR][MAXN] = {{0}};
  for (size_t r = 0; r < nrun; r++) {
    const float *ap = a[r], *bp = b[r] + boff;
    for (size_t p = 0; p < np[r]; p++, ap += as, bp += bs)
      for (size_t m = 0; m < mr; m++) {
        const float am = ap[m];
        for (size_t n = 0; n < nr; n++) acc[m][n] += am * bp[(n / NR) * bb + n % NR];
      }
  }
  const size_t nr8 = (nr + 7) & ~(size_t)7;
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr8; n++) c[m * ldc + n] += (double)acc[m][n];
}
