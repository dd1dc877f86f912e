/* Concurrency: what tconv.h says may be shared between threads, exercised from several pthreads at
 * once (run under ThreadSanitizer by `make tsan`).
 *   - one built and reshaped layer: tconv_layer_forward from many threads, each with its own
 *     output, bitwise equal to a single-threaded run; also right after tconv_layer_weights_changed
 *     (the threads race to repack the plan, which the layer guards);
 *   - one tconv_threadpool shared by those threads (its jobs run one at a time);
 *   - the stateless tconv_forward / tconv_backward on shared read-only arrays;
 *   - per-thread error messages: each thread reads back its own tconv_last_error(). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

#define THREADS 4
#define ITERS 3

typedef struct shared {
  const tconv_layer *layer;
  tconv_threadpool *pool; /* NULL, or one pool shared by every thread */
  const float *x;
  const float *want; /* single-threaded result */
  size_t yn;
  int mismatches, failures;
  pthread_mutex_t lock;
} shared;

static void *forward_worker(void *arg) {
  shared *s = arg;
  float *y = malloc(s->yn * sizeof(float));
  int bad = 0, failed = 0;
  for (int it = 0; it < ITERS && y; it++) {
    for (size_t i = 0; i < s->yn; i++) y[i] = -1.0f;
    if (tconv_layer_forward(s->layer, s->x, y, s->pool) != TCONV_OK) failed++;
    else if (memcmp(y, s->want, s->yn * sizeof(float)) != 0) bad++;
  }
  if (y == NULL) failed++;
  free(y);
  pthread_mutex_lock(&s->lock);
  s->mismatches += bad;
  s->failures += failed;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* A layer with seeded random weights, reshaped for in_shape; *yn gets the output count. */
static tconv_layer *make_layer(tconv_store *store, const tconv_config *cfg, const size_t in[4],
                               size_t *yn) {
  tconv_layer *l = NULL;
  if (tconv_layer_create(cfg, &l) != TCONV_OK) return NULL;
  size_t cin = cfg->data_format == TCONV_CHANNELS_FIRST ? in[1] : in[3];
  size_t out[4];
  if (tconv_layer_build(l, store, cin) != TCONV_OK || tconv_layer_reshape(l, in, out) != TCONV_OK) {
    tconv_layer_destroy(l);
    return NULL;
  }
  unsigned long long rng = 7;
  tconv_tensor *k = tconv_layer_kernel(l), *b = tconv_layer_bias(l);
  for (size_t i = 0; i < tconv_tensor_numel(k); i++) k->data[i] = test_rand_float(&rng);
  for (size_t i = 0; b && i < tconv_tensor_numel(b); i++) b->data[i] = test_rand_float(&rng);
  tconv_layer_weights_changed(l);
  *yn = out[0] * out[1] * out[2] * out[3];
  return l;
}

static void run_threads(shared *s) {
  pthread_t th[THREADS];
  int started = 0;
  for (int t = 0; t < THREADS; t++)
    if (pthread_create(&th[t], NULL, forward_worker, s) == 0) started++;
    else break;
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  CHECK(started == THREADS);
}

static void check_layer_concurrent(const tconv_config *cfg, const size_t in[4]) {
  tconv_store *store = tconv_store_create();
  size_t yn = 0;
  tconv_layer *l = store ? make_layer(store, cfg, in, &yn) : NULL;
  CHECK(l != NULL);
  if (l == NULL) {
    tconv_store_destroy(store);
    return;
  }
  const size_t xn = in[0] * in[1] * in[2] * in[3];
  float *x = malloc(xn * sizeof(float)), *want = malloc(yn * sizeof(float));
  unsigned long long rng = 11;
  for (size_t i = 0; i < xn; i++) x[i] = test_rand_float(&rng);
  CHECK_OK(tconv_layer_forward(l, x, want, NULL));
  shared s = {l, NULL, x, want, yn, 0, 0, PTHREAD_MUTEX_INITIALIZER};

  /* The caller's thread in every worker. */
  run_threads(&s);
  /* Every worker with the same 3-thread pool. */
  tconv_threadpool *pool = NULL;
  CHECK_OK(tconv_threadpool_create(3, &pool));
  s.pool = pool;
  run_threads(&s);
  /* Weights written, then forwards from many threads: the first ones race to repack. */
  tconv_tensor *k = tconv_layer_kernel(l);
  k->data[0] += 0.5f;
  tconv_layer_weights_changed(l);
  float *want2 = malloc(yn * sizeof(float));
  {
    /* Compute the expected result on a twin layer, so the layer under test repacks only inside
     * the racing threads. */
    tconv_store *st2 = tconv_store_create();
    size_t yn2 = 0;
    tconv_layer *l2 = make_layer(st2, cfg, in, &yn2);
    CHECK(l2 != NULL && yn2 == yn);
    if (l2) {
      memcpy(tconv_layer_kernel(l2)->data, k->data, tconv_tensor_numel(k) * sizeof(float));
      tconv_layer_weights_changed(l2);
      CHECK_OK(tconv_layer_forward(l2, x, want2, NULL));
    }
    tconv_layer_destroy(l2);
    tconv_store_destroy(st2);
  }
  CHECK(memcmp(want, want2, yn * sizeof(float)) != 0); /* the weight change is visible */
  s.want = want2;
  s.pool = pool;
  run_threads(&s);
  CHECK_MSG(s.mismatches == 0, "%d forward results differ from the single-threaded run",
            s.mismatches);
  CHECK_MSG(s.failures == 0, "%d forwards failed", s.failures);
  tconv_threadpool_destroy(pool);
  free(want2);
  free(want);
  free(x);
  tconv_layer_destroy(l);
  tconv_store_destroy(store);
}

TEST(concurrency_layer_forward_seed_shape) {
  tconv_config c = tconv_config_default();
  c.filters = 32;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  c.activation = TCONV_ACT_RELU;
  const size_t in[4] = {2, 14, 14, 1};
  check_layer_concurrent(&c, in);
}

TEST(concurrency_layer_forward_nchw_groups_core) {
  tconv_config c = tconv_config_default();
  c.form = TCONV_FORM_CORE;
  c.filters = 6;
  c.groups = 2;
  c.kernel_size[0] = 3;
  c.kernel_size[1] = 4;
  c.strides[0] = 2;
  c.strides[1] = 3;
  c.dilation_rate[0] = 2;
  c.explicit_padding[0] = 1;
  c.explicit_padding[3] = 2;
  c.adjust[1] = 1;
  c.data_format = TCONV_CHANNELS_FIRST;
  c.activation = TCONV_ACT_TANH;
  const size_t in[4] = {3, 4, 9, 7};
  check_layer_concurrent(&c, in);
}

/* Stateless forward/backward on shared read-only arrays from several threads. */
typedef struct stateless {
  tconv_geometry g;
  const float *x, *k, *b, *dz;
  const float *want_y, *want_dx, *want_dk, *want_db;
  size_t xn, yn, kn;
  int bad;
  pthread_mutex_t lock;
} stateless;

static void *stateless_worker(void *arg) {
  stateless *s = arg;
  float *y = malloc(s->yn * 4), *dx = malloc(s->xn * 4), *dk = malloc(s->kn * 4);
  float *db = malloc(s->g.out_c * 4);
  int bad = 0;
  for (int it = 0; it < ITERS; it++) {
    if (tconv_forward(&s->g, s->x, s->k, s->b, NULL, y, NULL) != TCONV_OK ||
        memcmp(y, s->want_y, s->yn * 4) != 0)
      bad++;
    if (tconv_backward(&s->g, s->x, s->k, s->dz, dx, dk, db, NULL) != TCONV_OK ||
        memcmp(dx, s->want_dx, s->xn * 4) != 0 || memcmp(dk, s->want_dk, s->kn * 4) != 0 ||
        memcmp(db, s->want_db, s->g.out_c * 4) != 0)
      bad++;
  }
  free(y);
  free(dx);
  free(dk);
  free(db);
  pthread_mutex_lock(&s->lock);
  s->bad += bad;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

TEST(concurrency_stateless_forward_backward) {
  tconv_config c = tconv_config_default();
  c.filters = 5;
  c.kernel_size[0] = c.kernel_size[1] = 4;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  stateless s;
  memset(&s, 0, sizeof s);
  pthread_mutex_init(&s.lock, NULL);
  const size_t in[4] = {2, 6, 5, 3};
  CHECK_OK(tconv_geometry_compute(&c, in, NULL, &s.g));
  s.xn = 2 * 6 * 5 * 3;
  s.yn = s.g.batch * s.g.out_h * s.g.out_w * s.g.out_c;
  s.kn = 4 * 4 * 5 * 3;
  float *x = malloc(s.xn * 4), *k = malloc(s.kn * 4), *b = malloc(5 * 4), *dz = malloc(s.yn * 4);
  float *wy = malloc(s.yn * 4), *wdx = malloc(s.xn * 4), *wdk = malloc(s.kn * 4), *wdb = malloc(20);
  unsigned long long rng = 3;
  for (size_t i = 0; i < s.xn; i++) x[i] = test_rand_float(&rng);
  for (size_t i = 0; i < s.kn; i++) k[i] = test_rand_float(&rng);
  for (size_t i = 0; i < 5; i++) b[i] = test_rand_float(&rng);
  for (size_t i = 0; i < s.yn; i++) dz[i] = test_rand_float(&rng);
  CHECK_OK(tconv_forward(&s.g, x, k, b, NULL, wy, NULL));
  CHECK_OK(tconv_backward(&s.g, x, k, dz, wdx, wdk, wdb, NULL));
  s.x = x, s.k = k, s.b = b, s.dz = dz;
  s.want_y = wy, s.want_dx = wdx, s.want_dk = wdk, s.want_db = wdb;
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, stateless_worker, &s) == 0);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  CHECK_MSG(s.bad == 0, "%d concurrent stateless results differ", s.bad);
  free(x), free(k), free(b), free(dz), free(wy), free(wdx), free(wdk), free(wdb);
  pthread_mutex_destroy(&s.lock);
}

