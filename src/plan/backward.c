/* Fast backward paths (contract in plan/backward.h).
 *
 * Backward-data.  dx[i] = sum over (t, o = i*s + t*d - pad_begin in [0, O)) of dz[o] . w[t]: for
 * every input pixel a sum over taps of a dz row times the tap's (filters x channels) matrix — an
 * implicit GEMM with M = input pixels, N = input channels per group, K = taps x filters per
 * group.  It runs on the forward's micro-kernels: the indirection list holds, per tap, each row's
 * dz pixel (or a zero vector when the tap lands in the crop), and the packed panels hold the
 * kernel with the filters as the reduction dimension.  No zero insertion, no col2im buffer:
 * every dx element is written once by the tile that owns it.
 *
 * Backward-weights.  dw[t] = sum over the input pixels i whose landing o = i*s + t*d - pad_begin
 * is inside the output of x[i]^T dz[o]: per tap a GEMM whose reduction runs over pixels.  The
 * input rows are cut into chunks of about 128 pixels; when every tap's totals fit in L2 the
 * chunks are the outer loop and all taps run while a chunk is hot (x is read from memory once,
 * not once per tap), otherwise each item owns one tap.  Per (chunk, tap) the valid pixels are
 * packed into contiguous panels (the natural rows sit at power-of-two strides that would thrash
 * L1) — or, with at most 6 rows, read in place — and reduced in float by the bwdw micro-kernel,
 * which folds its float sums into double totals (the error stays near that of a 128-term float
 * sum for any image size).  Per element the reduction order is fixed by the geometry alone:
 * chunks, super-chunks and tap blocks are sized from the shape, never from the thread count,
 * and super-chunk partials are added in order by a last pass — hence bitwise-identical results
 * for any number of threads.
 *
 * NCHW goes through NHWC workspaces, as the forward does. */
#include "plan/backward.h"

#include <string.h>

#include "core/internal.h"
#include "core/threadpool.h"
#include "kernels/bwd_ukernel.h"
#include "kernels/ref/ref.h"
#include "kernels/ukernel.h"
#include "plan/dispatch.h"
#include "plan/plan_internal.h"

enum { MR = TCONV_GEMM_MR, NR = TCONV_GEMM_NR, WMR = TCONV_BWDW_MR, WNR = TCONV_BWDW_NR };
#define CHUNK_FLOATS 4096 /* packed weights per K chunk of backward-data (16 KiB) */
#define TILES_PER_ITEM 8
#define PIXEL_CHUNK 128 /* pixels per packed chunk of backward-weights */
#define MAX_TAP_CHUNK 64

/* The valid range [lo, hi) of input indices i whose landing i*s + off - pb lies in [0, O). */
static void valid_range(size_t I, size_t s, size_t off, size_t pb, size_t O, size_t *lo,
                        size_t *hi) {
  size_t a = off >= pb ? 0 : (pb - off + s - 1) / s;
  size_t b = pb + O <= off ? 0 : (pb + O - off + s - 1) / s;
  if (b > I) b = I;
  *lo = a < b ? a : b;
  *hi = b;
}

/* ---- backward-data ------------------------------------------------------------------------ */

typedef struct data_job {
  const tconv_geometry *g;
  const float *dz; /* NHWC */
  float *dx;       /* NHWC */
  const float *packed, *zero;
  size_t icg, ocg, nrp, ntiles, taps, kcc, tcc;
  bool dot;
  bool pos_major; /* rows ordered (ih, iw, n): a tile's images share their valid taps */
  bool merge;     /* a kernel row's kw taps read one contiguous dz run: one K entry of kw*OC */
  float *edge;    /* merge: per thread, rows whose run crosses the image edge, zero-filled */
  size_t edge_stride;
  tconv_gemm_ukernel_fn uk;
  tconv_gemm64_ukernel_fn uk64; /* AVX-512: up to 4 adjacent channel panels per call, or NULL */
  size_t rows, items;
} data_job;

/* One item: up to TILES_PER_ITEM tiles of 6 input pixels.  Per K chunk (taps x filters) the
 * tiles' indirection lists are built first, then each packed panel sweeps all the tiles, so a
 * panel is read once per item rather than once per tile. */
