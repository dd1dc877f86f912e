/* Internal side of the thread pool: a parallel-for over a fixed set of work items.
 * Items are claimed dynamically, but each item's result may depend only on the item, never on
 * which thread ran it, so callers get bitwise-identical results for any thread count. */
#ifndef TCONV_THREADPOOL_H
#define TCONV_THREADPOOL_H

#include "tconv.h"

/* fn(ctx, item, thread): thread is in [0, tconv_threadpool_size(pool)) and indexes per-thread
 * scratch; item runs exactly once.  pool NULL (or one thread) runs every item on the caller. */
typedef void (*tconv_parallel_fn)(void *ctx, size_t item, size_t thread);
void tconv_parallel_for(tconv_threadpool *pool, size_t items, tconv_parallel_fn fn, void *ctx);
/* Inside fn: the item the calling thread will most likely run after `item` (the next one of
 * its current claim, else the first unclaimed one, which another thread may take first), or
 * SIZE_MAX when none is left; for prefetching the next item's data.  Only a guess, so results
 * never depend on it. */
size_t tconv_parallel_next_item(size_t item);
/* Threads a pool will use (1 for NULL). */
static inline size_t tconv_pool_threads(const tconv_threadpool *pool) {
  return pool ? tconv_threadpool_size(pool) : 1;
}

#endif
