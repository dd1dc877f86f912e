/* The allocation hook and resource limits. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Blocks of 256 bytes and more start on a cache line (64 bytes, as TensorFlow's and oneDNN's
 * allocators do): the GEMM path streams large outputs only in whole lines (plan.c).
 * Blocks of 2 MiB and more are 2 MiB-aligned and asked to live on transparent huge pages (where
 * the kernel grants them only on request, THP "madvise"): tensors and packed weights of several
 * MiB read tile by tile otherwise miss the TLB often (256x14x14 64->1 k5 s2 5% faster, 64x4x4
 * 1024->512 3% with its 52 MB of packed weights, other suite shapes 0-2%).  Only the block's
 * whole 2 MiB pages are advised: its tail stays on small pages, so a 2.1 MiB tensor does not
 * take 4 MiB of memory (the rounding up costs address space only, never touched).
 * TCONV_HUGE_PAGES=0 in the environment turns it off (to compare, or where memory is tight). */
#define HUGE_PAGE ((size_t)2 << 20)
static void *default_malloc(size_t size, void *ctx) {
  (void)ctx;
  if (size < 256 || size > SIZE_MAX - HUGE_PAGE) return malloc(size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const char *env = size >= HUGE_PAGE ? getenv("TCONV_HUGE_PAGES") : NULL;
  if (size >= HUGE_PAGE && !(env != NULL && strcmp(env, "0") == 0)) {
    const size_t rounded = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, rounded);
    if (p != NULL) /* advice only: failure is fine */
      (void)madvise(p, size & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
    return p;
  }
#endif
  return aligned_alloc(64, (size + 63) & ~(size_t)63); /* C11: a multiple of the alignment */
}
static void default_free(void *ptr, void *ctx) {
  (void)ctx;
  free(ptr);
}

static tconv_malloc_fn hook_malloc = default_malloc;
static tconv_free_fn hook_free = default_free;
static void *hook_ctx;

void tconv_set_allocator(tconv_malloc_fn malloc_fn, tconv_free_fn free_fn, void *ctx) {
  if (malloc_fn == NULL || free_fn == NULL) {
    hook_malloc = default_malloc;
    hook_free = default_free;
    hook_ctx = NULL;
    return;
  }
  hook_malloc = malloc_fn;
  hook_free = free_fn;
  hook_ctx = ctx;
}

void *tconv_alloc(size_t size) { return hook_malloc(size ? size : 1, hook_ctx); }

void *tconv_alloc_zeroed(size_t size) {
  void *p = tconv_alloc(size);
  if (p != NULL) memset(p, 0, size);
  return p;
}

void *tconv_realloc(void *ptr, size_t old_size, size_t new_size) {
  void *p = tconv_alloc(new_size);
  if (p == NULL) return NULL;
  if (ptr != NULL) {
    memcpy(p, ptr, old_size < new_size ? old_size : new_size);
    tconv_dealloc(ptr);
  }
  return p;
}

void tconv_dealloc(void *ptr) {
  if (ptr != NULL) hook_free(ptr, hook_ctx);
}

char *tconv_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = tconv_alloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

int tconv_product_overflow(const size_t *v, size_t n, size_t *out) {
  size_t p = 1;
  int overflow = 0;
  /* Keep multiplying after a zero so every factor is still checked (TF's tensor_size_overflow
   * seed: [0, 2^32, 2^32] must not pass because a zero came first). */
  size_t nonzero = 1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] != 0 && tconv_mul_overflow(nonzero, v[i], &nonzero)) overflow = 1;
    if (tconv_mul_overflow(p, v[i], &p)) overflow = 1;
  }
  *out = p;
  return overflow;
}

#define TCONV_LIMITS_DEFAULT_                                                                      \
  {                                                                                                \
    .max_tensor_elements = 2147483647u, .max_tensor_bytes = (uint64_t)2 << 30,                     \
    .max_dim = 2147483647u, .max_header_bytes = 10000, .max_image_pixels = (uint64_t)1 << 28,     \
  }

static tconv_limits limits = TCONV_LIMITS_DEFAULT_;

tconv_limits tconv_limits_default(void) {
  tconv_limits l = TCONV_LIMITS_DEFAULT_;
  return l;
}

void tconv_set_limits(const tconv_limits *l) { limits = l ? *l : tconv_limits_default(); }
tconv_limits tconv_get_limits(void) { return limits; }

tconv_status tconv_check_shape(size_t rank, const size_t *shape, size_t elem_size,
                               size_t *numel_out, const char *what) {
  RETURN_IF(rank > TCONV_MAX_RANK, TCONV_LIMIT_EXCEEDED, "%s: rank %zu exceeds the maximum %d",
            what, rank, TCONV_MAX_RANK);
  for (size_t i = 0; i < rank; i++)
    RETURN_IF(shape[i] > limits.max_dim, TCONV_LIMIT_EXCEEDED,
              "%s: dimension %zu is %zu, above the limit %llu", what, i, shape[i],
              (unsigned long long)limits.max_dim);
  size_t numel, bytes;
  RETURN_IF(tconv_product_overflow(shape, rank, &numel), TCONV_LIMIT_EXCEEDED,
            "%s: the element count overflows", what);
  RETURN_IF(numel > limits.max_tensor_elements, TCONV_LIMIT_EXCEEDED,
            "%s: %zu elements, above the limit %llu", what, numel,
            (unsigned long long)limits.max_tensor_elements);
  RETURN_IF(tconv_mul_overflow(numel, elem_size, &bytes) || bytes > limits.max_tensor_bytes,
            TCONV_LIMIT_EXCEEDED, "%s: %zu elements of %zu bytes exceed the limit of %llu bytes",
            what, numel, elem_size, (unsigned long long)limits.max_tensor_bytes);
  if (numel_out) *numel_out = numel;
  return TCONV_OK;
}
