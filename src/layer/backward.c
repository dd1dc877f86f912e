/* Backward through the layer and the stateless tconv_backward.  The layer part is the Keras
 * chain rule around the core gradients of plan/backward.c:
 *     dy_total = dy + d(activity loss)/dy        (l1 sign(y) + 2 l2 y) / batch
 *     dz       = dy_total * f'(z)                 f' from tconv_activation_derivative(z, y)
 *     dx, dkernel, dbias from dz                  (core, any thread count, same bits)
 *     dkernel += l1 sign(w) + 2 l2 w              (kernel regularizer; same for the bias) */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "kernels/ref/ref.h"
#include "layer/layer_internal.h"
#include "plan/backward.h"
#include "plan/dispatch.h"

static size_t input_count(const tconv_geometry *g) {
  return g->batch * g->in_h * g->in_w * g->in_c;
}
static size_t output_count(const tconv_geometry *g) {
  return g->batch * g->out_h * g->out_w * g->out_c;
}

tconv_status tconv_backward(const tconv_geometry *g, const float *x, const float *kernel,
                            const float *dz, float *dx, float *dkernel, float *dbias,
                            tconv_threadpool *pool) {
  RETURN_IF(g == NULL, TCONV_INVALID_ARGUMENT, "backward: geometry is NULL");
  RETURN_IF_ERROR(tconv_geometry_check(g));
  const size_t xn = input_count(g), yn = output_count(g);
  RETURN_IF(dz == NULL && yn > 0 && (dx || dkernel || dbias), TCONV_INVALID_ARGUMENT,
            "backward: dz is NULL");
  RETURN_IF(dx != NULL && kernel == NULL, TCONV_INVALID_ARGUMENT,
            "backward: dx needs the kernel");
  RETURN_IF(dkernel != NULL && x == NULL && xn > 0, TCONV_INVALID_ARGUMENT,
            "backward: dkernel needs the input x");
  const size_t kn = g->kernel_h * g->kernel_w * (g->out_c / g->groups) * g->in_c;
  if (yn == 0) { /* nothing flows back from an empty output */
    if (dx) memset(dx, 0, xn * sizeof(float));
    if (dkernel) memset(dkernel, 0, kn * sizeof(float));
    if (dbias) memset(dbias, 0, g->out_c * sizeof(float));
    return TCONV_OK;
  }
  return tconv_backward_run(g, x, kernel, dz, dx, dkernel, dbias, pool, tconv_dispatch_path());
}

tconv_status tconv_layer_grads_alloc(const tconv_layer *l, tconv_layer_grads *g) {
  RETURN_IF(g == NULL, TCONV_INVALID_ARGUMENT, "layer_grads_alloc: NULL argument");
  memset(g, 0, sizeof *g);
  RETURN_IF(l == NULL, TCONV_INVALID_ARGUMENT, "layer_grads_alloc: NULL argument");
  RETURN_IF(l->state == LAYER_CREATED, TCONV_INVALID_STATE,
            "layer %s must be built before its gradients are allocated", l->name ? l->name : "");
  RETURN_IF_ERROR(tconv_tensor_alloc(&g->kernel, l->kernel->rank, l->kernel->shape));
  if (l->bias) {
    tconv_status st = tconv_tensor_alloc(&g->bias, l->bias->rank, l->bias->shape);
    if (st != TCONV_OK) {
      tconv_tensor_free(&g->kernel);
      return st;
    }
  }
  return TCONV_OK;
}

void tconv_layer_grads_free(tconv_layer_grads *g) {
  if (g == NULL) return;
  tconv_tensor_free(&g->kernel);
  tconv_tensor_free(&g->bias);
}

/* d/dw of l1 sum|w| + l2 sum w^2 (TF: the gradient of |w| at 0 is sign(0) = 0). */
static void add_regularizer_grad(const tconv_regularizer *r, const float *w, float *gw, size_t n) {
  if (r->kind == TCONV_REG_NONE) return;
  const double l1 = r->kind == TCONV_REG_L2 ? 0.0 : r->l1;
  const double l2 = r->kind == TCONV_REG_L1 ? 0.0 : r->l2;
  for (size_t i = 0; i < n; i++) {
    const double s = w[i] > 0 ? 1.0 : w[i] < 0 ? -1.0 : 0.0;
    gw[i] = (float)(gw[i] + l1 * s + 2.0 * l2 * w[i]);
  }
}

