/* NumPy .npy files, versions 1.0, 2.0 and 3.0.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), the header
 * text (a Python dict literal ending in '\n'), then the raw data.  The header is hostile text: it
 * is never evaluated, only matched against a strict grammar that accepts exactly what numpy's
 * writers produce — a dict with the keys 'descr', 'fortran_order' and 'shape' — and its length is
 * capped before anything is read (a 12-byte file may claim a 4 GiB header: libnpy#44, mlx#3365). */
#include "io/container.h"

#include <stdio.h>
#include <string.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NPY_HOST_LE 1
#else
#define NPY_HOST_LE 0
#endif

size_t tconv_npy_header_cap(void) {
  uint64_t cap = tconv_get_limits().max_header_bytes;
  return cap < TCONV_NPY_HEADER_CEILING ? (size_t)cap : TCONV_NPY_HEADER_CEILING;
}

/* ------------------------------------------------------------------------------------------ */
/* Header grammar                                                                               */

typedef struct npy_header {
  char descr[32];
  bool fortran;
  size_t rank;
  size_t shape[TCONV_MAX_RANK];
} npy_header;

typedef struct npy_cursor {
  const char *p, *end;
} npy_cursor;

static void skip_ws(npy_cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static bool accept(npy_cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* A quoted string without escapes, printable ASCII, shorter than cap. */
static tconv_status parse_string(npy_cursor *c, char *out, size_t cap, const char *what) {
  skip_ws(c);
  RETURN_IF(c->p >= c->end || (*c->p != '\'' && *c->p != '"'), TCONV_BAD_FILE,
            "npy header: expected a quoted %s", what);
  char quote = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != quote) {
    unsigned char ch = (unsigned char)*c->p;
    RETURN_IF(ch < 0x20 || ch > 0x7e || ch == '\\', TCONV_BAD_FILE,
              "npy header: unexpected byte 0x%02x in a %s", ch, what);
    RETURN_IF(n + 1 >= cap, TCONV_BAD_FILE, "npy header: %s longer than %zu bytes", what, cap - 1);
    out[n++] = (char)ch;
    c->p++;
  }
  RETURN_IF(c->p >= c->end, TCONV_BAD_FILE, "npy header: unterminated %s", what);
  c->p++;
  out[n] = '\0';
  return TCONV_OK;
}

/* A non-negative Python int literal without leading zeros. */
static tconv_status parse_dim(npy_cursor *c, size_t *out) {
  skip_ws(c);
  RETURN_IF(c->p < c->end && *c->p == '-', TCONV_BAD_FILE, "npy header: negative dimension");
  RETURN_IF(c->p >= c->end || *c->p < '0' || *c->p > '9', TCONV_BAD_FILE,
            "npy header: expected a dimension in the shape tuple");
  RETURN_IF(*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9',
            TCONV_BAD_FILE, "npy header: dimension with a leading zero");
  size_t v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    RETURN_IF(tconv_mul_overflow(v, 10, &v) || tconv_add_overflow(v, (size_t)(*c->p - '0'), &v),
              TCONV_LIMIT_EXCEEDED, "npy header: dimension does not fit in 64 bits");
    c->p++;
  }
  *out = v;
  return TCONV_OK;
}

static tconv_status parse_shape(npy_cursor *c, npy_header *h) {
  RETURN_IF(!accept(c, '('), TCONV_BAD_FILE, "npy header: 'shape' is not a tuple");
  h->rank = 0;
  if (accept(c, ')')) return TCONV_OK;
  for (;;) {
    RETURN_IF(h->rank == TCONV_MAX_RANK, TCONV_LIMIT_EXCEEDED,
              "npy header: rank above the maximum of %d", TCONV_MAX_RANK);
    RETURN_IF_ERROR(parse_dim(c, &h->shape[h->rank]));
    h->rank++;
    if (accept(c, ',')) {
      if (accept(c, ')')) return TCONV_OK;
      continue;
    }
    RETURN_IF(!accept(c, ')'), TCONV_BAD_FILE, "npy header: malformed shape tuple");
    /* "(3)" is the int 3 in Python, not a tuple: numpy never writes it. */
    RETURN_IF(h->rank == 1, TCONV_BAD_FILE, "npy header: shape (n) lacks the tuple comma");
    return TCONV_OK;
  }
}

