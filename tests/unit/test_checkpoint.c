/* Checkpoints: round trip with optimizer slots and layer metadata, exact mismatch messages, a
 * save failing midway (file size limit) leaving the previous file byte-identical, and a process
 * killed during large saves never leaving a corrupt file under the final name. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  *n = fread(p, 1, (size_t)len, f);
  fclose(f);
  return p;
}

static int count_temp_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strstr(e->d_name, ".tmp-")) n++;
  if (d) closedir(d);
  return n;
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  char p[512];
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

static tconv_layer *build(tconv_store *s, const char *name, int64_t filters, size_t in_c) {
  tconv_config c = tconv_config_default();
  c.filters = filters;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  c.activation = TCONV_ACT_RELU;
  c.name = name;
  tconv_layer *l = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  CHECK_OK(tconv_layer_build(l, s, in_c));
  return l;
}

TEST(checkpoint_round_trip_with_slots_and_metadata) {
  char dir[] = "/tmp/tconv-ckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  unsigned long long rng = 8;
  tconv_store *s = tconv_store_create();
  tconv_layer *l = build(s, "dec", 4, 2);
  const size_t in[4] = {2, 3, 3, 2};
  CHECK_OK(tconv_layer_reshape(l, in, NULL));
  float x[36], y[2 * 6 * 6 * 4], y2[2 * 6 * 6 * 4], dy[2 * 6 * 6 * 4];
  for (int i = 0; i < 36; i++) x[i] = test_rand_float(&rng);
  for (int i = 0; i < 288; i++) dy[i] = test_rand_float(&rng);
  tconv_layer_grads g;
  CHECK_OK(tconv_layer_grads_alloc(l, &g));
  tconv_optimizer *o;
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  CHECK_OK(tconv_optimizer_create(&oc, s, &o));
  for (int step = 0; step < 3; step++) {
    CHECK_OK(tconv_layer_forward(l, x, y, NULL));
    CHECK_OK(tconv_layer_backward(l, x, y, dy, NULL, &g, NULL));
    CHECK_OK(tconv_optimizer_step(o, &l, &g, 1));
  }
  CHECK_OK(tconv_layer_forward(l, x, y, NULL));
  char *meta = NULL;
  CHECK_OK(tconv_checkpoint_metadata(&l, 1, &meta));
  CHECK_OK(tconv_checkpoint_save(s, path, meta));
  tconv_string_free(meta);
  CHECK(count_temp_files(dir) == 0);
  /* the file as any safetensors reader sees it */
  tconv_weights w;
  CHECK_OK(tconv_safetensors_read(path, &w));
  CHECK(w.count == tconv_store_count(s) && w.count == 7); /* kernel, bias, 2x(m, v), iterations */
  CHECK(w.metadata && strstr(w.metadata, "tconv-checkpoint") && strstr(w.metadata, "kernel_size") &&
        strstr(w.metadata, "in_channels"));
  CHECK(tconv_weights_find(&w, "dec/kernel/Adam/m") != NULL);
  tconv_weights_free(&w);
  /* a fresh process: layers built, no slots yet; restore brings weights and slots back */
  tconv_store *s2 = tconv_store_create();
  tconv_layer *l2 = build(s2, "dec", 4, 2);
  CHECK_OK(tconv_layer_reshape(l2, in, NULL));
  CHECK_OK(tconv_layer_forward(l2, x, y2, NULL)); /* packs the initial weights */
  CHECK_OK(tconv_checkpoint_restore(s2, path));
  CHECK(tconv_store_count(s2) == 7);
  for (size_t i = 0; i < tconv_store_count(s); i++) {
    const char *name;
    tconv_tensor *a = tconv_store_at(s, i, &name, NULL), *b = tconv_store_find(s2, name);
    CHECK_MSG(b && memcmp(a->data, b->data, tconv_tensor_numel(a) * 4) == 0, "%s differs", name);
  }
  CHECK_OK(tconv_layer_forward(l2, x, y2, NULL)); /* repacked after the restore */
  CHECK(memcmp(y, y2, sizeof y) == 0);
  tconv_optimizer *o2;
  CHECK_OK(tconv_optimizer_create(&oc, s2, &o2));
  CHECK(tconv_optimizer_iterations(o2) == 3); /* resumes */
  /* config JSON */
  tconv_config c = tconv_config_default();
  c.filters = 32;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.padding = TCONV_PADDING_SAME;
  c.name = "a\"b";
  c.kernel_regularizer = (tconv_regularizer){TCONV_REG_L2, 0, 0.5};
  char *js = NULL;
  CHECK_OK(tconv_config_to_json(&c, &js));
  CHECK(js && strstr(js, "\"filters\":32") && strstr(js, "\"kernel_size\":[3,3]") &&
        strstr(js, "\"padding\":\"same\"") && strstr(js, "\"name\":\"a\\\"b\"") &&
        strstr(js, "\"class_name\":\"l2\",\"config\":{\"l1\":0,\"l2\":0.5}") &&
        strstr(js, "\"output_padding\":null"));
  tconv_string_free(js);
  CHECK_STATUS(tconv_config_to_json(NULL, &js), TCONV_INVALID_ARGUMENT);
  tconv_layer *unbuilt;
  CHECK_OK(tconv_layer_create(&c, &unbuilt));
  CHECK_STATUS(tconv_checkpoint_metadata(&unbuilt, 1, &js), TCONV_INVALID_STATE);
  tconv_layer_destroy(unbuilt);
  tconv_optimizer_destroy(o2);
  tconv_optimizer_destroy(o);
  tconv_layer_grads_free(&g);
  tconv_layer_destroy(l);
  tconv_layer_destroy(l2);
  tconv_store_destroy(s);
  tconv_store_destroy(s2);
  remove_dir(dir);
}

