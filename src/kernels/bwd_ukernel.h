/* Backward micro-kernels (owned by the training work).  Backward-data reuses the forward GEMM and
 * dot micro-kernels of kernels/ukernel.h unchanged (it is a strided correlation: rows are input
 * pixels, the indirection list points at dz rows, the packed panels hold the kernel with filters
 * as the reduction dimension).  Backward-weights is its own kernel, an outer-product update:
 *
 *   C[m][n] += sum over p < np of a[p * as + m] * b[p * bs + n]      m < mr <= 6, n < nr <= 16
 *
 *   - a: np rows of at least mr readable floats, as floats apart (dz rows of a run of output
 *     pixels, or x rows — whichever side has fewer channels per group is broadcast);
 *   - b: np rows of at least nr readable floats, bs floats apart (never read past nr);
 *   - c: a 6 x 16 tile, rows 16 floats apart, all 96 floats readable and writable: columns
 *     >= nr and rows >= mr hold padding the caller ignores.
 *   - Summation order per element: p ascending, one multiply-add per step (fused on AVX2), so a
 *     given (a, b, np) sequence always gives the same bits, whoever calls it. */
#ifndef TCONV_KERNELS_BWD_UKERNEL_H
#define TCONV_KERNELS_BWD_UKERNEL_H

#include <stddef.h>

#define TCONV_BWDW_MR 6
#define TCONV_BWDW_NR 16

typedef void (*tconv_bwdw_ukernel_fn)(size_t mr, size_t nr, size_t np, const float *a, size_t as,
                                      const float *b, size_t bs, float *c);

void tconv_f32_bwdw_ukernel_6x16__scalar(size_t mr, size_t nr, size_t np, const float *a,
                                         size_t as, const float *b, size_t bs, float *c);
void tconv_f32_bwdw_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t np, const float *a,
                                           size_t as, const float *b, size_t bs, float *c);

#endif
