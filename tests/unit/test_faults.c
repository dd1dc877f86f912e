/* Write failures during saves: for every writer the library has (npy, npz, safetensors, the
 * training checkpoint, PNG), each write call of a save fails in turn (half its bytes written,
 * then ENOSPC, as a filling disk does) through the test-only hook in tconv_write_all.  Every
 * failing save must return IO_ERROR, leave the previous file under the final name byte for byte,
 * and leave no temporary file beside it; the save that then succeeds replaces it. */
#include <dirent.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

typedef tconv_status (*save_fn)(const char *path, const void *obj);

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(sz > 0 ? (size_t)sz : 1);
  *n = p ? fread(p, 1, (size_t)sz, f) : 0;
  fclose(f);
  return p;
}

/* Files in dir whose name starts with base + ".tmp-". */
static int temp_files(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  int n = 0;
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s.tmp-", base);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
  if (d) closedir(d);
  return n;
}

/* Saves old_obj, then new_obj with each write failing in turn; returns the writes swept. */
static long sweep_write_failures(const char *name, save_fn save, const void *old_obj,
                                 const void *new_obj) {
  char dir[] = "/tmp/tconv-faults-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    CHECK(0);
    return 0;
  }
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  CHECK_OK(save(path, old_obj));
  size_t old_n = 0, got_n = 0;
  unsigned char *old_bytes = slurp(path, &old_n);
  CHECK(old_bytes != NULL && old_n > 0);
  /* How many write calls a clean save of the new object makes (into another file). */
  char probe[600];
  snprintf(probe, sizeof probe, "%s/probe-%s", dir, name);
  atomic_store(&tconv_test_write_calls, 0);
  CHECK_OK(save(probe, new_obj));
  long writes = atomic_load(&tconv_test_write_calls);
  remove(probe);
  CHECK_MSG(writes > 0, "%s: the save made no tconv_write_all call", name);
  for (long k = 0; k < writes; k++) {
    atomic_store(&tconv_test_write_calls, 0);
    atomic_store(&tconv_test_write_fail_at, k);
    tconv_status st = save(path, new_obj);
    atomic_store(&tconv_test_write_fail_at, -1);
    CHECK_MSG(st == TCONV_IO_ERROR, "%s: write %ld of %ld failing gave %s (%s)", name, k, writes,
              tconv_status_string(st), tconv_last_error());
    unsigned char *now = slurp(path, &got_n);
    CHECK_MSG(now != NULL && got_n == old_n && memcmp(now, old_bytes, old_n) == 0,
              "%s: write %ld failing changed the previous file", name, k);
    free(now);
    CHECK_MSG(temp_files(dir, name) == 0, "%s: write %ld failing left a temporary file", name, k);
  }
  CHECK_OK(save(path, new_obj));
  unsigned char *now = slurp(path, &got_n);
  CHECK(now != NULL && (got_n != old_n || memcmp(now, old_bytes, old_n) != 0));
  free(now);
  free(old_bytes);
  remove(path);
  rmdir(dir);
  return writes;
}

static tconv_tensor ramp(size_t rows, size_t cols, float base) {
  tconv_tensor t = {0};
  size_t shape[2] = {rows, cols};
  if (tconv_tensor_alloc(&t, 2, shape) == TCONV_OK)
    for (size_t i = 0; i < rows * cols; i++) t.data[i] = base + (float)i * 0.25f;
  return t;
}

static tconv_status save_npy(const char *path, const void *t) { return tconv_npy_save(path, t); }

TEST(faults_npy_save_keeps_previous_file) {
  tconv_tensor a = ramp(3, 4, 1.0f), b = ramp(5, 7, -2.0f);
  CHECK(sweep_write_failures("w.npy", save_npy, &a, &b) >= 2); /* header, then data */
  tconv_tensor_free(&a);
  tconv_tensor_free(&b);
}

typedef struct one_weight {
  tconv_named_tensor item;
  tconv_weights w;
} one_weight;

static void one_weight_init(one_weight *o, const char *name, tconv_tensor *t) {
  memset(o, 0, sizeof *o);
  o->item.name = (char *)name;
  o->item.dtype = TCONV_DTYPE_FLOAT32;
  o->item.value = *t;
  o->w.count = 1;
  o->w.items = &o->item;
}

static tconv_status save_npz(const char *path, const void *w) { return tconv_npz_write(path, w); }
static tconv_status save_st(const char *path, const void *w) {
  return tconv_safetensors_write(path, w, NULL);
}

TEST(faults_npz_and_safetensors_writes_keep_previous_file) {
  tconv_tensor a = ramp(2, 3, 0.5f), b = ramp(4, 4, 9.0f);
  one_weight wa, wb;
  one_weight_init(&wa, "dec/kernel", &a);
  one_weight_init(&wb, "dec/kernel", &b);
  CHECK(sweep_write_failures("w.npz", save_npz, &wa.w, &wb.w) >= 2);
#ifdef TCONV_HAVE_CJSON
  CHECK(sweep_write_failures("w.safetensors", save_st, &wa.w, &wb.w) >= 2);
#endif
  tconv_tensor_free(&a);
  tconv_tensor_free(&b);
}

static tconv_status save_ckpt(const char *path, const void *store) {
  return tconv_checkpoint_save(store, path, NULL);
}

TEST(faults_checkpoint_save_keeps_previous_checkpoint) {
#ifdef TCONV_HAVE_CJSON
  tconv_store *s = tconv_store_create(), *s2 = tconv_store_create();
  tconv_config c = tconv_config_default();
  c.filters = 4;
  c.kernel_size[0] = c.kernel_size[1] = 3;
  c.kernel_initializer.seed = 1;
  tconv_layer *l = NULL, *l2 = NULL;
  CHECK_OK(tconv_layer_create(&c, &l));
  CHECK_OK(tconv_layer_build(l, s, 2));
  c.kernel_initializer.seed = 2;
  CHECK_OK(tconv_layer_create(&c, &l2));
  CHECK_OK(tconv_layer_build(l2, s2, 2));
  if (l && l2) CHECK(sweep_write_failures("model.safetensors", save_ckpt, s, s2) >= 2);
  tconv_layer_destroy(l);
  tconv_layer_destroy(l2);
  tconv_store_destroy(s);
  tconv_store_destroy(s2);
#endif
}

static tconv_status save_png(const char *path, const void *img) {
  return tconv_image_save(path, img);
}

TEST(faults_png_save_keeps_previous_image) {
#ifdef TCONV_HAVE_PNG
  tconv_image a = {0}, b = {0};
  CHECK_OK(tconv_image_alloc(&a, 8, 5, 3, 8));
  CHECK_OK(tconv_image_alloc(&b, 40, 30, 1, 16));
  for (size_t i = 0; a.data && i < 8 * 5 * 3; i++) a.data[i] = (float)(i % 7) / 7.0f;
  for (size_t i = 0; b.data && i < 40 * 30; i++) b.data[i] = (float)(i % 13) / 13.0f;
  if (a.data && b.data) CHECK(sweep_write_failures("w.png", save_png, &a, &b) >= 1);
  tconv_image_free(&a);
  tconv_image_free(&b);
#endif
}