TEST(checkpoint_restore_mismatch_messages) {
  char dir[] = "/tmp/tconv-ckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  tconv_store *s2 = NULL, *s3 = NULL;
  tconv_store *s = tconv_store_create();
  const size_t k1[4] = {3, 3, 1, 32}, b1[1] = {32}, e1[2] = {2, 2};
  tconv_tensor *t;
  REQUIRE_OK(tconv_store_add(s, "dec/kernel", 4, k1, true, &t));
  t->data[0] = 42;
  REQUIRE_OK(tconv_store_add(s, "dec/bias", 1, b1, true, NULL));
  REQUIRE_OK(tconv_store_add(s, "enc/kernel", 2, e1, true, NULL));
  REQUIRE_OK(tconv_checkpoint_save(s, path, NULL));
  /* another model: kernel transposed, no bias, an extra variable, one file tensor unknown */
  s2 = tconv_store_create();
  const size_t k2[4] = {3, 3, 32, 1};
  tconv_tensor *t2;
  REQUIRE_OK(tconv_store_add(s2, "dec/kernel", 4, k2, true, &t2));
  REQUIRE_OK(tconv_store_add(s2, "dec/gamma", 1, b1, true, NULL));
  REQUIRE_OK(tconv_store_add(s2, "enc/kernel", 2, e1, true, NULL));
  CHECK_STATUS(tconv_checkpoint_restore(s2, path), TCONV_SHAPE_MISMATCH);
  const char *msg = tconv_last_error();
  CHECK_MSG(strstr(msg, "dec/kernel: shape (3,3,1,32) in file vs (3,3,32,1) in store") != NULL,
            "%s", msg);
  CHECK_MSG(strstr(msg, "missing variable dec/gamma") != NULL, "%s", msg);
  CHECK_MSG(strstr(msg, "unexpected tensor dec/bias (not in the store)") != NULL, "%s", msg);
  CHECK(t2->data[0] == 0); /* nothing written */
  /* only names wrong: NOT_FOUND */
  s3 = tconv_store_create();
  REQUIRE_OK(tconv_store_add(s3, "dec/kernel", 4, k1, true, NULL));
  REQUIRE_OK(tconv_store_add(s3, "dec/bias", 1, b1, true, NULL));
  CHECK_STATUS(tconv_checkpoint_restore(s3, path), TCONV_NOT_FOUND);
  CHECK(strstr(tconv_last_error(), "unexpected tensor enc/kernel") != NULL);
  CHECK_STATUS(tconv_checkpoint_restore(s3, "/nonexistent/x.safetensors"), TCONV_IO_ERROR);
  CHECK_STATUS(tconv_checkpoint_restore(NULL, path), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_checkpoint_save(s3, path, "{\"a\": 1}"), TCONV_INVALID_ARGUMENT);
done:
  tconv_store_destroy(s);
  tconv_store_destroy(s2);
  tconv_store_destroy(s3);
  remove_dir(dir);
}

