/* Fuzz target: TF checkpoint V2 bundles (.index table + one data shard), raw bytes, the design of
 * TF's load_checkpoint_fuzz.  Input: 4-byte little-endian index length L, then L bytes of .index,
 * then the data shard.  Any input gives a status; a bundle that parses must satisfy the reader's
 * contract: float tensors carry exactly numel values, others none, names are non-empty, and a
 * names-only read lists the same tensors with the same shapes. */
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  size_t len = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
               (size_t)data[3] << 24;
  if (len > size - 4) len = size - 4;
  const uint8_t *index = data + 4;
  const void *shards[1] = {index + len};
  size_t sizes[1] = {size - 4 - len};
  tconv_weights w, names;
  tconv_status st = tconv_tfckpt_parse(index, len, shards, sizes, 1, 0, &w);
  if (st != TCONV_OK) {
    if (w.count != 0 || w.items != NULL || tconv_last_error()[0] == 0) abort();
    return 0;
  }
  if (tconv_tfckpt_parse(index, len, NULL, NULL, 0, TCONV_LOAD_NO_DATA, &names) != TCONV_OK) abort();
  if (names.count != w.count) abort();
  for (size_t i = 0; i < w.count; i++) {
    const tconv_named_tensor *t = &w.items[i];
    bool is_float = t->dtype == TCONV_DTYPE_FLOAT32 || t->dtype == TCONV_DTYPE_FLOAT64 ||
                    t->dtype == TCONV_DTYPE_FLOAT16 || t->dtype == TCONV_DTYPE_BFLOAT16;
    if (t->name[0] == 0 || is_float != (t->value.data != NULL)) abort();
    size_t n = tconv_tensor_numel(&t->value);
    volatile float sink = 0;
    for (size_t k = 0; t->value.data && k < n; k++) sink += t->value.data[k]; /* ASan: in bounds */
    (void)sink;
    if (strcmp(t->name, names.items[i].name) != 0 || t->value.rank != names.items[i].value.rank ||
        memcmp(t->value.shape, names.items[i].value.shape, t->value.rank * sizeof(size_t)) != 0)
      abort();
  }
  tconv_weights_free(&names);
  tconv_weights_free(&w);
  return 0;
}
