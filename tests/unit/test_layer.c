/* The layer object: lifecycle states, the variable store, names and reuse as TF scopes. */
#include <stdlib.h>

#include "test.h"

static tconv_config seed_config(void) {
  tconv_config c = tconv_config_default();
  c.filters = 32;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  return c;
}

TEST(layer_seed_use_end_to_end) {
  tconv_config c = seed_config();
  tconv_layer *l = NULL;
  float *x = NULL, *y = NULL;
  tconv_store *vars = tconv_store_create();
  REQUIRE(vars != NULL);
  REQUIRE_OK(tconv_layer_create(&c, &l));
  REQUIRE_OK(tconv_layer_build(l, vars, 1));
  CHECK(strcmp(tconv_layer_name(l), "conv2d_transpose") == 0);
  CHECK(tconv_store_find(vars, "conv2d_transpose/kernel") == tconv_layer_kernel(l));
  CHECK(tconv_store_find(vars, "conv2d_transpose/bias") == tconv_layer_bias(l));
  tconv_tensor *k = tconv_layer_kernel(l);
  CHECK(k->rank == 4 && k->shape[0] == 3 && k->shape[1] == 3 && k->shape[2] == 32 &&
        k->shape[3] == 1);
  const size_t in[4] = {1, 28, 28, 1};
  size_t out[4];
  REQUIRE_OK(tconv_layer_reshape(l, in, out));
  CHECK(out[0] == 1 && out[1] == 56 && out[2] == 56 && out[3] == 32);
  x = calloc(28 * 28, sizeof(float)), y = calloc(56 * 56 * 32, sizeof(float));
  REQUIRE(x != NULL && y != NULL);
  x[0] = 1.0f;
  REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
  /* One input pixel at (0,0): with SAME's crop of 0 at the top, y[0,0,:] = w[0,0,:,0] */
  for (int f = 0; f < 32; f++) CHECK(y[f] == k->data[f]);
  /* Weights changed through the store: the layer repacks and sees them. */
  k->data[0] = 42.0f;
  tconv_layer_weights_changed(l);
  CHECK_OK(tconv_layer_forward(l, x, y, NULL));
  CHECK(y[0] == 42.0f);
done:
  free(x);
  free(y);
  tconv_layer_destroy(l);
  tconv_store_destroy(vars);
}