static tconv_status parse_header(const char *text, size_t len, npy_header *h) {
  RETURN_IF(len == 0 || text[len - 1] != '\n', TCONV_BAD_FILE,
            "npy header does not end in a newline");
  npy_cursor c = {text, text + len - 1};
  bool seen_descr = false, seen_fortran = false, seen_shape = false;
  RETURN_IF(!accept(&c, '{'), TCONV_BAD_FILE, "npy header is not a dict literal");
  if (!accept(&c, '}')) {
    for (;;) {
      char key[32];
      RETURN_IF_ERROR(parse_string(&c, key, sizeof key, "key"));
      RETURN_IF(!accept(&c, ':'), TCONV_BAD_FILE, "npy header: expected ':' after '%s'", key);
      if (strcmp(key, "descr") == 0) {
        RETURN_IF(seen_descr, TCONV_BAD_FILE, "npy header: duplicate key 'descr'");
        seen_descr = true;
        skip_ws(&c);
        RETURN_IF(c.p < c.end && *c.p == '[', TCONV_UNSUPPORTED,
                  "npy: structured dtypes are not supported (only float32 and float64 arrays)");
        RETURN_IF_ERROR(parse_string(&c, h->descr, sizeof h->descr, "descr"));
      } else if (strcmp(key, "fortran_order") == 0) {
        RETURN_IF(seen_fortran, TCONV_BAD_FILE, "npy header: duplicate key 'fortran_order'");
        seen_fortran = true;
        skip_ws(&c);
        size_t rest = (size_t)(c.end - c.p);
        if (rest >= 4 && memcmp(c.p, "True", 4) == 0) {
          h->fortran = true;
          c.p += 4;
        } else if (rest >= 5 && memcmp(c.p, "False", 5) == 0) {
          h->fortran = false;
          c.p += 5;
        } else {
          return tconv_error(TCONV_BAD_FILE, "npy header: fortran_order is not True or False");
        }
      } else if (strcmp(key, "shape") == 0) {
        RETURN_IF(seen_shape, TCONV_BAD_FILE, "npy header: duplicate key 'shape'");
        seen_shape = true;
        RETURN_IF_ERROR(parse_shape(&c, h));
      } else {
        return tconv_error(TCONV_BAD_FILE, "npy header: unexpected key '%s'", key);
      }
      if (accept(&c, ',')) {
        if (accept(&c, '}')) break;
        continue;
      }
      RETURN_IF(!accept(&c, '}'), TCONV_BAD_FILE, "npy header: expected ',' or '}'");
      break;
    }
  }
  skip_ws(&c);
  RETURN_IF(c.p != c.end, TCONV_BAD_FILE, "npy header: unexpected text after the dict");
  RETURN_IF(!seen_descr || !seen_fortran || !seen_shape, TCONV_BAD_FILE,
            "npy header lacks the key '%s'",
            !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
  return TCONV_OK;
}

/* Maps descr to a dtype we load, or explains why not. */
static tconv_status check_descr(const char *descr, tconv_dtype *dtype, size_t *itemsize) {
  if (strcmp(descr, "<f4") == 0) {
    *dtype = TCONV_DTYPE_FLOAT32;
    *itemsize = 4;
    return TCONV_OK;
  }
  if (strcmp(descr, "<f8") == 0) {
    *dtype = TCONV_DTYPE_FLOAT64;
    *itemsize = 8;
    return TCONV_OK;
  }
  const char *kind = descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '='
                         ? descr + 1 : descr;
  RETURN_IF(kind[0] == 'O', TCONV_UNSUPPORTED,
            "npy: object arrays (descr '%s', pickled data) are never loaded", descr);
  RETURN_IF(descr[0] == '>' && (strcmp(kind, "f4") == 0 || strcmp(kind, "f8") == 0),
            TCONV_UNSUPPORTED,
            "npy: big-endian data (descr '%s') is not supported; save with arr.astype('<f4')",
            descr);
  return tconv_error(TCONV_UNSUPPORTED,
                     "npy: dtype '%s' is not supported (only float32 '<f4' and float64 '<f8')",
                     descr);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                      */

tconv_status tconv_npy_parse_typed(const void *bytes, size_t size, tconv_tensor *out,
                                   tconv_dtype *dtype) {
  RETURN_IF(out == NULL || (bytes == NULL && size > 0), TCONV_INVALID_ARGUMENT,
            "npy_parse: NULL argument");
  memset(out, 0, sizeof *out);
  const unsigned char *b = bytes;
  RETURN_IF(size < 10 || memcmp(b, npy_magic, 6) != 0, TCONV_BAD_FILE,
            "not a .npy file (%s)", size < 10 ? "shorter than the 10-byte prefix" : "bad magic");
  unsigned major = b[6], minor = b[7];
  RETURN_IF(minor != 0 || major < 1 || major > 3, TCONV_UNSUPPORTED,
            "npy format version %u.%u is not supported (1.0, 2.0 and 3.0 are)", major, minor);
  size_t prefix = major == 1 ? 10 : 12;
  RETURN_IF(size < prefix, TCONV_BAD_FILE, "npy: truncated in the %zu-byte prefix", prefix);
  size_t hlen = major == 1 ? tconv_le16(b + 8) : tconv_le32(b + 8);
  size_t cap = tconv_npy_header_cap();
  RETURN_IF(hlen > cap, TCONV_LIMIT_EXCEEDED, "npy: header of %zu bytes exceeds the limit of %zu",
            hlen, cap);
  RETURN_IF(hlen > size - prefix, TCONV_BAD_FILE,
            "npy: truncated: the %zu-byte header runs past the end of the %zu-byte file", hlen,
            size);

  npy_header h;
  memset(&h, 0, sizeof h);
  RETURN_IF_ERROR(parse_header((const char *)b + prefix, hlen, &h));
  tconv_dtype dt = TCONV_DTYPE_FLOAT32;
  size_t itemsize = 4;
  RETURN_IF_ERROR(check_descr(h.descr, &dt, &itemsize));
  /* Fortran order changes nothing when at most one axis is longer than 1. */
  size_t long_axes = 0;
  for (size_t i = 0; i < h.rank; i++) long_axes += h.shape[i] > 1;
  RETURN_IF(h.fortran && long_axes > 1, TCONV_UNSUPPORTED,
            "npy: Fortran order is not supported; save with np.ascontiguousarray");
  size_t numel, need;
  RETURN_IF_ERROR(tconv_check_shape(h.rank, h.shape, itemsize, &numel, "npy"));
  need = numel * itemsize; /* checked by tconv_check_shape */
  size_t avail = size - prefix - hlen;
  RETURN_IF(avail < need, TCONV_BAD_FILE,
            "npy: truncated: %zu data bytes where the shape needs %zu", avail, need);
  RETURN_IF(avail > need, TCONV_BAD_FILE, "npy: %zu trailing bytes after the %zu data bytes",
            avail - need, need);

  RETURN_IF_ERROR(tconv_tensor_alloc(out, h.rank, h.shape));
  const unsigned char *src = b + prefix + hlen;
  if (dt == TCONV_DTYPE_FLOAT32 && NPY_HOST_LE) {
    if (need > 0) memcpy(out->data, src, need);
  } else if (dt == TCONV_DTYPE_FLOAT32) {
    for (size_t i = 0; i < numel; i++) {
      uint32_t u = tconv_le32(src + 4 * i);
      memcpy(&out->data[i], &u, 4);
    }
  } else {
    for (size_t i = 0; i < numel; i++) {
      uint64_t u = tconv_le64(src + 8 * i);
      double d;
      memcpy(&d, &u, 8);
      out->data[i] = (float)d;
    }
  }
  if (dtype) *dtype = dt;
  return TCONV_OK;
}

tconv_status tconv_npy_parse(const void *bytes, size_t size, tconv_tensor *out) {
  return tconv_npy_parse_typed(bytes, size, out, NULL);
}

tconv_status tconv_npy_load(const char *path, tconv_tensor *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "npy_load: NULL argument");
  memset(out, 0, sizeof *out);
  /* The largest legal file: v2 prefix + the header cap + one tensor at the byte limit. */
  uint64_t cap = 12 + (uint64_t)tconv_npy_header_cap() + tconv_get_limits().max_tensor_bytes;
  unsigned char *buf;
  size_t size;
  RETURN_IF_ERROR(tconv_read_file(path, cap, &buf, &size));
  tconv_status st = tconv_npy_parse(buf, size, out);
  tconv_dealloc(buf);
  /* Name the file in the message (the parser cannot). */
  return st == TCONV_OK ? TCONV_OK : tconv_error_context(st, "%s", path);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                      */

tconv_status tconv_emit(tconv_emitter *e, const void *p, size_t n) {
  if (n == 0) return TCONV_OK;
  if (e->fd >= 0) {
    int err = tconv_write_all(e->fd, p, n);
    RETURN_IF(err != 0, TCONV_IO_ERROR, "write failed: %s", strerror(err));
  } else {
    RETURN_IF(n > e->cap - e->size, TCONV_INVALID_STATE, "encoder: output size mismatch");
    memcpy(e->buf + e->size, p, n);
  }
  e->size += n;
  return TCONV_OK;
}

tconv_status tconv_emit_f32(tconv_emitter *e, const float *v, size_t n) {
  if (NPY_HOST_LE) return tconv_emit(e, v, n * sizeof *v);
  unsigned char chunk[4096];
  while (n > 0) {
    size_t k = n < sizeof chunk / 4 ? n : sizeof chunk / 4;
    for (size_t i = 0; i < k; i++) {
      uint32_t u;
      memcpy(&u, &v[i], 4);
      tconv_put32(chunk + 4 * i, u);
    }
    RETURN_IF_ERROR(tconv_emit(e, chunk, 4 * k));
    v += k;
    n -= k;
  }
  return TCONV_OK;
}

size_t tconv_npy_header(size_t rank, const size_t *shape, char *buf) {
  /* Exactly numpy's _write_array_header: sorted keys, repr(shape), then 21 - len(repr(shape[0]))
   * spare spaces, then spaces so that prefix + header + '\n' is a multiple of 64. */
  char text[TCONV_NPY_HEADER_MAX];
  int n = snprintf(text, sizeof text, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (size_t i = 0; i < rank; i++)
    n += snprintf(text + n, sizeof text - (size_t)n, i ? ", %zu" : "%zu", shape[i]);
  n += snprintf(text + n, sizeof text - (size_t)n, rank == 1 ? ",), }" : "), }");
  if (rank > 0) {
    char first[32];
    int digits = snprintf(first, sizeof first, "%zu", shape[0]);
    for (int i = digits; i < 21; i++) text[n++] = ' ';
  }
  size_t hlen = (size_t)n + 1;
  size_t pad = 64 - (10 + hlen) % 64;
  memcpy(buf, npy_magic, 6);
  buf[6] = 1;
  buf[7] = 0;
  tconv_put16((unsigned char *)buf + 8, (uint32_t)(hlen + pad));
  memcpy(buf + 10, text, (size_t)n);
  memset(buf + 10 + n, ' ', pad);
  buf[10 + n + pad] = '\n';
  return 10 + hlen + pad;
}

static tconv_status check_tensor(const tconv_tensor *t, size_t *numel) {
  RETURN_IF(t == NULL, TCONV_INVALID_ARGUMENT, "npy: NULL tensor");
  RETURN_IF_ERROR(tconv_check_shape(t->rank, t->shape, sizeof(float), numel, "npy"));
  RETURN_IF(t->data == NULL && *numel > 0, TCONV_INVALID_ARGUMENT, "npy: tensor without data");
  return TCONV_OK;
}

typedef struct npy_job {
  const tconv_tensor *t;
  size_t numel;
} npy_job;

static tconv_status npy_emit(tconv_emitter *e, const npy_job *job) {
  char head[TCONV_NPY_HEADER_MAX];
  size_t hl = tconv_npy_header(job->t->rank, job->t->shape, head);
  RETURN_IF_ERROR(tconv_emit(e, head, hl));
  return tconv_emit_f32(e, job->t->data, job->numel);
}

static tconv_status npy_write_fd(void *ctx, int fd) {
  tconv_emitter e = {fd, NULL, 0, 0};
  return npy_emit(&e, ctx);
}

tconv_status tconv_npy_save(const char *path, const tconv_tensor *t) {
  npy_job job = {t, 0};
  RETURN_IF_ERROR(check_tensor(t, &job.numel));
  return tconv_write_atomic(path, npy_write_fd, &job);
}

tconv_status tconv_npy_encode(const tconv_tensor *t, unsigned char **out, size_t *size) {
  npy_job job = {t, 0};
  *out = NULL;
  *size = 0;
  RETURN_IF_ERROR(check_tensor(t, &job.numel));
  char head[TCONV_NPY_HEADER_MAX];
  size_t total;
  RETURN_IF(tconv_add_overflow(tconv_npy_header(t->rank, t->shape, head),
                               job.numel * sizeof(float), &total),
            TCONV_LIMIT_EXCEEDED, "npy: file size overflows");
  unsigned char *buf = tconv_alloc(total);
  RETURN_IF(buf == NULL, TCONV_OUT_OF_MEMORY, "npy: cannot allocate %zu bytes", total);
  tconv_emitter e = {-1, buf, 0, total};
  tconv_status st = npy_emit(&e, &job);
  if (st != TCONV_OK) {
    tconv_dealloc(buf);
    return st;
  }
  *out = buf;
  *size = total;
  return TCONV_OK;
}
