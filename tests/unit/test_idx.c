/* MNIST IDX: every type byte, gzip'd and raw, the exact size equation, the caps, gzip streams
 * that end early or run long, the bundled digits and (when Debian's package is installed)
 * Fashion-MNIST. */
#include "io_test.h"

#ifdef TCONV_HAVE_ZLIB
#include <zlib.h>
#endif

/* Header for the given type and dims into out; returns its length. */
static size_t idx_header(unsigned char *out, uint8_t type, size_t rank, const uint32_t *dims) {
  out[0] = out[1] = 0;
  out[2] = type;
  out[3] = (unsigned char)rank;
  for (size_t i = 0; i < rank; i++)
    for (int b = 0; b < 4; b++) out[4 + 4 * i + (size_t)b] = (unsigned char)(dims[i] >> (24 - 8 * b));
  return 4 + 4 * rank;
}

TEST(idx_every_type_big_endian) {
  unsigned char buf[64];
  const uint32_t dims[2] = {2, 3};
  /* u8 */
  size_t n = idx_header(buf, 0x08, 2, dims);
  for (int i = 0; i < 6; i++) buf[n + (size_t)i] = (unsigned char)(250 + i);
  tconv_tensor t;
  uint8_t type = 0;
  CHECK_OK(tconv_idx_parse(buf, n + 6, &t, &type));
  CHECK(type == 0x08 && t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3);
  for (int i = 0; t.data && i < 6; i++) CHECK(t.data[i] == 250 + i);
  tconv_tensor_free(&t);
  /* i8 */
  n = idx_header(buf, 0x09, 2, dims);
  for (int i = 0; i < 6; i++) buf[n + (size_t)i] = (unsigned char)(0xFE + i); /* -2, -1, 0, ... */
  CHECK_OK(tconv_idx_parse(buf, n + 6, &t, NULL));
  for (int i = 0; t.data && i < 6; i++) CHECK(t.data[i] == -2 + i);
  tconv_tensor_free(&t);
  /* i16: -300 = 0xFED4 */
  const uint32_t one[1] = {1};
  n = idx_header(buf, 0x0B, 1, one);
  buf[n] = 0xFE, buf[n + 1] = 0xD4;
  CHECK_OK(tconv_idx_parse(buf, n + 2, &t, NULL));
  CHECK(t.data && t.data[0] == -300);
  tconv_tensor_free(&t);
  /* i32: -70000 = 0xFFFEEE90 */
  n = idx_header(buf, 0x0C, 1, one);
  buf[n] = 0xFF, buf[n + 1] = 0xFE, buf[n + 2] = 0xEE, buf[n + 3] = 0x90;
  CHECK_OK(tconv_idx_parse(buf, n + 4, &t, NULL));
  CHECK(t.data && t.data[0] == -70000);
  tconv_tensor_free(&t);
  /* f32 1.5 = 0x3FC00000, f64 -0.25 = 0xBFD0000000000000 */
  n = idx_header(buf, 0x0D, 1, one);
  buf[n] = 0x3F, buf[n + 1] = 0xC0, buf[n + 2] = 0, buf[n + 3] = 0;
  CHECK_OK(tconv_idx_parse(buf, n + 4, &t, &type));
  CHECK(type == 0x0D && t.data && t.data[0] == 1.5f);
  tconv_tensor_free(&t);
  n = idx_header(buf, 0x0E, 1, one);
  memset(buf + n, 0, 8);
  buf[n] = 0xBF, buf[n + 1] = 0xD0;
  CHECK_OK(tconv_idx_parse(buf, n + 8, &t, NULL));
  CHECK(t.data && t.data[0] == -0.25f);
  tconv_tensor_free(&t);
}

