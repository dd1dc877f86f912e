/* NumPy .npz archives (np.savez / np.savez_compressed): a ZIP file of .npy members.
 *
 * The reader is a minimal ZIP central-directory reader over a memory buffer, written for hostile
 * input (cnpy#106 read 64 KiB past a member whose npy header claimed more than it held):
 *   - end record found within the last 65,557 bytes (22 + the largest comment), comment ending at
 *     EOF; ZIP64 end records and ZIP64 extra fields are read with 64-bit bounds checks (numpy
 *     writes every member with a ZIP64 extra field: np.savez uses force_zip64=True);
 *   - at most 1,024 entries, names of 1..255 bytes ending in ".npy", no duplicates;
 *   - each local header must agree with its central-directory entry (name, method, flags, CRC,
 *     sizes), members may not overlap each other or the central directory;
 *   - stored or deflate only; the declared size is capped by the limits before anything is
 *     allocated, inflation stops at declared + 1 bytes and must match exactly (no zip bombs);
 *   - CRC-32 verified; each member then goes through the strict .npy parser.
 * The writer produces what np.savez produces for float32 arrays: stored members named
 * "<name>.npy", with CRC-32, written atomically. */
#include "io/container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPZ_MAX_ENTRIES 1024
#define NPZ_MAX_NAME 255
#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_EOCD_SIG 0x06064b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP_MAX_COMMENT 65535u
#define ZIP_FLAG_ENCRYPTED 0x0001u
#define ZIP_FLAG_DESCRIPTOR 0x0008u
#define ZIP_FLAG_STRONG_ENCRYPTION 0x0040u
#define ZIP_FLAG_UTF8 0x0800u

#ifdef TCONV_HAVE_ZLIB
#include <zlib.h>

#include "io/zlib_alloc.h"

/* One central-directory entry, sizes widened to 64 bits. */
typedef struct zip_entry {
  const unsigned char *name;
  size_t name_len;
  unsigned flags, method;
  uint32_t crc;
  uint64_t csize, usize, local;
  uint64_t data, end; /* member data range, from the local header */
} zip_entry;

/* Finds extra field `id` (the fields must tile the extra area exactly); *field NULL if absent. */
static tconv_status find_extra(const unsigned char *extra, size_t len, unsigned id,
                               const unsigned char **field, size_t *field_len) {
  *field = NULL;
  *field_len = 0;
  size_t pos = 0;
  while (pos < len) {
    RETURN_IF(len - pos < 4, TCONV_BAD_FILE, "npz: truncated extra field");
    size_t n = tconv_le16(extra + pos + 2);
    RETURN_IF(n > len - pos - 4, TCONV_BAD_FILE, "npz: extra field runs past its header");
    if (tconv_le16(extra + pos) == id && *field == NULL) {
      *field = extra + pos + 4;
      *field_len = n;
    }
    pos += 4 + n;
  }
  return TCONV_OK;
}

/* Replaces the 32-bit fields that are saturated (0xFFFFFFFF) by the ZIP64 extra field's values,
 * which appear in the order usize, csize, offset and only for the saturated fields. */
static tconv_status read_zip64_extra(const unsigned char *extra, size_t len, uint64_t *usize,
                                     uint64_t *csize, uint64_t *offset) {
  bool need_u = usize && *usize == 0xFFFFFFFFu, need_c = csize && *csize == 0xFFFFFFFFu;
  bool need_o = offset && *offset == 0xFFFFFFFFu;
  const unsigned char *q;
  size_t n;
  RETURN_IF_ERROR(find_extra(extra, len, 0x0001, &q, &n));
  if (!need_u && !need_c && !need_o) return TCONV_OK;
  RETURN_IF(q == NULL, TCONV_BAD_FILE, "npz: saturated 32-bit size without a ZIP64 extra field");
  RETURN_IF(n < 8 * ((size_t)need_u + need_c + need_o), TCONV_BAD_FILE,
            "npz: ZIP64 extra field too short");
  if (need_u) *usize = tconv_le64(q), q += 8;
  if (need_c) *csize = tconv_le64(q), q += 8;
  if (need_o) *offset = tconv_le64(q);
  return TCONV_OK;
}

