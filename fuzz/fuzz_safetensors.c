/* Fuzz target: safetensors parsing.  Any input gives a status; a file that parses must survive
 * write -> parse with its float tensors (F32/F64/F16/BF16, written back as F32), their names, data
 * order, shapes, float32 bits and __metadata__ unchanged. */
#include <stdlib.h>
#include <string.h>

#include "io/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tconv_weights w, floats, back;
  if (tconv_safetensors_parse(data, size, &w) != TCONV_OK) return 0;
  /* The writer stores float32 values only: keep the tensors that have them (borrowed). */
  memset(&floats, 0, sizeof floats);
  floats.items = calloc(w.count + 1, sizeof *floats.items);
  for (size_t i = 0; i < w.count; i++)
    if (w.items[i].value.data != NULL) floats.items[floats.count++] = w.items[i];
  unsigned char *enc;
  size_t enc_size;
  if (tconv_safetensors_encode(&floats, w.metadata, &enc, &enc_size) != TCONV_OK) abort();
  if (tconv_safetensors_parse(enc, enc_size, &back) != TCONV_OK) abort();
  if (back.count != floats.count) abort();
  if ((w.metadata == NULL) != (back.metadata == NULL) ||
      (w.metadata && strcmp(w.metadata, back.metadata) != 0))
    abort();
  for (size_t i = 0; i < back.count; i++) {
    const tconv_tensor *x = &floats.items[i].value, *y = &back.items[i].value;
    size_t n = tconv_tensor_numel(x);
    if (back.items[i].dtype != TCONV_DTYPE_FLOAT32 ||
        strcmp(floats.items[i].name, back.items[i].name) != 0 || x->rank != y->rank ||
        memcmp(x->shape, y->shape, x->rank * sizeof x->shape[0]) != 0 ||
        (n > 0 && memcmp(x->data, y->data, n * sizeof(float)) != 0))
      abort();
  }
  tconv_weights_free(&back);
  tconv_dealloc(enc);
  free(floats.items);
  tconv_weights_free(&w);
  return 0;
}
