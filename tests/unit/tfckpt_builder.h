/* Builds small TF checkpoint V2 bundles in memory for tests and fuzz seeds: a LevelDB-format
 * table (one data block, restart interval 1, no compression) of BundleEntryProto values, written
 * from scratch so that every field — including hostile ones — can be set.  Static functions:
 * include it from one test file. */
#ifndef TCONV_TFCKPT_BUILDER_H
#define TCONV_TFCKPT_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/tfckpt.h"

typedef struct tb_buf {
  uint8_t *p;
  size_t n, cap;
} tb_buf;

static void tb_put(tb_buf *b, const void *d, size_t n) {
  if (n == 0) return;
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void tb_varint(tb_buf *b, uint64_t v) {
  do {
    uint8_t c = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) c |= 0x80;
    tb_put(b, &c, 1);
  } while (v);
}
static void tb_le32(tb_buf *b, uint32_t v) {
  uint8_t c[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  tb_put(b, c, 4);
}
static void tb_tag(tb_buf *b, uint32_t field, uint32_t wire) { tb_varint(b, field << 3 | wire); }
static void tb_int(tb_buf *b, uint32_t field, int64_t v) {
  tb_tag(b, field, 0);
  tb_varint(b, (uint64_t)v);
}
static void tb_msg(tb_buf *b, uint32_t field, const tb_buf *m) {
  tb_tag(b, field, 2);
  tb_varint(b, m->n);
  tb_put(b, m->p, m->n);
}

/* One tensor entry; fields with has_* false are left out of the proto. */
typedef struct tb_entry {
  const char *key;
  int64_t dtype;
  bool no_dtype;
  size_t rank;
  int64_t dims[10];
  int64_t shard, offset, size;
  bool no_crc;
  uint32_t crc; /* masked; computed from data when data != NULL and crc == 0 */
  const uint8_t *data;
  /* One slice with `extents` extents (start, length; length < -1000 means absent). */
  size_t extents;
  int64_t ext_start[4], ext_len[4];
} tb_entry;

static void tb_entry_proto(tb_buf *v, const tb_entry *e) {
  if (!e->no_dtype) tb_int(v, 1, e->dtype);
  tb_buf shape = {0};
  for (size_t i = 0; i < e->rank; i++) {
    tb_buf dim = {0};
    tb_int(&dim, 1, e->dims[i]);
    tb_msg(&shape, 2, &dim);
    free(dim.p);
  }
  tb_msg(v, 2, &shape);
  free(shape.p);
  if (e->shard) tb_int(v, 3, e->shard);
  if (e->offset) tb_int(v, 4, e->offset);
  if (e->size) tb_int(v, 5, e->size);
  if (!e->no_crc) {
    uint32_t crc = e->crc;
    if (crc == 0) crc = tconv_crc32c_mask(tconv_crc32c(e->data ? e->data : (const uint8_t *)"", e->data ? (size_t)e->size : 0));
    tb_tag(v, 6, 5);
    tb_le32(v, crc);
  }
  if (e->extents) {
    tb_buf slice = {0};
    for (size_t i = 0; i < e->extents; i++) {
      tb_buf ext = {0};
      tb_int(&ext, 1, e->ext_start[i]);
      if (e->ext_len[i] >= -1000) tb_int(&ext, 2, e->ext_len[i]);
      tb_msg(&slice, 1, &ext);
      free(ext.p);
    }
    tb_msg(v, 7, &slice);
    free(slice.p);
  }
}

static void tb_block_trailer(tb_buf *f, size_t start) {
  uint8_t type = 0;
  uint32_t crc = tconv_crc32c_extend(tconv_crc32c(f->p + start, f->n - start), &type, 1);
  tb_put(f, &type, 1);
  tb_le32(f, tconv_crc32c_mask(crc));
}

/* A block of (key, value) pairs with a restart at every entry. */
static void tb_block(tb_buf *f, const char *const *keys, const tb_buf *values, size_t n) {
  size_t start = f->n;
  uint32_t *restarts = calloc(n + 1, sizeof *restarts);
  for (size_t i = 0; i < n; i++) {
    restarts[i] = (uint32_t)(f->n - start);
    size_t kn = strlen(keys[i]);
    tb_varint(f, 0);
    tb_varint(f, kn);
    tb_varint(f, values[i].n);
    tb_put(f, keys[i], kn);
    tb_put(f, values[i].p, values[i].n);
  }
  size_t nr = n ? n : 1; /* an empty block still has one restart point */
  for (size_t i = 0; i < nr; i++) tb_le32(f, restarts[i]);
  tb_le32(f, (uint32_t)nr);
  free(restarts);
  tb_block_trailer(f, start);
}

/* The whole .index: header (num_shards) then entries, which must be in increasing key order. */
static tb_buf tb_index(int64_t num_shards, const tb_entry *entries, size_t n) {
  tb_buf f = {0};
  const char **keys = calloc(n + 1, sizeof *keys);
  tb_buf *values = calloc(n + 1, sizeof *values);
  keys[0] = "";
  tb_int(&values[0], 1, num_shards);
  tb_buf ver = {0};
  tb_int(&ver, 1, 1);
  tb_msg(&values[0], 3, &ver);
  free(ver.p);
  for (size_t i = 0; i < n; i++) {
    keys[i + 1] = entries[i].key;
    tb_entry_proto(&values[i + 1], &entries[i]);
  }
  tb_block(&f, keys, values, n + 1);
  size_t data_size = f.n - 5;
  size_t meta_off = f.n;
  tb_block(&f, NULL, NULL, 0);
  size_t meta_size = f.n - 5 - meta_off;
  size_t index_off = f.n;
  tb_buf handle = {0};
  tb_varint(&handle, 0);
  tb_varint(&handle, data_size);
  const char *ikey = n ? entries[n - 1].key : "";
  tb_block(&f, &ikey, &handle, 1);
  size_t index_size = f.n - 5 - index_off;
  tb_buf foot = {0};
  tb_varint(&foot, meta_off);
  tb_varint(&foot, meta_size);
  tb_varint(&foot, index_off);
  tb_varint(&foot, index_size);
  while (foot.n < 40) tb_put(&foot, "", 1);
  tb_le32(&foot, 0x8b80fb57u);
  tb_le32(&foot, 0xdb477524u);
  tb_put(&f, foot.p, foot.n);
  free(foot.p);
  free(handle.p);
  for (size_t i = 0; i <= n; i++) free(values[i].p);
  free(values);
  free(keys);
  return f;
}

#endif