/* Finds the end of central directory; reports the directory's range and entry count. */
static tconv_status find_directory(const unsigned char *b, size_t size, uint64_t *cd_off,
                                   uint64_t *cd_size, uint64_t *count) {
  RETURN_IF(size < 22, TCONV_BAD_FILE, "not an .npz file (%zu bytes, too short for a ZIP)", size);
  size_t lowest = size > 22 + ZIP_MAX_COMMENT ? size - 22 - ZIP_MAX_COMMENT : 0;
  size_t eocd = SIZE_MAX;
  for (size_t pos = size - 22 + 1; pos-- > lowest;) {
    if (tconv_le32(b + pos) == ZIP_EOCD_SIG && pos + 22 + tconv_le16(b + pos + 20) == size) {
      eocd = pos;
      break;
    }
  }
  RETURN_IF(eocd == SIZE_MAX, TCONV_BAD_FILE,
            "not an .npz file (no ZIP end-of-central-directory record)");
  const unsigned char *e = b + eocd;
  unsigned disk = tconv_le16(e + 4), cd_disk = tconv_le16(e + 6);
  uint64_t on_disk = tconv_le16(e + 8), total = tconv_le16(e + 10);
  *cd_size = tconv_le32(e + 12);
  *cd_off = tconv_le32(e + 16);
  size_t limit = eocd; /* the directory must end before this */
  if (total == 0xFFFF || on_disk == 0xFFFF || *cd_size == 0xFFFFFFFFu || *cd_off == 0xFFFFFFFFu) {
    RETURN_IF(eocd < 20 || tconv_le32(b + eocd - 20) != ZIP64_LOCATOR_SIG, TCONV_BAD_FILE,
              "npz: saturated end record without a ZIP64 locator");
    uint64_t z = tconv_le64(b + eocd - 20 + 8);
    RETURN_IF(z > eocd - 20 || eocd - 20 - z < 56 || tconv_le32(b + z) != ZIP64_EOCD_SIG,
              TCONV_BAD_FILE, "npz: bad ZIP64 end-of-central-directory offset");
    const unsigned char *e64 = b + z;
    disk = tconv_le32(e64 + 16) ? 1 : 0;
    cd_disk = tconv_le32(e64 + 20) ? 1 : 0;
    on_disk = tconv_le64(e64 + 24);
    total = tconv_le64(e64 + 32);
    *cd_size = tconv_le64(e64 + 40);
    *cd_off = tconv_le64(e64 + 48);
    limit = (size_t)z;
  }
  RETURN_IF(disk != 0 || cd_disk != 0 || on_disk != total, TCONV_UNSUPPORTED,
            "npz: multi-disk ZIP archives are not supported");
  RETURN_IF(total > NPZ_MAX_ENTRIES, TCONV_LIMIT_EXCEEDED,
            "npz: %llu entries, above the limit of %d", (unsigned long long)total,
            NPZ_MAX_ENTRIES);
  RETURN_IF(*cd_off > limit || *cd_size > limit - *cd_off, TCONV_BAD_FILE,
            "npz: central directory (%llu bytes at %llu) lies outside the file",
            (unsigned long long)*cd_size, (unsigned long long)*cd_off);
  *count = total;
  return TCONV_OK;
}

static tconv_status read_entry(const unsigned char *b, uint64_t cd_end, uint64_t *pos,
                               zip_entry *z) {
  RETURN_IF(cd_end - *pos < 46 || tconv_le32(b + *pos) != ZIP_CENTRAL_SIG, TCONV_BAD_FILE,
            "npz: bad central directory entry at offset %llu", (unsigned long long)*pos);
  const unsigned char *c = b + *pos;
  size_t n = tconv_le16(c + 28), extra = tconv_le16(c + 30), comment = tconv_le16(c + 32);
  RETURN_IF(46 + n + extra + comment > cd_end - *pos, TCONV_BAD_FILE,
            "npz: central directory entry runs past the directory");
  z->flags = tconv_le16(c + 8);
  z->method = tconv_le16(c + 10);
  z->crc = tconv_le32(c + 16);
  z->csize = tconv_le32(c + 20);
  z->usize = tconv_le32(c + 24);
  z->local = tconv_le32(c + 42);
  z->name = c + 46;
  z->name_len = n;
  RETURN_IF_ERROR(read_zip64_extra(c + 46 + n, extra, &z->usize, &z->csize, &z->local));
  RETURN_IF(tconv_le16(c + 34) != 0 && tconv_le16(c + 34) != 0xFFFF, TCONV_UNSUPPORTED,
            "npz: multi-disk ZIP archives are not supported");
  *pos += 46 + n + extra + comment;
  return TCONV_OK;
}

