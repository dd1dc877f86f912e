/* Use 3: a small MNIST super-resolution model made of Conv2DTranspose layers only.
 *
 *   14x14x1 -> [Conv2DTranspose(F, 3, strides=1, 'same', relu)] x (depth - 1)
 *           -> Conv2DTranspose(1, 3, strides=2, 'same')            (the text's layer) -> 28x28x1
 *
 * The stride-1 layers matter: alone, the text's 3x3 stride-2 'same' layer gives output (2i+1,
 * 2j+1) from input (i, j) only; after them, the feature at (i, j) already describes its
 * neighbourhood.  Layers are named as Keras names them (conv2d_transpose, conv2d_transpose_1,
 * ...), so the checkpoint's variables read like a Keras model's: conv2d_transpose/kernel, ... */
#include "models/models.h"
#include "models/rng.h"

#include "core/internal.h"
#include "io/formats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MNIST_MAX_DEPTH 8

struct tconv_mnist_model {
  size_t filters, depth;
  tconv_store *vars;
  tconv_layer *layers[MNIST_MAX_DEPTH];
};

static void layer_name(size_t i, char *buf, size_t n) {
  if (i == 0) snprintf(buf, n, "conv2d_transpose");
  else snprintf(buf, n, "conv2d_transpose_%zu", i);
}

tconv_status tconv_mnist_model_create(size_t filters, size_t depth, uint64_t seed,
                                      tconv_mnist_model **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "tconv_mnist_model_create: NULL output");
  *out = NULL;
  RETURN_IF(depth < 1 || depth > MNIST_MAX_DEPTH, TCONV_INVALID_ARGUMENT,
            "depth must be 1..%d layers, got %zu", MNIST_MAX_DEPTH, depth);
  RETURN_IF(filters < 1 || filters > 256, TCONV_INVALID_ARGUMENT,
            "filters must be 1..256, got %zu", filters);
  tconv_mnist_model *m = tconv_alloc_zeroed(sizeof *m);
  RETURN_IF(m == NULL, TCONV_OUT_OF_MEMORY, "mnist model: out of memory");
  m->filters = filters;
  m->depth = depth;
  m->vars = tconv_store_create();
  tconv_status st = m->vars ? TCONV_OK : tconv_error(TCONV_OUT_OF_MEMORY, "out of memory");
  size_t in_c = 1;
  for (size_t i = 0; st == TCONV_OK && i < depth; i++) {
    char name[32];
    layer_name(i, name, sizeof name);
    bool last = i + 1 == depth;
    tconv_config cfg = tconv_config_default();
    cfg.filters = last ? 1 : (int64_t)filters;
    cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
    cfg.strides[0] = cfg.strides[1] = last ? 2 : 1;
    cfg.padding = TCONV_PADDING_SAME;
    cfg.activation = last ? TCONV_ACT_LINEAR : TCONV_ACT_RELU;
    cfg.kernel_initializer.seed = seed + i; /* glorot_uniform, reproducible */
    cfg.name = name;
    st = tconv_layer_create(&cfg, &m->layers[i]);
    if (st == TCONV_OK) st = tconv_layer_build(m->layers[i], m->vars, in_c);
    in_c = (size_t)cfg.filters;
  }
  if (st != TCONV_OK) {
    tconv_mnist_model_destroy(m);
    return st;
  }
  *out = m;
  return TCONV_OK;
}

void tconv_mnist_model_destroy(tconv_mnist_model *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < MNIST_MAX_DEPTH; i++) tconv_layer_destroy(m->layers[i]);
  tconv_store_destroy(m->vars);
  tconv_dealloc(m);
}

size_t tconv_mnist_model_filters(const tconv_mnist_model *m) { return m->filters; }
size_t tconv_mnist_model_depth(const tconv_mnist_model *m) { return m->depth; }

tconv_status tconv_mnist_model_save(tconv_mnist_model *m, const char *path) {
  RETURN_IF(m == NULL || path == NULL, TCONV_INVALID_ARGUMENT, "tconv_mnist_model_save: NULL");
  char *meta = NULL;
  RETURN_IF_ERROR(tconv_checkpoint_metadata(m->layers, m->depth, &meta));
  tconv_status st = tconv_checkpoint_save(m->vars, path, meta);
  tconv_string_free(meta);
  return st;
}

