/* PNG and JPEG I/O: exact round trips at 8 and 16 bits for 1..4 channels, libpng's other layouts
 * (palette + tRNS, 2-bit gray, interlaced) written by libpng itself, and hostile files: every
 * truncation, a flipped CRC, headers declaring huge images (rejected before any big allocation),
 * allocation failures at every site. */
#include "io_test.h"

#ifdef TCONV_HAVE_PNG
#include <png.h>
#include <zlib.h>

/* An image with every sample on the grid of its bit depth, so a round trip must be exact. */
static void fill_levels(tconv_image *img, unsigned long long seed) {
  unsigned maxval = img->bit_depth == 16 ? 65535u : 255u;
  size_t n = img->width * img->height * img->channels;
  for (size_t i = 0; i < n; i++)
    img->data[i] = (float)(test_rand_u64(&seed) % (maxval + 1)) / (float)maxval;
}

TEST(image_png_round_trip_all_layouts) {
  tconv_image img = {0}, back = {0};
  for (int depth = 8; depth <= 16; depth += 8)
    for (size_t c = 1; c <= 4; c++) {
      REQUIRE_OK(tconv_image_alloc(&img, 7, 5, c, depth));
      fill_levels(&img, 100 + c + (size_t)depth);
      const char *path = io_temp("rt.png");
      /* a failed save keeps the previous round's file: stop rather than compare with it */
      REQUIRE_OK(tconv_image_save(path, &img));
      REQUIRE_OK(tconv_image_load(path, &back));
      CHECK(back.width == 7 && back.height == 5 && back.channels == c && back.bit_depth == depth);
      if (back.data != NULL) {
        size_t bad = 0;
        for (size_t i = 0; i < 7 * 5 * c; i++) bad += back.data[i] != img.data[i];
        CHECK_MSG(bad == 0, "%d-bit %zu channels: %zu samples differ", depth, c, bad);
      }
      tconv_image_free(&img);
      tconv_image_free(&back);
    }
done:
  tconv_image_free(&img);
  tconv_image_free(&back);
}

TEST(image_png_quantizes_with_rounding_and_clamping) {
  tconv_image img, back = {0};
  REQUIRE_OK(tconv_image_alloc(&img, 6, 1, 1, 8));
  const float in[6] = {-0.5f, 0.49f / 255, 0.51f / 255, 254.5f / 255, 7.0f, NAN};
  const float want[6] = {0, 0, 1, 255, 255, 0};
  memcpy(img.data, in, sizeof in);
  REQUIRE_OK(tconv_image_save(io_temp("q.png"), &img));
  REQUIRE_OK(tconv_image_load(io_temp("q.png"), &back));
  for (int i = 0; i < 6 && back.data; i++) CHECK_NEAR(back.data[i] * 255.0f, want[i], 1e-3);
done:
  tconv_image_free(&img);
  tconv_image_free(&back);
}

/* Writes a PNG through libpng directly: layouts tconv's writer never produces. */
static bool write_raw_png(const char *path, unsigned w, unsigned h, int depth, int color,
                          int interlace, const unsigned char *rows_data, size_t rowbytes,
                          const png_color *palette, int npal, const unsigned char *trns,
                          int ntrns) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    fclose(f);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, npal);
  if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
  png_write_info(png, info);
  int passes = png_set_interlace_handling(png);
  for (int p = 0; p < passes; p++)
    for (unsigned y = 0; y < h; y++) png_write_row(png, rows_data + y * rowbytes);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return fclose(f) == 0;
}