static void data_item(void *ctx, size_t item, size_t thread) {
  const data_job *j = ctx;
  const tconv_geometry *g = j->g;
  const size_t blocks = (j->rows + TILES_PER_ITEM * MR - 1) / (TILES_PER_ITEM * MR);
  const size_t grp = item / blocks, blk = item % blocks;
  const size_t IH = g->in_h, IW = g->in_w, IC = g->in_c, OC = g->out_c;
  const size_t r0 = blk * TILES_PER_ITEM * MR;
  const size_t r1 = r0 + TILES_PER_ITEM * MR < j->rows ? r0 + TILES_PER_ITEM * MR : j->rows;
  const size_t ntile = (r1 - r0 + MR - 1) / MR;
  const float *a[TILES_PER_ITEM][MAX_TAP_CHUNK * MR];
  size_t taps[TILES_PER_ITEM][MAX_TAP_CHUNK], ks[TILES_PER_ITEM], mrs[TILES_PER_ITEM];
  size_t n[TILES_PER_ITEM][MR], ih[TILES_PER_ITEM][MR], iw[TILES_PER_ITEM][MR];
  /* per row: the landing of tap (0, 0) (signed: it may sit in the crop), the row's image in dz,
   * and whether every tap lands inside (then a tap's row is base + tapoff[t]) */
  ptrdiff_t fh0[TILES_PER_ITEM][MR], fw0[TILES_PER_ITEM][MR], tapoff[MAX_TAP_CHUNK];
  const float *dzimg[TILES_PER_ITEM][MR];
  bool inner[TILES_PER_ITEM], hmerge[TILES_PER_ITEM], hrow[TILES_PER_ITEM][MR], wmerged = false;
  size_t kcs[TILES_PER_ITEM];
  const ptrdiff_t OH = (ptrdiff_t)g->out_h, OW = (ptrdiff_t)g->out_w;
  const ptrdiff_t span_h = (ptrdiff_t)((g->kernel_h - 1) * g->dilation_h);
  const ptrdiff_t span_w = (ptrdiff_t)((g->kernel_w - 1) * g->dilation_w);
  const float *wptr[MAX_TAP_CHUNK];
  float *crow[MR];
  const tconv_uk_params params = {0.0f, 0.0f};
  const size_t panel = j->dot ? j->nrp * j->ocg : j->ocg * NR; /* floats per (tap, panel) */
  for (size_t tl = 0; tl < ntile; tl++) {
    const size_t rb = r0 + tl * MR;
    mrs[tl] = r1 - rb < MR ? r1 - rb : MR;
    inner[tl] = true;
    hmerge[tl] = j->merge;
    for (size_t m = 0; m < MR; m++) {
      size_t r = rb + (m < mrs[tl] ? m : 0);
      if (j->pos_major) {
        n[tl][m] = r % g->batch;
        iw[tl][m] = (r / g->batch) % IW;
        ih[tl][m] = r / (g->batch * IW);
      } else {
        iw[tl][m] = r % IW;
        ih[tl][m] = (r / IW) % IH;
        n[tl][m] = r / (IW * IH);
      }
      fh0[tl][m] = (ptrdiff_t)(ih[tl][m] * g->stride_h) - (ptrdiff_t)g->pad_top;
      fw0[tl][m] = (ptrdiff_t)(iw[tl][m] * g->stride_w) - (ptrdiff_t)g->pad_left;
      if (m >= mrs[tl]) fh0[tl][m] = -span_h - 1; /* padding rows: never valid */
      dzimg[tl][m] = j->dz + n[tl][m] * g->out_h * g->out_w * OC + grp * j->ocg;
      inner[tl] = inner[tl] && fh0[tl][m] >= 0 && fh0[tl][m] + span_h < OH &&
                  fw0[tl][m] >= 0 && fw0[tl][m] + span_w < OW;
      hrow[tl][m] = fw0[tl][m] >= 0 && fw0[tl][m] + span_w < OW;
    }
  }
  bool first = true;
  for (size_t t0 = 0; t0 < j->taps; t0 += j->tcc) {
    const size_t t1 = t0 + j->tcc < j->taps ? t0 + j->tcc : j->taps;
    for (size_t t = t0; t < t1; t++)
      tapoff[t - t0] = (ptrdiff_t)((t / g->kernel_w) * g->dilation_h) * OW +
                       (ptrdiff_t)((t % g->kernel_w) * g->dilation_w);
    for (size_t k0 = 0; k0 < j->ocg; k0 += j->kcc) {
      const size_t kc = j->ocg - k0 < j->kcc ? j->ocg - k0 : j->kcc;
      for (size_t tl = 0; tl < ntile; tl++) {
        size_t cnt = 0;
        kcs[tl] = kc;
        if (hmerge[tl]) { /* one entry per kernel row: kw taps x all filters, contiguous */
          const size_t kw = g->kernel_w, run = kw * j->ocg;
          kcs[tl] = run;
          for (size_t t = t0; t < t1; t += kw) {
            const ptrdiff_t dh = (ptrdiff_t)((t / kw) * g->dilation_h);
            bool any = false;
            for (size_t m = 0; m < MR; m++) {
              const ptrdiff_t fh = fh0[tl][m] + dh;
              const bool ok = fh >= 0 && fh < OH;
              const float *row = dzimg[tl][m] + (fh * OW + fw0[tl][m]) * (ptrdiff_t)OC;
              if (ok && !hrow[tl][m]) { /* the run crosses the edge: a zero-filled copy */
                float *e = j->edge + thread * j->edge_stride +
                           ((tl * j->tcc + t - t0) * MR + m * kw) * j->ocg;
                for (size_t tw = 0; tw < kw; tw++) {
                  const ptrdiff_t fw = fw0[tl][m] + (ptrdiff_t)tw;
                  if (fw >= 0 && fw < OW)
                    memcpy(e + tw * j->ocg, row + (ptrdiff_t)(tw * OC), j->ocg * sizeof(float));
                  else
                    memset(e + tw * j->ocg, 0, j->ocg * sizeof(float));
                }
                row = e;
              }
              a[tl][cnt * MR + m] = ok ? row : j->zero;
              any |= ok;
            }
            if (any) taps[tl][cnt++] = t;
          }
          ks[tl] = cnt;
          continue;
        }
        if (inner[tl]) { /* every tap of every row lands inside: no checks */
          const float *base[MR];
          for (size_t m = 0; m < MR; m++)
            base[m] = dzimg[tl][m] + (fh0[tl][m] * OW + fw0[tl][m]) * (ptrdiff_t)OC + k0;
          for (size_t t = t0; t < t1; t++, cnt++) {
            const ptrdiff_t off = tapoff[t - t0] * (ptrdiff_t)OC;
            for (size_t m = 0; m < MR; m++) a[tl][cnt * MR + m] = base[m] + off;
            taps[tl][cnt] = t;
          }
          ks[tl] = cnt;
          continue;
        }
        for (size_t t = t0; t < t1; t++) {
          const ptrdiff_t dh = (ptrdiff_t)((t / g->kernel_w) * g->dilation_h);
          const ptrdiff_t dw = (ptrdiff_t)((t % g->kernel_w) * g->dilation_w);
          bool any = false;
          for (size_t m = 0; m < MR; m++) {
            const ptrdiff_t fh = fh0[tl][m] + dh, fw = fw0[tl][m] + dw;
            const bool ok = fh >= 0 && fh < OH && fw >= 0 && fw < OW;
            a[tl][cnt * MR + m] = ok ? dzimg[tl][m] + (fh * OW + fw) * (ptrdiff_t)OC + k0 : j->zero;
            any |= ok;
          }
          if (any) taps[tl][cnt++] = t;
        }
        ks[tl] = cnt;
      }
      const unsigned flags = first ? 0u : TCONV_UK_ACCUMULATE;
      first = false;
      const size_t np = j->uk64 ? TCONV_GEMM64_NP : 1; /* channel panels per call */
      for (size_t jt = 0; jt < j->ntiles; jt += np) {
        const size_t nr = j->icg - jt * j->nrp < np * j->nrp ? j->icg - jt * j->nrp : np * j->nrp;
        const float *base = j->packed + (grp * j->ntiles + jt) * j->taps * panel +
                            (j->dot ? 0 : k0 * NR);
        bool wfull = false; /* wptr holds every tap of the chunk (most tiles: reused) */
        for (size_t tl = 0; tl < ntile; tl++) {
          if (ks[tl] == 0 && flags) continue; /* nothing to add */
          const bool merged = kcs[tl] != kc;
          const bool full = ks[tl] == (merged ? (t1 - t0) / g->kernel_w : t1 - t0);
          if (!(full && wfull && merged == wmerged))
            for (size_t s = 0; s < ks[tl]; s++) wptr[s] = base + taps[tl][s] * panel;
          wfull = full;
          wmerged = merged;
          for (size_t m = 0; m < mrs[tl]; m++)
            crow[m] = j->dx + ((n[tl][m] * IH + ih[tl][m]) * IW + iw[tl][m]) * IC +
                      grp * j->icg + jt * j->nrp;
          if (j->uk64)
            j->uk64(mrs[tl], nr, kcs[tl], ks[tl], a[tl], wptr, j->taps * panel, crow, NULL,
                    &params, flags);
          else
            j->uk(mrs[tl], nr, kcs[tl], ks[tl], a[tl], wptr, crow, NULL, &params, flags);
        }
      }
    }
  }
}

