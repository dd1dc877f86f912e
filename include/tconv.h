/*
 * tconv.h — TensorFlow's Conv2DTranspose layer in C.
 *
 * tconv computes exactly what tf.keras.layers.Conv2DTranspose, tf.compat.v1.layers.Conv2DTranspose
 * and tf.nn.conv2d_transpose compute: the same output shapes, the same SAME-padding placement (the
 * odd extra crop at the bottom/right), the same kernel layout (kh, kw, filters, in_channels) with no
 * spatial flip, and the same numbers.  This header is the whole public API.
 *
 * Worked example — the seed's first use: a 28x28x1 input through
 * Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding='same') gives 56x56x32.
 *
 *     tconv_config cfg = tconv_config_default();         // Keras defaults
 *     cfg.filters = 32;
 *     cfg.kernel_size[0] = cfg.kernel_size[1] = 3;
 *     cfg.strides[0] = cfg.strides[1] = 2;
 *     cfg.padding = TCONV_PADDING_SAME;
 *
 *     tconv_store *vars = tconv_store_create();            // like a TF variable scope
 *     tconv_layer *layer = NULL;
 *     if (tconv_layer_create(&cfg, &layer) != TCONV_OK) { puts(tconv_last_error()); ... }
 *     tconv_layer_build(layer, vars, 1);                   // in_channels = 1: makes
 *                                                          // conv2d_transpose/kernel and /bias
 *     size_t in_shape[4] = {1, 28, 28, 1}, out_shape[4];
 *     tconv_layer_reshape(layer, in_shape, out_shape);     // out_shape = {1, 56, 56, 32}
 *     float *y = malloc(sizeof(float) * 1 * 56 * 56 * 32);
 *     tconv_layer_forward(layer, x, y, NULL);              // NULL: run on the caller's thread
 *     tconv_layer_destroy(layer);
 *     tconv_store_destroy(vars);
 *
 * Lifecycle: create -> build -> reshape -> forward/backward (any number of times) -> destroy.
 * A call out of order returns TCONV_INVALID_STATE.
 *
 * Errors: every function that can fail returns a tconv_status; the detailed message of the last
 * failure on the calling thread is tconv_last_error() ("output_padding 3 must be < stride 3 on
 * axis h").  The library never prints, exits or aborts on anything a caller or a file can cause.
 *
 * Ownership: objects returned through an out-pointer belong to the caller and are released with the
 * matching _destroy/_free function.  Pointers passed in are borrowed for the call only, except where
 * a function says otherwise.
 *
 * Threads: distinct objects may be used from distinct threads freely.  One built and reshaped layer
 * may run tconv_layer_forward from several threads at once (it only reads the layer).  Anything
 * that changes a layer or a store (build, reshape, set weights, optimizer steps) needs exclusive
 * access.
 */