/* Validates an entry's name, method and sizes, and its local header against it. */
static tconv_status check_entry(const unsigned char *b, uint64_t cd_off, zip_entry *z,
                                const zip_entry *prev, size_t n_prev) {
  RETURN_IF(z->name_len == 0 || memchr(z->name, 0, z->name_len) != NULL, TCONV_BAD_FILE,
            "npz: empty member name or a NUL byte in one");
  RETURN_IF(z->name_len > NPZ_MAX_NAME, TCONV_LIMIT_EXCEEDED,
            "npz: member name of %zu bytes, above the limit of %d", z->name_len, NPZ_MAX_NAME);
  int nl = (int)z->name_len;
  RETURN_IF(z->name_len <= 4 || memcmp(z->name + z->name_len - 4, ".npy", 4) != 0,
            TCONV_UNSUPPORTED, "npz: member '%.*s' is not a .npy array", nl, z->name);
  for (size_t i = 0; i < n_prev; i++)
    RETURN_IF(prev[i].name_len == z->name_len && memcmp(prev[i].name, z->name, z->name_len) == 0,
              TCONV_BAD_FILE, "npz: duplicate member '%.*s'", nl, z->name);
  RETURN_IF(z->flags & (ZIP_FLAG_ENCRYPTED | ZIP_FLAG_STRONG_ENCRYPTION), TCONV_UNSUPPORTED,
            "npz: member '%.*s' is encrypted", nl, z->name);
  RETURN_IF(z->method != 0 && z->method != 8, TCONV_UNSUPPORTED,
            "npz: member '%.*s' uses compression method %u (only stored and deflate)", nl,
            z->name, z->method);
  RETURN_IF(z->method == 0 && z->csize != z->usize, TCONV_BAD_FILE,
            "npz: stored member '%.*s' has different compressed and uncompressed sizes", nl,
            z->name);
  uint64_t cap = 12 + (uint64_t)tconv_npy_header_cap() + tconv_get_limits().max_tensor_bytes;
  RETURN_IF(z->usize > cap, TCONV_LIMIT_EXCEEDED,
            "npz: member '%.*s' declares %llu bytes, above the limit of %llu", nl, z->name,
            (unsigned long long)z->usize, (unsigned long long)cap);
  /* Deflate expands at most 1032:1, so a larger claim is a lie; rejecting it here keeps a few
   * bytes of input from buying a gigabyte-sized output buffer. */
  RETURN_IF(z->method == 8 && z->usize > 1024 && (z->usize - 1024) / 1032 > z->csize,
            TCONV_BAD_FILE,
            "npz: member '%.*s' claims %llu bytes from %llu deflated ones (beyond deflate's "
            "1032:1 maximum)", nl, z->name, (unsigned long long)z->usize,
            (unsigned long long)z->csize);

  RETURN_IF(z->local > cd_off || cd_off - z->local < 30 || tconv_le32(b + z->local) != ZIP_LOCAL_SIG,
            TCONV_BAD_FILE, "npz: member '%.*s' has no local header at offset %llu", nl, z->name,
            (unsigned long long)z->local);
  const unsigned char *h = b + z->local;
  size_t hn = tconv_le16(h + 26), hx = tconv_le16(h + 28);
  RETURN_IF(30 + hn + hx > cd_off - z->local, TCONV_BAD_FILE,
            "npz: local header of '%.*s' runs into the central directory", nl, z->name);
  RETURN_IF(hn != z->name_len || memcmp(h + 30, z->name, hn) != 0, TCONV_BAD_FILE,
            "npz: local header name disagrees with the central directory for '%.*s'", nl, z->name);
  RETURN_IF(tconv_le16(h + 6) != z->flags || tconv_le16(h + 8) != z->method, TCONV_BAD_FILE,
            "npz: local header flags/method disagree with the central directory for '%.*s'", nl,
            z->name);
  uint32_t lcrc = tconv_le32(h + 14);
  uint64_t lc = tconv_le32(h + 18), lu = tconv_le32(h + 22);
  /* With a data descriptor the local fields may be zero (sizes unknown when it was written). */
  bool deferred = (z->flags & ZIP_FLAG_DESCRIPTOR) && lcrc == 0 && lc == 0 && lu == 0;
  if (!deferred) {
    RETURN_IF_ERROR(read_zip64_extra(h + 30 + hn, hx, &lu, &lc, NULL));
    RETURN_IF(lcrc != z->crc || lc != z->csize || lu != z->usize, TCONV_BAD_FILE,
              "npz: local header CRC/sizes disagree with the central directory for '%.*s'", nl,
              z->name);
  }
  /* A local ZIP64 field carries both sizes (np.savez always writes one): they must agree too. */
  const unsigned char *z64;
  size_t z64_len;
  RETURN_IF_ERROR(find_extra(h + 30 + hn, hx, 0x0001, &z64, &z64_len));
  RETURN_IF(z64 != NULL && z64_len >= 16 && !deferred &&
                (tconv_le64(z64) != z->usize || tconv_le64(z64 + 8) != z->csize),
            TCONV_BAD_FILE, "npz: local ZIP64 sizes disagree with the central directory for '%.*s'",
            nl, z->name);
  z->data = z->local + 30 + hn + hx;
  RETURN_IF(z->csize > cd_off - z->data, TCONV_BAD_FILE,
            "npz: data of '%.*s' runs into the central directory", nl, z->name);
  z->end = z->data + z->csize;
  return TCONV_OK;
}