/* Packs w[th][tw][j][c] per (group, tap, panel): GEMM panels are [filter j][16 channels], dot
 * panels [2 channels][filter j] — the filters are the reduction dimension here.  One item per
 * (group, tap), in parallel: the packed kernel can be as big as the work of a small batch. */
typedef struct pack_job {
  const data_job *j;
  const float *kernel;
  float *packed;
} pack_job;

static void data_pack_item(void *ctx, size_t item, size_t thread) {
  (void)thread;
  const pack_job *pj = ctx;
  const data_job *j = pj->j;
  const size_t IC = j->g->in_c, ocg = j->ocg, icg = j->icg;
  const size_t grp = item / j->taps, t = item % j->taps;
  const size_t panel = j->dot ? j->nrp * ocg : ocg * NR;
  const float *src = pj->kernel + t * ocg * IC + grp * icg;
  for (size_t jt = 0; jt < j->ntiles; jt++) {
    float *packed = pj->packed + ((grp * j->ntiles + jt) * j->taps + t) * panel;
    const size_t c0 = jt * j->nrp, nc = icg - c0 < j->nrp ? icg - c0 : j->nrp;
    if (j->dot) {
      for (size_t n = 0; n < j->nrp; n++)
        for (size_t k = 0; k < ocg; k++) *packed++ = n < nc ? src[k * IC + c0 + n] : 0.0f;
    } else {
      for (size_t k = 0; k < ocg; k++, packed += NR) {
        memcpy(packed, src + k * IC + c0, nc * sizeof(float));
        for (size_t n = nc; n < NR; n++) packed[n] = 0.0f;
      }
    }
  }
}

