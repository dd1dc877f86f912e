/* The thread pool: every item runs exactly once, on a thread index inside the pool, for any
 * number of threads and items; the pool is reusable; sizes and errors. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "test.h"

typedef struct count_ctx {
  atomic_int *hits;
  size_t threads;
  atomic_int bad_thread;
} count_ctx;

static void count_item(void *ctx, size_t item, size_t thread) {
  count_ctx *c = ctx;
  atomic_fetch_add(&c->hits[item], 1);
  if (thread >= c->threads) atomic_fetch_add(&c->bad_thread, 1);
}

TEST(threadpool_items_once) {
  for (size_t t = 1; t <= 4; t++) {
    tconv_threadpool *pool = NULL;
    CHECK_OK(tconv_threadpool_create(t, &pool));
    if (pool == NULL) continue;
    CHECK(tconv_threadpool_size(pool) == t);
    const size_t counts[] = {0, 1, 2, 3, 7, 1000};
    for (int rep = 0; rep < 20; rep++)
      for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        size_t n = counts[ci];
        atomic_int *hits = calloc(n + 1, sizeof(atomic_int));
        count_ctx c = {hits, t, 0};
        tconv_parallel_for(pool, n, count_item, &c);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= atomic_load(&hits[i]) == 1;
        CHECK(ok);
        CHECK(atomic_load(&c.bad_thread) == 0);
        free(hits);
      }
    tconv_threadpool_destroy(pool);
  }
}

static void next_item(void *ctx, size_t item, size_t thread) {
  (void)thread;
  ((size_t *)ctx)[item] = tconv_parallel_next_item(item);
}

/* The next-item hint (for prefetching): on the caller alone exactly item + 1; with a pool an
 * item after this one, or none, and item + 1 whenever the same claim holds it — most items of a
 * 1000-item job, whose claims take up to 1000 / (8 * threads) items. */
TEST(threadpool_next_item_hint) {
  for (size_t t = 1; t <= 3; t++) {
    tconv_threadpool *pool = NULL;
    if (t > 1) CHECK_OK(tconv_threadpool_create(t, &pool));
    const size_t n = 1000;
    size_t *hint = calloc(n, sizeof(size_t));
    tconv_parallel_for(pool, n, next_item, hint);
    size_t bad = 0, consecutive = 0;
    for (size_t i = 0; i < n; i++) {
      if (t == 1) bad += hint[i] != (i + 1 < n ? i + 1 : SIZE_MAX);
      else bad += hint[i] != SIZE_MAX && (hint[i] <= i || hint[i] >= n);
      consecutive += hint[i] == i + 1;
    }
    CHECK_MSG(bad == 0, "%zu threads: %zu hints out of range", t, bad);
    CHECK_MSG(consecutive >= n / 2, "%zu threads: only %zu of %zu hints are item + 1", t,
              consecutive, n);
    free(hint);
    tconv_threadpool_destroy(pool);
  }
}

TEST(threadpool_sizes) {
  tconv_threadpool *pool = NULL;
  CHECK_OK(tconv_threadpool_create(0, &pool));
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  CHECK(tconv_threadpool_size(pool) == (size_t)(online > 0 ? online : 1));
  tconv_threadpool_destroy(pool);
  CHECK(tconv_threadpool_size(NULL) == 1);
  CHECK_STATUS(tconv_threadpool_create(1, NULL), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_threadpool_create(100000, &pool), TCONV_INVALID_ARGUMENT);
  CHECK(pool == NULL);
  tconv_threadpool_destroy(NULL); /* no-op */
  /* NULL pool: everything on the caller, thread index 0 */
  atomic_int hits[5] = {0};
  count_ctx c = {hits, 1, 0};
  tconv_parallel_for(NULL, 5, count_item, &c);
  for (int i = 0; i < 5; i++) CHECK(atomic_load(&hits[i]) == 1);
  CHECK(atomic_load(&c.bad_thread) == 0);
}

/* Both hand-offs: jobs back to back (workers still spinning) and jobs after a pause long enough
 * that the workers have gone to sleep on the condition variable; thousands of tiny items, which
 * are claimed in chunks, still each run once. */
TEST(threadpool_spin_and_sleep) {
  for (size_t t = 2; t <= 3; t++) {
    tconv_threadpool *pool = NULL;
    CHECK_OK(tconv_threadpool_create(t, &pool));
    if (pool == NULL) continue;
    const size_t n = 5003;
    atomic_int *hits = calloc(n, sizeof(atomic_int));
    CHECK(hits != NULL);
    if (hits == NULL) break;
    count_ctx c = {hits, t, 0};
    for (int rep = 0; rep < 12; rep++) {
      if (rep % 4 == 3) usleep(20000); /* past the spin window: the workers sleep */
      tconv_parallel_for(pool, n, count_item, &c);
      tconv_parallel_for(pool, 2, count_item, &c);
    }
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= atomic_load(&hits[i]) == (i < 2 ? 24 : 12);
    CHECK(ok);
    CHECK(atomic_load(&c.bad_thread) == 0);
    free(hits);
    tconv_threadpool_destroy(pool);
  }
}

/* Tiny jobs back to back, each with its context on the caller's stack (the same address every
 * job): the caller returns as soon as every item has finished, without waiting for workers that
 * claimed none, so a late worker may still be entering a finished job while the next one runs.
 * Every item of every job must still run exactly once, have finished when parallel_for returns,
 * and never be run again for a later job (that would show as a second hit at the same
 * address). */
TEST(threadpool_late_workers) {
  for (size_t t = 2; t <= 4; t++) {
    tconv_threadpool *pool = NULL;
    CHECK_OK(tconv_threadpool_create(t, &pool));
    if (pool == NULL) continue;
    size_t bad = 0;
    for (int job = 0; job < 20000; job++) {
      const size_t n = 1 + (size_t)job % 3;
      atomic_int hits[3] = {0};
      count_ctx c = {hits, t, 0};
      tconv_parallel_for(pool, n, count_item, &c);
      for (size_t i = 0; i < 3; i++) bad += atomic_load(&hits[i]) != (i < n ? 1 : 0);
      bad += atomic_load(&c.bad_thread) != 0;
      if (job % 5000 == 4999) usleep(20000); /* the workers go to sleep now and then */
    }
    CHECK_MSG(bad == 0, "%zu threads: %zu wrong counts", t, bad);
    tconv_threadpool_destroy(pool);
  }
}
