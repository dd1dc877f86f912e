/* safetensors files: an 8-byte little-endian header length N, N bytes of JSON, then one byte
 * buffer that the tensors index with data_offsets [begin, end) relative to its start.
 *
 * Every rule of the format (huggingface/safetensors README, SafeTensorError) and of
 * research/security-anchors.md §2.4 D8-D12 / §3.3 is enforced before a tensor is allocated:
 *   - 2 <= N <= 100,000,000 and 8 + N <= file size; the header starts with '{', is UTF-8 JSON
 *     (checked by our own lexical pass: UTF-8, control bytes, nesting <= 4, <= 1,000,000 values,
 *     numbers only as non-negative integers <= 2^53) and parses with libcjson into an object;
 *   - no duplicate keys at any level; __metadata__ is a string -> string object (<= 1 MiB);
 *   - each tensor: {dtype, shape, data_offsets} exactly; known dtype; rank <= 8; checked product;
 *     begin <= end <= buffer length; end - begin == numel * itemsize (D9 wrap, D10 short range,
 *     D11 negative/reversed offsets);
 *   - sorted by (begin, end), the ranges tile the buffer with no holes and no overlaps; a
 *     zero-size tensor has begin == end on a tensor boundary (D12) and is never read. */
#include "io/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER 100000000u
#define ST_MAX_DEPTH 4
#define ST_MAX_VALUES 1000000u
#define ST_MAX_METADATA ((size_t)1 << 20)
#define ST_MAX_INT 9007199254740992ull /* 2^53 */

#ifdef TCONV_HAVE_CJSON
#include <cjson/cJSON.h>
#include <pthread.h>

/* ------------------------------------------------------------------------------------------ */
/* libcjson, with its allocations routed through tconv_alloc (so the fault-injection tests reach
 * them) and allocation failures told apart from syntax errors. */

static _Thread_local bool cjson_oom;
static void *cjson_malloc(size_t n) {
  void *p = tconv_alloc(n);
  if (p == NULL) cjson_oom = true;
  return p;
}
static void cjson_free(void *p) { tconv_dealloc(p); }
static pthread_once_t cjson_once = PTHREAD_ONCE_INIT;
static void cjson_hooks_init(void) {
  cJSON_Hooks hooks = {cjson_malloc, cjson_free};
  cJSON_InitHooks(&hooks);
}

/* ------------------------------------------------------------------------------------------ */
/* Lexical pass over the header: what libcjson does not check. */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned min, cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

