/* Fuzz target: MNIST IDX parsing, raw and gzip'd.  Any input gives a status; a tensor that parses
 * has rank 1..4 and exactly the element count its shape says. */
#include <stdlib.h>

#include "tconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tconv_tensor t;
  uint8_t type = 0;
  if (tconv_idx_parse(data, size, &t, &type) != TCONV_OK) {
    if (t.data != NULL) abort();
    return 0;
  }
  if (t.rank < 1 || t.rank > 4 || t.data == NULL) abort();
  volatile float sink = 0;
  size_t n = tconv_tensor_numel(&t);
  for (size_t i = 0; i < n; i++) sink += t.data[i]; /* every element readable (ASan) */
  (void)sink;
  tconv_tensor_free(&t);
  return 0;
}
