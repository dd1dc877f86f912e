/* One-call restore: file tensors onto the variables a store already has, by name.
 *
 * The same weights are spelled differently by each writer: TF1 Saver "dec/conv/kernel", TF2
 * object graphs "model/.../layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE" (with the
 * Keras name recovered as alias), Keras h5 "model_weights/conv/conv/kernel:0", PyTorch
 * "decoder.0.weight".  Each tensor gets up to two normalized keys (name, alias); a variable takes
 * the tensor whose key equals its name, else the unique one ending in "/" + its name, else the
 * unique one its name ends with.  Everything is matched and checked before anything is written,
 * so a failed restore leaves the store as it was. */
#include "io/formats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

tconv_restore_options tconv_restore_options_default(void) {
  tconv_restore_options o = {.source = TCONV_SOURCE_TF, .allow_missing = false, .only_prefix = NULL};
  return o;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The normalized key of a stored name; NULL only when out of memory. */
static char *normalize(const char *name, tconv_weights_source source) {
  size_t n = strlen(name);
  char *k = tconv_alloc(n + 8);
  if (k == NULL) return NULL;
  memcpy(k, name, n + 1);
  if (ends_with(k, n, "/.ATTRIBUTES/VARIABLE_VALUE")) n -= strlen("/.ATTRIBUTES/VARIABLE_VALUE");
  if (ends_with(k, n, ":0")) n -= 2;
  k[n] = 0;
  if (source == TCONV_SOURCE_PYTORCH) {
    for (size_t i = 0; i < n; i++)
      if (k[i] == '.') k[i] = '/';
    if (ends_with(k, n, "/weight") || !strcmp(k, "weight")) {
      n -= 6;
      strcpy(k + n, "kernel");
    }
  }
  return k;
}

/* Ranks the tensor against a variable name: 3 exact, 2 tensor key ends with "/" + var,
 * 1 var ends with "/" + key, 0 no match. */
static int match_rank(const char *key, const char *var) {
  if (key == NULL) return 0;
  size_t kn = strlen(key), vn = strlen(var);
  if (kn == vn && !memcmp(key, var, kn)) return 3;
  if (kn > vn && key[kn - vn - 1] == '/' && !memcmp(key + kn - vn, var, vn)) return 2;
  if (vn > kn && kn > 0 && var[vn - kn - 1] == '/' && !memcmp(var + vn - kn, key, kn)) return 1;
  return 0;
}

/* Appends to the bounded report. */
static void report(char *buf, size_t cap, size_t *len, size_t *lines, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(char *buf, size_t cap, size_t *len, size_t *lines, const char *fmt, ...) {
  (*lines)++;
  if (*len + 2 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (w > 0) *len = *len + (size_t)w < cap ? *len + (size_t)w : cap - 1;
}

static void shape_text(char *out, size_t cap, size_t rank, const size_t *shape) {
  size_t len = 0;
  len += (size_t)snprintf(out, cap, "[");
  for (size_t i = 0; i < rank && len < cap; i++)
    len += (size_t)snprintf(out + len, cap - len, "%s%zu", i ? ", " : "", shape[i]);
  if (len < cap) snprintf(out + len, cap - len, "]");
}

tconv_status tconv_kernel_from_pytorch(const tconv_tensor *src, tconv_tensor *dst) {
  RETURN_IF(src == NULL || dst == NULL, TCONV_INVALID_ARGUMENT, "kernel_from_pytorch: NULL");
  memset(dst, 0, sizeof *dst);
  RETURN_IF(src->rank != 4 || src->data == NULL, TCONV_INVALID_ARGUMENT,
            "kernel_from_pytorch: expected a rank-4 (in, out/groups, kh, kw) tensor with data, got "
            "rank %zu", src->rank);
  size_t in = src->shape[0], out = src->shape[1], kh = src->shape[2], kw = src->shape[3];
  size_t shape[4] = {kh, kw, out, in};
  RETURN_IF_ERROR(tconv_tensor_alloc(dst, 4, shape));
  for (size_t i = 0; i < in; i++)
    for (size_t o = 0; o < out; o++)
      for (size_t a = 0; a < kh; a++)
        for (size_t b = 0; b < kw; b++)
          dst->data[((a * kw + b) * out + o) * in + i] = src->data[((i * out + o) * kh + a) * kw + b];
  return TCONV_OK;
}

tconv_status tconv_config_from_pytorch(const tconv_pytorch_conv_transpose2d *t, tconv_config *cfg) {
  RETURN_IF(t == NULL || cfg == NULL, TCONV_INVALID_ARGUMENT, "config_from_pytorch: NULL");
  RETURN_IF(t->in_channels < 1 || t->out_channels < 1 || t->groups < 1, TCONV_INVALID_ARGUMENT,
            "pytorch: in_channels %lld, out_channels %lld and groups %lld must be positive",
            (long long)t->in_channels, (long long)t->out_channels, (long long)t->groups);
  RETURN_IF(t->in_channels % t->groups || t->out_channels % t->groups, TCONV_INVALID_ARGUMENT,
            "pytorch: in_channels %lld and out_channels %lld must be divisible by groups %lld",
            (long long)t->in_channels, (long long)t->out_channels, (long long)t->groups);
  static const char axis[2] = {'h', 'w'};
  for (int i = 0; i < 2; i++) {
    RETURN_IF(t->kernel_size[i] < 1 || t->stride[i] < 1 || t->dilation[i] < 1,
              TCONV_INVALID_ARGUMENT,
              "pytorch: kernel_size, stride and dilation must be positive on axis %c", axis[i]);
    RETURN_IF(t->padding[i] < 0 || t->output_padding[i] < 0, TCONV_INVALID_ARGUMENT,
              "pytorch: negative padding or output_padding on axis %c", axis[i]);
    int64_t lim = t->stride[i] > t->dilation[i] ? t->stride[i] : t->dilation[i];
    RETURN_IF(t->output_padding[i] >= lim, TCONV_INVALID_ARGUMENT,
              "pytorch: output_padding %lld must be smaller than either stride %lld or dilation "
              "%lld on axis %c", (long long)t->output_padding[i], (long long)t->stride[i],
              (long long)t->dilation[i], axis[i]);
  }
  *cfg = tconv_config_default();
  cfg->form = TCONV_FORM_CORE;
  cfg->filters = t->out_channels;
  cfg->groups = t->groups;
  cfg->use_bias = t->bias;
  cfg->data_format = TCONV_CHANNELS_FIRST;
  for (int i = 0; i < 2; i++) {
    cfg->kernel_size[i] = t->kernel_size[i];
    cfg->strides[i] = t->stride[i];
    cfg->dilation_rate[i] = t->dilation[i];
    cfg->adjust[i] = t->output_padding[i];
  }
  cfg->explicit_padding[0] = cfg->explicit_padding[1] = t->padding[0];
  cfg->explicit_padding[2] = cfg->explicit_padding[3] = t->padding[1];
  return TCONV_OK;
}

typedef struct plan_item {
  tconv_tensor *var;
  const tconv_named_tensor *src;
} plan_item;

tconv_status tconv_store_restore(tconv_store *store, const tconv_weights *w,
                                 const tconv_restore_options *opt, size_t *restored) {
  if (restored) *restored = 0;
  RETURN_IF(store == NULL || w == NULL, TCONV_INVALID_ARGUMENT, "store_restore: NULL argument");
  tconv_restore_options o = opt ? *opt : tconv_restore_options_default();
  size_t nvars = tconv_store_count(store);
  size_t nt = w->count;
  tconv_status st = TCONV_OK;
  char **keys = tconv_alloc_zeroed((2 * nt + 1) * sizeof *keys);
  plan_item *plan = tconv_alloc_zeroed((nvars + 1) * sizeof *plan);
  if (keys == NULL || plan == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "store_restore: out of memory");
    goto done;
  }
  for (size_t i = 0; i < nt; i++) {
    keys[2 * i] = normalize(w->items[i].name, o.source);
    keys[2 * i + 1] = w->items[i].alias ? normalize(w->items[i].alias, o.source) : NULL;
    if (keys[2 * i] == NULL || (w->items[i].alias && keys[2 * i + 1] == NULL)) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "store_restore: out of memory");
      goto done;
    }
  }
  char msg[2048];
  size_t len = 0, missing = 0, mismatched = 0, ambiguous = 0, planned = 0;
  msg[0] = 0;
  for (size_t v = 0; v < nvars; v++) {
    const char *vname = NULL;
    tconv_tensor *var = tconv_store_at(store, v, &vname, NULL);
    if (var == NULL || vname == NULL) continue;
    if (o.only_prefix && strncmp(vname, o.only_prefix, strlen(o.only_prefix)) != 0) continue;
    /* Best rank over each tensor's two keys; count tensors at the best rank. */
    int best = 0;
    size_t found = 0, count = 0, second = 0;
    for (size_t i = 0; i < nt; i++) {
      int r = match_rank(keys[2 * i], vname), ra = match_rank(keys[2 * i + 1], vname);
      if (ra > r) r = ra;
      if (r == 0 || r < best) continue;
      if (r > best) {
        best = r;
        count = 0;
      }
      if (count++ == 0) found = i;
      else second = i;
    }
    if (best == 0) {
      if (!o.allow_missing)
        report(msg, sizeof msg, &len, &missing, "%s%s: no tensor in the file", len ? "; " : "", vname);
      continue;
    }
    if (count > 1) {
      report(msg, sizeof msg, &len, &ambiguous, "%s%s: ambiguous, matches '%s' and '%s'%s",
             len ? "; " : "", vname, w->items[found].name, w->items[second].name,
             count > 2 ? " and more" : "");
      continue;
    }
    const tconv_named_tensor *t = &w->items[found];
    char vs[128], ts[128];
    shape_text(vs, sizeof vs, var->rank, var->shape);
    shape_text(ts, sizeof ts, t->value.rank, t->value.shape);
    if (t->value.data == NULL) {
      report(msg, sizeof msg, &len, &mismatched, "%s%s: tensor '%s' (%s) has no float values",
             len ? "; " : "", vname, t->name, tconv_dtype_name(t->dtype));
      continue;
    }
    bool ok = t->value.rank == var->rank;
    bool torch = o.source == TCONV_SOURCE_PYTORCH && var->rank == 4;
    for (size_t d = 0; ok && d < var->rank; d++) {
      /* PyTorch (in, out/g, kh, kw) against ours (kh, kw, out/g, in). */
      static const size_t from_torch[4] = {2, 3, 1, 0};
      size_t td = torch ? from_torch[d] : d;
      ok = t->value.shape[td] == var->shape[d];
    }
    if (!ok) {
      report(msg, sizeof msg, &len, &mismatched, "%s%s: store shape %s, file tensor '%s' shape %s%s",
             len ? "; " : "", vname, vs, t->name, ts, torch ? " (PyTorch layout)" : "");
      continue;
    }
    plan[planned].var = var;
    plan[planned].src = t;
    planned++;
  }
  if (missing + mismatched + ambiguous) {
    size_t total = missing + mismatched + ambiguous;
    st = tconv_error(mismatched ? TCONV_SHAPE_MISMATCH : ambiguous ? TCONV_INVALID_STATE
                                                                   : TCONV_NOT_FOUND,
                     "restore: %zu variable%s not restored (%zu missing, %zu mismatched, %zu "
                     "ambiguous): %s%s", total, total == 1 ? "" : "s", missing, mismatched,
                     ambiguous, msg, len + 3 >= sizeof msg ? " ..." : "");
    goto done;
  }
  for (size_t p = 0; p < planned; p++) {
    tconv_tensor *var = plan[p].var;
    const tconv_tensor *src = &plan[p].src->value;
    if (o.source == TCONV_SOURCE_PYTORCH && var->rank == 4) {
      /* Straight into the variable: no allocation, so the write phase cannot fail halfway. */
      size_t kh = var->shape[0], kw = var->shape[1], out = var->shape[2], in = var->shape[3];
      for (size_t i = 0; i < in; i++)
        for (size_t oc = 0; oc < out; oc++)
          for (size_t a = 0; a < kh; a++)
            for (size_t b = 0; b < kw; b++)
              var->data[((a * kw + b) * out + oc) * in + i] =
                  src->data[((i * out + oc) * kh + a) * kw + b];
    } else {
      memcpy(var->data, src->data, tconv_tensor_numel(var) * sizeof(float));
    }
  }
  if (restored) *restored = planned;
done:
  if (keys)
    for (size_t i = 0; i < 2 * nt; i++) tconv_dealloc(keys[i]);
  tconv_dealloc(keys);
  tconv_dealloc(plan);
  return st;
}

tconv_status tconv_store_restore_file(tconv_store *store, const char *path,
                                      const tconv_restore_options *opt, size_t *restored) {
  if (restored) *restored = 0;
  RETURN_IF(store == NULL || path == NULL, TCONV_INVALID_ARGUMENT, "store_restore: NULL argument");
  tconv_weights w;
  RETURN_IF_ERROR(tconv_weights_load(path, &w));
  tconv_status st = tconv_store_restore(store, &w, opt, restored);
  if (st != TCONV_OK) st = tconv_error_context(st, "%s", path);
  tconv_weights_free(&w);
  return st;
}
