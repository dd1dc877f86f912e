/* Every resource cap of docs/limits.md that the public API can reach: the value at the cap is
 * accepted and one past it is refused with LIMIT_EXCEEDED (or the documented status), before
 * anything of that size is allocated.  Caps set with tconv_set_limits are restored after each
 * test. */
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <malloc.h>
#endif

#include "io/container.h"
#include "test.h"


typedef enum { L_ELEMS, L_BYTES, L_DIM, L_HEADER, L_PIXELS } limit_field;
static void with_limit(limit_field f, uint64_t v) {
  tconv_limits l = tconv_limits_default();
  switch (f) {
  case L_ELEMS: l.max_tensor_elements = v; break;
  case L_BYTES: l.max_tensor_bytes = v; break;
  case L_DIM: l.max_dim = v; break;
  case L_HEADER: l.max_header_bytes = v; break;
  case L_PIXELS: l.max_image_pixels = v; break;
  }
  tconv_set_limits(&l);
}
static void reset_limits(void) { tconv_set_limits(NULL); }

TEST(limits_defaults_are_documented_values) {
  tconv_limits l = tconv_limits_default();
  CHECK(l.max_tensor_elements == 2147483647u);
  CHECK(l.max_tensor_bytes == (uint64_t)2 << 30);
  CHECK(l.max_dim == 2147483647u);
  CHECK(l.max_header_bytes == 10000);
  CHECK(l.max_image_pixels == (uint64_t)1 << 28);
  tconv_limits now = tconv_get_limits();
  CHECK(memcmp(&now, &l, sizeof l) == 0);
}

TEST(limits_tensor_elements_and_bytes) {
  tconv_tensor t = {0};
  with_limit(L_ELEMS, 100);
  CHECK_OK(tconv_tensor_alloc(&t, 2, (size_t[]){10, 10}));
  tconv_tensor_free(&t);
  CHECK_STATUS(tconv_tensor_alloc(&t, 1, (size_t[]){101}), TCONV_LIMIT_EXCEEDED);
  CHECK(t.data == NULL);
  with_limit(L_BYTES, 400);
  CHECK_OK(tconv_tensor_alloc(&t, 1, (size_t[]){100}));
  tconv_tensor_free(&t);
  CHECK_STATUS(tconv_tensor_alloc(&t, 1, (size_t[]){101}), TCONV_LIMIT_EXCEEDED);
  reset_limits();
  /* Default caps: 2^31 elements is one past the element cap; a wrapping product is refused. */
  CHECK_STATUS(tconv_tensor_alloc(&t, 1, (size_t[]){(size_t)1 << 31}), TCONV_LIMIT_EXCEEDED);
  CHECK_STATUS(tconv_tensor_alloc(&t, 3, (size_t[]){0, (size_t)1 << 32, (size_t)1 << 32}),
               TCONV_LIMIT_EXCEEDED);
  /* Rank: at most TCONV_MAX_RANK. */
  size_t ones[TCONV_MAX_RANK + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK_OK(tconv_tensor_alloc(&t, TCONV_MAX_RANK, ones));
  tconv_tensor_free(&t);
  CHECK(tconv_tensor_alloc(&t, TCONV_MAX_RANK + 1, ones) != TCONV_OK);
}

TEST(limits_max_dim_in_shapes_and_layer_arguments) {
  with_limit(L_DIM, 16);
  tconv_tensor t = {0};
  CHECK_OK(tconv_tensor_alloc(&t, 1, (size_t[]){16}));
  tconv_tensor_free(&t);
  CHECK_STATUS(tconv_tensor_alloc(&t, 1, (size_t[]){17}), TCONV_LIMIT_EXCEEDED);
  tconv_config c = tconv_config_default();
  c.filters = 2;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  tconv_geometry g;
  const size_t in[4] = {1, 4, 4, 1};
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &g));
  c.strides[0] = 17; /* an argument above max_dim */
  CHECK_STATUS(tconv_geometry_compute(&c, in, NULL, &g), TCONV_LIMIT_EXCEEDED);
  c.strides[0] = 1;
  c.filters = 17;
  CHECK_STATUS(tconv_config_check(&c), TCONV_LIMIT_EXCEEDED);
  c.filters = 2;
  const size_t big_in[4] = {1, 17, 4, 1}; /* an input dimension above it */
  CHECK_STATUS(tconv_geometry_compute(&c, big_in, NULL, &g), TCONV_LIMIT_EXCEEDED);
  c.strides[0] = c.strides[1] = 5; /* Keras VALID: output 4*5 = 20 > 16 */
  CHECK_STATUS(tconv_geometry_compute(&c, in, NULL, &g), TCONV_LIMIT_EXCEEDED);
  reset_limits();
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &g));
  CHECK(g.out_h == 20 && g.out_w == 20);
}

