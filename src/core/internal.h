/* Internal helpers shared by every tier: error reporting, allocation, checked arithmetic. */
#ifndef TCONV_INTERNAL_H
#define TCONV_INTERNAL_H

#include "tconv.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Records a detailed message for tconv_last_error() and returns status. */
tconv_status tconv_error(tconv_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clears the message (successful calls do not have to). */
void tconv_error_clear(void);

/* RETURN_IF(cond, status, fmt, ...): fail with a message when cond holds. */
#define RETURN_IF(cond, status, ...)                                                               \
  do {                                                                                             \
    if (cond) return tconv_error((status), __VA_ARGS__);                                           \
  } while (0)
/* Propagates a failed status unchanged (the callee has set the message). */
#define RETURN_IF_ERROR(expr)                                                                      \
  do {                                                                                             \
    tconv_status st_ = (expr);                                                                     \
    if (st_ != TCONV_OK) return st_;                                                               \
  } while (0)

/* All library allocations go through these (see tconv_set_allocator).  tconv_alloc(0) returns a
 * unique non-NULL pointer; tconv_alloc_zeroed zero-fills; both return NULL on failure without
 * setting a message (callers report OUT_OF_MEMORY with context). */
void *tconv_alloc(size_t size);
void *tconv_alloc_zeroed(size_t size);
void *tconv_realloc(void *ptr, size_t old_size, size_t new_size);
void tconv_dealloc(void *ptr);
char *tconv_strdup(const char *s);

/* Checked arithmetic: return 0 and store the result, or return 1 on overflow. */
static inline int tconv_mul_overflow(size_t a, size_t b, size_t *out) {
  return __builtin_mul_overflow(a, b, out);
}
static inline int tconv_add_overflow(size_t a, size_t b, size_t *out) {
  return __builtin_add_overflow(a, b, out);
}
/* Product of n sizes with overflow check; 1 on overflow. */
int tconv_product_overflow(const size_t *v, size_t n, size_t *out);

/* True when t has exactly this rank and shape. */
static inline bool tconv_tensor_has_shape(const tconv_tensor *t, size_t rank, const size_t *shape) {
  if (t->rank != rank) return false;
  for (size_t i = 0; i < rank; i++)
    if (t->shape[i] != shape[i]) return false;
  return true;
}
/* True when a and b have the same rank and shape. */
static inline bool tconv_tensor_same_shape(const tconv_tensor *a, const tconv_tensor *b) {
  return tconv_tensor_has_shape(a, b->rank, b->shape);
}

/* Checks a tensor shape against the process limits and returns its element count. */
tconv_status tconv_check_shape(size_t rank, const size_t *shape, size_t elem_size,
                               size_t *numel_out, const char *what);

/* Atomic file write: temp file beside path, write, fsync, rename; the old file survives any
 * failure.  Errors: IO_ERROR with the reason. */
typedef tconv_status (*tconv_write_fn)(void *ctx, int fd);
tconv_status tconv_write_atomic(const char *path, tconv_write_fn writer, void *ctx);
/* write() all bytes, retrying on EINTR and short writes.  0 on success, else errno. */
int tconv_write_all(int fd, const void *buf, size_t n);
/* Test-only fault injection, never set by the library: every tconv_write_all call increments
 * tconv_test_write_calls, and the call whose index equals tconv_test_write_fail_at (-1: none)
 * writes half its bytes and returns ENOSPC (tests/unit/test_faults.c, unit-tests --fail-write). */
extern _Atomic long tconv_test_write_calls;
extern _Atomic long tconv_test_write_fail_at;
/* Reads a whole file, checking its size against max_bytes first.  *out owned by the caller
 * (tconv_dealloc).  Errors: IO_ERROR, LIMIT_EXCEEDED, OUT_OF_MEMORY. */
tconv_status tconv_read_file(const char *path, uint64_t max_bytes, unsigned char **out,
                             size_t *size);

#endif
