/* Keras readers: the real Keras-written files in ../shared/testdata (expected values from its
 * README), a Keras 3 `layers/<name>/vars/<i>` archive built here with libhdf5 + libzip, corrupt
 * variants, and the name handling we own around libhdf5. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "core/internal.h"
#include "io/keras.h"

#include "io_test.h"

#define CHECK_TENSOR(t, r, s0, s1, s2, s3, sum, first)                                             \
  do {                                                                                             \
    const tconv_named_tensor *t_ = (t);                                                            \
    CHECK(t_ != NULL && t_->value.data != NULL && t_->value.rank == (r));                          \
    if (t_ && t_->value.data && t_->value.rank == (r)) {                                           \
      size_t e_[4] = {s0, s1, s2, s3};                                                             \
      for (size_t i_ = 0; i_ < (r); i_++) CHECK(t_->value.shape[i_] == e_[i_]);                    \
      CHECK_NEAR(io_sum_of(t_), (sum), 1e-9 * fabs(sum) + 1e-12);                                     \
      CHECK(t_->value.data[0] == (first));                                                         \
    }                                                                                              \
  } while (0)

#ifdef TCONV_HAVE_HDF5
TEST(keras_h5_full_model_vlen_strings) {
  if (!io_have_testdata("keras_h5_full_model_vlen_strings")) return;
  tconv_weights w;
  CHECK_OK(tconv_keras_h5_read(TESTDATA "/keras-h5/vae-decoder-k2.7-full-model/decoder.h5", &w));
  CHECK(w.count == 6 && w.format && !strcmp(w.format, "keras-h5"));
  const tconv_named_tensor *k =
      io_by_name(&w, "model_weights/conv2d_transpose_2/conv2d_transpose_2/kernel:0");
  CHECK_TENSOR(k, 4, 3, 3, 32, 64, -1832.8074874173399, -0.0127641475f);
  CHECK(k && k->alias && !strcmp(k->alias, "conv2d_transpose_2/kernel"));
  CHECK_TENSOR(io_by_name(&w, "model_weights/conv2d_transpose_2/conv2d_transpose_2/bias:0"), 1, 32,
               0, 0, 0, 3.8397973738610744, -0.0360812098f);
  CHECK_TENSOR(tconv_weights_find(&w, "conv2d_transpose_3/kernel"), 4, 3, 3, 1, 32,
               -33.848994626081549, 0.362607569f);
  CHECK_TENSOR(tconv_weights_find(&w, "dense_7/kernel"), 2, 2, 12544, 0, 0, -459.42921813029693,
               tconv_weights_find(&w, "dense_7/kernel")->value.data[0]);
  tconv_weights_free(&w);
}

TEST(keras_h5_weights_only_fixed_strings) {
  if (!io_have_testdata("keras_h5_weights_only_fixed_strings")) return;
  tconv_weights w;
  CHECK_OK(tconv_keras_h5_read(TESTDATA "/keras-h5/cae-k2.3-weights-only/autoencoder.h5", &w));
  CHECK(w.count == 18);
  CHECK_TENSOR(io_by_name(&w, "conv2d_transpose_4/conv2d_transpose_4/kernel:0"), 4, 3, 3, 1, 32,
               -4.2369865800719708, 0.164479434f);
  CHECK_TENSOR(io_by_name(&w, "conv2d_transpose/conv2d_transpose/kernel:0"), 4, 3, 3, 2, 2,
               -2.0312736686319113, 0.2236173f);
  CHECK_TENSOR(tconv_weights_find(&w, "conv2d_transpose_3/bias"), 1, 32, 0, 0, 0,
               0.12583218514919281, 0.00863975938f);
  CHECK_TENSOR(tconv_weights_find(&w, "conv2d_1/kernel"), 4, 3, 3, 32, 16, 4.0580564713150125,
               tconv_weights_find(&w, "conv2d_1/kernel")->value.data[0]);
  tconv_weights_free(&w);
}

/* Loads from several threads at once (libhdf5's lock in thread-safe builds, tconv's
 * otherwise): every load must succeed with the file's weights. */
