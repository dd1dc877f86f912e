/* Fuzz target: layer configuration, shape validation, forward and backward.
 *
 * The bytes are decoded into every argument a caller controls — the front end (Keras, tf.nn with
 * an output shape, the core form, PyTorch's ConvTranspose2d arguments), filters, kernel size,
 * strides, dilation, pads, output_padding, adjust, groups, data format, activation, bias, an input
 * shape and an optional explicit kernel shape — with small values most of the time and, on
 * escape bytes, the hostile ones (negative, zero, 2^31, 2^63-scale).
 *
 * Oracle:
 *   - tconv_geometry_compute never crashes; when it accepts, tconv_geometry_check agrees and a
 *     layer built from the same config reshapes to the same output shape (one validator for every
 *     entry point);
 *   - when the tensors are tiny, tconv_forward on every kernel path (reference, scalar, auto; one
 *     thread and a 2-thread pool) matches the reference gather kernel within a tolerance scaled by
 *     sum |x||w| + |b|, multi-threaded runs are bitwise equal to single-threaded ones, and the layer
 *     forward agrees too;
 *   - tconv_backward (dx, dkernel, dbias) on every path matches the reference backward.
 * Any disagreement calls abort() so libFuzzer reports the input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"
#include "kernels/ref/ref.h"

/* Work caps for running kernels on an accepted geometry: the reference is O(outputs * taps). */
#define FUZZ_MAX_ELEMS 4096u
#define FUZZ_MAX_WORK 200000u

typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t take_u8(reader *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static uint64_t take_u64(reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | take_u8(r);
  return v;
}

/* A value that is small (0..max) for most bytes and hostile for the top eight. */
static int64_t take_val(reader *r, int max) {
  uint8_t b = take_u8(r);
  switch (b) {
  case 0xF8: return -1;
  case 0xF9: return INT64_MIN;
  case 0xFA: return INT64_MAX;
  case 0xFB: return 2147483647;             /* 2^31 - 1: the default max_dim */
  case 0xFC: return 2147483648ll;           /* just above it */
  case 0xFD: return (int64_t)1 << 32 | 1;   /* wraps to 1 if narrowed to 32 bits */
  case 0xFE: return 65536;                  /* squares to 2^32 */
  case 0xFF: return (int64_t)take_u64(r);
  default: return b % (max + 1);
  }
}

/* Deterministic values in [-1, 1) from a seed (splitmix64), so runs are reproducible. */
static float rand_float(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)((double)(z >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}

static void fill(float *v, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) v[i] = rand_float(s);
}

static void fail(const char *what, size_t i, double got, double want, double tol) {
  fprintf(stderr, "fuzz_layer: %s mismatch at %zu: %.9g vs reference %.9g (tol %.3g)\n", what, i,
          got, want, tol);
  abort();
}

/* |got - want| <= tol * (mag + tiny) elementwise; NaN anywhere counts as a mismatch. */
static void compare(const char *what, const float *got, const float *want, const float *mag,
                    const float *slope, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double tol = 2e-5 * ((double)mag[i] + 1e-6) * (slope ? 1.0 + fabs((double)slope[i]) : 1.0);
    if (got[i] == want[i]) continue; /* also equal infinities from an overflowing activation */
    double diff = fabs((double)got[i] - (double)want[i]);
    if (!(diff <= tol)) fail(what, i, got[i], want[i], tol);
  }
}

static tconv_threadpool *shared_pool(void) {
  static tconv_threadpool *pool;
  static int tried;
  if (!tried) {
    tried = 1;
    if (tconv_threadpool_create(2, &pool) != TCONV_OK) pool = NULL;
  }
  return pool;
}

/* FUZZ_LAYER_SKIP_KNOWN=1 in the environment skips inputs that hit findings already reported in
 * fuzz/FINDINGS.md, so a long campaign looks for new ones; without it every finding aborts. */
static int skip_known_findings(void) {
  static int v = -1;
  if (v < 0) v = getenv("FUZZ_LAYER_SKIP_KNOWN") != NULL;
  return v;
}
/* FINDINGS.md layer-1: tconv_geometry_compute accepts crops above max_dim (a dilated kernel
 * longer than 2^31 - 1 under SAME padding) that tconv_geometry_check rejects. */