TEST(layer_lifecycle_states) {
  tconv_config c = seed_config();
  tconv_store *vars = tconv_store_create();
  tconv_layer *l = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  const size_t in[4] = {1, 4, 4, 1};
  float x[16] = {0}, y[8 * 8 * 32];
  CHECK_STATUS(tconv_layer_reshape(l, in, NULL), TCONV_INVALID_STATE);
  CHECK_STATUS(tconv_layer_forward(l, x, y, NULL), TCONV_INVALID_STATE);
  CHECK_OK(tconv_layer_build(l, vars, 1));
  CHECK_STATUS(tconv_layer_build(l, vars, 1), TCONV_INVALID_STATE);
  CHECK_STATUS(tconv_layer_forward(l, x, y, NULL), TCONV_INVALID_STATE);
  const size_t wrong[4] = {1, 4, 4, 2};
  CHECK_STATUS(tconv_layer_reshape(l, wrong, NULL), TCONV_SHAPE_MISMATCH);
  CHECK_OK(tconv_layer_reshape(l, in, NULL));
  CHECK_OK(tconv_layer_forward(l, x, y, NULL));
  CHECK_STATUS(tconv_layer_forward(l, NULL, y, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_layer_create(&c, NULL), TCONV_INVALID_ARGUMENT);
  tconv_layer_destroy(l);
  tconv_layer_destroy(NULL);
  tconv_store_destroy(vars);
}

TEST(layer_names_and_reuse) {
  tconv_config c = seed_config();
  tconv_layer *a = NULL, *b = NULL, *d = NULL, *e = NULL, *f = NULL;
  tconv_store *vars = tconv_store_create();
  REQUIRE(vars != NULL);
  REQUIRE_OK(tconv_layer_create(&c, &a));
  REQUIRE_OK(tconv_layer_build(a, vars, 1));
  REQUIRE_OK(tconv_layer_create(&c, &b));
  REQUIRE_OK(tconv_layer_build(b, vars, 1));
  CHECK(strcmp(tconv_layer_name(b), "conv2d_transpose_1") == 0);
  /* an explicit name, then the same name again without reuse: an error, as in TF */
  c.name = "decoder";
  REQUIRE_OK(tconv_layer_create(&c, &d));
  REQUIRE_OK(tconv_layer_build(d, vars, 1));
  tconv_layer_destroy(d);
  d = NULL;
  REQUIRE_OK(tconv_layer_create(&c, &d));
  CHECK_STATUS(tconv_layer_build(d, vars, 1), TCONV_ALREADY_EXISTS);
  CHECK(strstr(tconv_last_error(), "decoder/kernel") != NULL);
  tconv_layer_destroy(d);
  d = NULL;
  /* reuse binds the same variables */
  c.reuse = true;
  REQUIRE_OK(tconv_layer_create(&c, &e));
  REQUIRE_OK(tconv_layer_build(e, vars, 1));
  CHECK(tconv_layer_kernel(e) == tconv_store_find(vars, "decoder/kernel"));
  /* reuse with another shape */
  REQUIRE_OK(tconv_layer_create(&c, &f));
  CHECK_STATUS(tconv_layer_build(f, vars, 3), TCONV_SHAPE_MISMATCH);
  tconv_layer_destroy(f);
  f = NULL;
  /* reuse of a missing name */
  c.name = "missing";
  REQUIRE_OK(tconv_layer_create(&c, &f));
  CHECK_STATUS(tconv_layer_build(f, vars, 1), TCONV_NOT_FOUND);
  tconv_layer_destroy(f);
  f = NULL;
  /* reuse without a name */
  c.name = NULL;
  CHECK_STATUS(tconv_layer_create(&c, &f), TCONV_INVALID_ARGUMENT);
  CHECK(tconv_store_count(vars) == 6);
  const char *name = NULL;
  bool trainable = false;
  CHECK(tconv_store_at(vars, 0, &name, &trainable) != NULL);
  CHECK(strcmp(name, "conv2d_transpose/kernel") == 0 && trainable);
  CHECK(tconv_store_at(vars, 6, NULL, NULL) == NULL);
  CHECK_STATUS(tconv_store_add(vars, "decoder/bias", 1, (size_t[]){3}, true, NULL),
               TCONV_ALREADY_EXISTS);
done:
  tconv_layer_destroy(f);
  tconv_layer_destroy(d);
  tconv_layer_destroy(a);
  tconv_layer_destroy(b);
  tconv_layer_destroy(e);
  tconv_store_destroy(vars);
}

TEST(layer_no_bias_and_not_trainable) {
  tconv_store *vars = tconv_store_create();
  tconv_config c = seed_config();
  c.use_bias = false;
  c.trainable = false;
  c.name = "frozen";
  tconv_layer *l = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  CHECK_OK(tconv_layer_build(l, vars, 2));
  CHECK(tconv_layer_bias(l) == NULL);
  CHECK(tconv_store_find(vars, "frozen/bias") == NULL);
  bool trainable = true;
  tconv_store_at(vars, 0, NULL, &trainable);
  CHECK(!trainable);
  tconv_layer_destroy(l);
  tconv_store_destroy(vars);
}

TEST(layer_regularizer_losses) {
  tconv_store *vars = tconv_store_create();
  tconv_config c = seed_config();
  c.filters = 2;
  c.kernel_initializer = tconv_initializer_default(TCONV_INIT_CONSTANT);
  c.kernel_initializer.value = -0.5;
  c.bias_initializer = tconv_initializer_default(TCONV_INIT_ONES);
  c.kernel_regularizer = (tconv_regularizer){TCONV_REG_L1_L2, 0.01, 0.02};
  c.bias_regularizer = (tconv_regularizer){TCONV_REG_L2, 0, 0.5};
  c.activity_regularizer = (tconv_regularizer){TCONV_REG_L1, 0.1, 0};
  tconv_layer *l = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  CHECK_OK(tconv_layer_build(l, vars, 1));
  /* kernel: 18 values of -0.5: 0.01*9 + 0.02*4.5; bias: 2 ones: 0.5*2 */
  CHECK_NEAR(tconv_layer_weight_loss(l), 0.09 + 0.09 + 1.0, 1e-9);
  const size_t in[4] = {2, 1, 1, 1};
  CHECK_OK(tconv_layer_reshape(l, in, NULL));
  float x[2] = {1, 2}, y[2 * 2 * 2 * 2];
  CHECK_OK(tconv_layer_forward(l, x, y, NULL));
  double s = 0;
  for (int i = 0; i < 16; i++) s += fabs(y[i]);
  CHECK_NEAR(tconv_layer_activity_loss(l, y), 0.1 * s / 2, 1e-6); /* divided by the batch */
  tconv_layer_destroy(l);
  tconv_store_destroy(vars);
}

TEST(layer_bias_with_more_inputs_than_outputs) {
  /* A17: bias indexed by output channel only, in > out channels */
  tconv_store *vars = tconv_store_create();
  tconv_config c = seed_config();
  c.filters = 2;
  c.bias_initializer = tconv_initializer_default(TCONV_INIT_CONSTANT);
  c.bias_initializer.value = 3;
  tconv_layer *l = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  CHECK_OK(tconv_layer_build(l, vars, 7));
  const size_t in[4] = {1, 3, 3, 7};
  size_t out[4];
  CHECK_OK(tconv_layer_reshape(l, in, out));
  float *x = calloc(63, sizeof(float)), *y = calloc(6 * 6 * 2, sizeof(float));
  CHECK_OK(tconv_layer_forward(l, x, y, NULL));
  int ok = 1;
  for (int i = 0; i < 72; i++) ok &= y[i] == 3.0f;
  CHECK(ok);
  free(x);
  free(y);
  tconv_layer_destroy(l);
  tconv_store_destroy(vars);
}

TEST(status_strings_are_distinct) {
  CHECK(strcmp(tconv_status_string(TCONV_OK), "ok") == 0);
  CHECK(strcmp(tconv_status_string((tconv_status)999), "unknown status") == 0);
  for (int a = 0; a <= TCONV_SHAPE_MISMATCH; a++)
    for (int b = a + 1; b <= TCONV_SHAPE_MISMATCH; b++)
      CHECK(strcmp(tconv_status_string((tconv_status)a), tconv_status_string((tconv_status)b)));
  CHECK(strcmp(tconv_version(), TCONV_VERSION_STRING) == 0);
}