TEST(idx_raw_header_and_size_errors) {
  unsigned char buf[64] = {0};
  tconv_tensor t;
  const uint32_t dims[3] = {2, 2, 2};
  size_t n = idx_header(buf, 0x08, 3, dims);
  CHECK_OK(tconv_idx_parse(buf, n + 8, &t, NULL));
  tconv_tensor_free(&t);
  CHECK_FAILS(tconv_idx_parse(buf, n + 7, &t, NULL), TCONV_BAD_FILE); /* truncated data */
  CHECK_FAILS(tconv_idx_parse(buf, n + 9, &t, NULL), TCONV_BAD_FILE); /* trailing byte */
  CHECK_FAILS(tconv_idx_parse(buf, 3, &t, NULL), TCONV_BAD_FILE);     /* no magic */
  CHECK_FAILS(tconv_idx_parse(buf, 10, &t, NULL), TCONV_BAD_FILE);    /* truncated dims */
  CHECK(t.data == NULL);
  buf[0] = 1;
  CHECK_FAILS(tconv_idx_parse(buf, n + 8, &t, NULL), TCONV_BAD_FILE); /* bad magic */
  buf[0] = 0, buf[2] = 0x0A;
  CHECK_FAILS(tconv_idx_parse(buf, n + 8, &t, NULL), TCONV_BAD_FILE); /* unknown type */
  buf[2] = 0x08, buf[3] = 0;
  CHECK_FAILS(tconv_idx_parse(buf, n + 8, &t, NULL), TCONV_BAD_FILE); /* rank 0 */
  buf[3] = 5;
  CHECK_FAILS(tconv_idx_parse(buf, 64, &t, NULL), TCONV_BAD_FILE);    /* rank 5 */
  /* Caps: a side above 4,096; a count above 10^7; a product past the tensor limits — all before
   * any allocation the size of the declared data. */
  const uint32_t wide[3] = {1, 28, 5000}, many[3] = {10000001, 1, 1},
                 big[4] = {10000000, 4096, 4096, 4096};
  const uint32_t *cases[3] = {wide, many, big};
  const size_t ranks[3] = {3, 3, 4};
  for (int k = 0; k < 3; k++) {
    n = idx_header(buf, 0x0E, ranks[k], cases[k]);
    io_alloc_begin(-1);
    tconv_status st = tconv_idx_parse(buf, n + 16, &t, NULL);
    size_t peak = io_alloc.peak;
    io_alloc_end();
    CHECK_STATUS(st, TCONV_LIMIT_EXCEEDED);
    CHECK(peak < 4096);
  }
}