static int known_finding_1(const tconv_geometry *g) {
  const uint64_t max = tconv_get_limits().max_dim;
  return g->pad_top > max || g->pad_bottom > max || g->pad_left > max || g->pad_right > max ||
         g->adjust_h > max || g->adjust_w > max;
}

static const char *const kernel_paths[] = {"reference", "scalar", "auto"};

typedef struct bufs {
  float *x, *k, *b, *ax, *ak, *ab, *ref, *mag, *slope, *y, *y1;
  float *dz, *adz, *dx, *dk, *db, *rdx, *rdk, *rdb, *mdx, *mdk, *mdb;
} bufs;

static void bufs_free(bufs *B) {
  float **p = (float **)B;
  for (size_t i = 0; i < sizeof *B / sizeof(float *); i++) free(p[i]);
}

/* Runs forward and backward on every path against the reference; returns nothing, aborts on a
 * mismatch. */
static void run_kernels(const tconv_config *cfg, const tconv_geometry *g, uint64_t seed) {
  const size_t xn = g->batch * g->in_h * g->in_w * g->in_c;
  const size_t yn = g->batch * g->out_h * g->out_w * g->out_c;
  const size_t kn = g->kernel_h * g->kernel_w * (g->out_c / g->groups) * g->in_c;
  const size_t oc = g->out_c;
  bufs B;
  float **all = (float **)&B;
  const size_t sizes[] = {xn, kn, oc, xn, kn, oc, yn, yn, yn, yn, yn,
                          yn, yn, xn, kn, oc, xn, kn, oc, xn, kn, oc};
  _Static_assert(sizeof sizes / sizeof sizes[0] == sizeof(bufs) / sizeof(float *), "bufs");
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) all[i] = malloc((sizes[i] + 1) * 4);
  fill(B.x, xn, &seed);
  fill(B.k, kn, &seed);
  fill(B.b, oc, &seed);
  fill(B.dz, yn, &seed);
  for (size_t i = 0; i < xn; i++) B.ax[i] = fabsf(B.x[i]);
  for (size_t i = 0; i < kn; i++) B.ak[i] = fabsf(B.k[i]);
  for (size_t i = 0; i < oc; i++) B.ab[i] = fabsf(B.b[i]);
  for (size_t i = 0; i < yn; i++) B.adz[i] = fabsf(B.dz[i]);
  const float *bias = cfg->use_bias ? B.b : NULL;
  tconv_activation act = tconv_config_activation(cfg);

  /* Reference forward, then the activation and its local slope (for the tolerance). */
  tconv_ref_forward_gather(g, B.x, B.k, bias, B.ref);
  tconv_ref_forward_gather(g, B.ax, B.ak, cfg->use_bias ? B.ab : NULL, B.mag);
  for (size_t i = 0; i < yn; i++) B.slope[i] = B.ref[i];
  tconv_activation_apply(&act, B.ref, yn);
  for (size_t i = 0; i < yn; i++) {
    B.slope[i] = tconv_activation_derivative(&act, B.slope[i], B.ref[i]);
    if (!isfinite(B.ref[i])) B.mag[i] = INFINITY; /* overflowed activation (exponential) */
  }
  /* Reference backward and magnitudes. */
  tconv_ref_backward_data(g, B.k, B.dz, B.rdx);
  tconv_ref_backward_weights(g, B.x, B.dz, B.rdk);
  tconv_ref_backward_bias(g, B.dz, B.rdb);
  tconv_ref_backward_data(g, B.ak, B.adz, B.mdx);
  tconv_ref_backward_weights(g, B.ax, B.adz, B.mdk);
  tconv_ref_backward_bias(g, B.adz, B.mdb);

  tconv_threadpool *pool = shared_pool();
  for (size_t pi = 0; pi < sizeof kernel_paths / sizeof kernel_paths[0]; pi++) {
    if (tconv_set_kernel_path(kernel_paths[pi]) != TCONV_OK) abort();
    for (size_t i = 0; i < yn; i++) B.y[i] = NAN; /* every output must be written */
    if (tconv_forward(g, B.x, B.k, bias, &act, B.y, NULL) != TCONV_OK) {
      fprintf(stderr, "fuzz_layer: forward failed on a valid geometry: %s\n", tconv_last_error());
      abort();
    }
    compare("forward", B.y, B.ref, B.mag, B.slope, yn);
    if (pool) {
      for (size_t i = 0; i < yn; i++) B.y1[i] = NAN;
      if (tconv_forward(g, B.x, B.k, bias, &act, B.y1, pool) != TCONV_OK) abort();
      if (memcmp(B.y, B.y1, yn * sizeof(float)) != 0) {
        fprintf(stderr, "fuzz_layer: forward on path %s differs with 2 threads\n",
                kernel_paths[pi]);
        abort();
      }
    }

    /* FINDINGS.md layer-3: backward-weights divides by the input width and by a chunk count
     * that is 0 for an empty input height (SIGFPE on an empty input with a non-empty output). */
    if (skip_known_findings() && (g->in_w == 0 || g->in_h == 0)) continue;
    for (size_t i = 0; i < xn; i++) B.dx[i] = NAN;
    for (size_t i = 0; i < kn; i++) B.dk[i] = NAN;
    for (size_t i = 0; i < oc; i++) B.db[i] = NAN;
    if (tconv_backward(g, B.x, B.k, B.dz, B.dx, B.dk, B.db, NULL) != TCONV_OK) {
      fprintf(stderr, "fuzz_layer: backward failed on a valid geometry: %s\n",
              tconv_last_error());
      abort();
    }
    compare("backward dx", B.dx, B.rdx, B.mdx, NULL, xn);
    compare("backward dkernel", B.dk, B.rdk, B.mdk, NULL, kn);
    compare("backward dbias", B.db, B.rdb, B.mdb, NULL, oc);
    if (pool) {
      float *tx = malloc((xn + 1) * 4), *tk = malloc((kn + 1) * 4), *tb = malloc((oc + 1) * 4);
      if (tconv_backward(g, B.x, B.k, B.dz, tx, tk, tb, pool) != TCONV_OK) abort();
      if (memcmp(tx, B.dx, xn * 4) != 0 || memcmp(tk, B.dk, kn * 4) != 0 ||
          memcmp(tb, B.db, oc * 4) != 0) {
        fprintf(stderr, "fuzz_layer: backward on path %s differs with 2 threads\n",
                kernel_paths[pi]);
        abort();
      }
      free(tx);
      free(tk);
      free(tb);
    }
  }
  tconv_set_kernel_path("auto");

  /* The layer API on the same config: build, load our kernel, reshape, forward. */
  tconv_store *store = tconv_store_create();
  tconv_layer *layer = NULL;
  if (store && tconv_layer_create(cfg, &layer) == TCONV_OK &&
      tconv_layer_build(layer, store, g->in_c) == TCONV_OK) {
    memcpy(tconv_layer_kernel(layer)->data, B.k, kn * sizeof(float));
    if (cfg->use_bias) memcpy(tconv_layer_bias(layer)->data, B.b, oc * sizeof(float));
    tconv_layer_weights_changed(layer);
    size_t in_shape[4], out_shape[4], want[4];
    if (g->data_format == TCONV_CHANNELS_FIRST) {
      size_t s[4] = {g->batch, g->in_c, g->in_h, g->in_w};
      memcpy(in_shape, s, sizeof s);
    } else {
      size_t s[4] = {g->batch, g->in_h, g->in_w, g->in_c};
      memcpy(in_shape, s, sizeof s);
    }
    if (tconv_layer_reshape(layer, in_shape, out_shape) != TCONV_OK) {
      fprintf(stderr, "fuzz_layer: layer reshape rejects what geometry accepts: %s\n",
              tconv_last_error());
      abort();
    }
    tconv_geometry_output_shape(g, want);
    if (memcmp(out_shape, want, sizeof want) != 0) abort();
    for (size_t i = 0; i < yn; i++) B.y[i] = NAN;
    if (tconv_layer_forward(layer, B.x, B.y, pool) != TCONV_OK) abort();
    compare("layer forward", B.y, B.ref, B.mag, B.slope, yn);
  } else if (store && layer == NULL) {
    fprintf(stderr, "fuzz_layer: layer_create rejects what geometry accepts: %s\n",
            tconv_last_error());
    abort();
  }
  tconv_layer_destroy(layer);
  tconv_store_destroy(store);
  bufs_free(&B);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size};
  uint64_t seed = 0x243F6A8885A308D3ull;
  for (size_t i = 0; i < size; i++) seed = (seed ^ data[i]) * 0x100000001B3ull;

  tconv_config cfg = tconv_config_default();
  const uint8_t mode = take_u8(&r);
  const int front = mode & 3; /* 0 Keras, 1 tf.nn, 2 core, 3 PyTorch */
  cfg.data_format = (mode >> 2) & 1 ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST;
  cfg.use_bias = !((mode >> 3) & 1);
  const bool explicit_kernel = (mode >> 4) & 1;
  const bool raw_enums = (mode >> 5) == 7; /* occasionally out-of-range enum values */
  const uint8_t act = take_u8(&r);
  cfg.activation = raw_enums ? (tconv_activation_kind)act
                             : (tconv_activation_kind)(act % TCONV_ACT_CUSTOM);
  cfg.activation_alpha = (act >> 4) * 0.1;
  const uint8_t pad = take_u8(&r);
  cfg.padding = raw_enums ? (tconv_padding)pad : (tconv_padding)(pad % 3);
  if (raw_enums) cfg.data_format = (tconv_data_format)take_u8(&r);

  /* filters 0..5 for most bytes, 16, 32 or 48 for 0xE0..0xF7 (the Winograd route wants 32 or
   * more, a multiple of 16, with 32+ channels), hostile for the top eight */
  const uint8_t fbyte = r.n > 0 ? r.p[0] : 0;
  cfg.filters = take_val(&r, 5);
  if (fbyte >= 0xE0 && fbyte < 0xF8) cfg.filters = 16 * (1 + fbyte % 3);
  for (int a = 0; a < 2; a++) {
    cfg.kernel_size[a] = take_val(&r, 4);
    cfg.strides[a] = take_val(&r, 3);
    cfg.dilation_rate[a] = take_val(&r, 2);
  }
  /* Bytes read as "0" mean 1 for the fields that default to 1, so most inputs are valid. */
  for (int a = 0; a < 2; a++) {
    if (cfg.kernel_size[a] == 0) cfg.kernel_size[a] = 1;
    if (cfg.strides[a] == 0) cfg.strides[a] = 1;
    if (cfg.dilation_rate[a] == 0) cfg.dilation_rate[a] = 1;
  }
  if (cfg.filters == 0) cfg.filters = 1;
  size_t in_shape[4];
  /* channels up to 40, so that the layers of 16-40 channels (the channel-dot path's: a multiple
   * of 8 per group) come up too */
  const int chan = cfg.data_format == TCONV_CHANNELS_FIRST ? 1 : 3;
  for (int i = 0; i < 4; i++) in_shape[i] = (size_t)take_val(&r, i == 0 ? 2 : i == chan ? 40 : 5);

  switch (front) {
  case 0:
    cfg.form = TCONV_FORM_KERAS;
    cfg.has_output_padding = take_u8(&r) & 1;
    for (int a = 0; a < 2; a++) cfg.output_padding[a] = take_val(&r, 2);
    break;
  case 1:
    cfg.form = TCONV_FORM_TF_NN;
    for (int a = 0; a < 2; a++) cfg.output_shape[a] = take_val(&r, 12);
    for (int i = 0; i < 4; i++) cfg.explicit_padding[i] = take_val(&r, 3);
    break;
  case 2:
    cfg.form = TCONV_FORM_CORE;
    for (int i = 0; i < 4; i++) cfg.explicit_padding[i] = take_val(&r, 4);
    for (int a = 0; a < 2; a++) cfg.adjust[a] = take_val(&r, 3);
    cfg.groups = take_val(&r, 3);
    if (cfg.groups == 0) cfg.groups = 1;
    break;
  default: {
    tconv_pytorch_conv_transpose2d t;
    memset(&t, 0, sizeof t);
    t.in_channels = (int64_t)in_shape[cfg.data_format == TCONV_CHANNELS_FIRST ? 1 : 3];
    t.out_channels = cfg.filters;
    for (int a = 0; a < 2; a++) {
      t.kernel_size[a] = cfg.kernel_size[a];
      t.stride[a] = cfg.strides[a];
      t.dilation[a] = cfg.dilation_rate[a];
      t.padding[a] = take_val(&r, 3);
      t.output_padding[a] = take_val(&r, 2);
    }
    t.groups = take_val(&r, 3);
    t.bias = cfg.use_bias;
    tconv_config pc;
    if (tconv_config_from_pytorch(&t, &pc) != TCONV_OK) return 0;
    pc.activation = cfg.activation;
    pc.activation_alpha = cfg.activation_alpha;
    cfg = pc; /* PyTorch tensors are NCHW: in_shape is read that way below */
    break;
  }
  }
  size_t kshape[4];
  for (int i = 0; i < 4; i++) kshape[i] = (size_t)take_val(&r, 5);

  tconv_geometry g;
  tconv_status st = tconv_geometry_compute(&cfg, in_shape, explicit_kernel ? kshape : NULL, &g);
  if (st == TCONV_OK) {
    /* One validator: what compute accepts, check accepts, and the numbers are consistent. */
    if (skip_known_findings() && known_finding_1(&g)) return 0;
    if (tconv_geometry_check(&g) != TCONV_OK) {
      fprintf(stderr, "fuzz_layer: geometry_check rejects a computed geometry: %s\n",
              tconv_last_error());
      abort();
    }
    if (g.out_c != (size_t)cfg.filters || g.kernel_h != (size_t)cfg.kernel_size[0] ||
        g.kernel_w != (size_t)cfg.kernel_size[1])
      abort();
  } else if (st != TCONV_INVALID_ARGUMENT && st != TCONV_SHAPE_MISMATCH &&
             st != TCONV_LIMIT_EXCEEDED) {
    abort(); /* geometry documents only these three */
  } else if (tconv_last_error()[0] == '\0') {
    abort(); /* every failure carries a message */
  }
