/* The micro-kernel contract (docs/kernels.md has the long form).  Micro-kernels know only
 * pointers, counts and tile sizes; the planner (src/plan/) owns geometry and packing.
 *
 * GEMM micro-kernel, MR x NR = 6 x 16 (one C tile of 6 output pixels x 16 output channels):
 *   C[m][n] = init[m][n] + sum over s < ks, k < kc of a[s*MR + m][k] * w[s][k*NR + n]
 *   - a: ks*MR row pointers, each to kc readable floats (an implicit-GEMM indirection list:
 *     pointer m of tap s is output pixel m's input pixel for that tap, or a zero vector when the
 *     tap falls outside the input).  Rows m >= mr must still be readable (the planner repeats a
 *     valid pointer); their results are discarded.
 *   - w: ks pointers to packed weight panels, kc*NR floats each, k-major, zero-padded past the
 *     valid columns.  No alignment is required.
 *   - c: mr row pointers; only columns n < nr are read or written.
 *   - init: with TCONV_UK_ACCUMULATE the current C is loaded; otherwise bias[n] (bias may be
 *     NULL: zeros).  With TCONV_UK_CLAMP the result is clamped to [lo, hi] before the store.
 *   - TCONV_UK_STREAM (AVX-512 GEMM kernel; others ignore it): full 16-lane panels are stored
 *     with non-temporal stores.  The caller passes it only with 64-byte-aligned rows and
 *     panels and issues the store fence before the results are read elsewhere.
 *   - TCONV_UK_PREFETCH_C (AVX-512 GEMM kernel; others ignore it): the kernel asks for the C
 *     rows' lines with write intent while it multiplies (a hint; results unchanged).
 *   - Summation order per element: s ascending, then k ascending, one rounding per multiply-add
 *     chain step; no over-reads and no writes outside the tile.
 */
#ifndef TCONV_KERNELS_UKERNEL_H
#define TCONV_KERNELS_UKERNEL_H

#include <stddef.h>

#define TCONV_GEMM_MR 6
#define TCONV_GEMM_NR 16

enum { TCONV_UK_ACCUMULATE = 1u, TCONV_UK_CLAMP = 2u, TCONV_UK_STREAM = 4u, TCONV_UK_PREFETCH_C = 8u };

typedef struct tconv_uk_params {
  float lo, hi; /* clamp bounds when TCONV_UK_CLAMP */
} tconv_uk_params;

typedef void (*tconv_gemm_ukernel_fn)(size_t mr, size_t nr, size_t kc, size_t ks,
                                      const float *const *a, const float *const *w,
                                      float *const *c, const float *bias,
                                      const tconv_uk_params *params, unsigned flags);

void tconv_f32_gemm_ukernel_6x16__scalar(size_t mr, size_t nr, size_t kc, size_t ks,
                                         const float *const *a, const float *const *w,
                                         float *const *c, const float *bias,
                                         const tconv_uk_params *params, unsigned flags);
void tconv_f32_gemm_ukernel_6x16__avx2_fma(size_t mr, size_t nr, size_t kc, size_t ks,
                                           const float *const *a, const float *const *w,
                                           float *const *c, const float *bias,
                                           const tconv_uk_params *params, unsigned flags);

/* AVX-512 GEMM micro-kernel over up to 4 adjacent 16-filter panels (6 x 16*ceil(nr/16), nr <= 64):
 * the 6x16 contract with panel q of tap s at w[s] + q*wstride (the 6x16 packing, unchanged), so
 *   C[m][n] = init[m][n] + sum over s, k of a[s*MR + m][k] * w[s][(n/16)*wstride + k*16 + n%16]
 * in the same order as the 6x16 kernels (bitwise-equal results). */
#define TCONV_GEMM64_NP 4
typedef void (*tconv_gemm64_ukernel_fn)(size_t mr, size_t nr, size_t kc, size_t ks,
                                        const float *const *a, const float *const *w,
                                        size_t wstride, float *const *c, const float *bias,
                                        const tconv_uk_params *params, unsigned flags);
void tconv_f32_gemm_ukernel_6x64__avx512f(size_t mr, size_t nr, size_t kc, size_t ks,
                                          const float *const *a, const float *const *w,
                                          size_t wstride, float *const *c, const float *bias,
                                          const tconv_uk_params *params, unsigned flags);
