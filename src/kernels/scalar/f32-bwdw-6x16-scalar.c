/* Portable backward-weights micro-kernel (contract: src/kernels/bwd_ukernel.h). */
#include "kernels/bwd_ukernel.h"

void tconv_f32_bwdw_ukernel_6x16__scalar(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                         const float *const *a, size_t as, const float *const *b,
                                         size_t boff, size_t bs, size_t bb, double *c,
                                         size_t ldc) {
  enum { NR = TCONV_BWDW_NR, MAXN = 4 * TCONV_BWDW_NR };
  /* the same interleaving as the vector kernel: U partial sums for small tiles */
  const size_t nv = (nr + 7) / 8, U = mr * nv <= 2 ? 4 : mr * nv <= 4 ? 2 : 1;
  float acc[4][TCONV_BWDW_MR][MAXN] = {{{0}}};
  for (size_t r = 0; r < nrun; r++) {
    const float *ap = a[r], *bp = b[r] + boff;
    const size_t body = np[r] / U * U;
    for (size_t p = 0; p < np[r]; p++, ap += as, bp += bs) {
      const size_t u = p < body ? p % U : 0;
      for (size_t m = 0; m < mr; m++) {
        const float am = ap[m];
        for (size_t n = 0; n < nr; n++) acc[u][m][n] += am * bp[(n / NR) * bb + n % NR];
      }
    }
  }
  for (size_t u = 1; u < U; u++)
    for (size_t m = 0; m < mr; m++)
      for (size_t n = 0; n < nr; n++) acc[0][m][n] += acc[u][m][n];
  const size_t nr8 = (nr + 7) & ~(size_t)7;
  for (size_t m = 0; m < mr; m++)
    for (size_t n = 0; n < nr8; n++) c[m * ldc + n] += (double)acc[0][m][n];
}
