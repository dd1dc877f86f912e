/* safetensors: a hand-written fixture (F32/F16/BF16/F64/I32, zero-size, metadata), round trips,
 * and the crafted headers of security-anchors.md §2.4 D8-D12 / §3.3. */
#include <stdint.h>

#include "io/container.h"
#include "io_test.h"

#ifdef TCONV_HAVE_CJSON

TEST(safetensors_fixture) {
  tconv_weights w;
  CHECK_OK(tconv_safetensors_read(IO_DATA "mixed.safetensors", &w));
  static const char *order[] = {"w", "h", "b", "d", "empty", "i"}; /* data order */
  static const tconv_dtype dtypes[] = {TCONV_DTYPE_FLOAT32, TCONV_DTYPE_FLOAT16,
                                       TCONV_DTYPE_BFLOAT16, TCONV_DTYPE_FLOAT64,
                                       TCONV_DTYPE_FLOAT32, TCONV_DTYPE_INT32};
  CHECK(w.count == 6 && strcmp(w.format, "safetensors") == 0);
  for (size_t i = 0; i < w.count && i < 6; i++) {
    CHECK_MSG(strcmp(w.items[i].name, order[i]) == 0, "item %zu is %s", i, w.items[i].name);
    CHECK(w.items[i].dtype == dtypes[i]);
  }
  if (w.count == 6) {
    const tconv_tensor *t = &w.items[0].value;
    CHECK(t->rank == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    for (size_t i = 0; i < 6; i++) CHECK(t->data[i] == io_ramp(i));
    const float *h = w.items[1].value.data;
    CHECK(h[0] == 1.0f && h[1] == -2.5f && h[2] == 65504.0f && h[3] == ldexpf(1.0f, -24));
    CHECK(isinf(h[4]) && h[4] > 0);
    const float *b = w.items[2].value.data;
    CHECK(b[0] == 1.5f && b[1] == -3.0f);
    const float *d = w.items[3].value.data;
    CHECK(d[0] == io_sevenths(0) && d[1] == io_sevenths(1));
    t = &w.items[4].value;
    CHECK(t->rank == 2 && t->shape[0] == 0 && t->shape[1] == 4 && tconv_tensor_numel(t) == 0);
    t = &w.items[5].value;
    CHECK(t->rank == 1 && t->shape[0] == 3 && t->data == NULL);
  }
  CHECK(w.metadata && strcmp(w.metadata, "{\"format\":\"pt\",\"note\":\"tconv fixture\"}") == 0);
  tconv_weights_free(&w);
}

/* Names that need JSON escaping survive the trip. */
static bool make_weights(tconv_weights *w, size_t n, unsigned long long seed) {
  static const char *const names[3] = {"dec_%zu/kernel", "q\"\\\t%zu", "\xc3\xb1%zu"};
  return io_make_weights(w, n, seed, names);
}

TEST(safetensors_round_trip) {
  tconv_weights w = {0}, back = {0};
  unsigned char *file = NULL, *enc = NULL;
  const char *path = io_temp("rt.safetensors");
  for (size_t n = 0; n < 10; n += 3) {
    REQUIRE(make_weights(&w, n, 7 + n));
    const char *meta = n % 2 ? "{\"layer\": \"{\\\"filters\\\": 32}\", \"format\": \"tconv\"}" : NULL;
    REQUIRE_OK(tconv_safetensors_write(path, &w, meta));
    REQUIRE_OK(tconv_safetensors_read(path, &back));
    CHECK(back.count == w.count);
    for (size_t i = 0; i < w.count && i < back.count; i++) {
      const tconv_tensor *x = &w.items[i].value, *y = &back.items[i].value;
      CHECK(strcmp(w.items[i].name, back.items[i].name) == 0);
      CHECK(back.items[i].dtype == TCONV_DTYPE_FLOAT32);
      CHECK(x->rank == y->rank && memcmp(x->shape, y->shape, x->rank * sizeof x->shape[0]) == 0);
      CHECK(io_same_floats(x->data, y->data, tconv_tensor_numel(x)));
    }
    if (meta) CHECK(back.metadata && strcmp(back.metadata, "{\"layer\":\"{\\\"filters\\\": 32}\","
                                                           "\"format\":\"tconv\"}") == 0);
    else CHECK(back.metadata == NULL);
    /* Header padded with spaces to a multiple of 8; data right after it, in order. */
    size_t size;
    file = io_slurp(path, &size);
    REQUIRE(file != NULL);
    uint64_t hl = tconv_le64(file);
    CHECK(hl % 8 == 0 && 8 + hl <= size && file[8] == '{');
    size_t data_bytes = 0;
    for (size_t i = 0; i < w.count; i++) data_bytes += 4 * tconv_tensor_numel(&w.items[i].value);
    CHECK(8 + hl + data_bytes == size);
    if (w.count > 0 && tconv_tensor_numel(&w.items[0].value) > 0)
      CHECK(memcmp(file + 8 + hl, w.items[0].value.data, 4) == 0);
    size_t esize;
    REQUIRE_OK(tconv_safetensors_encode(&w, meta, &enc, &esize));
    CHECK(esize == size && memcmp(enc, file, size) == 0);
    tconv_dealloc(enc);
    free(file);
    enc = file = NULL;
    unlink(path);
    tconv_weights_free(&w);
    tconv_weights_free(&back);
  }
done:
  tconv_dealloc(enc);
  free(file);
  unlink(path);
  tconv_weights_free(&w);
  tconv_weights_free(&back);
}

TEST(safetensors_write_errors) {
  tconv_weights w;
  const char *path = io_temp("x.safetensors");
  REQUIRE(make_weights(&w, 3, 1));
  CHECK_FAILS(tconv_safetensors_write(NULL, &w, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_safetensors_write(path, NULL, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_safetensors_write("/nonexistent-dir/x.safetensors", &w, NULL), TCONV_IO_ERROR);
  static const char *bad_meta[] = {"[]", "{\"a\": 1}", "{\"a\": \"x\", \"a\": \"y\"}", "{",
                                   "{\"a\": {\"b\": \"c\"}}", "{} x", ""};
  for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++)
    CHECK_FAILS(tconv_safetensors_write(path, &w, bad_meta[i]), TCONV_INVALID_ARGUMENT);
  char *name = w.items[1].name;
  w.items[1].name = w.items[0].name;
  CHECK_FAILS(tconv_safetensors_write(path, &w, NULL), TCONV_INVALID_ARGUMENT); /* duplicate */
  char meta_name[] = "__metadata__", bad_utf8[] = "a\xff";
  w.items[1].name = meta_name;
  CHECK_FAILS(tconv_safetensors_write(path, &w, NULL), TCONV_INVALID_ARGUMENT);
  w.items[1].name = bad_utf8;
  CHECK_FAILS(tconv_safetensors_write(path, &w, NULL), TCONV_INVALID_ARGUMENT);
  w.items[1].name = name;
  tconv_tensor t = {1, {3}, NULL};
  CHECK_OK(tconv_weights_push(&w, "ints", TCONV_DTYPE_INT32, &t));
  CHECK_FAILS(tconv_safetensors_write(path, &w, NULL), TCONV_INVALID_ARGUMENT);
done:
  tconv_weights_free(&w);
  unlink(path);
}

/* ---- Crafted files ------------------------------------------------------------------------ */

/* An 8-byte length, the header text (not padded), then data_len zero bytes. */
static tconv_status st_try_len(const char *header, size_t hl, size_t data_len) {
  size_t size = 8 + hl + data_len;
  unsigned char *b = calloc(1, size);
  tconv_put64(b, hl);
  memcpy(b + 8, header, hl);
  tconv_weights w;
  tconv_status st = tconv_safetensors_parse(b, size, &w);
  if (st != TCONV_OK) CHECK(w.count == 0 && w.items == NULL && w.metadata == NULL);
  tconv_weights_free(&w);
  free(b);
  return st;
}

static tconv_status st_try(const char *header, size_t data_len) {
  return st_try_len(header, strlen(header), data_len);
}

#define T1(body) "{\"t\":{" body "}}"

TEST(safetensors_crafted_header) {
  unsigned char raw[16] = {0};
  tconv_weights w;
  CHECK_FAILS(tconv_safetensors_parse(raw, 7, &w), TCONV_BAD_FILE); /* HeaderTooSmall */
  tconv_put64(raw, 100000001);
  io_alloc_begin(-1);
  CHECK_FAILS(tconv_safetensors_parse(raw, 16, &w), TCONV_LIMIT_EXCEEDED); /* HeaderTooLarge */
  tconv_put64(raw, 0xFFFFFFFFFFFFFFF0ull);
  CHECK_FAILS(tconv_safetensors_parse(raw, 16, &w), TCONV_LIMIT_EXCEEDED);
  tconv_put64(raw, 1000);
  CHECK_FAILS(tconv_safetensors_parse(raw, 16, &w), TCONV_BAD_FILE); /* past EOF */
  CHECK(io_alloc.calls == 0);
  io_alloc_end();
  tconv_put64(raw, 1);
  raw[8] = '{';
  CHECK_FAILS(tconv_safetensors_parse(raw, 16, &w), TCONV_BAD_FILE);
  CHECK_OK(st_try("{}", 0));
  CHECK_OK(st_try("{}      ", 0));
  CHECK_FAILS(st_try(" {}", 0), TCONV_BAD_FILE);   /* InvalidHeaderStart */
  CHECK_FAILS(st_try("[]", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"a\"}", 0), TCONV_BAD_FILE); /* InvalidHeaderDeserialization */
  CHECK_FAILS(st_try("{} {}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try_len("{}\0 ", 4, 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"\xff\":1}", 0), TCONV_BAD_FILE); /* not UTF-8 */
  CHECK_FAILS(st_try("{\"\xed\xa0\x80\":1}", 0), TCONV_BAD_FILE); /* a UTF-16 surrogate */
  CHECK_FAILS(st_try("{\"a\tb\":{}}", 0), TCONV_BAD_FILE);     /* raw control byte */
  CHECK_FAILS(st_try("{\"a\\u0000b\":{}}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"a\":{\"b\":{\"c\":{\"d\":[1]}}}}", 0), TCONV_BAD_FILE); /* depth 5 */
  CHECK_FAILS(st_try("{\"t\":[1e3]}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"t\":[1.0]}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"t\":[01]}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"t\":1}", 0), TCONV_BAD_FILE); /* not an object */
  /* Duplicate keys anywhere. */
  CHECK_FAILS(st_try("{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                     "\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "duplicate") != NULL);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"__metadata__\":{\"a\":\"b\",\"a\":\"c\"}}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"__metadata__\":{\"a\":1}}", 0), TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"__metadata__\":[]}", 0), TCONV_BAD_FILE);
  CHECK_OK(st_try("{\"__metadata__\":{}}", 0));
}

