/* The weight-file container shared by every reader. */
#include "io/formats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tconv_dtype_name(tconv_dtype dtype) {
  static const char *names[] = {"float32", "float64", "float16", "bfloat16", "int8",   "uint8",
                                "int16",   "int32",   "int64",   "bool",     "string", "other"};
  return (unsigned)dtype < sizeof names / sizeof names[0] ? names[dtype] : "other";
}

tconv_status tconv_error_context(tconv_status st, const char *fmt, ...) {
  char saved[1024], context[1024];
  snprintf(saved, sizeof saved, "%s", tconv_last_error());
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(context, sizeof context, fmt, ap);
  va_end(ap);
  return tconv_error(st, "%s: %s", context, saved);
}

tconv_status tconv_weights_push(tconv_weights *w, const char *name, tconv_dtype dtype,
                                tconv_tensor *value) {
  size_t bytes;
  RETURN_IF(tconv_mul_overflow(w->count + 1, sizeof *w->items, &bytes), TCONV_LIMIT_EXCEEDED,
            "weights: %zu tensors are too many", w->count);
  char *copy = tconv_strdup(name);
  RETURN_IF(copy == NULL, TCONV_OUT_OF_MEMORY, "weights: out of memory adding '%s'", name);
  tconv_named_tensor *items = tconv_realloc(w->items, w->count * sizeof *items, bytes);
  if (items == NULL) {
    tconv_dealloc(copy);
    return tconv_error(TCONV_OUT_OF_MEMORY, "weights: out of memory adding '%s'", name);
  }
  w->items = items;
  tconv_named_tensor *t = &items[w->count++];
  memset(t, 0, sizeof *t);
  t->name = copy;
  t->dtype = dtype;
  if (value) {
    t->value = *value;
    memset(value, 0, sizeof *value);
  }
  return TCONV_OK;
}

void tconv_weights_free(tconv_weights *w) {
  if (w == NULL) return;
  for (size_t i = 0; i < w->count; i++) {
    tconv_dealloc(w->items[i].name);
    tconv_dealloc(w->items[i].alias);
    tconv_tensor_free(&w->items[i].value);
  }
  tconv_dealloc(w->items);
  tconv_dealloc(w->metadata);
  memset(w, 0, sizeof *w);
}
