/* The seed's second use, as the TF snippet it mirrors:
 *
 *     image = tf.image.decode_png(tf.io.read_file('photo.png'))[None] / 255   # [1, 224, 224, 3]
 *     up = tf.layers.Conv2DTranspose(filters=3, kernel_size=(3, 3), strides=(2, 2),
 *                                    padding='same', kernel_initializer=bilinear)(image)
 *     # -> [1, 448, 448, 3]
 *
 * with the public API only: tconv_image_load, a Conv2DTranspose layer whose kernel is
 * TCONV_INIT_BILINEAR (channel c -> channel c), tconv_image_save.  One addition the text lacks:
 * the input is edge-replicated by one pixel before the layer and the output cropped by two
 * (one input pixel times the stride) after it, because the layer's zero padding darkens the
 * first row and column.  The program prints both first-row brightnesses to show it.
 *
 *     build/examples/use2_upscale [IN.png|jpg] [OUT.png]
 * (defaults: data/photos/astronaut_224.png, use2_upscaled.png).  `tconv upsample` does the same
 * with a learned filter (see README.md here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

static double row_mean(const float *img, size_t w, size_t c, size_t row) {
  double s = 0;
  for (size_t i = 0; i < w * c; i++) s += img[row * w * c + i];
  return s / (double)(w * c);
}

int main(int argc, char **argv) {
  const char *in_path = argc > 1 ? argv[1] : "data/photos/astronaut_224.png";
  const char *out_path = argc > 2 ? argv[2] : "use2_upscaled.png";
  tconv_image in, out;
  memset(&out, 0, sizeof out);
  if (tconv_image_load(in_path, &in) != TCONV_OK) {
    fprintf(stderr, "use2: %s\n", tconv_last_error());
    return 1;
  }
  const size_t c = in.channels, h = in.height, w = in.width, s = 2, pad = 1;

  tconv_config cfg = tconv_config_default();
  cfg.filters = (int64_t)c;                     /* filters = channels */
  cfg.kernel_size[0] = cfg.kernel_size[1] = 3;  /* the text's 3x3 */
  cfg.strides[0] = cfg.strides[1] = (int64_t)s; /* 2x */
  cfg.padding = TCONV_PADDING_SAME;
  cfg.kernel_initializer.kind = TCONV_INIT_BILINEAR;

  tconv_store *vars = tconv_store_create();
  tconv_layer *layer = NULL;
  size_t ph = h + 2 * pad, pw = w + 2 * pad;
  float *x = malloc(ph * pw * c * sizeof(float));
  float *y = malloc(ph * s * pw * s * c * sizeof(float));
  float *naive = malloc(h * s * w * s * c * sizeof(float));
  int rc = 1;
  size_t shape[4] = {1, h, w, c}, pshape[4] = {1, ph, pw, c}, out_shape[4], pout[4];
  if (!vars || !x || !y || !naive || tconv_layer_create(&cfg, &layer) != TCONV_OK ||
      tconv_layer_build(layer, vars, c) != TCONV_OK ||
      tconv_layer_reshape(layer, shape, out_shape) != TCONV_OK ||
      tconv_layer_forward(layer, in.data, naive, NULL) != TCONV_OK)
    goto fail;
  /* Edge-replicated input: the border pixels repeated once around the image. */
  for (size_t r = 0; r < ph; r++)
    for (size_t q = 0; q < pw; q++) {
      size_t yy = r == 0 ? 0 : r - 1 >= h ? h - 1 : r - 1, xx = q == 0 ? 0 : q - 1 >= w ? w - 1 : q - 1;
      memcpy(x + (r * pw + q) * c, in.data + (yy * w + xx) * c, c * sizeof(float));
    }
  if (tconv_layer_reshape(layer, pshape, pout) != TCONV_OK ||
      tconv_layer_forward(layer, x, y, NULL) != TCONV_OK ||
      tconv_image_alloc(&out, w * s, h * s, c, in.bit_depth) != TCONV_OK)
    goto fail;
  for (size_t r = 0; r < h * s; r++) /* crop pad * s from every side */
    memcpy(out.data + r * w * s * c, y + ((r + pad * s) * pw * s + pad * s) * c,
           w * s * c * sizeof(float));
  if (tconv_image_save(out_path, &out) != TCONV_OK) goto fail;

  printf("use 2: Conv2DTranspose(filters=%zu, kernel_size=3, strides=2, padding='same'), "
         "bilinear kernel\n", c);
  printf("  input  shape: (%zu, %zu, %zu, %zu)  %s\n", shape[0], shape[1], shape[2], shape[3],
         in_path);
  printf("  output shape: (%zu, %zu, %zu, %zu)  %s\n", out_shape[0], out_shape[1], out_shape[2],
         out_shape[3], out_path);
  printf("  first-row mean: input %.3f, naive layer %.3f (zero padding), edge-replicated %.3f\n",
         row_mean(in.data, w, c, 0), row_mean(naive, w * s, c, 0), row_mean(out.data, w * s, c, 0));
  rc = 0;
fail:
  if (rc) fprintf(stderr, "use2: %s\n", tconv_last_error());
  free(x);
  free(y);
  free(naive);
  tconv_image_free(&in);
  tconv_image_free(&out);
  tconv_layer_destroy(layer);
  tconv_store_destroy(vars);
  return rc;
}