/* A store of one variable of n floats, all equal to v; NULL when out of memory. */
static tconv_store *filled_store(size_t n, float v) {
  tconv_store *s = tconv_store_create();
  const size_t shape[1] = {n};
  tconv_tensor *t;
  if (tconv_store_add(s, "big/kernel", 1, shape, true, &t) != TCONV_OK) {
    tconv_store_destroy(s);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) t->data[i] = v;
  return s;
}

TEST(checkpoint_failed_save_keeps_previous_file) {
  char dir[] = "/tmp/tconv-ckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  size_t n0 = 0, n1 = 0;
  char *before = NULL, *after = NULL;
  tconv_store *s = filled_store(1000, 1.0f);
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_checkpoint_save(s, path, NULL));
  before = read_all(path, &n0);
  REQUIRE(before != NULL);
  /* the writer fails midway: a child may write at most 16 KiB per file (RLIMIT_FSIZE), and
   * the new checkpoint needs 256 KiB */
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
    struct rlimit rl = {16384, 16384};
    setrlimit(RLIMIT_FSIZE, &rl);
    tconv_store *big = filled_store(65536, 2.0f);
    if (big == NULL) _exit(2);
    tconv_status st = tconv_checkpoint_save(big, path, NULL);
    _exit(st == TCONV_IO_ERROR ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  after = read_all(path, &n1);
  CHECK(after && n0 == n1 && memcmp(before, after, n0) == 0);
  CHECK(count_temp_files(dir) == 0); /* the failed temp file is removed */
  CHECK_OK(tconv_checkpoint_restore(s, path));
done:
  free(before), free(after);
  tconv_store_destroy(s);
  remove_dir(dir);
}

TEST(checkpoint_kill_during_save_never_corrupts) {
  char dir[] = "/tmp/tconv-ckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  const size_t n = (size_t)2 << 20; /* 8 MiB per save */
  int restored = 0, newer = 0;
  tconv_store *s = filled_store(n, -1.0f);
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_checkpoint_save(s, path, NULL));
  for (int round = 0; round < 3; round++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* saves forever, each save a new uniform value */
      tconv_store *c = filled_store(n, 0.0f);
      if (c == NULL) _exit(2); /* not killed: the parent's CHECK fails */
      tconv_tensor *t = tconv_store_find(c, "big/kernel");
      for (int k = 1;; k++) {
        for (size_t i = 0; i < n; i++) t->data[i] = (float)k;
        tconv_checkpoint_save(c, path, NULL);
      }
    }
    struct timespec ts = {0, (long)(60 + 45 * round) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    if (getenv("TEST_VERBOSE")) fprintf(stderr, "  kill round %d: %d temp files\n", round, count_temp_files(dir));
    /* whatever the final name holds is a complete checkpoint: one uniform value throughout */
    CHECK_OK(tconv_checkpoint_restore(s, path));
    tconv_tensor *t = tconv_store_find(s, "big/kernel");
    bool uniform = true;
    for (size_t i = 1; i < n; i++) uniform &= t->data[i] == t->data[0];
    CHECK(uniform);
    restored++;
    newer += t->data[0] > 0;
  }
  CHECK(restored == 3);
  (void)newer; /* how far the child got depends on the disk */