/* The same kernel for a tile whose rows all read the same taps (no row outside the input on
 * any of them): 6 row pointers and ks tap offsets instead of the ks*6 indirection list, tap s
 * of row m at rows[m] - toff[s] (floats); the planner then builds ks offsets per tile, not
 * 6*ks pointers.  Same sums in the same order. */
typedef void (*tconv_gemm64_rows_ukernel_fn)(size_t mr, size_t nr, size_t kc, size_t ks,
                                             const float *const *rows, const ptrdiff_t *toff,
                                             const float *const *w, size_t wstride,
                                             float *const *c, const float *bias,
                                             const tconv_uk_params *params, unsigned flags);
void tconv_f32_gemm_ukernel_6x64_rows__avx512f(size_t mr, size_t nr, size_t kc, size_t ks,
                                               const float *const *rows, const ptrdiff_t *toff,
                                               const float *const *w, size_t wstride,
                                               float *const *c, const float *bias,
                                               const tconv_uk_params *params, unsigned flags);

/* Dot micro-kernel, 6 pixels x up to 2 filters, vectorised over k (few filters per group):
 *   C[m][n] = init[m][n] + sum over s, k of a[s*MR + m][k] * w[s][n*kc + k]
 * Same a / c / bias / flags contract as the GEMM kernel; w per tap is [nr][kc], filter-major
 * (the panel holds 2 filters; with nr = 1 the second row is never read). */
#define TCONV_DOT_NR 2
void tconv_f32_dot_ukernel_6x2__scalar(size_t mr, size_t nr, size_t kc, size_t ks,
                                       const float *const *a, const float *const *w,
                                       float *const *c, const float *bias,
                                       const tconv_uk_params *params, unsigned flags);
void tconv_f32_dot_ukernel_6x2__avx2_fma(size_t mr, size_t nr, size_t kc, size_t ks,
                                         const float *const *a, const float *const *w,
                                         float *const *c, const float *bias,
                                         const tconv_uk_params *params, unsigned flags);


/* Direct row kernels (AVX2 only; the scalar path runs these layers through the GEMM kernels).
 *
 * Pixel lanes, R = filters per group <= 4: for j < n (stores reach j < roundup(n, 8), so out
 * rows need that room), r < R:
 *   out[r*ldo + j] = init[r] + sum over t < ntaps, c < kc of x[t][c*xs + j] * w[(t*kc + c)*R + r]
 *   x[t] must be readable for kc rows of roundup(n, 8) floats (xs apart); init = bias or 0;
 *   CLAMP as for the GEMM kernel.  One call = one output row of one phase. */
void tconv_f32_prow_ukernel__avx2_fma(size_t R, size_t n, size_t kc, size_t ntaps,
                                      const float *const *x, size_t xs, const float *w,
                                      const float *bias, float *out, size_t ldo,
                                      const tconv_uk_params *params, unsigned flags);
/* Pixel lanes for one filter, K rows at once (K = 2; K = 4 with AVX-512): tap t < ntaps reads
 * x[t] (as above) and adds into row k < K with the weights w[K*t + k] (kc floats; NULL: not a
 * tap of row k), taps in list order, channels ascending:
 *   out[k][j] = init + sum over t with w[K*t+k], c < kc of x[t][c*xs + j] * w[K*t+k][c]
 * The summation order of a row depends only on its own taps' order and n, and is the same in
 * both kernels (bitwise-equal rows). */
void tconv_f32_prow2_ukernel__avx2_fma(size_t n, size_t kc, size_t ntaps, const float *const *x,
                                       size_t xs, const float *const *w, const float *bias,
                                       float *const *out, const tconv_uk_params *params,
                                       unsigned flags);
void tconv_f32_prow4_ukernel__avx512f(size_t n, size_t kc, size_t ntaps, const float *const *x,
                                      size_t xs, const float *const *w, const float *bias,
                                      float *const *out, const tconv_uk_params *params,
                                      unsigned flags);
