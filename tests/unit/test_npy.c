/* .npy: numpy-written fixtures, byte-exact saves, round trips, and the crafted files of
 * research/security-anchors.md §2.4 D1-D7 / §3.2. */
#include <stdint.h>

#include "io/container.h"
#include "io_test.h"

static void check_ramp(const tconv_tensor *t, size_t rank, const size_t *shape) {
  CHECK(t->rank == rank);
  for (size_t i = 0; i < rank && i < TCONV_MAX_RANK; i++) CHECK(t->shape[i] == shape[i]);
  size_t n = tconv_tensor_numel(t);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += t->data[i] != io_ramp(i);
  CHECK_MSG(bad == 0, "%zu of %zu values differ from the ramp", bad, n);
}

TEST(npy_numpy_fixtures_float32) {
  static const struct {
    const char *file;
    size_t rank, shape[4];
  } cases[] = {
      {"f4_vec5.npy", 1, {5}},        {"f4_2x3.npy", 2, {2, 3}},
      {"f4_3x3x2x1.npy", 4, {3, 3, 2, 1}}, {"f4_1030x1.npy", 2, {1030, 1}},
      {"f4_v2.npy", 1, {4}},          {"f4_v3.npy", 2, {2, 2}},
      {"f4_fortran_1x4.npy", 2, {1, 4}}, /* Fortran order with one long axis: same bytes */
      {"f4_empty_0x3.npy", 2, {0, 3}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char path[256];
    snprintf(path, sizeof path, IO_DATA "%s", cases[c].file);
    tconv_tensor t;
    REQUIRE_OK(tconv_npy_load(path, &t));
    check_ramp(&t, cases[c].rank, cases[c].shape);
    tconv_tensor_free(&t);
  }
done:;
}

TEST(npy_numpy_fixtures_scalar_and_float64) {
  tconv_tensor t;
  unsigned char *bytes = NULL;
  REQUIRE_OK(tconv_npy_load(IO_DATA "f4_scalar.npy", &t));
  CHECK(t.rank == 0 && tconv_tensor_numel(&t) == 1 && t.data[0] == 3.25f);
  tconv_tensor_free(&t);

  size_t size;
  bytes = io_slurp(IO_DATA "f8_2x2x2.npy", &size);
  REQUIRE(bytes != NULL);
  tconv_dtype dt = TCONV_DTYPE_OTHER;
  REQUIRE_OK(tconv_npy_parse_typed(bytes, size, &t, &dt));
  CHECK(dt == TCONV_DTYPE_FLOAT64);
  CHECK(t.rank == 3 && t.shape[0] == 2 && t.shape[1] == 2 && t.shape[2] == 2);
  for (size_t i = 0; i < 8; i++) CHECK(t.data[i] == io_sevenths(i));
done:
  tconv_tensor_free(&t);
  free(bytes);
}

TEST(npy_numpy_fixtures_unsupported) {
  static const struct {
    const char *file, *phrase;
  } cases[] = {
      {"f4_fortran_2x3.npy", "np.ascontiguousarray"},
      {"f4_bigendian.npy", "big-endian"},
      {"i4_vec.npy", "'<i4' is not supported"},
      {"object.npy", "never loaded"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char path[256];
    snprintf(path, sizeof path, IO_DATA "%s", cases[c].file);
    tconv_tensor t;
    CHECK_FAILS(tconv_npy_load(path, &t), TCONV_UNSUPPORTED);
    CHECK_MSG(strstr(tconv_last_error(), cases[c].phrase) != NULL, "%s: message '%s'",
              cases[c].file, tconv_last_error());
    CHECK_MSG(strstr(tconv_last_error(), cases[c].file) != NULL, "message lacks the path");
    CHECK(t.data == NULL && t.rank == 0);
  }
}

/* Our save must be byte-identical to np.save for the same array (header text, padding to 64,
 * numpy's 21-digit growth spaces, the shape tuple formatting). */
TEST(npy_save_matches_numpy_bytes) {
  static const struct {
    const char *file;
    size_t rank, shape[4];
  } cases[] = {
      {"f4_vec5.npy", 1, {5}},      {"f4_2x3.npy", 2, {2, 3}}, {"f4_3x3x2x1.npy", 4, {3, 3, 2, 1}},
      {"f4_1030x1.npy", 2, {1030, 1}}, {"f4_empty_0x3.npy", 2, {0, 3}}, {"f4_scalar.npy", 0, {0}},
  };
  tconv_tensor t = {0};
  unsigned char *a = NULL, *b = NULL, *enc = NULL;
  const char *out = io_temp("save.npy");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    REQUIRE_OK(tconv_tensor_alloc(&t, cases[c].rank, cases[c].shape));
    size_t n = tconv_tensor_numel(&t);
    for (size_t i = 0; i < n; i++) t.data[i] = cases[c].rank == 0 ? 3.25f : io_ramp(i);
    REQUIRE_OK(tconv_npy_save(out, &t));
    char ref_path[256];
    snprintf(ref_path, sizeof ref_path, IO_DATA "%s", cases[c].file);
    size_t a_size, b_size;
    a = io_slurp(out, &a_size), b = io_slurp(ref_path, &b_size);
    CHECK_MSG(a && b && a_size == b_size && memcmp(a, b, a_size) == 0,
              "%s: saved bytes differ from numpy's (%zu vs %zu bytes)", cases[c].file, a_size,
              b_size);
    size_t enc_size;
    REQUIRE_OK(tconv_npy_encode(&t, &enc, &enc_size));
    CHECK(enc_size == b_size && b && memcmp(enc, b, b_size) == 0);
    tconv_dealloc(enc);
    free(a);
    free(b);
    enc = a = b = NULL;
    unlink(out);
    tconv_tensor_free(&t);
  }
done:
  tconv_dealloc(enc);
  free(a);
  free(b);
  unlink(out);
  tconv_tensor_free(&t);
}

TEST(npy_round_trip_random_shapes) {
  unsigned long long rng = 42;
  tconv_tensor t = {0}, back = {0};
  unsigned char *enc = NULL;
  for (int iter = 0; iter < 40; iter++) {
    size_t rank = test_rand_range(&rng, 0, 8), shape[8];
    for (size_t i = 0; i < rank; i++) shape[i] = test_rand_range(&rng, rank > 4 ? 1 : 0, 4);
    if (iter == 0) rank = 2, shape[0] = 2147483647, shape[1] = 0; /* widest dim, empty */
    REQUIRE_OK(tconv_tensor_alloc(&t, rank, shape));
    size_t n = tconv_tensor_numel(&t);
    for (size_t i = 0; i < n; i++) t.data[i] = test_rand_float(&rng) * 1e3f;
    size_t size;
    REQUIRE_OK(tconv_npy_encode(&t, &enc, &size));
    CHECK(size % 64 == (n * 4) % 64); /* header padded to 64 bytes */
    REQUIRE_OK(tconv_npy_parse(enc, size, &back));
    CHECK(back.rank == rank && memcmp(back.shape, t.shape, rank * sizeof shape[0]) == 0);
    CHECK(io_same_floats(back.data, t.data, n));
    tconv_tensor_free(&back);
    tconv_dealloc(enc);
    enc = NULL;
    tconv_tensor_free(&t);
  }
done:
  tconv_tensor_free(&back);
  tconv_dealloc(enc);
  tconv_tensor_free(&t);
}

/* Builds a v1 file from a header text (a '\n' is appended) and n data bytes. */
static unsigned char *npy_craft(const char *header, size_t data_bytes, size_t *size) {
  size_t h = strlen(header) + 1;
  *size = 10 + h + data_bytes;
  unsigned char *b = calloc(1, *size);
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)h;
  b[9] = (unsigned char)(h >> 8);
  memcpy(b + 10, header, h - 1);
  b[10 + h - 1] = '\n';
  return b;
}

