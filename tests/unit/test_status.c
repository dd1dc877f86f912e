/* Every status code is reached through the public API, and every allocation failing in turn
 * during a whole layer lifecycle returns OUT_OF_MEMORY with nothing leaked. */
#include <stdlib.h>

#include "test.h"

TEST(status_every_code_is_reached) {
  tconv_store *vars = tconv_store_create();
  tconv_config c = tconv_config_default();
  c.filters = 2;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  tconv_layer *l = NULL;
  tconv_tensor t = {0};
  CHECK_OK(tconv_layer_create(&c, &l));                                          /* OK */
  CHECK_STATUS(tconv_layer_reshape(l, (size_t[]){1, 2, 2, 1}, NULL), TCONV_INVALID_STATE);
  CHECK_STATUS(tconv_layer_build(l, vars, 0), TCONV_INVALID_ARGUMENT);
  CHECK_OK(tconv_layer_build(l, vars, 1));
  CHECK_STATUS(tconv_layer_reshape(l, (size_t[]){1, 2, 2, 3}, NULL), TCONV_SHAPE_MISMATCH);
  CHECK_STATUS(tconv_store_add(vars, "conv2d_transpose/kernel", 1, (size_t[]){1}, true, NULL),
               TCONV_ALREADY_EXISTS);
  c.name = "absent";
  c.reuse = true;
  tconv_layer *r = NULL;
  CHECK_OK(tconv_layer_create(&c, &r));
  CHECK_STATUS(tconv_layer_build(r, vars, 1), TCONV_NOT_FOUND);
  tconv_layer_destroy(r);
  CHECK_STATUS(tconv_tensor_alloc(&t, 2, (size_t[]){1u << 31, 1u << 31}), TCONV_LIMIT_EXCEEDED);
  CHECK_STATUS(tconv_npy_load("/nonexistent/x.npy", &t), TCONV_IO_ERROR);
  CHECK_STATUS(tconv_npy_parse("\x93NUMPY\x01\x00\x02", 9, &t), TCONV_BAD_FILE);
  CHECK_STATUS(tconv_set_kernel_path("no-such-path"), TCONV_INVALID_ARGUMENT);
  /* UNSUPPORTED: a big-endian .npy */
  static const char hdr[] = "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }";
  unsigned char buf[128];
  size_t hl = sizeof hdr - 1, total = 10 + hl + 1;
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = (unsigned char)(hl + 1);
  buf[9] = 0;
  memcpy(buf + 10, hdr, hl);
  buf[10 + hl] = '\n';
  memset(buf + total, 0, 4);
  CHECK_STATUS(tconv_npy_parse(buf, total + 4, &t), TCONV_UNSUPPORTED);
  CHECK(strstr(tconv_last_error(), "endian") != NULL);
  tconv_tensor_free(&t);
  tconv_layer_destroy(l);
  tconv_store_destroy(vars);
}

/* The whole lifecycle; returns the first failing status. */
static tconv_status lifecycle(void) {
  tconv_status st = TCONV_OUT_OF_MEMORY;
  tconv_store *vars = tconv_store_create();
  tconv_layer *a = NULL, *b = NULL;
  float x[2 * 5 * 5 * 3], y[2 * 10 * 10 * 4];
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)i;
  if (vars == NULL) goto done;
  tconv_config c = tconv_config_default();
  c.filters = 4;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  c.kernel_initializer = tconv_initializer_default(TCONV_INIT_ORTHOGONAL);
  if ((st = tconv_layer_create(&c, &a)) != TCONV_OK) goto done;
  if ((st = tconv_layer_build(a, vars, 3)) != TCONV_OK) goto done;
  if ((st = tconv_layer_create(&c, &b)) != TCONV_OK) goto done;
  if ((st = tconv_layer_build(b, vars, 3)) != TCONV_OK) goto done;
  size_t out[4];
  if ((st = tconv_layer_reshape(a, (size_t[]){2, 5, 5, 3}, out)) != TCONV_OK) goto done;
  if ((st = tconv_layer_forward(a, x, y, NULL)) != TCONV_OK) goto done;
  tconv_layer_weights_changed(a);
  st = tconv_layer_forward(a, x, y, NULL);
done:
  tconv_layer_destroy(a);
  tconv_layer_destroy(b);
  tconv_store_destroy(vars);
  return st;
}

TEST(status_allocation_failures_in_turn) {
  tconv_set_allocator(test_failing_malloc, test_counting_free, NULL);
  test_alloc_countdown = -1;
  test_live_blocks = 0;
  CHECK_OK(lifecycle());
  CHECK(test_live_blocks == 0);
  int failures = 0;
  for (long k = 0; k < 400; k++) {
    test_alloc_countdown = k;
    test_live_blocks = 0;
    tconv_status st = lifecycle();
    CHECK_MSG(test_live_blocks == 0, "allocation %ld failing leaked %ld blocks", k, test_live_blocks);
    if (st == TCONV_OK) break; /* past the last allocation */
    CHECK_MSG(st == TCONV_OUT_OF_MEMORY, "allocation %ld failing gave %s", k,
              tconv_status_string(st));
    failures++;
  }
  CHECK(failures > 5);
  tconv_set_allocator(NULL, NULL, NULL);
}