static tconv_status backward_data(const tconv_geometry *g, const float *kernel, const float *dz,
                                  float *dx, tconv_threadpool *pool, tconv_path path) {
  data_job j;
  memset(&j, 0, sizeof j);
  j.g = g;
  j.dz = dz;
  j.dx = dx;
  j.icg = g->in_c / g->groups;
  j.ocg = g->out_c / g->groups;
  j.taps = g->kernel_h * g->kernel_w;
  /* few input channels and many filters: vectorise over the filters (the reduction) instead */
  j.dot = j.icg <= 4 && j.ocg >= 16;
  j.nrp = j.dot ? TCONV_DOT_NR : NR;
  j.ntiles = (j.icg + j.nrp - 1) / j.nrp;
  if (j.dot) {
    j.kcc = j.ocg;
    j.tcc = MAX_TAP_CHUNK;
  } else {
    j.kcc = j.ocg * NR <= CHUNK_FLOATS ? j.ocg : CHUNK_FLOATS / NR;
    j.tcc = CHUNK_FLOATS / (j.kcc * NR);
    j.tcc = j.tcc < 1 ? 1 : j.tcc > MAX_TAP_CHUNK ? MAX_TAP_CHUNK : j.tcc;
  }
  /* kernel rows as single K entries when a row's taps read one contiguous dz run (one group,
   * no horizontal dilation) and a whole row of taps x filters fits a chunk: kw times fewer
   * indirection entries, a kw times longer reduction per entry; the packed panels are
   * tap-major per 16-channel block, so a row's panels are contiguous */
  j.merge = !j.dot && g->groups == 1 && g->dilation_w == 1 && g->kernel_w > 1 &&
            j.kcc == j.ocg && j.ocg * NR * g->kernel_w <= CHUNK_FLOATS &&
            g->kernel_w <= MAX_TAP_CHUNK;
  if (j.merge) {
    j.tcc = CHUNK_FLOATS / (j.ocg * NR * g->kernel_w) * g->kernel_w;
    if (j.tcc > MAX_TAP_CHUNK) j.tcc = MAX_TAP_CHUNK / g->kernel_w * g->kernel_w;
  }
  j.uk = j.dot ? tconv_f32_dot_ukernel_6x2__scalar : tconv_f32_gemm_ukernel_6x16__scalar;
#if defined(__x86_64__)
  if (path == TCONV_PATH_AVX2)
    j.uk = j.dot ? tconv_f32_dot_ukernel_6x2__avx2_fma : tconv_f32_gemm_ukernel_6x16__avx2_fma;
  /* the forward's AVX-512 kernel reads the same panels, 64 channels per call, in the same
   * order per element (bitwise-equal results) */
  if (path == TCONV_PATH_AVX2 && !j.dot && tconv_dispatch_avx512())
    j.uk64 = tconv_f32_gemm_ukernel_6x64__avx512f;
#else
  (void)path;
#endif
  j.rows = g->batch * g->in_h * g->in_w;
  /* position-major rows when pixels carry a lot of work (as the forward): six images at one
   * position share their valid taps, so border tiles read no zero rows */
  j.pos_major = g->batch >= MR && j.icg * j.ocg >= 4096;
  size_t dims[5] = {g->groups, j.taps, j.ntiles, j.nrp, j.ocg}, total;
  RETURN_IF(tconv_product_overflow(dims, 5, &total) || total > SIZE_MAX / sizeof(float),
            TCONV_LIMIT_EXCEEDED, "backward: packed weights overflow size_t");
  float *packed = tconv_alloc((total ? total : 1) * sizeof(float));
  /* zero rows: one kernel row of filters when merging */
  float *zero = tconv_alloc_zeroed((j.ocg ? j.ocg : 1) * g->kernel_w * sizeof(float));
  /* merge: tcc * ocg <= 256, so at most 48 KiB of edge rows per thread */
  j.edge_stride = j.merge ? TILES_PER_ITEM * j.tcc * MR * j.ocg : 0;
  float *edge = j.merge ? tconv_alloc(j.edge_stride * tconv_pool_threads(pool) * sizeof(float))
                        : NULL;
  if (packed == NULL || zero == NULL || (j.merge && edge == NULL)) {
    tconv_dealloc(packed);
    tconv_dealloc(zero);
    tconv_dealloc(edge);
    return tconv_error(TCONV_OUT_OF_MEMORY, "backward: cannot allocate %zu packed weights",
                       total);
  }
  pack_job pj = {&j, kernel, packed};
  tconv_parallel_for(pool, g->groups * j.taps, data_pack_item, &pj);
  j.packed = packed;
  j.zero = zero;
  j.edge = edge;
  const size_t blocks = (j.rows + TILES_PER_ITEM * MR - 1) / (TILES_PER_ITEM * MR);
  tconv_parallel_for(pool, g->groups * blocks, data_item, &j);
  tconv_dealloc(packed);
  tconv_dealloc(zero);
  tconv_dealloc(edge);
  return TCONV_OK;
}

/* ---- backward-weights --------------------------------------------------------------------- */