static int by_local_offset(const void *a, const void *b) {
  const zip_entry *x = *(const zip_entry *const *)a, *y = *(const zip_entry *const *)b;
  return x->local < y->local ? -1 : x->local > y->local;
}

static uint32_t crc32_of(uint32_t crc, const void *p, size_t n) {
  return (uint32_t)crc32_z(crc, p, n);
}

/* Inflates exactly z->usize bytes into a new buffer (at most usize + 1 are produced). */
static tconv_status inflate_member(const unsigned char *b, const zip_entry *z, unsigned char **out) {
  int nl = (int)z->name_len;
  size_t room = (size_t)z->usize + 1;
  unsigned char *buf = tconv_alloc(room);
  RETURN_IF(buf == NULL, TCONV_OUT_OF_MEMORY, "npz: cannot allocate %zu bytes for '%.*s'", room,
            nl, z->name);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  zs.zalloc = tconv_zlib_alloc;
  zs.zfree = tconv_zlib_free;
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
    tconv_dealloc(buf);
    return tconv_error(TCONV_OUT_OF_MEMORY, "npz: cannot start inflating '%.*s'", nl, z->name);
  }
  const unsigned char *in = b + z->data;
  size_t in_left = (size_t)z->csize, out_left = room;
  unsigned char *dst = buf;
  const size_t chunk = (size_t)1 << 30; /* zlib counts in uInt */
  int ret;
  do {
    if (zs.avail_in == 0 && in_left > 0) {
      size_t k = in_left < chunk ? in_left : chunk;
      zs.next_in = (Bytef *)in;
      zs.avail_in = (uInt)k;
      in += k;
      in_left -= k;
    }
    if (zs.avail_out == 0 && out_left > 0) {
      size_t k = out_left < chunk ? out_left : chunk;
      zs.next_out = dst;
      zs.avail_out = (uInt)k;
      dst += k;
      out_left -= k;
    }
    ret = inflate(&zs, Z_NO_FLUSH);
  } while (ret == Z_OK);
  size_t produced = room - out_left - zs.avail_out;
  size_t unread = in_left + zs.avail_in;
  inflateEnd(&zs);
  tconv_status st = TCONV_OK;
  if (ret == Z_MEM_ERROR)
    st = tconv_error(TCONV_OUT_OF_MEMORY, "npz: out of memory inflating '%.*s'", nl, z->name);
  else if (produced > z->usize)
    st = tconv_error(TCONV_BAD_FILE, "npz: '%.*s' inflates to more than its declared %llu bytes",
                     nl, z->name, (unsigned long long)z->usize);
  else if (ret != Z_STREAM_END)
    st = tconv_error(TCONV_BAD_FILE, "npz: deflate data of '%.*s' is corrupt or truncated (%s)",
                     nl, z->name, zs.msg ? zs.msg : "unexpected end");
  else if (produced != z->usize || unread != 0)
    st = tconv_error(TCONV_BAD_FILE,
                     "npz: '%.*s' inflates to %zu bytes from %llu (declared %llu from %llu)", nl,
                     z->name, produced, (unsigned long long)(z->csize - unread),
                     (unsigned long long)z->usize, (unsigned long long)z->csize);
  if (st != TCONV_OK) {
    tconv_dealloc(buf);
    return st;
  }
  *out = buf;
  return TCONV_OK;
}