static bool is_json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int hex_value(unsigned char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static tconv_status json_lex(const unsigned char *s, size_t n, const char *what) {
  size_t depth = 0, values = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (is_json_ws(c) || c == ':' || c == ',') {
      i++;
      continue;
    }
    if (c == '}' || c == ']') {
      RETURN_IF(depth == 0, TCONV_BAD_FILE, "%s: unbalanced '%c' at byte %zu", what, c, i);
      depth--;
      i++;
      continue;
    }
    /* Every other token starts a value (or a key): bound the number libcjson will allocate. */
    RETURN_IF(++values > ST_MAX_VALUES, TCONV_LIMIT_EXCEEDED,
              "%s: more than %u JSON values", what, ST_MAX_VALUES);
    if (c == '{' || c == '[') {
      RETURN_IF(++depth > ST_MAX_DEPTH, TCONV_BAD_FILE, "%s: JSON nested deeper than %d", what,
                ST_MAX_DEPTH);
      i++;
    } else if (c == '"') {
      for (i++;; i++) {
        RETURN_IF(i >= n, TCONV_BAD_FILE, "%s: unterminated JSON string", what);
        unsigned char d = s[i];
        if (d == '"') break;
        RETURN_IF(d < 0x20, TCONV_BAD_FILE, "%s: control byte 0x%02x in a JSON string", what, d);
        if (d == '\\') {
          RETURN_IF(i + 1 >= n || strchr("\"\\/bfnrtu", s[i + 1]) == NULL || s[i + 1] == 0,
                    TCONV_BAD_FILE, "%s: bad escape in a JSON string at byte %zu", what, i);
          if (s[++i] == 'u') {
            int v = 0;
            for (int k = 1; k <= 4; k++) {
              int h = i + (size_t)k < n ? hex_value(s[i + k]) : -1;
              RETURN_IF(h < 0, TCONV_BAD_FILE, "%s: bad \\u escape at byte %zu", what, i);
              v = v * 16 + h;
            }
            RETURN_IF(v == 0, TCONV_BAD_FILE, "%s: \\u0000 in a JSON string", what);
            i += 4;
          }
        } else if (d >= 0x80) {
          size_t k = utf8_len(s + i, n - i);
          RETURN_IF(k == 0, TCONV_BAD_FILE, "%s: invalid UTF-8 at byte %zu", what, i);
          i += k - 1;
        }
      }
      i++;
    } else if (c >= '0' && c <= '9') {
      RETURN_IF(c == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9', TCONV_BAD_FILE,
                "%s: number with a leading zero at byte %zu", what, i);
      uint64_t v = 0;
      for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        RETURN_IF(v > ST_MAX_INT, TCONV_BAD_FILE, "%s: integer above 2^53 at byte %zu", what, i);
      }
      RETURN_IF(i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E'), TCONV_BAD_FILE,
                "%s: non-integer number at byte %zu", what, i);
    } else if (c == '-') {
      return tconv_error(TCONV_BAD_FILE, "%s: negative number at byte %zu", what, i);
    } else if (c >= 'a' && c <= 'z') {
      while (i < n && s[i] >= 'a' && s[i] <= 'z') i++; /* true/false/null: cJSON checks */
    } else {
      return tconv_error(TCONV_BAD_FILE, "%s: unexpected byte 0x%02x at byte %zu", what, c, i);
    }
  }
  return TCONV_OK;
}

/* Parses JSON text of n bytes (an object; trailing whitespace allowed). */
static tconv_status json_parse(const char *text, size_t n, const char *what, cJSON **out) {
  *out = NULL;
  RETURN_IF_ERROR(json_lex((const unsigned char *)text, n, what));
  pthread_once(&cjson_once, cjson_hooks_init);
  cjson_oom = false;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (root == NULL) {
    RETURN_IF(cjson_oom, TCONV_OUT_OF_MEMORY, "%s: out of memory parsing JSON", what);
    return tconv_error(TCONV_BAD_FILE, "%s: invalid JSON near byte %zu", what,
                       end && end >= text ? (size_t)(end - text) : (size_t)0);
  }
  for (const char *p = end; p < text + n; p++) {
    if (!is_json_ws((unsigned char)*p)) {
      cJSON_Delete(root);
      return tconv_error(TCONV_BAD_FILE, "%s: text after the JSON object at byte %zu", what,
                         (size_t)(p - text));
    }
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return tconv_error(TCONV_BAD_FILE, "%s: JSON is not an object", what);
  }
  *out = root;
  return TCONV_OK;
}

