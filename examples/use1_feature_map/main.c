/* The seed's first use, as the TF snippet it mirrors:
 *
 *     inputs = tf.placeholder(tf.float32, [None, 28, 28, 1])
 *     output = tf.layers.Conv2DTranspose(filters=32, kernel_size=(3, 3), strides=(2, 2),
 *                                        padding='same')(inputs)          # -> [None, 56, 56, 32]
 *
 * A 28x28x1 feature map (a fixed, seeded pattern standing in for the placeholder's feed) goes
 * through the layer with Keras's default initializers; the program prints the shapes and a
 * checksum of the output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tconv.h"

int main(void) {
  tconv_config cfg = tconv_config_default(); /* Keras defaults: glorot_uniform kernel, zero bias */
  cfg.filters = 32;
  cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
  cfg.strides[0] = cfg.strides[1] = 2;
  cfg.padding = TCONV_PADDING_SAME;
  cfg.kernel_initializer.seed = 1; /* reproducible run to run */

  tconv_store *vars = tconv_store_create();
  tconv_layer *layer = NULL;
  const size_t in_shape[4] = {1, 28, 28, 1};
  size_t out_shape[4];
  float *x = malloc(28 * 28 * sizeof(float)), *y = NULL;
  int rc = 1;
  if (vars == NULL || x == NULL) goto done;
  for (int i = 0; i < 28 * 28; i++) x[i] = (float)sin(0.1 * i); /* the fed feature map */

  if (tconv_layer_create(&cfg, &layer) != TCONV_OK ||
      tconv_layer_build(layer, vars, in_shape[3]) != TCONV_OK ||
      tconv_layer_reshape(layer, in_shape, out_shape) != TCONV_OK) {
    fprintf(stderr, "use1: %s\n", tconv_last_error());
    goto done;
  }
  size_t n = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
  y = malloc(n * sizeof(float));
  if (y == NULL || tconv_layer_forward(layer, x, y, NULL) != TCONV_OK) {
    fprintf(stderr, "use1: %s\n", tconv_last_error());
    goto done;
  }
  double sum = 0, abs_sum = 0;
  for (size_t i = 0; i < n; i++) {
    sum += y[i];
    abs_sum += fabs(y[i]);
  }
  printf("use 1: Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding='same')\n");
  printf("  input  shape: (%zu, %zu, %zu, %zu)\n", in_shape[0], in_shape[1], in_shape[2],
         in_shape[3]);
  printf("  kernel shape: (3, 3, 32, 1)  variables: %s/kernel, %s/bias\n", tconv_layer_name(layer),
         tconv_layer_name(layer));
  printf("  output shape: (%zu, %zu, %zu, %zu)\n", out_shape[0], out_shape[1], out_shape[2],
         out_shape[3]);
  printf("  checksum: sum %.6f, sum|y| %.6f\n", sum, abs_sum);
  rc = 0;
done:
  free(x);
  free(y);
  tconv_layer_destroy(layer);
  tconv_store_destroy(vars);
  return rc;
}
