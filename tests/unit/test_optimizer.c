/* Optimizers against Keras's update rules written out by hand, loss helpers against their
 * formulas and finite differences, and a small training run that learns a known kernel. */
#include <stdlib.h>

#include "test.h"

/* A store with one trainable 1-D variable "w" holding v[0..n); NULL when out of memory. */
static tconv_store *store_with(const float *v, size_t n, tconv_tensor **w) {
  tconv_store *s = tconv_store_create();
  const size_t shape[1] = {n};
  if (tconv_store_add(s, "w", 1, shape, true, w) != TCONV_OK) {
    tconv_store_destroy(s);
    return NULL;
  }
  memcpy((*w)->data, v, n * sizeof(float));
  return s;
}

TEST(optimizer_adam_first_step_by_hand) {
  /* t = 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(1 - 0.999) / (1 - 0.9);
   * w = 1, g = 0.5, lr = 0.001: update = 0.001 * 0.316227766 * 0.05 / (0.0158113883 + 1e-7)
   *   = 0.000999993675, so w becomes 0.999000006325. */
  tconv_tensor *w;
  const float w0[1] = {1.0f}, g[1] = {0.5f};
  tconv_optimizer *o = NULL;
  tconv_store *s = store_with(w0, 1, &w);
  REQUIRE(s != NULL);
  tconv_optimizer_config c = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  CHECK(c.learning_rate == 0.001 && c.beta_1 == 0.9 && c.beta_2 == 0.999 && c.epsilon == 1e-7);
  REQUIRE_OK(tconv_optimizer_create(&c, s, &o));
  const char *names[1] = {"w"};
  const float *grads[1] = {g};
  CHECK(tconv_optimizer_iterations(o) == 0);
  REQUIRE_OK(tconv_optimizer_apply(o, names, grads, 1));
  CHECK_NEAR(w->data[0], 0.999000006325, 1e-7);
  CHECK_NEAR(tconv_store_find(s, "w/Adam/m")->data[0], 0.05, 1e-9);
  CHECK_NEAR(tconv_store_find(s, "w/Adam/v")->data[0], 0.00025, 1e-10);
  CHECK(tconv_store_find(s, "Adam/iterations")->data[0] == 1.0f);
  CHECK(tconv_optimizer_iterations(o) == 1);
done:
  tconv_optimizer_destroy(o);
  tconv_store_destroy(s);
}

/* Three steps of each optimizer on a 3-element tensor with changing gradients, against the
 * Keras formulas evaluated here in double. */
static void run_steps(tconv_optimizer_config c, double *w_expect, const char *const *slots) {
  const float w0[3] = {1.0f, -2.0f, 0.25f};
  const float gs[3][3] = {{0.5f, -1.0f, 0.0f}, {0.25f, 2.0f, -0.125f}, {-0.75f, 0.5f, 1.0f}};
  tconv_tensor *w;
  tconv_optimizer *o = NULL;
  for (int i = 0; i < 3; i++) w_expect[i] = w0[i];
  tconv_store *s = store_with(w0, 3, &w);
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_optimizer_create(&c, s, &o));
  double m[3] = {0}, v[3] = {0}, a[3] = {0}, vh[3] = {0};
  for (int t = 1; t <= 3; t++) {
    const char *names[1] = {"w"};
    const float *grads[1] = {gs[t - 1]};
    REQUIRE_OK(tconv_optimizer_apply(o, names, grads, 1));
    for (int i = 0; i < 3; i++) {
      const double g = gs[t - 1][i], lr = c.learning_rate;
      if (c.kind == TCONV_OPT_SGD) {
        if (c.momentum == 0) {
          w_expect[i] -= lr * g;
        } else {
          m[i] = c.momentum * m[i] - lr * g;
          w_expect[i] += c.nesterov ? c.momentum * m[i] - lr * g : m[i];
        }
      } else if (c.kind == TCONV_OPT_ADAM) {
        m[i] = c.beta_1 * m[i] + (1 - c.beta_1) * g;
        v[i] = c.beta_2 * v[i] + (1 - c.beta_2) * g * g;
        vh[i] = vh[i] > v[i] ? vh[i] : v[i];
        double alpha = lr * sqrt(1 - pow(c.beta_2, t)) / (1 - pow(c.beta_1, t));
        w_expect[i] -= alpha * m[i] / (sqrt(c.amsgrad ? vh[i] : v[i]) + c.epsilon);
      } else {
        v[i] = c.rho * v[i] + (1 - c.rho) * g * g;
        double den = v[i] + c.epsilon;
        if (c.centered) {
          a[i] = c.rho * a[i] + (1 - c.rho) * g;
          den = v[i] - a[i] * a[i] + c.epsilon;
        }
        double inc = lr * g / sqrt(den);
        if (c.momentum > 0) {
          m[i] = c.momentum * m[i] + inc;
          inc = m[i];
        }
        w_expect[i] -= inc;
      }
    }
    for (int i = 0; i < 3; i++)
      CHECK_MSG(fabs(w->data[i] - w_expect[i]) <= 1e-6 * (1 + fabs(w_expect[i])),
                "kind %d step %d w[%d] = %.9g expected %.9g", (int)c.kind, t, i, w->data[i],
                w_expect[i]);
  }
  for (const char *const *sl = slots; *sl; sl++)
    CHECK_MSG(tconv_store_find(s, *sl) != NULL, "slot %s missing", *sl);
  CHECK(tconv_optimizer_iterations(o) == 3);
