/* The Conv2DTranspose layer: create -> build -> reshape -> forward -> destroy. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layer/layer_internal.h"
#include "layer/store.h"
#include "nn/nn.h"

tconv_config tconv_config_default(void) {
  tconv_config c;
  memset(&c, 0, sizeof c);
  c.strides[0] = c.strides[1] = 1;
  c.dilation_rate[0] = c.dilation_rate[1] = 1;
  c.padding = TCONV_PADDING_VALID;
  c.data_format = TCONV_CHANNELS_LAST;
  c.activation = TCONV_ACT_LINEAR;
  c.activation_alpha = NAN; /* the activation's own default (leaky_relu 0.2, elu 1.0) */
  c.use_bias = true;
  c.kernel_initializer = tconv_initializer_default(TCONV_INIT_GLOROT_UNIFORM);
  c.bias_initializer = tconv_initializer_default(TCONV_INIT_ZEROS);
  c.kernel_constraint = tconv_constraint_default(TCONV_CONSTRAINT_NONE);
  c.bias_constraint = tconv_constraint_default(TCONV_CONSTRAINT_NONE);
  c.trainable = true;
  c.form = TCONV_FORM_KERAS;
  c.groups = 1;
  return c;
}

tconv_activation tconv_config_activation(const tconv_config *c) {
  tconv_activation a = {c->activation, (float)c->activation_alpha, c->activation_fn,
                        c->activation_grad, c->activation_ctx};
  if (isnan(c->activation_alpha))
    a.alpha = c->activation == TCONV_ACT_LEAKY_RELU ? 0.2f : 1.0f;
  return a;
}

static tconv_status check_regularizer(const tconv_regularizer *r, const char *what) {
  RETURN_IF((unsigned)r->kind > TCONV_REG_L1_L2, TCONV_INVALID_ARGUMENT, "%s: unknown kind %d",
            what, (int)r->kind);
  RETURN_IF(!(r->l1 >= 0) || !(r->l2 >= 0), TCONV_INVALID_ARGUMENT,
            "%s: l1 and l2 must be >= 0", what);
  return TCONV_OK;
}

tconv_status tconv_layer_create(const tconv_config *cfg, tconv_layer **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "layer_create: out is NULL");
  *out = NULL;
  RETURN_IF_ERROR(tconv_config_check(cfg));
  RETURN_IF_ERROR(check_regularizer(&cfg->kernel_regularizer, "kernel_regularizer"));
  RETURN_IF_ERROR(check_regularizer(&cfg->bias_regularizer, "bias_regularizer"));
  RETURN_IF_ERROR(check_regularizer(&cfg->activity_regularizer, "activity_regularizer"));
  RETURN_IF((unsigned)cfg->kernel_initializer.kind >= TCONV_INIT_COUNT_ ||
                (unsigned)cfg->bias_initializer.kind >= TCONV_INIT_COUNT_,
            TCONV_INVALID_ARGUMENT, "unknown initializer");
  RETURN_IF((unsigned)cfg->kernel_constraint.kind > TCONV_CONSTRAINT_UNIT_NORM ||
                (unsigned)cfg->bias_constraint.kind > TCONV_CONSTRAINT_UNIT_NORM,
            TCONV_INVALID_ARGUMENT, "unknown constraint");
  if (cfg->name != NULL) {
    RETURN_IF(cfg->name[0] == '\0', TCONV_INVALID_ARGUMENT, "the layer name is empty");
    RETURN_IF(strlen(cfg->name) > 256, TCONV_INVALID_ARGUMENT, "the layer name is too long");
  }
  RETURN_IF(cfg->reuse && cfg->name == NULL, TCONV_INVALID_ARGUMENT,
            "reuse needs a layer name to bind variables to");
  tconv_layer *l = tconv_alloc_zeroed(sizeof *l);
  RETURN_IF(l == NULL, TCONV_OUT_OF_MEMORY, "layer_create: out of memory");
  l->cfg = *cfg;
  l->cfg.name = NULL;
  if (cfg->name != NULL && (l->name = tconv_strdup(cfg->name)) == NULL) {
    tconv_dealloc(l);
    return tconv_error(TCONV_OUT_OF_MEMORY, "layer_create: out of memory");
  }
  l->cfg.name = l->name;
  l->act = tconv_config_activation(cfg);
  pthread_mutex_init(&l->plan_lock, NULL);
  *out = l;
  return TCONV_OK;
}

void tconv_layer_destroy(tconv_layer *l) {
  if (l == NULL) return;
  tconv_plan_destroy(l->plan);
  pthread_mutex_destroy(&l->plan_lock);
  tconv_dealloc(l->name);
  tconv_dealloc(l);
}

