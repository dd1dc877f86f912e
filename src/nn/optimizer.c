/* Optimizers with Keras's defaults and update rules (see tconv.h for the formulas).  State lives
 * in the variable store as non-trainable variables "<var>/<name>/<slot>" and "<name>/iterations",
 * so a checkpoint of the store carries it and a restored store resumes where it stopped.
 * Every argument and existing slot is checked before any variable or slot changes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "layer/layer_internal.h"
#include "layer/store.h"

struct tconv_optimizer {
  tconv_optimizer_config cfg;
  char *name;
  tconv_store *store;
};

tconv_optimizer_config tconv_optimizer_config_default(tconv_optimizer_kind kind) {
  tconv_optimizer_config c;
  memset(&c, 0, sizeof c);
  c.kind = kind;
  c.learning_rate = kind == TCONV_OPT_SGD ? 0.01 : 0.001;
  c.beta_1 = 0.9;
  c.beta_2 = 0.999;
  c.epsilon = 1e-7;
  c.rho = 0.9;
  return c;
}

static const char *default_name(tconv_optimizer_kind k) {
  return k == TCONV_OPT_SGD ? "SGD" : k == TCONV_OPT_ADAM ? "Adam" : "RMSprop";
}

tconv_status tconv_optimizer_create(const tconv_optimizer_config *cfg, tconv_store *store,
                                    tconv_optimizer **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "optimizer_create: out is NULL");
  *out = NULL;
  RETURN_IF(cfg == NULL || store == NULL, TCONV_INVALID_ARGUMENT,
            "optimizer_create: NULL config or store");
  RETURN_IF((unsigned)cfg->kind > TCONV_OPT_RMSPROP, TCONV_INVALID_ARGUMENT,
            "optimizer: unknown kind %d", (int)cfg->kind);
  RETURN_IF(!(cfg->learning_rate >= 0) || !isfinite(cfg->learning_rate), TCONV_INVALID_ARGUMENT,
            "optimizer: learning_rate must be a finite value >= 0, got %g", cfg->learning_rate);
  RETURN_IF(cfg->kind != TCONV_OPT_ADAM && !(cfg->momentum >= 0 && cfg->momentum <= 1),
            TCONV_INVALID_ARGUMENT, "optimizer: momentum must be in [0, 1], got %g",
            cfg->momentum);
  RETURN_IF(cfg->kind == TCONV_OPT_ADAM && !(cfg->beta_1 >= 0 && cfg->beta_1 < 1 &&
                                             cfg->beta_2 >= 0 && cfg->beta_2 < 1),
            TCONV_INVALID_ARGUMENT, "optimizer: beta_1 and beta_2 must be in [0, 1)");
  RETURN_IF(cfg->kind == TCONV_OPT_RMSPROP && !(cfg->rho >= 0 && cfg->rho < 1),
            TCONV_INVALID_ARGUMENT, "optimizer: rho must be in [0, 1), got %g", cfg->rho);
  RETURN_IF(cfg->kind != TCONV_OPT_SGD && (!(cfg->epsilon >= 0) || !isfinite(cfg->epsilon)),
            TCONV_INVALID_ARGUMENT, "optimizer: epsilon must be a finite value >= 0");
  const char *name = cfg->name ? cfg->name : default_name(cfg->kind);
  RETURN_IF(name[0] == '\0' || strlen(name) > 256, TCONV_INVALID_ARGUMENT,
            "optimizer: the name must have 1 to 256 characters");
  tconv_optimizer *o = tconv_alloc_zeroed(sizeof *o);
  char *copy = tconv_strdup(name);
  if (o == NULL || copy == NULL) {
    tconv_dealloc(o);
    tconv_dealloc(copy);
    return tconv_error(TCONV_OUT_OF_MEMORY, "optimizer_create: out of memory");
  }
  o->cfg = *cfg;
  o->cfg.name = copy;
  o->name = copy;
  o->store = store;
  *out = o;
  return TCONV_OK;
}

void tconv_optimizer_destroy(tconv_optimizer *o) {
  if (o == NULL) return;
  tconv_dealloc(o->name);
  tconv_dealloc(o);
}

/* The slots a variable needs under this configuration, in a fixed order. */
static size_t slot_list(const tconv_optimizer_config *c, const char *slots[3]) {
  size_t n = 0;
  switch (c->kind) {
  case TCONV_OPT_SGD:
    if (c->momentum > 0) slots[n++] = "momentum";
    break;
  case TCONV_OPT_ADAM:
    slots[n++] = "m";
    slots[n++] = "v";
    if (c->amsgrad) slots[n++] = "vhat";
    break;
  case TCONV_OPT_RMSPROP:
    slots[n++] = "velocity";
    if (c->momentum > 0) slots[n++] = "momentum";
    if (c->centered) slots[n++] = "average_gradient";
    break;
  }
  return n;
}

