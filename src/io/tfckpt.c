/* TensorFlow checkpoint V2 bundles: NAME.index + NAME.data-SSSSS-of-NNNNN.
 *
 * Order of work, after TF's own bugs (security-anchors D14): decode every index entry first,
 * validate dtype, shape (rank, negative dims, checked element count), shard id against
 * num_shards, offset + size against that shard's real length and size against
 * numel * dtype size — and only then allocate and read, then verify the masked CRC32C. */
#include "io/tfckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OBJECT_GRAPH_KEY "_CHECKPOINTABLE_OBJECT_GRAPH"

/* TF DataType -> our dtype and element size; 0 size marks DT_STRING. */
typedef struct dtype_info {
  int tf;
  tconv_dtype dtype;
  size_t size;
  const char *tf_name;
} dtype_info;
static const dtype_info dtypes[] = {
    {1, TCONV_DTYPE_FLOAT32, 4, "DT_FLOAT"},   {2, TCONV_DTYPE_FLOAT64, 8, "DT_DOUBLE"},
    {3, TCONV_DTYPE_INT32, 4, "DT_INT32"},     {4, TCONV_DTYPE_UINT8, 1, "DT_UINT8"},
    {5, TCONV_DTYPE_INT16, 2, "DT_INT16"},     {6, TCONV_DTYPE_INT8, 1, "DT_INT8"},
    {7, TCONV_DTYPE_STRING, 0, "DT_STRING"},   {9, TCONV_DTYPE_INT64, 8, "DT_INT64"},
    {10, TCONV_DTYPE_BOOL, 1, "DT_BOOL"},      {14, TCONV_DTYPE_BFLOAT16, 2, "DT_BFLOAT16"},
    {19, TCONV_DTYPE_FLOAT16, 2, "DT_HALF"},
};

static const dtype_info *find_dtype(int tf) {
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (dtypes[i].tf == tf) return &dtypes[i];
  return NULL;
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalize */
    int e = -1;
    do {
      man <<= 1;
      e++;
    } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Converts n little-endian values of a floating dtype in place-independent fashion. */
static void convert_floats(tconv_dtype dt, const uint8_t *src, size_t n, float *dst) {
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = src + i * (dt == TCONV_DTYPE_FLOAT64 ? 8 : dt == TCONV_DTYPE_FLOAT32 ? 4 : 2);
    if (dt == TCONV_DTYPE_FLOAT32) {
      uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
      memcpy(&dst[i], &b, 4);
    } else if (dt == TCONV_DTYPE_FLOAT64) {
      uint64_t b = 0;
      for (int k = 7; k >= 0; k--) b = b << 8 | p[k];
      double d;
      memcpy(&d, &b, 8);
      dst[i] = (float)d;
    } else if (dt == TCONV_DTYPE_FLOAT16) {
      dst[i] = half_to_float((uint16_t)(p[0] | p[1] << 8));
    } else { /* bfloat16: the top half of a float32 */
      uint32_t b = (uint32_t)(p[0] | p[1] << 8) << 16;
      memcpy(&dst[i], &b, 4);
    }
  }
}

static bool is_float(tconv_dtype d) {
  return d == TCONV_DTYPE_FLOAT32 || d == TCONV_DTYPE_FLOAT64 || d == TCONV_DTYPE_FLOAT16 ||
         d == TCONV_DTYPE_BFLOAT16;
}

/* ---- collecting the index ------------------------------------------------------------------ */

typedef struct collect {
  tfckpt_header header;
  bool have_header;
  tfckpt_entry *entries;
  size_t count, cap;
} collect;