/* Automatic names as TF uniquifies layer names: conv2d_transpose, conv2d_transpose_1, ... */
static tconv_status pick_name(tconv_layer *l, tconv_store *store) {
  if (l->name != NULL) return TCONV_OK;
  char buf[64];
  for (unsigned k = 0;; k++) {
    if (k == 0)
      snprintf(buf, sizeof buf, "conv2d_transpose");
    else
      snprintf(buf, sizeof buf, "conv2d_transpose_%u", k);
    char kname[80];
    snprintf(kname, sizeof kname, "%s/kernel", buf);
    if (!tconv_store_has_layer_name(store, buf) && tconv_store_find(store, kname) == NULL) break;
  }
  l->name = tconv_strdup(buf);
  RETURN_IF(l->name == NULL, TCONV_OUT_OF_MEMORY, "layer_build: out of memory");
  l->cfg.name = l->name;
  return TCONV_OK;
}

static tconv_status bind_or_make(tconv_layer *l, tconv_store *store, const char *suffix,
                                 size_t rank, const size_t *shape,
                                 const tconv_initializer *init, tconv_tensor **out) {
  char name[300];
  snprintf(name, sizeof name, "%s/%s", l->name, suffix);
  tconv_tensor *t = tconv_store_find(store, name);
  if (l->cfg.reuse) {
    RETURN_IF(t == NULL, TCONV_NOT_FOUND,
              "variable %s does not exist, so it cannot be reused (create it without reuse first)",
              name);
    RETURN_IF(!tconv_tensor_has_shape(t, rank, shape), TCONV_SHAPE_MISMATCH,
              "variable %s exists with another shape than this layer needs", name);
    *out = t;
    return TCONV_OK;
  }
  RETURN_IF(t != NULL, TCONV_ALREADY_EXISTS,
            "variable %s already exists; set reuse to share it, or pick another name", name);
  RETURN_IF_ERROR(tconv_store_add(store, name, rank, shape, l->cfg.trainable, &t));
  tconv_status st = tconv_initializer_fill_named(init, t, name);
  if (st != TCONV_OK) return st;
  *out = t;
  return TCONV_OK;
}

tconv_status tconv_layer_build(tconv_layer *l, tconv_store *store, size_t in_channels) {
  RETURN_IF(l == NULL || store == NULL, TCONV_INVALID_ARGUMENT, "layer_build: NULL argument");
  RETURN_IF(l->state != LAYER_CREATED, TCONV_INVALID_STATE, "layer %s is already built",
            l->name ? l->name : "");
  RETURN_IF(in_channels == 0, TCONV_INVALID_ARGUMENT,
            "in_channels must be >= 1 (a kernel with zero elements)");
  RETURN_IF(in_channels > tconv_get_limits().max_dim, TCONV_LIMIT_EXCEEDED,
            "in_channels %zu is above the limit", in_channels);
  RETURN_IF(in_channels % (size_t)l->cfg.groups != 0, TCONV_INVALID_ARGUMENT,
            "in_channels %zu is not divisible by groups %lld", in_channels,
            (long long)l->cfg.groups);
  RETURN_IF_ERROR(pick_name(l, store));
  const size_t kshape[4] = {(size_t)l->cfg.kernel_size[0], (size_t)l->cfg.kernel_size[1],
                            (size_t)(l->cfg.filters / l->cfg.groups), in_channels};
  RETURN_IF_ERROR(tconv_check_shape(4, kshape, sizeof(float), NULL, "kernel"));
  RETURN_IF_ERROR(bind_or_make(l, store, "kernel", 4, kshape, &l->cfg.kernel_initializer,
                               &l->kernel));
  if (l->cfg.use_bias) {
    const size_t bshape[1] = {(size_t)l->cfg.filters};
    RETURN_IF_ERROR(
        bind_or_make(l, store, "bias", 1, bshape, &l->cfg.bias_initializer, &l->bias));
  }
  RETURN_IF_ERROR(tconv_store_add_layer_name(store, l->name));
  l->store = store;
  l->in_channels = in_channels;
  l->state = LAYER_BUILT;
  return TCONV_OK;
}

const char *tconv_layer_name(const tconv_layer *l) { return l && l->name ? l->name : ""; }
tconv_tensor *tconv_layer_kernel(tconv_layer *l) { return l ? l->kernel : NULL; }
tconv_tensor *tconv_layer_bias(tconv_layer *l) { return l ? l->bias : NULL; }

void tconv_layer_weights_changed(tconv_layer *l) {
  if (l && l->store && l->kernel) tconv_store_touch(l->store, l->kernel);
}

tconv_status tconv_layer_reshape(tconv_layer *l, const size_t input_shape[4],
                                 size_t output_shape[4]) {
  RETURN_IF(l == NULL || input_shape == NULL, TCONV_INVALID_ARGUMENT,
            "layer_reshape: NULL argument");
  RETURN_IF(l->state == LAYER_CREATED, TCONV_INVALID_STATE,
            "layer %s must be built before reshape", l->name ? l->name : "");
  tconv_geometry g;
  RETURN_IF_ERROR(tconv_geometry_compute(&l->cfg, input_shape, l->kernel->shape, &g));
  /* An empty output needs no plan (and must not pay for per-row tables of a huge empty axis). */
  tconv_plan *plan = NULL;
  if (g.batch * g.out_h * g.out_w * g.out_c > 0)
    RETURN_IF_ERROR(tconv_plan_create(&g, l->kernel->data, &plan));
  pthread_mutex_lock(&l->plan_lock);
  tconv_plan_destroy(l->plan);
  l->plan = plan;
  l->plan_version = tconv_store_version(l->store, l->kernel);
  l->geom = g;
  l->state = LAYER_RESHAPED;
  pthread_mutex_unlock(&l->plan_lock);
  if (output_shape) tconv_geometry_output_shape(&g, output_shape);
  return TCONV_OK;
}