tconv_status tconv_layer_backward(tconv_layer *l, const float *x, const float *y, const float *dy,
                                  float *dx, tconv_layer_grads *grads, tconv_threadpool *pool) {
  RETURN_IF(l == NULL, TCONV_INVALID_ARGUMENT, "layer_backward: layer is NULL");
  RETURN_IF(l->state != LAYER_RESHAPED, TCONV_INVALID_STATE,
            "layer %s must be reshaped (given an input shape) before backward",
            l->name ? l->name : "");
  const tconv_geometry *g = &l->geom;
  const size_t xn = input_count(g), yn = output_count(g);
  RETURN_IF((x == NULL && xn > 0) || (dy == NULL && yn > 0), TCONV_INVALID_ARGUMENT,
            "layer_backward: NULL input or dy");
  if (grads != NULL) {
    RETURN_IF(grads->kernel.data == NULL || !tconv_tensor_same_shape(&grads->kernel, l->kernel),
              TCONV_INVALID_ARGUMENT,
              "layer_backward: the kernel gradient must be shaped like %s/kernel "
              "(use tconv_layer_grads_alloc)", l->name);
    RETURN_IF(l->bias && (grads->bias.data == NULL || !tconv_tensor_same_shape(&grads->bias, l->bias)),
              TCONV_INVALID_ARGUMENT,
              "layer_backward: the bias gradient must be shaped like %s/bias", l->name);
  }
  const tconv_activation *act = &l->act;
  RETURN_IF(act->kind == TCONV_ACT_CUSTOM && act->grad == NULL, TCONV_UNSUPPORTED,
            "layer %s: a custom activation needs activation_grad for backward", l->name);
  const tconv_regularizer *ar = &l->cfg.activity_regularizer;
  const bool has_activity = ar->kind != TCONV_REG_NONE && yn > 0;
  const bool y_only = act->kind == TCONV_ACT_SIGMOID || act->kind == TCONV_ACT_TANH ||
                      act->kind == TCONV_ACT_EXPONENTIAL;
  const bool linear = act->kind == TCONV_ACT_LINEAR;
  const bool need_y = (has_activity || y_only) && !linear;
  const bool need_z = !linear && (!y_only || y == NULL);
  const bool weights = grads != NULL && l->cfg.trainable;
  const size_t kn = tconv_tensor_numel(l->kernel);

  /* dz, computed in a workspace (which also holds z and, when recomputed, y) */
  float *dz = tconv_alloc((yn ? yn : 1) * sizeof(float) * (need_z && need_y && !y ? 3 : 2));
  RETURN_IF(dz == NULL, TCONV_OUT_OF_MEMORY, "layer_backward: cannot allocate %zu floats", yn);
  float *z = dz + yn, *yw = need_z && need_y && !y ? z + yn : NULL;
  tconv_status st = TCONV_OK;
  if (need_z && yn > 0) {
    const tconv_plan *plan;
    st = tconv_layer_current_plan(l, &plan);
    if (st == TCONV_OK) st = tconv_plan_run(plan, x, l->bias ? l->bias->data : NULL, NULL, z, pool);
    if (st != TCONV_OK) goto done;
    if (yw) {
      memcpy(yw, z, yn * sizeof(float));
      tconv_activation_apply(act, yw, yn);
      y = yw;
    }
  } else if (need_y && y == NULL && yn > 0) { /* y-only derivative, y not given: y = f(z) */
    const tconv_plan *plan;
    st = tconv_layer_current_plan(l, &plan);
    if (st == TCONV_OK) st = tconv_plan_run(plan, x, l->bias ? l->bias->data : NULL, act, z, pool);
    if (st != TCONV_OK) goto done;
    y = z;
  }
  if (has_activity && y == NULL && yn > 0) { /* linear layer with an activity regularizer: y = z */
    const tconv_plan *plan;
    st = tconv_layer_current_plan(l, &plan);
    if (st == TCONV_OK) st = tconv_plan_run(plan, x, l->bias ? l->bias->data : NULL, NULL, z, pool);
    if (st != TCONV_OK) goto done;
    y = z;
  }
  {
    const double inv_batch = g->batch ? 1.0 / (double)g->batch : 0.0;
    const double l1 = ar->kind == TCONV_REG_L1 || ar->kind == TCONV_REG_L1_L2 ? ar->l1 : 0.0;
    const double l2 = ar->kind == TCONV_REG_L2 || ar->kind == TCONV_REG_L1_L2 ? ar->l2 : 0.0;
    for (size_t i = 0; i < yn; i++) {
      double d = dy[i];
      if (has_activity) {
        const double yv = y[i], s = yv > 0 ? 1.0 : yv < 0 ? -1.0 : 0.0;
        d += (l1 * s + 2.0 * l2 * yv) * inv_batch;
      }
      if (!linear)
        d *= tconv_activation_derivative(act, need_z ? z[i] : 0.0f, y ? y[i] : 0.0f);
      dz[i] = (float)d;
    }
  }
  if (yn == 0) {
    if (dx) memset(dx, 0, xn * sizeof(float));
  } else {
    st = tconv_backward_run(g, x, l->kernel->data, dz, dx, weights ? grads->kernel.data : NULL,
                            weights && l->bias ? grads->bias.data : NULL, pool,
                            tconv_dispatch_path());
    if (st != TCONV_OK) goto done;
  }
  if (grads != NULL && !weights) { /* frozen layer: no gradient flows into its variables */
    memset(grads->kernel.data, 0, kn * sizeof(float));
    if (l->bias) memset(grads->bias.data, 0, l->bias->shape[0] * sizeof(float));
  } else if (weights) {
    if (yn == 0) {
      memset(grads->kernel.data, 0, kn * sizeof(float));
      if (l->bias) memset(grads->bias.data, 0, l->bias->shape[0] * sizeof(float));
    }
    add_regularizer_grad(&l->cfg.kernel_regularizer, l->kernel->data, grads->kernel.data, kn);
    if (l->bias)
      add_regularizer_grad(&l->cfg.bias_regularizer, l->bias->data, grads->bias.data,
                           l->bias->shape[0]);
  }
done:
  tconv_dealloc(dz);
  return st;
}