static int by_key(const void *a, const void *b) {
  return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* Rejects duplicate keys in an object (libcjson keeps both). */
static tconv_status check_unique_keys(const cJSON *obj, const char *what) {
  size_t n = 0;
  for (const cJSON *c = obj->child; c; c = c->next) n++;
  if (n < 2) return TCONV_OK;
  const cJSON **keys = tconv_alloc(n * sizeof *keys);
  RETURN_IF(keys == NULL, TCONV_OUT_OF_MEMORY, "%s: out of memory", what);
  n = 0;
  for (const cJSON *c = obj->child; c; c = c->next) keys[n++] = c;
  qsort(keys, n, sizeof *keys, by_key);
  tconv_status st = TCONV_OK;
  for (size_t i = 1; i < n && st == TCONV_OK; i++)
    if (strcmp(keys[i - 1]->string, keys[i]->string) == 0)
      st = tconv_error(TCONV_BAD_FILE, "%s: duplicate key '%s'", what, keys[i]->string);
  tconv_dealloc((void *)keys);
  return st;
}

/* Checks a __metadata__ object and returns it as compact JSON text (tconv_alloc'd). */
static tconv_status metadata_text(const cJSON *meta, const char *what, char **out) {
  *out = NULL;
  RETURN_IF(!cJSON_IsObject(meta), TCONV_BAD_FILE, "%s: __metadata__ is not an object", what);
  RETURN_IF_ERROR(check_unique_keys(meta, what));
  for (const cJSON *c = meta->child; c; c = c->next)
    RETURN_IF(!cJSON_IsString(c), TCONV_BAD_FILE, "%s: __metadata__ value '%s' is not a string",
              what, c->string);
  cjson_oom = false;
  char *text = cJSON_PrintUnformatted(meta);
  RETURN_IF(text == NULL, TCONV_OUT_OF_MEMORY, "%s: out of memory printing __metadata__", what);
  if (strlen(text) > ST_MAX_METADATA) {
    tconv_dealloc(text);
    return tconv_error(TCONV_LIMIT_EXCEEDED, "%s: __metadata__ above %zu bytes", what,
                       ST_MAX_METADATA);
  }
  *out = text;
  return TCONV_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* dtypes */

typedef struct st_dtype {
  const char *name;
  size_t itemsize;
  tconv_dtype dtype;
  bool loadable; /* converted to float32 values */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F64", 8, TCONV_DTYPE_FLOAT64, true},     {"F32", 4, TCONV_DTYPE_FLOAT32, true},
    {"F16", 2, TCONV_DTYPE_FLOAT16, true},     {"BF16", 2, TCONV_DTYPE_BFLOAT16, true},
    {"I64", 8, TCONV_DTYPE_INT64, false},      {"I32", 4, TCONV_DTYPE_INT32, false},
    {"I16", 2, TCONV_DTYPE_INT16, false},      {"I8", 1, TCONV_DTYPE_INT8, false},
    {"U8", 1, TCONV_DTYPE_UINT8, false},       {"BOOL", 1, TCONV_DTYPE_BOOL, false},
    {"U16", 2, TCONV_DTYPE_OTHER, false},      {"U32", 4, TCONV_DTYPE_OTHER, false},
    {"U64", 8, TCONV_DTYPE_OTHER, false},      {"F8_E4M3", 1, TCONV_DTYPE_OTHER, false},
    {"F8_E5M2", 1, TCONV_DTYPE_OTHER, false},
};

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13); /* inf / nan */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalize */
    exp = 113;
    while ((man & 0x400) == 0) {
      man <<= 1;
      exp--;
    }
    bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static void convert(const st_dtype *dt, const unsigned char *src, size_t n, float *dst) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    switch (dt->dtype) {
    case TCONV_DTYPE_FLOAT64: {
      uint64_t v = tconv_le64(src + 8 * i);
      double d;
      memcpy(&d, &v, 8);
      dst[i] = (float)d;
      break;
    }
    case TCONV_DTYPE_FLOAT16: dst[i] = half_to_float(tconv_le16(src + 2 * i)); break;
    case TCONV_DTYPE_BFLOAT16:
      u = (uint32_t)tconv_le16(src + 2 * i) << 16;
      memcpy(&dst[i], &u, 4);
      break;
    default:
      u = tconv_le32(src + 4 * i);
      memcpy(&dst[i], &u, 4);
      break;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Reading */

typedef struct st_entry {
  const char *name;
  const st_dtype *dt;
  size_t rank, shape[TCONV_MAX_RANK];
  uint64_t begin, end;
} st_entry;

/* A JSON number the lexical pass has already limited to a non-negative integer <= 2^53. */
static bool json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)ST_MAX_INT) return false;
  *out = (uint64_t)v->valuedouble;
  return (double)*out == v->valuedouble;
}

