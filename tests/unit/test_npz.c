/* .npz: numpy-written archives, round trips, and crafted ZIP files (security-anchors.md §2.4 D4,
 * §3.2): bad directories, local/central disagreements, CRC errors, zip bombs, ZIP64 fields,
 * overlapping members, truncations and bit flips. */
#include <stdint.h>
#include <zlib.h>

#include "io/container.h"
#include "io_test.h"

static const tconv_named_tensor *find(const tconv_weights *w, const char *name) {
  for (size_t i = 0; i < w->count; i++)
    if (strcmp(w->items[i].name, name) == 0) return &w->items[i];
  return NULL;
}

static void check_layer_archive(const tconv_weights *w) {
  CHECK(w->count == 2 && strcmp(w->format, "npz") == 0);
  const tconv_named_tensor *k = find(w, "conv2d_transpose/kernel");
  const tconv_named_tensor *b = find(w, "conv2d_transpose/bias");
  CHECK(k != NULL && b != NULL);
  if (!k || !b) return;
  CHECK(k->dtype == TCONV_DTYPE_FLOAT32 && k->value.rank == 4 && k->value.shape[0] == 3 &&
        k->value.shape[1] == 3 && k->value.shape[2] == 2 && k->value.shape[3] == 1);
  for (size_t i = 0; i < 18; i++) CHECK(k->value.data[i] == io_ramp(i));
  CHECK(b->value.rank == 1 && b->value.shape[0] == 2);
  CHECK(b->value.data[0] == io_ramp(0) && b->value.data[1] == io_ramp(1));
  CHECK(w->metadata == NULL);
}

TEST(npz_numpy_fixtures) {
  tconv_weights w;
  CHECK_OK(tconv_npz_read(IO_DATA "savez.npz", &w));
  check_layer_archive(&w);
  tconv_weights_free(&w);
  CHECK_OK(tconv_npz_read(IO_DATA "savez_compressed.npz", &w));
  check_layer_archive(&w);
  tconv_weights_free(&w);

  CHECK_OK(tconv_npz_read(IO_DATA "mixed.npz", &w));
  const tconv_named_tensor *f8 = find(&w, "f8"), *s = find(&w, "scalar");
  CHECK(w.count == 2 && f8 && s);
  if (f8 && s) {
    CHECK(f8->dtype == TCONV_DTYPE_FLOAT64 && f8->value.rank == 3);
    for (size_t i = 0; i < 8; i++) CHECK(f8->value.data[i] == io_sevenths(i));
    CHECK(s->dtype == TCONV_DTYPE_FLOAT32 && s->value.rank == 0 && s->value.data[0] == 3.25f);
  }
  tconv_weights_free(&w);
  CHECK(w.count == 0 && w.items == NULL);
}

/* Weights with n random tensors of assorted shapes, names with a '/' and non-ASCII bytes. */
static bool make_weights(tconv_weights *w, size_t n, unsigned long long seed) {
  static const char *const names[3] = {"layer_%zu/kernel", "b%zu", "\xc3\xb1%zu"};
  return io_make_weights(w, n, seed, names);
}

static void check_same_weights(const tconv_weights *a, const tconv_weights *b) {
  CHECK(a->count == b->count);
  for (size_t i = 0; i < a->count && i < b->count; i++) {
    const tconv_tensor *x = &a->items[i].value, *y = &b->items[i].value;
    CHECK_MSG(strcmp(a->items[i].name, b->items[i].name) == 0, "%s vs %s", a->items[i].name,
              b->items[i].name);
    CHECK(x->rank == y->rank && memcmp(x->shape, y->shape, x->rank * sizeof x->shape[0]) == 0);
    CHECK(io_same_floats(x->data, y->data, tconv_tensor_numel(x)));
  }
}

