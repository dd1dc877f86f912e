/* JPEG through libjpeg.  libjpeg's default error manager prints and calls exit(); ours formats
 * the message and longjmps back, and treats warnings (a truncated or corrupt stream, which
 * libjpeg would otherwise fill with gray) as errors.  Sizes are checked after the header and
 * before decompression starts; a progress monitor stops streams with absurd scan counts (a
 * progressive JPEG can hold thousands of tiny scans, each a full pass). */
#include "io/image.h"

#ifdef TCONV_HAVE_JPEG
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define JPEG_MAX_SCANS 1000

typedef struct jpeg_ctx {
  struct jpeg_error_mgr err; /* first: libjpeg hands us its address as cinfo->err */
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  tconv_status status;
  char msg[JMSG_LENGTH_MAX];
  struct jpeg_decompress_struct d;
  struct jpeg_compress_struct e;
  const tconv_image *in;
  tconv_image *out;
  unsigned char *row;
  unsigned char *mem; /* encode: libjpeg's output buffer (malloc'd by libjpeg) */
  unsigned long mem_size;
} jpeg_ctx;

static void jpeg_fail(j_common_ptr cinfo, tconv_status status) {
  jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
  if (c->status == TCONV_OK) {
    c->status = status;
    cinfo->err->format_message(cinfo, c->msg);
  }
  longjmp(c->jump, 1);
}
static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_fail(cinfo, cinfo->err->msg_code == JERR_OUT_OF_MEMORY ? TCONV_OUT_OF_MEMORY
                                                               : TCONV_BAD_FILE);
}
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo, TCONV_BAD_FILE); /* a warning: corrupt or truncated data */
}
static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }
static void jpeg_on_progress(j_common_ptr cinfo) {
  jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
  if (cinfo->is_decompressor && c->d.input_scan_number > JPEG_MAX_SCANS) {
    c->status = TCONV_LIMIT_EXCEEDED;
    snprintf(c->msg, sizeof c->msg, "more than %d scans", JPEG_MAX_SCANS);
    longjmp(c->jump, 1);
  }
}

static void jpeg_ctx_init(jpeg_ctx *c) {
  jpeg_std_error(&c->err);
  c->err.error_exit = jpeg_on_error;
  c->err.emit_message = jpeg_on_message;
  c->err.output_message = jpeg_on_output;
  c->progress.progress_monitor = jpeg_on_progress;
  c->status = TCONV_OK;
}

static tconv_status jpeg_decode_run(jpeg_ctx *c, const unsigned char *bytes, size_t size) {
  if (setjmp(c->jump)) return c->status;
  c->d.err = &c->err;
  jpeg_create_decompress(&c->d);
  c->d.progress = &c->progress;
  jpeg_mem_src(&c->d, bytes, (unsigned long)size);
  jpeg_read_header(&c->d, TRUE);
  size_t channels;
  switch (c->d.jpeg_color_space) {
  case JCS_GRAYSCALE:
    c->d.out_color_space = JCS_GRAYSCALE;
    channels = 1;
    break;
  case JCS_YCbCr:
  case JCS_RGB:
    c->d.out_color_space = JCS_RGB;
    channels = 3;
    break;
  default:
    return tconv_error(TCONV_UNSUPPORTED, "JPEG: color space %d (CMYK/YCCK) is not supported",
                       (int)c->d.jpeg_color_space);
  }
  tconv_status st = tconv_image_check_size(c->d.image_width, c->d.image_height, channels, "JPEG");
  if (st != TCONV_OK) return st;
  jpeg_start_decompress(&c->d);
  if ((size_t)c->d.output_components != channels || c->d.output_width != c->d.image_width ||
      c->d.output_height != c->d.image_height)
    return tconv_error(TCONV_BAD_FILE, "JPEG: unexpected output layout");
  size_t w = c->d.output_width, h = c->d.output_height;
  st = tconv_image_alloc(c->out, w, h, channels, 8);
  if (st != TCONV_OK) return st;
  c->row = tconv_alloc(w * channels);
  if (c->row == NULL) return tconv_error(TCONV_OUT_OF_MEMORY, "JPEG: cannot allocate a row");
  float *dst = c->out->data;
  while (c->d.output_scanline < c->d.output_height) {
    JSAMPROW rows[1] = {c->row};
    if (jpeg_read_scanlines(&c->d, rows, 1) != 1)
      return tconv_error(TCONV_BAD_FILE, "JPEG: no scanline returned");
    for (size_t i = 0; i < w * channels; i++) dst[i] = c->row[i] / 255.0f;
    dst += w * channels;
  }
  jpeg_finish_decompress(&c->d);
  return TCONV_OK;
}