/* Work is cut by geometry alone: input rows (n, ih) are grouped into chunks of about PIXEL_CHUNK
 * pixels; chunks are grouped into `nsuper` super-chunks and the taps into `ntb` tap blocks.
 * An item = (group, tap block, row-block range, super-chunk) walks its chunks in order and, per
 * chunk, every tap of its block while the chunk's rows are hot in cache (x is then read from
 * memory once, not once per tap).  Per (chunk, tap) the valid pixels are reduced in float by the
 * micro-kernel and folded into double totals; with a single tap per block the float run goes on
 * across chunks up to PIXEL_CHUNK pixels.  Items of different super-chunks write double partials
 * that one last pass adds up in super-chunk order.  None of this depends on the thread count. */
typedef struct weights_job {
  const tconv_geometry *g;
  const float *x, *dz; /* NHWC */
  float *dk;
  size_t icg, ocg, taps;
  bool swapped; /* rows = input channels, columns = filters */
  bool inplace; /* one row block: the kernel reads x and dz rows where they are */
  size_t rdim, cdim, nrb, ncb, cpad, rb_per_item, row_items;
  size_t chunk_rows, nchunks, nsuper, chunks_per_super, tap_block, ntb;
  tconv_bwdw_ukernel_fn uk;
  unsigned char *scratch; /* per thread: totals (doubles), then the a and b panels */
  size_t scratch_stride;
  double *partial; /* nsuper > 1: [super][group][tap][rdim_pad][cpad] */
} weights_job;

typedef struct wctx { /* one item's running state */
  const weights_job *j;
  size_t grp, rb0, nrbi, q, tap; /* q pixels packed (or in runs) for tap `tap` */
  double *total;                 /* [tap - tap0][nrbi * WMR][cpad] */
  float *apack, *bpack;
  size_t tap0;
  size_t nrun; /* in place: runs of the pending call */
  const float *ra[PIXEL_CHUNK], *rb[PIXEL_CHUNK];
  size_t rn[PIXEL_CHUNK];
} wctx;

/* Runs the pending pixels through every tile of the item and folds them into the totals. */
static void flush(wctx *w) {
  const weights_job *j = w->j;
  if (w->q == 0) return;
  double *tot = w->total + (w->tap - w->tap0) * w->nrbi * WMR * j->cpad;
  if (j->inplace) { /* the runs' rows where they are: one call per column span */
    const size_t span = WNR * tconv_bwdw_blocks(j->rdim);
    const size_t as = j->swapped ? j->g->in_c : j->g->stride_w * j->g->out_c;
    const size_t bs = j->swapped ? j->g->stride_w * j->g->out_c : j->g->in_c;
    for (size_t c0 = 0; c0 < j->cdim; c0 += span) {
      const size_t nr = j->cdim - c0 < span ? j->cdim - c0 : span;
      j->uk(j->rdim, nr, w->nrun, w->rn, w->ra, as, w->rb, c0, bs, WNR, tot + c0, j->cpad);
    }
    w->q = 0;
    w->nrun = 0;
    return;
  }
  const float *ap, *bp;
  const size_t rpad = w->nrbi * WMR;
  for (size_t rb = 0; rb < w->nrbi; rb++) {
    const size_t r0 = (w->rb0 + rb) * WMR, mr = j->rdim - r0 < WMR ? j->rdim - r0 : WMR;
    const size_t span = WNR * tconv_bwdw_blocks(mr);
    for (size_t c0 = 0; c0 < j->cpad; c0 += span) {
      const size_t nr = j->cpad - c0 < span ? j->cpad - c0 : span;
      ap = w->apack + rb * WMR;
      bp = w->bpack;
      j->uk(mr, nr, 1, &w->q, &ap, rpad, &bp, (c0 / WNR) * PIXEL_CHUNK * WNR, WNR,
            PIXEL_CHUNK * WNR, tot + rb * WMR * j->cpad + c0, j->cpad);
    }
  }
  w->q = 0;
}

/* Packs one pixel: a side [pixel][the item's rows, zero-padded to whole row blocks] (one
 * copy; the kernel steps over it with a stride), b side [column block][pixel][16]. */
static inline void pack_pixel(wctx *w, const float *ar, const float *br) {
  const weights_job *j = w->j;
  const size_t q = w->q, rpad = w->nrbi * WMR, r0 = w->rb0 * WMR;
  const size_t nrow = j->rdim - r0 < rpad ? j->rdim - r0 : rpad;
  float *adst = w->apack + q * rpad;
  memcpy(adst, ar + r0, nrow * sizeof(float));
  for (size_t m = nrow; m < rpad; m++) adst[m] = 0.0f;
  for (size_t cb = 0; cb < j->ncb; cb++) {
    const size_t c0 = cb * WNR;
    float *dst = w->bpack + (cb * PIXEL_CHUNK + q) * WNR;
    if (c0 + WNR <= j->cdim) {
      memcpy(dst, br + c0, WNR * sizeof(float));
    } else {
      for (size_t c = 0; c < WNR; c++) dst[c] = c0 + c < j->cdim ? br[c0 + c] : 0.0f;
    }
  }
  w->q = q + 1;
}

/* One input row (n, ih) for tap t, whose valid columns are [iw0, iw1): a run in place, or
 * its pixels packed. */