done:
  tconv_optimizer_destroy(o);
  tconv_store_destroy(s);
}

TEST(optimizer_updates_match_keras_formulas) {
  double w[3];
  tconv_optimizer_config c = tconv_optimizer_config_default(TCONV_OPT_SGD);
  CHECK(c.learning_rate == 0.01 && c.momentum == 0 && !c.nesterov);
  const char *none[] = {"SGD/iterations", NULL};
  run_steps(c, w, none);
  /* plain SGD by hand: w0 - 0.01 * (g1 + g2 + g3) */
  CHECK_NEAR(w[0], 1.0 - 0.01 * (0.5 + 0.25 - 0.75), 1e-12);
  c.momentum = 0.9;
  const char *sgd_m[] = {"w/SGD/momentum", NULL};
  run_steps(c, w, sgd_m);
  /* momentum by hand, element 0: m1 = -0.005, m2 = -0.0045 - 0.0025 = -0.007,
   * m3 = -0.0063 + 0.0075 = 0.0012; w = 1 - 0.005 - 0.007 + 0.0012 = 0.9892 */
  CHECK_NEAR(w[0], 0.9892, 1e-12);
  c.nesterov = true;
  run_steps(c, w, sgd_m);
  c = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  const char *adam[] = {"w/Adam/m", "w/Adam/v", "Adam/iterations", NULL};
  run_steps(c, w, adam);
  c.amsgrad = true;
  c.learning_rate = 0.01;
  const char *ams[] = {"w/Adam/vhat", NULL};
  run_steps(c, w, ams);
  c = tconv_optimizer_config_default(TCONV_OPT_RMSPROP);
  CHECK(c.learning_rate == 0.001 && c.rho == 0.9 && c.momentum == 0 && c.epsilon == 1e-7);
  const char *rms[] = {"w/RMSprop/velocity", NULL};
  run_steps(c, w, rms);
  /* RMSprop step 1 by hand, element 1: v = 0.1 * 1 = 0.1, w = -2 + 0.001 / sqrt(0.1 + 1e-7) */
  c.momentum = 0.5;
  c.centered = true;
  const char *rms2[] = {"w/RMSprop/momentum", "w/RMSprop/average_gradient", NULL};
  run_steps(c, w, rms2);
}

TEST(optimizer_rmsprop_first_step_by_hand) {
  tconv_tensor *w;
  const float w0[1] = {-2.0f}, g[1] = {-1.0f};
  tconv_optimizer *o = NULL;
  tconv_store *s = store_with(w0, 1, &w);
  REQUIRE(s != NULL);
  tconv_optimizer_config c = tconv_optimizer_config_default(TCONV_OPT_RMSPROP);
  REQUIRE_OK(tconv_optimizer_create(&c, s, &o));
  const char *names[1] = {"w"};
  const float *grads[1] = {g};
  CHECK_OK(tconv_optimizer_apply(o, names, grads, 1));
  /* v = 0.1; w = -2 - 0.001 * (-1) / sqrt(0.1 + 1e-7) = -2 + 0.0031622761 */
  CHECK_NEAR(w->data[0], -1.9968377239, 2e-7);
done:
  tconv_optimizer_destroy(o);
  tconv_store_destroy(s);
}

