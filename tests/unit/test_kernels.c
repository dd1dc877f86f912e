/* Fast forward paths (scalar and AVX2 GEMM, small-channel paths) against the reference gather
 * kernel on swept shapes: every tile edge (m = 1..6, n = 1..33), prime channel counts and sizes,
 * strides 1-4, kernels smaller than the stride and larger than the input, dilation, groups, crops
 * and adjust, NCHW, batch > 1, fused activations; and bitwise equality across thread counts. */
#include <stdlib.h>

#include "kernels/ref/ref.h"
#include "plan/dispatch.h"
#include "plan/plan.h"
#include "plan/plan_internal.h" /* which route a plan took */
#include "test.h"

typedef struct kcase {
  size_t n, ih, iw, ic, oc, kh, kw, sh, sw, dh, dw, groups;
  size_t pt, pb, pl, pr, ah, aw;
  tconv_data_format fmt;
  tconv_activation_kind act;
} kcase;

/* Fills the core geometry; returns 0 when the crops leave no valid output. */
static int kcase_geometry(const kcase *c, tconv_geometry *g) {
  memset(g, 0, sizeof *g);
  g->batch = c->n;
  g->in_h = c->ih;
  g->in_w = c->iw;
  g->in_c = c->ic;
  g->out_c = c->oc;
  g->kernel_h = c->kh;
  g->kernel_w = c->kw;
  g->stride_h = c->sh;
  g->stride_w = c->sw;
  g->dilation_h = c->dh;
  g->dilation_w = c->dw;
  g->pad_top = c->pt;
  g->pad_bottom = c->pb;
  g->pad_left = c->pl;
  g->pad_right = c->pr;
  g->adjust_h = c->ah;
  g->adjust_w = c->aw;
  g->groups = c->groups;
  g->data_format = c->fmt;
  size_t fh = (c->ih - 1) * c->sh + c->dh * (c->kh - 1) + 1;
  size_t fw = (c->iw - 1) * c->sw + c->dw * (c->kw - 1) + 1;
  if (c->ih == 0 || c->iw == 0 || c->pt + c->pb > fh || c->pl + c->pr > fw) return 0;
  g->out_h = fh - c->pt - c->pb + c->ah;
  g->out_w = fw - c->pl - c->pr + c->aw;
  return g->out_h > 0 && g->out_w > 0;
}

static void fill(float *v, size_t n, unsigned long long *rng) {
  for (size_t i = 0; i < n; i++) v[i] = test_rand_float(rng);
}

static int cases_run, cases_failed;

/* Runs one case on every dispatchable path and thread count; returns the number of failures. */
static void kcase_check(const kcase *c, unsigned long long seed, tconv_threadpool **pools,
                        size_t npools) {
  tconv_geometry g;
  if (!kcase_geometry(c, &g)) return;
  cases_run++;
  unsigned long long rng = seed;
  const size_t xn = g.batch * g.in_h * g.in_w * g.in_c;
  const size_t yn = g.batch * g.out_h * g.out_w * g.out_c;
  const size_t kn = g.kernel_h * g.kernel_w * (g.out_c / g.groups) * g.in_c;
  float *x = malloc((xn + 1) * sizeof(float)), *k = malloc((kn + 1) * sizeof(float));
  float *b = malloc(g.out_c * sizeof(float));
  float *ax = malloc((xn + 1) * sizeof(float)), *ak = malloc((kn + 1) * sizeof(float));
  float *ab = malloc(g.out_c * sizeof(float));
  float *ref = malloc(yn * sizeof(float)), *mag = malloc(yn * sizeof(float));
  /* the output starts on a cache line, as tconv_tensor_alloc's do (large ones stream) */
  float *y = aligned_alloc(64, (yn * sizeof(float) + 63) & ~(size_t)63);
  float *y0 = malloc(yn * sizeof(float));
  float *yavx2 = malloc(yn * sizeof(float)); /* the avx2 path's result, for the avx512 path */
  int have_avx2 = 0;
  fill(x, xn, &rng);
  fill(k, kn, &rng);
  fill(b, g.out_c, &rng);
  for (size_t i = 0; i < xn; i++) ax[i] = fabsf(x[i]);
  for (size_t i = 0; i < kn; i++) ak[i] = fabsf(k[i]);
  for (size_t i = 0; i < g.out_c; i++) ab[i] = fabsf(b[i]);
  tconv_activation act = {c->act, 0.2f, NULL, NULL, NULL};
  tconv_ref_forward_gather(&g, x, k, b, ref);
  tconv_activation_apply(&act, ref, yn);
  tconv_ref_forward_gather(&g, ax, ak, ab, mag); /* sum |x||w| + |b| per output */

  tconv_plan *plan = NULL;
  CHECK_OK(tconv_plan_create(&g, k, &plan));
  const char *paths[] = {"scalar", "avx2", "avx512", "auto"};
  int bad = 0;
  for (size_t pi = 0; pi < 4 && plan; pi++) {
    if (tconv_set_kernel_path(paths[pi]) != TCONV_OK) continue; /* ISA missing */
    for (size_t t = 0; t < npools; t++) {
      for (size_t i = 0; i < yn; i++) y[i] = NAN; /* every output must be written */
      CHECK_OK(tconv_plan_run(plan, x, b, &act, y, pools[t]));
      if (t == 0) {
        for (size_t i = 0; i < yn; i++) {
          double tol = 1e-5 * mag[i];
          if (!(fabs((double)y[i] - ref[i]) <= tol)) {
            if (bad++ < 3)
              fprintf(stderr,
                      "  path %s: y[%zu] = %.9g, ref %.9g (n%zu %zux%zux%zu->%zu k%zux%zu s%zu,%zu "
                      "d%zu,%zu g%zu pad %zu,%zu,%zu,%zu adj %zu,%zu fmt %d act %d)\n",
                      paths[pi], i, y[i], ref[i], c->n, c->ih, c->iw, c->ic, c->oc, c->kh, c->kw,
                      c->sh, c->sw, c->dh, c->dw, c->groups, c->pt, c->pb, c->pl, c->pr, c->ah,
                      c->aw, (int)c->fmt, (int)c->act);
          }
        }
        memcpy(y0, y, yn * sizeof(float));
        /* the AVX-512 GEMM kernel keeps the 6x16 kernels' summation order: bitwise equal */
        if (pi == 1) memcpy(yavx2, y, yn * sizeof(float)), have_avx2 = 1;
        if (pi == 2 && have_avx2 && memcmp(yavx2, y, yn * sizeof(float)) != 0 && bad++ < 3)
          fprintf(stderr, "  path avx512 differs from path avx2\n");
      } else if (memcmp(y0, y, yn * sizeof(float)) != 0) {
        if (bad++ < 3)
          fprintf(stderr, "  path %s: %zu threads differ from 1 thread\n", paths[pi],
                  tconv_threadpool_size(pools[t]));
      }
    }
  }
  CHECK_OK(tconv_set_kernel_path("auto"));
  CHECK(bad == 0);
  if (bad) cases_failed++;
  tconv_plan_destroy(plan);
  free(x), free(k), free(b), free(ax), free(ak), free(ab), free(ref), free(mag), free(y), free(y0);
  free(yavx2);
}