/* Channel dot, one filter whose nb <= 4 column taps read consecutive input pixels: output
 * p < np over row taps a < na (x[a]: column 0 of that input row, xs floats per column):
 *   out[p*os] = init + sum over a, c < kc (8 at a time), b = nb-1 .. 0 with column
 *               col = c0 + p + nb - 1 - b inside [0, ncols) of x[a][col*xs + c] * w[(a*nb + b)*kc + c]
 *   kc a multiple of 8; per 8-channel step the taps b descending; each output's 8 lanes of
 *   partial sums reduced by a fixed tree.  Columns outside [0, ncols) are neither read nor
 *   summed.  init = bias[0] or 0; CLAMP as for the GEMM kernel.  The AVX-512VL build runs
 *   blocks of 16 outputs instead of 8, bitwise equal.  The npf 64-byte lines from pf (any
 *   address; not read) are prefetched into L2 along the call. */
void tconv_f32_cdot_ukernel__avx2_fma(size_t np, size_t kc, size_t na, size_t nb,
                                      const float *const *x, ptrdiff_t c0, size_t ncols,
                                      size_t xs, const float *w, const float *bias, float *out,
                                      size_t os, const tconv_uk_params *params, unsigned flags,
                                      const float *pf, size_t npf);
void tconv_f32_cdot_ukernel__avx512f(size_t np, size_t kc, size_t na, size_t nb,
                                     const float *const *x, ptrdiff_t c0, size_t ncols,
                                     size_t xs, const float *w, const float *bias, float *out,
                                     size_t os, const tconv_uk_params *params, unsigned flags,
                                     const float *pf, size_t npf);
/* Channel dot for R = 2..4 filters (nb column taps one input pixel apart, any count): for
 * p < np, r < R, over row taps a < na, column taps b < nb whose column
 * col = c0 + p + nb - 1 - b lies inside [0, ncols):
 *   out[p*os + r] = init[r] + sum over a, b, c < kc of x[a][col*xs + c] * w[((a*nb + b)*R + r)*kc + c]
 *   in that order (lanes reduced as above); AVX2 and AVX-512VL builds bitwise equal. */
void tconv_f32_cdotr_ukernel__avx2_fma(size_t R, size_t np, size_t kc, size_t na, size_t nb,
                                       const float *const *x, ptrdiff_t c0, size_t ncols,
                                       size_t xs, const float *w, const float *bias, float *out,
                                       size_t os, const tconv_uk_params *params, unsigned flags,
                                       const float *pf, size_t npf);
void tconv_f32_cdotr_ukernel__avx512f(size_t R, size_t np, size_t kc, size_t na, size_t nb,
                                      const float *const *x, ptrdiff_t c0, size_t ncols,
                                      size_t xs, const float *w, const float *bias, float *out,
                                      size_t os, const tconv_uk_params *params, unsigned flags,
                                      const float *pf, size_t npf);
typedef void (*tconv_cdot_ukernel_fn)(size_t np, size_t kc, size_t na, size_t nb,
                                      const float *const *x, ptrdiff_t c0, size_t ncols,
                                      size_t xs, const float *w, const float *bias, float *out,
                                      size_t os, const tconv_uk_params *params, unsigned flags,
                                      const float *pf, size_t npf);
typedef void (*tconv_cdotr_ukernel_fn)(size_t R, size_t np, size_t kc, size_t na, size_t nb,
                                       const float *const *x, ptrdiff_t c0, size_t ncols,
                                       size_t xs, const float *w, const float *bias, float *out,
                                       size_t os, const tconv_uk_params *params, unsigned flags,
                                       const float *pf, size_t npf);

/* Channel lanes, the pixels jj < npix of nrows phase rows r (rows sharing their valid row
 * taps), each pixel over its valid taps (a < na rows, b in [lo[jj*ls], hi[jj*ls]) columns out
 * of the phase's nb, all nb for jj in [ja, jb); na = 0: bias only):
 *   y[r*yr + jj*ys + j] = init[j] + sum over a, b, k < kc of
 *                         x[x0 + r*xr + jj*xj - a*xa - b*xb + k] * W[a][b][k][j]
 *   with W[a][b] = w + (j/16)*wpanel + a*wa + b*wb, 16 filters per k (the GEMM panels).
 *   Only valid taps' inputs are read, so x itself may point outside the input. */