/* "<var>/<name>/<slot>" (or "<name>/<slot>" with var NULL) into a new string. */
static char *slot_name(const char *var, const char *name, const char *slot) {
  size_t n = (var ? strlen(var) + 1 : 0) + strlen(name) + strlen(slot) + 2;
  char *s = tconv_alloc(n);
  if (s == NULL) return NULL;
  if (var)
    snprintf(s, n, "%s/%s/%s", var, name, slot);
  else
    snprintf(s, n, "%s/%s", name, slot);
  return s;
}

/* Finds an existing slot (checking its shape) or, with make, adds it zero-filled. */
static tconv_status get_slot(tconv_optimizer *o, const char *var, const tconv_tensor *like,
                             const char *slot, bool make, tconv_tensor **out) {
  char *n = slot_name(var, o->name, slot);
  RETURN_IF(n == NULL, TCONV_OUT_OF_MEMORY, "optimizer: out of memory");
  tconv_tensor *t = tconv_store_find(o->store, n);
  tconv_status st = TCONV_OK;
  if (t != NULL && !tconv_tensor_same_shape(t, like))
    st = tconv_error(TCONV_SHAPE_MISMATCH,
                     "optimizer: slot %s exists with another shape than its variable", n);
  else if (t == NULL && make)
    st = tconv_store_add(o->store, n, like->rank, like->shape, false, &t);
  tconv_dealloc(n);
  *out = t;
  return st;
}

static tconv_status iterations_var(tconv_optimizer *o, bool make, tconv_tensor **out) {
  static const tconv_tensor scalar1 = {1, {1}, NULL};
  return get_slot(o, NULL, &scalar1, "iterations", make, out);
}

int64_t tconv_optimizer_iterations(const tconv_optimizer *o) {
  if (o == NULL) return 0;
  tconv_tensor *t = NULL;
  if (iterations_var((tconv_optimizer *)o, false, &t) != TCONV_OK || t == NULL) return 0;
  return (int64_t)t->data[0];
}

