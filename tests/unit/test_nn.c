/* Activations, initializers, regularizers and constraints against their Keras definitions. */
#include <stdlib.h>

#include "test.h"

static float act(tconv_activation_kind k, float x) {
  tconv_activation a = {k, k == TCONV_ACT_LEAKY_RELU ? 0.2f : 1.0f, NULL, NULL, NULL};
  tconv_activation_apply(&a, &x, 1);
  return x;
}

TEST(activation_values) {
  CHECK(act(TCONV_ACT_LINEAR, -3) == -3);
  CHECK(act(TCONV_ACT_RELU, -3) == 0 && act(TCONV_ACT_RELU, 2) == 2);
  CHECK(act(TCONV_ACT_RELU6, 7) == 6 && act(TCONV_ACT_RELU6, -1) == 0);
  CHECK_NEAR(act(TCONV_ACT_LEAKY_RELU, -2), -0.4, 1e-7);
  CHECK_NEAR(act(TCONV_ACT_ELU, -1), exp(-1.0) - 1, 1e-7);
  CHECK_NEAR(act(TCONV_ACT_SELU, -1), 1.0507009873554805 * 1.6732632423543772 * (exp(-1.0) - 1),
             1e-6);
  CHECK_NEAR(act(TCONV_ACT_SELU, 2), 2 * 1.0507009873554805, 1e-6);
  CHECK_NEAR(act(TCONV_ACT_GELU, 1), 0.8413447460685429, 1e-6);
  CHECK_NEAR(act(TCONV_ACT_GELU_TANH, 1), 0.8411919906082768, 1e-6);
  CHECK_NEAR(act(TCONV_ACT_SIGMOID, 0), 0.5, 1e-7);
  CHECK_NEAR(act(TCONV_ACT_HARD_SIGMOID, 1), 0.7, 1e-7);
  CHECK(act(TCONV_ACT_HARD_SIGMOID, 10) == 1 && act(TCONV_ACT_HARD_SIGMOID, -10) == 0);
  CHECK_NEAR(act(TCONV_ACT_TANH, 0.5), tanh(0.5), 1e-7);
  CHECK_NEAR(act(TCONV_ACT_SOFTPLUS, 0), log(2.0), 1e-7);
  CHECK_NEAR(act(TCONV_ACT_SOFTPLUS, 100), 100, 1e-5); /* no overflow */
  CHECK_NEAR(act(TCONV_ACT_SOFTSIGN, 3), 0.75, 1e-7);
  CHECK_NEAR(act(TCONV_ACT_SWISH, 1), 1 / (1 + exp(-1.0)), 1e-7);
  CHECK_NEAR(act(TCONV_ACT_EXPONENTIAL, 1), exp(1.0), 1e-6);
}

static float square(float x, void *ctx) { return x * x * *(float *)ctx; }
static float square_grad(float x, void *ctx) { return 2 * x * *(float *)ctx; }

TEST(activation_derivatives_match_finite_differences) {
  float k = 3;
  for (int kind = 0; kind < TCONV_ACT_COUNT_; kind++) {
    tconv_activation a = {(tconv_activation_kind)kind, kind == TCONV_ACT_LEAKY_RELU ? 0.2f : 1.0f,
                          square, square_grad, &k};
    const float xs[] = {-2.1f, -0.7f, 0.3f, 1.6f, 4.2f};
    for (size_t i = 0; i < 5; i++) {
      float x = xs[i], h = 1e-3f, lo = x - h, hi = x + h, y = x;
      tconv_activation_apply(&a, &lo, 1);
      tconv_activation_apply(&a, &hi, 1);
      tconv_activation_apply(&a, &y, 1);
      double fd = ((double)hi - lo) / (2 * h);
      double an = tconv_activation_derivative(&a, x, y);
      CHECK_MSG(fabs(fd - an) <= 2e-2 * (1 + fabs(fd)), "%s at %g: fd %g analytic %g",
                tconv_activation_name(a.kind), x, fd, an);
    }
  }
}