tconv_status tconv_jpeg_decode(const unsigned char *bytes, size_t size, tconv_image *out) {
  jpeg_ctx *c = tconv_alloc_zeroed(sizeof *c); /* jmp_buf and two codec structs: off the stack */
  RETURN_IF(c == NULL, TCONV_OUT_OF_MEMORY, "JPEG: out of memory");
  jpeg_ctx_init(c);
  c->out = out;
  tconv_status st = jpeg_decode_run(c, bytes, size);
  if (st != TCONV_OK && c->msg[0] != '\0') st = tconv_error(st, "JPEG: %s", c->msg);
  jpeg_destroy_decompress(&c->d);
  tconv_dealloc(c->row);
  tconv_dealloc(c);
  if (st != TCONV_OK) tconv_image_free(out);
  return st;
}

static tconv_status jpeg_encode_run(jpeg_ctx *c, int quality) {
  if (setjmp(c->jump)) return c->status;
  const tconv_image *img = c->in;
  c->e.err = &c->err;
  jpeg_create_compress(&c->e);
  jpeg_mem_dest(&c->e, &c->mem, &c->mem_size);
  c->e.image_width = (JDIMENSION)img->width;
  c->e.image_height = (JDIMENSION)img->height;
  c->e.input_components = (int)img->channels;
  c->e.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c->e);
  jpeg_set_quality(&c->e, quality, TRUE);
  jpeg_start_compress(&c->e, TRUE);
  size_t n = img->width * img->channels;
  const float *src = img->data;
  while (c->e.next_scanline < c->e.image_height) {
    for (size_t i = 0; i < n; i++) c->row[i] = (unsigned char)tconv_image_quantize(src[i], 255);
    JSAMPROW rows[1] = {c->row};
    jpeg_write_scanlines(&c->e, rows, 1);
    src += n;
  }
  jpeg_finish_compress(&c->e);
  return TCONV_OK;
}

tconv_status tconv_jpeg_write_fd(const tconv_image *img, int quality, int fd) {
  jpeg_ctx *c = tconv_alloc_zeroed(sizeof *c);
  RETURN_IF(c == NULL, TCONV_OUT_OF_MEMORY, "JPEG: out of memory");
  jpeg_ctx_init(c);
  c->in = img;
  c->row = tconv_alloc(img->width * img->channels);
  tconv_status st;
  if (c->row == NULL)
    st = tconv_error(TCONV_OUT_OF_MEMORY, "JPEG: cannot allocate a row");
  else {
    st = jpeg_encode_run(c, quality);
    if (st != TCONV_OK && c->msg[0] != '\0') st = tconv_error(st, "JPEG: %s", c->msg);
  }
  if (st == TCONV_OK) {
    int err = tconv_write_all(fd, c->mem, c->mem_size);
    if (err != 0) st = tconv_error(TCONV_IO_ERROR, "JPEG: write failed: %s", strerror(err));
  }
  jpeg_destroy_compress(&c->e);
  free(c->mem); /* allocated by libjpeg's memory destination with malloc */
  tconv_dealloc(c->row);
  tconv_dealloc(c);
  return st;
}
#endif /* TCONV_HAVE_JPEG */