TEST(image_png_palette_trns_low_bit_gray_interlaced) {
  /* 4x2 palette image, 8-bit indices; entry 1 half transparent. */
  const png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  const unsigned char trns[2] = {255, 128};
  const unsigned char idx[8] = {0, 1, 2, 0, 2, 1, 0, 1};
  const char *path = io_temp("pal.png");
  CHECK(write_raw_png(path, 4, 2, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, idx, 4, pal, 3,
                      trns, 2));
  tconv_image img;
  CHECK_OK(tconv_image_load(path, &img));
  CHECK(img.channels == 4 && img.bit_depth == 8 && img.width == 4 && img.height == 2);
  for (size_t i = 0; img.data && i < 8; i++) {
    const png_color *p = &pal[idx[i]];
    CHECK_NEAR(img.data[4 * i + 0] * 255, p->red, 1e-3);
    CHECK_NEAR(img.data[4 * i + 1] * 255, p->green, 1e-3);
    CHECK_NEAR(img.data[4 * i + 2] * 255, p->blue, 1e-3);
    CHECK_NEAR(img.data[4 * i + 3] * 255, idx[i] < 2 ? trns[idx[i]] : 255, 1e-3);
  }
  tconv_image_free(&img);

  /* 2-bit gray: levels 0..3 expand to 0, 85, 170, 255. */
  const unsigned char g2[1] = {0x1B}; /* 00 01 10 11 */
  CHECK(write_raw_png(path, 4, 1, 2, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g2, 1, NULL, 0,
                      NULL, 0));
  CHECK_OK(tconv_image_load(path, &img));
  CHECK(img.channels == 1 && img.bit_depth == 8);
  for (int i = 0; img.data && i < 4; i++) CHECK_NEAR(img.data[i] * 255, 85 * i, 1e-3);
  tconv_image_free(&img);

  /* Interlaced 16-bit RGB, 9x7 (every Adam7 pass non-empty). */
  unsigned char rgb16[7 * 9 * 6];
  for (size_t i = 0; i < sizeof rgb16; i++) rgb16[i] = (unsigned char)(i * 37 + 11);
  CHECK(write_raw_png(path, 9, 7, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, rgb16, 9 * 6, NULL,
                      0, NULL, 0));
  CHECK_OK(tconv_image_load(path, &img));
  CHECK(img.channels == 3 && img.bit_depth == 16 && img.width == 9 && img.height == 7);
  for (size_t i = 0; img.data && i < 9 * 7 * 3; i++)
    CHECK_NEAR(img.data[i] * 65535.0, (rgb16[2 * i] << 8) | rgb16[2 * i + 1], 1e-2);
  tconv_image_free(&img);
}

static unsigned char *small_png(size_t *size) {
  tconv_image img;
  if (tconv_image_alloc(&img, 16, 16, 3, 8) != TCONV_OK) return NULL;
  fill_levels(&img, 5);
  tconv_status st = tconv_image_save(io_temp("small.png"), &img);
  tconv_image_free(&img);
  return st == TCONV_OK ? io_slurp(io_temp("small.png"), size) : NULL;
}

TEST(image_png_every_truncation_and_bad_crc_rejected) {
  size_t size = 0;
  unsigned char *png = small_png(&size);
  CHECK(png != NULL && size > 100);
  size_t failures = 0;
  for (size_t n = 0; png && n < size; n++) {
    tconv_image img;
    tconv_status st = tconv_image_decode(png, n, &img);
    failures += st != TCONV_OK;
    CHECK_MSG(st == TCONV_BAD_FILE, "prefix of %zu bytes gave %s", n, tconv_status_string(st));
    CHECK(img.data == NULL);
  }
  CHECK(failures == size);
  /* A flipped bit inside IDAT: libpng's CRC check (kept at its default) refuses it. */
  if (png) {
    png[size / 2] ^= 0x10;
    tconv_image img;
    CHECK_FAILS(tconv_image_decode(png, size, &img), TCONV_BAD_FILE);
  }
  free(png);
  tconv_image img;
  CHECK_FAILS(tconv_image_decode("GIF89a....", 10, &img), TCONV_BAD_FILE);
  CHECK_FAILS(tconv_image_load(io_temp("no-such.png"), &img), TCONV_IO_ERROR);
}

/* A PNG whose IHDR declares w x h (correct CRC) followed by a tiny IDAT and IEND. */
static size_t huge_png(unsigned char *out, uint32_t w, uint32_t h) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  unsigned char ihdr[17] = {'I', 'H', 'D', 'R', (unsigned char)(w >> 24), (unsigned char)(w >> 16),
                            (unsigned char)(w >> 8), (unsigned char)w, (unsigned char)(h >> 24),
                            (unsigned char)(h >> 16), (unsigned char)(h >> 8), (unsigned char)h,
                            8, 2, 0, 0, 0};
  size_t n = 0;
  memcpy(out, sig, 8), n += 8;
  const unsigned char len[4] = {0, 0, 0, 13};
  memcpy(out + n, len, 4), n += 4;
  memcpy(out + n, ihdr, 17), n += 17;
  uLong crc = crc32(0, ihdr, 17);
  for (int i = 3; i >= 0; i--) out[n++] = (unsigned char)(crc >> (8 * i));
  static const unsigned char tail[] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  memcpy(out + n, tail, sizeof tail), n += sizeof tail;
  return n;
}

