/* The seed's third use — restoring trained parameters from a TF checkpoint and running them:
 *
 *     saver = tf.train.Saver()
 *     saver.restore(sess, './model.ckpt')
 *     image = sess.run(decoded, feed_dict={z: sample})
 *
 * with a real TF-written checkpoint: the generative net of TensorFlow's "Convolutional VAE"
 * tutorial, saved by tf.train.Checkpoint (object-based keys; the Keras names come from the
 * checkpoint's object graph):
 *
 *     Dense(7*7*32, relu) -> Reshape(7, 7, 32)
 *     -> Conv2DTranspose(64, 3, strides=2, padding='same', activation='relu')   14x14x64
 *     -> Conv2DTranspose(32, 3, strides=2, padding='same', activation='relu')   28x28x32
 *     -> Conv2DTranspose(1, 3, strides=1, padding='same')                       28x28x1 logits
 *
 * The three Conv2DTranspose layers are tconv layers (auto-named conv2d_transpose, _1, _2 as Keras
 * named them); the Dense layer is a plain loop here.  One call restores all eight variables.
 *
 *     restore_tf_checkpoint [CKPT] [--z v1,v2,...] [--out image.npy] [--quiet]
 *
 * CKPT defaults to ../shared/testdata/tf-ckpt/cvae-init-object-graph (a directory with a
 * `checkpoint` state file).  z defaults to a fixed seeded latent vector of 50 values.  The
 * output (the sigmoid of the logits, shape [1, 28, 28, 1]) is printed as ASCII art and, with
 * --out, saved as .npy.  tests/oracle/test_restore_tf.py checks it against an independent
 * float64 NumPy computation that reads the checkpoint with its own reader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

#define LATENT 50
#define UNITS (7 * 7 * 32)

static int fail(const char *what) {
  fprintf(stderr, "restore_tf_checkpoint: %s: %s\n", what, tconv_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *ckpt = "../shared/testdata/tf-ckpt/cvae-init-object-graph", *out_path = NULL;
  const char *z_text = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--z") && i + 1 < argc) z_text = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
    else if (!strcmp(argv[i], "--quiet")) quiet = 1;
    else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: restore_tf_checkpoint [CKPT] [--z v1,...,v50] [--out F.npy] [--quiet]\n");
      return 2;
    } else ckpt = argv[i];
  }
  float z[LATENT];
  unsigned long long s = 12345;
  for (int i = 0; i < LATENT; i++) { /* a fixed pseudo-random latent in [-1, 1) */
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    z[i] = (float)((s >> 40) * (2.0 / 16777216.0) - 1.0);
  }
  if (z_text) {
    const char *p = z_text;
    for (int i = 0; i < LATENT; i++) {
      char *end;
      z[i] = strtof(p, &end);
      if (end == p) {
        fprintf(stderr, "restore_tf_checkpoint: --z needs %d comma-separated numbers\n", LATENT);
        return 2;
      }
      p = *end == ',' ? end + 1 : end;
    }
  }

  /* The graph: variables are made by the layers' build (and two by hand for the Dense). */
  tconv_store *vars = tconv_store_create();
  tconv_layer *layers[3] = {NULL, NULL, NULL};
  const int64_t filters[3] = {64, 32, 1}, strides[3] = {2, 2, 1};
  const tconv_activation_kind acts[3] = {TCONV_ACT_RELU, TCONV_ACT_RELU, TCONV_ACT_LINEAR};
  const size_t in_c[3] = {32, 64, 32};
  size_t shape[4] = {1, 7, 7, 32};
  tconv_tensor *dk = NULL, *db = NULL;
  const size_t dks[2] = {LATENT, UNITS}, dbs[1] = {UNITS};
  if (vars == NULL) return fail("store");
  if (tconv_store_add(vars, "dense_1/kernel", 2, dks, true, &dk) != TCONV_OK ||
      tconv_store_add(vars, "dense_1/bias", 1, dbs, true, &db) != TCONV_OK)
    return fail("dense variables");
  for (int l = 0; l < 3; l++) {
    tconv_config cfg = tconv_config_default();
    cfg.filters = filters[l];
    cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
    cfg.strides[0] = cfg.strides[1] = strides[l];
    cfg.padding = TCONV_PADDING_SAME;
    cfg.activation = acts[l];
    if (tconv_layer_create(&cfg, &layers[l]) != TCONV_OK ||
        tconv_layer_build(layers[l], vars, in_c[l]) != TCONV_OK)
      return fail("layer");
  }

  /* saver.restore(sess, ckpt) */
  size_t restored = 0;
  if (tconv_store_restore_file(vars, ckpt, NULL, &restored) != TCONV_OK) return fail("restore");
  for (int l = 0; l < 3; l++) tconv_layer_weights_changed(layers[l]);
  if (!quiet) fprintf(stderr, "restored %zu variables from %s\n", restored, ckpt);

  /* Dense + relu, then the three transposed convolutions. */
  float *x = malloc(UNITS * sizeof(float));
  if (x == NULL) return 1;
  for (int u = 0; u < UNITS; u++) {
    double acc = db->data[u];
    for (int i = 0; i < LATENT; i++) acc += (double)z[i] * dk->data[(size_t)i * UNITS + u];
    x[u] = acc > 0 ? (float)acc : 0.0f;
  }
  for (int l = 0; l < 3; l++) {
    size_t out_shape[4];
    if (tconv_layer_reshape(layers[l], shape, out_shape) != TCONV_OK) return fail("reshape");
    size_t n = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
    float *y = malloc(n * sizeof(float));
    if (y == NULL) return 1;
    if (tconv_layer_forward(layers[l], x, y, NULL) != TCONV_OK) return fail("forward");
    if (!quiet)
      fprintf(stderr, "%s: [%zu, %zu, %zu, %zu] -> [%zu, %zu, %zu, %zu]\n",
              tconv_layer_name(layers[l]), shape[0], shape[1], shape[2], shape[3], out_shape[0],
              out_shape[1], out_shape[2], out_shape[3]);
    free(x);
    x = y;
    memcpy(shape, out_shape, sizeof shape);
  }
  size_t n = shape[1] * shape[2];
  for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + expf(-x[i])); /* sigmoid: pixel values */

  if (!quiet) { /* "view" the 28x28 image */
    const char *ramp = " .:-=+*#%@";
    for (size_t r = 0; r < shape[1]; r++) {
      for (size_t c = 0; c < shape[2]; c++) {
        int k = (int)(x[r * shape[2] + c] * 9.999f);
        putchar(ramp[k < 0 ? 0 : k > 9 ? 9 : k]);
        putchar(ramp[k < 0 ? 0 : k > 9 ? 9 : k]);
      }
      putchar('\n');
    }
  }
  if (out_path) {
    tconv_tensor t = {.rank = 4, .shape = {shape[0], shape[1], shape[2], shape[3]}, .data = x};
    if (tconv_npy_save(out_path, &t) != TCONV_OK) return fail("save");
  }
  free(x);
  for (int l = 0; l < 3; l++) tconv_layer_destroy(layers[l]);
  tconv_store_destroy(vars);
  return 0;
}
