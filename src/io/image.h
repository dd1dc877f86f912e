/* Private pieces shared by the PNG (image.c) and JPEG (image_jpeg.c) codecs. */
#ifndef TCONV_IO_IMAGE_H
#define TCONV_IO_IMAGE_H

#include "core/internal.h"

/* Each side of a decoded image is at most this (libpng's own default user limit). */
#define TCONV_IMAGE_MAX_SIDE 1000000u

/* Checks width x height x channels against the limits before any pixel buffer exists. */
tconv_status tconv_image_check_size(size_t width, size_t height, size_t channels,
                                    const char *what);
/* One sample quantized to [0, maxval] with rounding; NaN gives 0. */
static inline unsigned tconv_image_quantize(float v, unsigned maxval) {
  if (!(v > 0.0f)) return 0; /* also NaN */
  if (v >= 1.0f) return maxval;
  return (unsigned)(v * (float)maxval + 0.5f);
}

tconv_status tconv_jpeg_decode(const unsigned char *bytes, size_t size, tconv_image *out);
tconv_status tconv_jpeg_write_fd(const tconv_image *img, int quality, int fd);

#endif
