/* Regularizers (Keras: l1 * sum|w| + l2 * sum w^2, no 1/2) and constraints (applied after each
 * update, with Keras's epsilon 1e-7 in the norm divisions). */
#include <math.h>
#include <string.h>

#include "core/internal.h"

double tconv_regularizer_loss(const tconv_regularizer *r, const float *w, size_t n) {
  if (r == NULL || r->kind == TCONV_REG_NONE || w == NULL) return 0.0;
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) {
    s1 += fabs((double)w[i]);
    s2 += (double)w[i] * w[i];
  }
  double loss = 0;
  if (r->kind == TCONV_REG_L1 || r->kind == TCONV_REG_L1_L2) loss += r->l1 * s1;
  if (r->kind == TCONV_REG_L2 || r->kind == TCONV_REG_L1_L2) loss += r->l2 * s2;
  return loss;
}

tconv_constraint tconv_constraint_default(tconv_constraint_kind kind) {
  tconv_constraint c;
  memset(&c, 0, sizeof c);
  c.kind = kind;
  c.axis_mask = 1; /* Keras axis=0 */
  c.rate = 1.0;
  c.max_value = kind == TCONV_CONSTRAINT_MAX_NORM ? 2.0 : 1.0;
  c.min_value = 0.0;
  return c;
}

#define KERAS_EPSILON 1e-7

/* Visits every "fibre" of the tensor: the set of elements that share their indices on the axes
 * not in the mask.  The norm is taken over each fibre, as K.sum(..., axis, keepdims=True). */
tconv_status tconv_constraint_apply(const tconv_constraint *c, tconv_tensor *w) {
  RETURN_IF(c == NULL || w == NULL, TCONV_INVALID_ARGUMENT, "constraint: NULL argument");
  size_t n = tconv_tensor_numel(w);
  if (c->kind == TCONV_CONSTRAINT_NONE || n == 0) return TCONV_OK;
  if (c->kind == TCONV_CONSTRAINT_NON_NEG) {
    for (size_t i = 0; i < n; i++)
      if (!(w->data[i] >= 0)) w->data[i] = 0.0f;
    return TCONV_OK;
  }
  RETURN_IF(c->kind > TCONV_CONSTRAINT_UNIT_NORM, TCONV_INVALID_ARGUMENT, "unknown constraint %d",
            (int)c->kind);
  unsigned mask = w->rank <= 1 ? 1u : c->axis_mask;
  RETURN_IF(mask == 0 || (w->rank > 0 && (mask >> w->rank) != 0), TCONV_INVALID_ARGUMENT,
            "constraint axes 0x%x do not fit a rank-%zu tensor", mask, w->rank);
  /* strides of each axis */
  size_t stride[TCONV_MAX_RANK];
  size_t acc = 1;
  for (size_t a = w->rank; a-- > 0;) {
    stride[a] = acc;
    acc *= w->shape[a];
  }
  /* iterate over fibre starts: indices with zero on the reduced axes */
  size_t fibre = 1;
  for (size_t a = 0; a < w->rank; a++)
    if (mask & (1u << a)) fibre *= w->shape[a];
  size_t idx[TCONV_MAX_RANK] = {0};
  for (size_t start = 0; start < n; start++) {
    bool is_start = true;
    size_t rem = start;
    for (size_t a = 0; a < w->rank; a++) {
      idx[a] = rem / stride[a];
      rem %= stride[a];
      if ((mask & (1u << a)) && idx[a] != 0) is_start = false;
    }
    if (!is_start) continue;
    /* enumerate the fibre */
    double ss = 0;
    for (size_t f = 0; f < fibre; f++) {
      size_t off = start, r = f;
      for (size_t a = w->rank; a-- > 0;)
        if (mask & (1u << a)) {
          off += (r % w->shape[a]) * stride[a];
          r /= w->shape[a];
        }
      ss += (double)w->data[off] * w->data[off];
    }
    double norm = sqrt(ss), desired;
    switch (c->kind) {
    case TCONV_CONSTRAINT_MAX_NORM: desired = norm > c->max_value ? c->max_value : norm; break;
    case TCONV_CONSTRAINT_MIN_MAX_NORM: {
      double clipped = norm < c->min_value ? c->min_value : (norm > c->max_value ? c->max_value : norm);
      desired = c->rate * clipped + (1 - c->rate) * norm;
      break;
    }
    default: desired = 1.0; break; /* unit_norm */
    }
    double factor = desired / (KERAS_EPSILON + norm);
    for (size_t f = 0; f < fibre; f++) {
      size_t off = start, r = f;
      for (size_t a = w->rank; a-- > 0;)
        if (mask & (1u << a)) {
          off += (r % w->shape[a]) * stride[a];
          r /= w->shape[a];
        }
      w->data[off] = (float)(w->data[off] * factor);
    }
  }
  return TCONV_OK;
}