static kcase kcase_base(void) {
  kcase c;
  memset(&c, 0, sizeof c);
  c.n = c.ih = c.iw = c.ic = c.oc = c.kh = c.kw = c.sh = c.sw = c.dh = c.dw = c.groups = 1;
  return c;
}

static size_t make_pools(tconv_threadpool **pools) {
  size_t n = 0;
  pools[n++] = NULL; /* the caller's thread */
  for (size_t t = 2; t <= 3; t++)
    if (tconv_threadpool_create(t, &pools[n]) == TCONV_OK) n++;
  return n;
}

static void free_pools(tconv_threadpool **pools, size_t n) {
  for (size_t i = 0; i < n; i++) tconv_threadpool_destroy(pools[i]);
}

/* The activation column of the case tables below: linear, relu, relu6 (clamped in the kernels),
 * sigmoid (applied after them). */
static const tconv_activation_kind CASE_ACTS[] = {TCONV_ACT_LINEAR, TCONV_ACT_RELU,
                                                  TCONV_ACT_RELU6, TCONV_ACT_SIGMOID};

/* The plan of a case, made with an all-zero kernel, to check the route it takes (NULL when the
 * case has no valid output or the plan fails; the CHECKs report it). */
static tconv_plan *kcase_route_plan(const kcase *c) {
  tconv_geometry g;
  CHECK(kcase_geometry(c, &g));
  if (g.out_h == 0 || g.out_w == 0) return NULL;
  float *k = calloc(g.kernel_h * g.kernel_w * g.in_c * (g.out_c / g.groups), sizeof(float));
  tconv_plan *plan = NULL;
  CHECK_OK(tconv_plan_create(&g, k, &plan)); /* the plan copies the kernel */
  free(k);
  return plan;
}

/* Checks that a case splits the GEMM path's K as its table says: channels (more channels per
 * group than one call takes) and/or taps (a phase with more taps than one call takes). */
static void check_k_split(const kcase *c, int channels, int taps) {
  tconv_plan *plan = kcase_route_plan(c);
  size_t ic_chunk = 0, tap_chunk = 0, taps_max = 0;
  if (plan) {
    tconv_plan_gemm_chunks(plan, &ic_chunk, &tap_chunk);
    for (size_t ph = 0; ph < plan->ax_h.nphase; ph++)
      for (size_t pw = 0; pw < plan->ax_w.nphase; pw++) {
        size_t t = (plan->ax_h.tstart[ph + 1] - plan->ax_h.tstart[ph]) *
                   (plan->ax_w.tstart[pw + 1] - plan->ax_w.tstart[pw]);
        if (t > taps_max) taps_max = t;
      }
    if (channels) CHECK_MSG(ic_chunk < plan->icg, "%zu channels fit one call", plan->icg);
    if (taps) CHECK_MSG(tap_chunk < taps_max, "%zu taps fit one call", taps_max);
  }
  tconv_plan_destroy(plan);
}

/* One case in NHWC, then the same in NCHW. */
static void kcase_check_both_layouts(kcase *c, unsigned long long seed, tconv_threadpool **pools,
                                     size_t npools) {
  for (int f = 0; f < 2; f++) {
    c->fmt = f ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
    kcase_check(c, seed, pools, npools);
  }
}

/* m = 1..6 rows (batch of 1x1 images) x n = 1..33 filters x prime channel counts. */
TEST(kernels_tile_edges) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  const size_t ics[] = {1, 3, 13};
  const int before = cases_run, failed_before = cases_failed;
  for (size_t m = 1; m <= 7; m++)
    for (size_t n = 1; n <= 33; n++) {
      kcase c = kcase_base();
      c.n = m;
      c.oc = n;
      c.ic = ics[(m + n) % 3];
      c.kh = c.kw = 2;
      c.sh = c.sw = 2; /* four phases with one tap each */
      kcase_check(&c, m * 100 + n, pools, np);
    }
  CHECK(cases_run - before == 7 * 33);
  CHECK(cases_failed == failed_before);
  free_pools(pools, np);
}

