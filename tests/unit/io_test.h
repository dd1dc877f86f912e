/* Helpers for the weight-file and image tests (test_npy.c, test_npz.c, test_safetensors.c,
 * test_tfckpt.c, test_keras.c, test_restore.c, test_image.c, test_idx.c): fixture files, the
 * shared testdata, temporary paths, a counting allocator that can fail the k-th allocation, and
 * the values the fixture generator (tests/data/io/make_fixtures.py) wrote. */
#ifndef TCONV_IO_TEST_H
#define TCONV_IO_TEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/formats.h"
#include "test.h"

#define IO_DATA "tests/data/io/"

/* Expects a failure with this status and a non-empty message. */
#define CHECK_FAILS(expr, status)                                                                  \
  do {                                                                                             \
    CHECK_STATUS(expr, status);                                                                    \
    CHECK_MSG(tconv_last_error()[0] != '\0', "%s: empty error message", #expr);                    \
  } while (0)

/* The fixture formulas: ramp[i] = (i - 2) / 4 (float32), sevenths[i] = i / 7 (float64). */
static inline float io_ramp(size_t i) { return (float)(((double)i - 2.0) * 0.25); }
static inline float io_sevenths(size_t i) { return (float)((double)i / 7.0); }

/* Whole file into malloc'd memory (NULL if unreadable). */
static inline unsigned char *io_slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  *size = 0;
  if (f == NULL) return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    if (*size == cap) {
      cap = cap ? cap * 2 : 4096;
      unsigned char *nb = realloc(buf, cap);
      if (nb == NULL) break;
      buf = nb;
    }
    size_t got = fread(buf + *size, 1, cap - *size, f);
    if (got == 0) break;
    *size += got;
  }
  fclose(f);
  return buf;
}

static inline bool io_spit(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) return false;
  bool ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* A path inside a per-process temporary directory. */
static inline const char *io_temp(const char *name) {
  static char dir[64];
  static char path[256];
  if (dir[0] == '\0') {
    snprintf(dir, sizeof dir, "/tmp/tconv-io-test-XXXXXX");
    if (mkdtemp(dir) == NULL) snprintf(dir, sizeof dir, "/tmp");
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

/* Counting allocator: fails allocation number fail_at (0-based; negative: never), tracks live
 * blocks and the peak of live bytes. */
typedef struct io_alloc_state {
  long fail_at, calls, live;
  size_t bytes, peak;
} io_alloc_state;
static io_alloc_state io_alloc;

static inline void *io_alloc_malloc(size_t size, void *ctx) {
  (void)ctx;
  if (io_alloc.fail_at >= 0 && io_alloc.calls++ == io_alloc.fail_at) return NULL;
  size_t *p = malloc(size + 16);
  if (p == NULL) return NULL;
  p[0] = size;
  io_alloc.live++;
  io_alloc.bytes += size;
  if (io_alloc.bytes > io_alloc.peak) io_alloc.peak = io_alloc.bytes;
  return (char *)p + 16;
}
static inline void io_alloc_free(void *ptr, void *ctx) {
  (void)ctx;
  size_t *p = (size_t *)((char *)ptr - 16);
  io_alloc.live--;
  io_alloc.bytes -= p[0];
  free(p);
}
static inline void io_alloc_begin(long fail_at) {
  memset(&io_alloc, 0, sizeof io_alloc);
  io_alloc.fail_at = fail_at;
  tconv_set_allocator(io_alloc_malloc, io_alloc_free, NULL);
}
static inline void io_alloc_end(void) { tconv_set_allocator(NULL, NULL, NULL); }

/* Runs op with allocation k failing, for k = 0, 1, ... until op succeeds: every failing run must
 * return OUT_OF_MEMORY with a message and leave nothing allocated.  Returns the number of
 * allocation sites exercised.  op must free what it made (through the library) before returning. */
typedef tconv_status (*io_op)(const void *ctx);
static inline long io_sweep_failures(io_op op, const void *ctx, const char *what) {
  for (long k = 0; k < 100000; k++) {
    io_alloc_begin(k);
    tconv_status st = op(ctx);
    long live = io_alloc.live;
    io_alloc_end();
    CHECK_MSG(live == 0, "%s: %ld blocks leaked with allocation %ld failing", what, live, k);
    if (st == TCONV_OK) return k;
    CHECK_MSG(st == TCONV_OUT_OF_MEMORY, "%s: allocation %ld failing gave %s (%s)", what, k,
              tconv_status_string(st), tconv_last_error());
    CHECK(tconv_last_error()[0] != '\0');
    if (st != TCONV_OUT_OF_MEMORY) return -1;
  }
  return -1;
}

/* The real TF/Keras/PyTorch-written files beside the repository (../shared/testdata). */
#define TESTDATA "../shared/testdata"

/* True when TESTDATA is there; otherwise prints one SKIP line for this test. */
static inline bool io_have_testdata(const char *test) {
  struct stat sb;
  if (stat(TESTDATA, &sb) == 0 && S_ISDIR(sb.st_mode)) return true;
  printf("SKIP %s: %s is missing (clone shared/ beside the repository)\n", test, TESTDATA);
  return false;
}

/* Float64 sum of a tensor's values (the testdata READMEs list each tensor's sum). */
static inline double io_sum_of(const tconv_named_tensor *t) {
  double s = 0;
  size_t n = tconv_tensor_numel(&t->value);
  for (size_t i = 0; i < n; i++) s += t->value.data[i];
  return s;
}

/* The tensor named name, or NULL. */
static inline const tconv_named_tensor *io_by_name(const tconv_weights *w, const char *name) {
  for (size_t i = 0; i < w->count; i++)
    if (!strcmp(w->items[i].name, name)) return &w->items[i];
  return NULL;
}

/* w = n float32 tensors of random rank (0..3), shape (dims 0..4) and values; tensor i is named
 * by names[i % 3] (a printf pattern taking i), so each format can mix in the names it must
 * escape or keep byte-exact.  False (w holding the tensors made so far, for tconv_weights_free)
 * when an allocation failed. */
static inline bool io_make_weights(tconv_weights *w, size_t n, unsigned long long seed,
                                   const char *const names[3]) {
  memset(w, 0, sizeof *w);
  for (size_t i = 0; i < n; i++) {
    size_t rank = test_rand_range(&seed, 0, 4), shape[4];
    for (size_t d = 0; d < rank; d++) shape[d] = test_rand_range(&seed, 0, 5);
    tconv_tensor t;
    tconv_status st = tconv_tensor_alloc(&t, rank, shape);
    CHECK_OK(st);
    if (st != TCONV_OK) return false;
    for (size_t k = 0; k < tconv_tensor_numel(&t); k++) t.data[k] = test_rand_float(&seed);
    char name[64];
    snprintf(name, sizeof name, names[i % 3], i);
    st = tconv_weights_push(w, name, TCONV_DTYPE_FLOAT32, &t);
    CHECK_OK(st);
    if (st != TCONV_OK) { /* the value stays ours when the push fails */
      tconv_tensor_free(&t);
      return false;
    }
  }
  return true;
}

/* Bitwise float comparison (NaN payloads included). */
static inline bool io_same_floats(const float *a, const float *b, size_t n) {
  return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

#endif