typedef struct h5_thread_arg {
  int ok;
} h5_thread_arg;
static void *h5_thread(void *arg) {
  h5_thread_arg *a = arg;
  a->ok = 1;
  for (int i = 0; i < 20; i++) {
    tconv_weights w;
    if (tconv_keras_h5_read(TESTDATA "/keras-h5/cae-k2.3-weights-only/autoencoder.h5", &w) !=
        TCONV_OK) {
      a->ok = 0;
      break;
    }
    if (w.count == 0) a->ok = 0;
    tconv_weights_free(&w);
  }
  return NULL;
}

TEST(keras_h5_loads_from_several_threads) {
  if (!io_have_testdata("keras_h5_loads_from_several_threads")) return;
  pthread_t t[4];
  h5_thread_arg a[4];
  int started = 0;
  for (int i = 0; i < 4 && pthread_create(&t[i], NULL, h5_thread, &a[i]) == 0; i++) started++;
  for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
  CHECK(started == 4);
  for (int i = 0; i < started; i++) CHECK(a[i].ok);
}

TEST(keras_h5_corrupt_and_truncated) {
  if (!io_have_testdata("keras_h5_corrupt_and_truncated")) return;
  FILE *f = fopen(TESTDATA "/keras-h5/cae-k2.3-weights-only/autoencoder.h5", "rb");
  CHECK(f != NULL);
  if (!f) return;
  static unsigned char buf[90000];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  tconv_weights w;
  CHECK_OK(tconv_keras_h5_parse(buf, n, &w));
  CHECK(w.count == 18);
  tconv_weights_free(&w);
  size_t cuts[] = {0, 7, 8, 100, 512, 2048, 40000, 84000};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    tconv_status st = tconv_keras_h5_parse(buf, cuts[i], &w);
    CHECK_MSG(st == TCONV_BAD_FILE, "cut at %zu: %s", cuts[i], tconv_status_string(st));
    CHECK(w.count == 0);
  }
  CHECK_STATUS(tconv_keras_h5_read("/nonexistent/x.h5", &w), TCONV_IO_ERROR);
  CHECK_STATUS(tconv_keras_h5_read(TESTDATA "/tf-ckpt/serving-counter/variables.index", &w),
               TCONV_BAD_FILE);
}
#endif

#if defined(TCONV_HAVE_HDF5) && defined(TCONV_HAVE_LIBZIP)
#include <hdf5.h>
#include <zip.h>

TEST(keras_zip_k213_layer_checkpoint_dependencies) {
  if (!io_have_testdata("keras_zip_k213")) return;
  const char *path = TESTDATA "/keras-h5/gan-generator-k2.13-keras-zip/generator.keras";
  tconv_weights w;
  CHECK_OK(tconv_keras_zip_read(path, &w));
  CHECK(w.count == 4 && w.format && !strcmp(w.format, "keras-zip"));
  const tconv_named_tensor *k = io_by_name(&w, "_layer_checkpoint_dependencies/conv2d_transpose/vars/0");
  CHECK_TENSOR(k, 4, 4, 4, 1, 8, -238.24129601055756, -2.80061483f);
  CHECK(k && k->alias && !strcmp(k->alias, "conv2d_transpose/kernel"));
  CHECK_TENSOR(tconv_weights_find(&w, "conv2d_transpose/bias"), 1, 1, 0, 0, 0, 1.4458408355712891,
               1.44584084f);
  CHECK_TENSOR(tconv_weights_find(&w, "dense/bias"), 1, 1568, 0, 0, 0, 796.59653145719494,
               tconv_weights_find(&w, "dense/bias")->value.data[0]);
  CHECK(w.metadata && strstr(w.metadata, "Conv2DTranspose") != NULL);
  tconv_weights_free(&w);
  /* Auto-detection. */
  CHECK_OK(tconv_weights_load(path, &w));
  CHECK(w.count == 4 && !strcmp(w.format, "keras-zip"));
  tconv_weights_free(&w);
  /* A flipped byte inside the stored model.weights.h5 member fails libzip's CRC-32 check. */
  FILE *f = fopen(path, "rb");
  static unsigned char buf[340000];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char tmp[] = "/tmp/tconv-keras-XXXXXX";
  int fd = mkstemp(tmp);
  CHECK(fd >= 0);
  buf[2240 + 5000] ^= 0x40;
  CHECK(write(fd, buf, n) == (ssize_t)n);
  close(fd);
  CHECK_STATUS(tconv_keras_zip_read(tmp, &w), TCONV_BAD_FILE);
  /* Truncated archive. */
  buf[2240 + 5000] ^= 0x40;
  fd = open(tmp, O_WRONLY | O_TRUNC);
  CHECK(write(fd, buf, n / 2) == (ssize_t)(n / 2));
  close(fd);
  CHECK(tconv_keras_zip_read(tmp, &w) != TCONV_OK);
  CHECK(w.count == 0);
  unlink(tmp);
}