static tconv_status on_entry(void *vctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                             size_t value_len) {
  collect *c = vctx;
  if (key_len == 0) { /* keys strictly increase, so the empty header key can only come first */
    RETURN_IF_ERROR(tfckpt_decode_header(value, value_len, &c->header));
    c->have_header = true;
    return TCONV_OK;
  }
  RETURN_IF(!c->have_header, TCONV_BAD_FILE,
            "tf checkpoint: the index has no header entry (empty key) before its tensors");
  RETURN_IF(memchr(key, 0, key_len) != NULL, TCONV_UNSUPPORTED,
            "tf checkpoint: key with a NUL byte (a partitioned-variable slice); partitioned "
            "variables are not supported");
  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16, bytes;
    RETURN_IF(tconv_mul_overflow(cap, sizeof *c->entries, &bytes), TCONV_LIMIT_EXCEEDED,
              "tf checkpoint: too many entries");
    tfckpt_entry *e = tconv_realloc(c->entries, c->cap * sizeof *c->entries, bytes);
    RETURN_IF(e == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
    c->entries = e;
    c->cap = cap;
  }
  tfckpt_entry *e = &c->entries[c->count];
  memset(e, 0, sizeof *e);
  e->key = tconv_alloc(key_len + 1);
  RETURN_IF(e->key == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  memcpy(e->key, key, key_len);
  e->key[key_len] = 0;
  c->count++;
  return tfckpt_decode_entry(value, value_len, e->key, e);
}

/* ---- reading tensor bytes ------------------------------------------------------------------ */

static tconv_status shard_read(const tfckpt_shard *s, uint64_t offset, size_t n, uint8_t *dst) {
  if (s->mem) {
    memcpy(dst, s->mem + offset, n);
    return TCONV_OK;
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(s->fd, dst + got, n - got, (off_t)(offset + got));
    if (r < 0 && errno == EINTR) continue;
    RETURN_IF(r < 0, TCONV_IO_ERROR, "%s: read failed: %s", s->path, strerror(errno));
    RETURN_IF(r == 0, TCONV_IO_ERROR, "%s: file shrank while reading", s->path);
    got += (size_t)r;
  }
  return TCONV_OK;
}

/* Validates a DT_STRING tensor's layout: numel varint64 lengths, a 4-byte masked CRC of the
 * lengths, then the bytes, exactly filling the entry; and the entry CRC (TF computes it over each
 * length as uint32 — uint64 beyond 2^32-1 — then the length checksum, then the string bytes). */
static tconv_status check_strings(const tfckpt_entry *e, size_t numel, const uint8_t *b, size_t n,
                                  const uint8_t **first, size_t *first_len) {
  tfckpt_pb r = {b, b + n};
  uint32_t crc = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < numel; i++) {
    uint64_t len;
    RETURN_IF(tfckpt_pb_varint(&r, &len), TCONV_BAD_FILE,
              "tf checkpoint: string tensor '%s': truncated length %zu", e->key, i);
    RETURN_IF(len > n || __builtin_add_overflow(total, len, &total) || total > n, TCONV_BAD_FILE,
              "tf checkpoint: string tensor '%s': lengths exceed the %zu stored bytes", e->key, n);
    if (i == 0) *first_len = (size_t)len;
    if (len <= UINT32_MAX) {
      uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
      crc = tconv_crc32c_extend(crc, le, 4);
    } else {
      uint8_t le[8];
      for (int k = 0; k < 8; k++) le[k] = (uint8_t)(len >> (8 * k));
      crc = tconv_crc32c_extend(crc, le, 8);
    }
  }
  RETURN_IF(r.end - r.p < 4, TCONV_BAD_FILE,
            "tf checkpoint: string tensor '%s': missing the length checksum", e->key);
  uint32_t stored = (uint32_t)r.p[0] | (uint32_t)r.p[1] << 8 | (uint32_t)r.p[2] << 16 |
                    (uint32_t)r.p[3] << 24;
  RETURN_IF(stored != tconv_crc32c_mask(crc), TCONV_BAD_FILE,
            "tf checkpoint: string tensor '%s': length checksum mismatch", e->key);
  crc = tconv_crc32c_extend(crc, r.p, 4);
  r.p += 4;
  RETURN_IF((uint64_t)(r.end - r.p) != total, TCONV_BAD_FILE,
            "tf checkpoint: string tensor '%s': %zu bytes of strings stored, lengths say %llu",
            e->key, (size_t)(r.end - r.p), (unsigned long long)total);
  *first = r.p;
  crc = tconv_crc32c_extend(crc, r.p, (size_t)total);
  RETURN_IF(e->has_crc && tconv_crc32c_mask(crc) != e->crc32c, TCONV_BAD_FILE,
            "tf checkpoint: tensor '%s': CRC32C mismatch", e->key);
  return TCONV_OK;
}

typedef struct bundle {
  const char *what;
  unsigned flags;
  tfckpt_shard *shards;
  int64_t num_shards;
  tconv_weights *out;
  uint8_t *graph; /* the object graph string, once read */
  size_t graph_len;
} bundle;

