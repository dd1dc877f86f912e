/* Native checkpoints: a variable store as safetensors (written through tconv_safetensors_write,
 * which writes atomically: temp file, fsync, rename), the layer configs as JSON metadata, and a
 * restore that checks every name, dtype and shape before it writes anything. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "layer/layer_internal.h"
#include "layer/store.h"

void tconv_string_free(char *s) { tconv_dealloc(s); }

/* ---- a growable string ---------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  size_t need; /* len + n + the terminating NUL, checked: n comes from caller strings */
  if (tconv_add_overflow(b->len, n, &need) || tconv_add_overflow(need, 1, &need)) {
    b->oom = true;
    return;
  }
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
      if (cap > SIZE_MAX / 2) {
        b->oom = true;
        return;
      }
      cap *= 2;
    }
    char *p = tconv_realloc(b->p, b->cap, cap);
    if (p == NULL) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void sb_json_string(sbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char e[2] = {'\\', (char)*c};
      sb_add(b, e, 2);
    } else if (*c < 0x20) {
      sb_fmt(b, "\\u%04x", *c);
    } else {
      sb_add(b, (const char *)c, 1);
    }
  }
  sb_add(b, "\"", 1);
}

static void sb_num(sbuf *b, double v) {
  if (isfinite(v))
    sb_fmt(b, "%.17g", v);
  else
    sb_str(b, "null"); /* JSON has no NaN or infinity */
}

static void sb_pair(sbuf *b, const char *key, const int64_t v[2]) {
  sb_fmt(b, ",\"%s\":[%lld,%lld]", key, (long long)v[0], (long long)v[1]);
}

/* ---- configs as JSON ------------------------------------------------------------------------ */

static void json_initializer(sbuf *b, const char *key, const tconv_initializer *in) {
  static const char *modes[] = {"fan_in", "fan_out", "fan_avg"};
  static const char *dists[] = {"truncated_normal", "untruncated_normal", "uniform"};
  sb_fmt(b, ",\"%s\":{\"class_name\":", key);
  sb_json_string(b, tconv_initializer_name(in->kind));
  sb_fmt(b, ",\"config\":{\"seed\":%llu", (unsigned long long)in->seed);
  switch (in->kind) {
  case TCONV_INIT_CONSTANT: sb_str(b, ",\"value\":"), sb_num(b, in->value); break;
  case TCONV_INIT_RANDOM_NORMAL:
  case TCONV_INIT_TRUNCATED_NORMAL:
    sb_str(b, ",\"mean\":"), sb_num(b, in->mean), sb_str(b, ",\"stddev\":"), sb_num(b, in->stddev);
    break;
  case TCONV_INIT_RANDOM_UNIFORM:
    sb_str(b, ",\"minval\":"), sb_num(b, in->minval);
    sb_str(b, ",\"maxval\":"), sb_num(b, in->maxval);
    break;
  case TCONV_INIT_VARIANCE_SCALING:
    sb_str(b, ",\"scale\":"), sb_num(b, in->scale);
    sb_fmt(b, ",\"mode\":\"%s\",\"distribution\":\"%s\"", modes[(unsigned)in->mode % 3],
           dists[(unsigned)in->distribution % 3]);
    break;
  case TCONV_INIT_ORTHOGONAL: sb_str(b, ",\"gain\":"), sb_num(b, in->gain); break;
  default: break;
  }
  sb_str(b, "}}");
}

static void json_regularizer(sbuf *b, const char *key, const tconv_regularizer *r) {
  static const char *names[] = {"none", "l1", "l2", "l1_l2"};
  sb_fmt(b, ",\"%s\":", key);
  if (r->kind == TCONV_REG_NONE || (unsigned)r->kind > TCONV_REG_L1_L2) {
    sb_str(b, "null");
    return;
  }
  sb_fmt(b, "{\"class_name\":\"%s\",\"config\":{\"l1\":", names[r->kind]);
  sb_num(b, r->kind == TCONV_REG_L2 ? 0.0 : r->l1);
  sb_str(b, ",\"l2\":");
  sb_num(b, r->kind == TCONV_REG_L1 ? 0.0 : r->l2);
  sb_str(b, "}}");
}

