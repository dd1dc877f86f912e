/* A tiny self-registering test harness: TEST(name) { ... CHECK(cond); ... }.
 * All tests link into one binary (tests/unit/main.c), which prints "N passed, M failed". */
#ifndef TCONV_TEST_H
#define TCONV_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv.h"

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
/* Set by CHECK failures in the running test. */
extern int test_failed_checks;

#define TEST(name)                                                                                 \
  static void test_##name(void);                                                                   \
  __attribute__((constructor)) static void test_register_##name(void) {                            \
    test_register(#name, __FILE__, test_##name);                                                   \
  }                                                                                                \
  static void test_##name(void)

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                   \
      test_failed_checks++;                                                                        \
    }                                                                                              \
  } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                   \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      test_failed_checks++;                                                                        \
    }                                                                                              \
  } while (0)

/* Checks a status, printing the library's message on mismatch. */
#define CHECK_STATUS(expr, expected)                                                               \
  do {                                                                                             \
    tconv_status got_ = (expr);                                                                    \
    CHECK_MSG(got_ == (expected), "%s returned %s (%s), expected %s", #expr,                       \
              tconv_status_string(got_), tconv_last_error(), tconv_status_string(expected));       \
  } while (0)
#define CHECK_OK(expr) CHECK_STATUS(expr, TCONV_OK)

/* Set-up steps a test cannot go on without: counted and reported like CHECK_OK / CHECK, and on
 * failure (which the fault-injection modes cause on purpose, see main.c) they jump to the test's
 * `done:` label, which frees everything the test made.  Every destroy/free function of the
 * library accepts NULL and a zeroed struct, so the cleanup needs no flags: declare the resources
 * at the top, NULL or zeroed, before the first REQUIRE. */
#define REQUIRE_OK(expr)                                                                           \
  do {                                                                                             \
    tconv_status req_ = (expr);                                                                    \
    CHECK_MSG(req_ == TCONV_OK, "%s returned %s (%s), expected OK", #expr,                         \
              tconv_status_string(req_), tconv_last_error());                                      \
    if (req_ != TCONV_OK) goto done;                                                               \
  } while (0)
#define REQUIRE(cond)                                                                              \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond);                \
      test_failed_checks++;                                                                        \
      goto done;                                                                                   \
    }                                                                                              \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK_MSG(fabs(a_ - b_) <= (tol), "%s = %.9g, %s = %.9g, tol %g", #a, a_, #b, b_,              \
              (double)(tol));                                                                      \
  } while (0)

/* A counting allocator that fails the n-th library allocation, for allocation-failure sweeps:
 * tconv_set_allocator(test_failing_malloc, test_counting_free, NULL), then set
 * test_alloc_countdown (k: the allocation after k successes fails; -1: none does) and check
 * test_live_blocks is back to 0 afterwards.  Each test file gets its own counters. */
__attribute__((unused)) static long test_alloc_countdown = -1, test_live_blocks;
static inline void *test_failing_malloc(size_t n, void *ctx) {
  (void)ctx;
  if (test_alloc_countdown == 0) return NULL;
  if (test_alloc_countdown > 0) test_alloc_countdown--;
  void *p = malloc(n);
  if (p) test_live_blocks++;
  return p;
}
static inline void test_counting_free(void *p, void *ctx) {
  (void)ctx;
  test_live_blocks--;
  free(p);
}

/* Deterministic pseudo-random numbers for tests (splitmix64). */
static inline unsigned long long test_rand_u64(unsigned long long *state) {
  unsigned long long z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline float test_rand_float(unsigned long long *state) { /* uniform in [-1, 1) */
  return (float)((test_rand_u64(state) >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}
static inline size_t test_rand_range(unsigned long long *state, size_t lo, size_t hi) {
  return lo + (size_t)(test_rand_u64(state) % (hi - lo + 1));
}

#endif
