#if defined(__x86_64__)
/* AVX-512 "channel-lanes" pixel kernel (few input channels, many filters: the seed's 1 -> 32):
 * the AVX2 kernel's loops with one zmm per 16-filter panel, so a pixel of 32 filters is 2
 * accumulators and the interior's weights (taps x channels x panels <= 16 zmm) stay in
 * registers across the row.  Same FMAs in the same order per output element as
 * tconv_f32_cpix_ukernel__avx2_fma (taps, then channels), so the two give bitwise-identical
 * results (tested).  Contract: src/kernels/ukernel.h. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/cpix_table.h"
#include "kernels/ukernel.h"

#define INLINE static inline __attribute__((always_inline))

INLINE void cpix512_store(const size_t NP, __mmask16 mlast, __m512 *acc, float *y,
                          bool clamp, __m512 lo, __m512 hi) {
#pragma GCC unroll 4
  for (size_t q = 0; q < NP; q++) {
    __m512 v = clamp ? _mm512_min_ps(_mm512_max_ps(acc[q], lo), hi) : acc[q];
    if (q + 1 < NP || mlast == 0xFFFFu) /* a masked store costs more even with every lane */
      _mm512_storeu_ps(y + 16 * q, v);
    else
      _mm512_mask_storeu_ps(y + 16 * q, mlast, v);
  }
}

/* Pixels [ja, jb) of nrows rows over a table of U (input offset, weight row) pairs: U, CLAMP
 * and FULL (every lane of the last panel stored) constant after inlining (U = 0: runtime count
 * u); weights in registers when U * NP <= 16, loaded once for all the rows. */
INLINE void cpix512_interior(const size_t NP, const size_t U, const bool CLAMP, const bool FULL,
                             size_t u, __mmask16 mlast, size_t ja, size_t jb, size_t nrows,
                             const float *x, ptrdiff_t xj, ptrdiff_t xr, const ptrdiff_t *voff,
                             const float *const *vw, size_t wpanel, const __m512 *init, float *y,
                             size_t ys, size_t yr, __m512 lo, __m512 hi) {
  const size_t n_u = U ? U : u;
  const bool WREG = U != 0 && U * NP <= 16;
  __m512 wr[16];
  if (WREG) {
#pragma GCC unroll 16
    for (size_t v = 0; v < U; v++)
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) wr[v * NP + q] = _mm512_loadu_ps(vw[v] + q * wpanel);
  }
  for (size_t r = 0; r < nrows; r++) {
    const float *xp = x + (ptrdiff_t)r * xr + (ptrdiff_t)ja * xj;
    float *yp = y + r * yr + ja * ys;
    for (size_t jj = ja; jj < jb; jj++, xp += xj, yp += ys) {
      __m512 acc[4];
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[q] = init[q];
#pragma GCC unroll 16
      for (size_t v = 0; v < n_u; v++) {
        const __m512 xv = _mm512_set1_ps(xp[voff[v]]);
#pragma GCC unroll 4
        for (size_t q = 0; q < NP; q++)
          acc[q] = _mm512_fmadd_ps(
              xv, WREG ? wr[v * NP + q] : _mm512_loadu_ps(vw[v] + q * wpanel), acc[q]);
      }
      cpix512_store(NP, FULL ? (__mmask16)0xFFFFu : mlast, acc, yp, CLAMP, lo, hi);
    }
  }
}