#ifdef FUZZ_LAYER_VERBOSE /* -DFUZZ_LAYER_VERBOSE: say what each input reached */
  fprintf(stderr, "%s: %s\n", tconv_status_string(st), tconv_last_error());
#endif
  if (st != TCONV_OK) return 0;

  /* Run the kernels only when the tensors and the reference's work are tiny. */
  const size_t xn = g.batch * g.in_h * g.in_w * g.in_c;
  const size_t yn = g.batch * g.out_h * g.out_w * g.out_c;
  const size_t kn = g.kernel_h * g.kernel_w * (g.out_c / g.groups) * g.in_c;
  if (xn > FUZZ_MAX_ELEMS || yn > FUZZ_MAX_ELEMS || kn > FUZZ_MAX_ELEMS) return 0;
  /* The reference loops over every output row and column even when another extent is 0, and the
   * plan builds per-row tables: bound each extent too, not only the products. */
  if (g.batch > FUZZ_MAX_ELEMS || g.in_h > FUZZ_MAX_ELEMS || g.in_w > FUZZ_MAX_ELEMS ||
      g.out_h > FUZZ_MAX_ELEMS || g.out_w > FUZZ_MAX_ELEMS)
    return 0;
  /* Reference cost: outputs x taps x group channels, and the full (uncropped) extent the fast
   * paths may walk; the products below are of values already bounded by the element caps. */
  if ((double)yn * g.kernel_h * g.kernel_w * (g.in_c / g.groups) > FUZZ_MAX_WORK) return 0;
  if ((double)g.batch * g.in_h * g.in_w * g.kernel_h * g.kernel_w * g.out_c *
          (g.in_c / g.groups) > FUZZ_MAX_WORK)
    return 0;
  if (cfg.activation == TCONV_ACT_CUSTOM) return 0;
#ifdef FUZZ_LAYER_VERBOSE
  fprintf(stderr, "  kernels: %zu -> %zu elements\n", xn, yn);
#endif
  run_kernels(&cfg, &g, seed);
  return 0;
}
