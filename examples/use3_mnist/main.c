/* The seed's third use, as the TF snippet it mirrors:
 *
 *     x = tf.placeholder(tf.float32, [None, 28, 28, 1])
 *     h = ...Conv2DTranspose(32, 3, strides=1, padding='same', activation='relu') x 2 ...
 *     y = tf.layers.Conv2DTranspose(filters=1, kernel_size=3, strides=2, padding='same')(h)
 *     saver.restore(sess, './model.ckpt')            # trained parameters
 *     out = sess.run(y, {x: digit})                  # one 28x28 digit -> 56x56
 *
 * with the public API only.  The checkpoint is one `tconv mnist train` wrote (make run leaves
 * build/out/mnist_sr.safetensors); its tensor shapes say how many layers and filters to build,
 * tconv_checkpoint_restore fills them (all-or-nothing, shapes checked), one digit of the bundled
 * MNIST test set (tconv_idx_load) goes through, and the 56x56 result is written as a PNG and
 * printed as ASCII art.
 *
 *     build/examples/use3_mnist [CKPT] [INDEX] [OUT.png]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

#define MAX_LAYERS 8

int main(int argc, char **argv) {
  const char *ckpt = argc > 1 ? argv[1] : "build/out/mnist_sr.safetensors";
  size_t index = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 0;
  const char *out_path = argc > 3 ? argv[3] : "use3_digit_56x56.png";
  tconv_store *vars = tconv_store_create();
  tconv_layer *layers[MAX_LAYERS] = {0};
  tconv_weights w;
  tconv_tensor digits = {0};
  float *a = NULL, *b = NULL;
  size_t depth = 0;
  int rc = 1;
  /* The architecture from the checkpoint: conv2d_transpose[_i]/kernel (3, 3, out, in). */
  if (tconv_weights_load_ex(ckpt, TCONV_LOAD_NO_DATA, &w) != TCONV_OK) goto fail;
  const tconv_named_tensor *kernels[MAX_LAYERS];
  for (; depth < MAX_LAYERS; depth++) {
    char name[64];
    if (depth == 0) snprintf(name, sizeof name, "conv2d_transpose/kernel");
    else snprintf(name, sizeof name, "conv2d_transpose_%zu/kernel", depth);
    if ((kernels[depth] = tconv_weights_find(&w, name)) == NULL) break;
  }
  for (size_t i = 0; i < depth; i++) { /* stride-1 relu layers, then the text's stride-2 layer */
    bool last = i + 1 == depth;
    tconv_config cfg = tconv_config_default();
    cfg.filters = (int64_t)kernels[i]->value.shape[2];
    cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
    cfg.strides[0] = cfg.strides[1] = last ? 2 : 1;
    cfg.padding = TCONV_PADDING_SAME;
    cfg.activation = last ? TCONV_ACT_LINEAR : TCONV_ACT_RELU;
    if (tconv_layer_create(&cfg, &layers[i]) != TCONV_OK ||
        tconv_layer_build(layers[i], vars, kernels[i]->value.shape[3]) != TCONV_OK)
      depth = 0;
  }
  tconv_weights_free(&w);
  if (depth == 0 || tconv_checkpoint_restore(vars, ckpt) != TCONV_OK) goto fail; /* saver.restore */

  if (tconv_idx_load("data/mnist/t10k-images-idx3-ubyte.gz", &digits, NULL) != TCONV_OK) goto fail;
  if (index >= digits.shape[0]) index = 0;
  size_t widest = 1; /* the largest activation: 28 x 28 x filters */
  for (size_t i = 0; i < depth; i++)
    if (tconv_layer_kernel(layers[i])->shape[2] > widest) widest = tconv_layer_kernel(layers[i])->shape[2];
  a = malloc(56 * 56 * widest * sizeof(float)), b = malloc(56 * 56 * widest * sizeof(float));
  if (!a || !b) goto fail;
  for (size_t i = 0; i < 784; i++) a[i] = digits.data[index * 784 + i] / 255.0f;
  size_t shape[4] = {1, 28, 28, 1}, out[4];
  for (size_t i = 0; i < depth; i++) { /* the 28x28 digit through every layer */
    if (tconv_layer_reshape(layers[i], shape, out) != TCONV_OK ||
        tconv_layer_forward(layers[i], a, b, NULL) != TCONV_OK)
      goto fail;
    float *t = a;
    a = b, b = t;
    memcpy(shape, out, sizeof shape);
  }
  tconv_image img = {56, 56, 1, 8, a};
  if (tconv_image_save(out_path, &img) != TCONV_OK) goto fail;
  printf("use 3: restored %zu Conv2DTranspose layers from %s\n", depth, ckpt);
  printf("  digit %zu: input (1, 28, 28, 1) -> output (%zu, %zu, %zu, %zu) -> %s\n", index, out[0],
         out[1], out[2], out[3], out_path);
  for (size_t r = 0; r < 56; r += 2) { /* every other row: characters are twice as tall */
    for (size_t q = 0; q < 56; q++) {
      float v = a[r * 56 + q];
      putchar(" .:-=+*#%@"[v <= 0 ? 0 : v >= 1 ? 9 : (int)(v * 9.99f)]);
    }
    putchar('\n');
  }
  rc = 0;
fail:
  if (rc) fprintf(stderr, "use3: %s\n", tconv_last_error());
  free(a);
  free(b);
  tconv_tensor_free(&digits);
  for (size_t i = 0; i < MAX_LAYERS; i++) tconv_layer_destroy(layers[i]);
  tconv_store_destroy(vars);
  return rc;
}