static void row_tap(wctx *w, size_t n, size_t ih, size_t t, size_t iw0, size_t iw1) {
  const weights_job *j = w->j;
  const tconv_geometry *g = j->g;
  const size_t th = t / g->kernel_w, tw = t % g->kernel_w;
  const size_t fh = ih * g->stride_h + th * g->dilation_h;
  if (fh < g->pad_top || fh - g->pad_top >= g->out_h || iw0 >= iw1) return;
  const size_t IC = g->in_c, OC = g->out_c, dzs = g->stride_w * OC;
  const size_t oh = fh - g->pad_top;
  const size_t ow = iw0 * g->stride_w + tw * g->dilation_w - g->pad_left;
  const float *xr = j->x + ((n * g->in_h + ih) * g->in_w + iw0) * IC + w->grp * j->icg;
  const float *dr = j->dz + ((n * g->out_h + oh) * g->out_w + ow) * OC + w->grp * j->ocg;
  const float *ar = j->swapped ? xr : dr, *br = j->swapped ? dr : xr;
  const size_t as = j->swapped ? IC : dzs, bs = j->swapped ? dzs : IC;
  if (w->tap != t) flush(w), w->tap = t;
  if (j->inplace) { /* runs of at most PIXEL_CHUNK pending pixels per fold */
    for (size_t p0 = iw0; p0 < iw1;) {
      size_t np = iw1 - p0, room = PIXEL_CHUNK - w->q;
      if (np > room) np = room;
      w->ra[w->nrun] = ar + (p0 - iw0) * as;
      w->rb[w->nrun] = br + (p0 - iw0) * bs;
      w->rn[w->nrun++] = np;
      w->q += np;
      p0 += np;
      if (w->q == PIXEL_CHUNK) flush(w);
    }
    return;
  }
  for (size_t iw = iw0; iw < iw1; iw++, ar += as, br += bs) {
    pack_pixel(w, ar, br);
    if (w->q == PIXEL_CHUNK) flush(w);
  }
}

static void weights_item(void *ctx, size_t item, size_t thread) {
  const weights_job *j = ctx;
  const tconv_geometry *g = j->g;
  size_t rest = item;
  const size_t sup = rest % j->nsuper;
  rest /= j->nsuper;
  const size_t ri = rest % j->row_items;
  rest /= j->row_items;
  const size_t tb = rest % j->ntb, grp = rest / j->ntb;
  const size_t t0 = tb * j->tap_block, t1 = t0 + j->tap_block < j->taps ? t0 + j->tap_block : j->taps;
  wctx w;
  w.j = j;
  w.grp = grp;
  w.rb0 = ri * j->rb_per_item;
  w.nrbi = (w.rb0 + j->rb_per_item < j->nrb ? w.rb0 + j->rb_per_item : j->nrb) - w.rb0;
  w.q = 0;
  w.nrun = 0;
  w.tap = t0;
  w.tap0 = t0;
  w.total = (double *)(j->scratch + thread * j->scratch_stride);
  const size_t tot_n = (t1 - t0) * w.nrbi * WMR * j->cpad;
  w.apack = (float *)(w.total + tot_n);
  w.bpack = w.apack + w.nrbi * PIXEL_CHUNK * WMR;
  memset(w.total, 0, tot_n * sizeof(double));
  const size_t c0 = sup * j->chunks_per_super;
  const size_t c1 = c0 + j->chunks_per_super < j->nchunks ? c0 + j->chunks_per_super : j->nchunks;
  const size_t rows = g->batch * g->in_h;
  for (size_t ch = c0; ch < c1; ch++) {
    const size_t R0 = ch * j->chunk_rows, R1 = R0 + j->chunk_rows < rows ? R0 + j->chunk_rows : rows;
    for (size_t t = t0; t < t1; t++) {
      size_t iw0, iw1;
      valid_range(g->in_w, g->stride_w, (t % g->kernel_w) * g->dilation_w, g->pad_left,
                  g->out_w, &iw0, &iw1);
      for (size_t R = R0; R < R1; R++) row_tap(&w, R / g->in_h, R % g->in_h, t, iw0, iw1);
    }
  }
  flush(&w);
  const size_t IC = g->in_c;
  for (size_t t = t0; t < t1; t++)
    for (size_t rb = 0; rb < w.nrbi; rb++)
      for (size_t m = 0; m < WMR; m++) {
        const size_t r = (w.rb0 + rb) * WMR + m;
        if (r >= j->rdim) break;
        const double *src = w.total + ((t - t0) * w.nrbi * WMR + rb * WMR + m) * j->cpad;
        if (j->nsuper > 1) { /* partials: [super][group][tap][r][c] */
          double *dst = j->partial +
                        (((sup * g->groups + grp) * j->taps + t) * j->nrb * WMR + r) * j->cpad;
          memcpy(dst, src, j->cdim * sizeof(double));
          continue;
        }
        /* dk[t][filter][channel]: a row of channels, or (swapped) a column of filters */
        float *dst = j->dk + t * j->ocg * IC + grp * j->icg;
        if (j->swapped) {
          for (size_t c = 0; c < j->cdim; c++) dst[c * IC + r] = (float)src[c];
        } else {
          dst += r * IC;
          for (size_t c = 0; c < j->cdim; c++) dst[c] = (float)src[c];
        }
      }
}

