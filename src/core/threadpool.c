/* A small pthread pool.  The caller is thread 0 and works too; the others sleep on a condition
 * variable between jobs.  A job is a parallel-for: items are handed out by an atomic counter
 * (load balance), and every item is a fixed piece of work, so the result never depends on the
 * thread count or on which thread ran which item. */
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/internal.h"

struct tconv_threadpool {
  size_t threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_mutex_t run_lock; /* one job at a time per pool */
  unsigned long generation; /* bumped per job, under lock */
  size_t busy;              /* workers still inside the current job */
  int stop;
  /* the current job */
  tconv_parallel_fn fn;
  void *ctx;
  size_t items;
  atomic_size_t next;
};

typedef struct worker_arg {
  tconv_threadpool *pool;
  size_t index;
} worker_arg;

static void run_items(tconv_threadpool *p, size_t thread) {
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= p->items) break;
    p->fn(p->ctx, i, thread);
  }
}

static void *worker_main(void *argp) {
  worker_arg arg = *(worker_arg *)argp;
  tconv_dealloc(argp);
  tconv_threadpool *p = arg.pool;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->lock);
    run_items(p, arg.index);
    pthread_mutex_lock(&p->lock);
    if (--p->busy == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static void pool_stop(tconv_threadpool *p, size_t started) {
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
}

tconv_status tconv_threadpool_create(size_t threads, tconv_threadpool **out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "threadpool_create: out is NULL");
  *out = NULL;
  if (threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (size_t)n : 1;
  }
  RETURN_IF(threads > 1024, TCONV_INVALID_ARGUMENT,
            "threadpool_create: %zu threads is more than the limit of 1024", threads);
  tconv_threadpool *p = tconv_alloc_zeroed(sizeof *p);
  RETURN_IF(p == NULL, TCONV_OUT_OF_MEMORY, "threadpool_create: out of memory");
  p->threads = threads;
  p->workers = tconv_alloc_zeroed(threads * sizeof(pthread_t));
  if (p->workers == NULL) {
    tconv_dealloc(p);
    return tconv_error(TCONV_OUT_OF_MEMORY, "threadpool_create: out of memory");
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_mutex_init(&p->run_lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  atomic_init(&p->next, 0);
  for (size_t i = 0; i + 1 < threads; i++) {
    worker_arg *arg = tconv_alloc(sizeof *arg);
    int rc = arg ? 0 : -1;
    if (arg) {
      arg->pool = p;
      arg->index = i + 1;
      rc = pthread_create(&p->workers[i], NULL, worker_main, arg);
      if (rc != 0) tconv_dealloc(arg);
    }
    if (rc != 0) {
      pool_stop(p, i);
      pthread_mutex_destroy(&p->lock);
      pthread_mutex_destroy(&p->run_lock);
      pthread_cond_destroy(&p->wake);
      pthread_cond_destroy(&p->done);
      tconv_dealloc(p->workers);
      tconv_dealloc(p);
      return tconv_error(TCONV_OUT_OF_MEMORY,
                         "threadpool_create: cannot start thread %zu of %zu", i + 2, threads);
    }
  }
  *out = p;
  return TCONV_OK;
}

size_t tconv_threadpool_size(const tconv_threadpool *pool) { return pool ? pool->threads : 1; }

void tconv_threadpool_destroy(tconv_threadpool *pool) {
  if (pool == NULL) return;
  pool_stop(pool, pool->threads - 1);
  pthread_mutex_destroy(&pool->lock);
  pthread_mutex_destroy(&pool->run_lock);
  pthread_cond_destroy(&pool->wake);
  pthread_cond_destroy(&pool->done);
  tconv_dealloc(pool->workers);
  tconv_dealloc(pool);
}

void tconv_parallel_for(tconv_threadpool *pool, size_t items, tconv_parallel_fn fn, void *ctx) {
  if (items == 0) return;
  if (pool == NULL || pool->threads <= 1 || items == 1) {
    for (size_t i = 0; i < items; i++) fn(ctx, i, 0);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  pthread_mutex_lock(&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->items = items;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  pool->busy = pool->threads - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  run_items(pool, 0);
  pthread_mutex_lock(&pool->lock);
  while (pool->busy != 0) pthread_cond_wait(&pool->done, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  pthread_mutex_unlock(&pool->run_lock);
}