static tconv_status read_member(const unsigned char *b, const zip_entry *z, tconv_weights *w) {
  int nl = (int)z->name_len;
  unsigned char *owned = NULL;
  const unsigned char *bytes = b + z->data;
  if (z->method == 8) {
    RETURN_IF_ERROR(inflate_member(b, z, &owned));
    bytes = owned;
  }
  tconv_status st = TCONV_OK;
  uint32_t crc = crc32_of(0, bytes, (size_t)z->usize);
  if (crc != z->crc)
    st = tconv_error(TCONV_BAD_FILE, "npz: CRC-32 mismatch in '%.*s' (0x%08x, expected 0x%08x)",
                     nl, z->name, crc, z->crc);
  tconv_tensor t;
  tconv_dtype dt = TCONV_DTYPE_FLOAT32;
  memset(&t, 0, sizeof t);
  if (st == TCONV_OK) {
    st = tconv_npy_parse_typed(bytes, (size_t)z->usize, &t, &dt);
    if (st != TCONV_OK) st = tconv_error_context(st, "npz member '%.*s'", nl, z->name);
  }
  tconv_dealloc(owned);
  if (st != TCONV_OK) return st;
  char name[NPZ_MAX_NAME + 1];
  memcpy(name, z->name, z->name_len - 4); /* np.savez appended ".npy" */
  name[z->name_len - 4] = '\0';
  st = tconv_weights_push(w, name, dt, &t);
  tconv_tensor_free(&t);
  return st;
}

static tconv_status npz_parse(const unsigned char *b, size_t size, tconv_weights *out) {
  uint64_t cd_off = 0, cd_size = 0, count = 0;
  RETURN_IF_ERROR(find_directory(b, size, &cd_off, &cd_size, &count));
  zip_entry *entries = tconv_alloc(((size_t)count + 1) * sizeof *entries);
  zip_entry **order = tconv_alloc(((size_t)count + 1) * sizeof *order);
  tconv_status st = TCONV_OK;
  if (entries == NULL || order == NULL) {
    st = tconv_error(TCONV_OUT_OF_MEMORY, "npz: cannot allocate %llu directory entries",
                     (unsigned long long)count);
    goto done;
  }
  uint64_t pos = cd_off, cd_end = cd_off + cd_size;
  for (size_t i = 0; i < count && st == TCONV_OK; i++) {
    st = read_entry(b, cd_end, &pos, &entries[i]);
    if (st == TCONV_OK) st = check_entry(b, cd_off, &entries[i], entries, i);
    order[i] = &entries[i];
  }
  if (st != TCONV_OK) goto done;
  if (pos != cd_end) {
    st = tconv_error(TCONV_BAD_FILE, "npz: %llu stray bytes in the central directory",
                     (unsigned long long)(cd_end - pos));
    goto done;
  }
  /* Overlapping members (one byte range read as two arrays) are a zip-bomb and polyglot trick. */
  qsort(order, (size_t)count, sizeof *order, by_local_offset);
  for (size_t i = 1; i < count; i++) {
    if (order[i]->local < order[i - 1]->end) {
      st = tconv_error(TCONV_BAD_FILE, "npz: members '%.*s' and '%.*s' overlap",
                       (int)order[i - 1]->name_len, order[i - 1]->name, (int)order[i]->name_len,
                       order[i]->name);
      goto done;
    }
  }
  out->format = "npz";
  for (size_t i = 0; i < count && st == TCONV_OK; i++) st = read_member(b, &entries[i], out);
done:
  tconv_dealloc(entries);
  tconv_dealloc(order);
  return st;
}

tconv_status tconv_npz_parse(const void *bytes, size_t size, tconv_weights *out) {
  RETURN_IF(out == NULL || (bytes == NULL && size > 0), TCONV_INVALID_ARGUMENT,
            "npz_parse: NULL argument");
  return tconv_container_parse(bytes, size, out, npz_parse);
}

tconv_status tconv_npz_read(const char *path, tconv_weights *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "npz_read: NULL argument");
  return tconv_container_read(path, tconv_container_file_cap((uint64_t)1 << 24), out, npz_parse);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                      */

