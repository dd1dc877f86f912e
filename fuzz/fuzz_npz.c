/* Fuzz target: .npz (ZIP) parsing.  Any input gives a status; an archive that parses must survive
 * write -> parse unchanged (names, order, shapes, float32 bits). */
#include <stdlib.h>
#include <string.h>

#include "io/container.h"

static void check_same(const tconv_weights *a, const tconv_weights *b) {
  if (a->count != b->count) abort();
  for (size_t i = 0; i < a->count; i++) {
    const tconv_tensor *x = &a->items[i].value, *y = &b->items[i].value;
    size_t n = tconv_tensor_numel(x);
    if (strcmp(a->items[i].name, b->items[i].name) != 0 || x->rank != y->rank ||
        memcmp(x->shape, y->shape, x->rank * sizeof x->shape[0]) != 0 ||
        (n > 0 && memcmp(x->data, y->data, n * sizeof(float)) != 0))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tconv_weights w, back;
  if (tconv_npz_parse(data, size, &w) != TCONV_OK) return 0;
  unsigned char *enc;
  size_t enc_size;
  if (tconv_npz_encode(&w, &enc, &enc_size) != TCONV_OK) abort();
  if (tconv_npz_parse(enc, enc_size, &back) != TCONV_OK) abort();
  check_same(&w, &back);
  tconv_weights_free(&back);
  tconv_dealloc(enc);
  tconv_weights_free(&w);
  return 0;
}