/* Adds the super-chunks' partials in super-chunk order: one item per (group, tap). */
static void weights_sum_item(void *ctx, size_t item, size_t thread) {
  (void)thread;
  const weights_job *j = ctx;
  const tconv_geometry *g = j->g;
  const size_t grp = item / j->taps, t = item % j->taps;
  const size_t stride = g->groups * j->taps * j->nrb * WMR * j->cpad;
  for (size_t r = 0; r < j->rdim; r++)
    for (size_t c = 0; c < j->cdim; c++) {
      const double *p = j->partial + ((grp * j->taps + t) * j->nrb * WMR + r) * j->cpad + c;
      double s = 0.0;
      for (size_t k = 0; k < j->nsuper; k++) s += p[k * stride];
      const size_t jf = j->swapped ? c : r, ic = j->swapped ? r : c;
      j->dk[(t * j->ocg + jf) * g->in_c + grp * j->icg + ic] = (float)s;
    }
}

enum { TARGET_ITEMS = 16 };
#define TOTALS_L2 ((size_t)512 << 10) /* all taps' totals this small: chunks outside taps */

static tconv_status backward_weights(const tconv_geometry *g, const float *x, const float *dz,
                                     float *dk, tconv_threadpool *pool, tconv_path path) {
  weights_job j;
  memset(&j, 0, sizeof j);
  j.g = g;
  j.x = x;
  j.dz = dz;
  j.dk = dk;
  j.icg = g->in_c / g->groups;
  j.ocg = g->out_c / g->groups;
  j.taps = g->kernel_h * g->kernel_w;
  j.swapped = j.icg < j.ocg; /* vectorise the side with more channels */
  j.rdim = j.swapped ? j.icg : j.ocg;
  j.cdim = j.swapped ? j.ocg : j.icg;
  j.nrb = (j.rdim + WMR - 1) / WMR;
  j.ncb = (j.cdim + WNR - 1) / WNR;
  j.cpad = j.ncb * WNR;
  j.inplace = j.nrb == 1;
  j.uk = tconv_f32_bwdw_ukernel_6x16__scalar;
#if defined(__x86_64__)
  if (path == TCONV_PATH_AVX2) j.uk = tconv_f32_bwdw_ukernel_6x16__avx2_fma;
#else
  (void)path;
#endif
  const size_t threads = tconv_pool_threads(pool), rows = g->batch * g->in_h;
  j.chunk_rows = g->in_w >= PIXEL_CHUNK ? 1 : PIXEL_CHUNK / g->in_w;
  j.nchunks = (rows + j.chunk_rows - 1) / j.chunk_rows;
  /* geometry-only decomposition of the reduction (fixes every element's summation order) */
  const size_t tap_tot = j.nrb * WMR * j.cpad * sizeof(double);
  if (g->groups * j.taps * tap_tot <= TOTALS_L2) {
    j.nsuper = j.nchunks < TARGET_ITEMS ? j.nchunks : TARGET_ITEMS;
    j.ntb = (TARGET_ITEMS + j.nsuper - 1) / j.nsuper;
    if (j.ntb > j.taps) j.ntb = j.taps;
  } else {
    j.nsuper = 1;
    j.ntb = j.taps;
  }
  if (j.nsuper == 0) j.nsuper = 1;
  j.chunks_per_super = (j.nchunks + j.nsuper - 1) / j.nsuper;
  j.nsuper = j.chunks_per_super ? (j.nchunks + j.chunks_per_super - 1) / j.chunks_per_super : 1;
  j.tap_block = (j.taps + j.ntb - 1) / j.ntb;
  j.ntb = (j.taps + j.tap_block - 1) / j.tap_block;
  /* row blocks per item: rows never share arithmetic, so this may follow the thread count */
  const size_t panels = PIXEL_CHUNK * WMR * sizeof(float);
  const size_t per_rb = j.tap_block * WMR * j.cpad * sizeof(double) + (j.inplace ? 0 : panels);
  const size_t fixed = j.inplace ? 0 : j.ncb * PIXEL_CHUNK * WNR * sizeof(float);
  const size_t outer = g->groups * j.ntb * j.nsuper;
  size_t rb = j.nrb;
  while (rb > 1 && (rb * per_rb > ((size_t)2 << 20) || outer * ((j.nrb + rb - 1) / rb) < 4 * threads))
    rb = (rb + 1) / 2;
  j.rb_per_item = rb;
  j.row_items = (j.nrb + rb - 1) / rb;
  j.scratch_stride = (rb * per_rb + fixed + 63) & ~(size_t)63;
  size_t bytes, pbytes = 0;
  RETURN_IF(tconv_mul_overflow(j.scratch_stride, threads, &bytes), TCONV_LIMIT_EXCEEDED,
            "backward: weight-gradient scratch overflows size_t");
  if (j.nsuper > 1) {
    size_t dims[5] = {j.nsuper, g->groups, j.taps, j.nrb * WMR * j.cpad, sizeof(double)};
    RETURN_IF(tconv_product_overflow(dims, 5, &pbytes), TCONV_LIMIT_EXCEEDED,
              "backward: weight-gradient partials overflow size_t");
  }
  j.scratch = tconv_alloc(bytes ? bytes : 1);
  j.partial = pbytes ? tconv_alloc(pbytes) : NULL;
  if (j.scratch == NULL || (pbytes && j.partial == NULL)) {
    tconv_dealloc(j.scratch);
    tconv_dealloc(j.partial);
    return tconv_error(TCONV_OUT_OF_MEMORY,
                       "backward: cannot allocate %zu + %zu bytes of weight-gradient scratch",
                       bytes, pbytes);
  }
  tconv_parallel_for(pool, outer * j.row_items, weights_item, &j);
  if (j.nsuper > 1) tconv_parallel_for(pool, g->groups * j.taps, weights_sum_item, &j);
  tconv_dealloc(j.scratch);
  tconv_dealloc(j.partial);
  return TCONV_OK;
}