static void json_constraint(sbuf *b, const char *key, const tconv_constraint *c) {
  static const char *names[] = {"none", "max_norm", "min_max_norm", "non_neg", "unit_norm"};
  sb_fmt(b, ",\"%s\":", key);
  if (c->kind == TCONV_CONSTRAINT_NONE || (unsigned)c->kind > TCONV_CONSTRAINT_UNIT_NORM) {
    sb_str(b, "null");
    return;
  }
  sb_fmt(b, "{\"class_name\":\"%s\",\"config\":{\"min_value\":", names[c->kind]);
  sb_num(b, c->min_value);
  sb_str(b, ",\"max_value\":");
  sb_num(b, c->max_value);
  sb_str(b, ",\"rate\":");
  sb_num(b, c->rate);
  sb_fmt(b, ",\"axis_mask\":%u}}", c->axis_mask);
}

static void json_config(sbuf *b, const tconv_config *c, const char *name, size_t in_channels) {
  static const char *paddings[] = {"valid", "same", "explicit"};
  static const char *forms[] = {"keras", "tf_nn", "core"};
  sb_str(b, "{\"name\":");
  if (name)
    sb_json_string(b, name);
  else
    sb_str(b, "null");
  if (in_channels) sb_fmt(b, ",\"in_channels\":%zu", in_channels);
  sb_fmt(b, ",\"trainable\":%s,\"filters\":%lld", c->trainable ? "true" : "false",
         (long long)c->filters);
  sb_pair(b, "kernel_size", c->kernel_size);
  sb_pair(b, "strides", c->strides);
  sb_fmt(b, ",\"padding\":\"%s\"", paddings[(unsigned)c->padding % 3]);
  if (c->has_output_padding)
    sb_pair(b, "output_padding", c->output_padding);
  else
    sb_str(b, ",\"output_padding\":null");
  sb_fmt(b, ",\"data_format\":\"%s\"",
         c->data_format == TCONV_CHANNELS_FIRST ? "channels_first" : "channels_last");
  sb_pair(b, "dilation_rate", c->dilation_rate);
  sb_str(b, ",\"activation\":");
  sb_json_string(b, tconv_activation_name(c->activation));
  if (c->activation == TCONV_ACT_LEAKY_RELU || c->activation == TCONV_ACT_ELU) {
    sb_str(b, ",\"activation_alpha\":");
    sb_num(b, tconv_config_activation(c).alpha);
  }
  sb_fmt(b, ",\"use_bias\":%s", c->use_bias ? "true" : "false");
  json_initializer(b, "kernel_initializer", &c->kernel_initializer);
  json_initializer(b, "bias_initializer", &c->bias_initializer);
  json_regularizer(b, "kernel_regularizer", &c->kernel_regularizer);
  json_regularizer(b, "bias_regularizer", &c->bias_regularizer);
  json_regularizer(b, "activity_regularizer", &c->activity_regularizer);
  json_constraint(b, "kernel_constraint", &c->kernel_constraint);
  json_constraint(b, "bias_constraint", &c->bias_constraint);
  sb_fmt(b, ",\"form\":\"%s\"", forms[(unsigned)c->form % 3]);
  if (c->form == TCONV_FORM_TF_NN) sb_pair(b, "output_shape", c->output_shape);
  if (c->form != TCONV_FORM_KERAS)
    sb_fmt(b, ",\"explicit_padding\":[%lld,%lld,%lld,%lld]", (long long)c->explicit_padding[0],
           (long long)c->explicit_padding[1], (long long)c->explicit_padding[2],
           (long long)c->explicit_padding[3]);
  if (c->form == TCONV_FORM_CORE) sb_pair(b, "adjust", c->adjust);
  sb_fmt(b, ",\"groups\":%lld}", (long long)c->groups);
}

static tconv_status sb_finish(sbuf *b, char **out, const char *what) {
  if (b->oom || b->p == NULL) {
    tconv_dealloc(b->p);
    return tconv_error(TCONV_OUT_OF_MEMORY, "%s: out of memory", what);
  }
  *out = b->p;
  return TCONV_OK;
}