/* Wide tiles of the AVX-512 kernel (up to 4 panels per call): every panel count 1..4 with a
 * partial last panel, full 64, and 64 + a remainder (a 4-panel call, then a short one), relu
 * clamps, and channel chunks;
 * channels above 16 so the tile is the GEMM one (not the direct row paths). */
TEST(kernels_wide_tiles) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  const size_t ocs[] = {40, 47, 48, 49, 57, 63, 64, 65, 81, 130};
  const int before = cases_run, failed_before = cases_failed;
  for (size_t i = 0; i < sizeof ocs / sizeof ocs[0]; i++) {
    kcase c = kcase_base();
    c.n = 1 + i % 3;
    c.ih = 3, c.iw = 4;
    c.oc = ocs[i];
    c.ic = i == 9 ? 803 : 17 + 2 * i; /* 803: channel chunks (402 + 401) accumulate onto C */
    c.act = i % 2 ? TCONV_ACT_RELU : TCONV_ACT_LINEAR;
    c.kh = c.kw = 3;
    c.sh = c.sw = 2;
    c.pt = c.pl = 1;
    if (i == 9) check_k_split(&c, 1, 0);
    kcase_check(&c, 9000 + i, pools, np);
  }
  CHECK(cases_run - before == (int)(sizeof ocs / sizeof ocs[0]));
  CHECK(cases_failed == failed_before);
  free_pools(pools, np);
}

/* Random geometries over every axis parameter. */
TEST(kernels_random_geometries) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  unsigned long long rng = 12345;
  const size_t primes[] = {1, 2, 3, 5, 7, 11, 13, 17};
  int done = 0;
  for (int iter = 0; iter < 400 && done < 260; iter++) {
    kcase c = kcase_base();
    c.n = test_rand_range(&rng, 1, 3);
    c.ih = primes[test_rand_range(&rng, 0, 5)];
    c.iw = primes[test_rand_range(&rng, 0, 6)];
    c.groups = test_rand_range(&rng, 1, 3);
    c.ic = c.groups * primes[test_rand_range(&rng, 0, 5)];
    c.oc = c.groups * test_rand_range(&rng, 1, 19);
    c.kh = test_rand_range(&rng, 1, 6);
    c.kw = test_rand_range(&rng, 1, 6);
    c.sh = test_rand_range(&rng, 1, 4);
    c.sw = test_rand_range(&rng, 1, 4);
    c.dh = test_rand_range(&rng, 0, 3) == 0 ? test_rand_range(&rng, 2, 3) : 1;
    c.dw = test_rand_range(&rng, 0, 3) == 0 ? test_rand_range(&rng, 2, 3) : 1;
    size_t fh = (c.ih - 1) * c.sh + c.dh * (c.kh - 1) + 1;
    size_t fw = (c.iw - 1) * c.sw + c.dw * (c.kw - 1) + 1;
    c.pt = test_rand_range(&rng, 0, fh / 2);
    c.pb = test_rand_range(&rng, 0, fh / 2);
    c.pl = test_rand_range(&rng, 0, fw / 2);
    c.pr = test_rand_range(&rng, 0, fw / 2);
    c.ah = test_rand_range(&rng, 0, c.sh - 1);
    c.aw = test_rand_range(&rng, 0, c.sw - 1);
    c.fmt = test_rand_range(&rng, 0, 3) == 0 ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
    const tconv_activation_kind acts[] = {TCONV_ACT_LINEAR, TCONV_ACT_LINEAR, TCONV_ACT_RELU,
                                          TCONV_ACT_RELU6, TCONV_ACT_SIGMOID, TCONV_ACT_LEAKY_RELU};
    c.act = acts[test_rand_range(&rng, 0, 5)];
    int before = cases_run;
    kcase_check(&c, rng, pools, np);
    done += cases_run - before;
  }
  CHECK(done >= 200);
  free_pools(pools, np);
}

/* The shapes of the benchmark suite and the seed, scaled down, plus the chunking limits: more
 * than 768 channels per group (channel chunks) and more than 64 taps (the dot kernel's tap
 * chunks). */
