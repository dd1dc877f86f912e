/* Shape rules: Keras output lengths, TF SAME crop placement, TF's acceptance rules, the core
 * form, and the crafted bad configurations of the security research table. */
#include "test.h"

static tconv_config keras(int64_t filters, int64_t k, int64_t s, tconv_padding p) {
  tconv_config c = tconv_config_default();
  c.filters = filters;
  c.kernel_size[0] = c.kernel_size[1] = k;
  c.strides[0] = c.strides[1] = s;
  c.padding = p;
  return c;
}

static tconv_status geom(const tconv_config *c, size_t n, size_t h, size_t w, size_t ch,
                         tconv_geometry *g) {
  const size_t in[4] = {n, h, w, ch};
  return tconv_geometry_compute(c, in, NULL, g);
}

TEST(shape_seed_first_use) {
  /* 28x28x1 -> filters 32, 3x3, stride 2, same -> 56x56x32 */
  tconv_config c = keras(32, 3, 2, TCONV_PADDING_SAME);
  tconv_geometry g;
  CHECK_OK(geom(&c, 1, 28, 28, 1, &g));
  CHECK(g.out_h == 56 && g.out_w == 56 && g.out_c == 32);
  /* F = 27*2 + 3 = 57, O = 56: P = 1, crop 0 at the top and 1 at the bottom (TF's odd extra) */
  CHECK(g.pad_top == 0 && g.pad_bottom == 1 && g.adjust_h == 0);
}

TEST(shape_keras_lengths) {
  /* Keras conv_utils.deconv_output_length, per axis, against hand-derived values. */
  struct {
    int64_t I, k, s, d;
    tconv_padding p;
    int64_t op; /* -1: None */
    int64_t O, pb, pe, a;
  } cases[] = {
      {4, 3, 1, 1, TCONV_PADDING_VALID, -1, 6, 0, 0, 0},
      {4, 3, 2, 1, TCONV_PADDING_VALID, -1, 9, 0, 0, 0},
      {4, 2, 3, 1, TCONV_PADDING_VALID, -1, 12, 0, 0, 1}, /* kernel < stride: max(k, s) */
      {4, 3, 2, 1, TCONV_PADDING_SAME, -1, 8, 0, 1, 0},
      {5, 4, 2, 1, TCONV_PADDING_SAME, -1, 10, 1, 1, 0},
      {5, 5, 2, 1, TCONV_PADDING_SAME, -1, 10, 1, 2, 0},
      {3, 1, 3, 1, TCONV_PADDING_SAME, -1, 9, 0, 0, 2}, /* F = 7 < O: bias-only tail */
      {4, 3, 2, 1, TCONV_PADDING_VALID, 1, 10, 0, 0, 1},
      {4, 3, 2, 1, TCONV_PADDING_SAME, 1, 8, 0, 1, 0},
      {4, 3, 2, 1, TCONV_PADDING_SAME, 0, 7, 1, 1, 0},
      {4, 3, 1, 2, TCONV_PADDING_VALID, -1, 8, 0, 0, 0}, /* dilation: k_eff 5 */
      {4, 3, 1, 2, TCONV_PADDING_SAME, -1, 4, 2, 2, 0},
      {1, 1, 1, 1, TCONV_PADDING_VALID, -1, 1, 0, 0, 0},
      {1, 7, 4, 1, TCONV_PADDING_SAME, -1, 4, 1, 2, 0}, /* kernel > input */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tconv_config c = keras(2, cases[i].k, cases[i].s, cases[i].p);
    c.dilation_rate[0] = c.dilation_rate[1] = cases[i].d;
    if (cases[i].op >= 0) {
      c.has_output_padding = true;
      c.output_padding[0] = c.output_padding[1] = cases[i].op;
    }
    tconv_geometry g;
    CHECK_OK(geom(&c, 1, (size_t)cases[i].I, (size_t)cases[i].I, 3, &g));
    CHECK_MSG((int64_t)g.out_h == cases[i].O && (int64_t)g.pad_top == cases[i].pb &&
                  (int64_t)g.pad_bottom == cases[i].pe && (int64_t)g.adjust_h == cases[i].a,
              "case %zu: O %zu pads %zu/%zu adjust %zu", i, g.out_h, g.pad_top, g.pad_bottom,
              g.adjust_h);
  }
}

