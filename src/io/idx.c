/* MNIST IDX files, plain or gzip'd.
 *
 * Layout: 0x00 0x00, a type byte, ndims, then ndims big-endian u32 dimensions, then the values
 * big-endian in C order.  Loaders in the wild index past truncated files, read gzip'd files raw
 * ("expected 2049, got 529205256" is 0x1F8B0808, the gzip magic) and allocate whatever the
 * dimensions say.  Here the header is validated and capped first, the file size must equal the
 * size the header implies exactly, and gzip streams are inflated in two steps: the header alone,
 * then into a buffer of exactly the implied size plus one byte, so a stream that would inflate
 * further (a gzip bomb, trailing data) is caught without inflating it. */
#include "core/internal.h"
#include "io/formats.h"

#include <string.h>

#ifdef TCONV_HAVE_ZLIB
#include <zlib.h>

#include "io/zlib_alloc.h"
#endif

#define IDX_MAX_COUNT 10000000u /* first dimension (number of items) */
#define IDX_MAX_SIDE 4096u      /* the other dimensions */
#define IDX_MAX_FILE_BYTES ((uint64_t)1 << 33)

static size_t idx_elem_size(uint8_t type) {
  switch (type) {
  case 0x08: case 0x09: return 1;
  case 0x0B: return 2;
  case 0x0C: case 0x0D: return 4;
  case 0x0E: return 8;
  default: return 0;
  }
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct idx_header {
  uint8_t type;
  size_t rank, shape[4], numel, header_bytes, total_bytes;
} idx_header;

/* Validates the first 4 bytes (magic, type, rank). */
static tconv_status idx_check_magic(const unsigned char *b, size_t avail, idx_header *h) {
  RETURN_IF(avail < 4, TCONV_BAD_FILE, "IDX: truncated header (%zu bytes)", avail);
  RETURN_IF(b[0] == 0x1F && b[1] == 0x8B, TCONV_BAD_FILE,
            "IDX: gzip data where the raw header should be (decompress it first)");
  RETURN_IF(b[0] != 0 || b[1] != 0, TCONV_BAD_FILE,
            "IDX: bad magic %02x %02x %02x %02x (expected 00 00 TYPE NDIMS)", b[0], b[1], b[2],
            b[3]);
  h->type = b[2];
  RETURN_IF(idx_elem_size(h->type) == 0, TCONV_BAD_FILE, "IDX: unknown type byte 0x%02x", b[2]);
  h->rank = b[3];
  RETURN_IF(h->rank < 1 || h->rank > 4, TCONV_BAD_FILE, "IDX: %zu dimensions (1..4 allowed)",
            h->rank);
  h->header_bytes = 4 + 4 * h->rank;
  return TCONV_OK;
}

/* Validates the dimensions (b holds header_bytes bytes) and computes the exact total size. */
static tconv_status idx_check_dims(const unsigned char *b, idx_header *h) {
  size_t numel = 1;
  for (size_t i = 0; i < h->rank; i++) {
    h->shape[i] = be32(b + 4 + 4 * i);
    size_t cap = i == 0 ? IDX_MAX_COUNT : IDX_MAX_SIDE;
    RETURN_IF(h->shape[i] > cap, TCONV_LIMIT_EXCEEDED,
              "IDX: dimension %zu is %zu, above the limit of %zu", i, h->shape[i], cap);
    RETURN_IF(tconv_mul_overflow(numel, h->shape[i], &numel), TCONV_LIMIT_EXCEEDED,
              "IDX: element count overflows");
  }
  h->numel = numel;
  size_t data_bytes;
  RETURN_IF(tconv_mul_overflow(numel, idx_elem_size(h->type), &data_bytes) ||
                tconv_add_overflow(data_bytes, h->header_bytes, &h->total_bytes),
            TCONV_LIMIT_EXCEEDED, "IDX: size overflows");
  /* The float copy must fit the tensor limits too. */
  return tconv_check_shape(h->rank, h->shape, sizeof(float), NULL, "IDX");
}

static double idx_value(const unsigned char *p, uint8_t type) {
  switch (type) {
  case 0x08: return p[0];
  case 0x09: return (int8_t)p[0];
  case 0x0B: return (int16_t)(uint16_t)((p[0] << 8) | p[1]);
  case 0x0C: return (int32_t)be32(p);
  case 0x0D: {
    uint32_t u = be32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  default: { /* 0x0E */
    uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  }
}

/* Converts the data of a fully present, validated file into out. */
static tconv_status idx_convert(const unsigned char *data, const idx_header *h, tconv_tensor *out) {
  RETURN_IF_ERROR(tconv_tensor_alloc(out, h->rank, h->shape));
  size_t es = idx_elem_size(h->type);
  for (size_t i = 0; i < h->numel; i++) out->data[i] = (float)idx_value(data + i * es, h->type);
  return TCONV_OK;
}

#ifdef TCONV_HAVE_ZLIB
/* Inflates until `want` more bytes are produced, the stream ends or the input runs out; returns
 * the count produced in *got.  zlib's avail counters are 32-bit, so feed in slices. */
static tconv_status idx_inflate(z_stream *z, const unsigned char *in, size_t in_size,
                                size_t *in_pos, unsigned char *dst, size_t want, size_t *got,
                                int *ended) {
  *got = 0;
  *ended = 0;
  while (*got < want) {
    size_t in_left = in_size - *in_pos, out_left = want - *got;
    z->next_in = (Bytef *)(in + *in_pos);
    z->avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
    z->next_out = dst + *got;
    z->avail_out = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
    uInt avail_in0 = z->avail_in, avail_out0 = z->avail_out;
    int rc = inflate(z, Z_NO_FLUSH);
    *in_pos += avail_in0 - z->avail_in;
    *got += avail_out0 - z->avail_out;
    if (rc == Z_STREAM_END) {
      *ended = 1;
      return TCONV_OK;
    }
    if (rc == Z_MEM_ERROR) return tconv_error(TCONV_OUT_OF_MEMORY, "IDX: gzip: out of memory");
    if (rc == Z_BUF_ERROR && z->avail_in == 0 && *in_pos == in_size) return TCONV_OK; /* input out */
    RETURN_IF(rc != Z_OK && rc != Z_BUF_ERROR, TCONV_BAD_FILE, "IDX: corrupt gzip data (%s)",
              z->msg ? z->msg : "inflate failed");
  }
  return TCONV_OK;
}

static tconv_status idx_parse_gzip(const unsigned char *b, size_t size, tconv_tensor *out,
                                   idx_header *h) {
  z_stream z;
  memset(&z, 0, sizeof z);
  z.zalloc = tconv_zlib_alloc;
  z.zfree = tconv_zlib_free;
  RETURN_IF(inflateInit2(&z, 16 + MAX_WBITS) != Z_OK, TCONV_OUT_OF_MEMORY,
            "IDX: cannot start the gzip decoder");
  unsigned char head[20];
  unsigned char *data = NULL;
  size_t pos = 0, got = 0;
  int ended = 0;
  tconv_status st = idx_inflate(&z, b, size, &pos, head, 4, &got, &ended);
  if (st == TCONV_OK) st = idx_check_magic(head, got, h);
  if (st == TCONV_OK) {
    size_t more = h->header_bytes - 4;
    st = idx_inflate(&z, b, size, &pos, head + 4, more, &got, &ended);
    if (st == TCONV_OK && got < more)
      st = tconv_error(TCONV_BAD_FILE, "IDX: truncated header (gzip stream ends early)");
  }
  if (st == TCONV_OK) st = idx_check_dims(head, h);
  size_t data_bytes = h->total_bytes - h->header_bytes;
  /* Deflate expands at most 1032:1, so a stream this short cannot hold the declared data: say so
   * before allocating what the header asks for. */
  if (st == TCONV_OK && data_bytes / 1032 > size)
    st = tconv_error(TCONV_BAD_FILE, "IDX: the header declares %zu data bytes, more than a "
                                     "%zu-byte gzip stream can hold", data_bytes, size);
  if (st == TCONV_OK) {
    data = tconv_alloc(data_bytes + 1); /* one byte more: detects data past the declared size */
    if (data == NULL) st = tconv_error(TCONV_OUT_OF_MEMORY, "IDX: cannot allocate %zu bytes",
                                       data_bytes);
  }
  if (st == TCONV_OK) st = idx_inflate(&z, b, size, &pos, data, data_bytes + 1, &got, &ended);
  if (st == TCONV_OK && got != data_bytes)
    st = tconv_error(TCONV_BAD_FILE, "IDX: the header declares %zu data bytes, the gzip stream "
                                     "holds %s%zu", data_bytes, got > data_bytes ? "more than " : "",
                     got > data_bytes ? data_bytes : got);
  if (st == TCONV_OK && !ended) {
    /* All data is there; the stream must end now (only its trailer may remain). */
    unsigned char extra;
    st = idx_inflate(&z, b, size, &pos, &extra, 1, &got, &ended);
    if (st == TCONV_OK && (got != 0 || !ended))
      st = tconv_error(TCONV_BAD_FILE, got ? "IDX: data past the declared size"
                                           : "IDX: truncated gzip stream (no end marker)");
  }
  if (st == TCONV_OK) st = idx_convert(data, h, out);
  inflateEnd(&z);
  tconv_dealloc(data);
  return st;
}
#endif

tconv_status tconv_idx_parse(const void *bytes, size_t size, tconv_tensor *out, uint8_t *type) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "tconv_idx_parse: NULL output");
  memset(out, 0, sizeof *out);
  RETURN_IF(bytes == NULL && size > 0, TCONV_INVALID_ARGUMENT, "tconv_idx_parse: NULL bytes");
  const unsigned char *b = bytes;
  idx_header h;
  memset(&h, 0, sizeof h);
  tconv_status st;
  if (size >= 2 && b[0] == 0x1F && b[1] == 0x8B) {
#ifdef TCONV_HAVE_ZLIB
    st = idx_parse_gzip(b, size, out, &h);
#else
    return tconv_error(TCONV_UNSUPPORTED, "IDX: gzip'd file, and this build has no zlib");
#endif
  } else {
    RETURN_IF_ERROR(idx_check_magic(b, size, &h));
    RETURN_IF(size < h.header_bytes, TCONV_BAD_FILE, "IDX: truncated header (%zu of %zu bytes)",
              size, h.header_bytes);
    RETURN_IF_ERROR(idx_check_dims(b, &h));
    RETURN_IF(size != h.total_bytes, TCONV_BAD_FILE,
              "IDX: %zu bytes, but the header implies exactly %zu (%s)", size, h.total_bytes,
              size < h.total_bytes ? "truncated" : "trailing bytes");
    st = idx_convert(b + h.header_bytes, &h, out);
  }
  if (st != TCONV_OK) tconv_tensor_free(out);
  else if (type != NULL) *type = h.type;
  return st;
}

tconv_status tconv_idx_load(const char *path, tconv_tensor *out, uint8_t *type) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "tconv_idx_load: NULL argument");
  memset(out, 0, sizeof *out);
  unsigned char *bytes = NULL;
  size_t size = 0;
  RETURN_IF_ERROR(tconv_read_file(path, IDX_MAX_FILE_BYTES, &bytes, &size));
  tconv_status st = tconv_idx_parse(bytes, size, out, type);
  tconv_dealloc(bytes);
  if (st != TCONV_OK) st = tconv_error_context(st, "%s", path);
  return st;
}
