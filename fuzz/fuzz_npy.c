/* Fuzz target: .npy parsing.  Any input gives a status (never a crash or an over-read); an input
 * that parses must survive save -> parse unchanged (shape and float32 bits). */
#include <stdlib.h>
#include <string.h>

#include "io/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tconv_tensor t, back;
  if (tconv_npy_parse(data, size, &t) != TCONV_OK) return 0;
  unsigned char *enc;
  size_t enc_size;
  if (tconv_npy_encode(&t, &enc, &enc_size) != TCONV_OK) abort();
  if (tconv_npy_parse(enc, enc_size, &back) != TCONV_OK) abort();
  size_t n = tconv_tensor_numel(&t);
  if (back.rank != t.rank || memcmp(back.shape, t.shape, t.rank * sizeof t.shape[0]) != 0 ||
      (n > 0 && memcmp(back.data, t.data, n * sizeof(float)) != 0))
    abort();
  tconv_tensor_free(&back);
  tconv_dealloc(enc);
  tconv_tensor_free(&t);
  return 0;
}