TEST(npz_round_trip) {
  tconv_weights w = {0}, back = {0};
  unsigned char *file = NULL, *enc = NULL, *npy = NULL;
  const char *path = io_temp("rt.npz");
  for (size_t n = 0; n < 12; n += 3) {
    REQUIRE(make_weights(&w, n, 100 + n));
    REQUIRE_OK(tconv_npz_write(path, &w));
    REQUIRE_OK(tconv_npz_read(path, &back));
    check_same_weights(&w, &back);
    /* The file is exactly the in-memory encoding, and a member is exactly its .npy bytes. */
    size_t fsize, esize;
    file = io_slurp(path, &fsize);
    REQUIRE_OK(tconv_npz_encode(&w, &enc, &esize));
    CHECK(file && fsize == esize && memcmp(file, enc, esize) == 0);
    if (n > 0 && file) {
      size_t npy_size, name_len = strlen(w.items[0].name) + 4;
      REQUIRE_OK(tconv_npy_encode(&w.items[0].value, &npy, &npy_size));
      CHECK(tconv_le32(file) == 0x04034b50 && tconv_le16(file + 8) == 0 /* stored */);
      CHECK(tconv_le32(file + 22) == npy_size && tconv_le16(file + 26) == name_len);
      CHECK(memcmp(file + 30 + name_len, npy, npy_size) == 0);
      CHECK(tconv_le32(file + 14) == (uint32_t)crc32(0, npy, (uInt)npy_size));
      tconv_dealloc(npy);
      npy = NULL;
    }
    free(file);
    tconv_dealloc(enc);
    file = enc = NULL;
    unlink(path);
    tconv_weights_free(&w);
    tconv_weights_free(&back);
  }
done:
  tconv_dealloc(npy);
  free(file);
  tconv_dealloc(enc);
  unlink(path);
  tconv_weights_free(&w);
  tconv_weights_free(&back);
}

TEST(npz_write_errors) {
  tconv_weights w;
  REQUIRE(make_weights(&w, 2, 7));
  CHECK_FAILS(tconv_npz_write(NULL, &w), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_npz_write(io_temp("x.npz"), NULL), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_npz_write("/nonexistent-dir/x.npz", &w), TCONV_IO_ERROR);
  char *name = w.items[1].name;
  w.items[1].name = w.items[0].name;
  CHECK_FAILS(tconv_npz_write(io_temp("x.npz"), &w), TCONV_INVALID_ARGUMENT); /* duplicate */
  char long_name[300];
  memset(long_name, 'a', 252);
  long_name[252] = '\0';
  w.items[1].name = long_name;
  CHECK_FAILS(tconv_npz_write(io_temp("x.npz"), &w), TCONV_LIMIT_EXCEEDED);
  long_name[251] = '\0'; /* 251 + ".npy" = 255: the longest name */
  CHECK_OK(tconv_npz_write(io_temp("x.npz"), &w));
  w.items[1].name = name;
  size_t shape[1] = {3};
  tconv_tensor t = {1, {3}, NULL};
  (void)shape;
  CHECK_OK(tconv_weights_push(&w, "ints", TCONV_DTYPE_INT32, &t)); /* listed, no values */
  CHECK_FAILS(tconv_npz_write(io_temp("x.npz"), &w), TCONV_INVALID_ARGUMENT);
  tconv_weights_free(&w);
  REQUIRE(make_weights(&w, 1025, 9));
  CHECK_FAILS(tconv_npz_write(io_temp("x.npz"), &w), TCONV_LIMIT_EXCEEDED);
done:
  tconv_weights_free(&w);
  unlink(io_temp("x.npz"));
}

/* ---- A small ZIP builder for crafted archives --------------------------------------------- */

typedef struct zmember {
  const char *name;
  const void *data;
  size_t size;
  int method;  /* 0 stored, 8 deflate */
  bool zip64;  /* sizes in ZIP64 extra fields, 32-bit fields saturated */
} zmember;

static size_t deflate_raw(const void *src, size_t n, unsigned char *dst, size_t cap) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = (Bytef *)src;
  zs.avail_in = (uInt)n;
  zs.next_out = dst;
  zs.avail_out = (uInt)cap;
  deflate(&zs, Z_FINISH);
  size_t out = zs.total_out;
  deflateEnd(&zs);
  return out;
}