static tconv_status read_tensor_info(const cJSON *obj, size_t buffer_len, st_entry *e) {
  const char *name = obj->string;
  e->name = name;
  RETURN_IF(!cJSON_IsObject(obj), TCONV_BAD_FILE, "safetensors: entry '%s' is not an object",
            name);
  RETURN_IF_ERROR(check_unique_keys(obj, "safetensors tensor"));
  const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (strcmp(c->string, "dtype") == 0) dtype = c;
    else if (strcmp(c->string, "shape") == 0) shape = c;
    else if (strcmp(c->string, "data_offsets") == 0) offsets = c;
    else return tconv_error(TCONV_BAD_FILE, "safetensors: tensor '%s' has an unknown key '%s'",
                            name, c->string);
  }
  RETURN_IF(!dtype || !shape || !offsets, TCONV_BAD_FILE, "safetensors: tensor '%s' lacks '%s'",
            name, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
  RETURN_IF(!cJSON_IsString(dtype), TCONV_BAD_FILE, "safetensors: dtype of '%s' is not a string",
            name);
  e->dt = NULL;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strcmp(dtype->valuestring, st_dtypes[i].name) == 0) e->dt = &st_dtypes[i];
  RETURN_IF(e->dt == NULL, TCONV_UNSUPPORTED, "safetensors: tensor '%s' has unsupported dtype '%s'",
            name, dtype->valuestring);

  RETURN_IF(!cJSON_IsArray(shape), TCONV_BAD_FILE, "safetensors: shape of '%s' is not a list",
            name);
  e->rank = 0;
  for (const cJSON *c = shape->child; c; c = c->next) {
    RETURN_IF(e->rank == TCONV_MAX_RANK, TCONV_LIMIT_EXCEEDED,
              "safetensors: tensor '%s' has rank above %d", name, TCONV_MAX_RANK);
    uint64_t d;
    RETURN_IF(!json_uint(c, &d), TCONV_BAD_FILE,
              "safetensors: shape of '%s' holds a non-integer", name);
    e->shape[e->rank++] = (size_t)d;
  }
  RETURN_IF(!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
                !json_uint(offsets->child, &e->begin) || !json_uint(offsets->child->next, &e->end),
            TCONV_BAD_FILE, "safetensors: data_offsets of '%s' are not two non-negative integers",
            name);
  RETURN_IF(e->begin > e->end, TCONV_BAD_FILE,
            "safetensors: tensor '%s' ends (%llu) before it begins (%llu)", name,
            (unsigned long long)e->end, (unsigned long long)e->begin);
  RETURN_IF(e->end > buffer_len, TCONV_BAD_FILE,
            "safetensors: tensor '%s' ends at %llu, past the %zu-byte data buffer", name,
            (unsigned long long)e->end, buffer_len);
  size_t numel, nbytes;
  RETURN_IF(tconv_product_overflow(e->shape, e->rank, &numel) ||
                tconv_mul_overflow(numel, e->dt->itemsize, &nbytes),
            TCONV_BAD_FILE, "safetensors: the byte size of tensor '%s' overflows", name);
  RETURN_IF(nbytes != e->end - e->begin, TCONV_BAD_FILE,
            "safetensors: tensor '%s' covers %llu bytes but its shape and dtype need %zu", name,
            (unsigned long long)(e->end - e->begin), nbytes);
  size_t value_size = e->dt->loadable && e->dt->itemsize < 4 ? 4 : e->dt->itemsize;
  return tconv_check_shape(e->rank, e->shape, value_size, NULL, name);
}

