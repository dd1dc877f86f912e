/* A program built against an installed tconv, by pkg-config or by CMake's find_package(tconv):
 * the seed's first use, a 28x28x1 input through Conv2DTranspose(filters=32, kernel_size=3,
 * strides=2, padding='same'), which gives 56x56x32.  Input and kernel are all ones and the bias
 * zeros, so every output value counts the (input, tap) pairs that reach it: tests/cli/install.sh
 * checks the printed numbers against that count.
 *   cc main.c $(pkg-config --cflags --libs tconv)      (see CMakeLists.txt for CMake) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tconv.h>

static int fail(const char *what) {
  fprintf(stderr, "consumer: %s: %s\n", what, tconv_last_error());
  return 1;
}

int main(void) {
  /* The header this program was compiled with and the library it runs with must agree. */
  if (strcmp(tconv_version(), TCONV_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: header %s but library %s\n", TCONV_VERSION_STRING, tconv_version());
    return 1;
  }
  tconv_config cfg = tconv_config_default();
  cfg.filters = 32;
  cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
  cfg.strides[0] = cfg.strides[1] = 2;
  cfg.padding = TCONV_PADDING_SAME;
  cfg.kernel_initializer = tconv_initializer_default(TCONV_INIT_ONES);

  int rc = 1;
  tconv_store *vars = tconv_store_create();
  tconv_layer *layer = NULL;
  float *x = NULL, *y = NULL;
  size_t in_shape[4] = {1, 28, 28, 1}, out_shape[4];
  if (vars == NULL) return fail("store");
  if (tconv_layer_create(&cfg, &layer) != TCONV_OK) goto done;
  if (tconv_layer_build(layer, vars, 1) != TCONV_OK) goto done;
  if (tconv_layer_reshape(layer, in_shape, out_shape) != TCONV_OK) goto done;
  size_t nx = 28 * 28, ny = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
  x = malloc(nx * sizeof *x);
  y = malloc(ny * sizeof *y);
  if (x == NULL || y == NULL) goto done;
  for (size_t i = 0; i < nx; i++) x[i] = 1.0f;
  if (tconv_layer_forward(layer, x, y, NULL) != TCONV_OK) goto done;
  double sum = 0;
  for (size_t i = 0; i < ny; i++) sum += y[i];
  /* NHWC: y[n][h][w][c]. */
  size_t w = out_shape[2], c = out_shape[3];
  printf("tconv %s: (%zu, %zu, %zu, %zu) -> (%zu, %zu, %zu, %zu) sum %.0f y[0,0,0,0] %.0f "
         "y[0,1,1,5] %.0f y[0,2,2,31] %.0f y[0,55,55,0] %.0f\n",
         tconv_version(), in_shape[0], in_shape[1], in_shape[2], in_shape[3], out_shape[0],
         out_shape[1], out_shape[2], out_shape[3], sum, y[0], y[(1 * w + 1) * c + 5],
         y[(2 * w + 2) * c + 31], y[(55 * w + 55) * c]);
  rc = 0;
done:
  if (rc != 0) fail("layer");
  free(x);
  free(y);
  tconv_layer_destroy(layer);
  tconv_store_destroy(vars);
  return rc;
}
