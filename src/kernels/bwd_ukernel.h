/* Backward micro-kernels (owned by the training work).  Backward-data reuses the forward GEMM and
 * dot micro-kernels of kernels/ukernel.h unchanged (it is a strided correlation: rows are input
 * pixels, the indirection list points at dz rows, the packed panels hold the kernel with filters
 * as the reduction dimension).  Backward-weights is its own kernel, an outer-product update
 * summed in float over runs of pixels and folded into double totals:
 *
 *   acc[m][n]  = sum over runs r < nrun, p < np[r] of
 *                a[r][p * as + m] * b[r][boff + (n / 16) * bb + p * bs + n % 16]
 *   c[m * ldc + n] += (double)acc[m][n]                  m < mr <= 6, n < nr <= nr_max(mr)
 *
 *   - a[r]: np[r] rows of at least mr readable floats, as floats apart (whichever side has
 *     fewer channels per group is broadcast);
 *   - b[r] + boff: column blocks of 16, block k bb floats further, np[r] rows bs floats apart;
 *     nothing is read past column nr (the last vector is masked);
 *   - nr_max(mr) = TCONV_BWDW_NR * tconv_bwdw_blocks(mr): 64 columns for one row, 48 for two,
 *     32 for three, 16 for four to six — always at most twelve 8-float accumulators;
 *   - c: mr rows of doubles, ldc apart, each with roundup(nr, 8) writable entries (the padding
 *     past nr receives exact zeros).
 *   - Summation order per element: U = 4, 2 or 1 float partial sums for tiles of at most 2,
 *     at most 4, or more 8-float accumulators (mr * ceil(nr / 8)); per run, pixels in groups
 *     of U go one to each partial sum, the tail to the first; one multiply-add per step (fused
 *     on AVX2); the partial sums added in order, then one double addition.  A given list of
 *     runs always gives the same bits, whoever calls it.  Several runs per call let short
 *     rows (a tap's valid pixels in one image row) share one fold; the partial sums keep
 *     tiny tiles (1 x 1 ... 3 x 3 channels) from waiting on the FMA latency. */
#ifndef TCONV_KERNELS_BWD_UKERNEL_H
#define TCONV_KERNELS_BWD_UKERNEL_H

#include <stddef.h>

#define TCONV_BWDW_MR 6
#define TCONV_BWDW_NR 16

/* 16-column blocks one call covers for mr rows. */
static inline size_t tconv_bwdw_blocks(size_t mr) {
  return mr <= 1 ? 4 : mr == 2 ? 3 : mr == 3 ? 2 : 1;
}

typedef void (*tconv_bwdw_ukernel_fn)(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                      const float *const *a, size_t as, const float *const *b,
                                      size_t boff, size_t bs, size_t bb, double *c, size_t ldc);

void tconv_f32_bwdw_ukernel_6x16__scalar(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                         const float *const *a, size_t as, const float *const *b,
                                         size_t boff, size_t bs, size_t bb, double *c,
                                         size_t ldc);
void tconv_f32_bwdw_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                           const float *const *a, size_t as,
                                           const float *const *b, size_t boff, size_t bs,
                                           size_t bb, double *c, size_t ldc);

#endif