#ifndef TCONV_H
#define TCONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TCONV_BUILDING) && defined(__GNUC__)
#define TCONV_API __attribute__((visibility("default")))
#else
#define TCONV_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */
#define TCONV_VERSION_MAJOR 0
#define TCONV_VERSION_MINOR 1
#define TCONV_VERSION_PATCH 0
#define TCONV_VERSION_STRING "0.1.0"
/* The version of the library actually linked, as "MAJOR.MINOR.PATCH". */
TCONV_API const char *tconv_version(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes.  The numbers are stable: new codes are only ever appended.
 * ------------------------------------------------------------------------------------------- */
#define TCONV_STATUS_LIST(X)                                                                       \
  X(TCONV_OK, 0, "ok")                                                                             \
  X(TCONV_INVALID_ARGUMENT, 1, "invalid argument")                                                 \
  X(TCONV_INVALID_STATE, 2, "invalid state")                                                       \
  X(TCONV_OUT_OF_MEMORY, 3, "out of memory")                                                       \
  X(TCONV_UNSUPPORTED, 4, "unsupported")                                                           \
  X(TCONV_IO_ERROR, 5, "i/o error")                                                                \
  X(TCONV_BAD_FILE, 6, "malformed file")                                                           \
  X(TCONV_NOT_FOUND, 7, "not found")                                                               \
  X(TCONV_ALREADY_EXISTS, 8, "already exists")                                                     \
  X(TCONV_LIMIT_EXCEEDED, 9, "limit exceeded")                                                     \
  X(TCONV_SHAPE_MISMATCH, 10, "shape mismatch")

typedef enum tconv_status {
#define TCONV_STATUS_ENUM_(name, value, text) name = value,
  TCONV_STATUS_LIST(TCONV_STATUS_ENUM_)
#undef TCONV_STATUS_ENUM_
} tconv_status;

/* A short fixed string for a status ("invalid argument"); "unknown status" for other values. */
TCONV_API const char *tconv_status_string(tconv_status status);
/* The detailed message of the last failed call on this thread (never NULL; "" if none). */
TCONV_API const char *tconv_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Allocation hook.  All memory the library allocates goes through these; tests use it to fail
 * every allocation in turn.  Pass NULLs to restore the default (malloc/free; blocks of 256
 * bytes and more 64-byte aligned, as the kernels like their tensors; on Linux blocks of 2 MiB
 * and more 2 MiB-aligned, their whole 2 MiB pages advised onto transparent huge pages, unless
 * the environment has TCONV_HUGE_PAGES=0).  Not thread-safe: set it before using the library.
 * ------------------------------------------------------------------------------------------- */
typedef void *(*tconv_malloc_fn)(size_t size, void *ctx);
typedef void (*tconv_free_fn)(void *ptr, void *ctx);
TCONV_API void tconv_set_allocator(tconv_malloc_fn malloc_fn, tconv_free_fn free_fn, void *ctx);

/* ---------------------------------------------------------------------------------------------
 * Resource limits, checked with overflow-safe arithmetic before anything is allocated.
 * ------------------------------------------------------------------------------------------- */
typedef struct tconv_limits {
  uint64_t max_tensor_elements; /* per tensor; default 2^31 - 1 */
  uint64_t max_tensor_bytes;    /* per tensor; default 2 GiB */
  uint64_t max_dim;             /* per dimension (also strides, pads, ...); default 2^31 - 1 */
  uint64_t max_header_bytes;    /* npy header; default 10000 */
  uint64_t max_image_pixels;    /* width * height of decoded images; default 2^28 */
} tconv_limits;
TCONV_API tconv_limits tconv_limits_default(void);
/* Sets the process-wide limits (not thread-safe; set them before use). */
TCONV_API void tconv_set_limits(const tconv_limits *limits);
TCONV_API tconv_limits tconv_get_limits(void);

/* ---------------------------------------------------------------------------------------------
 * Tensors: a dense, C-ordered float32 array of rank <= TCONV_MAX_RANK.
 * ------------------------------------------------------------------------------------------- */
#define TCONV_MAX_RANK 8
typedef struct tconv_tensor {
  size_t rank;
  size_t shape[TCONV_MAX_RANK];
  float *data; /* owned by whoever filled the struct through tconv_tensor_alloc / a loader */
} tconv_tensor;

/* Allocates a zero-filled tensor.  Errors: INVALID_ARGUMENT (rank), LIMIT_EXCEEDED, OUT_OF_MEMORY.
 * On error *t is left empty (data NULL). */
TCONV_API tconv_status tconv_tensor_alloc(tconv_tensor *t, size_t rank, const size_t *shape);
/* Frees t->data and empties *t.  Safe on an empty tensor. */
TCONV_API void tconv_tensor_free(tconv_tensor *t);
/* Number of elements (product of the shape; 1 for rank 0). */
TCONV_API size_t tconv_tensor_numel(const tconv_tensor *t);

/* .npy files (NumPy format v1/v2/v3): float32 or float64 (converted to float32), little-endian,
 * C order.  Fortran order, other dtypes and big-endian give TCONV_UNSUPPORTED with a message.
 * Errors of load: IO_ERROR, BAD_FILE, UNSUPPORTED, LIMIT_EXCEEDED, OUT_OF_MEMORY.
 * Save writes atomically (temp file, fsync, rename): an existing file is replaced whole or kept. */
TCONV_API tconv_status tconv_npy_load(const char *path, tconv_tensor *out);
TCONV_API tconv_status tconv_npy_parse(const void *bytes, size_t size, tconv_tensor *out);
TCONV_API tconv_status tconv_npy_save(const char *path, const tconv_tensor *t);

/* ---------------------------------------------------------------------------------------------
 * Layer configuration — the fields are Keras's argument names.
 * ------------------------------------------------------------------------------------------- */
typedef enum tconv_padding {
  TCONV_PADDING_VALID = 0,
  TCONV_PADDING_SAME = 1,
  /* tf.nn.conv2d_transpose(padding=[[0,0],[t,b],[l,r],[0,0]]): crop explicit_padding. */
  TCONV_PADDING_EXPLICIT = 2,
} tconv_padding;

typedef enum tconv_data_format {
  TCONV_CHANNELS_LAST = 0,  /* NHWC, TF's default */
  TCONV_CHANNELS_FIRST = 1, /* NCHW */
} tconv_data_format;

/* Which front end's rules apply (what is accepted and how the output size is found). */
typedef enum tconv_form {
  /* tf.keras / tf.layers Conv2DTranspose: padding VALID|SAME, optional output_padding < strides,
   * strides > 1 together with dilation > 1 rejected, as Keras does. */
  TCONV_FORM_KERAS = 0,
  /* tf.nn.conv2d_transpose with an explicit output_shape (H, W) and padding SAME|VALID|EXPLICIT,
   * accepted exactly when TF's op accepts it. */
  TCONV_FORM_TF_NN = 1,
  /* The general core form: crop explicit_padding = {top, bottom, left, right} from the full
   * transposed convolution, then lengthen each axis by adjust = {h, w}: O = F - begin - end +
   * adjust (the rows regained from the end crop still carry data; rows past the full length F
   * get the bias only).  Any stride, dilation and groups combination. */
  TCONV_FORM_CORE = 2,
} tconv_form;

typedef enum tconv_activation_kind {
  TCONV_ACT_LINEAR = 0,
  TCONV_ACT_RELU,
  TCONV_ACT_RELU6,
  TCONV_ACT_LEAKY_RELU, /* alpha = activation_alpha (Keras LeakyReLU default 0.3; tf.nn 0.2) */
  TCONV_ACT_ELU,        /* alpha = activation_alpha (default 1) */
  TCONV_ACT_SELU,
  TCONV_ACT_GELU,      /* exact, with erf (Keras approximate=False) */
  TCONV_ACT_GELU_TANH, /* Keras approximate=True */
  TCONV_ACT_SIGMOID,
  TCONV_ACT_HARD_SIGMOID, /* Keras 2: clip(0.2x + 0.5, 0, 1) */
  TCONV_ACT_TANH,
  TCONV_ACT_SOFTPLUS,
  TCONV_ACT_SOFTSIGN,
  TCONV_ACT_SWISH, /* = silu: x * sigmoid(x) */
  TCONV_ACT_EXPONENTIAL,
  TCONV_ACT_CUSTOM, /* activation_fn(x, ctx), with activation_grad for backward */
  TCONV_ACT_COUNT_
} tconv_activation_kind;

/* A user activation: y = f(x).  The optional derivative returns dy/dx at x. */
typedef float (*tconv_activation_fn)(float x, void *ctx);

typedef enum tconv_initializer_kind {
  TCONV_INIT_ZEROS = 0,
  TCONV_INIT_ONES,
  TCONV_INIT_CONSTANT,         /* value */
  TCONV_INIT_RANDOM_NORMAL,    /* mean, stddev (Keras default 0, 0.05) */
  TCONV_INIT_RANDOM_UNIFORM,   /* minval, maxval (Keras default -0.05, 0.05) */
  TCONV_INIT_TRUNCATED_NORMAL, /* mean, stddev; redraws beyond 2 stddev */
  TCONV_INIT_GLOROT_UNIFORM,
  TCONV_INIT_GLOROT_NORMAL,
  TCONV_INIT_HE_UNIFORM,
  TCONV_INIT_HE_NORMAL,
  TCONV_INIT_LECUN_UNIFORM,
  TCONV_INIT_LECUN_NORMAL,
  TCONV_INIT_VARIANCE_SCALING, /* scale, mode, distribution */
  TCONV_INIT_ORTHOGONAL,       /* gain */
  TCONV_INIT_BILINEAR,         /* a bilinear-upsampling kernel for the layer's strides */
  TCONV_INIT_COUNT_
} tconv_initializer_kind;

typedef enum tconv_fan_mode { TCONV_FAN_IN = 0, TCONV_FAN_OUT, TCONV_FAN_AVG } tconv_fan_mode;
typedef enum tconv_distribution {
  TCONV_DIST_TRUNCATED_NORMAL = 0,
  TCONV_DIST_UNTRUNCATED_NORMAL,
  TCONV_DIST_UNIFORM
} tconv_distribution;

typedef struct tconv_initializer {
  tconv_initializer_kind kind;
  double value;         /* constant */
  double mean, stddev;  /* random_normal, truncated_normal */
  double minval, maxval; /* random_uniform */
  double scale;         /* variance_scaling (default 1) */
  tconv_fan_mode mode;
  tconv_distribution distribution;
  double gain;          /* orthogonal (default 1) */
  uint64_t seed;        /* same seed, same values; 0 picks a fresh seed per variable */
} tconv_initializer;

typedef enum tconv_regularizer_kind {
  TCONV_REG_NONE = 0,
  TCONV_REG_L1,
  TCONV_REG_L2,
  TCONV_REG_L1_L2
} tconv_regularizer_kind;
typedef struct tconv_regularizer {
  tconv_regularizer_kind kind;
  double l1, l2; /* loss = l1 * sum|w| + l2 * sum w^2 (Keras: no 1/2) */
} tconv_regularizer;

typedef enum tconv_constraint_kind {
  TCONV_CONSTRAINT_NONE = 0,
  TCONV_CONSTRAINT_MAX_NORM,     /* max_value (default 2), axis */
  TCONV_CONSTRAINT_MIN_MAX_NORM, /* min_value, max_value, rate, axis */
  TCONV_CONSTRAINT_NON_NEG,
  TCONV_CONSTRAINT_UNIT_NORM /* axis */
} tconv_constraint_kind;
typedef struct tconv_constraint {
  tconv_constraint_kind kind;
  double min_value, max_value, rate;
  /* Axes the norm reduces over, as a bit mask over the kernel axes (kh=1, kw=2, filters=4,
   * in=8); Keras's default axis=0 on a 4-D kernel is 1.  Biases (1-D) always reduce axis 0. */
  unsigned axis_mask;
} tconv_constraint;

typedef struct tconv_config {
  int64_t filters;        /* output channels, >= 1 */
  int64_t kernel_size[2]; /* (kh, kw) */
  int64_t strides[2];     /* default (1, 1) */
  tconv_padding padding;  /* default VALID */
  bool has_output_padding; /* Keras output_padding=None when false */
  int64_t output_padding[2];
  tconv_data_format data_format;
  int64_t dilation_rate[2]; /* default (1, 1) */
  tconv_activation_kind activation;
  double activation_alpha;             /* leaky_relu / elu parameter */
  tconv_activation_fn activation_fn;   /* TCONV_ACT_CUSTOM */
  tconv_activation_fn activation_grad; /* its derivative (needed for backward) */
  void *activation_ctx;
  bool use_bias; /* default true */
  tconv_initializer kernel_initializer; /* default glorot_uniform */
  tconv_initializer bias_initializer;   /* default zeros */
  tconv_regularizer kernel_regularizer, bias_regularizer, activity_regularizer;
  tconv_constraint kernel_constraint, bias_constraint;
  bool trainable; /* default true */
  const char *name; /* NULL: conv2d_transpose, conv2d_transpose_1, ... unique in the store */
  bool reuse;       /* bind <name>/kernel and <name>/bias already in the store */

  /* Beyond Keras (see tconv_form). */
  tconv_form form;
  int64_t output_shape[2];      /* TCONV_FORM_TF_NN: the requested (H, W) */
  int64_t explicit_padding[4];  /* EXPLICIT / CORE: top, bottom, left, right crops */
  int64_t adjust[2];            /* CORE: rows/columns added back at the end (see above) */
  int64_t groups;               /* CORE: default 1; filters and in_channels divisible by it */
} tconv_config;

/* Keras defaults: strides 1, 'valid', channels_last, dilation 1, linear, use_bias, glorot_uniform
 * kernel, zeros bias, no regularizers or constraints, trainable, form KERAS, groups 1.  filters and
 * kernel_size are 0 and must be set. */
TCONV_API tconv_config tconv_config_default(void);
/* Keras's defaults for one initializer kind (e.g. stddev 0.05 for random_normal). */
TCONV_API tconv_initializer tconv_initializer_default(tconv_initializer_kind kind);
TCONV_API tconv_constraint tconv_constraint_default(tconv_constraint_kind kind);

/* Parse/print names as Keras spells them ("relu", "glorot_uniform", "l1_l2", "max_norm", ...).
 * Parsing is case-insensitive; returns INVALID_ARGUMENT for an unknown name. */
TCONV_API tconv_status tconv_activation_from_name(const char *name, tconv_activation_kind *out);
TCONV_API const char *tconv_activation_name(tconv_activation_kind kind);
TCONV_API tconv_status tconv_initializer_from_name(const char *name, tconv_initializer *out);
TCONV_API const char *tconv_initializer_name(tconv_initializer_kind kind);

/* ---------------------------------------------------------------------------------------------
 * Geometry: the core form every convention maps onto.  Per spatial axis, with
 * F = (I - 1) * s + d * (k - 1) + 1 the full transposed-convolution length:
 *     O = F - pad_begin - pad_end + adjust
 *     y[o] = bias + sum over (i, t) with o + pad_begin = i*s + t*d of x[i] * w[t]
 * Positions no input reaches (o + pad_begin >= F) get the bias only.
 * ------------------------------------------------------------------------------------------- */
typedef struct tconv_geometry {
  size_t batch, in_h, in_w, in_c;
  size_t out_h, out_w, out_c;
  size_t kernel_h, kernel_w;
  size_t stride_h, stride_w, dilation_h, dilation_w;
  size_t pad_top, pad_bottom, pad_left, pad_right; /* crops */
  size_t adjust_h, adjust_w;                       /* O = F - pads + adjust */
  size_t groups;
  tconv_data_format data_format;
} tconv_geometry;

/* Checks everything in a configuration that does not depend on the input (filters, kernel_size,
 * strides, dilation, groups, enums, the Keras strides-with-dilation rule).
 * Errors: INVALID_ARGUMENT, LIMIT_EXCEEDED. */
TCONV_API tconv_status tconv_config_check(const tconv_config *cfg);
/* Validates a configuration against an input shape (N, H, W, C in data_format order, i.e.
 * (N, C, H, W) for channels_first) and a kernel shape (kh, kw, filters/groups, in_channels), and
 * computes the core geometry.  kernel_shape may be NULL: it is then taken from the config.
 * This is the one validator every backend and front end goes through.
 * Errors: INVALID_ARGUMENT (with the reason), SHAPE_MISMATCH, LIMIT_EXCEEDED. */
TCONV_API tconv_status tconv_geometry_compute(const tconv_config *cfg, const size_t input_shape[4],
                                              const size_t *kernel_shape, tconv_geometry *out);
/* Checks that a geometry filled by hand is self-consistent (each axis satisfies
 * O = F - pad_begin - pad_end + adjust, channels fit groups, sizes within the limits).
 * tconv_forward and the backward functions call it.  Errors: INVALID_ARGUMENT, LIMIT_EXCEEDED. */
TCONV_API tconv_status tconv_geometry_check(const tconv_geometry *g);
/* The output shape in the config's data_format order. */
TCONV_API void tconv_geometry_output_shape(const tconv_geometry *g, size_t out_shape[4]);

/* ---------------------------------------------------------------------------------------------
 * Threads: a pool passed per call.  NULL everywhere means "the caller's thread".  Results are
 * bitwise identical for every thread count.
 * ------------------------------------------------------------------------------------------- */
typedef struct tconv_threadpool tconv_threadpool;
/* threads = total threads including the caller; 0 = number of online CPUs. */
TCONV_API tconv_status tconv_threadpool_create(size_t threads, tconv_threadpool **out);
TCONV_API size_t tconv_threadpool_size(const tconv_threadpool *pool);
TCONV_API void tconv_threadpool_destroy(tconv_threadpool *pool);

/* Kernel path selection (tests and debugging): "auto" (default), "avx2", "scalar", "reference".
 * The environment variable TCONV_KERNELS sets the initial choice.  Returns INVALID_ARGUMENT for an
 * unknown name and UNSUPPORTED for an ISA this CPU lacks. */
TCONV_API tconv_status tconv_set_kernel_path(const char *name);
TCONV_API const char *tconv_kernel_path(void);

/* Stateless forward on raw arrays: y = activation(conv_transpose(x, kernel) + bias).  x, y in the
 * geometry's data_format; kernel (kh, kw, out_c/groups, in_c); bias (out_c) or NULL.  act may be
 * NULL (linear).  Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
typedef struct tconv_activation {
  tconv_activation_kind kind;
  float alpha;
  tconv_activation_fn fn, grad;
  void *ctx;
} tconv_activation;
/* The activation a config asks for, with its default alpha filled in. */
TCONV_API tconv_activation tconv_config_activation(const tconv_config *cfg);
TCONV_API tconv_status tconv_forward(const tconv_geometry *g, const float *x, const float *kernel,
                                     const float *bias, const tconv_activation *act, float *y,
                                     tconv_threadpool *pool);

/* ---------------------------------------------------------------------------------------------
 * Variable store: named float tensors, like TF's variable scopes.  A layer named "dec" owns
 * "dec/kernel" and "dec/bias".
 * ------------------------------------------------------------------------------------------- */
typedef struct tconv_store tconv_store;
TCONV_API tconv_store *tconv_store_create(void); /* NULL when out of memory */
TCONV_API void tconv_store_destroy(tconv_store *s);
/* Adds a zero-filled variable; ALREADY_EXISTS if the name is taken.  *out (optional) points into
 * the store and stays valid until the store is destroyed. */
TCONV_API tconv_status tconv_store_add(tconv_store *s, const char *name, size_t rank,
                                       const size_t *shape, bool trainable, tconv_tensor **out);
/* NULL when absent. */
TCONV_API tconv_tensor *tconv_store_find(const tconv_store *s, const char *name);
TCONV_API size_t tconv_store_count(const tconv_store *s);
/* The i-th variable in creation order (NULL past the end); name/trainable optional. */
TCONV_API tconv_tensor *tconv_store_at(const tconv_store *s, size_t i, const char **name,
                                       bool *trainable);

/* ---------------------------------------------------------------------------------------------
 * The layer.
 * ------------------------------------------------------------------------------------------- */
typedef struct tconv_layer tconv_layer;

/* Checks the configuration (everything that does not depend on the input) and copies it.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_layer_create(const tconv_config *cfg, tconv_layer **out);
TCONV_API void tconv_layer_destroy(tconv_layer *layer);
/* Makes (or with reuse, binds) the variables for in_channels input channels, initialized by the
 * config's initializers.  The store must outlive the layer.  Errors: INVALID_STATE (built twice),
 * ALREADY_EXISTS (name taken without reuse), NOT_FOUND (reuse of a missing variable),
 * SHAPE_MISMATCH (reused variable of another shape), INVALID_ARGUMENT, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_layer_build(tconv_layer *layer, tconv_store *store, size_t in_channels);
/* The layer's name ("conv2d_transpose_1" when it was picked automatically); valid after build. */
TCONV_API const char *tconv_layer_name(const tconv_layer *layer);
/* The kernel (kh, kw, filters/groups, in_channels) and bias (filters) variables; bias is NULL when
 * use_bias is false.  Valid after build; writing into them changes the weights. */
TCONV_API tconv_tensor *tconv_layer_kernel(tconv_layer *layer);
TCONV_API tconv_tensor *tconv_layer_bias(tconv_layer *layer);
/* Tell the layer its weights were written directly (repacks any fast-path copy). */
TCONV_API void tconv_layer_weights_changed(tconv_layer *layer);
/* Fixes the input shape (data_format order) and reports the output shape.  Errors as
 * tconv_geometry_compute; INVALID_STATE before build. */
TCONV_API tconv_status tconv_layer_reshape(tconv_layer *layer, const size_t input_shape[4],
                                           size_t output_shape[4]);
TCONV_API const tconv_geometry *tconv_layer_geometry(const tconv_layer *layer);
/* y = activation(conv_transpose(x) + bias) for the reshaped input shape.  Read-only on the layer.
 * Errors: INVALID_STATE (not reshaped), INVALID_ARGUMENT (NULL pointers), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_layer_forward(const tconv_layer *layer, const float *x, float *y,
                                           tconv_threadpool *pool);
/* The regularization losses of the layer's kernel and bias (Keras's layer.losses without the
 * activity term), and the activity regularizer's loss on an output y (divided by the batch). */
TCONV_API double tconv_layer_weight_loss(const tconv_layer *layer);
TCONV_API double tconv_layer_activity_loss(const tconv_layer *layer, const float *y);
/* Applies the kernel and bias constraints in place (what Keras does after each update). */
TCONV_API void tconv_layer_apply_constraints(tconv_layer *layer);

/* Regularizer loss of n values, and the constraint applied in place to a tensor. */
TCONV_API double tconv_regularizer_loss(const tconv_regularizer *r, const float *w, size_t n);
TCONV_API tconv_status tconv_constraint_apply(const tconv_constraint *c, tconv_tensor *w);
/* Fills t by the initializer; fan_in/fan_out as Keras computes them for the variable. */
TCONV_API tconv_status tconv_initializer_fill(const tconv_initializer *init, tconv_tensor *t,
                                              const tconv_config *layer_cfg);
/* Applies an activation in place to n values. */
TCONV_API void tconv_activation_apply(const tconv_activation *act, float *v, size_t n);
/* Derivative of the activation at pre-activation z (and its output y = f(z)). */
TCONV_API float tconv_activation_derivative(const tconv_activation *act, float z, float y);

/* ---------------------------------------------------------------------------------------------
 * Training: backward pass, optimizers, loss helpers.  (Section owned by the training work.)
 * ------------------------------------------------------------------------------------------- */
/* Ownership: src/layer/backward.c, src/plan/backward.c, src/kernels/ref/backward.c (backward),
 * src/nn/optimizer.c, src/nn/loss.c, src/io/checkpoint.c.
 *
 * A training step a C user drives in a loop (error handling left out):
 *
 *     tconv_layer_grads grads;
 *     tconv_layer_grads_alloc(layer, &grads);                  // shaped like kernel and bias
 *     tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
 *     tconv_optimizer *opt;
 *     tconv_optimizer_create(&oc, vars, &opt);                  // slots live in the store
 *     for (step = 0; step < steps; step++) {
 *       tconv_layer_forward(layer, x, y, pool);
 *       tconv_loss(TCONV_LOSS_MSE, y, target, y_count, &loss, dy);   // dy = dloss/dy
 *       tconv_layer_backward(layer, x, y, dy, NULL, &grads, pool);   // + regularizer terms
 *       tconv_optimizer_step(opt, &layer, &grads, 1);                 // update, constrain, repack
 *     }
 *     tconv_checkpoint_save(vars, "model.safetensors", NULL);       // variables + slots
 */

/* Stateless backward on raw arrays, for the geometry's layouts: with dz the gradient of a scalar
 * loss at the pre-activation z = conv_transpose(x, kernel) + bias,
 *     dx      (x's shape)                 = d loss / d x
 *     dkernel (kh, kw, out_c/groups, in_c) = d loss / d kernel
 *     dbias   (out_c)                      = d loss / d bias = sum of dz over the batch and pixels
 * (DESIGN.md section 1).  Any of dx, dkernel, dbias may be NULL to skip it; x may be NULL when
 * dkernel is, kernel when dx is.  The kernel path follows tconv_set_kernel_path ("reference"
 * runs the double-accumulating oracles).  Results are bitwise identical for any thread count.
 * Errors: INVALID_ARGUMENT (NULL g or a needed array, invalid geometry), LIMIT_EXCEEDED,
 * OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_backward(const tconv_geometry *g, const float *x, const float *kernel,
                                      const float *dz, float *dx, float *dkernel, float *dbias,
                                      tconv_threadpool *pool);

/* Gradient buffers for one layer's variables, owned by the caller. */
typedef struct tconv_layer_grads {
  tconv_tensor kernel; /* shaped like tconv_layer_kernel */
  tconv_tensor bias;   /* shaped like tconv_layer_bias; empty (rank 0, data NULL) without bias */
} tconv_layer_grads;
/* Allocates zero-filled gradients for a built layer.  Errors: INVALID_ARGUMENT (NULL),
 * INVALID_STATE (not built), LIMIT_EXCEEDED, OUT_OF_MEMORY.  On error *g is left empty. */
TCONV_API tconv_status tconv_layer_grads_alloc(const tconv_layer *layer, tconv_layer_grads *g);
TCONV_API void tconv_layer_grads_free(tconv_layer_grads *g); /* safe on an empty struct */

/* Backward through the reshaped layer y = activation(conv_transpose(x) + bias), given dy =
 * d loss / d y for the data loss.  It adds what Keras adds to the loss:
 *   - the activity regularizer's term, d/dy of (l1 sum|y| + l2 sum y^2) / batch, to dy;
 *   - the kernel and bias regularizers' terms, l1 sign(w) + 2 l2 w, to the weight gradients.
 * The pre-activation z is recomputed with the forward when the activation's derivative needs it
 * (not for linear, sigmoid, tanh); y may be NULL, it is then recomputed too.
 * dx (x's shape) may be NULL; grads may be NULL (dx only).  A layer built with trainable=false
 * gets no weight gradients: grads are zero-filled.  Writes only dx and grads.
 * Errors: INVALID_ARGUMENT (NULL layer/x/dy, grads of other shapes), INVALID_STATE (not
 * reshaped), UNSUPPORTED (a custom activation without activation_grad), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_layer_backward(tconv_layer *layer, const float *x, const float *y,
                                            const float *dy, float *dx, tconv_layer_grads *grads,
                                            tconv_threadpool *pool);

/* Loss helpers, mean-reduced over all n elements (Keras's default reduction for equal-sized
 * samples).  grad (optional, n floats) receives d loss / d pred.
 *   MSE:                 mean((pred - target)^2)
 *   BINARY_CROSSENTROPY: pred are probabilities, clipped to [1e-7, 1 - 1e-7] as tf.keras does,
 *                        loss -mean(t log(p + 1e-7) + (1 - t) log(1 - p + 1e-7)); the gradient is
 *                        0 where the clip is active (TF's clip_by_value gradient)
 *   BCE_FROM_LOGITS:     pred are logits z: mean(max(z, 0) - z t + log(1 + exp(-|z|))),
 *                        gradient (sigmoid(z) - t) / n
 * Errors: INVALID_ARGUMENT (NULL pointers with n > 0, unknown kind, n == 0). */
typedef enum tconv_loss_kind {
  TCONV_LOSS_MSE = 0,
  TCONV_LOSS_BINARY_CROSSENTROPY,
  TCONV_LOSS_BCE_FROM_LOGITS
} tconv_loss_kind;
TCONV_API tconv_status tconv_loss(tconv_loss_kind kind, const float *pred, const float *target,
                                  size_t n, double *loss, float *grad);

/* Optimizers with Keras's defaults and update rules (g the gradient, t = iterations + 1):
 *   SGD      lr 0.01, momentum 0, nesterov false.  momentum 0: w -= lr g; else
 *            m = momentum m - lr g, then w += m (or, nesterov, w += momentum m - lr g).
 *   ADAM     lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad false.
 *            m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v); (amsgrad: vhat = max(vhat, v))
 *            w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)   (Keras's form:
 *            epsilon is added to the uncorrected sqrt(v))
 *   RMSPROP  lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false.
 *            v = rho v + (1 - rho) g^2; centered: a = rho a + (1 - rho) g, den = v - a^2 + eps,
 *            else den = v + eps; inc = lr g / sqrt(den); momentum > 0: mo = momentum mo + inc,
 *            inc = mo; w -= inc.
 * Slots are store variables (trainable = false) named "<var>/<name>/<slot>" with name the
 * optimizer's name ("SGD", "Adam", "RMSprop" by default) and slot m, v, vhat (Adam), momentum
 * (SGD), velocity, momentum, average_gradient (RMSprop); the step counter is the 1-element
 * "<name>/iterations".  They are made on the first update, so checkpoints carry them and a
 * restored store resumes where it stopped.  Updates are computed in double, stored as float. */
typedef enum tconv_optimizer_kind {
  TCONV_OPT_SGD = 0,
  TCONV_OPT_ADAM,
  TCONV_OPT_RMSPROP
} tconv_optimizer_kind;
typedef struct tconv_optimizer_config {
  tconv_optimizer_kind kind;
  double learning_rate;
  double momentum;       /* SGD, RMSprop */
  bool nesterov;         /* SGD */
  double beta_1, beta_2; /* Adam */
  double epsilon;        /* Adam, RMSprop */
  bool amsgrad;          /* Adam */
  double rho;            /* RMSprop */
  bool centered;         /* RMSprop */
  const char *name;      /* slot scope; NULL: "SGD", "Adam", "RMSprop" */
} tconv_optimizer_config;
TCONV_API tconv_optimizer_config tconv_optimizer_config_default(tconv_optimizer_kind kind);

typedef struct tconv_optimizer tconv_optimizer;
/* Checks the config (learning_rate > 0, 0 <= momentum < 1 ... as Keras) and binds the store the
 * slots go to (it must outlive the optimizer).  Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_optimizer_create(const tconv_optimizer_config *cfg,
                                              tconv_store *store, tconv_optimizer **out);
TCONV_API void tconv_optimizer_destroy(tconv_optimizer *opt);
/* One Keras apply_gradients: updates each named store variable by its gradient (numel floats),
 * then iterations += 1.  No constraints (see tconv_optimizer_step).  Every name is checked
 * before anything changes.  Errors: INVALID_ARGUMENT (NULL, a non-trainable variable, a name
 * twice), NOT_FOUND (no such variable), SHAPE_MISMATCH (a slot of another shape in the store),
 * OUT_OF_MEMORY (making slots). */
TCONV_API tconv_status tconv_optimizer_apply(tconv_optimizer *opt, const char *const *names,
                                             const float *const *grads, size_t count);
/* One training step over layers built on the optimizer's store: applies grads[i] to layer i's
 * kernel and bias (layers built with trainable=false are skipped), then applies the layers'
 * constraints and marks the weights changed (layers repack).  Errors: those of
 * tconv_optimizer_apply; INVALID_ARGUMENT (NULL, a layer on another store, grads of another
 * shape), INVALID_STATE (a layer not built). */
TCONV_API tconv_status tconv_optimizer_step(tconv_optimizer *opt, tconv_layer *const *layers,
                                            const tconv_layer_grads *grads, size_t count);
/* Completed updates (Keras's optimizer.iterations); 0 before the first. */
TCONV_API int64_t tconv_optimizer_iterations(const tconv_optimizer *opt);

/* Checkpoints: a variable store (layer variables and optimizer slots) as a safetensors file.
 * Save writes every store variable as F32 under its store name, with "__metadata__" =
 * metadata_json (a JSON object of string values, e.g. from tconv_checkpoint_metadata) or, when
 * NULL, {"format":"tconv-checkpoint"}.  Crash-safe: temp file beside path, fsync, rename — an
 * interrupted or failed save leaves the previous file untouched.  `tconv inspect` lists it.
 * Errors: INVALID_ARGUMENT (NULL, bad metadata), IO_ERROR, LIMIT_EXCEEDED, OUT_OF_MEMORY,
 * UNSUPPORTED (built without libcjson). */
TCONV_API tconv_status tconv_checkpoint_save(const tconv_store *store, const char *path,
                                             const char *metadata_json);
/* Restores a checkpoint into a store whose variables exist (layers built): every store variable
 * must be in the file as float32 with the same shape; optimizer state in the file that the store
 * lacks (slots, iterations) is created.  All checks come first and every problem is listed in
 * one message ("missing variable dec/bias; dec/kernel: shape (3,3,1,32) in file vs (3,3,32,1) in
 * store; unexpected tensor enc/kernel (not in the store)"); nothing is written unless all pass.
 * Each variable is then copied and marked changed (layers repack).
 * Errors: INVALID_ARGUMENT (NULL), SHAPE_MISMATCH (a shape or dtype differs), NOT_FOUND
 * (missing or unexpected tensors only), and those of tconv_safetensors_read (IO_ERROR,
 * BAD_FILE, ...), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_checkpoint_restore(tconv_store *store, const char *path);
/* A Keras-style JSON text of a config (get_config names: filters, kernel_size, strides,
 * padding, output_padding, data_format, dilation_rate, activation, use_bias, initializers,
 * regularizers, constraints, trainable, name, plus form/groups/explicit_padding/adjust).
 * *out is freed with tconv_string_free.  Errors: INVALID_ARGUMENT (NULL), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_config_to_json(const tconv_config *cfg, char **out);
/* Checkpoint metadata for built layers: {"format":"tconv-checkpoint","tconv_version":"...",
 * "layers":"[<config JSON with in_channels>, ...]"} (safetensors metadata values are strings).
 * Errors: INVALID_ARGUMENT (NULL), INVALID_STATE (a layer not built), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_checkpoint_metadata(tconv_layer *const *layers, size_t count,
                                                 char **out);
TCONV_API void tconv_string_free(char *s);
/* @@TRAINING@@ */

/* ---------------------------------------------------------------------------------------------
 * Weight files: what TF/Keras/NumPy/PyTorch users already have, read into named tensors.
 * ------------------------------------------------------------------------------------------- */
typedef enum tconv_dtype {
  TCONV_DTYPE_FLOAT32 = 0,
  TCONV_DTYPE_FLOAT64,
  TCONV_DTYPE_FLOAT16,
  TCONV_DTYPE_BFLOAT16,
  TCONV_DTYPE_INT8,
  TCONV_DTYPE_UINT8,
  TCONV_DTYPE_INT16,
  TCONV_DTYPE_INT32,
  TCONV_DTYPE_INT64,
  TCONV_DTYPE_BOOL,
  TCONV_DTYPE_STRING,
  TCONV_DTYPE_OTHER
} tconv_dtype;
TCONV_API const char *tconv_dtype_name(tconv_dtype dtype); /* "float32", ... (NumPy names) */

/* One tensor of a weight file.  data holds the values converted to float32 for the floating
 * dtypes (NULL for the others, which are listed but not loadable). */
typedef struct tconv_named_tensor {
  char *name;       /* the name as stored in the file */
  char *alias;      /* a recovered Keras-style name ("dense/kernel"), or NULL */
  tconv_dtype dtype; /* dtype as stored */
  tconv_tensor value;
} tconv_named_tensor;

typedef struct tconv_weights {
  const char *format; /* "npy", "npz", "safetensors", "tf-checkpoint", "keras-h5", "keras-zip" */
  size_t count;
  tconv_named_tensor *items;
  char *metadata; /* format-specific metadata (safetensors __metadata__ as JSON), or NULL */
} tconv_weights;
TCONV_API void tconv_weights_free(tconv_weights *w);

/* .npz archives (np.savez / np.savez_compressed): every member a float32 or float64 .npy array,
 * stored or deflated.  Tensor names drop the ".npy" suffix np.savez adds ("conv2d_transpose/kernel"
 * from "conv2d_transpose/kernel.npy"); dtype is FLOAT32 or FLOAT64 as stored, values float32;
 * format "npz".  At most 1,024 members; CRC-32 verified; ZIP64 fields read with 64-bit checks.
 * Write stores float32 members "<name>.npy" without compression, atomically (archives < 4 GiB).
 * Errors: IO_ERROR, BAD_FILE, UNSUPPORTED (also when built without zlib), LIMIT_EXCEEDED,
 * OUT_OF_MEMORY, INVALID_ARGUMENT.  On error *out is left empty. */
TCONV_API tconv_status tconv_npz_read(const char *path, tconv_weights *out);
TCONV_API tconv_status tconv_npz_parse(const void *bytes, size_t size, tconv_weights *out);
TCONV_API tconv_status tconv_npz_write(const char *path, const tconv_weights *w);

/* safetensors files.  F64/F32/F16/BF16 tensors load as float32 values; I64/I32/I16/I8/U8/BOOL
 * (and U16/U32/U64/F8_E4M3/F8_E5M2, as TCONV_DTYPE_OTHER) are listed with their shape and
 * value.data NULL.  Tensors come in file data order; __metadata__ (string -> string) is kept as
 * JSON text in w->metadata; format "safetensors".  Every rule of the format is enforced (header
 * <= 100 MB, no duplicate keys, offsets matching shapes, the data buffer covered exactly).
 * Write stores float32 tensors (F32) in order; metadata_json is NULL or a JSON object of string
 * values that becomes "__metadata__"; atomic.  Errors: IO_ERROR, BAD_FILE, UNSUPPORTED (also when
 * built without libcjson), LIMIT_EXCEEDED, OUT_OF_MEMORY, INVALID_ARGUMENT.  On error *out is left
 * empty. */
TCONV_API tconv_status tconv_safetensors_read(const char *path, tconv_weights *out);
TCONV_API tconv_status tconv_safetensors_parse(const void *bytes, size_t size, tconv_weights *out);
TCONV_API tconv_status tconv_safetensors_write(const char *path, const tconv_weights *w,
                                               const char *metadata_json);

/* ---- Reading any weight file (src/io/load.c, tfckpt*.c, keras_h5.c, keras_zip.c) ------------
 * Flags for the readers that take them.  0 = read everything, fail on anything missing. */
#define TCONV_LOAD_NO_DATA 1u /* list names, dtypes and shapes only; read no tensor bytes */
/* TF checkpoints: list tensors whose data shard file is absent (value.data NULL) instead of
 * failing with NOT_FOUND (an `.index` copied without its `.data-*` files). */
#define TCONV_LOAD_ALLOW_MISSING_DATA 2u

/* Reads any supported weight file, detecting the format from the path and the bytes:
 *   - a directory holding a TF `checkpoint` state file (its model_checkpoint_path is read),
 *     PREFIX, PREFIX.index or PREFIX.data-SSSSS-of-NNNNN of a TF checkpoint V2 bundle;
 *   - ".npy" magic (one tensor, named after the file without its extension), ZIP archives (a
 *     .keras zip when it has a model.weights.h5 member, otherwise .npz), safetensors (an 8-byte
 *     header length followed by '{'), HDF5 (Keras .h5 / .weights.h5).
 * out->format names what was found.  On error *out is left empty.
 * Errors: INVALID_ARGUMENT (NULL), NOT_FOUND (no such file / checkpoint), IO_ERROR,
 * UNSUPPORTED (unknown format, or a format whose library this build lacks), BAD_FILE,
 * LIMIT_EXCEEDED, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_weights_load(const char *path, tconv_weights *out);
TCONV_API tconv_status tconv_weights_load_ex(const char *path, unsigned flags, tconv_weights *out);
/* Writes w to path in the format its extension names: ".npz" or ".safetensors" (float tensors
 * only; non-float tensors are skipped, aliases are not written).  Atomic.  Errors:
 * INVALID_ARGUMENT (NULL, other extension, no float tensor), and those of tconv_npz_write /
 * tconv_safetensors_write. */
TCONV_API tconv_status tconv_weights_save(const char *path, const tconv_weights *w);
/* The tensor whose stored name or recovered alias equals name (alias ":0" suffixes ignored);
 * NULL when none. */
TCONV_API const tconv_named_tensor *tconv_weights_find(const tconv_weights *w, const char *name);

/* TF checkpoint V2 (tf.train.Saver / tf.train.Checkpoint / Keras save_weights in TF format).
 * path: PREFIX, PREFIX.index, a data shard, or a directory with a `checkpoint` state file.
 * The .index table (LevelDB format: footer magic, block CRC32Cs, restart arrays, increasing keys,
 * snappy blocks through libsnappy) and every BundleEntryProto are validated; every tensor's bytes
 * are bounds-checked against its shard and its masked CRC32C verified, including DT_STRING ones.
 * Tensors: float32/float64/float16/bfloat16 load as float32; int8/16/32/64, uint8, bool and
 * string are listed (value.data NULL) with dtype and shape.  Names are the stored keys; in TF2
 * object-based checkpoints ("model/.../layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE")
 * alias holds the Keras variable name from the _CHECKPOINTABLE_OBJECT_GRAPH
 * ("conv2d_transpose/kernel"; optimizer slots "conv2d_transpose/kernel/m").  format
 * "tf-checkpoint".  Limits: index <= 1 GiB, blocks <= 64 MiB, 1..1024 shards, rank <= 8, the
 * process tensor limits.  Partitioned variables, big-endian bundles and other dtypes
 * (complex, resource, variant, quantized) are UNSUPPORTED.
 * Errors: INVALID_ARGUMENT, NOT_FOUND (no index; a data shard missing unless
 * TCONV_LOAD_ALLOW_MISSING_DATA), IO_ERROR, BAD_FILE (malformed, CRC mismatch, bad offsets,
 * negative dimension, missing dtype), UNSUPPORTED, LIMIT_EXCEEDED, OUT_OF_MEMORY.  On error *out
 * is left empty. */
TCONV_API tconv_status tconv_tfckpt_read(const char *path, unsigned flags, tconv_weights *out);
/* The same on memory: the .index bytes and shard_count data shards (shards[i] may be NULL for a
 * missing shard). */
TCONV_API tconv_status tconv_tfckpt_parse(const void *index, size_t index_size,
                                          const void *const *shards, const size_t *shard_sizes,
                                          size_t shard_count, unsigned flags, tconv_weights *out);

/* Keras HDF5 weights through libhdf5: Keras 2 `model.save("m.h5")` (weights under
 * model_weights/, listed by the layer_names / weight_names attributes, fixed- or variable-length
 * strings) and `save_weights("w.h5")` (layer groups at the root), and Keras 3 / 2.13
 * `.weights.h5` files (layers/<name>/vars/<i>, _layer_checkpoint_dependencies/<name>/vars/<i>).
 * Names are dataset paths ("model_weights/conv2d_transpose/conv2d_transpose/kernel:0"); alias is
 * the Keras weight name without ":0" ("conv2d_transpose/kernel"), and for vars/<i> layouts of
 * conv and dense layers "<name>/kernel" (i = 0) and "<name>/bias" (i = 1).  Float datasets load
 * as float32; integer ones are listed.  format "keras-h5".  At most 100,000 datasets.
 * libhdf5 itself is not hardened against hostile files: read only files you would open with h5py.
 * Loads from several threads at once are safe (libhdf5's own lock in its thread-safe builds,
 * Debian's included; tconv's lock around its HDF5 reads otherwise).
 * Errors: INVALID_ARGUMENT, IO_ERROR, BAD_FILE (not HDF5, inconsistent attributes),
 * UNSUPPORTED (built without libhdf5), LIMIT_EXCEEDED, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_keras_h5_read(const char *path, tconv_weights *out);
TCONV_API tconv_status tconv_keras_h5_parse(const void *bytes, size_t size, tconv_weights *out);
/* Keras `.keras` zip archives (Keras 2.13+ and 3): reads the model.weights.h5 member in memory
 * (size-capped by the tensor byte limit) as tconv_keras_h5_parse does; config.json goes to
 * w->metadata.  format "keras-zip".  Errors: those of tconv_keras_h5_parse, NOT_FOUND (no
 * model.weights.h5 member), UNSUPPORTED (built without libzip or libhdf5). */
TCONV_API tconv_status tconv_keras_zip_read(const char *path, tconv_weights *out);

/* ---- One-call restore into a variable store (src/io/restore.c) ------------------------------ */
typedef enum tconv_weights_source {
  TCONV_SOURCE_TF = 0,      /* TF/Keras layouts: kernels (kh, kw, filters/groups, in_channels) */
  TCONV_SOURCE_PYTORCH = 1, /* ConvTranspose2d.weight (in, out/groups, kh, kw), re-laid out */
} tconv_weights_source;

typedef struct tconv_restore_options {
  tconv_weights_source source;
  /* Leave store variables that the file lacks untouched instead of failing with NOT_FOUND. */
  bool allow_missing;
  /* Restore only store variables whose name starts with this ("generator/"); NULL: all. */
  const char *only_prefix;
} tconv_restore_options;
TCONV_API tconv_restore_options tconv_restore_options_default(void);

/* Copies file tensors into the store's variables (creating none).  For each store variable V
 * (in store order) the tensor is found by, first, an exact match of V's name with a tensor's
 * normalized name or alias — normalized: ":0" and "/.ATTRIBUTES/VARIABLE_VALUE" suffixes
 * removed; for PyTorch sources '.' becomes '/' and weight -> kernel — then, if none, the unique
 * tensor whose normalized name or alias ends with "/" + V, then the unique one that V's name ends
 * with ("/" + name: a store scope the file lacks).  Optimizer slots never match a variable.
 * PyTorch kernels (rank 4) are re-laid out (in, out/g, kh, kw) -> (kh, kw, out/g, in); see
 * tconv_config_from_pytorch for the padding.  All-or-nothing: every variable is matched and
 * shape-checked before any is written.  Layers built on the store before the restore must be told
 * with tconv_layer_weights_changed.  restored (optional) receives the number written.
 * Errors: INVALID_ARGUMENT (NULL), NOT_FOUND (variables with no tensor; the message lists them),
 * SHAPE_MISMATCH (the message lists each variable with both shapes, or a non-float tensor),
 * INVALID_STATE (a variable matches several tensors: ambiguous, listed), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_store_restore(tconv_store *store, const tconv_weights *w,
                                           const tconv_restore_options *opt, size_t *restored);
/* tconv_weights_load + tconv_store_restore.  Errors: those of both. */
TCONV_API tconv_status tconv_store_restore_file(tconv_store *store, const char *path,
                                                const tconv_restore_options *opt,
                                                size_t *restored);

/* torch.nn.ConvTranspose2d's arguments. */
typedef struct tconv_pytorch_conv_transpose2d {
  int64_t in_channels, out_channels;
  int64_t kernel_size[2], stride[2], padding[2], output_padding[2], dilation[2];
  int64_t groups;
  bool bias;
} tconv_pytorch_conv_transpose2d;
/* A layer configuration computing exactly what the PyTorch module computes, in the core form:
 * explicit_padding = {p_h, p_h, p_w, p_w} and adjust = output_padding, i.e. crop padding at both
 * ends of each axis and lengthen the output by output_padding at the bottom/right (those rows
 * hold whatever the full transposed convolution has there, bias only past its end) — which
 * is PyTorch's O = (I-1)s - 2p + d(k-1) + output_padding + 1; channels_first (NCHW, as PyTorch
 * tensors are).  TF 'SAME' puts an odd crop at the end, which symmetric PyTorch padding cannot
 * express: import such models with explicit_padding set by hand.
 * Its kernel is the module's weight after tconv_kernel_from_pytorch.  Errors: INVALID_ARGUMENT
 * (non-positive sizes, negative padding, output_padding >= max(stride, dilation) as PyTorch
 * rejects, channels not divisible by groups). */
TCONV_API tconv_status tconv_config_from_pytorch(const tconv_pytorch_conv_transpose2d *t,
                                                 tconv_config *cfg);
/* Re-lays out a PyTorch ConvTranspose2d weight (in, out/groups, kh, kw) into a newly allocated
 * (kh, kw, out/groups, in) tensor; no flip.  Errors: INVALID_ARGUMENT (not rank 4, no data),
 * LIMIT_EXCEEDED, OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_kernel_from_pytorch(const tconv_tensor *src, tconv_tensor *dst);

/* @@WEIGHTS@@ */

/* ---------------------------------------------------------------------------------------------
 * Images and datasets.
 * ------------------------------------------------------------------------------------------- */
/* An image as floats in [0, 1], row-major HWC (height, width, channels), what the layer takes as
 * one NHWC batch item.  channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.  bit_depth is the depth
 * the file had (8 or 16; palette and 1/2/4-bit gray count as 8) and the depth save writes. */
typedef struct tconv_image {
  size_t width, height, channels;
  int bit_depth;
  float *data; /* height * width * channels values, owned (tconv_image_free) */
} tconv_image;

/* Allocates a zero-filled image (channels 1..4, bit_depth 8 or 16).  Errors: INVALID_ARGUMENT,
 * LIMIT_EXCEEDED (width * height above max_image_pixels, or the tensor limits), OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_image_alloc(tconv_image *img, size_t width, size_t height,
                                         size_t channels, int bit_depth);
TCONV_API void tconv_image_free(tconv_image *img);
/* Decodes a PNG or JPEG (found from the bytes' signature, not the file name).
 * PNG through libpng's low-level API with explicit transforms: 1/2/4/8/16-bit gray, gray+alpha,
 * RGB, RGBA and palette images (palettes expanded to RGB, tRNS to an alpha channel), interlaced
 * or not; 16-bit samples keep all 16 bits.  JPEG through libjpeg: gray or RGB (CMYK/YCCK are
 * UNSUPPORTED); any libjpeg warning (a truncated or corrupt stream) is an error.  Limits checked
 * before any pixel buffer is allocated: width * height <= max_image_pixels, each side
 * <= 1,000,000, and the float buffer within the tensor limits; JPEG stops after 1,000 scans.
 * Errors: INVALID_ARGUMENT, BAD_FILE (not PNG/JPEG, corrupt, truncated), UNSUPPORTED (a format
 * this build lacks, CMYK JPEG), LIMIT_EXCEEDED, OUT_OF_MEMORY, IO_ERROR (load).  On error *out is
 * left empty. */
TCONV_API tconv_status tconv_image_decode(const void *bytes, size_t size, tconv_image *out);
TCONV_API tconv_status tconv_image_load(const char *path, tconv_image *out);
/* Writes img atomically, as JPEG (quality 95; 1 or 3 channels, 8-bit) when the path ends in
 * .jpg/.jpeg (any case), else as PNG at img->bit_depth (8 or 16).  Values are clamped to [0, 1]
 * and rounded to the nearest level (NaN writes 0).  Errors: INVALID_ARGUMENT (empty image, alpha
 * or 2 channels to JPEG), UNSUPPORTED (format missing from this build), IO_ERROR,
 * OUT_OF_MEMORY. */
TCONV_API tconv_status tconv_image_save(const char *path, const tconv_image *img);

/* MNIST IDX files (train-images-idx3-ubyte and the like), plain or gzip'd (detected by the
 * 1F 8B magic, not the name; needs zlib).  The header is validated first: two zero bytes, a type
 * (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64, big-endian), 1..4 dimensions,
 * the first <= 10,000,000 and the others <= 4,096, and the (decompressed) size must equal
 * 4 + 4 * ndims + numel * element size exactly; gzip streams are inflated no further than that
 * plus one byte.  Values are converted to float unchanged (u8 pixels stay 0..255).  out gets rank
 * ndims and the shape; type (optional) the IDX type byte.  Errors: INVALID_ARGUMENT, IO_ERROR,
 * BAD_FILE (bad magic, truncated, trailing bytes, corrupt gzip), UNSUPPORTED (gzip without
 * zlib), LIMIT_EXCEEDED, OUT_OF_MEMORY.  On error *out is left empty. */
TCONV_API tconv_status tconv_idx_parse(const void *bytes, size_t size, tconv_tensor *out,
                                       uint8_t *type);
TCONV_API tconv_status tconv_idx_load(const char *path, tconv_tensor *out, uint8_t *type);

/* @@IMAGES@@ */

#ifdef __cplusplus
}
#endif
#endif /* TCONV_H */