static tconv_status npy_parse_header(const char *header, size_t data_bytes) {
  size_t size;
  unsigned char *b = npy_craft(header, data_bytes, &size);
  tconv_tensor t;
  tconv_status st = tconv_npy_parse(b, size, &t);
  tconv_tensor_free(&t);
  free(b);
  return st;
}

TEST(npy_header_grammar) {
  /* Accepted spellings numpy could produce (double quotes, no trailing comma, no spaces). */
  CHECK_OK(npy_parse_header("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,)}", 8));
  CHECK_OK(npy_parse_header("{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4', }", 8));
  CHECK_OK(npy_parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (), }", 4));
  static const char *bad[] = {
      "{'descr': '<f4', 'fortran_order': False, }",                          /* missing shape */
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }", /* duplicate */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1, }",     /* unknown key */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",            /* not a tuple */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",          /* negative */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (02,), }",          /* leading zero */
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }",               /* not a bool */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x",         /* trailing text */
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,), }",          /* double comma */
      "{'descr': '<\\x66', 'fortran_order': False, 'shape': (2,), }",        /* escapes */
      "{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': (2,), }",
      "['descr', '<f4']",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tconv_status st = npy_parse_header(bad[i], 8);
    CHECK_MSG(st == TCONV_BAD_FILE, "header %zu: %s (%s)", i, tconv_status_string(st),
              tconv_last_error());
    CHECK(tconv_last_error()[0] != '\0');
  }
  /* No newline at the end of the header. */
  size_t size;
  unsigned char *b = npy_craft("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, &size);
  b[10 + b[8] - 1] = ' ';
  tconv_tensor t;
  CHECK_FAILS(tconv_npy_parse(b, size, &t), TCONV_BAD_FILE);
  free(b);
}