/* Writes a Keras 3 style weights file: layers/<name>/vars/<i>, plus a nested model's layer. */
static int write_keras3_h5(const char *path, const float *kernel, const float *bias) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hsize_t kd[4] = {3, 3, 2, 4}, bd[1] = {2};
  hid_t ks = H5Screate_simple(4, kd, NULL), bs = H5Screate_simple(1, bd, NULL);
  const char *names[3] = {"layers/conv2d_transpose/vars/0", "layers/conv2d_transpose/vars/1",
                          "layers/functional/layers/conv2d_transpose_1/vars/0"};
  for (int i = 0; i < 3; i++) {
    hid_t s = i == 1 ? bs : ks;
    hid_t d = H5Dcreate2(f, names[i], H5T_IEEE_F32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, i == 1 ? bias : kernel);
    H5Dclose(d);
  }
  /* A float64 dataset and an integer one (Keras 3 stores optimizer iterations as int64). */
  hid_t one = H5Screate(H5S_SCALAR);
  double dv = 0.125;
  hid_t d = H5Dcreate2(f, "optimizer/vars/0", H5T_IEEE_F64LE, one, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &dv);
  H5Dclose(d);
  long long it = 7;
  d = H5Dcreate2(f, "optimizer/vars/1", H5T_STD_I64LE, one, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &it);
  H5Dclose(d);
  /* An external link must never be followed. */
  H5Lcreate_external("/etc/passwd", "/x", f, "evil", H5P_DEFAULT, H5P_DEFAULT);
  H5Sclose(one);
  H5Sclose(ks);
  H5Sclose(bs);
  H5Pclose(lcpl);
  H5Fclose(f);
  return 0;
}