TEST(activation_names) {
  tconv_activation_kind k;
  CHECK_OK(tconv_activation_from_name("ReLU", &k));
  CHECK(k == TCONV_ACT_RELU);
  CHECK_OK(tconv_activation_from_name("silu", &k));
  CHECK(k == TCONV_ACT_SWISH);
  CHECK_STATUS(tconv_activation_from_name("custom", &k), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_activation_from_name("nope", &k), TCONV_INVALID_ARGUMENT);
  for (int i = 0; i < TCONV_ACT_CUSTOM; i++) {
    CHECK_OK(tconv_activation_from_name(tconv_activation_name((tconv_activation_kind)i), &k));
    CHECK(k == (tconv_activation_kind)i);
  }
}

static void stats(const tconv_tensor *t, double *mean, double *var, double *amax) {
  size_t n = tconv_tensor_numel(t);
  double s = 0, s2 = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    s += t->data[i];
    s2 += (double)t->data[i] * t->data[i];
    if (fabs(t->data[i]) > m) m = fabs(t->data[i]);
  }
  *mean = s / n;
  *var = s2 / n - *mean * *mean;
  *amax = m;
}

TEST(initializer_statistics) {
  /* kernel (kh, kw, filters, in) = (5, 5, 40, 30): rf 25, fan_in 1000, fan_out 750 */
  const size_t shape[4] = {5, 5, 40, 30};
  tconv_tensor t;
  REQUIRE_OK(tconv_tensor_alloc(&t, 4, shape));
  struct {
    const char *name;
    double var;
    double limit; /* 0: unbounded */
  } cases[] = {
      {"glorot_uniform", 2.0 / 1750, sqrt(6.0 / 1750)},
      {"glorot_normal", 2.0 / 1750, 2 * sqrt(2.0 / 1750) / 0.8796256610342398},
      {"he_uniform", 2.0 / 1000, sqrt(6.0 / 1000)},
      {"he_normal", 2.0 / 1000, 2 * sqrt(2.0 / 1000) / 0.8796256610342398},
      {"lecun_uniform", 1.0 / 1000, sqrt(3.0 / 1000)},
      {"lecun_normal", 1.0 / 1000, 2 * sqrt(1.0 / 1000) / 0.8796256610342398},
      {"random_normal", 0.05 * 0.05, 0},
      {"random_uniform", 0.1 * 0.1 / 12, 0.05},
      {"truncated_normal", 0.05 * 0.05 * 0.7737413, 0.1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tconv_initializer init;
    CHECK_OK(tconv_initializer_from_name(cases[i].name, &init));
    init.seed = 7;
    CHECK_OK(tconv_initializer_fill(&init, &t, NULL));
    double mean, var, amax;
    stats(&t, &mean, &var, &amax);
    CHECK_MSG(fabs(var / cases[i].var - 1) < 0.05, "%s: variance %g expected %g", cases[i].name,
              var, cases[i].var);
    CHECK_MSG(fabs(mean) < 4 * sqrt(cases[i].var / 30000.0), "%s: mean %g", cases[i].name, mean);
    if (cases[i].limit > 0)
      CHECK_MSG(amax <= cases[i].limit * (1 + 1e-6), "%s: |w| %g > %g", cases[i].name, amax,
                cases[i].limit);
    /* reproducible: the same seed gives the same values */
    float first = t.data[0];
    CHECK_OK(tconv_initializer_fill(&init, &t, NULL));
    CHECK(t.data[0] == first);
  }
done:
  tconv_tensor_free(&t);
}

TEST(initializer_orthogonal_and_bilinear) {
  const size_t shape[4] = {2, 2, 3, 4}; /* rows 12, cols 4: orthonormal columns */
  tconv_tensor t;
  REQUIRE_OK(tconv_tensor_alloc(&t, 4, shape));
  tconv_initializer init = tconv_initializer_default(TCONV_INIT_ORTHOGONAL);
  init.seed = 3;
  init.gain = 2;
  CHECK_OK(tconv_initializer_fill(&init, &t, NULL));
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++) {
      double dot = 0;
      for (int r = 0; r < 12; r++) dot += (double)t.data[r * 4 + a] * t.data[r * 4 + b];
      CHECK_NEAR(dot, a == b ? 4.0 : 0.0, 1e-5);
    }
  tconv_tensor_free(&t);
  const size_t bs[4] = {4, 4, 2, 2};
  REQUIRE_OK(tconv_tensor_alloc(&t, 4, bs));
  init = tconv_initializer_default(TCONV_INIT_BILINEAR);
  CHECK_OK(tconv_initializer_fill(&init, &t, NULL));
  /* k = 4: f = 2, centre 1.5, taps 0.25 0.75 0.75 0.25 */
  const double tap[4] = {0.25, 0.75, 0.75, 0.25};
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++) {
      CHECK_NEAR(t.data[((y * 4 + x) * 2 + 1) * 2 + 1], tap[y] * tap[x], 1e-7);
      CHECK(t.data[((y * 4 + x) * 2 + 0) * 2 + 1] == 0);
    }
