/* Images: the tconv_image type, PNG reading and writing through libpng, and the dispatch between
 * PNG and JPEG (image_jpeg.c).
 *
 * PNG files are hostile input.  libpng is driven through its low-level API with explicit
 * transforms (the simplified png_image_* API had the D18 overflows), with our own error handler
 * (setjmp/longjmp: libpng's default prints and aborts), our allocator (so allocation-failure tests
 * reach libpng's buffers too), user limits set before the header is read, and our own check of
 * width * height and of the row size after the transforms, before any pixel buffer exists. */
#include "io/image.h"
#include "io/formats.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifdef TCONV_HAVE_PNG
#include <png.h>
#include <setjmp.h>
#endif

/* Files above this are refused before reading them (a 2^28-pixel 16-bit RGBA PNG compresses to
 * far less). */
#define TCONV_IMAGE_MAX_FILE_BYTES ((uint64_t)1 << 31)

tconv_status tconv_image_check_size(size_t width, size_t height, size_t channels,
                                    const char *what) {
  RETURN_IF(width == 0 || height == 0, TCONV_BAD_FILE, "%s: empty image (%zux%zu)", what, width,
            height);
  RETURN_IF(width > TCONV_IMAGE_MAX_SIDE || height > TCONV_IMAGE_MAX_SIDE,
            TCONV_LIMIT_EXCEEDED, "%s: %zux%zu image, a side is above the limit of %u", what,
            width, height, TCONV_IMAGE_MAX_SIDE);
  size_t pixels;
  uint64_t cap = tconv_get_limits().max_image_pixels;
  RETURN_IF(tconv_mul_overflow(width, height, &pixels) || pixels > cap, TCONV_LIMIT_EXCEEDED,
            "%s: %zux%zu image, above the limit of %llu pixels", what, width, height,
            (unsigned long long)cap);
  size_t shape[3] = {height, width, channels};
  return tconv_check_shape(3, shape, sizeof(float), NULL, what);
}

tconv_status tconv_image_alloc(tconv_image *img, size_t width, size_t height, size_t channels,
                               int bit_depth) {
  RETURN_IF(img == NULL, TCONV_INVALID_ARGUMENT, "tconv_image_alloc: NULL image");
  memset(img, 0, sizeof *img);
  RETURN_IF(channels < 1 || channels > 4, TCONV_INVALID_ARGUMENT,
            "image channels must be 1..4, got %zu", channels);
  RETURN_IF(bit_depth != 8 && bit_depth != 16, TCONV_INVALID_ARGUMENT,
            "image bit depth must be 8 or 16, got %d", bit_depth);
  RETURN_IF(width == 0 || height == 0, TCONV_INVALID_ARGUMENT, "cannot make a %zux%zu image",
            width, height);
  RETURN_IF_ERROR(tconv_image_check_size(width, height, channels, "image"));
  size_t n = width * height * channels; /* checked by tconv_image_check_size */
  img->data = tconv_alloc_zeroed(n * sizeof(float));
  RETURN_IF(img->data == NULL, TCONV_OUT_OF_MEMORY, "cannot allocate a %zux%zux%zu image",
            height, width, channels);
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->bit_depth = bit_depth;
  return TCONV_OK;
}

void tconv_image_free(tconv_image *img) {
  if (img == NULL) return;
  tconv_dealloc(img->data);
  memset(img, 0, sizeof *img);
}

#ifdef TCONV_HAVE_PNG
/* Everything the decoder and encoder touch after setjmp lives here, outside the frame that calls
 * setjmp, so a longjmp never leaves it indeterminate. */