TEST(npy_crafted_dtypes_and_ranks) {
  /* D6: object dtype (pickle), structured dtypes, other dtypes: never loaded. */
  CHECK_FAILS(npy_parse_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(npy_parse_header("{'descr': 'O', 'fortran_order': False, 'shape': (1,), }", 8),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(npy_parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                               4),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(npy_parse_header("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", 4),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(npy_parse_header("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", 8),
              TCONV_UNSUPPORTED);
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16),
              TCONV_UNSUPPORTED);
  /* D7: rank above 8. */
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4),
              TCONV_LIMIT_EXCEEDED);
  CHECK_OK(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                            "'shape': (1, 1, 1, 1, 1, 1, 1, 2), }", 8));
}

TEST(npy_crafted_sizes) {
  tconv_tensor t;
  /* D1/D2: a 12-byte v2 file claiming a 0xFFFFFFF0-byte header: rejected before any allocation,
   * whatever the header limit is set to (the hard ceiling is 1 MiB). */
  const unsigned char d1[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xF0, 0xFF, 0xFF, 0xFF};
  io_alloc_begin(-1);
  CHECK_FAILS(tconv_npy_parse(d1, sizeof d1, &t), TCONV_LIMIT_EXCEEDED);
  tconv_limits lim = tconv_limits_default();
  lim.max_header_bytes = UINT64_MAX;
  tconv_set_limits(&lim);
  CHECK_FAILS(tconv_npy_parse(d1, sizeof d1, &t), TCONV_LIMIT_EXCEEDED);
  /* D3: 14 bytes claiming a header of 1 MiB (at the ceiling): truncated, nothing allocated. */
  const unsigned char d3[14] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0, 0x10, 0, '{', '}'};
  CHECK_FAILS(tconv_npy_parse(d3, sizeof d3, &t), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "truncated") != NULL);
  tconv_set_limits(NULL);
  CHECK(io_alloc.calls == 0 && io_alloc.peak == 0);
  io_alloc_end();
  /* The default cap is numpy's 10,000 bytes. */
  size_t size;
  unsigned char *b = npy_craft("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, &size);
  b[8] = 0x11, b[9] = 0x27; /* 10001 */
  CHECK_FAILS(tconv_npy_parse(b, size, &t), TCONV_LIMIT_EXCEEDED);
  free(b);

  /* D1: shape products that wrap, and dims beyond the limits or 64 bits. */
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (4294967296, 4294967296, 4), }", 16),
              TCONV_LIMIT_EXCEEDED);
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (18446744073709551616,), }", 16),
              TCONV_LIMIT_EXCEEDED);
  lim = tconv_limits_default();
  lim.max_dim = lim.max_tensor_elements = lim.max_tensor_bytes = UINT64_MAX;
  tconv_set_limits(&lim);
  /* 2^32 * 2^32 * 4 wraps to 0 elements in 64 bits; 2^62 * 4 bytes wraps to 0 bytes. */
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (4294967296, 4294967296, 4), }", 0),
              TCONV_LIMIT_EXCEEDED);
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (4611686018427387904,), }", 0),
              TCONV_LIMIT_EXCEEDED);
  tconv_set_limits(NULL);

  /* Data shorter or longer than the shape says. */
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 15),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "truncated") != NULL);
  CHECK_FAILS(npy_parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 17),
              TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "trailing") != NULL);
  CHECK_FAILS(npy_parse_header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 0), }", 1),
              TCONV_BAD_FILE);
  /* Header running past the end of the file, and files cut inside the prefix. */
  b = npy_craft("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, &size);
  for (size_t cut = 0; cut < size; cut++) {
    tconv_status st = tconv_npy_parse(b, cut, &t);
    CHECK_MSG(st == TCONV_BAD_FILE, "cut at %zu: %s", cut, tconv_status_string(st));
  }
  b[6] = 4; /* version 4.0 */
  CHECK_FAILS(tconv_npy_parse(b, size, &t), TCONV_UNSUPPORTED);
  b[6] = 1, b[0] = 'x';
  CHECK_FAILS(tconv_npy_parse(b, size, &t), TCONV_BAD_FILE);
  free(b);
}

