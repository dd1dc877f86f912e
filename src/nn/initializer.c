/* Initializers with Keras semantics, seeded and reproducible.
 * Fans follow Keras's _compute_fans for a transposed kernel (kh, kw, filters, in_channels):
 * receptive field = kh*kw, fan_in = filters * rf, fan_out = in_channels * rf. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

/* splitmix64: small, fast, and good enough for weight initialization. */
typedef struct rng {
  uint64_t s;
} rng;
static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(rng *r) { return (rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_normal(rng *r) { /* Box-Muller */
  double u1 = rng_uniform(r), u2 = rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
static double rng_truncated(rng *r) { /* standard normal redrawn beyond 2 sigma, as TF does */
  for (;;) {
    double v = rng_normal(r);
    if (fabs(v) <= 2.0) return v;
  }
}

static const char *init_names[TCONV_INIT_COUNT_] = {
    "zeros",          "ones",           "constant",      "random_normal",  "random_uniform",
    "truncated_normal", "glorot_uniform", "glorot_normal", "he_uniform",     "he_normal",
    "lecun_uniform",  "lecun_normal",   "variance_scaling", "orthogonal",  "bilinear"};

const char *tconv_initializer_name(tconv_initializer_kind kind) {
  return (unsigned)kind < TCONV_INIT_COUNT_ ? init_names[kind] : "unknown";
}

tconv_initializer tconv_initializer_default(tconv_initializer_kind kind) {
  tconv_initializer i;
  memset(&i, 0, sizeof i);
  i.kind = kind;
  i.stddev = 0.05;
  i.minval = -0.05;
  i.maxval = 0.05;
  i.scale = 1.0;
  i.gain = 1.0;
  i.mode = TCONV_FAN_IN;
  i.distribution = TCONV_DIST_TRUNCATED_NORMAL;
  /* The named variance-scaling initializers, as keras.initializers defines them. */
  switch (kind) {
  case TCONV_INIT_GLOROT_UNIFORM: i.mode = TCONV_FAN_AVG; i.distribution = TCONV_DIST_UNIFORM; break;
  case TCONV_INIT_GLOROT_NORMAL: i.mode = TCONV_FAN_AVG; break;
  case TCONV_INIT_HE_UNIFORM: i.scale = 2.0; i.distribution = TCONV_DIST_UNIFORM; break;
  case TCONV_INIT_HE_NORMAL: i.scale = 2.0; break;
  case TCONV_INIT_LECUN_UNIFORM: i.distribution = TCONV_DIST_UNIFORM; break;
  default: break;
  }
  return i;
}

tconv_status tconv_initializer_from_name(const char *name, tconv_initializer *out) {
  RETURN_IF(name == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "initializer: NULL argument");
  for (int i = 0; i < TCONV_INIT_COUNT_; i++)
    if (strcasecmp(name, init_names[i]) == 0) {
      *out = tconv_initializer_default((tconv_initializer_kind)i);
      return TCONV_OK;
    }
  if (strcasecmp(name, "xavier_uniform") == 0) return tconv_initializer_from_name("glorot_uniform", out);
  if (strcasecmp(name, "xavier_normal") == 0) return tconv_initializer_from_name("glorot_normal", out);
  return tconv_error(TCONV_INVALID_ARGUMENT, "unknown initializer '%s'", name);
}

static void compute_fans(const tconv_tensor *t, double *fan_in, double *fan_out) {
  if (t->rank < 1) {
    *fan_in = *fan_out = 1;
  } else if (t->rank == 1) {
    *fan_in = *fan_out = (double)t->shape[0];
  } else if (t->rank == 2) {
    *fan_in = (double)t->shape[0];
    *fan_out = (double)t->shape[1];
  } else {
    double rf = 1;
    for (size_t i = 0; i + 2 < t->rank; i++) rf *= (double)t->shape[i];
    *fan_in = (double)t->shape[t->rank - 2] * rf;
    *fan_out = (double)t->shape[t->rank - 1] * rf;
  }
}

/* Orthogonal: Gram-Schmidt on a (rows x cols) normal matrix, rows = prod(shape[:-1]),
 * cols = shape[-1]; the long side is orthonormalized, as a QR with sign correction does. */
static tconv_status fill_orthogonal(const tconv_initializer *init, rng *r, tconv_tensor *t) {
  size_t n = tconv_tensor_numel(t);
  if (n == 0) return TCONV_OK;
  size_t cols = t->rank ? t->shape[t->rank - 1] : 1, rows = n / (cols ? cols : 1);
  bool transposed = rows < cols;
  size_t R = transposed ? cols : rows, C = transposed ? rows : cols; /* R >= C */
  double *m = tconv_alloc(R * C * sizeof(double));
  RETURN_IF(m == NULL, TCONV_OUT_OF_MEMORY, "orthogonal initializer: out of memory");
  for (size_t i = 0; i < R * C; i++) m[i] = rng_normal(r);
  for (size_t j = 0; j < C; j++) { /* modified Gram-Schmidt over the columns */
    for (size_t p = 0; p < j; p++) {
      double dot = 0;
      for (size_t i = 0; i < R; i++) dot += m[i * C + j] * m[i * C + p];
      for (size_t i = 0; i < R; i++) m[i * C + j] -= dot * m[i * C + p];
    }
    double norm = 0;
    for (size_t i = 0; i < R; i++) norm += m[i * C + j] * m[i * C + j];
    norm = sqrt(norm);
    for (size_t i = 0; i < R; i++) m[i * C + j] = norm > 0 ? m[i * C + j] / norm : 0;
  }
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++)
      t->data[i * cols + j] =
          (float)(init->gain * (transposed ? m[j * C + i] : m[i * C + j]));
  tconv_dealloc(m);
  return TCONV_OK;
}

/* Bilinear upsampling: the separable tent 1 - |i - c| / f with f = ceil(k/2), on the diagonal
 * filter == input channel (zeros elsewhere); biases get zeros. */
static void fill_bilinear(tconv_tensor *t) {
  size_t n = tconv_tensor_numel(t);
  memset(t->data, 0, n * sizeof(float));
  if (t->rank != 4) return;
  size_t kh = t->shape[0], kw = t->shape[1], oc = t->shape[2], ic = t->shape[3];
  double fh = (double)((kh + 1) / 2), fw = (double)((kw + 1) / 2);
  double ch = kh % 2 ? fh - 1 : fh - 0.5, cw = kw % 2 ? fw - 1 : fw - 0.5;
  for (size_t y = 0; y < kh; y++)
    for (size_t x = 0; x < kw; x++) {
      double v = (1 - fabs((double)y - ch) / fh) * (1 - fabs((double)x - cw) / fw);
      for (size_t c = 0; c < oc && c < ic; c++) t->data[((y * kw + x) * oc + c) * ic + c] = (float)v;
    }
}

static uint64_t hash_name(const char *s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ull;
  for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

tconv_status tconv_initializer_fill_named(const tconv_initializer *init, tconv_tensor *t,
                                          const char *name) {
  RETURN_IF(init == NULL || t == NULL, TCONV_INVALID_ARGUMENT, "initializer: NULL argument");
  RETURN_IF((unsigned)init->kind >= TCONV_INIT_COUNT_, TCONV_INVALID_ARGUMENT,
            "unknown initializer %d", (int)init->kind);
  size_t n = tconv_tensor_numel(t);
  /* seed 0: derived from the variable's name, so runs are reproducible and layers differ. */
  rng r = {init->seed ? init->seed : hash_name(name)};
  double fan_in, fan_out;
  compute_fans(t, &fan_in, &fan_out);
  switch (init->kind) {
  case TCONV_INIT_ZEROS: memset(t->data, 0, n * sizeof(float)); return TCONV_OK;
  case TCONV_INIT_ONES: for (size_t i = 0; i < n; i++) t->data[i] = 1.0f; return TCONV_OK;
  case TCONV_INIT_CONSTANT:
    for (size_t i = 0; i < n; i++) t->data[i] = (float)init->value;
    return TCONV_OK;
  case TCONV_INIT_RANDOM_NORMAL:
    for (size_t i = 0; i < n; i++) t->data[i] = (float)(init->mean + init->stddev * rng_normal(&r));
    return TCONV_OK;
  case TCONV_INIT_RANDOM_UNIFORM:
    RETURN_IF(!(init->maxval >= init->minval), TCONV_INVALID_ARGUMENT,
              "random_uniform: maxval %g < minval %g", init->maxval, init->minval);
    for (size_t i = 0; i < n; i++)
      t->data[i] = (float)(init->minval + (init->maxval - init->minval) * rng_uniform(&r));
    return TCONV_OK;
  case TCONV_INIT_TRUNCATED_NORMAL:
    for (size_t i = 0; i < n; i++)
      t->data[i] = (float)(init->mean + init->stddev * rng_truncated(&r));
    return TCONV_OK;
  case TCONV_INIT_ORTHOGONAL: return fill_orthogonal(init, &r, t);
  case TCONV_INIT_BILINEAR: fill_bilinear(t); return TCONV_OK;
  default: break;
  }
  /* variance scaling and its named forms */
  RETURN_IF(!(init->scale > 0), TCONV_INVALID_ARGUMENT, "variance_scaling: scale must be > 0");
  double fan = init->mode == TCONV_FAN_IN ? fan_in
               : init->mode == TCONV_FAN_OUT ? fan_out
                                             : (fan_in + fan_out) / 2;
  if (fan < 1) fan = 1;
  double scale = init->scale / fan;
  if (init->distribution == TCONV_DIST_UNIFORM) {
    double limit = sqrt(3.0 * scale);
    for (size_t i = 0; i < n; i++) t->data[i] = (float)(limit * (2.0 * rng_uniform(&r) - 1.0));
  } else if (init->distribution == TCONV_DIST_UNTRUNCATED_NORMAL) {
    double sd = sqrt(scale);
    for (size_t i = 0; i < n; i++) t->data[i] = (float)(sd * rng_normal(&r));
  } else {
    /* stddev of a unit normal truncated to [-2, 2], which Keras divides out */
    double sd = sqrt(scale) / 0.87962566103423978;
    for (size_t i = 0; i < n; i++) t->data[i] = (float)(sd * rng_truncated(&r));
  }
  return TCONV_OK;
}

tconv_status tconv_initializer_fill(const tconv_initializer *init, tconv_tensor *t,
                                    const tconv_config *layer_cfg) {
  return tconv_initializer_fill_named(init, t, layer_cfg && layer_cfg->name ? layer_cfg->name : "");
}
