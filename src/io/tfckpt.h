/* Internal pieces of the TensorFlow checkpoint V2 reader (src/io/tfckpt*.c).
 *
 * A bundle is NAME.index (a LevelDB-format table: key = tensor name, value = a serialized
 * BundleEntryProto; the entry with the empty key holds a BundleHeaderProto) plus the data shards
 * NAME.data-SSSSS-of-NNNNN holding the raw tensor bytes.  Everything read from either file is
 * hostile: every varint, length, offset, shard id, dtype and shape is checked before use, every
 * CRC is verified, and no allocation is sized by a field that has not been checked against the
 * bytes that actually exist. */
#ifndef TCONV_IO_TFCKPT_H
#define TCONV_IO_TFCKPT_H

#include "io/formats.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- CRC32C (Castagnoli), as LevelDB and TF use it ---------------------------------------- */
uint32_t tconv_crc32c_extend(uint32_t crc, const void *data, size_t n);
static inline uint32_t tconv_crc32c(const void *data, size_t n) {
  return tconv_crc32c_extend(0, data, n);
}
/* LevelDB/TF store CRCs "masked" so that a CRC of data containing CRCs stays well distributed. */
static inline uint32_t tconv_crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
static inline uint32_t tconv_crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

/* ---- Minimal protobuf wire-format reader ---------------------------------------------------- */
typedef struct tfckpt_pb {
  const uint8_t *p, *end;
} tfckpt_pb;
/* Varint of at most 10 bytes; 0 on success, -1 when truncated or over-long. */
int tfckpt_pb_varint(tfckpt_pb *r, uint64_t *v);
/* Next field tag: 1 = got one, 0 = end of message, -1 = malformed (group wire types, field 0). */
int tfckpt_pb_next(tfckpt_pb *r, uint32_t *field, uint32_t *wire);
/* Length-delimited payload (wire type 2) as a sub-reader; -1 when it overruns. */
int tfckpt_pb_bytes(tfckpt_pb *r, tfckpt_pb *sub);
/* Skips a field's value of the given wire type; -1 when malformed. */
int tfckpt_pb_skip(tfckpt_pb *r, uint32_t wire);

/* ---- Decoded protos ----------------------------------------------------------------------- */
#define TFCKPT_MAX_SLICES 64
typedef struct tfckpt_entry {
  char *key;          /* owned, NUL-terminated (keys with NUL bytes are rejected) */
  int dtype;          /* TF DataType enum value (0 = missing) */
  size_t rank;
  int64_t dims[TCONV_MAX_RANK];
  bool unknown_rank;
  int64_t shard_id;
  int64_t offset, size;
  uint32_t crc32c; /* masked */
  bool has_crc;
  size_t slices; /* number of TensorSliceProto entries (partitioned variables) */
} tfckpt_entry;

typedef struct tfckpt_header {
  int64_t num_shards;
  int64_t endianness; /* 0 LITTLE, 1 BIG */
  int64_t producer, min_consumer;
  bool bad_consumer; /* our consumer version is listed in bad_consumers */
} tfckpt_header;

/* Decode one BundleEntryProto / BundleHeaderProto value.  The key is not touched.  Errors:
 * BAD_FILE (malformed, negative dimension, bad extent), LIMIT_EXCEEDED (rank, slice count). */
tconv_status tfckpt_decode_entry(const uint8_t *v, size_t n, const char *key, tfckpt_entry *e);
tconv_status tfckpt_decode_header(const uint8_t *v, size_t n, tfckpt_header *h);

/* ---- LevelDB-format table ----------------------------------------------------------------- */
/* Called for each (key, value) of the table in order; the bytes are valid only during the call. */
typedef tconv_status (*tfckpt_table_fn)(void *ctx, const uint8_t *key, size_t key_len,
                                        const uint8_t *value, size_t value_len);
/* Walks every data block of the table in the buffer (footer, index block, data blocks), checking
 * the footer magic, each block's bounds, masked CRC32C and restart array, and that keys strictly
 * increase.  Snappy blocks (type 1) are decompressed with libsnappy when built with it.
 * Errors: BAD_FILE, UNSUPPORTED (compression), LIMIT_EXCEEDED, OUT_OF_MEMORY, or fn's status. */
tconv_status tfckpt_table_walk(const uint8_t *file, size_t size, tfckpt_table_fn fn, void *ctx);

#define TFCKPT_TABLE_MAGIC 0xdb4775248b80fb57ull
#define TFCKPT_MAX_BLOCK_BYTES ((size_t)64 << 20)
#define TFCKPT_MAX_INDEX_BYTES ((uint64_t)1 << 30)
#define TFCKPT_MAX_SHARDS 1024

/* ---- The bundle --------------------------------------------------------------------------- */
/* Where the data shards come from: memory (fuzzing, tests) or open files. */
typedef struct tfckpt_shard {
  bool present;
  const uint8_t *mem; /* when non-NULL, the whole shard */
  int fd;             /* otherwise an open file */
  uint64_t size;
  const char *path; /* for messages */
} tfckpt_shard;
/* Opens the shards the header asks for; fills shards[0..num_shards).  Implemented per source. */
typedef tconv_status (*tfckpt_open_shards_fn)(void *ctx, int64_t num_shards, tfckpt_shard **out);

tconv_status tfckpt_read_bundle(const uint8_t *index, size_t index_size, const char *what,
                                tfckpt_open_shards_fn open_shards, void *open_ctx, unsigned flags,
                                tconv_weights *out);

/* Keras/TF names from a serialized TrackableObjectGraph: calls fn(ctx, checkpoint_key, name)
 * for each variable attribute that has a full_name (":0" suffix removed) and for optimizer slot
 * variables (original name + "/" + slot name).  Errors: BAD_FILE, OUT_OF_MEMORY, fn's status. */
typedef tconv_status (*tfckpt_alias_fn)(void *ctx, const char *key, const char *name);
tconv_status tfckpt_object_graph_aliases(const uint8_t *g, size_t n, tfckpt_alias_fn fn,
                                         void *ctx);

/* PREFIX from a prefix, PREFIX.index, PREFIX.data-SSSSS-of-NNNNN or a directory with a
 * `checkpoint` state file; *prefix owned by the caller.  Errors: NOT_FOUND, BAD_FILE, OOM. */
tconv_status tfckpt_resolve_prefix(const char *path, char **prefix);
/* True when path resolves to a prefix whose .index file exists. */
bool tfckpt_looks_like(const char *path);

#endif