tconv_status tconv_config_to_json(const tconv_config *cfg, char **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "config_to_json: out is NULL");
  *out = NULL;
  RETURN_IF(cfg == NULL, TCONV_INVALID_ARGUMENT, "config_to_json: config is NULL");
  sbuf b = {0};
  json_config(&b, cfg, cfg->name, 0);
  return sb_finish(&b, out, "config_to_json");
}

tconv_status tconv_checkpoint_metadata(tconv_layer *const *layers, size_t count, char **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "checkpoint_metadata: out is NULL");
  *out = NULL;
  RETURN_IF(count > 0 && layers == NULL, TCONV_INVALID_ARGUMENT,
            "checkpoint_metadata: layers is NULL");
  for (size_t i = 0; i < count; i++) {
    RETURN_IF(layers[i] == NULL, TCONV_INVALID_ARGUMENT, "checkpoint_metadata: layer %zu is NULL",
              i);
    RETURN_IF(layers[i]->state == LAYER_CREATED, TCONV_INVALID_STATE,
              "checkpoint_metadata: layer %zu is not built (its name and channels are unknown)",
              i);
  }
  sbuf arr = {0};
  sb_str(&arr, "[");
  for (size_t i = 0; i < count; i++) {
    if (i) sb_str(&arr, ",");
    json_config(&arr, &layers[i]->cfg, layers[i]->name, layers[i]->in_channels);
  }
  sb_str(&arr, "]");
  char *layers_json = NULL;
  RETURN_IF_ERROR(sb_finish(&arr, &layers_json, "checkpoint_metadata"));
  sbuf b = {0};
  sb_str(&b, "{\"format\":\"tconv-checkpoint\",\"tconv_version\":\"" TCONV_VERSION_STRING
             "\",\"layers\":");
  sb_json_string(&b, layers_json); /* safetensors metadata values are strings */
  sb_str(&b, "}");
  tconv_dealloc(layers_json);
  return sb_finish(&b, out, "checkpoint_metadata");
}

/* ---- save / restore ------------------------------------------------------------------------- */

tconv_status tconv_checkpoint_save(const tconv_store *s, const char *path,
                                   const char *metadata_json) {
  RETURN_IF(s == NULL || path == NULL, TCONV_INVALID_ARGUMENT, "checkpoint_save: NULL argument");
  const size_t n = tconv_store_count(s);
  tconv_named_tensor *items = tconv_alloc_zeroed((n ? n : 1) * sizeof *items);
  RETURN_IF(items == NULL, TCONV_OUT_OF_MEMORY, "checkpoint_save: out of memory");
  for (size_t i = 0; i < n; i++) {
    const char *name;
    const tconv_tensor *t = tconv_store_at(s, i, &name, NULL);
    items[i].name = (char *)name; /* borrowed: the weights struct is never freed as such */
    items[i].dtype = TCONV_DTYPE_FLOAT32;
    items[i].value = *t;
  }
  tconv_weights w = {"safetensors", n, items, NULL};
  tconv_status st = tconv_safetensors_write(
      path, &w, metadata_json ? metadata_json : "{\"format\":\"tconv-checkpoint\"}");
  tconv_dealloc(items);
  return st;
}

static void shape_text(char *buf, size_t cap, const tconv_tensor *t) {
  size_t n = (size_t)snprintf(buf, cap, "(");
  for (size_t i = 0; i < t->rank && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, i ? ",%zu" : "%zu", t->shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, t->rank == 1 ? ",)" : ")");
}

/* Optimizer state the store may lack before the first step: "<var>/<opt>/<slot>" shaped like
 * store variable <var> with a slot name tconv's optimizers use, or "<opt>/iterations" (1). */
static bool is_optimizer_state(const tconv_store *s, const tconv_named_tensor *t) {
  const char *name = t->name, *last = strrchr(name, '/');
  if (last == NULL || last == name) return false;
  const char *slot = last + 1;
  if (strcmp(slot, "iterations") == 0)
    return t->value.rank == 1 && t->value.shape[0] == 1 && memchr(name, '/', (size_t)(last - name)) == NULL;
  static const char *slots[] = {"m", "v", "vhat", "momentum", "velocity", "average_gradient"};
  bool known = false;
  for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) known |= strcmp(slot, slots[i]) == 0;
  if (!known) return false;
  const char *opt = last - 1;
  while (opt > name && *opt != '/') opt--;
  if (opt == name) return false;
  size_t vlen = (size_t)(opt - name);
  for (size_t i = 0; i < tconv_store_count(s); i++) {
    const char *vn;
    const tconv_tensor *v = tconv_store_at(s, i, &vn, NULL);
    if (strlen(vn) == vlen && strncmp(vn, name, vlen) == 0) return tconv_tensor_same_shape(v, &t->value);
  }
  return false;
}