static unsigned char *zip_build(const zmember *m, size_t n, size_t *size) {
  size_t cap = 4096;
  for (size_t i = 0; i < n; i++) cap += 2 * (m[i].size + 200);
  unsigned char *b = calloc(1, cap), *cd = calloc(1, 4096 + n * 400);
  size_t pos = 0, cpos = 0;
  for (size_t i = 0; i < n; i++) {
    size_t nl = strlen(m[i].name), csize = m[i].size;
    unsigned char *data = malloc(m[i].size * 2 + 64);
    if (m[i].method == 8) csize = deflate_raw(m[i].data, m[i].size, data, m[i].size * 2 + 64);
    else memcpy(data, m[i].data, m[i].size);
    uint32_t crc = (uint32_t)crc32(0, m[i].data, (uInt)m[i].size);
    uint32_t c32 = m[i].zip64 ? 0xFFFFFFFFu : (uint32_t)csize;
    uint32_t u32 = m[i].zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].size;
    size_t xl = m[i].zip64 ? 20 : 0;
    unsigned char *h = b + pos;
    tconv_put32(h, 0x04034b50), tconv_put16(h + 4, 45), tconv_put16(h + 8, (uint32_t)m[i].method);
    tconv_put32(h + 14, crc), tconv_put32(h + 18, c32), tconv_put32(h + 22, u32);
    tconv_put16(h + 26, (uint32_t)nl), tconv_put16(h + 28, (uint32_t)xl);
    memcpy(h + 30, m[i].name, nl);
    if (m[i].zip64) {
      tconv_put16(h + 30 + nl, 1), tconv_put16(h + 32 + nl, 16);
      tconv_put64(h + 34 + nl, m[i].size), tconv_put64(h + 42 + nl, csize);
    }
    memcpy(h + 30 + nl + xl, data, csize);
    unsigned char *c = cd + cpos;
    tconv_put32(c, 0x02014b50), tconv_put16(c + 4, 45), tconv_put16(c + 6, 45);
    tconv_put16(c + 10, (uint32_t)m[i].method), tconv_put32(c + 16, crc);
    tconv_put32(c + 20, c32), tconv_put32(c + 24, u32), tconv_put16(c + 28, (uint32_t)nl);
    tconv_put16(c + 30, (uint32_t)xl), tconv_put32(c + 42, (uint32_t)pos);
    memcpy(c + 46, m[i].name, nl);
    if (m[i].zip64) {
      tconv_put16(c + 46 + nl, 1), tconv_put16(c + 48 + nl, 16);
      tconv_put64(c + 50 + nl, m[i].size), tconv_put64(c + 58 + nl, csize);
    }
    cpos += 46 + nl + xl;
    pos += 30 + nl + xl + csize;
    free(data);
  }
  memcpy(b + pos, cd, cpos);
  unsigned char *e = b + pos + cpos;
  tconv_put32(e, 0x06054b50), tconv_put16(e + 8, (uint32_t)n), tconv_put16(e + 10, (uint32_t)n);
  tconv_put32(e + 12, (uint32_t)cpos), tconv_put32(e + 16, (uint32_t)pos);
  *size = pos + cpos + 22;
  free(cd);
  return b;
}

/* Offset of central entry i. */
static size_t central_at(const unsigned char *b, size_t size, size_t i) {
  size_t pos = tconv_le32(b + size - 22 + 16);
  while (i-- > 0) pos += 46 + tconv_le16(b + pos + 28) + tconv_le16(b + pos + 30);
  return pos;
}

static tconv_status parse_and_free(const unsigned char *b, size_t size) {
  tconv_weights w;
  tconv_status st = tconv_npz_parse(b, size, &w);
  if (st != TCONV_OK) CHECK(w.count == 0 && w.items == NULL);
  tconv_weights_free(&w);
  return st;
}

