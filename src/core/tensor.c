/* Dense float32 tensors. */
#include "internal.h"

#include <string.h>

tconv_status tconv_tensor_alloc(tconv_tensor *t, size_t rank, const size_t *shape) {
  RETURN_IF(t == NULL || (rank > 0 && shape == NULL), TCONV_INVALID_ARGUMENT,
            "tensor_alloc: NULL argument");
  memset(t, 0, sizeof *t);
  size_t numel;
  RETURN_IF_ERROR(tconv_check_shape(rank, shape, sizeof(float), &numel, "tensor"));
  float *data = tconv_alloc_zeroed(numel * sizeof(float));
  RETURN_IF(data == NULL, TCONV_OUT_OF_MEMORY, "tensor: cannot allocate %zu floats", numel);
  t->rank = rank;
  for (size_t i = 0; i < rank; i++) t->shape[i] = shape[i];
  t->data = data;
  return TCONV_OK;
}

void tconv_tensor_free(tconv_tensor *t) {
  if (t == NULL) return;
  tconv_dealloc(t->data);
  memset(t, 0, sizeof *t);
}

size_t tconv_tensor_numel(const tconv_tensor *t) {
  size_t n = 1;
  for (size_t i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}