#ifdef TCONV_HAVE_ZLIB
/* gzip (RFC 1952) of n bytes, as `gzip` writes it. */
static unsigned char *gzip_bytes(const unsigned char *in, size_t n, size_t *out_n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  size_t cap = deflateBound(&z, (uLong)n) + 64;
  unsigned char *out = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int rc = out ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
  *out_n = cap - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

TEST(idx_gzip_detected_inflated_exactly) {
  unsigned char raw[16 + 3 * 4 * 5 + 1];
  const uint32_t dims[3] = {3, 4, 5};
  size_t n = idx_header(raw, 0x08, 3, dims);
  for (size_t i = 0; i < 60; i++) raw[n + i] = (unsigned char)(i * 7);
  size_t gz_n = 0;
  unsigned char *gz = gzip_bytes(raw, n + 60, &gz_n);
  CHECK(gz != NULL && gz[0] == 0x1F && gz[1] == 0x8B);
  tconv_tensor t;
  CHECK_OK(tconv_idx_parse(gz, gz_n, &t, NULL));
  CHECK(t.rank == 3 && t.shape[0] == 3 && t.shape[1] == 4 && t.shape[2] == 5);
  for (size_t i = 0; t.data && i < 60; i++) CHECK(t.data[i] == (float)((i * 7) & 0xff));
  tconv_tensor_free(&t);
  /* The same file loaded from disk. */
  CHECK(io_spit(io_temp("x-idx3-ubyte.gz"), gz, gz_n));
  CHECK_OK(tconv_idx_load(io_temp("x-idx3-ubyte.gz"), &t, NULL));
  CHECK(t.data && t.data[59] == (float)((59 * 7) & 0xff));
  tconv_tensor_free(&t);
  /* Every truncation of the gzip stream fails cleanly. */
  for (size_t k = 0; gz && k < gz_n; k++)
    CHECK_STATUS(tconv_idx_parse(gz, k, &t, NULL), TCONV_BAD_FILE);
  /* A corrupt deflate body. */
  if (gz) {
    gz[12] ^= 0xFF;
    CHECK_FAILS(tconv_idx_parse(gz, gz_n, &t, NULL), TCONV_BAD_FILE);
  }
  free(gz);
  /* One byte more inside the stream than the header declares. */
  raw[n + 60] = 1;
  gz = gzip_bytes(raw, n + 61, &gz_n);
  CHECK_FAILS(tconv_idx_parse(gz, gz_n, &t, NULL), TCONV_BAD_FILE);
  free(gz);
  /* A gzip'd header declaring 500,000 x 28 x 28 bytes (392 MB) in a tiny stream: refused without
   * allocating it (deflate cannot expand more than ~1032:1). */
  const uint32_t huge[3] = {500000, 28, 28};
  n = idx_header(raw, 0x08, 3, huge);
  gz = gzip_bytes(raw, n, &gz_n);
  io_alloc_begin(-1);
  tconv_status st = tconv_idx_parse(gz, gz_n, &t, NULL);
  size_t peak = io_alloc.peak;
  io_alloc_end();
  CHECK_STATUS(st, TCONV_BAD_FILE);
  CHECK_MSG(peak < (1u << 20), "peak %zu bytes", peak);
  free(gz);
}
#endif

TEST(idx_bundled_mnist_digits_are_real) {
  tconv_tensor img, lab;
  uint8_t type = 0;
  tconv_status st = tconv_idx_load("data/mnist/t10k-images-idx3-ubyte.gz", &img, &type);
#ifndef TCONV_HAVE_ZLIB
  CHECK_STATUS(st, TCONV_UNSUPPORTED);
  return;
#endif
  CHECK_OK(st);
  CHECK(type == 0x08 && img.rank == 3 && img.shape[0] == 1000 && img.shape[1] == 28 &&
        img.shape[2] == 28);
  CHECK_OK(tconv_idx_load("data/mnist/t10k-labels-idx1-ubyte.gz", &lab, NULL));
  CHECK(lab.rank == 1 && lab.shape[0] == 1000);
  /* Real MNIST: mean intensity about 33/255, border pixels blank, all ten labels present. */
  double sum = 0, border = 0;
  for (size_t i = 0; img.data && i < 1000 * 784; i++) {
    sum += img.data[i];
    size_t r = (i % 784) / 28, c = i % 28;
    if (r == 0 || c == 0) border += img.data[i];
  }
  CHECK_MSG(sum / (1000 * 784) > 25 && sum / (1000 * 784) < 45, "mean %g", sum / (1000 * 784));
  CHECK(border == 0);
  int seen[10] = {0};
  for (size_t i = 0; lab.data && i < 1000; i++)
    if (lab.data[i] >= 0 && lab.data[i] <= 9) seen[(int)lab.data[i]]++;
  for (int d = 0; d < 10; d++) CHECK_MSG(seen[d] > 50, "digit %d: %d items", d, seen[d]);
  tconv_tensor_free(&img);
  tconv_tensor_free(&lab);
}

TEST(idx_fashion_mnist_from_debian_if_installed) {
  const char *path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "  (dataset-fashion-mnist not installed: skipped)\n");
    return;
  }
  tconv_tensor t;
  CHECK_OK(tconv_idx_load(path, &t, NULL));
  CHECK(t.rank == 3 && t.shape[0] == 10000 && t.shape[1] == 28 && t.shape[2] == 28);
  float mx = 0;
  for (size_t i = 0; t.data && i < 10000 * 784; i++) mx = fmaxf(mx, t.data[i]);
  CHECK(mx == 255);
  tconv_tensor_free(&t);
}

/* A loader's message is "<path>: <parser's message>", the path once (the prefix used to be formatted
 * from the buffer it was written into, which repeated it until the buffer was full). */
TEST(idx_load_error_names_the_file_once) {
  const char *path = io_temp("bad-idx3-ubyte");
  static const unsigned char junk[6] = {1, 2, 3, 4, 5, 6};
  CHECK(io_spit(path, junk, sizeof junk));
  tconv_tensor t;
  CHECK_FAILS(tconv_idx_load(path, &t, NULL), TCONV_BAD_FILE);
  const char *msg = tconv_last_error();
  size_t n = strlen(path);
  CHECK_MSG(strncmp(msg, path, n) == 0 && strncmp(msg + n, ": IDX", 5) == 0 &&
                strstr(msg + n, path) == NULL,
            "message: %s", msg);
}