TEST(safetensors_crafted_value_count_limit) {
  /* One more JSON value than the lexical pass allows: rejected before libcjson allocates. */
  size_t n = 1000001;
  char *h = malloc(2 * n + 16);
  size_t len = 0;
  len += (size_t)sprintf(h, "{\"t\":[");
  for (size_t i = 0; i < n - 3; i++) h[len++] = '0', h[len++] = ',';
  h[len++] = '0';
  h[len++] = ']';
  h[len++] = '}';
  h[len] = '\0';
  io_alloc_begin(-1);
  CHECK_FAILS(st_try(h, 0), TCONV_LIMIT_EXCEEDED);
  CHECK(io_alloc.calls == 0);
  io_alloc_end();
  free(h);
}

TEST(safetensors_crafted_tensors) {
  /* Tensor info: keys, dtypes, shapes. */
  CHECK_OK(st_try(T1("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]"), 4));
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[]"), 4), TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":1"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"Q7\",\"shape\":[],\"data_offsets\":[0,4]"), 4),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(st_try(T1("\"dtype\":4,\"shape\":[],\"data_offsets\":[0,4]"), 4), TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 4), TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"),
                     4),
              TCONV_LIMIT_EXCEEDED);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,8]"), 8),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]"), 4), TCONV_BAD_FILE);
  /* D9: a shape whose product wraps (to exactly 4 in 64-bit arithmetic) with offsets [0,16]. */
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[4194305,4194305,211106198978564],"
                        "\"data_offsets\":[0,16]"), 16),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "overflow") != NULL);
  /* D10: 1000x1000 F32 covering 4 bytes. */
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1000,1000],\"data_offsets\":[0,4]"), 4),
              TCONV_BAD_FILE);
  /* D11: negative offsets, end before begin, offsets above 2^53, end past the buffer. */
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]"), 4),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "before it begins") != NULL);
  CHECK_FAILS(st_try(T1("\"dtype\":\"U8\",\"shape\":[1],"
                        "\"data_offsets\":[18446744073709551615,0]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"U8\",\"shape\":[1],"
                        "\"data_offsets\":[9007199254740993,9007199254740994]"), 4),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4),
              TCONV_BAD_FILE);
  /* Coverage: holes, overlaps, uncovered trailing bytes. */
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]"), 8),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "hole") != NULL);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 8),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "overlap") != NULL);
  CHECK_FAILS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
              TCONV_BAD_FILE);
  /* D12: a zero-size tensor inside another tensor's bytes is rejected; on a boundary it is fine. */
  CHECK_FAILS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 16),
              TCONV_BAD_FILE);
  CHECK_FAILS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,4]}}", 16),
              TCONV_BAD_FILE);
  CHECK_OK(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                  "\"y\":{\"dtype\":\"I8\",\"shape\":[3,0],\"data_offsets\":[0,0]}}", 16));
  /* Limits apply to consistent tensors too. */
  tconv_limits lim = tconv_limits_default();
  lim.max_tensor_elements = 10;
  tconv_set_limits(&lim);
  CHECK_FAILS(st_try(T1("\"dtype\":\"F16\",\"shape\":[16],\"data_offsets\":[0,32]"), 32),
              TCONV_LIMIT_EXCEEDED);
  tconv_set_limits(NULL);
  CHECK_OK(st_try(T1("\"dtype\":\"F16\",\"shape\":[16],\"data_offsets\":[0,32]"), 32));
}

