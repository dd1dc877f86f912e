/* LevelDB-format table reader for TF checkpoint .index files.
 *
 * Layout: [data blocks][meta blocks][metaindex block][index block][footer: 48 bytes].
 * The footer holds two block handles (varint64 offset, varint64 size), padding, and the 8-byte
 * magic 0xdb4775248b80fb57.  Each block is followed by a 5-byte trailer: the compression type
 * (0 none, 1 snappy) and the masked CRC32C of the block bytes plus that type byte.  A block's
 * entries are (varint32 shared, varint32 non_shared, varint32 value_len, key delta, value) with
 * keys prefix-compressed against the previous key, and the block ends with a restart array of
 * uint32 offsets followed by its uint32 count.  The index block maps separator keys to the
 * handles of the data blocks. */
#include "io/tfckpt.h"

#include <string.h>

#ifdef TCONV_HAVE_SNAPPY
#include <snappy-c.h>
#endif

static uint32_t load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct block_handle {
  uint64_t offset, size;
} block_handle;

static int decode_handle(tfckpt_pb *r, block_handle *h) {
  if (tfckpt_pb_varint(r, &h->offset) || tfckpt_pb_varint(r, &h->size)) return -1;
  return 0;
}

/* A block's bytes after the CRC check and decompression.  owned != NULL when decompressed. */
typedef struct block {
  const uint8_t *data;
  size_t size;
  uint8_t *owned;
} block;