/* The .npy bytes of ramp(0..n-1) in malloc'd memory; NULL when the library cannot allocate. */
static unsigned char *npy_of_ramp(size_t n, size_t *size) {
  tconv_tensor t;
  size_t shape[1] = {n};
  if (tconv_tensor_alloc(&t, 1, shape) != TCONV_OK) return NULL;
  for (size_t i = 0; i < n; i++) t.data[i] = io_ramp(i);
  unsigned char *enc, *copy = NULL;
  if (tconv_npy_encode(&t, &enc, size) == TCONV_OK) {
    copy = malloc(*size);
    if (copy) memcpy(copy, enc, *size);
    tconv_dealloc(enc);
  }
  tconv_tensor_free(&t);
  return copy;
}

TEST(npz_crafted_builder_baseline) {
  size_t an, bn, size;
  unsigned char *a = npy_of_ramp(6, &an), *bb = npy_of_ramp(300, &bn);
  REQUIRE(a != NULL && bb != NULL);
  for (int method = 0; method <= 8; method += 8) {
    for (int z64 = 0; z64 <= 1; z64++) {
      zmember m[2] = {{"a.npy", a, an, method, z64}, {"dir/b.npy", bb, bn, method, z64}};
      unsigned char *zip = zip_build(m, 2, &size);
      tconv_weights w;
      CHECK_OK(tconv_npz_parse(zip, size, &w));
      CHECK(w.count == 2 && strcmp(w.items[1].name, "dir/b") == 0 && w.items[1].value.shape[0] == 300);
      if (w.count == 2) CHECK(w.items[1].value.data[299] == io_ramp(299));
      tconv_weights_free(&w);
      free(zip);
    }
  }
  CHECK_OK(parse_and_free((const unsigned char *)"PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22));
done:
  free(a);
  free(bb);
}

TEST(npz_crafted_directory) {
  size_t an, size;
  unsigned char *a = npy_of_ramp(6, &an);
  CHECK(a != NULL);
  if (a == NULL) return; /* nothing else was made yet */
  zmember m[2] = {{"a.npy", a, an, 0, false}, {"b.npy", a, an, 8, false}};
  unsigned char *zip = zip_build(m, 2, &size), *z = malloc(size + 70000);
#define FRESH() memcpy(z, zip, size)
  size_t c0 = central_at(zip, size, 0), c1 = central_at(zip, size, 1), e = size - 22;

  CHECK_FAILS(parse_and_free(zip, 21), TCONV_BAD_FILE);
  FRESH(), z[e] = 'X';
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* no end record */
  /* A comment must end exactly at EOF; end records further than 65,557 bytes back are not seen. */
  FRESH(), tconv_put16(z + e + 20, 5), memcpy(z + size, "hello", 5);
  CHECK_OK(parse_and_free(z, size + 5));
  FRESH(), tconv_put16(z + e + 20, 4), memcpy(z + size, "hello", 5);
  CHECK_FAILS(parse_and_free(z, size + 5), TCONV_BAD_FILE);
  FRESH(), memset(z + size, 0, 65536);
  CHECK_FAILS(parse_and_free(z, size + 65536), TCONV_BAD_FILE);
  FRESH(), tconv_put16(z + e + 8, 2000), tconv_put16(z + e + 10, 2000);
  CHECK_FAILS(parse_and_free(z, size), TCONV_LIMIT_EXCEEDED); /* > 1024 entries */
  FRESH(), tconv_put16(z + e + 8, 3), tconv_put16(z + e + 10, 3);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* entry 3 beyond the directory */
  FRESH(), tconv_put16(z + e + 8, 1), tconv_put16(z + e + 10, 1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* stray directory bytes */
  FRESH(), tconv_put16(z + e + 4, 1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_UNSUPPORTED); /* multi-disk */
  FRESH(), tconv_put32(z + e + 16, (uint32_t)size);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* directory past EOF */
  FRESH(), tconv_put32(z + e + 12, 0xFFFFFFF0u);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  FRESH(), tconv_put32(z + e + 16, 0xFFFFFFFFu);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* ZIP64 end record missing */
  FRESH(), tconv_put32(z + c0 + 42, 0xFFFFFFFFu);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* ZIP64 offset field missing */
  FRESH(), tconv_put32(z + c1 + 42, (uint32_t)c0);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* local header inside the directory */
  FRESH(), tconv_put16(z + c0 + 30, 0xFFFF);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* extra field past the directory */
  free(zip);
  free(z);
  free(a);
#undef FRESH
}

TEST(npz_crafted_members) {
  size_t an, size;
  unsigned char *a = npy_of_ramp(6, &an);
  CHECK(a != NULL);
  if (a == NULL) return; /* nothing else was made yet */
  zmember m[2] = {{"a.npy", a, an, 0, false}, {"b.npy", a, an, 8, false}};
  unsigned char *zip = zip_build(m, 2, &size), *z = malloc(size);
#define FRESH() memcpy(z, zip, size)
  size_t c0 = central_at(zip, size, 0), c1 = central_at(zip, size, 1);
  size_t l1 = tconv_le32(zip + c1 + 42), d0 = 30 + 5, d1 = l1 + 30 + 5;
  size_t csize1 = tconv_le32(zip + c1 + 20);

  /* Names: duplicates, not .npy, NUL bytes (changed in both headers). */
  FRESH(), z[l1 + 30] = 'a', z[c1 + 46] = 'a';
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "duplicate") != NULL);
  FRESH(), z[l1 + 34] = 'x', z[c1 + 50] = 'x';
  CHECK_FAILS(parse_and_free(z, size), TCONV_UNSUPPORTED);
  FRESH(), z[l1 + 30] = 0, z[c1 + 46] = 0;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  /* Local header disagreeing with the central directory. */
  FRESH(), z[l1 + 30] = 'c';
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  FRESH(), z[22]++;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* usize */
  FRESH(), z[14]++;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* crc */
  FRESH(), z[6] = 2;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* flags */
  FRESH(), z[0] = 'Q';
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* signature */
  /* Encryption, other methods, stored with csize != usize. */
  FRESH(), z[6] = 1, z[c0 + 8] = 1;
  CHECK_FAILS(parse_and_free(z, size), TCONV_UNSUPPORTED);
  FRESH(), z[8] = 12, z[c0 + 10] = 12;
  CHECK_FAILS(parse_and_free(z, size), TCONV_UNSUPPORTED);
  FRESH(), z[18]--, z[c0 + 20]--;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  /* CRC mismatch in the data (stored and deflated members). */
  FRESH(), z[d0 + an - 1] ^= 0x40;
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "CRC") != NULL);
  FRESH(), z[d1 + csize1 / 2] ^= 0x01;
  CHECK(parse_and_free(z, size) == TCONV_BAD_FILE);
  /* Declared sizes: above the cap; a deflate stream longer or shorter than declared. */
  FRESH(), tconv_put32(z + 22, 0x7FFFFFF0), tconv_put32(z + 18, 0x7FFFFFF0);
  tconv_put32(z + c0 + 24, 0x7FFFFFF0), tconv_put32(z + c0 + 20, 0x7FFFFFF0);
  tconv_limits lim = tconv_limits_default();
  lim.max_tensor_bytes = 1 << 20;
  tconv_set_limits(&lim);
  io_alloc_begin(-1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_LIMIT_EXCEEDED);
  CHECK(io_alloc.peak < 65536);
  io_alloc_end();
  tconv_set_limits(NULL);
  FRESH(), tconv_put32(z + l1 + 22, (uint32_t)an - 1), tconv_put32(z + c1 + 24, (uint32_t)an - 1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "more than") != NULL);
  /* A deflated member claiming 100 MB from a few dozen bytes: beyond deflate's 1032:1, refused
   * before the output buffer is allocated. */
  FRESH(), tconv_put32(z + l1 + 22, 100u << 20), tconv_put32(z + c1 + 24, 100u << 20);
  io_alloc_begin(-1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "1032:1") != NULL && io_alloc.peak < 65536);
  io_alloc_end();
  FRESH(), tconv_put32(z + l1 + 22, (uint32_t)an + 1), tconv_put32(z + c1 + 24, (uint32_t)an + 1);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE);
  FRESH(), tconv_put32(z + l1 + 18, (uint32_t)csize1 - 2), tconv_put32(z + c1 + 20, (uint32_t)csize1 - 2);
  CHECK_FAILS(parse_and_free(z, size), TCONV_BAD_FILE); /* truncated deflate stream */
  free(zip);
  free(z);