done:
  tconv_tensor_free(&t);
}

TEST(constraints_keras_semantics) {
  const size_t shape[4] = {1, 1, 2, 2};
  tconv_tensor t;
  REQUIRE_OK(tconv_tensor_alloc(&t, 4, shape));
  float v[4] = {3, 4, -6, 8}; /* (f=0,i=0)=3 (0,1)=4 (1,0)=-6 (1,1)=8 */
  memcpy(t.data, v, sizeof v);
  /* max_norm 2 over filters and input axes (mask 4|8): norm of all four = sqrt(125) */
  tconv_constraint c = tconv_constraint_default(TCONV_CONSTRAINT_MAX_NORM);
  c.axis_mask = 4 | 8;
  CHECK_OK(tconv_constraint_apply(&c, &t));
  CHECK_NEAR(t.data[0], 3 * 2 / (1e-7 + sqrt(125.0)), 1e-6);
  /* unit_norm over axis 3 (input channels): rows (3,4) and (-6,8) */
  memcpy(t.data, v, sizeof v);
  c = tconv_constraint_default(TCONV_CONSTRAINT_UNIT_NORM);
  c.axis_mask = 8;
  CHECK_OK(tconv_constraint_apply(&c, &t));
  CHECK_NEAR(t.data[0], 0.6, 1e-6);
  CHECK_NEAR(t.data[3], 0.8, 1e-6);
  /* min_max_norm: min 7, max 8, rate 0.5 over axis 2 (filters): columns (3,-6) with norm
   * 6.7 (raised toward 7) and (4,8) with norm 8.9 (lowered toward 8) */
  memcpy(t.data, v, sizeof v);
  c = tconv_constraint_default(TCONV_CONSTRAINT_MIN_MAX_NORM);
  c.min_value = 7;
  c.max_value = 8;
  c.rate = 0.5;
  c.axis_mask = 4;
  CHECK_OK(tconv_constraint_apply(&c, &t));
  double n0 = sqrt(45.0), d0 = 0.5 * 7 + 0.5 * n0;
  CHECK_NEAR(t.data[0], 3 * d0 / (1e-7 + n0), 1e-5);
  double n1 = sqrt(80.0), d1 = 0.5 * 8 + 0.5 * n1;
  CHECK_NEAR(t.data[3], 8 * d1 / (1e-7 + n1), 1e-5);
  /* non_neg */
  memcpy(t.data, v, sizeof v);
  c = tconv_constraint_default(TCONV_CONSTRAINT_NON_NEG);
  CHECK_OK(tconv_constraint_apply(&c, &t));
  CHECK(t.data[2] == 0 && t.data[3] == 8);
  c = tconv_constraint_default(TCONV_CONSTRAINT_MAX_NORM);
  c.axis_mask = 16; /* axis 4 on a rank-4 tensor */
  CHECK_STATUS(tconv_constraint_apply(&c, &t), TCONV_INVALID_ARGUMENT);
done:
  tconv_tensor_free(&t);
}

TEST(regularizer_values) {
  float w[3] = {1, -2, 3};
  tconv_regularizer r = {TCONV_REG_L1, 0.5, 0};
  CHECK_NEAR(tconv_regularizer_loss(&r, w, 3), 3.0, 1e-12);
  r = (tconv_regularizer){TCONV_REG_L2, 0, 0.1};
  CHECK_NEAR(tconv_regularizer_loss(&r, w, 3), 1.4, 1e-12);
  r = (tconv_regularizer){TCONV_REG_L1_L2, 0.01, 0.01};
  CHECK_NEAR(tconv_regularizer_loss(&r, w, 3), 0.06 + 0.14, 1e-12);
  r = (tconv_regularizer){TCONV_REG_NONE, 1, 1};
  CHECK(tconv_regularizer_loss(&r, w, 3) == 0);
}