TEST(kernels_named_shapes) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw ic oc kh kw sh sw dh dw groups pt pb pl pr ah aw */
  const size_t s[][18] = {
      {1, 11, 9, 3, 3, 3, 3, 2, 2, 1, 1, 1, 0, 1, 0, 1, 0, 0},     /* a: 3->3 k3 s2 same */
      {1, 7, 7, 1, 32, 3, 3, 2, 2, 1, 1, 1, 0, 1, 0, 1, 0, 0},     /* b: 1->32 */
      {5, 7, 6, 1, 1, 3, 3, 2, 2, 1, 1, 1, 0, 1, 0, 1, 0, 0},      /* c: 1->1 */
      {7, 7, 7, 24, 20, 5, 5, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0},    /* d: k5 s1 same */
      {3, 5, 5, 40, 17, 5, 5, 2, 2, 1, 1, 1, 1, 2, 1, 2, 0, 0},    /* e/h: k5 s2 same */
      {4, 6, 6, 64, 1, 5, 5, 2, 2, 1, 1, 1, 1, 2, 1, 2, 0, 0},     /* f: 64->1 */
      {2, 3, 3, 800, 9, 5, 5, 2, 2, 1, 1, 1, 1, 2, 1, 2, 0, 0},    /* g: 4x4, many channels */
      {3, 8, 8, 37, 3, 5, 5, 2, 2, 1, 1, 1, 1, 2, 1, 2, 0, 0},     /* i: 128->3 */
      {1, 6, 5, 33, 35, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0},    /* j/k: k2 s2 valid */
      {1, 4, 3, 5, 7, 16, 16, 8, 8, 1, 1, 1, 4, 4, 4, 4, 0, 0},    /* l: k16 s8 */
      {1, 9, 7, 11, 1, 9, 9, 3, 3, 1, 1, 1, 3, 3, 3, 3, 0, 0},     /* m: k9 s3, 81 taps */
      {2, 9, 8, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},    /* n: 3x3 s1 same */
      {1, 3, 4, 2, 3, 9, 9, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0},      /* 81 taps, one phase */
      {2, 3, 3, 6, 6, 3, 3, 5, 5, 1, 1, 3, 0, 0, 0, 0, 4, 4},      /* kernel < stride, adjust */
      {1, 2, 2, 4, 4, 7, 7, 2, 3, 2, 3, 2, 3, 1, 2, 5, 1, 2},      /* kernel > input, dilation */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.ic = s[i][3], c.oc = s[i][4];
    c.kh = s[i][5], c.kw = s[i][6], c.sh = s[i][7], c.sw = s[i][8], c.dh = s[i][9];
    c.dw = s[i][10], c.groups = s[i][11], c.pt = s[i][12], c.pb = s[i][13], c.pl = s[i][14];
    c.pr = s[i][15], c.ah = s[i][16], c.aw = s[i][17];
    for (int f = 0; f < 2; f++) {
      c.fmt = f ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
      c.act = f ? TCONV_ACT_RELU : TCONV_ACT_LINEAR;
      kcase_check(&c, 777 + i, pools, np);
    }
  }
  free_pools(pools, np);
}

/* The direct row paths' own edges: rows wide enough for the vectorised phase interleave (8
 * phase pixels per transpose, K = stride x filters up to 8 and past it), widths that leave the
 * last phase short, widths under 8 (planar copy tails), several bands of output rows per image
 * (batch 1) and a single band (batch 5), groups, and 1..4 filters (pixel lanes) or 1..8
 * channels with more filters (channel lanes). */
TEST(kernels_direct_row_paths) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  const size_t widths[] = {3, 8, 9, 17, 26};
  unsigned long long rng = 4242;
  for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
    for (size_t s = 1; s <= 4; s++)
      for (size_t oc = 1; oc <= 5; oc++) {
        kcase c = kcase_base();
        c.iw = widths[wi];
        c.ih = 2 + (s + oc + wi) % 5;
        c.n = (oc & 1) ? 1 : 5;
        c.groups = oc == 2 && s == 2 ? 2 : 1;
        c.ic = c.groups * (oc == 5 ? 1 + s : (size_t)test_rand_range(&rng, 1, 13));
        c.oc = c.groups * (oc == 5 ? 9 : oc);
        c.sh = c.sw = s;
        c.kh = c.kw = s + 1 + wi % 3;
        c.pl = c.pt = (c.kw - 1) / 2;
        c.pr = c.pb = c.kw / 2;
        c.aw = wi % s;
        c.act = wi & 1 ? TCONV_ACT_RELU : TCONV_ACT_LINEAR;
        kcase_check(&c, rng + s, pools, np);
      }
  free_pools(pools, np);
}

/* Batch lanes: one channel and one filter with a batch that is a multiple of 8 (8 images per
 * vector).  Widths under 8 and over (scalar and 8x8 transposes), strides 1-3, kernels smaller
 * than the stride (rows and columns with no tap: bias only), crops, adjust, dilation, every
 * activation kind, NCHW. */