TEST(shape_keras_rejects_like_keras) {
  tconv_config c = keras(2, 3, 2, TCONV_PADDING_SAME);
  tconv_geometry g;
  c.has_output_padding = true;
  c.output_padding[0] = 2;
  CHECK_STATUS(geom(&c, 1, 4, 4, 3, &g), TCONV_INVALID_ARGUMENT);
  CHECK(strstr(tconv_last_error(), "must be < stride") != NULL);
  c.output_padding[0] = -1;
  CHECK_STATUS(geom(&c, 1, 4, 4, 3, &g), TCONV_INVALID_ARGUMENT);
  c = keras(2, 3, 2, TCONV_PADDING_VALID);
  c.dilation_rate[1] = 2;
  CHECK_STATUS(tconv_config_check(&c), TCONV_INVALID_ARGUMENT);
  CHECK(strstr(tconv_last_error(), "core form") != NULL);
  c.form = TCONV_FORM_CORE; /* the general form computes it */
  CHECK_OK(geom(&c, 1, 4, 4, 3, &g));
  /* Keras 'same' with an even kernel and output_padding 0 asks TF's op for an output size its
   * SAME rule rejects (ceil(6/2) != 4). */
  c = keras(2, 2, 2, TCONV_PADDING_SAME);
  c.has_output_padding = true;
  CHECK_STATUS(geom(&c, 1, 4, 4, 3, &g), TCONV_INVALID_ARGUMENT);
  CHECK(strstr(tconv_last_error(), "SAME") != NULL);
  c = keras(2, 3, 1, TCONV_PADDING_EXPLICIT);
  CHECK_STATUS(geom(&c, 1, 4, 4, 3, &g), TCONV_INVALID_ARGUMENT);
}

TEST(shape_tf_nn_acceptance) {
  tconv_config c = keras(2, 3, 2, TCONV_PADDING_SAME);
  c.form = TCONV_FORM_TF_NN;
  tconv_geometry g;
  /* SAME accepts O with ceil(O/2) == 4: O in 7..8 */
  for (int64_t O = 5; O <= 10; O++) {
    c.output_shape[0] = c.output_shape[1] = O;
    tconv_status st = geom(&c, 1, 4, 4, 1, &g);
    CHECK_MSG((st == TCONV_OK) == (O == 7 || O == 8), "SAME O=%lld -> %d", (long long)O, st);
  }
  /* VALID accepts 0 <= O - F < s: F = 9, O in 9..10 */
  c.padding = TCONV_PADDING_VALID;
  for (int64_t O = 7; O <= 12; O++) {
    c.output_shape[0] = c.output_shape[1] = O;
    tconv_status st = geom(&c, 1, 4, 4, 1, &g);
    CHECK_MSG((st == TCONV_OK) == (O == 9 || O == 10), "VALID O=%lld -> %d", (long long)O, st);
    if (st == TCONV_OK) CHECK(g.adjust_h == (size_t)(O - 9));
  }
  /* EXPLICIT: floor((O + pt + pb - k)/s) + 1 == I */
  c.padding = TCONV_PADDING_EXPLICIT;
  c.explicit_padding[0] = 1;
  c.explicit_padding[1] = 2;
  c.output_shape[0] = 6;
  c.output_shape[1] = 9;
  CHECK_OK(geom(&c, 1, 4, 4, 1, &g));
  CHECK(g.pad_top == 1 && g.pad_bottom == 2 && g.adjust_h == 0 && g.out_h == 6);
  c.output_shape[0] = 8;
  CHECK_STATUS(geom(&c, 1, 4, 4, 1, &g), TCONV_INVALID_ARGUMENT);
  c.explicit_padding[0] = -1;
  CHECK_STATUS(geom(&c, 1, 4, 4, 1, &g), TCONV_INVALID_ARGUMENT);
  /* B1: output_shape [2, -2] */
  c = keras(1, 1, 1, TCONV_PADDING_SAME);
  c.form = TCONV_FORM_TF_NN;
  c.output_shape[0] = 2;
  c.output_shape[1] = -2;
  CHECK_STATUS(geom(&c, 1, 1, 1, 1, &g), TCONV_INVALID_ARGUMENT);
  /* B2: huge negative output size, no narrowing */
  c.output_shape[0] = INT64_MIN + 5;
  CHECK(geom(&c, 1, 1, 1, 1, &g) != TCONV_OK);
  /* B3: input 2x2, output [114078056, 179835296], stride 10: rejected before allocation */
  c = keras(1, 1, 10, TCONV_PADDING_SAME);
  c.form = TCONV_FORM_TF_NN;
  c.output_shape[0] = 114078056;
  c.output_shape[1] = 179835296;
  CHECK(geom(&c, 2, 2, 2, 2, &g) != TCONV_OK);
}