TEST(optimizer_errors) {
  tconv_tensor *w;
  const float w0[2] = {1, 2}, g[2] = {1, 1};
  tconv_optimizer *o = NULL;
  tconv_store *s = store_with(w0, 2, &w);
  REQUIRE(s != NULL);
  const size_t one[1] = {2};
  REQUIRE_OK(tconv_store_add(s, "frozen", 1, one, false, NULL));
  tconv_optimizer_config c = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  c.beta_1 = 1.0;
  CHECK_STATUS(tconv_optimizer_create(&c, s, &o), TCONV_INVALID_ARGUMENT);
  c = tconv_optimizer_config_default(TCONV_OPT_SGD);
  c.learning_rate = -1;
  CHECK_STATUS(tconv_optimizer_create(&c, s, &o), TCONV_INVALID_ARGUMENT);
  c.learning_rate = 0.1;
  c.momentum = 1.5;
  CHECK_STATUS(tconv_optimizer_create(&c, s, &o), TCONV_INVALID_ARGUMENT);
  c = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  CHECK_STATUS(tconv_optimizer_create(&c, NULL, &o), TCONV_INVALID_ARGUMENT);
  REQUIRE_OK(tconv_optimizer_create(&c, s, &o));
  const float *grads[2] = {g, g};
  const char *missing[1] = {"nope"}, *frozen[1] = {"frozen"}, *twice[2] = {"w", "w"};
  CHECK_STATUS(tconv_optimizer_apply(o, missing, grads, 1), TCONV_NOT_FOUND);
  CHECK_STATUS(tconv_optimizer_apply(o, frozen, grads, 1), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_optimizer_apply(o, twice, grads, 2), TCONV_INVALID_ARGUMENT);
  CHECK(w->data[0] == 1 && w->data[1] == 2); /* nothing changed */
  CHECK(tconv_store_find(s, "w/Adam/m") == NULL);
  /* a slot of the wrong shape (e.g. restored from another model) */
  const size_t three[1] = {3};
  REQUIRE_OK(tconv_store_add(s, "w/Adam/m", 1, three, false, NULL));
  const char *wn[1] = {"w"};
  CHECK_STATUS(tconv_optimizer_apply(o, wn, grads, 1), TCONV_SHAPE_MISMATCH);
  CHECK(tconv_optimizer_iterations(o) == 0);
done:
  tconv_optimizer_destroy(o);
  tconv_store_destroy(s);
}

/* ---- losses --------------------------------------------------------------------------------- */