tconv_status tconv_mnist_model_restore(const char *path, tconv_mnist_model **out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "tconv_mnist_model_restore: NULL");
  *out = NULL;
  /* The architecture from the tensor shapes: conv2d_transpose[_i]/kernel (3, 3, out, in). */
  tconv_weights w;
  RETURN_IF_ERROR(tconv_weights_load_ex(path, TCONV_LOAD_NO_DATA, &w));
  size_t depth = 0, filters = 0;
  tconv_status st = TCONV_OK;
  for (size_t i = 0; i < MNIST_MAX_DEPTH; i++) {
    char name[48];
    layer_name(i, name, sizeof name);
    strcat(name, "/kernel");
    const tconv_named_tensor *k = tconv_weights_find(&w, name);
    if (k == NULL) break;
    if (k->value.rank != 4 || k->value.shape[0] != 3 || k->value.shape[1] != 3) {
      st = tconv_error(TCONV_SHAPE_MISMATCH, "%s: %s is not a 3x3 kernel", path, name);
      break;
    }
    if (i == 0) filters = k->value.shape[2];
    depth++;
  }
  tconv_weights_free(&w);
  RETURN_IF_ERROR(st);
  RETURN_IF(depth == 0, TCONV_NOT_FOUND, "%s: no conv2d_transpose/kernel: not an MNIST model "
                                         "checkpoint from `tconv mnist train`", path);
  if (depth == 1) filters = 1;
  tconv_mnist_model *m = NULL;
  RETURN_IF_ERROR(tconv_mnist_model_create(filters, depth, 1, &m));
  st = tconv_checkpoint_restore(m->vars, path);
  if (st != TCONV_OK) {
    tconv_mnist_model_destroy(m);
    return st;
  }
  *out = m;
  return TCONV_OK;
}

/* Reshapes every layer for n images of h x w and returns the largest activation size. */
static tconv_status model_reshape(tconv_mnist_model *m, size_t n, size_t h, size_t w,
                                  size_t *max_elems) {
  size_t shape[4] = {n, h, w, 1}, out[4];
  *max_elems = n * h * w;
  for (size_t i = 0; i < m->depth; i++) {
    RETURN_IF_ERROR(tconv_layer_reshape(m->layers[i], shape, out));
    size_t e = out[0] * out[1] * out[2] * out[3];
    if (e > *max_elems) *max_elems = e;
    memcpy(shape, out, sizeof shape);
  }
  return TCONV_OK;
}

tconv_status tconv_mnist_model_predict(tconv_mnist_model *m, const float *in, size_t n, size_t h,
                                       size_t w, float *out, tconv_threadpool *pool) {
  RETURN_IF(m == NULL || in == NULL || out == NULL, TCONV_INVALID_ARGUMENT,
            "tconv_mnist_model_predict: NULL argument");
  if (n == 0) return TCONV_OK;
  size_t max_elems;
  RETURN_IF_ERROR(model_reshape(m, n, h, w, &max_elems));
  float *a = tconv_alloc(max_elems * sizeof(float)), *b = tconv_alloc(max_elems * sizeof(float));
  tconv_status st = a && b ? TCONV_OK : tconv_error(TCONV_OUT_OF_MEMORY, "predict: out of memory");
  const float *src = in;
  for (size_t i = 0; st == TCONV_OK && i < m->depth; i++) {
    float *dst = i + 1 == m->depth ? out : (i % 2 ? b : a);
    st = tconv_layer_forward(m->layers[i], src, dst, pool);
    src = dst;
  }
  tconv_dealloc(a);
  tconv_dealloc(b);
  return st;
}

tconv_mnist_train_options tconv_mnist_train_defaults(void) {
  tconv_mnist_train_options o = {.epochs = 3, .batch = 32, .learning_rate = 2e-3, .seed = 1};
  return o;
}