TEST(shape_core_form) {
  tconv_config c = keras(4, 3, 3, TCONV_PADDING_VALID);
  c.form = TCONV_FORM_CORE;
  c.dilation_rate[0] = 2;
  c.explicit_padding[0] = 1;
  c.explicit_padding[1] = 0;
  c.explicit_padding[2] = 0;
  c.explicit_padding[3] = 2;
  c.adjust[0] = 0;
  c.adjust[1] = 5; /* output_padding on one axis only, larger than the stride */
  c.groups = 2;
  tconv_geometry g;
  CHECK_OK(geom(&c, 2, 5, 5, 6, &g));
  /* h: F = 4*3 + 2*2 + 1 = 17, O = 17 - 1 = 16; w: F = 4*3 + 3 = 15, O = 15 - 2 + 5 = 18 */
  CHECK(g.out_h == 16 && g.out_w == 18 && g.groups == 2);
  c.explicit_padding[0] = 17;
  c.explicit_padding[1] = 1;
  CHECK_STATUS(geom(&c, 2, 5, 5, 6, &g), TCONV_INVALID_ARGUMENT); /* crops more than F */
  c.explicit_padding[0] = 17;
  c.explicit_padding[1] = 0;
  CHECK_OK(geom(&c, 2, 5, 5, 6, &g)); /* exactly empty is consistent */
  CHECK(g.out_h == 0);
  CHECK_STATUS(geom(&c, 2, 5, 5, 5, &g), TCONV_INVALID_ARGUMENT); /* 5 channels, 2 groups */
  c.groups = 3;
  CHECK_STATUS(tconv_config_check(&c), TCONV_INVALID_ARGUMENT); /* 4 filters, 3 groups */
}