#undef FRESH

  /* D4 (cnpy#106): a member whose .npy header claims more bytes than the member holds, and one
   * whose data is shorter than its shape. */
  unsigned char d4[20] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xC8, 0, '{', '\'', 'd', 'e'};
  zmember bad = {"a.npy", d4, 14, 0, false};
  zip = zip_build(&bad, 1, &size);
  CHECK_FAILS(parse_and_free(zip, size), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "a.npy") != NULL && strstr(tconv_last_error(), "truncated"));
  free(zip);
  d4[8] = 0xFF, d4[9] = 0xFF;
  zip = zip_build(&bad, 1, &size);
  CHECK_FAILS(parse_and_free(zip, size), TCONV_LIMIT_EXCEEDED);
  free(zip);
  bad.data = a, bad.size = an - 4;
  zip = zip_build(&bad, 1, &size);
  CHECK_FAILS(parse_and_free(zip, size), TCONV_BAD_FILE);
  free(zip);
  free(a);
}

/* The ZIP64 end-of-central-directory record and locator (written by zip tools for archives with
 * more than 65,535 entries or above 4 GiB; here with saturated 32-bit fields). */
TEST(npz_crafted_zip64_end_record) {
  size_t an, size;
  unsigned char *a = npy_of_ramp(5, &an);
  CHECK(a != NULL);
  if (a == NULL) return; /* nothing else was made yet */
  zmember m[2] = {{"a.npy", a, an, 0, true}, {"b.npy", a, an, 8, false}};
  unsigned char *zip = zip_build(m, 2, &size);
  size_t e = size - 22, cd = tconv_le32(zip + e + 16), cd_len = tconv_le32(zip + e + 12);
  unsigned char *z = calloc(1, size + 76);
  memcpy(z, zip, e);
  unsigned char *r = z + e, *loc = r + 56, *end = loc + 20;
  tconv_put32(r, 0x06064b50), tconv_put64(r + 4, 44), tconv_put16(r + 12, 45);
  tconv_put16(r + 14, 45), tconv_put64(r + 24, 2), tconv_put64(r + 32, 2);
  tconv_put64(r + 40, cd_len), tconv_put64(r + 48, cd);
  tconv_put32(loc, 0x07064b50), tconv_put64(loc + 8, e), tconv_put32(loc + 16, 1);
  tconv_put32(end, 0x06054b50), tconv_put16(end + 8, 0xFFFF), tconv_put16(end + 10, 0xFFFF);
  tconv_put32(end + 12, 0xFFFFFFFFu), tconv_put32(end + 16, 0xFFFFFFFFu);
  size_t zsize = size + 76;
  tconv_weights w;
  CHECK_OK(tconv_npz_parse(z, zsize, &w));
  CHECK(w.count == 2 && w.items[1].value.shape[0] == 5 && w.items[1].value.data[4] == io_ramp(4));
  tconv_weights_free(&w);
  tconv_put64(r + 32, 2000), tconv_put64(r + 24, 2000);
  CHECK_FAILS(parse_and_free(z, zsize), TCONV_LIMIT_EXCEEDED);
  tconv_put64(r + 32, 2), tconv_put64(r + 24, 2), tconv_put64(r + 48, 0xFFFFFFFFFFFFull);
  CHECK_FAILS(parse_and_free(z, zsize), TCONV_BAD_FILE);
  tconv_put64(r + 48, cd), tconv_put64(loc + 8, e + 1);
  CHECK_FAILS(parse_and_free(z, zsize), TCONV_BAD_FILE);
  tconv_put64(loc + 8, UINT64_MAX);
  CHECK_FAILS(parse_and_free(z, zsize), TCONV_BAD_FILE);
  tconv_put64(loc + 8, e), r[0] = 'X';
  CHECK_FAILS(parse_and_free(z, zsize), TCONV_BAD_FILE);
  free(z);
  free(zip);
  free(a);
}