TEST(limits_layer_output_elements) {
  /* The output tensor is checked against the element cap before any plan or buffer. */
  tconv_config c = tconv_config_default();
  c.filters = 4;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  tconv_geometry g;
  const size_t in[4] = {1, 5, 5, 1}; /* output 1 x 10 x 10 x 4 = 400 */
  with_limit(L_ELEMS, 400);
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &g));
  with_limit(L_ELEMS, 399);
  CHECK_STATUS(tconv_geometry_compute(&c, in, NULL, &g), TCONV_LIMIT_EXCEEDED);
  CHECK(strstr(tconv_last_error(), "output") != NULL);
  reset_limits();
}

TEST(limits_npy_header_bytes) {
  tconv_tensor t = {0}, back = {0};
  CHECK_OK(tconv_tensor_alloc(&t, 2, (size_t[]){2, 3}));
  unsigned char *enc = NULL;
  size_t n = 0;
  CHECK_OK(tconv_npy_encode(&t, &enc, &n));
  if (enc == NULL) {
    tconv_tensor_free(&t);
    return;
  }
  size_t hlen = enc[8] | (size_t)enc[9] << 8; /* v1 header length */
  with_limit(L_HEADER, hlen);
  CHECK_OK(tconv_npy_parse(enc, n, &back));
  tconv_tensor_free(&back);
  with_limit(L_HEADER, hlen - 1);
  CHECK_STATUS(tconv_npy_parse(enc, n, &back), TCONV_LIMIT_EXCEEDED);
  /* The tensor caps apply to .npy contents too. */
  reset_limits();
  with_limit(L_ELEMS, 5);
  CHECK_STATUS(tconv_npy_parse(enc, n, &back), TCONV_LIMIT_EXCEEDED);
  reset_limits();
  /* A v2 header declaring 0xFFFFFFF0 bytes in a 12-byte file (D1): refused, nothing allocated. */
  const unsigned char d1[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xF0, 0xFF, 0xFF, 0xFF};
  CHECK_STATUS(tconv_npy_parse(d1, sizeof d1, &back), TCONV_LIMIT_EXCEEDED);
  tconv_dealloc(enc);
  tconv_tensor_free(&t);
}

TEST(limits_image_pixels_and_sides) {
  tconv_image img = {0};
  with_limit(L_PIXELS, 100);
  CHECK_OK(tconv_image_alloc(&img, 10, 10, 1, 8));
  tconv_image_free(&img);
  CHECK_STATUS(tconv_image_alloc(&img, 10, 11, 1, 8), TCONV_LIMIT_EXCEEDED);
  reset_limits();
  CHECK_STATUS(tconv_image_alloc(&img, 1000001, 1, 1, 8), TCONV_LIMIT_EXCEEDED);
  CHECK_STATUS(tconv_image_alloc(&img, 20000, 20000, 1, 8), TCONV_LIMIT_EXCEEDED); /* > 2^28 */
}

static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

TEST(limits_safetensors_header) {
  tconv_weights w;
  unsigned char buf[16];
  memset(buf, ' ', sizeof buf);
  buf[8] = '{';
  /* N = 100,000,001: above the reference HeaderTooLarge limit. */
  put_le(buf, 100000001u, 8);
  CHECK_STATUS(tconv_safetensors_parse(buf, sizeof buf, &w), TCONV_LIMIT_EXCEEDED);
  /* N = 100,000,000 is allowed by the cap, but this file is too short for it. */
  put_le(buf, 100000000u, 8);
  tconv_status st = tconv_safetensors_parse(buf, sizeof buf, &w);
  CHECK(st == TCONV_BAD_FILE || st == TCONV_UNSUPPORTED);
}

TEST(limits_npz_entries_and_member_bytes) {
  enum { N = 1025 };
  tconv_named_tensor *items = calloc(N, sizeof *items);
  char (*names)[16] = calloc(N, 16);
  float v = 1.0f;
  for (int i = 0; i < N; i++) {
    snprintf(names[i], 16, "t%d", i);
    items[i].name = names[i];
    items[i].value.rank = 1;
    items[i].value.shape[0] = 1;
    items[i].value.data = &v;
  }
  tconv_weights w = {"npz", N, items, NULL}, back = {0};
  char path[64]; /* per process: two suites running at once must not share the file */
  snprintf(path, sizeof path, "/tmp/tconv-limits-%ld.npz", (long)getpid());
  CHECK_STATUS(tconv_npz_write(path, &w), TCONV_LIMIT_EXCEEDED);
  w.count = 1024;
  CHECK_OK(tconv_npz_write(path, &w));
  CHECK_OK(tconv_npz_read(path, &back));
  CHECK(back.count == 1024);
  tconv_weights_free(&back);
  /* The same archive with its end record claiming 1025 entries. */
  FILE *f = fopen(path, "rb");
  unsigned char *bytes = NULL;
  long size = 0;
  if (f) {
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
  }
  CHECK(bytes != NULL && size > 22);
  if (bytes) {
    put_le(bytes + size - 22 + 8, N, 2);
    put_le(bytes + size - 22 + 10, N, 2);
    CHECK_STATUS(tconv_npz_parse(bytes, (size_t)size, &back), TCONV_LIMIT_EXCEEDED);
    tconv_weights_free(&back);
    free(bytes);
  }
  /* A member larger than the tensor byte cap allows is refused before it is inflated. */
  w.count = 1;
  float big[64] = {0};
  items[0].value.shape[0] = 64;
  items[0].value.data = big;
  CHECK_OK(tconv_npz_write(path, &w));
  with_limit(L_BYTES, 64);
  CHECK_STATUS(tconv_npz_read(path, &back), TCONV_LIMIT_EXCEEDED);
  tconv_weights_free(&back); /* empty on error; filled if a failed write kept an older file */
  reset_limits();
  CHECK_OK(tconv_npz_read(path, &back));
  tconv_weights_free(&back);
  remove(path);
  free(items);
  free(names);
}

