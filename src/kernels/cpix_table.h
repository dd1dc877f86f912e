/* What the channel-lanes kernels (AVX2 and AVX-512) share: the tap tables — the
 * U = na x (b1 - b0) x kc (input offset, weight row) pairs of a pixel whose valid taps are the
 * rows a < na and the columns [b0, b1) (all nb columns: the interior), in the summation order
 * of the contract (rows a, columns b, channels k).  Returns U, or 0 when there are no taps or
 * the table would exceed CPIX_UMAX entries (the caller then walks the pixel's tap rectangle)
 * — and the split of the filters into passes of up to 4 panels. */
#ifndef TCONV_KERNELS_CPIX_TABLE_H
#define TCONV_KERNELS_CPIX_TABLE_H

#include <stddef.h>

enum { CPIX_UMAX = 64 };

static inline size_t cpix_table_cols(size_t na, size_t b0, size_t b1, size_t kc, ptrdiff_t x0,
                                     ptrdiff_t xa, ptrdiff_t xb, const float *w, size_t wa,
                                     size_t wb, ptrdiff_t voff[CPIX_UMAX],
                                     const float *vw[CPIX_UMAX]) {
  const size_t u = na * (b1 - b0) * kc;
  if (na == 0 || b1 <= b0 || u > CPIX_UMAX) return 0;
  size_t v = 0;
  for (size_t a = 0; a < na; a++)
    for (size_t b = b0; b < b1; b++)
      for (size_t k = 0; k < kc; k++, v++) {
        voff[v] = x0 - (ptrdiff_t)a * xa - (ptrdiff_t)b * xb + (ptrdiff_t)k;
        vw[v] = w + a * wa + b * wb + 16 * k;
      }
  return u;
}

static inline size_t cpix_table(size_t na, size_t nb, size_t kc, ptrdiff_t x0, ptrdiff_t xa,
                                ptrdiff_t xb, const float *w, size_t wa, size_t wb,
                                ptrdiff_t voff[CPIX_UMAX], const float *vw[CPIX_UMAX]) {
  return cpix_table_cols(na, 0, nb, kc, x0, xa, xb, w, wa, wb, voff, vw);
}

/* One pass over the pixels covers up to 4 GEMM panels (64 filters): for the `left` filters from
 * the pass's first one, the number of panels and the filters valid in the last of them. */
static inline size_t cpix_pass_panels(size_t left, size_t *nr) {
  const size_t np = left >= 64 ? 4 : (left + 15) / 16;
  *nr = left >= 64 ? 16 : left - 16 * (np - 1);
  return np;
}

#endif