/* Every truncation and single-bit flip of the fixture: a clean status, never a crash. */
TEST(safetensors_truncations_and_bit_flips) {
  size_t size;
  unsigned char *b = io_slurp(IO_DATA "mixed.safetensors", &size);
  CHECK(b != NULL);
  if (!b) return;
  for (size_t cut = 0; cut < size; cut++) {
    tconv_weights w;
    CHECK(tconv_safetensors_parse(b, cut, &w) != TCONV_OK);
    tconv_weights_free(&w);
  }
  for (size_t i = 0; i < size; i++) {
    for (int bit = 0; bit < 8; bit += 2) {
      b[i] ^= (unsigned char)(1 << bit);
      tconv_weights w;
      tconv_status st = tconv_safetensors_parse(b, size, &w);
      CHECK(st == TCONV_OK || tconv_last_error()[0] != '\0');
      tconv_weights_free(&w);
      b[i] ^= (unsigned char)(1 << bit);
    }
  }
  free(b);
}

static tconv_status st_parse_op(const void *ctx) {
  size_t size;
  unsigned char *b = io_slurp((const char *)ctx, &size);
  tconv_weights w;
  tconv_status st = tconv_safetensors_parse(b, size, &w);
  tconv_weights_free(&w);
  free(b);
  return st;
}

static tconv_status st_write_op(const void *ctx) {
  tconv_weights w;
  (void)ctx;
  tconv_status st = tconv_npz_read(IO_DATA "savez.npz", &w);
  if (st == TCONV_OK)
    st = tconv_safetensors_write(io_temp("oom.safetensors"), &w, "{\"format\": \"tconv\"}");
  tconv_weights_free(&w);
  return st;
}

TEST(safetensors_allocation_failures) {
  CHECK(io_sweep_failures(st_parse_op, IO_DATA "mixed.safetensors", "safetensors parse") >= 10);
  CHECK(io_sweep_failures(st_write_op, NULL, "safetensors write") >= 5);
  unlink(io_temp("oom.safetensors"));
}

#else

TEST(safetensors_without_cjson) {
  tconv_weights w;
  CHECK_FAILS(tconv_safetensors_read(IO_DATA "mixed.safetensors", &w), TCONV_UNSUPPORTED);
}

#endif