/* IDX header: magic 0 0, type, rank, big-endian u32 dims. */
static size_t idx_bytes(unsigned char *out, uint32_t d0, uint32_t d1, uint32_t d2) {
  out[0] = out[1] = 0;
  out[2] = 0x08;
  out[3] = 3;
  const uint32_t d[3] = {d0, d1, d2};
  for (int i = 0; i < 3; i++) {
    out[4 + 4 * i] = (unsigned char)(d[i] >> 24);
    out[5 + 4 * i] = (unsigned char)(d[i] >> 16);
    out[6 + 4 * i] = (unsigned char)(d[i] >> 8);
    out[7 + 4 * i] = (unsigned char)d[i];
  }
  return 16;
}

TEST(limits_idx_count_and_sides) {
  unsigned char hdr[16 + 4];
  tconv_tensor t;
  memset(hdr, 0, sizeof hdr);
  idx_bytes(hdr, 1, 2, 2);
  CHECK_OK(tconv_idx_parse(hdr, 20, &t, NULL)); /* 1 x 2 x 2 bytes of data */
  tconv_tensor_free(&t);
  idx_bytes(hdr, 1, 4097, 1);
  CHECK_STATUS(tconv_idx_parse(hdr, 20, &t, NULL), TCONV_LIMIT_EXCEEDED);
  idx_bytes(hdr, 10000001, 1, 1);
  CHECK_STATUS(tconv_idx_parse(hdr, 20, &t, NULL), TCONV_LIMIT_EXCEEDED);
}

TEST(limits_threadpool_threads) {
  tconv_threadpool *p = NULL;
  CHECK_STATUS(tconv_threadpool_create(1025, &p), TCONV_INVALID_ARGUMENT);
  CHECK(p == NULL);
}

#if defined(__linux__)
/* The process's resident set in KiB (VmRSS), or -1. */
static long test_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
  if (f != NULL) fclose(f);
  return kib;
}
#endif

/* Tensor memory of the default allocator (src/core/alloc.c): from 256 bytes on a cache line;
 * from 2 MiB 2 MiB-aligned (asked to live on transparent huge pages), unless TCONV_HUGE_PAGES=0;
 * zero-filled either way; and no more memory than the tensor itself.  The test installs the
 * default allocator (so the fault-injection runs count it among the tests with their own
 * allocator and leave it out). */
TEST(tensors_on_cache_lines_and_huge_pages) {
  tconv_set_allocator(NULL, NULL, NULL);
  tconv_tensor t = {0}, m[8] = {{0}};
  const size_t small = 1000, big = ((size_t)2 << 20) / sizeof(float) + 7;
  REQUIRE_OK(tconv_tensor_alloc(&t, 1, &small));
  CHECK(((uintptr_t)t.data & 63) == 0);
  tconv_tensor_free(&t);
  for (int off = 0; off < 2; off++) {
    if (off) setenv("TCONV_HUGE_PAGES", "0", 1);
    REQUIRE_OK(tconv_tensor_alloc(&t, 1, &big));
    CHECK(((uintptr_t)t.data & 63) == 0);
#if defined(__linux__)
    if (!off) CHECK(((uintptr_t)t.data & (((uintptr_t)2 << 20) - 1)) == 0);
#endif
    CHECK(t.data[0] == 0.0f && t.data[big - 1] == 0.0f);
    t.data[big - 1] = 1.0f; /* the whole block is writable */
    tconv_tensor_free(&t);
  }
  unsetenv("TCONV_HUGE_PAGES");
#if defined(__linux__)
  { /* only whole 2 MiB pages are advised: eight 2.1 MiB tensors, written in full, must not take
     * 4 MiB each (they did when the rounded-up tail was advised too) */
    const size_t n21 = ((size_t)2 << 20) / sizeof(float) + 25000;
    mallopt(M_MMAP_THRESHOLD, 128 * 1024); /* blocks of their own, as in a fresh process */
    const long before = test_rss_kib();
    for (int i = 0; i < 8; i++) {
      REQUIRE_OK(tconv_tensor_alloc(&m[i], 1, &n21));
      for (size_t e = 0; e < n21; e += 1024) m[i].data[e] = 1.0f;
    }
    const long grown = test_rss_kib() - before;
    CHECK_MSG(before < 0 || grown < 8 * 2662, "eight 2.1 MiB tensors took %ld KiB", grown);
  }
#endif
done:
  for (int i = 0; i < 8; i++) tconv_tensor_free(&m[i]);
  unsetenv("TCONV_HUGE_PAGES");
}
