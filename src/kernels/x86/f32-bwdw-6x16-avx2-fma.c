/* AVX2+FMA backward-weights micro-kernel (contract: src/kernels/bwd_ukernel.h).  Per pixel up to
 * eight vectors of b and up to six broadcasts of a feed at most twelve ymm accumulators (6 x 16,
 * 3 x 32, 2 x 48, 1 x 64: enough independent chains to cover the FMA latency even with one or
 * two broadcast rows).  Row and vector counts are compile-time constants in each specialisation
 * (loops fully unrolled: the accumulators must live in registers); only the last vector may be
 * masked, so nothing past nr is read.  The float sums of all runs are folded into the double
 * tile once per call. */
#include <immintrin.h>

#include "kernels/bwd_ukernel.h"

/* One pixel into accumulator set acc (MR x NV vectors). */
static inline __attribute__((always_inline)) void
step(const int MR, const int NV, const int masked, const float *a, const float *b, size_t bb,
     __m256i mask, __m256 acc[6][8]) {
  if (NV <= 2) {
    __m256 bv[2];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      const float *bp = b + (size_t)(v / 2) * bb + (size_t)(v % 2) * 8;
      bv[v] = masked && v == NV - 1 ? _mm256_maskload_ps(bp, mask) : _mm256_loadu_ps(bp);
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
      const __m256 am = _mm256_broadcast_ss(a + m);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[m][v] = _mm256_fmadd_ps(am, bv[v], acc[m][v]);
    }
  } else {
    __m256 am[3];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) am[m] = _mm256_broadcast_ss(a + m);
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      const float *bp = b + (size_t)(v / 2) * bb + (size_t)(v % 2) * 8;
      const __m256 bv =
          masked && v == NV - 1 ? _mm256_maskload_ps(bp, mask) : _mm256_loadu_ps(bp);
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) acc[m][v] = _mm256_fmadd_ps(am[m], bv, acc[m][v]);
    }
  }
}

/* U interleaved accumulator sets when the tile has fewer than 8 accumulators (U * MR * NV <= 8
 * chains keep both FMA pipes busy): per run, pixel groups of U go one pixel per set, the tail
 * to set 0; the sets are added in order at the end. */
static inline __attribute__((always_inline)) void
tile(const int MR, const int NV, const int masked, size_t nrun, const size_t *nps,
     const float *const *ap, size_t as, const float *const *bp0, size_t boff, size_t bs,
     size_t bb, double *c, size_t ldc, __m256i mask) {
  const int U = MR * NV <= 2 ? 4 : MR * NV <= 4 ? 2 : 1;
  __m256 acc[4][6][8];
#pragma GCC unroll 4
  for (int u = 0; u < U; u++)
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[u][m][v] = _mm256_setzero_ps();
  for (size_t r = 0; r < nrun; r++) {
    const float *a = ap[r], *b = bp0[r] + boff;
    size_t p = nps[r];
    for (; p >= (size_t)U; p -= (size_t)U) {
#pragma GCC unroll 4
      for (int u = 0; u < U; u++, a += as, b += bs) step(MR, NV, masked, a, b, bb, mask, acc[u]);
    }
    for (; p > 0; p--, a += as, b += bs) step(MR, NV, masked, a, b, bb, mask, acc[0]);
  }
#pragma GCC unroll 4
  for (int u = 1; u < U; u++)
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[0][m][v] = _mm256_add_ps(acc[0][m][v], acc[u][m][v]);
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      double *cp = c + (size_t)m * ldc + (size_t)v * 8;
      const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(acc[0][m][v]));
      const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(acc[0][m][v], 1));
      _mm256_storeu_pd(cp, _mm256_add_pd(_mm256_loadu_pd(cp), lo));
      _mm256_storeu_pd(cp + 4, _mm256_add_pd(_mm256_loadu_pd(cp + 4), hi));
    }
}

#define NV_CASE(R, V)                                                                              \
  case V:                                                                                          \
    if (masked) tile(R, V, 1, nrun, np, a, as, b, boff, bs, bb, c, ldc, mask);                     \
    else tile(R, V, 0, nrun, np, a, as, b, boff, bs, bb, c, ldc, mask);                            \
    break

void tconv_f32_bwdw_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t nrun, const size_t *np,
                                           const float *const *a, size_t as,
                                           const float *const *b, size_t boff, size_t bs,
                                           size_t bb, double *c, size_t ldc) {
  const size_t nv = (nr + 7) / 8;
  const int masked = (nr & 7) != 0;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nr - (nv - 1) * 8)), lane);
  switch (mr) {
  case 1:
    switch (nv) { NV_CASE(1, 1); NV_CASE(1, 2); NV_CASE(1, 3); NV_CASE(1, 4);
                  NV_CASE(1, 5); NV_CASE(1, 6); NV_CASE(1, 7); default: NV_CASE(1, 8); }
    break;
  case 2:
    switch (nv) { NV_CASE(2, 1); NV_CASE(2, 2); NV_CASE(2, 3); NV_CASE(2, 4);
                  NV_CASE(2, 5); default: NV_CASE(2, 6); }
    break;
  case 3:
    switch (nv) { NV_CASE(3, 1); NV_CASE(3, 2); NV_CASE(3, 3); default: NV_CASE(3, 4); }
    break;
  case 4:
    switch (nv) { NV_CASE(4, 1); default: NV_CASE(4, 2); }
    break;
  case 5:
    switch (nv) { NV_CASE(5, 1); default: NV_CASE(5, 2); }
    break;
  default:
    switch (nv) { NV_CASE(6, 1); default: NV_CASE(6, 2); }
    break;
  }
}