static int by_range(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

static tconv_status build_weights(const st_entry *e, size_t n, const unsigned char *data,
                                  tconv_weights *out) {
  out->items = tconv_alloc_zeroed((n + 1) * sizeof *out->items);
  RETURN_IF(out->items == NULL, TCONV_OUT_OF_MEMORY, "safetensors: out of memory");
  for (size_t i = 0; i < n; i++) {
    tconv_named_tensor *t = &out->items[i];
    t->name = tconv_strdup(e[i].name);
    RETURN_IF(t->name == NULL, TCONV_OUT_OF_MEMORY, "safetensors: out of memory");
    out->count++;
    t->dtype = e[i].dt->dtype;
    if (e[i].dt->loadable) {
      RETURN_IF_ERROR(tconv_tensor_alloc(&t->value, e[i].rank, e[i].shape));
      convert(e[i].dt, data + e[i].begin, tconv_tensor_numel(&t->value), t->value.data);
    } else {
      t->value.rank = e[i].rank;
      memcpy(t->value.shape, e[i].shape, e[i].rank * sizeof e[i].shape[0]);
    }
  }
  return TCONV_OK;
}

static tconv_status st_parse(const unsigned char *b, size_t size, tconv_weights *out) {
  RETURN_IF(size < 8, TCONV_BAD_FILE, "safetensors: %zu bytes, too short for the header length",
            size);
  uint64_t n = tconv_le64(b);
  RETURN_IF(n > ST_MAX_HEADER, TCONV_LIMIT_EXCEEDED,
            "safetensors: header of %llu bytes, above the limit of %u", (unsigned long long)n,
            ST_MAX_HEADER);
  RETURN_IF(n < 2, TCONV_BAD_FILE, "safetensors: header of %llu bytes is too small",
            (unsigned long long)n);
  RETURN_IF(n > size - 8, TCONV_BAD_FILE,
            "safetensors: truncated: the %llu-byte header runs past the end of the %zu-byte file",
            (unsigned long long)n, size);
  RETURN_IF(b[8] != '{', TCONV_BAD_FILE, "safetensors: header does not start with '{'");
  const char *what = "safetensors header";
  cJSON *root;
  RETURN_IF_ERROR(json_parse((const char *)b + 8, (size_t)n, what, &root));
  size_t buffer_len = size - 8 - (size_t)n, count = 0;
  const unsigned char *data = b + 8 + n;
  st_entry *entries = NULL;
  tconv_status st = check_unique_keys(root, what);
  if (st != TCONV_OK) goto done;
  for (const cJSON *c = root->child; c; c = c->next) count++;
  entries = tconv_alloc((count + 1) * sizeof *entries);
  if (entries == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "safetensors: out of memory");
    goto done;
  }
  size_t k = 0;
  for (const cJSON *c = root->child; c && st == TCONV_OK; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0)
      st = metadata_text(c, what, &out->metadata);
    else
      st = read_tensor_info(c, buffer_len, &entries[k++]);
  }
  if (st != TCONV_OK) goto done;
  qsort(entries, k, sizeof *entries, by_range);
  uint64_t cursor = 0;
  for (size_t i = 0; i < k; i++) {
    if (entries[i].begin != cursor) {
      st = tconv_error(TCONV_BAD_FILE,
                       "safetensors: tensor '%s' starts at %llu where %llu was expected (%s)",
                       entries[i].name, (unsigned long long)entries[i].begin,
                       (unsigned long long)cursor,
                       entries[i].begin > cursor ? "a hole in the data" : "overlapping tensors");
      goto done;
    }
    cursor = entries[i].end;
  }
  if (cursor != buffer_len) {
    st = tconv_error(TCONV_BAD_FILE,
                     "safetensors: data bytes %llu..%zu are not covered by any tensor",
                     (unsigned long long)cursor, buffer_len);
    goto done;
  }
  out->format = "safetensors";
  st = build_weights(entries, k, data, out);
done:
  tconv_dealloc(entries);
  cJSON_Delete(root);
  return st;
}

tconv_status tconv_safetensors_parse(const void *bytes, size_t size, tconv_weights *out) {
  RETURN_IF(out == NULL || (bytes == NULL && size > 0), TCONV_INVALID_ARGUMENT,
            "safetensors_parse: NULL argument");
  return tconv_container_parse(bytes, size, out, st_parse);
}

tconv_status tconv_safetensors_read(const char *path, tconv_weights *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "safetensors_read: NULL argument");
  return tconv_container_read(path, tconv_container_file_cap(8 + (uint64_t)ST_MAX_HEADER), out,
                              st_parse);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing */

typedef struct st_text {
  char *p;
  size_t len, cap;
  bool failed;
} st_text;

static void text_add(st_text *t, const char *s, size_t n) {
  if (t->failed) return;
  if (n > t->cap - t->len) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap - t->len < n) {
      if (cap > SIZE_MAX / 2) {
        t->failed = true;
        return;
      }
      cap *= 2;
    }
    char *p = tconv_realloc(t->p, t->len, cap);
    if (p == NULL) {
      t->failed = true;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
}
static void text_str(st_text *t, const char *s) { text_add(t, s, strlen(s)); }