static tconv_status read_block(const uint8_t *file, size_t file_size, block_handle h,
                               const char *what, block *out) {
  memset(out, 0, sizeof *out);
  uint64_t end;
  RETURN_IF(h.size > TFCKPT_MAX_BLOCK_BYTES, TCONV_LIMIT_EXCEEDED,
            "tf checkpoint index: %s block of %llu bytes exceeds the %zu-byte limit", what,
            (unsigned long long)h.size, TFCKPT_MAX_BLOCK_BYTES);
  RETURN_IF(__builtin_add_overflow(h.offset, h.size, &end) || end > file_size ||
                file_size - end < 5,
            TCONV_BAD_FILE,
            "tf checkpoint index: %s block [%llu, +%llu) plus its 5-byte trailer lies outside the "
            "%zu-byte file",
            what, (unsigned long long)h.offset, (unsigned long long)h.size, file_size);
  const uint8_t *b = file + h.offset;
  uint8_t type = b[h.size];
  uint32_t stored = tconv_crc32c_unmask(load_le32(b + h.size + 1));
  uint32_t actual = tconv_crc32c_extend(tconv_crc32c(b, (size_t)h.size), &type, 1);
  RETURN_IF(stored != actual, TCONV_BAD_FILE,
            "tf checkpoint index: %s block at offset %llu: CRC32C mismatch (stored %08x, "
            "computed %08x)",
            what, (unsigned long long)h.offset, stored, actual);
  if (type == 0) {
    out->data = b;
    out->size = (size_t)h.size;
    return TCONV_OK;
  }
  RETURN_IF(type != 1, TCONV_UNSUPPORTED,
            "tf checkpoint index: %s block at offset %llu: unknown compression type %u", what,
            (unsigned long long)h.offset, type);
#ifdef TCONV_HAVE_SNAPPY
  size_t n = 0;
  RETURN_IF(snappy_uncompressed_length((const char *)b, (size_t)h.size, &n) != SNAPPY_OK,
            TCONV_BAD_FILE, "tf checkpoint index: %s block at offset %llu: bad snappy header",
            what, (unsigned long long)h.offset);
  RETURN_IF(n > TFCKPT_MAX_BLOCK_BYTES, TCONV_LIMIT_EXCEEDED,
            "tf checkpoint index: %s block decompresses to %zu bytes, above the %zu-byte limit",
            what, n, TFCKPT_MAX_BLOCK_BYTES);
  /* Snappy expands at most ~ 2^32/... per byte of input; a length far beyond what the
   * compressed bytes could encode is rejected by validation before we allocate. */
  RETURN_IF(snappy_validate_compressed_buffer((const char *)b, (size_t)h.size) != SNAPPY_OK,
            TCONV_BAD_FILE, "tf checkpoint index: %s block at offset %llu: corrupt snappy data",
            what, (unsigned long long)h.offset);
  uint8_t *buf = tconv_alloc(n);
  RETURN_IF(buf == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint index: cannot allocate %zu bytes", n);
  size_t got = n;
  if (snappy_uncompress((const char *)b, (size_t)h.size, (char *)buf, &got) != SNAPPY_OK ||
      got != n) {
    tconv_dealloc(buf);
    return tconv_error(TCONV_BAD_FILE, "tf checkpoint index: %s block: snappy decompression failed",
                       what);
  }
  out->data = buf;
  out->size = n;
  out->owned = buf;
  return TCONV_OK;
#else
  return tconv_error(TCONV_UNSUPPORTED,
                     "tf checkpoint index: %s block is snappy-compressed and this build has no "
                     "libsnappy",
                     what);
#endif
}

/* The previous key, for prefix decompression and the ordering check; grows as needed. */
typedef struct keybuf {
  uint8_t *p;
  size_t len, cap;
  bool any; /* a key has been seen */
} keybuf;

static int key_less(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t n = an < bn ? an : bn;
  int c = memcmp(a, b, n);
  return c < 0 || (c == 0 && an < bn);
}

/* Iterates the entries of one decoded block.  `last` carries the previous key across blocks when
 * `global` ordering is checked (data blocks); the index block has its own. */
static tconv_status walk_block(const block *blk, const char *what, keybuf *kb, keybuf *order,
                               tfckpt_table_fn fn, void *ctx) {
  RETURN_IF(blk->size < 4, TCONV_BAD_FILE, "tf checkpoint index: %s block of %zu bytes is too short",
            what, blk->size);
  uint32_t restarts = load_le32(blk->data + blk->size - 4);
  RETURN_IF(restarts == 0 || restarts > (blk->size - 4) / 4, TCONV_BAD_FILE,
            "tf checkpoint index: %s block: restart count %u does not fit in %zu bytes", what,
            restarts, blk->size);
  size_t limit = blk->size - 4 - (size_t)restarts * 4;
  for (uint32_t i = 0; i < restarts; i++) {
    uint32_t off = load_le32(blk->data + limit + (size_t)i * 4);
    RETURN_IF(off > limit || (i == 0 && off != 0), TCONV_BAD_FILE,
              "tf checkpoint index: %s block: restart point %u at %u is out of range", what, i, off);
  }
  kb->len = 0;
  tfckpt_pb r = {blk->data, blk->data + limit};
  bool first = true;
  while (r.p < r.end) {
    uint64_t shared, non_shared, value_len;
    RETURN_IF(tfckpt_pb_varint(&r, &shared) || tfckpt_pb_varint(&r, &non_shared) ||
                  tfckpt_pb_varint(&r, &value_len),
              TCONV_BAD_FILE, "tf checkpoint index: %s block: truncated entry header", what);
    size_t left = (size_t)(r.end - r.p);
    RETURN_IF(shared > kb->len || (first && shared != 0), TCONV_BAD_FILE,
              "tf checkpoint index: %s block: entry shares %llu bytes of a %zu-byte previous key",
              what, (unsigned long long)shared, kb->len);
    RETURN_IF(non_shared > left || value_len > left - non_shared, TCONV_BAD_FILE,
              "tf checkpoint index: %s block: entry of %llu + %llu bytes overruns the block", what,
              (unsigned long long)non_shared, (unsigned long long)value_len);
    size_t klen = (size_t)shared + (size_t)non_shared; /* <= block size: no overflow */
    if (klen > kb->cap || kb->p == NULL) {
      size_t cap = klen < 64 ? 64 : klen;
      uint8_t *p = tconv_realloc(kb->p, kb->cap, cap);
      RETURN_IF(p == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint index: out of memory");
      kb->p = p;
      kb->cap = cap;
    }
    memcpy(kb->p + shared, r.p, (size_t)non_shared);
    kb->len = klen;
    r.p += non_shared;
    const uint8_t *value = r.p;
    r.p += value_len;
    first = false;
    if (order) {
      RETURN_IF(order->any && !key_less(order->p, order->len, kb->p, kb->len), TCONV_BAD_FILE,
                "tf checkpoint index: keys are not strictly increasing (%s block)", what);
      if (kb->len > order->cap || order->p == NULL) {
        size_t cap = kb->len ? kb->len : 1;
        uint8_t *p = tconv_realloc(order->p, order->cap, cap);
        RETURN_IF(p == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint index: out of memory");
        order->p = p;
        order->cap = cap;
      }
      if (kb->len) memcpy(order->p, kb->p, kb->len);
      order->len = kb->len;
      order->any = true;
    }
    RETURN_IF_ERROR(fn(ctx, kb->p, kb->len, value, (size_t)value_len));
  }
  return TCONV_OK;
}

typedef struct index_walk {
  const uint8_t *file;
  size_t size;
  tfckpt_table_fn fn;
  void *ctx;
  keybuf data_key, order;
  size_t blocks;
  uint64_t next_offset; /* data blocks must not overlap: bounds total work by the file size */
} index_walk;

static tconv_status on_index_entry(void *vctx, const uint8_t *key, size_t key_len,
                                   const uint8_t *value, size_t value_len) {
  index_walk *w = vctx;
  tfckpt_pb r = {value, value + value_len};
  block_handle h;
  RETURN_IF(decode_handle(&r, &h), TCONV_BAD_FILE,
            "tf checkpoint index: index entry %zu has a malformed block handle", w->blocks);
  w->blocks++;
  RETURN_IF(h.offset < w->next_offset, TCONV_BAD_FILE,
            "tf checkpoint index: data block %zu at offset %llu overlaps the previous block",
            w->blocks, (unsigned long long)h.offset);
  block blk;
  RETURN_IF_ERROR(read_block(w->file, w->size, h, "data", &blk));
  w->next_offset = h.offset + h.size + 5; /* read_block checked it against the file size */
  tconv_status st = walk_block(&blk, "data", &w->data_key, &w->order, w->fn, w->ctx);
  tconv_dealloc(blk.owned);
  return st;
}

static tconv_status ignore_entry(void *ctx, const uint8_t *k, size_t kn, const uint8_t *v,
                                 size_t vn) {
  return TCONV_OK;
}

tconv_status tfckpt_table_walk(const uint8_t *file, size_t size, tfckpt_table_fn fn, void *ctx) {
  RETURN_IF(size < 48, TCONV_BAD_FILE,
            "tf checkpoint index: %zu bytes is shorter than the 48-byte table footer", size);
  const uint8_t *foot = file + size - 48;
  uint64_t magic = (uint64_t)load_le32(foot + 40) | (uint64_t)load_le32(foot + 44) << 32;
  RETURN_IF(magic != TFCKPT_TABLE_MAGIC, TCONV_BAD_FILE,
            "tf checkpoint index: bad table magic %016llx (expected %016llx)",
            (unsigned long long)magic, (unsigned long long)TFCKPT_TABLE_MAGIC);
  tfckpt_pb r = {foot, foot + 40};
  block_handle meta, index;
  RETURN_IF(decode_handle(&r, &meta) || decode_handle(&r, &index), TCONV_BAD_FILE,
            "tf checkpoint index: malformed footer block handles");
  /* The metaindex block is checked (CRC, structure) although TF writes it empty. */
  block mblk, iblk;
  RETURN_IF_ERROR(read_block(file, size, meta, "metaindex", &mblk));
  keybuf mk = {0};
  tconv_status st = walk_block(&mblk, "metaindex", &mk, NULL, ignore_entry, NULL);
  tconv_dealloc(mblk.owned);
  tconv_dealloc(mk.p);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(read_block(file, size, index, "index", &iblk));
  index_walk w = {.file = file, .size = size, .fn = fn, .ctx = ctx};
  keybuf ik = {0}, iorder = {0};
  st = walk_block(&iblk, "index", &ik, &iorder, on_index_entry, &w);
  tconv_dealloc(iblk.owned);
  tconv_dealloc(ik.p);
  tconv_dealloc(iorder.p);
  tconv_dealloc(w.data_key.p);
  tconv_dealloc(w.order.p);
  return st;
}