/* Collects the problems into one message of bounded length. */
typedef struct problems {
  char text[440];
  size_t len, count, shown;
  bool shape, missing;
} problems;

static void problem(problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(problems *p, const char *fmt, ...) {
  char one[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(one, sizeof one, fmt, ap);
  va_end(ap);
  p->count++;
  size_t need = strlen(one) + 2;
  if (p->len + need < sizeof p->text - 24) {
    p->len += (size_t)snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s",
                               p->shown ? "; " : "", one);
    p->shown++;
  }
}

static const tconv_named_tensor *find_tensor(const tconv_weights *w, const char *name) {
  for (size_t i = 0; i < w->count; i++)
    if (strcmp(w->items[i].name, name) == 0) return &w->items[i];
  return NULL;
}

tconv_status tconv_checkpoint_restore(tconv_store *s, const char *path) {
  RETURN_IF(s == NULL || path == NULL, TCONV_INVALID_ARGUMENT,
            "checkpoint_restore: NULL argument");
  tconv_weights w;
  RETURN_IF_ERROR(tconv_safetensors_read(path, &w));
  problems p;
  memset(&p, 0, sizeof p);
  char a[96], b[96];
  for (size_t i = 0; i < tconv_store_count(s); i++) {
    const char *name;
    const tconv_tensor *v = tconv_store_at(s, i, &name, NULL);
    const tconv_named_tensor *t = find_tensor(&w, name);
    if (t == NULL) {
      problem(&p, "missing variable %s", name);
      p.missing = true;
    } else if (t->dtype != TCONV_DTYPE_FLOAT32) {
      problem(&p, "%s: dtype %s in file vs float32 in store", name, tconv_dtype_name(t->dtype));
      p.shape = true;
    } else if (!tconv_tensor_same_shape(&t->value, v)) {
      shape_text(a, sizeof a, &t->value);
      shape_text(b, sizeof b, v);
      problem(&p, "%s: shape %s in file vs %s in store", name, a, b);
      p.shape = true;
    }
  }
  size_t to_create = 0;
  for (size_t i = 0; i < w.count; i++) {
    const tconv_named_tensor *t = &w.items[i];
    if (tconv_store_find(s, t->name) != NULL) continue;
    if (t->dtype == TCONV_DTYPE_FLOAT32 && is_optimizer_state(s, t)) {
      to_create++;
    } else {
      problem(&p, "unexpected tensor %s (not in the store)", t->name);
      p.missing = true;
    }
  }
  tconv_status st = TCONV_OK;
  if (p.count > 0) {
    st = tconv_error(p.shape ? TCONV_SHAPE_MISMATCH : TCONV_NOT_FOUND,
                     "%s: %zu problem%s: %s%s", path, p.count, p.count > 1 ? "s" : "", p.text,
                     p.shown < p.count ? "; ..." : "");
    goto done;
  }
  /* optimizer state first (the only step that can fail), then the copies */
  for (size_t i = 0; i < w.count && to_create > 0; i++) {
    const tconv_named_tensor *t = &w.items[i];
    if (tconv_store_find(s, t->name) != NULL) continue;
    st = tconv_store_add(s, t->name, t->value.rank, t->value.shape, false, NULL);
    if (st != TCONV_OK) goto done;
  }
  for (size_t i = 0; i < w.count; i++) {
    tconv_tensor *v = tconv_store_find(s, w.items[i].name);
    size_t n = tconv_tensor_numel(v);
    if (n) memcpy(v->data, w.items[i].value.data, n * sizeof(float));
    tconv_store_touch(s, v);
  }
done:
  tconv_weights_free(&w);
  return st;
}