INLINE void cpix512_block(const size_t NP, size_t nr, size_t npix, size_t nrows, size_t kc,
                          size_t na, size_t nb, size_t ja, size_t jb, const size_t *lo,
                          const size_t *hi, size_t ls, const float *x, ptrdiff_t x0,
                          ptrdiff_t xj, ptrdiff_t xr, ptrdiff_t xa, ptrdiff_t xb, const float *w,
                          size_t wa, size_t wb, size_t wpanel, const float *bias, float *y,
                          size_t ys, size_t yr, const tconv_uk_params *params, unsigned flags) {
  const __mmask16 mlast = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
  const bool clamp = (flags & TCONV_UK_CLAMP) != 0, full = nr >= 16;
  const __m512 lo_v = _mm512_set1_ps(params->lo), hi_v = _mm512_set1_ps(params->hi);
  __m512 init[4];
#pragma GCC unroll 4
  for (size_t q = 0; q < NP; q++)
    init[q] = bias == NULL   ? _mm512_setzero_ps()
              : q + 1 < NP ? _mm512_loadu_ps(bias + 16 * q)
                           : _mm512_maskz_loadu_ps(mlast, bias + 16 * q);
  ptrdiff_t voff[CPIX_UMAX];
  const float *vw[CPIX_UMAX];
  size_t u = ja < jb ? cpix_table(na, nb, kc, x0, xa, xb, w, wa, wb, voff, vw) : 0;
  if (u == 0) ja = jb = 0;
#define CPIX_INT3(UU, CL, FU, J0, J1)                                                              \
  cpix512_interior(NP, UU, CL, FU, u, mlast, J0, J1, nrows, x, xj, xr, voff, vw, wpanel, init, y,  \
                   ys, yr, lo_v, hi_v)
#define CPIX_INT(UU, J0, J1)                                                                       \
  if (clamp) {                                                                                     \
    if (full) CPIX_INT3(UU, true, true, J0, J1); else CPIX_INT3(UU, true, false, J0, J1);          \
  } else {                                                                                         \
    if (full) CPIX_INT3(UU, false, true, J0, J1); else CPIX_INT3(UU, false, false, J0, J1);        \
  }
  if (ja < jb) {
    switch (u) {
      case 1: CPIX_INT(1, ja, jb); break;
      case 2: CPIX_INT(2, ja, jb); break;
      case 4: CPIX_INT(4, ja, jb); break;
      case 9: CPIX_INT(9, ja, jb); break;
      default: CPIX_INT(0, ja, jb); break;
    }
  }
  /* the border pixels: each one's tap rectangle as a table too, shared by the rows */
  for (size_t jj = 0; jj < npix; jj++) {
    if (jj == ja && ja < jb) {
      jj = jb - 1;
      continue;
    }
    const size_t l = lo[jj * ls], h = na ? hi[jj * ls] : l;
    u = h > l ? cpix_table_cols(na, l, h, kc, x0, xa, xb, w, wa, wb, voff, vw) : 0;
    if (u > 0 || h <= l) { /* u = 0 here: no valid tap, the bias alone */
      CPIX_INT(0, jj, jj + 1);
      continue;
    }
    for (size_t r = 0; r < nrows; r++) { /* more than CPIX_UMAX taps: walk the rectangle */
      __m512 acc[4];
#pragma GCC unroll 4
      for (size_t q = 0; q < NP; q++) acc[q] = init[q];
      for (size_t a = 0; a < na; a++)
        for (size_t b = l; b < h; b++) {
          const float *xp = x + (x0 + (ptrdiff_t)r * xr + (ptrdiff_t)jj * xj - (ptrdiff_t)a * xa -
                                 (ptrdiff_t)b * xb);
          const float *wp = w + a * wa + b * wb;
          for (size_t k = 0; k < kc; k++) {
            const __m512 xv = _mm512_set1_ps(xp[k]);
#pragma GCC unroll 4
            for (size_t q = 0; q < NP; q++)
              acc[q] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wp + q * wpanel + 16 * k), acc[q]);
          }
        }
      cpix512_store(NP, mlast, acc, y + r * yr + jj * ys, clamp, lo_v, hi_v);
    }
  }
#undef CPIX_INT
#undef CPIX_INT3
}

void tconv_f32_cpix_ukernel__avx512f(size_t npix, size_t nrows, size_t nc, size_t kc, size_t na,
                                     size_t nb, size_t ja, size_t jb, const size_t *lo,
                                     const size_t *hi, size_t ls, const float *x, ptrdiff_t x0,
                                     ptrdiff_t xj, ptrdiff_t xr, ptrdiff_t xa, ptrdiff_t xb,
                                     const float *w, size_t wa, size_t wb, size_t wpanel,
                                     const float *bias, float *y, size_t ys, size_t yr,
                                     const tconv_uk_params *params, unsigned flags) {
  /* up to 4 panels (64 filters) per pass over the pixels, as the AVX2 kernel */
  for (size_t j = 0; j < nc; j += 64, w += 4 * wpanel) {
    size_t nr;
    const size_t np = cpix_pass_panels(nc - j, &nr);
    const float *bj = bias ? bias + j : NULL;
#define CPIX(NP)                                                                                   \
  cpix512_block(NP, nr, npix, nrows, kc, na, nb, ja, jb, lo, hi, ls, x, x0, xj, xr, xa, xb, w, wa, \
                wb, wpanel, bj, y + j, ys, yr, params, flags)
    switch (np) {
      case 1: CPIX(1); break;
      case 2: CPIX(2); break;
      case 3: CPIX(3); break;
      default: CPIX(4); break;
    }
#undef CPIX
  }
}
#endif /* __x86_64__ */