TEST(kernels_batch_lanes) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw kh kw sh sw dh dw pt pb pl pr ah aw act */
  const size_t s[][16] = {
      {16, 7, 9, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 0, 0, 0},  /* c: k3 s2 'same' */
      {8, 5, 4, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1},   /* k4 s2, width under 8 */
      {24, 6, 11, 5, 3, 3, 1, 1, 1, 2, 1, 0, 2, 1, 0, 2}, /* k5 s3 rows, stride-1 columns */
      {8, 4, 10, 2, 2, 3, 3, 1, 1, 0, 0, 0, 0, 2, 1, 3},  /* kernel < stride: empty phases */
      {8, 5, 12, 3, 3, 2, 2, 2, 2, 1, 2, 2, 1, 0, 1, 1},  /* dilation 2 */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.kh = s[i][3], c.kw = s[i][4];
    c.sh = s[i][5], c.sw = s[i][6], c.dh = s[i][7], c.dw = s[i][8], c.pt = s[i][9];
    c.pb = s[i][10], c.pl = s[i][11], c.pr = s[i][12], c.ah = s[i][13], c.aw = s[i][14];
    c.act = CASE_ACTS[s[i][15]];
    kcase_check_both_layouts(&c, 7100 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Pixel lanes with one filter run several output rows of a phase per call (two with AVX2, four
 * with AVX-512 where three or more row taps are shared and the phase rows hold 32 pixels or
 * more); a row's sums must not depend on the rows it runs with (bands differ with the thread
 * count) nor on the kernel (AVX2 and AVX-512 compared bitwise in kcase_check).  Rows of 32..40
 * pixels per phase (full and partial last blocks), 3..4 row taps, uneven taps per phase,
 * dilated rows (taps two input rows apart), groups, crops; batches of 12 keep whole images in
 * one band, so every group of four rows is whole. */
TEST(kernels_pixel_lanes_row_groups) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw ic groups kh sh dh pt pb act */
  const size_t s[][11] = {
      {12, 7, 40, 5, 1, 9, 3, 1, 3, 3, 0}, /* m-like: 3 row taps per phase */
      {2, 6, 37, 3, 1, 5, 2, 1, 1, 2, 1},  /* 3 and 2 row taps, partial last block, bands */
      {12, 9, 33, 4, 1, 7, 2, 1, 0, 0, 0}, /* 4 and 3 row taps, 'valid' */
      {1, 8, 34, 2, 1, 6, 2, 2, 2, 3, 2},  /* dilated rows */
      {12, 5, 32, 6, 2, 9, 3, 1, 4, 4, 3}, /* two groups of one filter */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.ic = s[i][3], c.groups = s[i][4];
    c.oc = c.groups;
    c.kh = s[i][5], c.sh = s[i][6], c.dh = s[i][7], c.pt = s[i][8], c.pb = s[i][9];
    c.act = CASE_ACTS[s[i][10]];
    c.kw = 3, c.sw = 1, c.pl = c.pr = 1; /* phase rows as wide as the input */
    kcase_check(&c, 6100 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Channel dot (1..4 filters per group, 16+ channels in whole vectors, at most 4 column taps per
 * phase one input pixel apart): phase rows of 1..40 pixels (blocks of 8 or 16 outputs with one
 * filter, 3..12 with more, and their short last blocks; rows whose every block meets an edge),
 * edge pixels whose column taps stick out on either side (and inputs narrower than the kernel,
 * where every block is masked), phases and rows with no tap (kernel under the stride: bias
 * only), 1..4 column taps, dilated rows, adjust, crops, groups, 'valid' and 'same', every
 * activation, NCHW; batches and bands so that the next item's rows are prefetched across
 * images and within one.  Each case first checks the route; kcase_check compares the AVX2 and
 * AVX-512VL builds bitwise. */
TEST(kernels_channel_dot) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw ic groups ocg kh kw sh sw dh pt pb pl pr ah aw act */
  const size_t s[][18] = {
      {4, 6, 6, 64, 1, 1, 5, 5, 2, 2, 1, 1, 2, 1, 2, 0, 0, 0},   /* f: 64->1 k5 s2 'same' */
      {1, 9, 40, 56, 1, 1, 9, 9, 3, 3, 1, 3, 3, 3, 3, 0, 0, 1},  /* m: k9 s3, 40-pixel rows */
      {3, 5, 7, 16, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2},   /* k3 s1 'same', 16 channels */
      {2, 4, 17, 24, 1, 1, 4, 4, 1, 1, 2, 0, 0, 0, 0, 0, 0, 3},  /* 4 column taps, 'valid' */
      {1, 3, 1, 32, 1, 1, 5, 5, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0},   /* one input column: all masked */
      {2, 2, 2, 16, 1, 1, 8, 8, 2, 2, 1, 3, 3, 3, 3, 1, 1, 1},   /* input narrower than the taps */
      {3, 5, 9, 40, 1, 1, 1, 1, 2, 3, 1, 0, 0, 0, 0, 1, 2, 0},   /* k1 s2,3: empty phases, adjust */
      {2, 4, 23, 32, 2, 1, 2, 4, 3, 2, 2, 1, 0, 2, 1, 0, 1, 2},  /* groups, dilated rows, crops */
      {9, 3, 15, 48, 1, 1, 3, 2, 1, 2, 1, 0, 1, 0, 0, 0, 0, 3},  /* 15-pixel rows, batch 9 */
      {2, 5, 29, 32, 1, 3, 5, 5, 2, 2, 1, 1, 2, 1, 2, 0, 0, 0},  /* i: 3 filters, k5 s2 'same' */
      {1, 4, 27, 16, 1, 2, 4, 4, 1, 1, 1, 1, 2, 2, 1, 0, 0, 1},  /* 2 filters, 4 taps, 27 pixels */
      {3, 3, 7, 24, 1, 4, 3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 1, 3},   /* 4 filters, adjust */
      {2, 3, 2, 32, 2, 2, 8, 8, 2, 2, 2, 3, 3, 3, 3, 0, 1, 2},   /* groups of 2, narrow input */
      {1, 2, 13, 40, 1, 3, 2, 2, 3, 3, 1, 0, 0, 1, 0, 2, 0, 1},  /* kernel under the stride */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.ic = s[i][3], c.groups = s[i][4];
    c.oc = c.groups * s[i][5], c.kh = s[i][6], c.kw = s[i][7], c.sh = s[i][8], c.sw = s[i][9];
    c.dh = s[i][10], c.pt = s[i][11], c.pb = s[i][12], c.pl = s[i][13], c.pr = s[i][14];
    c.ah = s[i][15], c.aw = s[i][16], c.act = CASE_ACTS[s[i][17]];
    tconv_plan *plan = kcase_route_plan(&c);
    CHECK_MSG(plan && plan->direct == TCONV_DIRECT_CDOT, "case %zu: not the channel-dot route", i);
    tconv_plan_destroy(plan);
    kcase_check_both_layouts(&c, 8200 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Column phases merged into the filters (colmerge: kernel width a multiple of the stride, 5..63
 * filters): lane counts s x filters across panel edges, windows cut by the left and right crops
 * (computed in scratch rows, with every activation kind and across channel and tap chunks that
 * accumulate), 'valid' rows without edge windows, adjust, row strides and dilations, NCHW.
 * Each case first checks that the plan took the merged route. */
TEST(kernels_column_phases_merged) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih ic oc kh sh dh sw T pl pr aw act */
  const size_t s[][13] = {
      {1, 3, 11, 21, 16, 8, 1, 8, 2, 4, 4, 0, 0},  /* l: k16 s8 'same' */
      {2, 2, 13, 5, 4, 2, 1, 2, 2, 1, 1, 0, 1},    /* k4 s2 'same', 10 lanes */
      {1, 3, 17, 7, 2, 2, 1, 2, 1, 0, 0, 0, 2},    /* k2 s2 'valid': no edge windows */
      {3, 2, 11, 9, 3, 1, 2, 3, 2, 2, 3, 1, 3},    /* both edges cut, adjust, dilated rows */
      {1, 2, 800, 33, 4, 3, 1, 4, 1, 3, 2, 0, 1},  /* channel chunks accumulate in scratch */
      {1, 3, 37, 47, 5, 1, 1, 2, 5, 1, 6, 0, 3},   /* 25 taps: tap chunks */
      {2, 1, 12, 63, 1, 1, 1, 5, 1, 7, 1, 2, 0},   /* 315 lanes, crop past a whole window */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.ic = s[i][2], c.oc = s[i][3], c.kh = s[i][4];
    c.sh = s[i][5], c.dh = s[i][6], c.sw = s[i][7], c.kw = s[i][7] * s[i][8];
    c.pl = s[i][9], c.pr = s[i][10], c.aw = s[i][11], c.act = CASE_ACTS[s[i][12]];
    c.pt = c.kh / 2;
    c.iw = 42; /* wide enough that the edge windows add under 5% */
    tconv_plan *plan = kcase_route_plan(&c);
    CHECK_MSG(plan && plan->colmerge, "case %zu: not the merged route", i);
    tconv_plan_destroy(plan);
    if (i == 4 || i == 5) check_k_split(&c, i == 4, i == 5);
    kcase_check_both_layouts(&c, 5150 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Position-major GEMM rows (batch >= 6, channels x filters >= 4096): rows sweep the positions
 * of six images at a time, so tiles and blocks start inside an image group, the last group can
 * be short (batch 7, 13, 17) and its tiles then mix positions; stride 1 and 2 (phases with
 * their own row counts), 'same' borders where the six images share their valid taps, channel
 * chunks (803 channels), groups.  Each case first checks the route. */
TEST(kernels_position_major_rows) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw ic oc k s groups */
  const size_t s[][8] = {
      {6, 3, 4, 67, 65, 3, 1, 1},   /* one whole group */
      {7, 3, 4, 67, 65, 3, 1, 1},   /* a group of 1 after it */
      {13, 4, 3, 64, 64, 5, 2, 1},  /* 2 groups + 1, four phases */
      {17, 2, 5, 803, 17, 3, 2, 1}, /* channel chunks, group of 5 */
      {12, 5, 5, 128, 128, 5, 1, 2}, /* groups of the layer: 64 x 64 per group */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.ic = s[i][3], c.oc = s[i][4];
    c.kh = c.kw = s[i][5], c.sh = c.sw = s[i][6], c.groups = s[i][7];
    const size_t full = (c.ih - 1) * c.sh + c.kh, crop = full - c.ih * c.sh; /* 'same' */
    c.pt = c.pl = crop / 2, c.pb = c.pr = crop - crop / 2;
    c.act = CASE_ACTS[i % 4];
    tconv_plan *plan = kcase_route_plan(&c);
    CHECK_MSG(plan && plan->pos_major && plan->direct == TCONV_DIRECT_NONE,
              "case %zu: not position-major GEMM rows", i);
    tconv_plan_destroy(plan);
    if (i == 3) check_k_split(&c, 1, 0);
    kcase_check_both_layouts(&c, 6160 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Winograd F(m, r), alpha 6, per stride phase (AVX2 and AVX-512 routes): stride 1 with kernel
 * sides 2-5 (m = 5..2 outputs per tile and axis), square and not, 'same' and 'valid' crops and
 * crops past the kernel, outputs that the tiles overhang, batches whose blocks of tiles cross
 * images, 264 channels, 80 filters (64 + 16 per GEMM call); strides 2 and 3 whose phases have
 * 2-5 taps (k4, k5, k6, k10 s2; k9 s3), phases with different tile counts (run phase by phase),
 * a stride per axis; large transformed weights run staged (channel chunks, several row
 * blocks per point); fused and after-store activations.  Each case checks the route first
 * (where the CPU has AVX2). */
TEST(kernels_winograd) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* n ih iw ic oc kh kw sh sw pt pb pl pr act */
  const size_t s[][14] = {
      {1, 14, 14, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 0},  /* 3x3 'same', 14 = 3 tiles of 4 + 2 */
      {2, 9, 11, 32, 48, 3, 3, 1, 1, 0, 0, 0, 0, 1},   /* 'valid': 11 x 13 outputs */
      {1, 20, 17, 40, 32, 5, 5, 1, 1, 2, 2, 2, 2, 2},  /* F(2, 5) */
      {3, 12, 12, 40, 32, 2, 2, 1, 1, 0, 0, 0, 0, 3},  /* F(5, 2), 3 images */
      {1, 13, 19, 48, 80, 3, 4, 1, 1, 1, 1, 2, 1, 0},  /* F(4, 3) x F(3, 4); 80 filters */
      {2, 10, 7, 264, 32, 4, 4, 1, 1, 3, 0, 0, 3, 1},  /* crops up to the kernel's reach */
      {5, 9, 9, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 2},    /* blocks of 6 tiles cross images of 9 */
      {3, 7, 7, 64, 64, 5, 5, 2, 2, 1, 2, 1, 2, 0},    /* k5 s2 'same': phases of 3 and 2 taps */
      {2, 8, 9, 32, 48, 4, 4, 2, 2, 1, 1, 1, 1, 1},    /* k4 s2 'same': F(5, 2) per phase */
      {2, 12, 11, 40, 32, 5, 5, 2, 2, 0, 0, 0, 0, 3},  /* 'valid' 27 x 25: phases tile unlike */
      {1, 16, 16, 32, 32, 6, 10, 2, 2, 2, 2, 4, 4, 2}, /* k6 x k10 s2: 3 and 5 taps */
      {2, 8, 8, 48, 32, 9, 9, 3, 3, 3, 3, 3, 3, 0},    /* k9 s3: three phases of 3 taps */
      {1, 9, 12, 32, 32, 5, 3, 2, 1, 1, 2, 1, 1, 1},   /* stride 2 x 1 */
      /* staged (transformed weights over 8 MiB): phase by phase, each step over all tiles */
      {2, 4, 4, 128, 128, 5, 5, 2, 2, 1, 2, 1, 2, 1},  /* k5 s2 'same', 9.4 MiB */
      {3, 6, 5, 520, 32, 5, 5, 2, 2, 2, 2, 2, 2, 3},   /* 520 channels: 2 chunks per GEMM */
      {13, 6, 6, 96, 96, 9, 9, 3, 3, 3, 3, 3, 3, 2},   /* 52 tiles per phase: 2 row blocks;
                                                          then in 2 stages per phase */
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.n = s[i][0], c.ih = s[i][1], c.iw = s[i][2], c.ic = s[i][3], c.oc = s[i][4];
    c.kh = s[i][5], c.kw = s[i][6], c.sh = s[i][7], c.sw = s[i][8];
    c.pt = s[i][9], c.pb = s[i][10], c.pl = s[i][11], c.pr = s[i][12];
    c.act = CASE_ACTS[s[i][13]];
    tconv_plan *plan = kcase_route_plan(&c);
    CHECK_MSG(plan && (plan->wino != NULL) == tconv_cpu_has_avx2_fma(),
              "case %zu: not the Winograd route", i);
    CHECK_MSG(plan && tconv_wino_staged(plan->wino) == (plan->wino != NULL && i >= 13),
              "case %zu: not the expected schedule", i);
    tconv_plan_destroy(plan);
    kcase_check_both_layouts(&c, 7170 + i, pools, np);
    if (i == 15) { /* again in stages of 48 tiles: 48 + 4 per phase */
      const size_t saved = tconv_wino_stage_bytes;
      tconv_wino_stage_bytes = 1;
      kcase_check(&c, 7170 + i, pools, np);
      tconv_wino_stage_bytes = saved;
    }
  }
  free_pools(pools, np);
  /* TCONV_WINOGRAD=off keeps a layer that fits on the direct sums */
  kcase c = kcase_base();
  c.ih = c.iw = 14, c.ic = c.oc = 64, c.kh = c.kw = 3, c.pt = c.pb = c.pl = c.pr = 1;
  setenv("TCONV_WINOGRAD", "off", 1);
  tconv_plan *plan = kcase_route_plan(&c);
  unsetenv("TCONV_WINOGRAD");
  CHECK(plan != NULL && plan->wino == NULL);
  tconv_plan_destroy(plan);
}

/* Large outputs written by little work per float stream past the caches on the AVX-512 route
 * (non-temporal stores, whole lines only): k2 s2 'valid' (64 filters: column phases merged;
 * 80: per phase), k3 and k5 s2 'same' crops at 8-16 MiB of output, fused clamps, sigmoid after
 * the store (not streamed then), partial tiles, NCHW (through its workspace).  kcase_check
 * compares the streamed AVX-512 result with the AVX2 route's bitwise; the route itself is
 * checked first, and a misaligned output must not stream. */
TEST(kernels_streamed_output) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  /* ih ic oc k pad_top/left pad_bottom/right act colmerge */
  const size_t s[][8] = {{128, 12, 64, 2, 0, 0, 0, 1}, {96, 12, 80, 2, 0, 0, 3, 0},
                         {128, 16, 32, 3, 0, 1, 2, 0}, {112, 24, 48, 5, 1, 2, 1, 0}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    kcase c = kcase_base();
    c.ih = c.iw = s[i][0], c.ic = s[i][1], c.oc = s[i][2], c.kh = c.kw = s[i][3];
    c.sh = c.sw = 2, c.pt = c.pl = s[i][4], c.pb = c.pr = s[i][5], c.act = CASE_ACTS[s[i][6]];
    tconv_geometry g;
    CHECK(kcase_geometry(&c, &g));
    const size_t yn = g.batch * g.out_h * g.out_w * g.out_c;
    float *y = aligned_alloc(64, (yn * sizeof(float) + 63) & ~(size_t)63); /* never written */
    tconv_plan *plan = kcase_route_plan(&c);
    CHECK_MSG(plan && y && tconv_plan_streams(plan, y), "case %zu: not streamed", i);
    CHECK_MSG(plan && plan->colmerge == (s[i][7] != 0), "case %zu: colmerge %d", i,
              plan ? plan->colmerge : -1);
    CHECK_MSG(plan && y && !tconv_plan_streams(plan, y + 1), "case %zu: misaligned streamed", i);
    tconv_plan_destroy(plan);
    free(y);
    if (i == 0)
      kcase_check_both_layouts(&c, 6200 + i, pools, np);
    else
      kcase_check(&c, 6200 + i, pools, np);
  }
  free_pools(pools, np);
}

/* Memory stays proportional to the tensors (fuzz finding layer-4): the pixel-lanes path once
 * sized its planar input by the kernel's width (a kernel far wider than the input, its taps
 * mostly cropped away) and its row buffer by the stride (stride 2^31 - 1 on a 1-pixel row):
 * 8-64 GiB requests from a few KiB of tensors.  The largest single allocation of plan + run is
 * bounded here on every path. */
static size_t peak_block;
static void *peak_malloc(size_t n, void *ctx) {
  (void)ctx;
  if (n > peak_block) peak_block = n;
  return malloc(n);
}
static void peak_free(void *p, void *ctx) {
  (void)ctx;
  free(p);
}

TEST(kernels_memory_follows_the_tensors) {
  kcase cases[2] = {kcase_base(), kcase_base()};
  kcase *c = &cases[0];
  c->n = 64, c->ih = 32, c->iw = 4, c->ic = 4, c->oc = 1, c->kh = 1, c->kw = 5000;
  c->pl = 2499, c->pr = 2500; /* 'same'-like crop: out_w = in_w */
  c = &cases[1];
  c->n = 2, c->ih = 3, c->iw = 1, c->ic = 2, c->oc = 1, c->kh = 1, c->kw = 4;
  c->sw = 2147483647, c->dh = 2;
  for (size_t ci = 0; ci < 2; ci++) {
    tconv_geometry g;
    CHECK(kcase_geometry(&cases[ci], &g));
    const size_t xn = g.batch * g.in_h * g.in_w * g.in_c;
    const size_t yn = g.batch * g.out_h * g.out_w * g.out_c;
    const size_t kn = g.kernel_h * g.kernel_w * g.in_c * g.out_c;
    float *x = calloc(xn, sizeof(float)), *k = calloc(kn, sizeof(float));
    float *y = malloc(yn * sizeof(float));
    const size_t bound = 32 * (xn + yn + kn) * sizeof(float) + ((size_t)1 << 20);
    const char *paths[] = {"auto", "avx2", "scalar"};
    for (size_t pi = 0; pi < 3 && x && k && y; pi++) {
      if (tconv_set_kernel_path(paths[pi]) != TCONV_OK) continue;
      peak_block = 0;
      tconv_set_allocator(peak_malloc, peak_free, NULL);
      tconv_plan *plan = NULL;
      CHECK_OK(tconv_plan_create(&g, k, &plan));
      if (plan) CHECK_OK(tconv_plan_run(plan, x, NULL, NULL, y, NULL));
      tconv_plan_destroy(plan);
      tconv_set_allocator(NULL, NULL, NULL);
      CHECK_MSG(peak_block <= bound, "case %zu path %s: largest block %zu bytes, bound %zu", ci,
                paths[pi], peak_block, bound);
    }
    free(x), free(k), free(y);
  }
  CHECK_OK(tconv_set_kernel_path("auto"));
}

TEST(kernels_path_selection) {
  CHECK_STATUS(tconv_set_kernel_path("sse9"), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_set_kernel_path(NULL), TCONV_INVALID_ARGUMENT);
  CHECK_OK(tconv_set_kernel_path("scalar"));
  CHECK(strcmp(tconv_kernel_path(), "scalar") == 0);
  CHECK(tconv_dispatch_path() == TCONV_PATH_SCALAR);
  CHECK_STATUS(tconv_set_kernel_path("avx2"),
               tconv_cpu_has_avx2_fma() ? TCONV_OK : TCONV_UNSUPPORTED);
  CHECK_STATUS(tconv_set_kernel_path("avx512"),
               tconv_cpu_has_avx512() ? TCONV_OK : TCONV_UNSUPPORTED);
  if (tconv_cpu_has_avx512()) { /* runs as the AVX2 path plus the AVX-512 GEMM kernel */
    CHECK(tconv_dispatch_path() == TCONV_PATH_AVX2);
    CHECK(tconv_dispatch_avx512());
    CHECK_OK(tconv_set_kernel_path("avx2"));
    CHECK(!tconv_dispatch_avx512());
  }
  CHECK_OK(tconv_set_kernel_path("REFERENCE"));
  CHECK(tconv_dispatch_path() == TCONV_PATH_REFERENCE);
  CHECK_OK(tconv_set_kernel_path("auto"));
  CHECK(strcmp(tconv_kernel_path(), "auto") == 0);
  CHECK(tconv_dispatch_path() == (tconv_cpu_has_avx2_fma() ? TCONV_PATH_AVX2 : TCONV_PATH_SCALAR));
}

/* The reference path through a plan gives the oracle's values exactly. */
TEST(kernels_reference_path) {
  kcase c = kcase_base();
  c.n = 2, c.ih = 4, c.iw = 5, c.ic = 3, c.oc = 4, c.kh = 3, c.kw = 3, c.sh = 2, c.sw = 2;
  tconv_geometry g;
  CHECK(kcase_geometry(&c, &g));
  unsigned long long rng = 99;
  float x[2 * 4 * 5 * 3], k[3 * 3 * 4 * 3], b[4], y[2 * 9 * 11 * 4], r[2 * 9 * 11 * 4];
  fill(x, sizeof x / sizeof x[0], &rng);
  fill(k, sizeof k / sizeof k[0], &rng);
  fill(b, 4, &rng);
  CHECK(g.out_h * g.out_w * g.out_c * 2 == sizeof y / sizeof y[0]);
  tconv_plan *p = NULL;
  CHECK_OK(tconv_plan_create(&g, k, &p));
  CHECK_OK(tconv_set_kernel_path("reference"));
  if (p) CHECK_OK(tconv_plan_run(p, x, b, NULL, y, NULL));
  CHECK_OK(tconv_set_kernel_path("auto"));
  tconv_ref_forward_gather(&g, x, k, b, r);
  CHECK(memcmp(y, r, sizeof y) == 0);
  tconv_plan_destroy(p);
}
