/* Fuzz target: JPEG decoding (libjpeg behind tconv_image_decode, with our error manager).  Any
 * input gives a
 * status; an image that decodes has a consistent shape and every sample in [0, 1]. */
#include <stdlib.h>

#include "tconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int limited;
  if (!limited) { /* a pixel budget like libpng's own harness, so each run stays fast */
    tconv_limits lim = tconv_get_limits();
    /* 2^20 (16 MiB of floats at most): with 2^22, ASan's quarantine and size-class caches
     * once grew a 30-minute png campaign's fork job past its 2.5 GB RSS limit (no single
     * input reproduces it; peak RSS 1.3 GB in a 60 s in-process run) */
    lim.max_image_pixels = (uint64_t)1 << 20;
    tconv_set_limits(&lim);
    limited = 1;
  }
  static const uint8_t sig[3] = {0xFF, 0xD8, 0xFF};
  if (size < 3 || __builtin_memcmp(data, sig, 3) != 0) return 0; /* the PNG target covers PNG */
  tconv_image img;
  if (tconv_image_decode(data, size, &img) != TCONV_OK) {
    if (img.data != NULL) abort();
    return 0;
  }
  if (img.channels < 1 || img.channels > 4 || img.bit_depth != 8 || img.channels == 2 || img.channels == 4 ||
      img.width == 0 || img.height == 0)
    abort();
  for (size_t i = 0; i < img.width * img.height * img.channels; i++)
    if (!(img.data[i] >= 0.0f && img.data[i] <= 1.0f)) abort();
  tconv_image_free(&img);
  return 0;
}