/* A JSON string literal (s is valid UTF-8). */
static void text_quoted(st_text *t, const char *s) {
  text_add(t, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      text_add(t, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      text_add(t, esc, 6);
    } else {
      text_add(t, s, 1);
    }
  }
  text_add(t, "\"", 1);
}

typedef struct st_plan {
  const tconv_weights *w;
  st_text header;     /* padded JSON */
  size_t data_len, total;
} st_plan;

static tconv_status check_name(const tconv_weights *w, size_t i) {
  const char *name = w->items[i].name;
  RETURN_IF(name == NULL, TCONV_INVALID_ARGUMENT, "safetensors_write: tensor %zu has no name", i);
  size_t n = strlen(name);
  for (size_t k = 0; k < n;) {
    size_t len = utf8_len((const unsigned char *)name + k, n - k);
    RETURN_IF(len == 0, TCONV_INVALID_ARGUMENT,
              "safetensors_write: name of tensor %zu is not valid UTF-8", i);
    k += len;
  }
  RETURN_IF(strcmp(name, "__metadata__") == 0, TCONV_INVALID_ARGUMENT,
            "safetensors_write: '__metadata__' is reserved");
  return TCONV_OK;
}

static int by_name_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static tconv_status plan_make(const tconv_weights *w, const char *metadata_json, st_plan *p) {
  memset(p, 0, sizeof *p);
  p->w = w;
  RETURN_IF(w == NULL || (w->count > 0 && w->items == NULL), TCONV_INVALID_ARGUMENT,
            "safetensors_write: NULL weights");
  const char **names = tconv_alloc((w->count + 1) * sizeof *names);
  RETURN_IF(names == NULL, TCONV_OUT_OF_MEMORY, "safetensors_write: out of memory");
  tconv_status st = TCONV_OK;
  for (size_t i = 0; i < w->count && st == TCONV_OK; i++) {
    st = check_name(w, i);
    names[i] = w->items[i].name;
  }
  if (st == TCONV_OK) {
    qsort((void *)names, w->count, sizeof *names, by_name_ptr);
    for (size_t i = 1; i < w->count && st == TCONV_OK; i++)
      if (strcmp(names[i - 1], names[i]) == 0)
        st = tconv_error(TCONV_INVALID_ARGUMENT, "safetensors_write: duplicate tensor name '%s'",
                         names[i]);
  }
  tconv_dealloc((void *)names);
  RETURN_IF_ERROR(st);

  text_add(&p->header, "{", 1);
  if (metadata_json != NULL) {
    cJSON *meta = NULL;
    char *text = NULL;
    st = json_parse(metadata_json, strlen(metadata_json), "safetensors_write: metadata", &meta);
    if (st == TCONV_OK) st = metadata_text(meta, "safetensors_write: metadata", &text);
    cJSON_Delete(meta);
    /* A malformed argument, not a malformed file: same message, caller's status. */
    if (st == TCONV_BAD_FILE) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", tconv_last_error());
      st = tconv_error(TCONV_INVALID_ARGUMENT, "%s", msg);
    }
    RETURN_IF_ERROR(st);
    text_str(&p->header, "\"__metadata__\":");
    text_str(&p->header, text);
    tconv_dealloc(text);
  }
  size_t offset = 0;
  for (size_t i = 0; i < w->count; i++) {
    const tconv_named_tensor *it = &w->items[i];
    size_t numel;
    RETURN_IF_ERROR(tconv_check_shape(it->value.rank, it->value.shape, sizeof(float), &numel,
                                      it->name));
    RETURN_IF(it->value.data == NULL && numel > 0, TCONV_INVALID_ARGUMENT,
              "safetensors_write: tensor '%s' has no float32 values (dtype %s)", it->name,
              tconv_dtype_name(it->dtype));
    size_t end;
    RETURN_IF(tconv_add_overflow(offset, numel * sizeof(float), &end) || end > ST_MAX_INT,
              TCONV_LIMIT_EXCEEDED, "safetensors_write: data larger than 2^53 bytes");
    char num[64];
    if (i > 0 || metadata_json != NULL) text_add(&p->header, ",", 1);
    text_quoted(&p->header, it->name);
    text_str(&p->header, ":{\"dtype\":\"F32\",\"shape\":[");
    for (size_t d = 0; d < it->value.rank; d++) {
      snprintf(num, sizeof num, d ? ",%zu" : "%zu", it->value.shape[d]);
      text_str(&p->header, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, end);
    text_str(&p->header, num);
    offset = end;
  }
  text_add(&p->header, "}", 1);
  while (!p->header.failed && p->header.len % 8 != 0) text_add(&p->header, " ", 1);
  RETURN_IF(p->header.failed, TCONV_OUT_OF_MEMORY, "safetensors_write: out of memory");
  RETURN_IF(p->header.len > ST_MAX_HEADER, TCONV_LIMIT_EXCEEDED,
            "safetensors_write: header of %zu bytes, above the limit of %u", p->header.len,
            ST_MAX_HEADER);
  p->data_len = offset;
  RETURN_IF(tconv_add_overflow(8 + p->header.len, offset, &p->total), TCONV_LIMIT_EXCEEDED,
            "safetensors_write: file size overflows");
  return TCONV_OK;
}

