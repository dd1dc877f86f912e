/* AVX2+FMA backward-weights micro-kernel, 6 x 16 (contract: src/kernels/bwd_ukernel.h): per
 * pixel two vectors of b and up to six broadcasts of a feed twelve ymm accumulators.  The row
 * count is a compile-time constant in each specialisation (no row branches in the loop), and
 * short column counts use masked loads, so nothing past nr is read. */
#include <immintrin.h>

#include "kernels/bwd_ukernel.h"

static inline __attribute__((always_inline)) void tile(const size_t MRc, const int halves,
                                                       const int masked, size_t np, const float *a,
                                                       size_t as, const float *b, size_t bs,
                                                       float *c, __m256i mask0, __m256i mask1) {
  __m256 acc0[6], acc1[6];
  for (size_t m = 0; m < MRc; m++) {
    acc0[m] = _mm256_loadu_ps(c + m * 16);
    acc1[m] = _mm256_loadu_ps(c + m * 16 + 8);
  }
  for (size_t p = 0; p < np; p++, a += as, b += bs) {
    __m256 b0, b1 = _mm256_setzero_ps();
    if (!masked) {
      b0 = _mm256_loadu_ps(b);
      if (halves == 2) b1 = _mm256_loadu_ps(b + 8);
    } else if (halves == 2) {
      b0 = _mm256_loadu_ps(b);
      b1 = _mm256_maskload_ps(b + 8, mask1);
    } else {
      b0 = _mm256_maskload_ps(b, mask0);
    }
    for (size_t m = 0; m < MRc; m++) {
      const __m256 am = _mm256_broadcast_ss(a + m);
      acc0[m] = _mm256_fmadd_ps(am, b0, acc0[m]);
      if (halves == 2) acc1[m] = _mm256_fmadd_ps(am, b1, acc1[m]);
    }
  }
  for (size_t m = 0; m < MRc; m++) {
    _mm256_storeu_ps(c + m * 16, acc0[m]);
    if (halves == 2) _mm256_storeu_ps(c + m * 16 + 8, acc1[m]);
  }
}

#define TILE_ROWS(R)                                                                               \
  do {                                                                                             \
    if (nr == 16) tile(R, 2, 0, np, a, as, b, bs, c, mask0, mask1);                                \
    else if (nr > 8) tile(R, 2, 1, np, a, as, b, bs, c, mask0, mask1);                             \
    else if (nr == 8) tile(R, 1, 0, np, a, as, b, bs, c, mask0, mask1);                            \
    else tile(R, 1, 1, np, a, as, b, bs, c, mask0, mask1);                                         \
  } while (0)

void tconv_f32_bwdw_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t np, const float *a,
                                           size_t as, const float *b, size_t bs, float *c) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int n0 = (int)(nr < 8 ? nr : 8), n1 = (int)(nr > 8 ? nr - 8 : 0);
  const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n0), lane);
  const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n1), lane);
  switch (mr) {
  case 1: TILE_ROWS(1); break;
  case 2: TILE_ROWS(2); break;
  case 3: TILE_ROWS(3); break;
  case 4: TILE_ROWS(4); break;
  case 5: TILE_ROWS(5); break;
  default: TILE_ROWS(6); break;
  }
}