#define TCONV_CPIX_ARGS                                                                            \
  size_t npix, size_t nrows, size_t nc, size_t kc, size_t na, size_t nb, size_t ja, size_t jb,    \
      const size_t *lo, const size_t *hi, size_t ls, const float *x, ptrdiff_t x0, ptrdiff_t xj,   \
      ptrdiff_t xr, ptrdiff_t xa, ptrdiff_t xb, const float *w, size_t wa, size_t wb,             \
      size_t wpanel, const float *bias, float *y, size_t ys, size_t yr,                            \
      const tconv_uk_params *params, unsigned flags
void tconv_f32_cpix_ukernel__avx2_fma(TCONV_CPIX_ARGS);
/* The same with one zmm per 16-filter panel (AVX-512F; bitwise equal to the AVX2 kernel). */
void tconv_f32_cpix_ukernel__avx512f(TCONV_CPIX_ARGS);
typedef void (*tconv_cpix_ukernel_fn)(TCONV_CPIX_ARGS);

/* Batch lanes (one channel, one filter, 8 images per vector), one output row:
 *   out[8*o + l] = bias + sum over a < na, e in [cstart[o], cstart[o+1]) of
 *                  xrow[a][8*xcol[e] + l] * wrow[a][e]     (a, then e ascending)
 * CLAMP as for the GEMM kernel. */
void tconv_f32_blane_row__avx2_fma(size_t ow, const size_t *cstart, const size_t *xcol,
                                   size_t na, const float *const *xrow, const float *const *wrow,
                                   float bias, float *out, const tconv_uk_params *params,
                                   unsigned flags);
/* The pixel lanes' output interleave: out[j*K + k] = rows[k][j] for j < n, k < K <= 8. */
void tconv_f32_interleave__avx2(size_t K, size_t n, const float *const *rows, float *out);
/* The same for K = 6 with AVX-512F, 16 pixels at a time: returns the pixels done (n rounded
 * down to a multiple of 16); the caller interleaves the rest. */
size_t tconv_f32_interleave6__avx512f(size_t n, const float *const *rows, float *out);
/* NHWC row -> planar rows for the pixel lanes: dst[c*ds + w] = src[w*sc + c], w < nw, c < nc. */
void tconv_f32_planar__avx2(size_t nw, size_t nc, const float *src, size_t sc, float *dst,
                            size_t ds);

/* Winograd transforms for F(m, r), m + r - 1 = TCONV_WINO_ALPHA = 6, over the points 0, 1, -1,
 * 2, -2 and infinity (src/plan/winograd.c builds the matrices and runs the algorithm;
 * src/kernels/wino_block.h writes the 1-D transforms out and fixes the order of operations).
 * Input, for channels c0 <= c < C (C - c0 a multiple of 8), x[] the 6 x 6 patch's pixel
 * pointers (a zero vector for pixels outside the input):
 *   v[(a*6 + b)*vs + c] = (B^T d B)[a][b]   (the rows' transforms first)
 * Output, for filters k0 <= k < K (K - k0 a multiple of 8), M's element (a, b) at
 * mm + (a*6 + b)*ms, pixel (i, j) of the mh x mw tile (2..5 each) at y[i*mw + j] (NULL:
 * outside the output, not written):
 *   y[i*mw + j][k] = (A_h^T M A_w)[i][j] + bias[k]   (the columns' transforms first)
 *   bias NULL = zeros; CLAMP as for the GEMM kernel.  The AVX-512F kernels run 16 lanes per
 *   vector (a last 8 through the AVX2 ones), bitwise equal. */
#define TCONV_WINO_ALPHA 6
void tconv_f32_wino_in__avx2_fma(size_t c0, size_t C, const float *const *x, float *v,
                                 size_t vs);
void tconv_f32_wino_out__avx2_fma(size_t k0, size_t K, size_t mh, size_t mw, const float *mm,
                                  size_t ms, const float *bias, float *const *y,
                                  const tconv_uk_params *params, unsigned flags);
void tconv_f32_wino_in__avx512f(size_t c0, size_t C, const float *const *x, float *v,
                                size_t vs);
void tconv_f32_wino_out__avx512f(size_t k0, size_t K, size_t mh, size_t mw, const float *mm,
                                 size_t ms, const float *bias, float *const *y,
                                 const tconv_uk_params *params, unsigned flags);

#endif