TEST(npy_load_and_save_errors) {
  tconv_tensor t;
  CHECK_FAILS(tconv_npy_load(IO_DATA "does-not-exist.npy", &t), TCONV_IO_ERROR);
  CHECK_FAILS(tconv_npy_load(IO_DATA, &t), TCONV_IO_ERROR); /* a directory */
  CHECK_FAILS(tconv_npy_parse(NULL, 4, &t), TCONV_INVALID_ARGUMENT);
  /* The file size is checked against the limits before the file is read. */
  tconv_limits lim = tconv_limits_default();
  lim.max_tensor_bytes = 64;
  lim.max_header_bytes = 128;
  tconv_set_limits(&lim);
  io_alloc_begin(-1);
  CHECK_FAILS(tconv_npy_load(IO_DATA "f4_1030x1.npy", &t), TCONV_LIMIT_EXCEEDED);
  CHECK(io_alloc.peak < 4096);
  io_alloc_end();
  tconv_set_limits(NULL);

  size_t shape[2] = {2, 2};
  CHECK_OK(tconv_tensor_alloc(&t, 2, shape));
  CHECK_FAILS(tconv_npy_save("/nonexistent-dir/x.npy", &t), TCONV_IO_ERROR);
  CHECK_FAILS(tconv_npy_save(NULL, &t), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_npy_save(io_temp("x.npy"), NULL), TCONV_INVALID_ARGUMENT);
  float *data = t.data;
  t.data = NULL;
  CHECK_FAILS(tconv_npy_save(io_temp("x.npy"), &t), TCONV_INVALID_ARGUMENT);
  t.data = data;
  t.rank = 9;
  CHECK_FAILS(tconv_npy_save(io_temp("x.npy"), &t), TCONV_LIMIT_EXCEEDED);
  t.rank = 2;
  /* An existing file is replaced whole. */
  const char *path = io_temp("replace.npy");
  CHECK(io_spit(path, "old contents", 12));
  t.data[3] = 7.5f;
  CHECK_OK(tconv_npy_save(path, &t));
  tconv_tensor back;
  CHECK_OK(tconv_npy_load(path, &back));
  CHECK(back.rank == 2 && back.data[3] == 7.5f && back.data[0] == 0.0f);
  tconv_tensor_free(&back);
  unlink(path);
  tconv_tensor_free(&t);
}

static tconv_status npy_parse_op(const void *ctx) {
  size_t size;
  unsigned char *b = io_slurp((const char *)ctx, &size);
  tconv_tensor t;
  tconv_status st = tconv_npy_parse(b, size, &t);
  tconv_tensor_free(&t);
  free(b);
  return st;
}

static tconv_status npy_load_save_op(const void *ctx) {
  tconv_tensor t;
  tconv_status st = tconv_npy_load((const char *)ctx, &t);
  if (st == TCONV_OK) st = tconv_npy_save(io_temp("oom.npy"), &t);
  tconv_tensor_free(&t);
  return st;
}

TEST(npy_allocation_failures) {
  CHECK(io_sweep_failures(npy_parse_op, IO_DATA "f8_2x2x2.npy", "npy parse") >= 1);
  CHECK(io_sweep_failures(npy_load_save_op, IO_DATA "f4_2x3.npy", "npy load+save") >= 3);
  unlink(io_temp("oom.npy"));
}