/* One variable's update at step t (1-based) with its slots s[] in slot_list order. */
static void update(const tconv_optimizer_config *c, double t, float *w, const float *g,
                   tconv_tensor *const *s, size_t n) {
  const double lr = c->learning_rate;
  switch (c->kind) {
  case TCONV_OPT_SGD:
    if (c->momentum > 0) {
      float *m = s[0]->data;
      for (size_t i = 0; i < n; i++) {
        const double mi = c->momentum * m[i] - lr * g[i];
        m[i] = (float)mi;
        w[i] = (float)(w[i] + (c->nesterov ? c->momentum * mi - lr * g[i] : mi));
      }
    } else {
      for (size_t i = 0; i < n; i++) w[i] = (float)(w[i] - lr * g[i]);
    }
    break;
  case TCONV_OPT_ADAM: {
    const double alpha =
        lr * sqrt(1.0 - pow(c->beta_2, t)) / (1.0 - pow(c->beta_1, t));
    float *m = s[0]->data, *v = s[1]->data, *vh = c->amsgrad ? s[2]->data : NULL;
    for (size_t i = 0; i < n; i++) {
      const double gi = g[i];
      const double mi = m[i] + (gi - m[i]) * (1.0 - c->beta_1);
      const double vi = v[i] + (gi * gi - v[i]) * (1.0 - c->beta_2);
      m[i] = (float)mi;
      v[i] = (float)vi;
      double den = vi;
      if (vh) {
        vh[i] = vh[i] > (float)vi ? vh[i] : (float)vi;
        den = vh[i];
      }
      w[i] = (float)(w[i] - alpha * mi / (sqrt(den) + c->epsilon));
    }
    break;
  }
  case TCONV_OPT_RMSPROP: {
    size_t k = 0;
    float *vel = s[k++]->data;
    float *mom = c->momentum > 0 ? s[k++]->data : NULL;
    float *avg = c->centered ? s[k++]->data : NULL;
    for (size_t i = 0; i < n; i++) {
      const double gi = g[i];
      const double vi = c->rho * vel[i] + (1.0 - c->rho) * gi * gi;
      vel[i] = (float)vi;
      double den = vi + c->epsilon;
      if (avg) {
        const double ai = c->rho * avg[i] + (1.0 - c->rho) * gi;
        avg[i] = (float)ai;
        den = vi - ai * ai + c->epsilon;
      }
      double inc = lr * gi / sqrt(den);
      if (mom) {
        inc = c->momentum * mom[i] + inc;
        mom[i] = (float)inc;
      }
      w[i] = (float)(w[i] - inc);
    }
    break;
  }
  }
}

tconv_status tconv_optimizer_apply(tconv_optimizer *o, const char *const *names,
                                   const float *const *grads, size_t count) {
  RETURN_IF(o == NULL || (count > 0 && (names == NULL || grads == NULL)), TCONV_INVALID_ARGUMENT,
            "optimizer_apply: NULL argument");
  const char *slots[3];
  const size_t nslots = slot_list(&o->cfg, slots);
  /* check everything first */
  for (size_t i = 0; i < count; i++) {
    RETURN_IF(names[i] == NULL, TCONV_INVALID_ARGUMENT, "optimizer_apply: name %zu is NULL", i);
    tconv_tensor *v = NULL;
    bool trainable = false;
    for (size_t k = 0; k < tconv_store_count(o->store); k++) {
      const char *nm;
      tconv_tensor *t = tconv_store_at(o->store, k, &nm, &trainable);
      if (strcmp(nm, names[i]) == 0) {
        v = t;
        break;
      }
    }
    RETURN_IF(v == NULL, TCONV_NOT_FOUND, "optimizer_apply: no variable %s in the store",
              names[i]);
    RETURN_IF(!trainable, TCONV_INVALID_ARGUMENT,
              "optimizer_apply: variable %s is not trainable", names[i]);
    RETURN_IF(grads[i] == NULL && tconv_tensor_numel(v) > 0, TCONV_INVALID_ARGUMENT,
              "optimizer_apply: the gradient of %s is NULL", names[i]);
    for (size_t j = 0; j < i; j++)
      RETURN_IF(strcmp(names[j], names[i]) == 0, TCONV_INVALID_ARGUMENT,
                "optimizer_apply: variable %s is given twice", names[i]);
    for (size_t s = 0; s < nslots; s++) {
      tconv_tensor *t;
      RETURN_IF_ERROR(get_slot(o, names[i], v, slots[s], false, &t));
    }
  }
  /* slot pointers are resolved (and missing slots made, zero-filled as Keras initialises
   * them) before any variable changes: the updates themselves cannot fail */
  tconv_tensor **slot_at = tconv_alloc((count * 3 + 1) * sizeof *slot_at);
  RETURN_IF(slot_at == NULL, TCONV_OUT_OF_MEMORY, "optimizer_apply: out of memory");
  tconv_tensor *iter = NULL;
  tconv_status st = iterations_var(o, true, &iter);
  for (size_t i = 0; i < count && st == TCONV_OK; i++) {
    tconv_tensor *v = tconv_store_find(o->store, names[i]);
    for (size_t s = 0; s < nslots && st == TCONV_OK; s++)
      st = get_slot(o, names[i], v, slots[s], true, &slot_at[i * 3 + s]);
  }
  if (st == TCONV_OK) {
    const double step = (double)iter->data[0] + 1.0;
    for (size_t i = 0; i < count; i++) {
      tconv_tensor *v = tconv_store_find(o->store, names[i]);
      update(&o->cfg, step, v->data, grads[i], slot_at + i * 3, tconv_tensor_numel(v));
      tconv_store_touch(o->store, v);
    }
    iter->data[0] = (float)step;
    tconv_store_touch(o->store, iter);
  }
  tconv_dealloc(slot_at);
  return st;
}