TEST(shape_security_table_errors) {
  tconv_geometry g;
  /* A1/A7/A8/A9/B13: zero-element kernels (zero channels) */
  tconv_config c = keras(5, 1, 1, TCONV_PADDING_SAME);
  CHECK_STATUS(geom(&c, 52, 1, 1, 0, &g), TCONV_INVALID_ARGUMENT);
  c.kernel_size[0] = 0;
  CHECK_STATUS(geom(&c, 1, 3, 3, 1, &g), TCONV_INVALID_ARGUMENT);
  /* B11: filters = 0 */
  c = keras(0, 3, 1, TCONV_PADDING_SAME);
  CHECK_STATUS(geom(&c, 2, 8, 8, 8, &g), TCONV_INVALID_ARGUMENT);
  /* A12/A18: zero stride */
  c = keras(1, 3, 0, TCONV_PADDING_SAME);
  CHECK_STATUS(geom(&c, 1, 3, 3, 1, &g), TCONV_INVALID_ARGUMENT);
  c.strides[0] = -3;
  CHECK_STATUS(geom(&c, 1, 3, 3, 1, &g), TCONV_INVALID_ARGUMENT);
  /* C3: groups 0 and INT64_MIN */
  c = keras(4, 3, 1, TCONV_PADDING_SAME);
  c.groups = 0;
  CHECK_STATUS(geom(&c, 1, 3, 3, 4, &g), TCONV_INVALID_ARGUMENT);
  c.groups = INT64_MIN;
  CHECK_STATUS(geom(&c, 1, 3, 3, 4, &g), TCONV_INVALID_ARGUMENT);
  /* C6: dilation <= 0 */
  c = keras(4, 3, 1, TCONV_PADDING_SAME);
  c.dilation_rate[0] = 0;
  CHECK_STATUS(geom(&c, 1, 3, 3, 4, &g), TCONV_INVALID_ARGUMENT);
  /* C10/C11: huge channel/kernel products overflow the limits, checked before allocation */
  c = keras(1 << 28, 4, 1, TCONV_PADDING_VALID);
  CHECK_STATUS(geom(&c, 1, 4, 4, (size_t)1 << 30, &g), TCONV_LIMIT_EXCEEDED);
  c = keras(1, 65536, 1, TCONV_PADDING_VALID);
  CHECK_STATUS(geom(&c, 1, 4, 4, 1, &g), TCONV_LIMIT_EXCEEDED);
  /* B5: a channel count that does not fit the limits */
  c = keras(1, 1, 1, TCONV_PADDING_VALID);
  CHECK_STATUS(geom(&c, 1, 5, 5, 999999999999ull, &g), TCONV_LIMIT_EXCEEDED);
  /* C12: kernel shape must equal the configuration exactly */
  c = keras(32, 5, 1, TCONV_PADDING_VALID);
  const size_t in[4] = {1, 4, 4, 3}, k[4] = {3, 3, 32, 3};
  CHECK_STATUS(tconv_geometry_compute(&c, in, k, &g), TCONV_SHAPE_MISMATCH);
  /* C9: kernel 4, padding 3 each side, 2x2 input, stride 1: F = 5 < 6 crops: error */
  c = keras(1, 4, 1, TCONV_PADDING_VALID);
  c.form = TCONV_FORM_CORE;
  for (int i = 0; i < 4; i++) c.explicit_padding[i] = 3;
  CHECK_STATUS(geom(&c, 1, 2, 2, 1, &g), TCONV_INVALID_ARGUMENT);
  /* a hand-made inconsistent geometry is refused by tconv_forward */
  c = keras(2, 3, 2, TCONV_PADDING_SAME);
  CHECK_OK(geom(&c, 1, 4, 4, 1, &g));
  g.out_h += 1;
  float x[16] = {0}, w[18] = {0}, y[200];
  CHECK_STATUS(tconv_forward(&g, x, w, NULL, NULL, y, NULL), TCONV_INVALID_ARGUMENT);
}

TEST(shape_empty_tensors_are_legal) {
  tconv_geometry g;
  /* A11 (2-D analog): [1,32,0,3] same -> [1,32,0,2] (stride 1: O = I*s) */
  tconv_config c = keras(2, 3, 1, TCONV_PADDING_SAME);
  CHECK_OK(geom(&c, 1, 32, 0, 3, &g));
  CHECK(g.out_h == 32 && g.out_w == 0 && g.out_c == 2);
  /* B12: VALID stride 1 on [10,7,0,8] -> [10,9,2,3] (bias only) */
  c = keras(3, 3, 1, TCONV_PADDING_VALID);
  CHECK_OK(geom(&c, 10, 7, 0, 8, &g));
  CHECK(g.batch == 10 && g.out_h == 9 && g.out_w == 2 && g.out_c == 3);
  float x[1] = {0}, w[3 * 3 * 3 * 8] = {0}, b[3] = {1, 2, 3};
  static float y[10 * 9 * 2 * 3];
  CHECK_OK(tconv_forward(&g, x, w, b, NULL, y, NULL));
  int bias_only = 1;
  for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) bias_only &= y[i] == b[i % 3];
  CHECK(bias_only);
  /* B10: zero batch */
  c = keras(1, 3, 2, TCONV_PADDING_SAME);
  CHECK_OK(geom(&c, 0, 7, 7, 1, &g));
  CHECK(g.batch == 0 && g.out_h == 14);
  CHECK_OK(tconv_forward(&g, NULL, w, NULL, NULL, NULL, NULL));
}