tconv_status tconv_mnist_model_train(tconv_mnist_model *m, const float *digits, size_t n,
                                     const tconv_mnist_train_options *opt, double *epoch_loss,
                                     tconv_threadpool *pool) {
  RETURN_IF(m == NULL || digits == NULL || opt == NULL, TCONV_INVALID_ARGUMENT,
            "tconv_mnist_model_train: NULL argument");
  const size_t B = opt->batch;
  RETURN_IF(B == 0 || opt->epochs == 0, TCONV_INVALID_ARGUMENT, "epochs and batch must be > 0");
  RETURN_IF(n < B, TCONV_INVALID_ARGUMENT, "%zu digits, fewer than one batch of %zu", n, B);
  const size_t D = m->depth, batches = n / B, total = batches * opt->epochs;
  size_t max_elems;
  RETURN_IF_ERROR(model_reshape(m, B, 14, 14, &max_elems));
  /* acts[0] the input, acts[i + 1] layer i's output; grads[i] = d loss / d acts[i]. */
  float *acts[MNIST_MAX_DEPTH + 1] = {0}, *dacts[MNIST_MAX_DEPTH + 1] = {0};
  float *target = NULL;
  size_t *order = NULL;
  tconv_layer_grads grads[MNIST_MAX_DEPTH];
  memset(grads, 0, sizeof grads);
  tconv_optimizer *adam = NULL;
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  oc.learning_rate = opt->learning_rate;
  tconv_status st = tconv_optimizer_create(&oc, m->vars, &adam);
  for (size_t i = 0; st == TCONV_OK && i <= D; i++) {
    acts[i] = tconv_alloc(max_elems * sizeof(float));
    dacts[i] = tconv_alloc(max_elems * sizeof(float));
    if (!acts[i] || !dacts[i]) st = tconv_error(TCONV_OUT_OF_MEMORY, "training: out of memory");
    if (st == TCONV_OK && i < D) st = tconv_layer_grads_alloc(m->layers[i], &grads[i]);
  }
  if (st == TCONV_OK) {
    target = tconv_alloc(B * 784 * sizeof(float));
    order = tconv_alloc(n * sizeof(size_t));
    if (!target || !order) st = tconv_error(TCONV_OUT_OF_MEMORY, "training: out of memory");
  }
  uint64_t rng = opt->seed;
  for (size_t i = 0; order && i < n; i++) order[i] = i;
  size_t done = 0;
  double running = 0;
  for (size_t e = 0; st == TCONV_OK && e < opt->epochs; e++) {
    for (size_t i = n - 1; i > 0; i--) { /* a fresh shuffle each epoch */
      size_t j = tconv_models_rng_next(&rng) % (i + 1), t = order[i];
      order[i] = order[j], order[j] = t;
    }
    double sum = 0;
    for (size_t bi = 0; st == TCONV_OK && bi < batches; bi++) {
      for (size_t k = 0; k < B; k++) {
        const float *d = digits + order[bi * B + k] * 784;
        memcpy(target + k * 784, d, 784 * sizeof(float));
        tconv_resample_box_down(d, 28, 28, 1, 2, acts[0] + k * 196);
      }
      for (size_t i = 0; st == TCONV_OK && i < D; i++)
        st = tconv_layer_forward(m->layers[i], acts[i], acts[i + 1], pool);
      double loss = 0;
      if (st == TCONV_OK) st = tconv_loss(TCONV_LOSS_MSE, acts[D], target, B * 784, &loss, dacts[D]);
      for (size_t i = D; st == TCONV_OK && i-- > 0;)
        st = tconv_layer_backward(m->layers[i], acts[i], acts[i + 1], dacts[i + 1],
                                  i ? dacts[i] : NULL, &grads[i], pool);
      if (st == TCONV_OK) st = tconv_optimizer_step(adam, m->layers, grads, D);
      sum += loss;
      running = done == 0 ? loss : 0.98 * running + 0.02 * loss;
      done++;
      if (opt->progress) opt->progress(opt->progress_ctx, done, total, running);
    }
    if (epoch_loss) epoch_loss[e] = sum / (double)batches;
  }
  for (size_t i = 0; i <= D; i++) {
    tconv_dealloc(acts[i]);
    tconv_dealloc(dacts[i]);
    if (i < D) tconv_layer_grads_free(&grads[i]);
  }
  tconv_dealloc(target);
  tconv_dealloc(order);
  tconv_optimizer_destroy(adam);
  return st;
}

tconv_status tconv_mnist_load(const char *dir, const char *stem, tconv_tensor *images) {
  RETURN_IF(dir == NULL || stem == NULL || images == NULL, TCONV_INVALID_ARGUMENT,
            "tconv_mnist_load: NULL argument");
  char path[4096];
  uint8_t type = 0;
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, stem);
  tconv_status st = tconv_idx_load(path, images, &type);
  if (st == TCONV_IO_ERROR) { /* no .gz: the uncompressed name */
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, stem);
    st = tconv_idx_load(path, images, &type);
    if (st == TCONV_IO_ERROR)
      return tconv_error_context(TCONV_NOT_FOUND, "%s/%s-images-idx3-ubyte[.gz]", dir, stem);
  }
  RETURN_IF_ERROR(st);
  if (images->rank != 3 || images->shape[1] != 28 || images->shape[2] != 28 || type != 0x08) {
    tconv_tensor_free(images);
    return tconv_error(TCONV_SHAPE_MISMATCH, "%s: expected (N, 28, 28) unsigned bytes", path);
  }
  size_t n = tconv_tensor_numel(images);
  for (size_t i = 0; i < n; i++) images->data[i] /= 255.0f;
  return TCONV_OK;
}