TEST(keras_zip_keras3_layers_vars) {
  char dir[] = "/tmp/tconv-k3-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char h5[256], zpath[256];
  snprintf(h5, sizeof h5, "%s/model.weights.h5", dir);
  snprintf(zpath, sizeof zpath, "%s/model.keras", dir);
  float kernel[72], bias[2] = {0.5f, -0.25f};
  double ksum = 0;
  for (int i = 0; i < 72; i++) ksum += kernel[i] = (float)(i % 7) * 0.5f - 1.0f;
  CHECK(write_keras3_h5(h5, kernel, bias) == 0);
  int err = 0;
  zip_t *z = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &err);
  CHECK(z != NULL);
  const char *config = "{\"class_name\": \"Sequential\", \"config\": {\"layers\": "
                       "[{\"class_name\": \"Conv2DTranspose\"}]}}";
  zip_source_t *cs = zip_source_buffer(z, config, strlen(config), 0);
  zip_file_add(z, "config.json", cs, 0);
  zip_source_t *hs = zip_source_file(z, h5, 0, -1);
  zip_file_add(z, "model.weights.h5", hs, 0);
  CHECK(zip_close(z) == 0);
  tconv_weights w;
  CHECK_OK(tconv_weights_load(zpath, &w));
  CHECK(w.format && !strcmp(w.format, "keras-zip"));
  CHECK(w.count == 5);
  const tconv_named_tensor *k = io_by_name(&w, "layers/conv2d_transpose/vars/0");
  CHECK_TENSOR(k, 4, 3, 3, 2, 4, ksum, -1.0f);
  CHECK(k && k->alias && !strcmp(k->alias, "conv2d_transpose/kernel"));
  CHECK_TENSOR(tconv_weights_find(&w, "conv2d_transpose/bias"), 1, 2, 0, 0, 0, 0.25, 0.5f);
  k = tconv_weights_find(&w, "conv2d_transpose_1/kernel");
  CHECK(k && !strcmp(k->name, "layers/functional/layers/conv2d_transpose_1/vars/0"));
  k = io_by_name(&w, "optimizer/vars/0");
  CHECK(k && k->dtype == TCONV_DTYPE_FLOAT64 && k->value.rank == 0 && k->value.data &&
        k->value.data[0] == 0.125f && k->alias == NULL);
  k = io_by_name(&w, "optimizer/vars/1");
  CHECK(k && k->dtype == TCONV_DTYPE_INT64 && k->value.data == NULL);
  CHECK(io_by_name(&w, "evil") == NULL);
  CHECK(w.metadata && strstr(w.metadata, "Sequential"));
  tconv_weights_free(&w);
  /* The bare .weights.h5 reads the same through the HDF5 path. */
  CHECK_OK(tconv_weights_load(h5, &w));
  CHECK(w.count == 5 && !strcmp(w.format, "keras-h5"));
  tconv_weights_free(&w);
  /* A zip without model.weights.h5 named .keras. */
  z = zip_open(zpath, ZIP_CREATE | ZIP_TRUNCATE, &err);
  cs = zip_source_buffer(z, config, strlen(config), 0);
  zip_file_add(z, "config.json", cs, 0);
  zip_close(z);
  CHECK_STATUS(tconv_keras_zip_read(zpath, &w), TCONV_NOT_FOUND);
  unlink(h5);
  unlink(zpath);
  rmdir(dir);
}
#endif

TEST(keras_split_names) {
  char **names = NULL;
  const char fixed[] = "conv2d\0\0\0dense_1\0\0layer  \0\0";
  CHECK_OK(tconv_keras_split_names(fixed, 27, 3, 9, &names));
  if (names) {
    CHECK(!strcmp(names[0], "conv2d") && !strcmp(names[1], "dense_1"));
    CHECK(!strcmp(names[2], "layer"));
  }
  tconv_keras_free_names(names, 3);
  /* Exactly full width, no terminator. */
  CHECK_OK(tconv_keras_split_names("abcdef", 6, 2, 3, &names));
  if (names) CHECK(!strcmp(names[0], "abc") && !strcmp(names[1], "def"));
  tconv_keras_free_names(names, 2);
  CHECK_STATUS(tconv_keras_split_names(fixed, 26, 3, 9, &names), TCONV_BAD_FILE);
  CHECK_STATUS(tconv_keras_split_names(fixed, 27, (size_t)1 << 62, 9, &names), TCONV_LIMIT_EXCEEDED);
  CHECK_STATUS(tconv_keras_split_names(fixed, 27, 3, 0, &names), TCONV_LIMIT_EXCEEDED);
  CHECK_STATUS(tconv_keras_split_names("\0\0\0", 3, 1, 3, &names), TCONV_BAD_FILE);
  CHECK(names == NULL);
}

TEST(keras_alias) {
  char *a = tconv_keras_alias("model_weights/x/x/kernel:0", "x/kernel:0");
  CHECK(a && !strcmp(a, "x/kernel"));
  tconv_dealloc(a);
  a = tconv_keras_alias("layers/conv2d_transpose_3/vars/1", NULL);
  CHECK(a && !strcmp(a, "conv2d_transpose_3/bias"));
  tconv_dealloc(a);
  a = tconv_keras_alias("_layer_checkpoint_dependencies/dense/vars/0", NULL);
  CHECK(a && !strcmp(a, "dense/kernel"));
  tconv_dealloc(a);
  CHECK(tconv_keras_alias("layers/batch_normalization/vars/0", NULL) == NULL);
  CHECK(tconv_keras_alias("layers/conv2d/vars/2", NULL) == NULL);
  CHECK(tconv_keras_alias("/vars/0", NULL) == NULL);
  CHECK(tconv_keras_alias("vars/0", NULL) == NULL);
}
