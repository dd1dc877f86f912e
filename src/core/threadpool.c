/* A small pthread pool.  The caller is thread 0 and works too.  A job is a parallel-for: items
 * are handed out in chunks by an atomic counter (load balance), and every item is a fixed piece
 * of work, so the result never depends on the thread count or on which thread ran which item.
 *
 * Latency matters more than anything else here: a forward call on a small layer takes 10-500 us
 * and makes one or two parallel-for calls, so waking a worker through a condition variable
 * (tens of microseconds, more on a loaded box) used to make 2 threads slower than 1.  So:
 *   - workers spin (briefly, with a pause instruction) on the job generation after
 *     each job before they sleep on the condition variable, so back-to-back jobs start at once;
 *   - the caller spins on the count of finished items before it sleeps on `done`, and waits
 *     for nothing else: a worker that wakes late (a futex wake-up costs 15-25 us on this VM)
 *     finds the items taken and the caller already gone, instead of the caller waiting for it
 *     (28x28 1->32 k3 s2 at 2 threads: ~28 us per call when the worker slept between calls);
 *   - so a late worker may still be entering job k when the caller starts job k+1: jobs
 *     alternate between two descriptors, each with a count of the workers inside it, and a
 *     worker enters a descriptor only while its job is the current one (see worker_main), so
 *     the caller rewrites a descriptor only once nobody is left inside it;
 *   - items are claimed in chunks (about 8 claims per thread), not one by one, so thousands of
 *     tiny items (one output row each) do not bounce the counter's cache line between cores;
 *   - the counters and the job description live on separate cache lines. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
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

/* One job's description and counters; job g uses slot g & 1.  64 bytes between the groups keep
 * the claim counter off the lines the spinning workers read (the allocation is only
 * malloc-aligned, so padding rather than _Alignas). */
typedef struct job_slot {
  /* written by the caller before the job's generation is published (release) */
  tconv_parallel_fn fn;
  void *ctx;
  size_t items, chunk;
  char pad0[64];
  atomic_size_t next; /* next unclaimed item */
  char pad1[64];
  atomic_size_t done; /* items finished */
  atomic_size_t busy; /* workers inside this slot's job */
  char pad2[64];
} job_slot;

struct tconv_threadpool {
  size_t threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_mutex_t run_lock; /* one job at a time per pool */
  int stop;                 /* under lock; also read by spinning workers */
  atomic_ulong generation;  /* the current job's number, bumped per job under lock */
  atomic_int stopping;
  char pad0[64];
  job_slot slot[2];
};

typedef struct worker_arg {
  tconv_threadpool *pool;
  size_t index;
} worker_arg;

/* The calling thread's current claim, for tconv_parallel_next_item (set by run_items and the
 * single-thread loop; a job's fn never starts another job, so one per thread is enough). */
static _Thread_local struct {
  job_slot *job; /* NULL: the caller runs every item */
  size_t end, items;
} tl_claim;

size_t tconv_parallel_next_item(size_t item) {
  if (item + 1 < tl_claim.end) return item + 1;
  if (tl_claim.job == NULL) return SIZE_MAX;
  const size_t n = atomic_load_explicit(&tl_claim.job->next, memory_order_relaxed);
  return n < tl_claim.items ? n : SIZE_MAX;
}

/* Guided claims: a claim takes a share of what is left (at most chunk items, at least one),
 * so the last claims are single items and the threads finish together — fixed claims of chunk
 * items left up to a whole chunk (6% of the GEMM layers' time at 2 threads) to one thread at
 * the end. */
static void run_items(tconv_threadpool *p, job_slot *j, size_t thread) {
  const size_t items = j->items, chunk = j->chunk, share = 2 * p->threads;
  tconv_parallel_fn fn = j->fn;
  void *ctx = j->ctx;
  size_t i = atomic_load_explicit(&j->next, memory_order_relaxed);
  tl_claim.job = j;
  tl_claim.items = items;
  for (;;) {
    if (i >= items) break;
    size_t take = (items - i) / share;
    take = take < 1 ? 1 : take > chunk ? chunk : take;
    if (!atomic_compare_exchange_weak_explicit(&j->next, &i, i + take, memory_order_relaxed,
                                               memory_order_relaxed))
      continue; /* i now holds the current value */
    tl_claim.end = i + take;
    for (size_t end = i + take; i < end; i++) fn(ctx, i, thread);
    /* the items' results are published with the count (release); the last one out wakes the
     * caller if it sleeps (it checks the count under lock) */
    if (atomic_fetch_add_explicit(&j->done, take, memory_order_acq_rel) + take == items &&
        thread != 0) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
    i = atomic_load_explicit(&j->next, memory_order_relaxed);
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
    /* Enter job gen only while it is still the current job: count in, then look again.  The
     * caller rewrites this slot (for job gen + 2) only after it bumped the generation past gen
     * (job gen + 1) and then saw the slot's count at zero; in the single order of these
     * seq_cst operations, a worker that still reads gen after counting in did so before that
     * bump, so the caller sees the count and waits for it to leave. */
    job_slot *j = &p->slot[gen & 1];
    atomic_fetch_add_explicit(&j->busy, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->generation, memory_order_seq_cst) == gen) run_items(p, j, arg.index);
    atomic_fetch_sub_explicit(&j->busy, 1, memory_order_release);
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
  for (size_t k = 0; k < 2; k++) {
    atomic_init(&p->slot[k].next, 0);
    atomic_init(&p->slot[k].done, 0);
    atomic_init(&p->slot[k].busy, 0);
  }
  atomic_init(&p->generation, 0);
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
    tl_claim.job = NULL;
    tl_claim.end = tl_claim.items = items;
    for (size_t i = 0; i < items; i++) fn(ctx, i, 0);
    return;
  }
  pthread_mutex_lock(&pool->run_lock);
  /* only this thread (under run_lock) changes the generation */
  const unsigned long gen = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
  job_slot *j = &pool->slot[gen & 1];
  /* a worker late for job gen - 2 may still be leaving this slot (see worker_main): a few
   * instructions, unless it was preempted in them, so yield after a while */
  for (int r = 0; atomic_load_explicit(&j->busy, memory_order_seq_cst) != 0; r++)
    if (r < SPIN_ROUNDS)
      cpu_relax();
    else
      sched_yield();
  /* about 8 claims per thread: enough to balance uneven items, few enough that the counter is
   * not a bottleneck for thousands of tiny ones */
  size_t chunk = items / (8 * pool->threads);
  j->fn = fn;
  j->ctx = ctx;
  j->items = items;
  j->chunk = chunk ? chunk : 1;
  atomic_store_explicit(&j->next, 0, memory_order_relaxed);
  atomic_store_explicit(&j->done, 0, memory_order_relaxed);
  pthread_mutex_lock(&pool->lock);
  atomic_fetch_add_explicit(&pool->generation, 1, memory_order_seq_cst);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  run_items(pool, j, 0);
  /* every item finished, whoever ran it; a worker that claimed none is not waited for */
  for (int r = 0; r < SPIN_ROUNDS &&
                  atomic_load_explicit(&j->done, memory_order_acquire) != items;
       r++)
    cpu_relax();
  if (atomic_load_explicit(&j->done, memory_order_acquire) != items) {
    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&j->done, memory_order_acquire) != items)
      pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
  }
  tl_claim.job = NULL;
  pthread_mutex_unlock(&pool->run_lock);
}
