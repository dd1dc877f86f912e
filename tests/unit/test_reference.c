/* The two reference kernels agree with each other and with hand-computed cases. */
#include <stdlib.h>

#include "kernels/ref/ref.h"
#include "test.h"

/* Random core-form geometries: every stride/dilation/pad/adjust/groups/layout combination. */
static tconv_status random_geometry(unsigned long long *rng, tconv_geometry *g) {
  tconv_config c = tconv_config_default();
  c.form = TCONV_FORM_CORE;
  size_t G = test_rand_range(rng, 1, 3);
  c.groups = (int64_t)G;
  c.filters = (int64_t)(G * test_rand_range(rng, 1, 4));
  c.data_format = test_rand_range(rng, 0, 1) ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
  for (int a = 0; a < 2; a++) {
    c.kernel_size[a] = (int64_t)test_rand_range(rng, 1, 5);
    c.strides[a] = (int64_t)test_rand_range(rng, 1, 4);
    c.dilation_rate[a] = (int64_t)test_rand_range(rng, 1, 3);
    c.explicit_padding[2 * a] = (int64_t)test_rand_range(rng, 0, 3);
    c.explicit_padding[2 * a + 1] = (int64_t)test_rand_range(rng, 0, 3);
    c.adjust[a] = (int64_t)test_rand_range(rng, 0, 3);
  }
  size_t in_c = G * test_rand_range(rng, 1, 3);
  size_t n = test_rand_range(rng, 1, 2), h = test_rand_range(rng, 1, 6), w = test_rand_range(rng, 1, 6);
  const size_t shape[4] = {n, c.data_format ? in_c : h, c.data_format ? h : w,
                           c.data_format ? w : in_c};
  return tconv_geometry_compute(&c, shape, NULL, g);
}

TEST(reference_scatter_equals_gather) {
  unsigned long long rng = 12345;
  int compared = 0;
  for (int iter = 0; iter < 400; iter++) {
    tconv_geometry g;
    if (random_geometry(&rng, &g) != TCONV_OK) continue; /* over-cropped draws */
    size_t nx = g.batch * g.in_h * g.in_w * g.in_c, ny = g.batch * g.out_h * g.out_w * g.out_c;
    size_t nk = g.kernel_h * g.kernel_w * (g.out_c / g.groups) * g.in_c;
    float *x = malloc((nx + 1) * 4), *k = malloc((nk + 1) * 4), *b = malloc(g.out_c * 4);
    float *y1 = malloc((ny + 1) * 4), *y2 = malloc((ny + 1) * 4);
    for (size_t i = 0; i < nx; i++) x[i] = test_rand_float(&rng);
    for (size_t i = 0; i < nk; i++) k[i] = test_rand_float(&rng);
    for (size_t i = 0; i < g.out_c; i++) b[i] = test_rand_float(&rng);
    CHECK_OK(tconv_ref_forward_scatter(&g, x, k, b, y1));
    tconv_ref_forward_gather(&g, x, k, b, y2);
    for (size_t i = 0; i < ny; i++) CHECK_NEAR(y1[i], y2[i], 1e-5);
    compared++;
    free(x), free(k), free(b), free(y1), free(y2);
  }
  CHECK(compared > 200);
}

TEST(reference_hand_computed) {
  /* 1-D along w: x = [1, 2], w = [1, 10, 100], stride 2, valid: full length 5:
   * y = [1, 10, 100+2, 20, 200] */
  tconv_config c = tconv_config_default();
  c.filters = 1;
  c.kernel_size[0] = 1;
  c.kernel_size[1] = 3;
  c.strides[0] = 1;
  c.strides[1] = 2;
  const size_t in[4] = {1, 1, 2, 1};
  tconv_geometry g;
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &g));
  CHECK(g.out_w == 5);
  float x[2] = {1, 2}, w[3] = {1, 10, 100}, y[5];
  tconv_ref_forward_gather(&g, x, w, NULL, y);
  const float want[5] = {1, 10, 102, 20, 200};
  for (int i = 0; i < 5; i++) CHECK(y[i] == want[i]);
  /* 'same' (O = 4): P = 1, crop 0 at the start and 1 at the end: [1, 10, 102, 20] */
  c.padding = TCONV_PADDING_SAME;
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &g));
  CHECK(g.out_w == 4 && g.pad_left == 0 && g.pad_right == 1);
  CHECK_OK(tconv_ref_forward_scatter(&g, x, w, NULL, y));
  for (int i = 0; i < 4; i++) CHECK(y[i] == want[i]);
  /* the public stateless entry point gives the same */
  float y2[4];
  CHECK_OK(tconv_forward(&g, x, w, NULL, NULL, y2, NULL));
  for (int i = 0; i < 4; i++) CHECK(y2[i] == want[i]);
}