typedef struct png_ctx {
  png_structp png;
  png_infop info;
  const unsigned char *bytes; /* decode: input */
  size_t size, pos;
  int fd; /* encode: output */
  const tconv_image *in;
  tconv_image *out;
  unsigned char *buf; /* decode: the row (or whole interlaced image); encode: one row */
  png_bytep *rows;
  tconv_status status; /* reported when libpng calls the error handler */
  char msg[200];
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  if (c->status == TCONV_OK)
    c->status = strstr(msg, "user limit") || strstr(msg, "exceeds") ? TCONV_LIMIT_EXCEEDED
                                                                    : TCONV_BAD_FILE;
  snprintf(c->msg, sizeof c->msg, "%s", msg);
  png_longjmp(png, 1); /* never return: libpng would print and abort */
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* libpng's own blocks: row buffers (under 8 MB at TCONV_IMAGE_MAX_SIDE, 16-bit RGBA), chunk
 * buffers (8 MB, png_set_chunk_malloc_max) and small structs.  A larger request can only come
 * from a hostile header — a 177-byte file made Debian's libpng 1.6 ask for 687 MB inside
 * png_read_info (fuzz finding png-1) — so it is refused like a failed allocation, without
 * touching memory; libpng then skips the chunk or stops with an error (BAD_FILE). */
#define PNG_BLOCK_CAP ((png_alloc_size_t)17 << 20)

static png_voidp png_on_malloc(png_structp png, png_alloc_size_t n) {
  if (n > PNG_BLOCK_CAP) return NULL;
  void *p = tconv_alloc(n);
  if (p == NULL) {
    png_ctx *c = png_get_mem_ptr(png);
    if (c != NULL && c->status == TCONV_OK) c->status = TCONV_OUT_OF_MEMORY;
  }
  return p;
}
static void png_on_free(png_structp png, png_voidp p) {
  (void)png;
  tconv_dealloc(p);
}

static void png_on_read(png_structp png, png_bytep data, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->size - c->pos) png_error(png, "truncated PNG: the file ends early");
  memcpy(data, c->bytes + c->pos, n);
  c->pos += n;
}

