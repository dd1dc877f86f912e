/* Backward pass: the reference gradients against finite differences of an independent double
 * forward, the adjoint identities, the fast paths against the reference on random geometries of
 * every form (Keras, tf.nn, core with groups, dilation, crops, adjust, NHWC/NCHW), bitwise
 * determinism across thread counts, and the layer's chain rule through every activation,
 * the regularizers and trainable=false. */
#include <stdlib.h>

#include "kernels/ref/ref.h"
#include "test.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static size_t xcount(const tconv_geometry *g) { return g->batch * g->in_h * g->in_w * g->in_c; }
static size_t ycount(const tconv_geometry *g) { return g->batch * g->out_h * g->out_w * g->out_c; }
static size_t kcount(const tconv_geometry *g) {
  return g->kernel_h * g->kernel_w * (g->out_c / g->groups) * g->in_c;
}

static float *rand_array(size_t n, unsigned long long *rng) {
  float *v = malloc((n + 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = test_rand_float(rng);
  return v;
}

static float *abs_copy(const float *v, size_t n) {
  float *a = malloc((n + 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) a[i] = fabsf(v[i]);
  return a;
}

/* An independent double forward (scatter over the core definition, its own index arithmetic):
 * L = sum(dz * (conv_transpose(x, k) + b)). */
static double loss_double(const tconv_geometry *g, const double *x, const double *k,
                          const double *b, const float *dz) {
  const size_t icg = g->in_c / g->groups, ocg = g->out_c / g->groups;
  const bool cl = g->data_format == TCONV_CHANNELS_LAST;
  double L = 0;
  for (size_t n = 0; n < g->batch; n++)
    for (size_t oh = 0; oh < g->out_h; oh++)
      for (size_t ow = 0; ow < g->out_w; ow++)
        for (size_t oc = 0; oc < g->out_c; oc++) {
          size_t yi = cl ? ((n * g->out_h + oh) * g->out_w + ow) * g->out_c + oc
                         : ((n * g->out_c + oc) * g->out_h + oh) * g->out_w + ow;
          L += dz[yi] * b[oc];
        }
  for (size_t n = 0; n < g->batch; n++)
    for (size_t ic = 0; ic < g->in_c; ic++)
      for (size_t ih = 0; ih < g->in_h; ih++)
        for (size_t iw = 0; iw < g->in_w; iw++) {
          size_t xi = cl ? ((n * g->in_h + ih) * g->in_w + iw) * g->in_c + ic
                         : ((n * g->in_c + ic) * g->in_h + ih) * g->in_w + iw;
          size_t grp = ic / icg;
          for (size_t th = 0; th < g->kernel_h; th++) {
            long oh = (long)(ih * g->stride_h + th * g->dilation_h) - (long)g->pad_top;
            if (oh < 0 || oh >= (long)g->out_h) continue;
            for (size_t tw = 0; tw < g->kernel_w; tw++) {
              long ow = (long)(iw * g->stride_w + tw * g->dilation_w) - (long)g->pad_left;
              if (ow < 0 || ow >= (long)g->out_w) continue;
              for (size_t jj = 0; jj < ocg; jj++) {
                size_t oc = grp * ocg + jj;
                size_t yi = cl ? ((n * g->out_h + (size_t)oh) * g->out_w + (size_t)ow) * g->out_c + oc
                               : ((n * g->out_c + oc) * g->out_h + (size_t)oh) * g->out_w + (size_t)ow;
                L += dz[yi] * x[xi] * k[((th * g->kernel_w + tw) * ocg + jj) * g->in_c + ic];
              }
            }
          }
        }
  return L;
}

static double *to_double(const float *v, size_t n) {
  double *d = malloc((n + 1) * sizeof(double));
  for (size_t i = 0; i < n; i++) d[i] = v[i];
  return d;
}

/* Random configurations of every form; returns the status of tconv_geometry_compute. */
static tconv_status random_form_geometry(unsigned long long *rng, tconv_geometry *g) {
  tconv_config c = tconv_config_default();
  c.form = (tconv_form)test_rand_range(rng, 0, 2);
  c.data_format = test_rand_range(rng, 0, 2) == 0 ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
  size_t G = c.form == TCONV_FORM_CORE ? test_rand_range(rng, 1, 3) : 1;
  c.groups = (int64_t)G;
  c.filters = (int64_t)(G * test_rand_range(rng, 1, 5));
  size_t in_c = G * test_rand_range(rng, 1, 4);
  size_t n = test_rand_range(rng, 1, 2), h = test_rand_range(rng, 1, 5), w = test_rand_range(rng, 1, 5);
  size_t in[2] = {h, w};
  bool dil = test_rand_range(rng, 0, 3) == 0;
  for (int a = 0; a < 2; a++) {
    c.kernel_size[a] = (int64_t)test_rand_range(rng, 1, 4);
    c.strides[a] = (int64_t)test_rand_range(rng, 1, 3);
    c.dilation_rate[a] = dil ? (int64_t)test_rand_range(rng, 1, 2) : 1;
    if (c.form == TCONV_FORM_KERAS && dil) c.strides[a] = 1;
  }
  switch (c.form) {
  case TCONV_FORM_KERAS:
    c.padding = test_rand_range(rng, 0, 1) ? TCONV_PADDING_SAME : TCONV_PADDING_VALID;
    if (test_rand_range(rng, 0, 1)) {
      c.has_output_padding = true;
      for (int a = 0; a < 2; a++)
        c.output_padding[a] = (int64_t)test_rand_range(rng, 0, (size_t)c.strides[a] - 1);
    }
    break;
  case TCONV_FORM_TF_NN:
    c.padding = test_rand_range(rng, 0, 1) ? TCONV_PADDING_SAME : TCONV_PADDING_VALID;
    for (int a = 0; a < 2; a++) {
      size_t s = (size_t)c.strides[a], k = (size_t)(c.dilation_rate[a] * (c.kernel_size[a] - 1) + 1);
      c.output_shape[a] = c.padding == TCONV_PADDING_SAME
                              ? (int64_t)((in[a] - 1) * s + test_rand_range(rng, 1, s))
                              : (int64_t)((in[a] - 1) * s + k + test_rand_range(rng, 0, s - 1));
    }
    break;
  default:
    for (int a = 0; a < 2; a++) {
      c.explicit_padding[2 * a] = (int64_t)test_rand_range(rng, 0, 2);
      c.explicit_padding[2 * a + 1] = (int64_t)test_rand_range(rng, 0, 2);
      c.adjust[a] = (int64_t)test_rand_range(rng, 0, 2);
    }
  }
  const size_t shape[4] = {n, c.data_format ? in_c : h, c.data_format ? h : w,
                           c.data_format ? w : in_c};
  return tconv_geometry_compute(&c, shape, NULL, g);
}

/* ---- core ----------------------------------------------------------------------------------- */

/* Reference gradients equal finite differences of the independent double forward (exact up to
 * rounding: the loss is linear in each argument), and the adjoint identities hold. */
TEST(backward_reference_finite_differences_every_form) {
  unsigned long long rng = 777;
  int checked = 0, forms[3] = {0, 0, 0};
  for (int iter = 0; iter < 300 && checked < 120; iter++) {
    unsigned long long before = rng;
    tconv_geometry g;
    if (random_form_geometry(&rng, &g) != TCONV_OK || ycount(&g) == 0) continue;
    (void)before;
    checked++;
    const size_t xn = xcount(&g), yn = ycount(&g), kn = kcount(&g);
    float *x = rand_array(xn, &rng), *k = rand_array(kn, &rng), *b = rand_array(g.out_c, &rng);
    float *dz = rand_array(yn, &rng);
    float *dx = malloc((xn + 1) * 4), *dk = malloc((kn + 1) * 4), *db = malloc(g.out_c * 4);
    tconv_ref_backward_data(&g, k, dz, dx);
    tconv_ref_backward_weights(&g, x, dz, dk);
    tconv_ref_backward_bias(&g, dz, db);
    double *xd = to_double(x, xn), *kd = to_double(k, kn), *bd = to_double(b, g.out_c);
    const double h = 0.5; /* any step is exact for a linear function */
    for (int s = 0; s < 4; s++) {
      size_t i = test_rand_range(&rng, 0, xn - 1), j = test_rand_range(&rng, 0, kn - 1);
      size_t c = test_rand_range(&rng, 0, g.out_c - 1);
      double v = xd[i];
      xd[i] = v + h;
      double lp = loss_double(&g, xd, kd, bd, dz);
      xd[i] = v - h;
      double lm = loss_double(&g, xd, kd, bd, dz);
      xd[i] = v;
      CHECK_NEAR(dx[i], (lp - lm) / (2 * h), 1e-5 * (1 + fabs(dx[i])));
      v = kd[j];
      kd[j] = v + h;
      lp = loss_double(&g, xd, kd, bd, dz);
      kd[j] = v - h;
      lm = loss_double(&g, xd, kd, bd, dz);
      kd[j] = v;
      CHECK_NEAR(dk[j], (lp - lm) / (2 * h), 1e-5 * (1 + fabs(dk[j])));
      v = bd[c];
      bd[c] = v + h;
      lp = loss_double(&g, xd, kd, bd, dz);
      bd[c] = v - h;
      lm = loss_double(&g, xd, kd, bd, dz);
      bd[c] = v;
      CHECK_NEAR(db[c], (lp - lm) / (2 * h), 1e-5 * (1 + fabs(db[c])));
    }
    /* adjoint: <convT(x), dz> = <x, convT^T(dz)> = <k, dW(x, dz)> (no bias) */
    float *y = malloc((yn + 1) * 4);
    tconv_ref_forward_gather(&g, x, k, NULL, y);
    double lhs = 0, r1 = 0, r2 = 0, mag = 0;
    for (size_t i = 0; i < yn; i++) lhs += (double)y[i] * dz[i], mag += fabs((double)y[i] * dz[i]);
    for (size_t i = 0; i < xn; i++) r1 += (double)x[i] * dx[i];
    for (size_t i = 0; i < kn; i++) r2 += (double)k[i] * dk[i];
    CHECK_NEAR(lhs, r1, 1e-5 * (1 + mag));
    CHECK_NEAR(lhs, r2, 1e-5 * (1 + mag));
    forms[g.groups > 1 ? 2 : g.data_format]++;
    free(x), free(k), free(b), free(dz), free(dx), free(dk), free(db), free(xd), free(kd),
        free(bd), free(y);
  }
  CHECK(checked >= 100);
  CHECK(forms[0] > 0 && forms[1] > 0 && forms[2] > 0);
}

static int fast_failures;

/* The fast paths (scalar, AVX2, AVX-512) against the reference, per element within 1e-5 of the
 * sum of absolute contributions, and bitwise identical for 1, 2 and 3 threads. */
static void fast_vs_reference(const tconv_geometry *g, unsigned long long seed,
                              tconv_threadpool **pools, size_t npools) {
  unsigned long long rng = seed;
  const size_t xn = xcount(g), yn = ycount(g), kn = kcount(g);
  float *x = rand_array(xn, &rng), *k = rand_array(kn, &rng), *dz = rand_array(yn, &rng);
  float *ax = abs_copy(x, xn), *ak = abs_copy(k, kn), *adz = abs_copy(dz, yn);
  float *rdx = malloc((xn + 1) * 4), *rdk = malloc((kn + 1) * 4), *rdb = malloc(g->out_c * 4);
  float *mdx = malloc((xn + 1) * 4), *mdk = malloc((kn + 1) * 4), *mdb = malloc(g->out_c * 4);
  float *dx = malloc((xn + 1) * 4), *dk = malloc((kn + 1) * 4), *db = malloc(g->out_c * 4);
  float *dx0 = malloc((xn + 1) * 4), *dk0 = malloc((kn + 1) * 4), *db0 = malloc(g->out_c * 4);
  tconv_ref_backward_data(g, k, dz, rdx);
  tconv_ref_backward_weights(g, x, dz, rdk);
  tconv_ref_backward_bias(g, dz, rdb);
  tconv_ref_backward_data(g, ak, adz, mdx);
  tconv_ref_backward_weights(g, ax, adz, mdk);
  tconv_ref_backward_bias(g, adz, mdb);
  /* backward-data on the AVX-512 route keeps the AVX2 kernels' order: dx bitwise equal */
  const char *paths[] = {"scalar", "avx2", "avx512"};
  float *dx_avx2 = malloc((xn + 1) * 4);
  int bad = 0, have_avx2 = 0;
  for (int p = 0; p < 3; p++) {
    if (tconv_set_kernel_path(paths[p]) != TCONV_OK) continue;
    for (size_t t = 0; t < npools; t++) {
      for (size_t i = 0; i < xn; i++) dx[i] = NAN;
      for (size_t i = 0; i < kn; i++) dk[i] = NAN;
      CHECK_OK(tconv_backward(g, x, k, dz, dx, dk, db, pools[t]));
      if (t == 0 && p == 1) memcpy(dx_avx2, dx, xn * 4), have_avx2 = 1;
      if (t == 0 && p == 2 && have_avx2 && memcmp(dx_avx2, dx, xn * 4) != 0) bad++;
      if (t == 0) {
        for (size_t i = 0; i < xn; i++)
          if (!(fabs(dx[i] - rdx[i]) <= 1e-5 * (mdx[i] + 1e-30))) bad++;
        for (size_t i = 0; i < kn; i++)
          if (!(fabs(dk[i] - rdk[i]) <= 1e-5 * (mdk[i] + 1e-30))) bad++;
        for (size_t i = 0; i < g->out_c; i++)
          if (!(fabs(db[i] - rdb[i]) <= 1e-5 * (mdb[i] + 1e-30))) bad++;
        memcpy(dx0, dx, xn * 4), memcpy(dk0, dk, kn * 4), memcpy(db0, db, g->out_c * 4);
      } else if (memcmp(dx0, dx, xn * 4) || memcmp(dk0, dk, kn * 4) ||
                 memcmp(db0, db, g->out_c * 4)) {
        bad++;
      }
    }
  }
  CHECK_OK(tconv_set_kernel_path("auto"));
  if (bad) {
    fast_failures++;
    if (fast_failures < 4)
      fprintf(stderr,
              "  fast backward: %d bad (n%zu %zux%zux%zu->%zu k%zux%zu s%zu,%zu d%zu,%zu g%zu "
              "pad %zu,%zu,%zu,%zu adj %zu,%zu fmt %d)\n",
              bad, g->batch, g->in_h, g->in_w, g->in_c, g->out_c, g->kernel_h, g->kernel_w,
              g->stride_h, g->stride_w, g->dilation_h, g->dilation_w, g->groups, g->pad_top,
              g->pad_bottom, g->pad_left, g->pad_right, g->adjust_h, g->adjust_w,
              (int)g->data_format);
  }
  free(x), free(k), free(dz), free(ax), free(ak), free(adz), free(rdx), free(rdk), free(rdb);
  free(mdx), free(mdk), free(mdb), free(dx), free(dk), free(db), free(dx0), free(dk0), free(db0);
  free(dx_avx2);
}

static size_t make_pools(tconv_threadpool **pools) {
  size_t n = 0;
  pools[n++] = NULL;
  for (size_t t = 2; t <= 3; t++)
    if (tconv_threadpool_create(t, &pools[n]) == TCONV_OK) n++;
  return n;
}

TEST(backward_fast_matches_reference_random_forms) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  CHECK(np == 3);
  unsigned long long rng = 4242;
  int done = 0;
  fast_failures = 0;
  for (int iter = 0; iter < 400 && done < 150; iter++) {
    tconv_geometry g;
    if (random_form_geometry(&rng, &g) != TCONV_OK || ycount(&g) == 0) continue;
    fast_vs_reference(&g, rng, pools, np);
    done++;
  }
  CHECK(done >= 150);
  CHECK(fast_failures == 0);
  for (size_t i = 0; i < np; i++) tconv_threadpool_destroy(pools[i]);
}

/* Hand-made core geometries over the fast paths' edges: row tiles 1..7, channel and filter
 * counts around 2, 4, 6 and 16 (dot vs GEMM, swapped weight tiles, masked columns), many
 * filters (K chunks), big kernels (tap chunks), long pixel runs (float-chunk folding). */
static void core_geometry(tconv_geometry *g, size_t n, size_t ih, size_t iw, size_t ic, size_t oc,
                          size_t k, size_t s, size_t d, size_t pad, size_t adj, size_t groups,
                          tconv_data_format fmt) {
  memset(g, 0, sizeof *g);
  g->batch = n, g->in_h = ih, g->in_w = iw, g->in_c = ic, g->out_c = oc;
  g->kernel_h = g->kernel_w = k;
  g->stride_h = g->stride_w = s;
  g->dilation_h = g->dilation_w = d;
  g->pad_top = g->pad_left = pad;
  g->pad_bottom = g->pad_right = pad / 2;
  g->adjust_h = g->adjust_w = adj;
  g->groups = groups;
  g->data_format = fmt;
  g->out_h = (ih - 1) * s + d * (k - 1) + 1 - pad - pad / 2 + adj;
  g->out_w = (iw - 1) * s + d * (k - 1) + 1 - pad - pad / 2 + adj;
}

TEST(backward_fast_swept_shapes) {
  tconv_threadpool *pools[3];
  size_t np = make_pools(pools);
  fast_failures = 0;
  int done = 0;
  const size_t chans[] = {1, 2, 3, 4, 5, 6, 7, 13, 16, 17, 33};
  for (size_t a = 0; a < sizeof chans / sizeof chans[0]; a++)
    for (size_t b = 0; b < sizeof chans / sizeof chans[0]; b += 2) {
      tconv_geometry g;
      core_geometry(&g, 1 + (a + b) % 3, 3, 1 + (a * 3 + b) % 7, chans[a], chans[b], 3, 2, 1,
                    1, 1, 1, (a + b) % 4 == 0 ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST);
      CHECK_OK(tconv_geometry_check(&g));
      fast_vs_reference(&g, 1000 + a * 31 + b, pools, np);
      done++;
    }
  tconv_geometry g;
  core_geometry(&g, 2, 4, 5, 8, 300, 3, 2, 1, 0, 0, 1, TCONV_CHANNELS_LAST); /* K chunks */
  fast_vs_reference(&g, 1, pools, np);
  core_geometry(&g, 1, 3, 3, 5, 7, 9, 1, 2, 3, 0, 1, TCONV_CHANNELS_LAST); /* 81 taps */
  fast_vs_reference(&g, 2, pools, np);
  core_geometry(&g, 3, 20, 40, 3, 2, 4, 2, 1, 1, 1, 1, TCONV_CHANNELS_LAST); /* long runs */
  fast_vs_reference(&g, 3, pools, np);
  core_geometry(&g, 2, 5, 5, 12, 40, 3, 3, 1, 2, 2, 4, TCONV_CHANNELS_FIRST); /* groups */
  fast_vs_reference(&g, 4, pools, np);
  core_geometry(&g, 1, 4, 4, 2, 40, 2, 2, 1, 0, 0, 1, TCONV_CHANNELS_LAST); /* dot path */
  fast_vs_reference(&g, 5, pools, np);
  core_geometry(&g, 1, 2, 2, 3, 3, 5, 1, 1, 4, 0, 1, TCONV_CHANNELS_LAST); /* taps all cropped */
  fast_vs_reference(&g, 6, pools, np);
  /* backward-weights decompositions: packed chunks outside tap blocks over several
   * super-chunks (with groups), taps outside chunks (totals too big for L2), wide in-place
   * tiles (1 x 64, 2 x 48, 3 x 32 with masked tails), rows longer than a chunk */
  core_geometry(&g, 3, 20, 20, 8, 13, 3, 1, 1, 1, 0, 1, TCONV_CHANNELS_LAST);
  fast_vs_reference(&g, 7, pools, np);
  core_geometry(&g, 2, 9, 11, 16, 26, 3, 2, 1, 1, 1, 2, TCONV_CHANNELS_FIRST);
  fast_vs_reference(&g, 8, pools, np);
  core_geometry(&g, 2, 3, 3, 40, 300, 5, 1, 1, 2, 0, 1, TCONV_CHANNELS_LAST);
  fast_vs_reference(&g, 9, pools, np);
  const size_t wide[][2] = {{64, 1}, {2, 61}, {45, 2}, {3, 33}, {70, 3}, {4, 40}};
  for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
    core_geometry(&g, 2, 7, 13, wide[i][0], wide[i][1], 3, 2, 1, 1, 1, 1, TCONV_CHANNELS_LAST);
    fast_vs_reference(&g, 10 + i, pools, np);
  }
  /* backward-data with position-major rows (batch >= 6, >= 4096 channel pairs) */
  core_geometry(&g, 7, 3, 4, 64, 70, 3, 2, 1, 1, 1, 1, TCONV_CHANNELS_LAST);
  fast_vs_reference(&g, 22, pools, np);
  core_geometry(&g, 13, 2, 3, 80, 60, 5, 1, 1, 2, 0, 1, TCONV_CHANNELS_FIRST);
  fast_vs_reference(&g, 23, pools, np);
  core_geometry(&g, 1, 2, 150, 3, 2, 3, 1, 1, 1, 0, 1, TCONV_CHANNELS_LAST);
  fast_vs_reference(&g, 20, pools, np);
  core_geometry(&g, 1, 3, 140, 8, 7, 2, 2, 1, 0, 0, 1, TCONV_CHANNELS_LAST);
  fast_vs_reference(&g, 21, pools, np);
  CHECK(done > 50);
  CHECK(fast_failures == 0);
  for (size_t i = 0; i < np; i++) tconv_threadpool_destroy(pools[i]);
}

TEST(backward_arguments) {
  tconv_geometry g;
  core_geometry(&g, 1, 2, 2, 1, 1, 2, 2, 1, 0, 0, 1, TCONV_CHANNELS_LAST);
  float x[4] = {1, 2, 3, 4}, k[4] = {1, 1, 1, 1}, dz[16] = {0}, dx[4], dk[4], db[1];
  CHECK_STATUS(tconv_backward(NULL, x, k, dz, dx, dk, db, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_backward(&g, x, k, NULL, dx, dk, db, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_backward(&g, x, NULL, dz, dx, NULL, NULL, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_backward(&g, NULL, k, dz, NULL, dk, NULL, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_OK(tconv_backward(&g, NULL, k, dz, dx, NULL, NULL, NULL)); /* x not needed for dx */
  tconv_geometry bad = g;
  bad.out_h = 7; /* inconsistent with O = F - pads + adjust */
  CHECK_STATUS(tconv_backward(&bad, x, k, dz, dx, dk, db, NULL), TCONV_INVALID_ARGUMENT);
  /* all outputs skipped is fine */
  CHECK_OK(tconv_backward(&g, x, k, dz, NULL, NULL, NULL, NULL));
  /* hand-computed: 1-D stride 2, k = [1, 10] along w only, x = [1, 2] -> y = [1, 10, 2, 20];
   * dz = [1, 2, 3, 4]: dx = [1 + 20, 3 + 40] = [21, 43], dk = [1*1 + 2*3, 1*2 + 2*4] = [7, 10] */
  core_geometry(&g, 1, 1, 2, 1, 1, 1, 1, 1, 0, 0, 1, TCONV_CHANNELS_LAST);
  g.kernel_w = 2, g.stride_w = 2, g.out_w = 4;
  CHECK_OK(tconv_geometry_check(&g));
  float x2[2] = {1, 2}, k2[2] = {1, 10}, dz2[4] = {1, 2, 3, 4}, dx2[2], dk2[2], db2[1];
  const char *paths[] = {"reference", "scalar", "avx2"};
  for (int p = 0; p < 3; p++) {
    if (tconv_set_kernel_path(paths[p]) != TCONV_OK) continue;
    CHECK_OK(tconv_backward(&g, x2, k2, dz2, dx2, dk2, db2, NULL));
    CHECK(dx2[0] == 21 && dx2[1] == 43 && dk2[0] == 7 && dk2[1] == 10 && db2[0] == 10);
  }
  CHECK_OK(tconv_set_kernel_path("auto"));
}

/* ---- the layer -------------------------------------------------------------------------------- */

/* A built and reshaped layer with random weights; caller destroys layer and store.  NULL (and
 * *s NULL, nothing left allocated) when a step fails. */
static tconv_layer *make_layer(tconv_config c, tconv_store **s, const size_t in[4],
                               unsigned long long *rng) {
  tconv_layer *l = NULL;
  *s = tconv_store_create();
  REQUIRE(*s != NULL);
  REQUIRE_OK(tconv_layer_create(&c, &l));
  REQUIRE_OK(tconv_layer_build(l, *s, c.data_format ? in[1] : in[3]));
  size_t out[4];
  REQUIRE_OK(tconv_layer_reshape(l, in, out));
  tconv_tensor *k = tconv_layer_kernel(l), *b = tconv_layer_bias(l);
  for (size_t i = 0; i < tconv_tensor_numel(k); i++) k->data[i] = test_rand_float(rng);
  for (size_t i = 0; b && i < tconv_tensor_numel(b); i++) b->data[i] = test_rand_float(rng);
  tconv_layer_weights_changed(l);
  return l;
done:
  tconv_layer_destroy(l);
  tconv_store_destroy(*s);
  *s = NULL;
  return NULL;
}

/* Through every activation: the layer's gradients equal the core gradients of
 * dz = dy * f'(z), with f' measured by central differences of tconv_activation_apply (away
 * from kinks), for y given and y recomputed. */
static void backward_layer_activation(int a, unsigned long long *rng) {
  tconv_config c = tconv_config_default();
  c.filters = 3;
  c.kernel_size[0] = 3, c.kernel_size[1] = 2;
  c.strides[0] = 2, c.strides[1] = 1;
  c.padding = a % 2 ? TCONV_PADDING_SAME : TCONV_PADDING_VALID;
  c.data_format = a % 3 == 0 ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
  c.activation = (tconv_activation_kind)a;
  const size_t in[4] = {2, c.data_format ? 2 : 3, 3, c.data_format ? 4 : 2};
  tconv_store *s;
  tconv_layer_grads gr = {0};
  float *x = NULL, *dy = NULL, *y = NULL, *z = NULL, *dz = NULL, *edx = NULL, *edk = NULL,
        *edb = NULL, *dx = NULL;
  tconv_layer *l = make_layer(c, &s, in, rng);
  REQUIRE(l != NULL);
  const tconv_geometry *g = tconv_layer_geometry(l);
  const size_t xn = xcount(g), yn = ycount(g), kn = kcount(g);
  x = rand_array(xn, rng), dy = rand_array(yn, rng);
  for (size_t i = 0; i < xn; i++) x[i] *= 1.5f;
  y = malloc(yn * 4), z = malloc(yn * 4), dz = malloc(yn * 4);
  REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
  tconv_ref_forward_gather(g, x, tconv_layer_kernel(l)->data, tconv_layer_bias(l)->data, z);
  tconv_activation act = tconv_config_activation(&c);
  for (size_t i = 0; i < yn; i++) {
    float zp[1] = {z[i] + 1e-2f}, zm[1] = {z[i] - 1e-2f};
    tconv_activation_apply(&act, zp, 1);
    tconv_activation_apply(&act, zm, 1);
    double d = ((double)zp[0] - zm[0]) / (((double)z[i] + 1e-2f) - ((double)z[i] - 1e-2f));
    const float kinks[] = {0.0f, 6.0f, -2.5f, 2.5f};
    bool near_kink = false;
    for (int k = 0; k < 4; k++) near_kink |= fabsf(z[i] - kinks[k]) < 0.03f;
    if (near_kink) dy[i] = 0; /* the derivative is one-sided there */
    dz[i] = (float)(dy[i] * d);
  }
  edx = malloc(xn * 4), edk = malloc(kn * 4), edb = malloc(g->out_c * 4);
  tconv_ref_backward_data(g, tconv_layer_kernel(l)->data, dz, edx);
  tconv_ref_backward_weights(g, x, dz, edk);
  tconv_ref_backward_bias(g, dz, edb);
  REQUIRE_OK(tconv_layer_grads_alloc(l, &gr));
  dx = malloc(xn * 4);
  for (int pass = 0; pass < 2; pass++) {
    REQUIRE_OK(tconv_layer_backward(l, x, pass ? NULL : y, dy, dx, &gr, NULL));
    double scale = 0;
    for (size_t i = 0; i < kn; i++) scale = fmax(scale, fabs(edk[i]));
    for (size_t i = 0; i < xn; i++)
      CHECK_MSG(fabs(dx[i] - edx[i]) <= 2e-3 * (1 + fabs(edx[i])), "%s dx[%zu] %g vs %g",
                tconv_activation_name(c.activation), i, dx[i], edx[i]);
    for (size_t i = 0; i < kn; i++)
      CHECK_MSG(fabs(gr.kernel.data[i] - edk[i]) <= 2e-3 * (1 + scale), "%s dk[%zu] %g vs %g",
                tconv_activation_name(c.activation), i, gr.kernel.data[i], edk[i]);
    for (size_t i = 0; i < g->out_c; i++)
      CHECK_NEAR(gr.bias.data[i], edb[i], 2e-3 * (1 + fabs(edb[i])));
  }
done:
  tconv_layer_grads_free(&gr);
  free(x), free(dy), free(y), free(z), free(dz), free(edx), free(edk), free(edb), free(dx);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
}

TEST(backward_layer_every_activation) {
  unsigned long long rng = 31337;
  for (int a = 0; a < TCONV_ACT_CUSTOM; a++) backward_layer_activation(a, &rng);
}

/* Regularizers: the weight gradients gain l1 sign(w) + 2 l2 w, dy gains the activity term;
 * each term checked against central differences of the layer's own loss functions. */
TEST(backward_layer_regularizers) {
  unsigned long long rng = 2024;
  tconv_config c = tconv_config_default();
  c.filters = 2;
  c.kernel_size[0] = c.kernel_size[1] = 2;
  c.strides[0] = c.strides[1] = 2;
  c.kernel_regularizer = (tconv_regularizer){TCONV_REG_L1_L2, 0.01, 0.02};
  c.bias_regularizer = (tconv_regularizer){TCONV_REG_L2, 0.0, 0.5};
  c.activity_regularizer = (tconv_regularizer){TCONV_REG_L1_L2, 0.03, 0.04};
  const size_t in[4] = {3, 2, 2, 2};
  tconv_store *s;
  tconv_layer *fl = NULL;
  tconv_layer_grads gr = {0};
  float *x = NULL, *y = NULL, *zero = NULL, *dx1 = NULL, *dx2 = NULL, *dy = NULL;
  tconv_layer *l = make_layer(c, &s, in, &rng);
  REQUIRE(l != NULL);
  const tconv_geometry *g = tconv_layer_geometry(l);
  const size_t xn = xcount(g), yn = ycount(g), kn = kcount(g);
  x = rand_array(xn, &rng), y = malloc(yn * 4), zero = calloc(yn, 4);
  REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
  REQUIRE_OK(tconv_layer_grads_alloc(l, &gr));
  /* dy = 0: only the regularizers drive the gradients */
  REQUIRE_OK(tconv_layer_backward(l, x, y, zero, NULL, &gr, NULL));
  tconv_tensor *k = tconv_layer_kernel(l), *b = tconv_layer_bias(l);
  /* total loss R(w) = weight_loss + activity_loss(y(w)); compare with central differences */
  for (size_t i = 0; i < kn + g->out_c; i++) {
    float *p = i < kn ? &k->data[i] : &b->data[i - kn];
    const float v = *p, h = 1e-2f;
    *p = v + h;
    tconv_layer_weights_changed(l);
    REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
    double lp = tconv_layer_weight_loss(l) + tconv_layer_activity_loss(l, y);
    const float vp = *p;
    *p = v - h;
    tconv_layer_weights_changed(l);
    REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
    double lm = tconv_layer_weight_loss(l) + tconv_layer_activity_loss(l, y);
    const double fd = (lp - lm) / ((double)vp - *p);
    *p = v;
    tconv_layer_weights_changed(l);
    const float got = i < kn ? gr.kernel.data[i] : gr.bias.data[i - kn];
    CHECK_MSG(fabs(got - fd) <= 2e-3 * (1 + fabs(fd)), "param %zu: %g vs fd %g", i, got, fd);
  }
  /* frozen: zero weight gradients, dx unchanged */
  dx1 = malloc(xn * 4), dx2 = malloc(xn * 4), dy = rand_array(yn, &rng);
  REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
  REQUIRE_OK(tconv_layer_backward(l, x, y, dy, dx1, NULL, NULL));
  tconv_config cf = c;
  cf.trainable = false;
  cf.reuse = true;
  cf.name = tconv_layer_name(l);
  REQUIRE_OK(tconv_layer_create(&cf, &fl));
  REQUIRE_OK(tconv_layer_build(fl, s, 2));
  REQUIRE_OK(tconv_layer_reshape(fl, in, NULL));
  for (size_t i = 0; i < kn; i++) gr.kernel.data[i] = 7.0f;
  REQUIRE_OK(tconv_layer_backward(fl, x, y, dy, dx2, &gr, NULL));
  for (size_t i = 0; i < kn; i++) CHECK(gr.kernel.data[i] == 0.0f);
  CHECK(memcmp(dx1, dx2, xn * 4) == 0);
done:
  tconv_layer_destroy(fl);
  tconv_layer_grads_free(&gr);
  free(x), free(y), free(zero), free(dx1), free(dx2), free(dy);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
}

static float my_square(float v, void *ctx) { (void)ctx; return v * v; }
static float my_square_grad(float v, void *ctx) { (void)ctx; return 2 * v; }

TEST(backward_layer_states_and_arguments) {
  unsigned long long rng = 5;
  tconv_config c = tconv_config_default();
  c.filters = 1;
  c.kernel_size[0] = c.kernel_size[1] = 1;
  tconv_layer *l;
  tconv_store *s = NULL;
  tconv_layer_grads gr = {0};
  REQUIRE_OK(tconv_layer_create(&c, &l));
  float x[4] = {1, 2, 3, 4}, dy[4] = {1, 1, 1, 1}, dx[4];
  CHECK_STATUS(tconv_layer_grads_alloc(l, &gr), TCONV_INVALID_STATE);
  CHECK_STATUS(tconv_layer_backward(l, x, NULL, dy, dx, NULL, NULL), TCONV_INVALID_STATE);
  CHECK_STATUS(tconv_layer_backward(NULL, x, NULL, dy, dx, NULL, NULL), TCONV_INVALID_ARGUMENT);
  tconv_layer_destroy(l);
  /* a custom activation: works with its derivative, UNSUPPORTED without */
  c.activation = TCONV_ACT_CUSTOM;
  c.activation_fn = my_square;
  c.activation_grad = my_square_grad;
  const size_t in[4] = {1, 2, 2, 1};
  l = make_layer(c, &s, in, &rng);
  REQUIRE(l != NULL);
  REQUIRE_OK(tconv_layer_grads_alloc(l, &gr));
  CHECK_STATUS(tconv_layer_backward(l, NULL, NULL, dy, dx, &gr, NULL), TCONV_INVALID_ARGUMENT);
  REQUIRE_OK(tconv_layer_backward(l, x, NULL, dy, dx, &gr, NULL));
  /* y = (w x + b)^2, dy = 1: dx = 2 (w x + b) w */
  const float w = tconv_layer_kernel(l)->data[0], b = tconv_layer_bias(l)->data[0];
  for (int i = 0; i < 4; i++) CHECK_NEAR(dx[i], 2 * (w * x[i] + b) * w, 1e-5);
  tconv_layer_grads wrong = {0};
  CHECK_STATUS(tconv_layer_backward(l, x, NULL, dy, dx, &wrong, NULL), TCONV_INVALID_ARGUMENT);
  tconv_layer_grads_free(&gr);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
  c.activation_grad = NULL;
  l = make_layer(c, &s, in, &rng);
  REQUIRE(l != NULL);
  CHECK_STATUS(tconv_layer_backward(l, x, NULL, dy, dx, NULL, NULL), TCONV_UNSUPPORTED);
done:
  tconv_layer_grads_free(&gr);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
}