TEST(loss_values_and_gradients) {
  const float p[4] = {0.2f, 0.9f, 0.0f, 1.0f}, t[4] = {0.0f, 1.0f, 1.0f, 0.0f};
  double L;
  float g[4];
  CHECK_OK(tconv_loss(TCONV_LOSS_MSE, p, t, 4, &L, g));
  /* (0.04 + 0.01 + 1 + 1) / 4 */
  CHECK_NEAR(L, (0.2 * 0.2 + 0.1 * 0.1 + 1 + 1) / 4, 1e-7);
  CHECK_NEAR(g[0], 2 * 0.2 / 4, 1e-7);
  CHECK_NEAR(g[2], 2 * -1.0 / 4, 1e-7);
  CHECK_OK(tconv_loss(TCONV_LOSS_BINARY_CROSSENTROPY, p, t, 4, &L, g));
  /* tf.keras: clip to [1e-7, 1 - 1e-7], then -log(p + 1e-7) etc.  p = 0 with t = 1 gives
   * -log(2e-7); p = 1 with t = 0 gives -log(1 - (1 - 1e-7) + 1e-7) = -log(2e-7). */
  double e = -log(1 - 0.2 + 1e-7) - log(0.9 + 1e-7) - 2 * log(2e-7);
  CHECK_NEAR(L, e / 4, 1e-5);
  CHECK(g[2] == 0.0f && g[3] == 0.0f); /* clipped: no gradient, as TF's clip_by_value */
  CHECK_NEAR(g[0], (1.0 / (1 - 0.2 + 1e-7)) / 4, 1e-6);
  const float z[3] = {-30.0f, 0.0f, 2.0f}, tz[3] = {1.0f, 0.5f, 0.0f};
  CHECK_OK(tconv_loss(TCONV_LOSS_BCE_FROM_LOGITS, z, tz, 3, &L, g));
  e = (30 + log1p(exp(-30.0))) + log(2.0) + (2 + log1p(exp(-2.0)));
  CHECK_NEAR(L, e / 3, 1e-6);
  CHECK_NEAR(g[1], 0.0, 1e-9);
  CHECK_NEAR(g[2], (1 / (1 + exp(-2.0))) / 3, 1e-7);
  /* gradients against central differences */
  const float q[3] = {0.3f, 0.6f, -0.4f}, tq[3] = {0.0f, 1.0f, 0.5f};
  for (int kind = 0; kind < 3; kind++) {
    float qq[3];
    memcpy(qq, q, sizeof qq);
    if (kind == 1) qq[2] = 0.45f; /* probabilities */
    CHECK_OK(tconv_loss((tconv_loss_kind)kind, qq, tq, 3, &L, g));
    for (int i = 0; i < 3; i++) {
      float a[3], b[3];
      memcpy(a, qq, sizeof a), memcpy(b, qq, sizeof b);
      a[i] += 1e-3f, b[i] -= 1e-3f;
      double la, lb;
      tconv_loss((tconv_loss_kind)kind, a, tq, 3, &la, NULL);
      tconv_loss((tconv_loss_kind)kind, b, tq, 3, &lb, NULL);
      CHECK_NEAR(g[i], (la - lb) / ((double)a[i] - b[i]), 2e-4);
    }
  }
  CHECK_STATUS(tconv_loss(TCONV_LOSS_MSE, p, t, 0, &L, g), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_loss(TCONV_LOSS_MSE, NULL, t, 4, &L, g), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_loss((tconv_loss_kind)9, p, t, 4, &L, g), TCONV_INVALID_ARGUMENT);
}

/* ---- training --------------------------------------------------------------------------------- */

/* A student layer learns a teacher's kernel and bias from random inputs with MSE and Adam:
 * the loss must fall by a factor of 1000 and the kernel must approach the teacher's. */
TEST(training_learns_a_known_kernel) {
  unsigned long long rng = 99;
  tconv_config c = tconv_config_default();
  c.filters = 3;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  c.name = "student";
  c.kernel_initializer.seed = 5;
  tconv_layer *l = NULL;
  tconv_layer_grads grads = {0};
  tconv_optimizer *o = NULL;
  float *x = NULL, *y = NULL, *target = NULL, *dy = NULL;
  tconv_store *s = tconv_store_create();
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_layer_create(&c, &l));
  REQUIRE_OK(tconv_layer_build(l, s, 2));
  const size_t in[4] = {4, 5, 5, 2};
  size_t out[4];
  REQUIRE_OK(tconv_layer_reshape(l, in, out));
  const size_t xn = 4 * 5 * 5 * 2, yn = out[0] * out[1] * out[2] * out[3];
  float teacher_k[3 * 3 * 3 * 2], teacher_b[3];
  for (size_t i = 0; i < 54; i++) teacher_k[i] = test_rand_float(&rng);
  for (size_t i = 0; i < 3; i++) teacher_b[i] = test_rand_float(&rng);
  const tconv_geometry *g = tconv_layer_geometry(l);
  x = malloc(xn * 4), y = malloc(yn * 4), target = malloc(yn * 4), dy = malloc(yn * 4);
  REQUIRE(x && y && target && dy);
  REQUIRE_OK(tconv_layer_grads_alloc(l, &grads));
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  oc.learning_rate = 0.05;
  REQUIRE_OK(tconv_optimizer_create(&oc, s, &o));
  double first = 0, last = 0;
  for (int step = 0; step < 300; step++) {
    for (size_t i = 0; i < xn; i++) x[i] = test_rand_float(&rng);
    REQUIRE_OK(tconv_forward(g, x, teacher_k, teacher_b, NULL, target, NULL));
    REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
    double loss;
    REQUIRE_OK(tconv_loss(TCONV_LOSS_MSE, y, target, yn, &loss, dy));
    REQUIRE_OK(tconv_layer_backward(l, x, y, dy, NULL, &grads, NULL));
    REQUIRE_OK(tconv_optimizer_step(o, &l, &grads, 1));
    if (step == 0) first = loss;
    last = loss;
  }
  CHECK_MSG(last < first * 1e-3, "loss %g -> %g", first, last);
  double err = 0;
  for (size_t i = 0; i < 54; i++) err = fmax(err, fabs(tconv_layer_kernel(l)->data[i] - teacher_k[i]));
  CHECK_MSG(err < 0.05, "kernel error %g", err);
  CHECK(tconv_optimizer_iterations(o) == 300);
  CHECK(tconv_store_find(s, "student/kernel/Adam/m") != NULL);
  CHECK(tconv_store_find(s, "student/bias/Adam/v") != NULL);