static tconv_status png_decode_run(png_ctx *c) {
  if (setjmp(png_jmpbuf(c->png))) return c->status;
  png_set_read_fn(c->png, c, png_on_read);
  uint64_t cap = tconv_get_limits().max_image_pixels;
  uint32_t side = cap < TCONV_IMAGE_MAX_SIDE ? (uint32_t)cap : TCONV_IMAGE_MAX_SIDE;
  png_set_user_limits(c->png, side, side);
  png_set_chunk_cache_max(c->png, 128);
  png_set_chunk_malloc_max(c->png, 8000000);
  png_read_info(c->png, c->info);

  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
  tconv_status st = tconv_image_check_size(w, h, 4, "PNG");
  if (st != TCONV_OK) return st;
  /* Explicit transforms: every input becomes 8- or 16-bit gray, gray+alpha, RGB or RGBA. */
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
  if (png_get_valid(c->png, c->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(c->png);
  int passes = png_set_interlace_handling(c->png);
  png_read_update_info(c->png, c->info);

  size_t channels = png_get_channels(c->png, c->info);
  int out_depth = png_get_bit_depth(c->png, c->info);
  size_t rowbytes = png_get_rowbytes(c->png, c->info);
  if (channels < 1 || channels > 4 || (out_depth != 8 && out_depth != 16))
    return tconv_error(TCONV_BAD_FILE, "PNG: unexpected layout after transforms (%zu channels, "
                                       "%d bits)", channels, out_depth);
  size_t bps = (size_t)out_depth / 8;
  if (rowbytes != (size_t)w * channels * bps) /* fits: w <= 10^6, channels * bps <= 8 */
    return tconv_error(TCONV_BAD_FILE, "PNG: row size %zu does not match %ux%zu", rowbytes, w,
                       channels);
  st = tconv_image_alloc(c->out, w, h, channels, out_depth);
  if (st != TCONV_OK) return st;
  size_t rows_in_buf = passes > 1 ? h : 1, bufsize;
  if (tconv_mul_overflow(rowbytes, rows_in_buf, &bufsize))
    return tconv_error(TCONV_LIMIT_EXCEEDED, "PNG: %ux%u interlaced image too large", w, h);
  c->buf = tconv_alloc(bufsize);
  if (c->buf == NULL) return tconv_error(TCONV_OUT_OF_MEMORY, "PNG: cannot allocate %zu bytes",
                                         bufsize);
  if (passes > 1) { /* Adam7: every pass revisits every row, so hold the whole image. */
    c->rows = tconv_alloc(sizeof(png_bytep) * h);
    if (c->rows == NULL) return tconv_error(TCONV_OUT_OF_MEMORY, "PNG: out of memory");
    for (size_t y = 0; y < h; y++) c->rows[y] = c->buf + y * rowbytes;
    png_read_image(c->png, c->rows);
  }
  float *dst = c->out->data;
  const float maxval = bps == 2 ? 65535.0f : 255.0f; /* divide: k/255 exactly as users write it */
  for (size_t y = 0; y < h; y++) {
    const unsigned char *row = passes > 1 ? c->rows[y] : c->buf;
    if (passes <= 1) png_read_row(c->png, c->buf, NULL);
    size_t n = (size_t)w * channels;
    if (bps == 1)
      for (size_t i = 0; i < n; i++) dst[i] = row[i] / maxval;
    else /* PNG stores 16-bit samples big-endian */
      for (size_t i = 0; i < n; i++) dst[i] = (float)((row[2 * i] << 8) | row[2 * i + 1]) / maxval;
    dst += n;
  }
  png_read_end(c->png, NULL); /* checks the CRCs of the chunks after the image data */
  return TCONV_OK;
}

static tconv_status png_decode(const unsigned char *bytes, size_t size, tconv_image *out) {
  /* IHDR must be the first chunk; check its size here, since libpng's own limits are per side
   * and libpng reads up to the first IDAT before we see the header. */
  static const unsigned char ihdr[8] = {0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  if (size >= 24 && memcmp(bytes + 8, ihdr, 8) == 0) {
    uint32_t w = (uint32_t)bytes[16] << 24 | (uint32_t)bytes[17] << 16 | bytes[18] << 8 | bytes[19];
    uint32_t h = (uint32_t)bytes[20] << 24 | (uint32_t)bytes[21] << 16 | bytes[22] << 8 | bytes[23];
    if (w != 0 && h != 0) RETURN_IF_ERROR(tconv_image_check_size(w, h, 4, "PNG"));
  }
  png_ctx c = {.bytes = bytes, .size = size, .out = out, .status = TCONV_OK};
  c.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning, &c,
                                   png_on_malloc, png_on_free);
  if (c.png != NULL) c.info = png_create_info_struct(c.png);
  tconv_status st;
  if (c.png == NULL || c.info == NULL)
    st = tconv_error(TCONV_OUT_OF_MEMORY, "PNG: cannot create the decoder");
  else {
    st = png_decode_run(&c);
    if (st != TCONV_OK && c.msg[0] != '\0') /* the failure came from libpng's handler */
      st = tconv_error(st, "PNG: %s", c.msg);
  }
  png_destroy_read_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL, NULL);
  tconv_dealloc(c.rows);
  tconv_dealloc(c.buf);
  if (st != TCONV_OK) tconv_image_free(out);
  return st;
}

static void png_on_write(png_structp png, png_bytep data, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  int err = tconv_write_all(c->fd, data, n);
  if (err != 0) {
    c->status = TCONV_IO_ERROR;
    png_error(png, strerror(err));
  }
}
static void png_on_flush(png_structp png) { (void)png; }

static tconv_status png_encode_run(png_ctx *c) {
  if (setjmp(png_jmpbuf(c->png))) return c->status;
  const tconv_image *img = c->in;
  static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                     PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_write_fn(c->png, c, png_on_write, png_on_flush);
  png_set_IHDR(c->png, c->info, (png_uint_32)img->width, (png_uint_32)img->height,
               img->bit_depth, color_types[img->channels], PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(c->png, c->info);
  size_t n = img->width * img->channels;
  const float *src = img->data;
  for (size_t y = 0; y < img->height; y++, src += n) {
    if (img->bit_depth == 8)
      for (size_t i = 0; i < n; i++) c->buf[i] = (unsigned char)tconv_image_quantize(src[i], 255);
    else
      for (size_t i = 0; i < n; i++) {
        unsigned v = tconv_image_quantize(src[i], 65535);
        c->buf[2 * i] = (unsigned char)(v >> 8);
        c->buf[2 * i + 1] = (unsigned char)(v & 0xff);
      }
    png_write_row(c->png, c->buf);
  }
  png_write_end(c->png, NULL);
  return TCONV_OK;
}

static tconv_status png_write_fd(void *ctx, int fd) {
  const tconv_image *img = ctx;
  png_ctx c = {.fd = fd, .in = img, .status = TCONV_OK};
  size_t rowbytes = img->width * img->channels * (size_t)(img->bit_depth / 8);
  c.buf = tconv_alloc(rowbytes);
  RETURN_IF(c.buf == NULL, TCONV_OUT_OF_MEMORY, "PNG: cannot allocate a row");
  c.png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &c, png_on_error, png_on_warning, &c,
                                    png_on_malloc, png_on_free);
  if (c.png != NULL) c.info = png_create_info_struct(c.png);
  tconv_status st;
  if (c.png == NULL || c.info == NULL)
    st = tconv_error(TCONV_OUT_OF_MEMORY, "PNG: cannot create the encoder");
  else {
    st = png_encode_run(&c);
    if (st != TCONV_OK) st = tconv_error(st, "PNG: %s", c.msg);
  }
  png_destroy_write_struct(c.png ? &c.png : NULL, c.info ? &c.info : NULL);
  tconv_dealloc(c.buf);
  return st;
}
#endif /* TCONV_HAVE_PNG */

#ifdef TCONV_HAVE_JPEG
static tconv_status jpeg_write_cb(void *ctx, int fd) { return tconv_jpeg_write_fd(ctx, 95, fd); }
#endif

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

tconv_status tconv_image_decode(const void *bytes, size_t size, tconv_image *out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "tconv_image_decode: NULL output");
  memset(out, 0, sizeof *out);
  RETURN_IF(bytes == NULL && size > 0, TCONV_INVALID_ARGUMENT, "tconv_image_decode: NULL bytes");
  const unsigned char *b = bytes;
  if (size >= 8 && memcmp(b, png_signature, 8) == 0) {
#ifdef TCONV_HAVE_PNG
    return png_decode(b, size, out);
#else
    return tconv_error(TCONV_UNSUPPORTED, "PNG: this build has no libpng");
#endif
  }
  if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
#ifdef TCONV_HAVE_JPEG
    return tconv_jpeg_decode(b, size, out);
#else
    return tconv_error(TCONV_UNSUPPORTED, "JPEG: this build has no libjpeg");
#endif
  }
  return tconv_error(TCONV_BAD_FILE, "not a PNG or JPEG file (%zu bytes, no signature)", size);
}