/* ---- bias ----------------------------------------------------------------------------------- */

typedef struct bias_job {
  const float *dz; /* NHWC */
  float *db;
  size_t pixels, OC;
} bias_job;

enum { BIAS_BLOCK = 64 };

static void bias_item(void *ctx, size_t item, size_t thread) {
  (void)thread;
  const bias_job *b = ctx;
  const size_t c0 = item * BIAS_BLOCK, c1 = c0 + BIAS_BLOCK < b->OC ? c0 + BIAS_BLOCK : b->OC;
  double acc[BIAS_BLOCK] = {0};
  for (size_t p = 0; p < b->pixels; p++) {
    const float *row = b->dz + p * b->OC;
    for (size_t c = c0; c < c1; c++) acc[c - c0] += row[c];
  }
  for (size_t c = c0; c < c1; c++) b->db[c] = (float)acc[c - c0];
}

/* ---- entry ---------------------------------------------------------------------------------- */

tconv_status tconv_backward_run(const tconv_geometry *g, const float *x, const float *kernel,
                                const float *dz, float *dx, float *dkernel, float *dbias,
                                tconv_threadpool *pool, tconv_path path) {
  if (path == TCONV_PATH_REFERENCE) {
    if (dx) tconv_ref_backward_data(g, kernel, dz, dx);
    if (dkernel) tconv_ref_backward_weights(g, x, dz, dkernel);
    if (dbias) tconv_ref_backward_bias(g, dz, dbias);
    return TCONV_OK;
  }
  const size_t xn = g->batch * g->in_h * g->in_w * g->in_c;
  const size_t yn = g->batch * g->out_h * g->out_w * g->out_c;
  const bool nchw = g->data_format == TCONV_CHANNELS_FIRST;
  if (xn == 0) {
    /* An empty input (zero width, say, with a bias-only output): dx is empty and the kernel
     * gets no gradient; the fast paths below size their work by input rows and pixels, so they
     * never see this case.  The bias still collects every output's gradient. */
    if (dkernel)
      memset(dkernel, 0,
             g->kernel_h * g->kernel_w * (g->out_c / g->groups) * g->in_c * sizeof(float));
    dx = NULL;
    dkernel = NULL;
  }
  float *dzt = NULL, *xt = NULL, *dxt = NULL;
  tconv_status st = TCONV_OK;
  if (nchw) { /* NHWC workspaces */
    dzt = tconv_alloc((yn ? yn : 1) * sizeof(float));
    xt = dkernel ? tconv_alloc((xn ? xn : 1) * sizeof(float)) : NULL;
    dxt = dx ? tconv_alloc((xn ? xn : 1) * sizeof(float)) : NULL;
    if (dzt == NULL || (dkernel && xt == NULL) || (dx && dxt == NULL)) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "backward: cannot allocate the NCHW workspaces");
      goto done;
    }
    tconv_layout_convert(dz, dzt, g->batch, g->out_c, g->out_h * g->out_w, true, pool);
    if (xt) tconv_layout_convert(x, xt, g->batch, g->in_c, g->in_h * g->in_w, true, pool);
  }
  const float *dzn = nchw ? dzt : dz, *xn_ = nchw ? xt : x;
  if (dx) {
    st = backward_data(g, kernel, dzn, nchw ? dxt : dx, pool, path);
    if (st != TCONV_OK) goto done;
    if (nchw) tconv_layout_convert(dxt, dx, g->batch, g->in_c, g->in_h * g->in_w, false, pool);
  }
  if (dkernel) {
    st = backward_weights(g, xn_, dzn, dkernel, pool, path);
    if (st != TCONV_OK) goto done;
  }
  if (dbias) {
    bias_job b = {dzn, dbias, g->batch * g->out_h * g->out_w, g->out_c};
    tconv_parallel_for(pool, (g->out_c + BIAS_BLOCK - 1) / BIAS_BLOCK, bias_item, &b);
  }
done:
  tconv_dealloc(dzt);
  tconv_dealloc(xt);
  tconv_dealloc(dxt);
  return st;
}
