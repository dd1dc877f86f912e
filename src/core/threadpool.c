/* A small pthread pool.  The caller is thread 0 and works too.  A job is a parallel-for: items
 * are handed out in chunks by an atomic counter (load balance), and every item is a fixed piece
 * of work, so the result never depends on the thread count or on which thread ran which item.
 *
 * Latency matters more than anything else here: a forward call on a small layer takes 10-500 us
 * and makes one or two parallel-for calls, so waking a worker through a condition variable
 * (tens of microseconds, more on a loaded box) used to make 2 threads slower than 1.  So:
 *   - workers spin (briefly, with a pause instruction) on the job generation after
 *     each job before they sleep on the condition variable, so back-to-back jobs start at once;
 *   - the caller spins on the busy count before it sleeps on `done`;
 *   - items are claimed in chunks (about 8 claims per thread), not one by one, so thousands of
 *     tiny items (one output row each) do not bounce the counter's cache line between cores;
 *   - the counter and the job description live on separate cache lines. */
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "core/internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Pause iterations before sleeping: a pause is 40-140 cycles, so ~3-10 us — enough for the gap
 * between the parallel-fors of one forward call and between back-to-back calls.  Kept short on
 * purpose: on an oversubscribed box a waiting thread that spins long (4096 rounds) or
 * sched_yields steals the time slice of the very thread it waits for (measured: b at 2 threads
 * 0.017 -> 0.25 ms with 2 busy loops beside it), so after this it sleeps. */
#define SPIN_ROUNDS 256

struct tconv_threadpool {
  size_t threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_mutex_t run_lock; /* one job at a time per pool */
  int stop;                 /* under lock; also read by spinning workers */
  /* the current job, written before generation is published (release) */
  tconv_parallel_fn fn;
  void *ctx;
  size_t items, chunk;
  atomic_ulong generation; /* bumped per job, under lock */
  atomic_size_t busy;       /* workers still inside the current job */
  atomic_int stopping;
  /* 64 bytes either side keep the claim counter off the lines the spinning workers read (the
   * allocation is only malloc-aligned, so padding rather than _Alignas) */
  char pad0[64];
  atomic_size_t next; /* next unclaimed item */
  char pad1[64];
};

typedef struct worker_arg {
  tconv_threadpool *pool;
  size_t index;
} worker_arg;

/* The calling thread's current claim, for tconv_parallel_next_item (set by run_items and the
 * single-thread loop; a job's fn never starts another job, so one per thread is enough). */
static _Thread_local struct {
  tconv_threadpool *pool; /* NULL: the caller runs every item */
  size_t end, items;
} tl_claim;

size_t tconv_parallel_next_item(size_t item) {
  if (item + 1 < tl_claim.end) return item + 1;
  if (tl_claim.pool == NULL) return SIZE_MAX;
  const size_t n = atomic_load_explicit(&tl_claim.pool->next, memory_order_relaxed);
  return n < tl_claim.items ? n : SIZE_MAX;
}

/* Guided claims: a claim takes a share of what is left (at most chunk items, at least one),
 * so the last claims are single items and the threads finish together — fixed claims of chunk
 * items left up to a whole chunk (6% of the GEMM layers' time at 2 threads) to one thread at
 * the end. */
static void run_items(tconv_threadpool *p, size_t thread) {
  const size_t items = p->items, chunk = p->chunk, share = 2 * p->threads;
  tconv_parallel_fn fn = p->fn;
  void *ctx = p->ctx;
  size_t i = atomic_load_explicit(&p->next, memory_order_relaxed);
  tl_claim.pool = p;
  tl_claim.items = items;
  for (;;) {
    if (i >= items) break;
    size_t take = (items - i) / share;
    take = take < 1 ? 1 : take > chunk ? chunk : take;
    if (!atomic_compare_exchange_weak_explicit(&p->next, &i, i + take, memory_order_relaxed,
                                               memory_order_relaxed))
      continue; /* i now holds the current value */
    tl_claim.end = i + take;
    for (size_t end = i + take; i < end; i++) fn(ctx, i, thread);
    i = atomic_load_explicit(&p->next, memory_order_relaxed);
  }
}

static void *worker_main(void *argp) {
  worker_arg arg = *(worker_arg *)argp;
  tconv_dealloc(argp);
  tconv_threadpool *p = arg.pool;
  unsigned long seen = 0;
  for (;;) {
    /* fast path: a new job within the spin window */
    unsigned long gen = atomic_load_explicit(&p->generation, memory_order_acquire);
    for (int r = 0; r < SPIN_ROUNDS && gen == seen &&
                    !atomic_load_explicit(&p->stopping, memory_order_relaxed);
         r++) {
      cpu_relax();
      gen = atomic_load_explicit(&p->generation, memory_order_acquire);
    }
    if (gen == seen) { /* slow path: sleep (generation only changes under lock) */
      pthread_mutex_lock(&p->lock);
      while (!p->stop && atomic_load_explicit(&p->generation, memory_order_acquire) == seen)
        pthread_cond_wait(&p->wake, &p->lock);
      int stop = p->stop;
      gen = atomic_load_explicit(&p->generation, memory_order_acquire);
      pthread_mutex_unlock(&p->lock);
      if (stop) break;
    }
    if (atomic_load_explicit(&p->stopping, memory_order_relaxed)) break;
    seen = gen;
    run_items(p, arg.index);
    if (atomic_fetch_sub_explicit(&p->busy, 1, memory_order_acq_rel) == 1) {
      /* last one out: the caller may be asleep on done (it checks busy under lock) */
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
  }
  return NULL;
}

static void pool_stop(tconv_threadpool *p, size_t started) {
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  atomic_store(&p->stopping, 1);
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
  atomic_init(&p->generation, 0);
  atomic_init(&p->busy, 0);
  atomic_init(&p->stopping, 0);
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
    tl_claim.pool = NULL;
    tl_claim.end = tl_claim.items = items;
    for (size_t i = 0; i < items; i++) fn(ctx, i, 0);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  /* about 8 claims per thread: enough to balance uneven items, few enough that the counter is
   * not a bottleneck for thousands of tiny ones */
  size_t chunk = items / (8 * pool->threads);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->items = items;
  pool->chunk = chunk ? chunk : 1;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  atomic_store_explicit(&pool->busy, pool->threads - 1, memory_order_relaxed);
  pthread_mutex_lock(&pool->lock);
  atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  run_items(pool, 0);
  for (int r = 0; r < SPIN_ROUNDS && atomic_load_explicit(&pool->busy, memory_order_acquire); r++)
    cpu_relax();
  if (atomic_load_explicit(&pool->busy, memory_order_acquire) != 0) {
    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&pool->busy, memory_order_acquire) != 0)
      pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
  }
  pthread_mutex_unlock(&pool->run_lock);
}