static tconv_status load_entry(bundle *b, const tfckpt_entry *e) {
  const dtype_info *di = find_dtype(e->dtype);
  RETURN_IF(e->dtype == 0, TCONV_BAD_FILE, "tf checkpoint: tensor '%s' has no dtype", e->key);
  RETURN_IF(di == NULL, TCONV_UNSUPPORTED, "tf checkpoint: tensor '%s' has unsupported dtype %d",
            e->key, e->dtype);
  RETURN_IF(e->unknown_rank, TCONV_BAD_FILE, "tf checkpoint: tensor '%s' has unknown rank", e->key);
  RETURN_IF(e->slices > 0, TCONV_UNSUPPORTED,
            "tf checkpoint: tensor '%s' is a partitioned variable (%zu slices); not supported",
            e->key, e->slices);
  size_t shape[TCONV_MAX_RANK], numel;
  for (size_t i = 0; i < e->rank; i++) {
    RETURN_IF((uint64_t)e->dims[i] > SIZE_MAX, TCONV_LIMIT_EXCEEDED, "tf checkpoint: dimension");
    shape[i] = (size_t)e->dims[i];
  }
  char what[64];
  snprintf(what, sizeof what, "tf checkpoint tensor");
  tconv_status st = tconv_check_shape(e->rank, shape, di->size ? di->size : 1, &numel, what);
  if (st != TCONV_OK) return tconv_error_context(st, "tf checkpoint: tensor '%s'", e->key);
  RETURN_IF(e->shard_id < 0 || e->shard_id >= b->num_shards, TCONV_BAD_FILE,
            "tf checkpoint: tensor '%s' is in shard %lld of %lld", e->key, (long long)e->shard_id,
            (long long)b->num_shards);
  RETURN_IF(e->offset < 0 || e->size < 0, TCONV_BAD_FILE,
            "tf checkpoint: tensor '%s' has negative offset %lld or size %lld", e->key,
            (long long)e->offset, (long long)e->size);
  if (di->size) {
    RETURN_IF((uint64_t)e->size != (uint64_t)numel * di->size, TCONV_BAD_FILE,
              "tf checkpoint: tensor '%s': %lld bytes stored for %zu elements of %zu bytes",
              e->key, (long long)e->size, numel, di->size);
  } else {
    /* At least one length byte per string plus the 4-byte length checksum. */
    RETURN_IF((uint64_t)e->size < (uint64_t)numel + 4, TCONV_BAD_FILE,
              "tf checkpoint: string tensor '%s': %lld bytes cannot hold %zu strings", e->key,
              (long long)e->size, numel);
    RETURN_IF((uint64_t)e->size > tconv_get_limits().max_tensor_bytes, TCONV_LIMIT_EXCEEDED,
              "tf checkpoint: string tensor '%s' of %lld bytes exceeds the limit", e->key,
              (long long)e->size);
  }
  tconv_tensor value = {.rank = e->rank};
  for (size_t i = 0; i < e->rank; i++) value.shape[i] = shape[i];
  const tfckpt_shard *sh = b->shards ? &b->shards[e->shard_id] : NULL;
  bool read = !(b->flags & TCONV_LOAD_NO_DATA);
  if (read && !sh->present) {
    RETURN_IF(!(b->flags & TCONV_LOAD_ALLOW_MISSING_DATA), TCONV_NOT_FOUND,
              "tf checkpoint: tensor '%s': data shard %s is missing", e->key, sh->path);
    read = false;
  }
  if (read) {
    uint64_t end;
    RETURN_IF(__builtin_add_overflow((uint64_t)e->offset, (uint64_t)e->size, &end) ||
                  end > sh->size,
              TCONV_BAD_FILE,
              "tf checkpoint: tensor '%s': bytes [%lld, +%lld) lie outside %s (%llu bytes)",
              e->key, (long long)e->offset, (long long)e->size, sh->path,
              (unsigned long long)sh->size);
    RETURN_IF(!e->has_crc, TCONV_BAD_FILE, "tf checkpoint: tensor '%s' has no crc32c", e->key);
    size_t n = (size_t)e->size; /* <= the shard's real size, and <= the tensor byte limit */
    uint8_t *bytes = tconv_alloc(n);
    RETURN_IF(bytes == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: cannot allocate %zu bytes", n);
    st = shard_read(sh, (uint64_t)e->offset, n, bytes);
    if (st == TCONV_OK && di->size == 0) {
      const uint8_t *first = NULL;
      size_t first_len = 0;
      st = check_strings(e, numel, bytes, n, &first, &first_len);
      if (st == TCONV_OK && !strcmp(e->key, OBJECT_GRAPH_KEY) && numel == 1 && !b->graph) {
        memmove(bytes, first, first_len);
        b->graph = bytes;
        b->graph_len = first_len;
        bytes = NULL;
      }
    } else if (st == TCONV_OK) {
      uint32_t crc = tconv_crc32c_mask(tconv_crc32c(bytes, n));
      if (crc != e->crc32c)
        st = tconv_error(TCONV_BAD_FILE,
                         "tf checkpoint: tensor '%s': CRC32C mismatch (stored %08x, computed %08x)",
                         e->key, e->crc32c, crc);
    }
    if (st == TCONV_OK && is_float(di->dtype)) {
      value.data = tconv_alloc(numel * sizeof(float));
      if (value.data == NULL)
        st = tconv_error(TCONV_OUT_OF_MEMORY, "tf checkpoint: cannot allocate %zu floats", numel);
      else
        convert_floats(di->dtype, bytes, numel, value.data);
    }
    tconv_dealloc(bytes);
    if (st != TCONV_OK) {
      tconv_tensor_free(&value);
      return st;
    }
  }
  st = tconv_weights_push(b->out, e->key, di->dtype, &value);
  if (st != TCONV_OK) tconv_tensor_free(&value);
  return st;
}

static tconv_status set_alias(void *ctx, const char *key, const char *name) {
  tconv_weights *w = ctx;
  for (size_t i = 0; i < w->count; i++) {
    if (strcmp(w->items[i].name, key) != 0 || w->items[i].alias) continue;
    w->items[i].alias = tconv_strdup(name);
    RETURN_IF(w->items[i].alias == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  }
  return TCONV_OK;
}

tconv_status tfckpt_read_bundle(const uint8_t *index, size_t index_size, const char *what,
                                tfckpt_open_shards_fn open_shards, void *open_ctx, unsigned flags,
                                tconv_weights *out) {
  memset(out, 0, sizeof *out);
  collect c = {0};
  bundle b = {.what = what, .flags = flags, .out = out};
  tconv_status st = tfckpt_table_walk(index, index_size, on_entry, &c);
  if (st == TCONV_OK && !c.have_header)
    st = tconv_error(TCONV_BAD_FILE, "tf checkpoint %s: the index has no header entry", what);
  if (st == TCONV_OK) {
    b.num_shards = c.header.num_shards;
    if (!(flags & TCONV_LOAD_NO_DATA)) st = open_shards(open_ctx, b.num_shards, &b.shards);
  }
  out->format = "tf-checkpoint";
  for (size_t i = 0; st == TCONV_OK && i < c.count; i++) st = load_entry(&b, &c.entries[i]);
  if (st == TCONV_OK && b.graph)
    st = tfckpt_object_graph_aliases(b.graph, b.graph_len, set_alias, out);
  for (size_t i = 0; i < c.count; i++) tconv_dealloc(c.entries[i].key);
  tconv_dealloc(c.entries);
  tconv_dealloc(b.graph);
  if (b.shards) {
    for (int64_t i = 0; i < b.num_shards; i++)
      if (b.shards[i].present && !b.shards[i].mem) close(b.shards[i].fd);
    for (int64_t i = 0; i < b.num_shards; i++) tconv_dealloc((char *)b.shards[i].path);
    tconv_dealloc(b.shards);
  }
  if (st != TCONV_OK) tconv_weights_free(out);
  else out->format = "tf-checkpoint";
  return st;
}

/* ---- memory source ------------------------------------------------------------------------- */

typedef struct mem_source {
  const void *const *data;
  const size_t *sizes;
  size_t count;
} mem_source;

static tconv_status alloc_shards(int64_t n, tfckpt_shard **out) {
  *out = tconv_alloc_zeroed((size_t)n * sizeof **out);
  RETURN_IF(*out == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  return TCONV_OK;
}

static tconv_status mem_open(void *ctx, int64_t n, tfckpt_shard **out) {
  mem_source *m = ctx;
  RETURN_IF_ERROR(alloc_shards(n, out));
  for (int64_t i = 0; i < n; i++) {
    char name[96];
    snprintf(name, sizeof name, "data-%05lld-of-%05lld", (long long)i, (long long)n);
    (*out)[i].path = tconv_strdup(name);
    if ((*out)[i].path == NULL) return tconv_error(TCONV_OUT_OF_MEMORY, "out of memory");
    if ((size_t)i < m->count && m->data[i]) {
      (*out)[i].present = true;
      (*out)[i].mem = m->data[i];
      (*out)[i].size = m->sizes[i];
    }
  }
  return TCONV_OK;
}

tconv_status tconv_tfckpt_parse(const void *index, size_t index_size, const void *const *shards,
                                const size_t *shard_sizes, size_t shard_count, unsigned flags,
                                tconv_weights *out) {
  RETURN_IF(out == NULL || (index == NULL && index_size) || (shard_count && !shards) ||
                (shard_count && !shard_sizes),
            TCONV_INVALID_ARGUMENT, "tfckpt_parse: NULL argument");
  mem_source m = {shards, shard_sizes, shard_count};
  return tfckpt_read_bundle(index, index_size, "(memory)", mem_open, &m, flags, out);
}