/* Two central entries whose members overlap: b.npy's local header and data sit inside a.npy's
 * data (a zip-bomb / polyglot trick). */
TEST(npz_crafted_overlap) {
  size_t an, inner_size, size;
  unsigned char *a = npy_of_ramp(6, &an);
  CHECK(a != NULL);
  if (a == NULL) return; /* nothing else was made yet */
  zmember inner_m = {"b.npy", a, an, 0, false};
  unsigned char *inner = zip_build(&inner_m, 1, &inner_size);
  size_t b_local_len = 30 + 5 + an; /* local header + data of b.npy at the start of inner */
  zmember outer_m = {"a.npy", inner, b_local_len, 0, false};
  unsigned char *zip = zip_build(&outer_m, 1, &size);
  /* Append a second central entry for b.npy pointing inside a.npy's data. */
  size_t cd = tconv_le32(zip + size - 22 + 16), cd_len = tconv_le32(zip + size - 22 + 12);
  unsigned char *z = calloc(1, size + 100);
  memcpy(z, zip, cd + cd_len);
  unsigned char *c = z + cd + cd_len;
  memcpy(c, inner + tconv_le32(inner + inner_size - 22 + 16), 46 + 5);
  tconv_put32(c + 42, 30 + 5); /* b's local header = a's data */
  unsigned char *e = c + 51;
  memcpy(e, zip + size - 22, 22);
  tconv_put16(e + 8, 2), tconv_put16(e + 10, 2), tconv_put32(e + 12, (uint32_t)cd_len + 51);
  CHECK_FAILS(parse_and_free(z, (size_t)(e + 22 - z)), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "overlap") != NULL);
  free(z);
  free(zip);
  free(inner);
  free(a);
}