tconv_status tconv_image_load(const char *path, tconv_image *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "tconv_image_load: NULL argument");
  memset(out, 0, sizeof *out);
  unsigned char *bytes = NULL;
  size_t size = 0;
  RETURN_IF_ERROR(tconv_read_file(path, TCONV_IMAGE_MAX_FILE_BYTES, &bytes, &size));
  tconv_status st = tconv_image_decode(bytes, size, out);
  tconv_dealloc(bytes);
  if (st != TCONV_OK) st = tconv_error_context(st, "%s", path);
  return st;
}

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

tconv_status tconv_image_save(const char *path, const tconv_image *img) {
  RETURN_IF(path == NULL || img == NULL || img->data == NULL, TCONV_INVALID_ARGUMENT,
            "tconv_image_save: NULL argument");
  RETURN_IF(img->width == 0 || img->height == 0 || img->width > TCONV_IMAGE_MAX_SIDE ||
                img->height > TCONV_IMAGE_MAX_SIDE,
            TCONV_INVALID_ARGUMENT, "%s: cannot write a %zux%zu image", path, img->width,
            img->height);
  RETURN_IF(img->channels < 1 || img->channels > 4, TCONV_INVALID_ARGUMENT,
            "%s: image channels must be 1..4, got %zu", path, img->channels);
  RETURN_IF(img->bit_depth != 8 && img->bit_depth != 16, TCONV_INVALID_ARGUMENT,
            "%s: image bit depth must be 8 or 16, got %d", path, img->bit_depth);
  if (ends_with_ci(path, ".jpg") || ends_with_ci(path, ".jpeg")) {
    RETURN_IF(img->channels != 1 && img->channels != 3, TCONV_INVALID_ARGUMENT,
              "%s: JPEG holds gray or RGB only (the image has %zu channels; write a .png to keep "
              "the alpha channel)", path, img->channels);
#ifdef TCONV_HAVE_JPEG
    return tconv_write_atomic(path, jpeg_write_cb, (void *)img);
#else
    return tconv_error(TCONV_UNSUPPORTED, "%s: this build has no libjpeg", path);
#endif
  }
#ifdef TCONV_HAVE_PNG
  return tconv_write_atomic(path, png_write_fd, (void *)img);
#else
  return tconv_error(TCONV_UNSUPPORTED, "%s: this build has no libpng", path);
#endif
}