done:
  tconv_store_destroy(s);
  remove_dir(dir); /* also the killed saves' temp files */
}

/* ---- every allocation of a training step failing in turn ------------------------------------ */

/* build, forward, backward (recomputing z for gelu), an Adam step (making slots), a checkpoint
 * save and a restore into a second store; returns the first failing status. */
static tconv_status training_lifecycle(const char *path) {
  tconv_status st = TCONV_OUT_OF_MEMORY;
  tconv_store *s = tconv_store_create(), *s2 = tconv_store_create();
  tconv_layer *l = NULL, *l2 = NULL;
  tconv_optimizer *o = NULL;
  tconv_layer_grads g = {0};
  float x[2 * 3 * 3 * 2], y[2 * 6 * 6 * 3], dy[2 * 6 * 6 * 3], dx[2 * 3 * 3 * 2];
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)i * 0.1f;
  for (size_t i = 0; i < sizeof dy / sizeof dy[0]; i++) dy[i] = 1.0f;
  if (s == NULL || s2 == NULL) goto done;
  tconv_config c = tconv_config_default();
  c.filters = 3;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.strides[0] = c.strides[1] = 2;
  c.padding = TCONV_PADDING_SAME;
  c.activation = TCONV_ACT_GELU;
  c.name = "t";
  const size_t in[4] = {2, 3, 3, 2};
  if ((st = tconv_layer_create(&c, &l)) != TCONV_OK) goto done;
  if ((st = tconv_layer_build(l, s, 2)) != TCONV_OK) goto done;
  if ((st = tconv_layer_reshape(l, in, NULL)) != TCONV_OK) goto done;
  if ((st = tconv_layer_grads_alloc(l, &g)) != TCONV_OK) goto done;
  if ((st = tconv_layer_forward(l, x, y, NULL)) != TCONV_OK) goto done;
  if ((st = tconv_layer_backward(l, x, NULL, dy, dx, &g, NULL)) != TCONV_OK) goto done;
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  if ((st = tconv_optimizer_create(&oc, s, &o)) != TCONV_OK) goto done;
  if ((st = tconv_optimizer_step(o, &l, &g, 1)) != TCONV_OK) goto done;
  if ((st = tconv_checkpoint_save(s, path, NULL)) != TCONV_OK) goto done;
  if ((st = tconv_layer_create(&c, &l2)) != TCONV_OK) goto done;
  if ((st = tconv_layer_build(l2, s2, 2)) != TCONV_OK) goto done;
  st = tconv_checkpoint_restore(s2, path);
done:
  tconv_layer_grads_free(&g);
  tconv_optimizer_destroy(o);
  tconv_layer_destroy(l);
  tconv_layer_destroy(l2);
  tconv_store_destroy(s);
  tconv_store_destroy(s2);
  return st;
}

TEST(training_allocation_failures_in_turn) {
  char dir[] = "/tmp/tconv-ckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/t.safetensors", dir);
  tconv_set_allocator(test_failing_malloc, test_counting_free, NULL);
  test_alloc_countdown = -1;
  test_live_blocks = 0;
  CHECK_OK(training_lifecycle(path));
  CHECK(test_live_blocks == 0);
  int failures = 0;
  for (long k = 0; k < 2000; k++) {
    test_alloc_countdown = k;
    test_live_blocks = 0;
    tconv_status st = training_lifecycle(path);
    CHECK_MSG(test_live_blocks == 0, "allocation %ld failing leaked %ld blocks", k, test_live_blocks);
    if (st == TCONV_OK) break;
    CHECK_MSG(st == TCONV_OUT_OF_MEMORY, "allocation %ld failing gave %s (%s)", k,
              tconv_status_string(st), tconv_last_error());
    failures++;
  }
  CHECK(failures > 20);
  tconv_set_allocator(NULL, NULL, NULL);
  remove_dir(dir);
}