const tconv_geometry *tconv_layer_geometry(const tconv_layer *l) {
  return l && l->state == LAYER_RESHAPED ? &l->geom : NULL;
}

tconv_status tconv_layer_current_plan(const tconv_layer *cl, const tconv_plan **out) {
  tconv_layer *l = (tconv_layer *)cl; /* only the plan cache changes, under its lock */
  tconv_status st = TCONV_OK;
  pthread_mutex_lock(&l->plan_lock);
  uint64_t v = tconv_store_version(l->store, l->kernel);
  if (l->plan == NULL || v != l->plan_version) { /* none yet (empty output at reshape) or stale */
    tconv_plan *plan = NULL;
    st = tconv_plan_create(&l->geom, l->kernel->data, &plan);
    if (st == TCONV_OK) {
      tconv_plan_destroy(l->plan);
      l->plan = plan;
      l->plan_version = v;
    }
  }
  *out = l->plan;
  pthread_mutex_unlock(&l->plan_lock);
  return st;
}

tconv_status tconv_layer_forward(const tconv_layer *l, const float *x, float *y,
                                 tconv_threadpool *pool) {
  RETURN_IF(l == NULL, TCONV_INVALID_ARGUMENT, "layer_forward: layer is NULL");
  RETURN_IF(l->state != LAYER_RESHAPED, TCONV_INVALID_STATE,
            "layer %s must be reshaped (given an input shape) before forward",
            l->name ? l->name : "");
  const tconv_geometry *g = &l->geom;
  size_t in_n = g->batch * g->in_h * g->in_w * g->in_c;
  size_t out_n = g->batch * g->out_h * g->out_w * g->out_c;
  RETURN_IF((x == NULL && in_n > 0) || (y == NULL && out_n > 0), TCONV_INVALID_ARGUMENT,
            "layer_forward: NULL input or output");
  if (out_n == 0) return TCONV_OK;
  const tconv_plan *plan;
  RETURN_IF_ERROR(tconv_layer_current_plan(l, &plan));
  return tconv_plan_run(plan, x, l->bias ? l->bias->data : NULL, &l->act, y, pool);
}

double tconv_layer_weight_loss(const tconv_layer *l) {
  if (l == NULL || l->kernel == NULL) return 0.0;
  double loss = tconv_regularizer_loss(&l->cfg.kernel_regularizer, l->kernel->data,
                                       tconv_tensor_numel(l->kernel));
  if (l->bias)
    loss += tconv_regularizer_loss(&l->cfg.bias_regularizer, l->bias->data,
                                   tconv_tensor_numel(l->bias));
  return loss;
}

double tconv_layer_activity_loss(const tconv_layer *l, const float *y) {
  if (l == NULL || l->state != LAYER_RESHAPED || y == NULL || l->geom.batch == 0) return 0.0;
  const tconv_geometry *g = &l->geom;
  size_t n = g->batch * g->out_h * g->out_w * g->out_c;
  /* Keras divides the activity regularizer by the batch size. */
  return tconv_regularizer_loss(&l->cfg.activity_regularizer, y, n) / (double)g->batch;
}

void tconv_layer_apply_constraints(tconv_layer *l) {
  if (l == NULL || l->kernel == NULL) return;
  if (l->cfg.kernel_constraint.kind != TCONV_CONSTRAINT_NONE)
    tconv_constraint_apply(&l->cfg.kernel_constraint, l->kernel);
  if (l->bias && l->cfg.bias_constraint.kind != TCONV_CONSTRAINT_NONE)
    tconv_constraint_apply(&l->cfg.bias_constraint, l->bias);
  tconv_layer_weights_changed(l);
}

tconv_status tconv_forward(const tconv_geometry *g, const float *x, const float *kernel,
                           const float *bias, const tconv_activation *act, float *y,
                           tconv_threadpool *pool) {
  RETURN_IF(g == NULL || kernel == NULL, TCONV_INVALID_ARGUMENT, "forward: NULL argument");
  RETURN_IF_ERROR(tconv_geometry_check(g));
  size_t out_n = g->batch * g->out_h * g->out_w * g->out_c;
  RETURN_IF(y == NULL && out_n > 0, TCONV_INVALID_ARGUMENT, "forward: NULL output");
  if (out_n == 0) return TCONV_OK;
  RETURN_IF(x == NULL && g->batch * g->in_h * g->in_w * g->in_c > 0, TCONV_INVALID_ARGUMENT,
            "forward: NULL input");
  tconv_plan *plan = NULL;
  RETURN_IF_ERROR(tconv_plan_create(g, kernel, &plan));
  tconv_status st = tconv_plan_run(plan, x, bias, act, y, pool);
  tconv_plan_destroy(plan);
  return st;
}