/* Each thread's failure message is its own: thread t asks for filters = -t and must read "-t"
 * back, however the threads interleave. */
typedef struct errarg {
  int id, ok;
} errarg;

static void *error_worker(void *p) {
  errarg *a = p;
  tconv_config c = tconv_config_default();
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.filters = -(int64_t)a->id;
  char want[64];
  snprintf(want, sizeof want, "got %d", -a->id);
  a->ok = 1;
  for (int it = 0; it < 200; it++) {
    tconv_layer *l = NULL;
    if (tconv_layer_create(&c, &l) != TCONV_INVALID_ARGUMENT || l != NULL ||
        strstr(tconv_last_error(), want) == NULL)
      a->ok = 0;
  }
  return NULL;
}

TEST(concurrency_error_messages_per_thread) {
  pthread_t th[THREADS];
  errarg args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t].id = 10 + t;
    CHECK(pthread_create(&th[t], NULL, error_worker, &args[t]) == 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    CHECK_MSG(args[t].ok, "thread %d read another thread's message", t);
  }
}

/* Parsers keep no shared state: distinct buffers parsed at once give their own results. */
typedef struct parsearg {
  size_t n;
  int ok;
} parsearg;

static void *parse_worker(void *p) {
  parsearg *a = p;
  tconv_tensor t = {0};
  size_t shape[2] = {a->n, 3};
  a->ok = 0;
  if (tconv_tensor_alloc(&t, 2, shape) != TCONV_OK) return NULL;
  for (size_t i = 0; i < 3 * a->n; i++) t.data[i] = (float)(a->n * 1000 + i);
  char path[64];
  snprintf(path, sizeof path, "/tmp/tconv-conc-%d-%zu.npy", (int)getpid(), a->n);
  int good = 1;
  for (int it = 0; it < 20 && good; it++) {
    tconv_tensor back = {0};
    good = tconv_npy_save(path, &t) == TCONV_OK && tconv_npy_load(path, &back) == TCONV_OK &&
           back.rank == 2 && back.shape[0] == a->n &&
           memcmp(back.data, t.data, 3 * a->n * sizeof(float)) == 0;
    tconv_tensor_free(&back);
  }
  remove(path);
  tconv_tensor_free(&t);
  a->ok = good;
  return NULL;
}

TEST(concurrency_npy_save_load_distinct_files) {
  pthread_t th[THREADS];
  parsearg args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t].n = (size_t)t + 1;
    CHECK(pthread_create(&th[t], NULL, parse_worker, &args[t]) == 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    CHECK_MSG(args[t].ok, "thread %d: npy round trip failed", t);
  }
}