static tconv_status st_emit(tconv_emitter *e, const st_plan *p) {
  unsigned char len[8];
  tconv_put64(len, p->header.len);
  RETURN_IF_ERROR(tconv_emit(e, len, 8));
  RETURN_IF_ERROR(tconv_emit(e, p->header.p, p->header.len));
  for (size_t i = 0; i < p->w->count; i++) {
    const tconv_tensor *v = &p->w->items[i].value;
    RETURN_IF_ERROR(tconv_emit_f32(e, v->data, tconv_tensor_numel(v)));
  }
  return TCONV_OK;
}

static tconv_status st_write_fd(void *ctx, int fd) {
  tconv_emitter e = {fd, NULL, 0, 0};
  return st_emit(&e, ctx);
}

tconv_status tconv_safetensors_write(const char *path, const tconv_weights *w,
                                     const char *metadata_json) {
  st_plan p;
  tconv_status st = plan_make(w, metadata_json, &p);
  if (st == TCONV_OK) st = tconv_write_atomic(path, st_write_fd, &p);
  tconv_dealloc(p.header.p);
  return st;
}

tconv_status tconv_safetensors_encode(const tconv_weights *w, const char *metadata_json,
                                      unsigned char **out, size_t *size) {
  *out = NULL;
  *size = 0;
  st_plan p;
  tconv_status st = plan_make(w, metadata_json, &p);
  unsigned char *buf = NULL;
  if (st == TCONV_OK) {
    buf = tconv_alloc(p.total);
    if (buf == NULL) st = tconv_error(TCONV_OUT_OF_MEMORY, "safetensors: out of memory");
  }
  if (st == TCONV_OK) {
    tconv_emitter e = {-1, buf, 0, p.total};
    st = st_emit(&e, &p);
  }
  tconv_dealloc(p.header.p);
  if (st != TCONV_OK) {
    tconv_dealloc(buf);
    return st;
  }
  *out = buf;
  *size = p.total;
  return TCONV_OK;
}

#else /* !TCONV_HAVE_CJSON */

#define ST_NO_CJSON "safetensors support needs libcjson (build with libcjson-dev installed)"
tconv_status tconv_safetensors_read(const char *path, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, ST_NO_CJSON);
}
tconv_status tconv_safetensors_parse(const void *bytes, size_t size, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, ST_NO_CJSON);
}
tconv_status tconv_safetensors_write(const char *path, const tconv_weights *w,
                                     const char *metadata_json) {
  return tconv_error(TCONV_UNSUPPORTED, ST_NO_CJSON);
}
tconv_status tconv_safetensors_encode(const tconv_weights *w, const char *metadata_json,
                                      unsigned char **out, size_t *size) {
  *out = NULL;
  *size = 0;
  return tconv_error(TCONV_UNSUPPORTED, ST_NO_CJSON);
}
#endif