typedef struct npz_member {
  size_t name_len, numel, usize;
  uint32_t crc, offset;
  char head[TCONV_NPY_HEADER_MAX];
  size_t head_len;
} npz_member;

typedef struct npz_plan {
  const tconv_weights *w;
  npz_member *m;
  size_t cd_offset, cd_size, total;
} npz_plan;

static uint32_t crc32_f32(uint32_t crc, const float *v, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return crc32_of(crc, v, n * sizeof *v);
#else
  for (size_t i = 0; i < n; i++) {
    unsigned char le[4];
    uint32_t u;
    memcpy(&u, &v[i], 4);
    tconv_put32(le, u);
    crc = crc32_of(crc, le, 4);
  }
  return crc;
#endif
}

/* Checks the tensors and computes every header, CRC and offset before a byte is written. */
static tconv_status npz_plan_make(const tconv_weights *w, npz_plan *p) {
  memset(p, 0, sizeof *p);
  p->w = w;
  RETURN_IF(w == NULL || (w->count > 0 && w->items == NULL), TCONV_INVALID_ARGUMENT,
            "npz_write: NULL weights");
  RETURN_IF(w->count > NPZ_MAX_ENTRIES, TCONV_LIMIT_EXCEEDED,
            "npz_write: %zu tensors, above the limit of %d", w->count, NPZ_MAX_ENTRIES);
  p->m = tconv_alloc_zeroed((w->count + 1) * sizeof *p->m);
  RETURN_IF(p->m == NULL, TCONV_OUT_OF_MEMORY, "npz_write: out of memory");
  uint64_t off = 0;
  for (size_t i = 0; i < w->count; i++) {
    const tconv_named_tensor *it = &w->items[i];
    npz_member *m = &p->m[i];
    RETURN_IF(it->name == NULL || it->name[0] == '\0', TCONV_INVALID_ARGUMENT,
              "npz_write: tensor %zu has no name", i);
    m->name_len = strlen(it->name) + 4;
    RETURN_IF(m->name_len > NPZ_MAX_NAME, TCONV_LIMIT_EXCEEDED,
              "npz_write: name '%s' longer than %d bytes", it->name, NPZ_MAX_NAME - 4);
    for (size_t j = 0; j < i; j++)
      RETURN_IF(strcmp(w->items[j].name, it->name) == 0, TCONV_INVALID_ARGUMENT,
                "npz_write: duplicate tensor name '%s'", it->name);
    RETURN_IF_ERROR(tconv_check_shape(it->value.rank, it->value.shape, sizeof(float), &m->numel,
                                      it->name));
    RETURN_IF(it->value.data == NULL && m->numel > 0, TCONV_INVALID_ARGUMENT,
              "npz_write: tensor '%s' has no float32 values (dtype %s)", it->name,
              tconv_dtype_name(it->dtype));
    m->head_len = tconv_npy_header(it->value.rank, it->value.shape, m->head);
    m->usize = m->head_len + m->numel * sizeof(float);
    m->crc = crc32_f32(crc32_of(0, m->head, m->head_len), it->value.data, m->numel);
    RETURN_IF(off + 30 + m->name_len + (uint64_t)m->usize >= 0xFFFFFFFFu, TCONV_LIMIT_EXCEEDED,
              "npz_write: archives of 4 GiB and more would need ZIP64, which is not written");
    m->offset = (uint32_t)off;
    off += 30 + m->name_len + m->usize;
    p->cd_size += 46 + m->name_len;
  }
  RETURN_IF(off + p->cd_size + 22 >= 0xFFFFFFFFu, TCONV_LIMIT_EXCEEDED,
            "npz_write: archives of 4 GiB and more would need ZIP64, which is not written");
  p->cd_offset = (size_t)off;
  p->total = p->cd_offset + p->cd_size + 22;
  return TCONV_OK;
}