/* Every truncation and every single-bit flip of a real archive: a clean status, never a crash
 * (the sanitizer build turns any over-read into a failure). */
TEST(npz_truncations_and_bit_flips) {
  size_t size;
  unsigned char *zip = io_slurp(IO_DATA "savez_compressed.npz", &size);
  CHECK(zip != NULL);
  if (!zip) return;
  for (size_t cut = 0; cut < size; cut++) CHECK(parse_and_free(zip, cut) != TCONV_OK);
  size_t accepted = 0;
  for (size_t i = 0; i < size; i++) {
    for (int bit = 0; bit < 8; bit += 3) {
      zip[i] ^= (unsigned char)(1 << bit);
      tconv_status st = parse_and_free(zip, size);
      accepted += st == TCONV_OK;
      CHECK(st == TCONV_OK || tconv_last_error()[0] != '\0');
      zip[i] ^= (unsigned char)(1 << bit);
    }
  }
  /* Only flips in the fields a reader has no use for (times, versions, attributes: about 42
   * bytes per member, 3 flips each) may pass; everything else is checked or CRC-protected. */
  CHECK_MSG(accepted < 3 * size / 10, "%zu of %zu flips accepted", accepted, 3 * size);
  free(zip);
}

static tconv_status npz_parse_op(const void *ctx) {
  size_t size;
  unsigned char *b = io_slurp((const char *)ctx, &size);
  tconv_status st = parse_and_free(b, size);
  free(b);
  return st;
}

static tconv_status npz_write_op(const void *ctx) {
  tconv_weights w;
  tconv_status st = tconv_npz_read((const char *)ctx, &w);
  if (st == TCONV_OK) st = tconv_npz_write(io_temp("oom.npz"), &w);
  tconv_weights_free(&w);
  return st;
}

TEST(npz_allocation_failures) {
  CHECK(io_sweep_failures(npz_parse_op, IO_DATA "savez_compressed.npz", "npz inflate") >= 5);
  CHECK(io_sweep_failures(npz_parse_op, IO_DATA "mixed.npz", "npz stored") >= 3);
  CHECK(io_sweep_failures(npz_write_op, IO_DATA "savez.npz", "npz read+write") >= 5);
  unlink(io_temp("oom.npz"));
}