TEST(image_png_huge_headers_rejected_before_allocating) {
  unsigned char buf[64];
  const uint32_t dims[][2] = {{100000, 100000}, {1000001, 1}, {0x7fffffff, 0x7fffffff}, {0, 5}};
  for (size_t k = 0; k < 4; k++) {
    size_t n = huge_png(buf, dims[k][0], dims[k][1]);
    tconv_image img;
    io_alloc_begin(-1);
    tconv_status st = tconv_image_decode(buf, n, &img);
    size_t peak = io_alloc.peak;
    long live = io_alloc.live;
    io_alloc_end();
    CHECK_MSG(st == TCONV_LIMIT_EXCEEDED || st == TCONV_BAD_FILE, "%ux%u gave %s",
              dims[k][0], dims[k][1], tconv_status_string(st));
    CHECK_MSG(peak < (1u << 20), "%ux%u: peak allocation %zu bytes", dims[k][0], dims[k][1],
              peak);
    CHECK(live == 0);
  }
  /* 100000 x 100000 is above the pixel limit specifically. */
  size_t n = huge_png(buf, 100000, 100000);
  tconv_image img;
  CHECK_FAILS(tconv_image_decode(buf, n, &img), TCONV_LIMIT_EXCEEDED);
  /* The process limit applies: a 16x16 image against a 100-pixel budget. */
  size_t size = 0;
  unsigned char *png = small_png(&size);
  tconv_limits saved = tconv_get_limits(), lim = saved;
  lim.max_image_pixels = 100;
  tconv_set_limits(&lim);
  CHECK_FAILS(tconv_image_decode(png, size, &img), TCONV_LIMIT_EXCEEDED);
  tconv_set_limits(&saved);
  CHECK_OK(tconv_image_decode(png, size, &img));
  tconv_image_free(&img);
  free(png);
}

/* Fuzz finding png-1: a 177-byte file (10x10 RGB, then a damaged ancillary chunk) made libpng
 * ask for 687 MB inside png_read_info, past png_set_chunk_malloc_max.  The allocation hook
 * refuses blocks no valid decode needs; the file is then a clean error, with little memory. */
TEST(image_png_hostile_chunk_allocates_little) {
  static const unsigned char bytes[] = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
      0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0a, 0x08, 0x02, 0x00, 0x00, 0x00, 0x02, 0x50, 0x58,
      0xea, 0x00, 0x00, 0x00, 0x09, 0x70, 0x48, 0x59, 0x73, 0x00, 0x00, 0x0b, 0x13, 0x00, 0x00, 0x0b,
      0x13, 0x01, 0x00, 0x9a, 0x9c, 0x18, 0x00, 0x00, 0x00, 0x07, 0x74, 0x49, 0x4d, 0x45, 0x07, 0xdd,
      0x02, 0x01, 0x12, 0x39, 0x1d, 0xd2, 0x28, 0x07, 0x00, 0x29, 0x00, 0x00, 0x19, 0x74, 0x45, 0x58,
      0x74, 0x43, 0x6f, 0x6d, 0x6d, 0x65, 0x6e, 0x74, 0x00, 0x43, 0x72, 0x65, 0x61, 0x74, 0x65, 0x64,
      0x20, 0x77, 0x69, 0x74, 0x68, 0x20, 0x47, 0x49, 0x4d, 0x50, 0x57, 0x81, 0x0e, 0x17, 0x00, 0x00,
      0x00, 0x34, 0x49, 0x44, 0x41, 0x54, 0x18, 0xd3, 0x63, 0x60, 0xc0, 0x0b, 0x18, 0x19, 0x18, 0x18,
      0x26, 0x28, 0x2a, 0xc2, 0xf9, 0xf9, 0xf7, 0xee, 0x21, 0xe4, 0x18, 0x19, 0x99, 0xf0, 0xeb, 0xa6,
      0x4c, 0x9a, 0x85, 0x81, 0x81, 0xe1, 0x60, 0xf9, 0x6b, 0x38, 0xbf, 0xa6, 0x78, 0x26, 0xfd, 0x0c,
      0x27, 0x20, 0x4d, 0x00, 0x00, 0x00, 0x3b, 0x87, 0x06, 0xbd, 0xdc, 0x4e, 0x44, 0xae, 0x42, 0x60,
      0x82,
  };
  tconv_image img;
  io_alloc_begin(-1);
  tconv_status st = tconv_image_decode(bytes, sizeof bytes, &img);
  size_t peak = io_alloc.peak;
  long live = io_alloc.live;
  io_alloc_end();
  if (st == TCONV_OK) tconv_image_free(&img);
  CHECK_MSG(st == TCONV_BAD_FILE, "gave %s", tconv_status_string(st));
  CHECK_MSG(peak < (18u << 20), "peak allocation %zu bytes", peak);
  CHECK(live == 0);
}

typedef struct png_case { const unsigned char *bytes; size_t size; } png_case;
static tconv_status decode_op(const void *ctx) {
  const png_case *c = ctx;
  tconv_image img;
  tconv_status st = tconv_image_decode(c->bytes, c->size, &img);
  tconv_image_free(&img);
  return st;
}
static tconv_status encode_op(const void *ctx) {
  tconv_image img;
  tconv_status st = tconv_image_alloc(&img, 5, 3, ctx ? 4 : 1, 16);
  if (st == TCONV_OK) st = tconv_image_save(io_temp(ctx ? "oom.jpg" : "oom.png"), &img);
  tconv_image_free(&img);
  return st;
}