static void zip_header(unsigned char *h, bool central, const npz_member *m, const char *name) {
  unsigned flags = 0;
  for (const unsigned char *s = (const unsigned char *)name; *s; s++)
    if (*s >= 0x80) flags = ZIP_FLAG_UTF8;
  unsigned char *f = central ? h + 6 : h + 4; /* the fields both headers share */
  memset(h, 0, central ? 46 : 30);
  tconv_put32(h, central ? ZIP_CENTRAL_SIG : ZIP_LOCAL_SIG);
  if (central) tconv_put16(h + 4, 0x0314); /* made by: Unix, ZIP 2.0 */
  tconv_put16(f, 20);                      /* version needed: 2.0 */
  tconv_put16(f + 2, flags);
  tconv_put16(f + 4, 0);    /* stored */
  tconv_put16(f + 6, 0);    /* 00:00:00 */
  tconv_put16(f + 8, 0x21); /* 1980-01-01: reproducible output */
  tconv_put32(f + 10, m->crc);
  tconv_put32(f + 14, (uint32_t)m->usize);
  tconv_put32(f + 18, (uint32_t)m->usize);
  tconv_put16(f + 22, (uint32_t)m->name_len);
  if (central) {
    tconv_put32(h + 38, 0600u << 16); /* external attributes: -rw------- */
    tconv_put32(h + 42, m->offset);
  }
}

static tconv_status npz_emit(tconv_emitter *e, const npz_plan *p) {
  const tconv_weights *w = p->w;
  unsigned char h[46];
  for (int central = 0; central <= 1; central++) {
    for (size_t i = 0; i < w->count; i++) {
      const npz_member *m = &p->m[i];
      zip_header(h, central, m, w->items[i].name);
      RETURN_IF_ERROR(tconv_emit(e, h, central ? 46 : 30));
      RETURN_IF_ERROR(tconv_emit(e, w->items[i].name, m->name_len - 4));
      RETURN_IF_ERROR(tconv_emit(e, ".npy", 4));
      if (!central) {
        RETURN_IF_ERROR(tconv_emit(e, m->head, m->head_len));
        RETURN_IF_ERROR(tconv_emit_f32(e, w->items[i].value.data, m->numel));
      }
    }
  }
  unsigned char end[22];
  memset(end, 0, sizeof end);
  tconv_put32(end, ZIP_EOCD_SIG);
  tconv_put16(end + 8, (uint32_t)w->count);
  tconv_put16(end + 10, (uint32_t)w->count);
  tconv_put32(end + 12, (uint32_t)p->cd_size);
  tconv_put32(end + 16, (uint32_t)p->cd_offset);
  return tconv_emit(e, end, sizeof end);
}

static tconv_status npz_write_fd(void *ctx, int fd) {
  tconv_emitter e = {fd, NULL, 0, 0};
  return npz_emit(&e, ctx);
}

tconv_status tconv_npz_write(const char *path, const tconv_weights *w) {
  npz_plan p;
  tconv_status st = npz_plan_make(w, &p);
  if (st == TCONV_OK) st = tconv_write_atomic(path, npz_write_fd, &p);
  tconv_dealloc(p.m);
  return st;
}

tconv_status tconv_npz_encode(const tconv_weights *w, unsigned char **out, size_t *size) {
  *out = NULL;
  *size = 0;
  npz_plan p;
  tconv_status st = npz_plan_make(w, &p);
  unsigned char *buf = NULL;
  if (st == TCONV_OK) {
    buf = tconv_alloc(p.total);
    if (buf == NULL) st = tconv_error(TCONV_OUT_OF_MEMORY, "npz: cannot allocate %zu bytes", p.total);
  }
  if (st == TCONV_OK) {
    tconv_emitter e = {-1, buf, 0, p.total};
    st = npz_emit(&e, &p);
  }
  tconv_dealloc(p.m);
  if (st != TCONV_OK) {
    tconv_dealloc(buf);
    return st;
  }
  *out = buf;
  *size = p.total;
  return TCONV_OK;
}

#else /* !TCONV_HAVE_ZLIB */

#define NPZ_NO_ZLIB "npz support needs zlib (build with zlib1g-dev installed)"
tconv_status tconv_npz_read(const char *path, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, NPZ_NO_ZLIB);
}
tconv_status tconv_npz_parse(const void *bytes, size_t size, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, NPZ_NO_ZLIB);
}
tconv_status tconv_npz_write(const char *path, const tconv_weights *w) {
  return tconv_error(TCONV_UNSUPPORTED, NPZ_NO_ZLIB);
}
tconv_status tconv_npz_encode(const tconv_weights *w, unsigned char **out, size_t *size) {
  *out = NULL;
  *size = 0;
  return tconv_error(TCONV_UNSUPPORTED, NPZ_NO_ZLIB);
}
#endif