tconv_status tconv_optimizer_step(tconv_optimizer *o, tconv_layer *const *layers,
                                  const tconv_layer_grads *grads, size_t count) {
  RETURN_IF(o == NULL || (count > 0 && (layers == NULL || grads == NULL)),
            TCONV_INVALID_ARGUMENT, "optimizer_step: NULL argument");
  size_t nvars = 0;
  for (size_t i = 0; i < count; i++) {
    const tconv_layer *l = layers[i];
    RETURN_IF(l == NULL, TCONV_INVALID_ARGUMENT, "optimizer_step: layer %zu is NULL", i);
    RETURN_IF(l->state == LAYER_CREATED, TCONV_INVALID_STATE,
              "optimizer_step: layer %zu is not built", i);
    RETURN_IF(l->store != o->store, TCONV_INVALID_ARGUMENT,
              "optimizer_step: layer %s lives in another store than the optimizer's", l->name);
    if (!l->cfg.trainable) continue;
    RETURN_IF(grads[i].kernel.data == NULL || !tconv_tensor_same_shape(&grads[i].kernel, l->kernel) ||
                  (l->bias && (grads[i].bias.data == NULL || !tconv_tensor_same_shape(&grads[i].bias, l->bias))),
              TCONV_INVALID_ARGUMENT,
              "optimizer_step: the gradients of layer %s do not match its variables "
              "(use tconv_layer_grads_alloc)", l->name);
    nvars += l->bias ? 2 : 1;
  }
  char **names = tconv_alloc((nvars ? nvars : 1) * sizeof *names);
  const float **g = tconv_alloc((nvars ? nvars : 1) * sizeof *g);
  tconv_status st = TCONV_OK;
  size_t k = 0;
  if (names == NULL || g == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "optimizer_step: out of memory");
    goto done;
  }
  for (size_t i = 0; i < count && st == TCONV_OK; i++) {
    const tconv_layer *l = layers[i];
    if (!l->cfg.trainable) continue;
    const char *what[2] = {"kernel", "bias"};
    for (int b = 0; b < (l->bias ? 2 : 1); b++) {
      size_t len = strlen(l->name) + strlen(what[b]) + 2;
      names[k] = tconv_alloc(len);
      if (names[k] == NULL) {
        st = tconv_error(TCONV_OUT_OF_MEMORY, "optimizer_step: out of memory");
        break;
      }
      snprintf(names[k], len, "%s/%s", l->name, what[b]);
      g[k++] = b ? grads[i].bias.data : grads[i].kernel.data;
    }
  }
  if (st == TCONV_OK) st = tconv_optimizer_apply(o, (const char *const *)names, g, k);
  if (st == TCONV_OK)
    for (size_t i = 0; i < count; i++)
      if (layers[i]->cfg.trainable) tconv_layer_apply_constraints(layers[i]);
done:
  for (size_t i = 0; names && i < k; i++) tconv_dealloc(names[i]);
  tconv_dealloc(names);
  tconv_dealloc((void *)g);
  return st;
}