done:
  tconv_layer_grads_free(&grads);
  tconv_optimizer_destroy(o);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
  free(x), free(y), free(target), free(dy);
}

/* Constraints are applied after each update; frozen layers are neither differentiated nor
 * updated; layers on another store are refused. */
TEST(training_step_constraints_and_frozen_layers) {
  tconv_config c = tconv_config_default();
  c.filters = 2;
  c.kernel_size[0] = c.kernel_size[1] = 2;
  c.name = "nn";
  c.kernel_constraint = tconv_constraint_default(TCONV_CONSTRAINT_NON_NEG);
  tconv_layer *l = NULL, *frozen = NULL;
  tconv_layer_grads g[2] = {0};
  tconv_optimizer *o = NULL, *o2 = NULL;
  tconv_store *other = NULL;
  tconv_store *s = tconv_store_create();
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_layer_create(&c, &l));
  REQUIRE_OK(tconv_layer_build(l, s, 1));
  c.name = "frozen";
  c.trainable = false;
  c.kernel_constraint = tconv_constraint_default(TCONV_CONSTRAINT_NONE);
  REQUIRE_OK(tconv_layer_create(&c, &frozen));
  REQUIRE_OK(tconv_layer_build(frozen, s, 1));
  REQUIRE_OK(tconv_layer_grads_alloc(l, &g[0]));
  REQUIRE_OK(tconv_layer_grads_alloc(frozen, &g[1]));
  for (size_t i = 0; i < 8; i++) g[0].kernel.data[i] = g[1].kernel.data[i] = 100.0f;
  float before[8];
  memcpy(before, tconv_layer_kernel(frozen)->data, sizeof before);
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_SGD);
  oc.learning_rate = 1.0; /* pushes every weight far below 0 */
  REQUIRE_OK(tconv_optimizer_create(&oc, s, &o));
  tconv_layer *ls[2] = {l, frozen};
  CHECK_OK(tconv_optimizer_step(o, ls, g, 2));
  for (size_t i = 0; i < 8; i++) CHECK(tconv_layer_kernel(l)->data[i] == 0.0f); /* non_neg */
  CHECK(memcmp(before, tconv_layer_kernel(frozen)->data, sizeof before) == 0);
  other = tconv_store_create();
  REQUIRE(other != NULL);
  REQUIRE_OK(tconv_optimizer_create(&oc, other, &o2));
  CHECK_STATUS(tconv_optimizer_step(o2, ls, g, 1), TCONV_INVALID_ARGUMENT);
  tconv_layer_grads bad = {0};
  CHECK_STATUS(tconv_optimizer_step(o, ls, &bad, 1), TCONV_INVALID_ARGUMENT);
done:
  tconv_optimizer_destroy(o2);
  tconv_store_destroy(other);
  tconv_layer_grads_free(&g[0]);
  tconv_layer_grads_free(&g[1]);
  tconv_optimizer_destroy(o);
  tconv_layer_destroy(l);
  tconv_layer_destroy(frozen);
  tconv_store_destroy(s);
}