TEST(image_allocation_failures_everywhere) {
  size_t size = 0;
  unsigned char *png = small_png(&size);
  png_case c = {png, size};
  CHECK(io_sweep_failures(decode_op, &c, "png decode") > 3); /* libpng's own buffers included */
  CHECK(io_sweep_failures(encode_op, NULL, "png encode") > 3);
  free(png);
}
#endif /* TCONV_HAVE_PNG */

#ifdef TCONV_HAVE_JPEG
TEST(image_jpeg_round_trip_and_hostile_streams) {
  tconv_image img = {0}, back = {0}, rgba = {0};
  unsigned char *jpg = NULL;
  for (size_t c = 1; c <= 3; c += 2) {
    REQUIRE_OK(tconv_image_alloc(&img, 24, 16, c, 8));
    for (size_t y = 0; y < 16; y++) /* smooth: JPEG keeps it within a few levels */
      for (size_t x = 0; x < 24; x++)
        for (size_t k = 0; k < c; k++)
          img.data[(y * 24 + x) * c + k] = (float)(0.2 + 0.6 * (x + y + 4.0 * k) / 46.0);
    const char *path = io_temp("rt.JPEG");
    /* a failed save keeps the 1-channel file of the first round: stop rather than reload it */
    REQUIRE_OK(tconv_image_save(path, &img));
    REQUIRE_OK(tconv_image_load(path, &back));
    CHECK(back.width == 24 && back.height == 16 && back.channels == c && back.bit_depth == 8);
    double worst = 0;
    for (size_t i = 0; back.data && i < 24 * 16 * c; i++)
      worst = fmax(worst, fabs(back.data[i] - img.data[i]));
    CHECK_MSG(worst < 0.03, "JPEG %zu channels: max error %g", c, worst);
    tconv_image_free(&back);

    /* Every truncation of the stream is an error (libjpeg would pad it with gray). */
    size_t size = 0;
    jpg = io_slurp(path, &size);
    for (size_t n = 3; jpg && n < size; n += 7) {
      tconv_status st = tconv_image_decode(jpg, n, &back);
      CHECK_MSG(st == TCONV_BAD_FILE, "JPEG prefix %zu gave %s", n, tconv_status_string(st));
    }
    /* A header declaring 65500 x 65500 (SOF0 height/width patched): refused before decoding. */
    for (size_t i = 2; jpg && i + 8 < size; i++)
      if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
        jpg[i + 5] = jpg[i + 7] = 0xFF;
        jpg[i + 6] = jpg[i + 8] = 0xDC;
        io_alloc_begin(-1);
        tconv_status st = tconv_image_decode(jpg, size, &back);
        size_t peak = io_alloc.peak;
        io_alloc_end();
        CHECK_STATUS(st, TCONV_LIMIT_EXCEEDED);
        CHECK(peak < (1u << 20));
        break;
      }
    free(jpg);
    jpg = NULL;
    tconv_image_free(&img);
  }
  REQUIRE_OK(tconv_image_alloc(&rgba, 2, 2, 4, 8));
  CHECK_FAILS(tconv_image_save(io_temp("a.jpg"), &rgba), TCONV_INVALID_ARGUMENT);
done:
  free(jpg);
  tconv_image_free(&img);
  tconv_image_free(&back);
  tconv_image_free(&rgba);
}
#endif

TEST(image_alloc_rejects_bad_arguments) {
  tconv_image img;
  CHECK_FAILS(tconv_image_alloc(&img, 4, 4, 5, 8), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_image_alloc(&img, 4, 4, 3, 12), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_image_alloc(&img, 0, 4, 3, 8), TCONV_INVALID_ARGUMENT);
  CHECK_FAILS(tconv_image_alloc(&img, 70000, 70000, 3, 8), TCONV_LIMIT_EXCEEDED);
  CHECK(img.data == NULL);
  tconv_image_free(&img); /* safe on an empty image */
}

/* The loader names the file once in front of the decoder's message. */
TEST(image_load_error_names_the_file_once) {
  const char *path = io_temp("junk.png");
  CHECK(io_spit(path, "not an image", 12));
  tconv_image img;
  CHECK_FAILS(tconv_image_load(path, &img), TCONV_BAD_FILE);
  const char *msg = tconv_last_error();
  size_t n = strlen(path);
  CHECK_MSG(strncmp(msg, path, n) == 0 && strncmp(msg + n, ": not a PNG", 11) == 0 &&
                strstr(msg + n, path) == NULL,
            "message: %s", msg);
}
