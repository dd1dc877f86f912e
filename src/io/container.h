/* Private helpers shared by the .npy, .npz and safetensors modules (and their fuzz targets):
 * a typed .npy parser, in-memory encoders, and a byte emitter that writes either to a file
 * descriptor or into a preallocated buffer, so the writers stream and the fuzzers stay in memory. */
#ifndef TCONV_IO_CONTAINER_H
#define TCONV_IO_CONTAINER_H

#include "io/formats.h"

#include <string.h>

/* Hard ceiling on a .npy header whatever tconv_limits.max_header_bytes says (numpy's own
 * default is 10,000; a header is a few hundred bytes in practice). */
#define TCONV_NPY_HEADER_CEILING ((size_t)1 << 20)
/* Longest prefix + header tconv_npy_header() ever produces (rank <= 8, 20-digit dims). */
#define TCONV_NPY_HEADER_MAX 448

/* Size cap for reading a whole multi-tensor file: two tensors at the byte limit plus extra bytes of
 * headers (4 GiB + extra by default), saturating instead of wrapping. */
static inline uint64_t tconv_container_file_cap(uint64_t extra) {
  uint64_t t = tconv_get_limits().max_tensor_bytes;
  uint64_t cap = t > (UINT64_MAX - extra) / 2 ? UINT64_MAX : 2 * t + extra;
  return cap;
}

/* The body of tconv_npz_parse / tconv_safetensors_parse: parse into a zeroed *out, which is left
 * empty on failure.  Arguments checked by the caller (which names itself in the message). */
typedef tconv_status (*tconv_container_parser)(const unsigned char *, size_t, tconv_weights *);
static inline tconv_status tconv_container_parse(const void *bytes, size_t size, tconv_weights *out,
                                                 tconv_container_parser parse) {
  memset(out, 0, sizeof *out);
  tconv_status st = parse(bytes, size, out);
  if (st != TCONV_OK) tconv_weights_free(out);
  return st;
}

/* The body of the matching _read: the whole file (at most cap bytes) through parse, the file's
 * name in front of any error message (the parser sees only bytes). */
static inline tconv_status tconv_container_read(const char *path, uint64_t cap, tconv_weights *out,
                                                tconv_container_parser parse) {
  memset(out, 0, sizeof *out);
  unsigned char *buf;
  size_t size;
  RETURN_IF_ERROR(tconv_read_file(path, cap, &buf, &size));
  tconv_status st = tconv_container_parse(buf, size, out, parse);
  tconv_dealloc(buf);
  return st == TCONV_OK ? TCONV_OK : tconv_error_context(st, "%s", path);
}

/* The effective .npy header cap: min(max_header_bytes, 1 MiB). */
size_t tconv_npy_header_cap(void);

/* tconv_npy_parse that also reports the stored dtype (FLOAT32 or FLOAT64). */
tconv_status tconv_npy_parse_typed(const void *bytes, size_t size, tconv_tensor *out,
                                   tconv_dtype *dtype);

/* Writes the v1.0 '<f4' C-order prefix + header for a tensor of this shape into buf (at least
 * TCONV_NPY_HEADER_MAX bytes), byte-identical to numpy's; returns its length (a multiple of 64). */
size_t tconv_npy_header(size_t rank, const size_t *shape, char *buf);

/* A byte sink: file descriptor (fd >= 0) or memory (buf with capacity cap). */
typedef struct tconv_emitter {
  int fd;
  unsigned char *buf;
  size_t size, cap;
} tconv_emitter;

/* Appends n bytes.  Errors: IO_ERROR (file), INVALID_STATE (memory buffer too small). */
tconv_status tconv_emit(tconv_emitter *e, const void *p, size_t n);
/* Appends n floats as little-endian IEEE-754 binary32. */
tconv_status tconv_emit_f32(tconv_emitter *e, const float *v, size_t n);

/* In-memory encoders (the writers' exact output), for round-trip checks.  *out is owned by the
 * caller (tconv_dealloc).  Errors: as the matching writer, without IO_ERROR. */
tconv_status tconv_npy_encode(const tconv_tensor *t, unsigned char **out, size_t *size);
tconv_status tconv_npz_encode(const tconv_weights *w, unsigned char **out, size_t *size);
tconv_status tconv_safetensors_encode(const tconv_weights *w, const char *metadata_json,
                                      unsigned char **out, size_t *size);

/* Little-endian loads from possibly unaligned bytes. */
static inline uint16_t tconv_le16(const unsigned char *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tconv_le32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t tconv_le64(const unsigned char *p) {
  return (uint64_t)tconv_le32(p) | ((uint64_t)tconv_le32(p + 4) << 32);
}
static inline void tconv_put16(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static inline void tconv_put32(unsigned char *p, uint32_t v) {
  tconv_put16(p, v);
  tconv_put16(p + 2, v >> 16);
}
static inline void tconv_put64(unsigned char *p, uint64_t v) {
  tconv_put32(p, (uint32_t)v);
  tconv_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
