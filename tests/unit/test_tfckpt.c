/* TF checkpoint V2 reader: real TF-written bundles from ../shared/testdata (expected values from
 * its README), corrupt variants of them, and crafted bundles for TF's own fuzz seed classes. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_test.h"
#include "tfckpt_builder.h"

static bool shape_is(const tconv_named_tensor *t, size_t rank, const size_t *shape) {
  if (t == NULL || t->value.rank != rank) return false;
  for (size_t i = 0; i < rank; i++)
    if (t->value.shape[i] != shape[i]) return false;
  return true;
}

#define CHECK_SUM(t, expected)                                                                     \
  do {                                                                                             \
    const tconv_named_tensor *t_ = (t);                                                            \
    CHECK(t_ != NULL && t_->value.data != NULL);                                                   \
    if (t_ && t_->value.data) CHECK_NEAR(io_sum_of(t_), (expected), 1e-9 * fabs(expected) + 1e-12);   \
  } while (0)

TEST(tfckpt_object_graph_cvae) {
  if (!io_have_testdata("tfckpt_object_graph_cvae")) return;
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/cvae-init-object-graph/ckpt-101", 0, &w));
  CHECK(w.count == 16);
  CHECK(w.format && !strcmp(w.format, "tf-checkpoint"));
  const char *k1 = "model/generative_net/layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE";
  const tconv_named_tensor *t = io_by_name(&w, k1);
  size_t s1[] = {3, 3, 64, 32};
  CHECK(shape_is(t, 4, s1));
  CHECK(t && t->alias && !strcmp(t->alias, "conv2d_transpose/kernel"));
  CHECK(t && t->dtype == TCONV_DTYPE_FLOAT32);
  CHECK_SUM(t, 2.154678363353014);
  if (t && t->value.data) {
    CHECK(t->value.data[0] == -0.0578955039f);
    CHECK(t->value.data[1] == -0.0395839624f);
    CHECK(t->value.data[5] == -0.00537463278f);
  }
  t = io_by_name(&w, "model/generative_net/layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  CHECK(t && t->alias && !strcmp(t->alias, "conv2d_transpose_1/kernel"));
  CHECK_SUM(t, 10.822999689728022);
  t = io_by_name(&w, "model/generative_net/layer_with_weights-3/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  size_t s3[] = {3, 3, 1, 32};
  CHECK(shape_is(t, 4, s3));
  CHECK_SUM(t, 0.75638701766729355);
  t = io_by_name(&w, "model/generative_net/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  CHECK(t && t->alias && !strcmp(t->alias, "dense_1/kernel"));
  CHECK_SUM(t, 15.162110771983862);
  if (t && t->value.data) CHECK(t->value.data[0] == 0.0134440623f);
  t = io_by_name(&w, "model/inference_net/layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  CHECK_SUM(t, 20.565393617376685);
  t = io_by_name(&w, "save_counter/.ATTRIBUTES/VARIABLE_VALUE");
  CHECK(t && t->dtype == TCONV_DTYPE_INT64 && t->value.rank == 0 && t->value.data == NULL);
  CHECK(t && t->alias && !strcmp(t->alias, "save_counter"));
  t = io_by_name(&w, "_CHECKPOINTABLE_OBJECT_GRAPH");
  CHECK(t && t->dtype == TCONV_DTYPE_STRING && t->alias == NULL);
  const tconv_named_tensor *f = tconv_weights_find(&w, "conv2d_transpose_2/bias");
  CHECK(f && f->value.rank == 1 && f->value.shape[0] == 1);
  tconv_weights_free(&w);
  CHECK(w.count == 0 && w.items == NULL);
}

TEST(tfckpt_directory_state_file) {
  if (!io_have_testdata("tfckpt_directory_state_file")) return;
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/cvae-init-object-graph", 0, &w));
  CHECK(w.count == 16);
  tconv_weights_free(&w);
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/tf1-conv-autoencoder-adam", 0, &w));
  CHECK(w.count == 60);
  tconv_weights_free(&w);
  /* .index and data-shard spellings of the prefix. */
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/serving-counter/variables.index", 0, &w));
  CHECK(w.count == 1);
  tconv_weights_free(&w);
  CHECK_OK(tconv_tfckpt_read(
      TESTDATA "/tf-ckpt/serving-counter/variables.data-00000-of-00001", 0, &w));
  CHECK(w.count == 1 && !strcmp(w.items[0].name, "counter") && w.items[0].value.data &&
        w.items[0].value.data[0] == 0.0f);
  tconv_weights_free(&w);
  CHECK_STATUS(tconv_tfckpt_read(TESTDATA "/tf-ckpt/no-such-checkpoint", 0, &w), TCONV_NOT_FOUND);
  CHECK_STATUS(tconv_tfckpt_read(TESTDATA "/keras-h5", 0, &w), TCONV_NOT_FOUND);
}

TEST(tfckpt_name_based_adam) {
  if (!io_have_testdata("tfckpt_name_based_adam")) return;
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/tf1-conv-autoencoder-adam/checkpoint-00001700",
                             0, &w));
  CHECK(w.count == 60);
  const tconv_named_tensor *t = io_by_name(&w, "decoder/conv1_d/kernel");
  size_t s[] = {3, 3, 32, 64};
  CHECK(shape_is(t, 4, s));
  CHECK_SUM(t, 41.613237656400088);
  if (t && t->value.data) CHECK(t->value.data[0] == 0.0586801544f && t->value.data[1] == 0.100822829f);
  CHECK(t && t->alias == NULL);
  CHECK_SUM(io_by_name(&w, "decoder/conv1_d/kernel/Adam_1"), 413.21216190929408);
  CHECK_SUM(io_by_name(&w, "decoder/conv2_d/kernel"), 11.199597417291443);
  CHECK_SUM(io_by_name(&w, "decoder/conv2_d/bias/Adam"), -0.003215064003597945);
  CHECK_SUM(io_by_name(&w, "Variable"), 0.0010000000474974513);
  t = io_by_name(&w, "Variable_1");
  CHECK(t && t->dtype == TCONV_DTYPE_INT32 && t->value.data == NULL);
  /* Keys come in table order, which is sorted. */
  for (size_t i = 1; i < w.count; i++) CHECK(strcmp(w.items[i - 1].name, w.items[i].name) < 0);
  tconv_weights_free(&w);
}

TEST(tfckpt_snappy_blocks) {
  if (!io_have_testdata("tfckpt_snappy_blocks")) return;
  tconv_weights w;
  tconv_status st = tconv_tfckpt_read(TESTDATA "/tf-ckpt/serving-half-plus-two-cpu/variables", 0, &w);
#ifdef TCONV_HAVE_SNAPPY
  CHECK_OK(st);
  CHECK(w.count == 5);
  CHECK_SUM(io_by_name(&w, "a"), 0.5);
  CHECK_SUM(io_by_name(&w, "b"), 2.0);
  CHECK_SUM(io_by_name(&w, "c2"), 3.0);
  tconv_weights_free(&w);
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/serving-half-plus-two-tf2-cpu/variables", 0, &w));
  CHECK(w.count == 4);
  const tconv_named_tensor *t = io_by_name(&w, "b/.ATTRIBUTES/VARIABLE_VALUE");
  CHECK(t && t->alias && !strcmp(t->alias, "b"));
  CHECK_SUM(t, 2.0);
  CHECK_SUM(tconv_weights_find(&w, "c"), 3.0);
  tconv_weights_free(&w);
#else
  CHECK_STATUS(st, TCONV_UNSUPPORTED);
#endif
}

TEST(tfckpt_mkl_and_counter) {
  if (!io_have_testdata("tfckpt_mkl_and_counter")) return;
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_read(TESTDATA "/tf-ckpt/serving-half-plus-two-mkl/variables", 0, &w));
  CHECK(w.count == 9);
  const tconv_named_tensor *t = io_by_name(&w, "conv2d/kernel");
  size_t s[] = {1, 1, 1, 1};
  CHECK(shape_is(t, 4, s));
  CHECK_SUM(t, -0.52239596843719482);
  CHECK_SUM(io_by_name(&w, "conv2d_2/kernel"), 1.5779432058334351);
  tconv_weights_free(&w);
}

TEST(tfckpt_index_only) {
  if (!io_have_testdata("tfckpt_index_only")) return;
  const char *k2 = TESTDATA "/tf-ckpt/index-only-keras2-dcgan-optimizer-slots/ckpt-1";
  const char *k3 = TESTDATA "/tf-ckpt/index-only-keras3-dcgan/cp.ckpt-3";
  tconv_weights w;
  CHECK_STATUS(tconv_tfckpt_read(k2, 0, &w), TCONV_NOT_FOUND);
  CHECK(strstr(tconv_last_error(), "data-00000-of-00001") != NULL);
  CHECK(w.count == 0);
  CHECK_OK(tconv_tfckpt_read(k2, TCONV_LOAD_NO_DATA, &w));
  CHECK(w.count == 93);
  for (size_t i = 0; i < w.count; i++) CHECK(w.items[i].value.data == NULL);
  tconv_weights_free(&w);
  CHECK_OK(tconv_tfckpt_read(k3, TCONV_LOAD_ALLOW_MISSING_DATA, &w));
  CHECK(w.count == 60);
  const tconv_named_tensor *t =
      io_by_name(&w, "generator_optimizer/_trainable_variables/3/.ATTRIBUTES/VARIABLE_VALUE");
  size_t s[] = {5, 5, 128, 256};
  CHECK(shape_is(t, 4, s));
  tconv_weights_free(&w);
}

/* ---- corrupt variants of real files --------------------------------------------------------- */

TEST(tfckpt_corrupt_index_every_bit) {
  if (!io_have_testdata("tfckpt_corrupt_index_every_bit")) return;
  size_t in, dn;
  unsigned char *index =
      io_slurp(TESTDATA "/tf-ckpt/serving-half-plus-two-mkl/variables.index", &in);
  unsigned char *data =
      io_slurp(TESTDATA "/tf-ckpt/serving-half-plus-two-mkl/variables.data-00000-of-00001", &dn);
  CHECK(index && data);
  if (!index || !data) return;
  const void *shards[1] = {data};
  size_t sizes[1] = {dn};
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w));
  CHECK(w.count == 9);
  tconv_weights_free(&w);
  /* Every single-bit flip: either rejected, or (footer padding, the metaindex handle's unused
   * high bits cannot exist) accepted with the same tensors.  Never a crash. */
  size_t accepted = 0;
  for (size_t i = 0; i < in * 8; i++) {
    index[i / 8] ^= (unsigned char)(1u << (i % 8));
    tconv_status st = tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w);
    if (st == TCONV_OK) {
      accepted++;
      CHECK(w.count == 9);
      tconv_weights_free(&w);
    } else {
      CHECK(w.count == 0 && w.items == NULL);
      CHECK(tconv_last_error()[0] != 0);
    }
    index[i / 8] ^= (unsigned char)(1u << (i % 8));
  }
  /* Only the footer's zero padding (and nothing covered by a CRC) may flip unnoticed. */
  CHECK_MSG(accepted <= 8 * 48, "%zu flips accepted", accepted);
  /* Every truncation. */
  for (size_t n = 0; n < in; n++) CHECK(tconv_tfckpt_parse(index, n, shards, sizes, 1, 0, &w) != TCONV_OK);
  /* Every flip of the data shard is a CRC mismatch. */
  for (size_t i = 0; i < dn * 8; i += 7) {
    data[i / 8] ^= (unsigned char)(1u << (i % 8));
    CHECK_STATUS(tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w), TCONV_BAD_FILE);
    data[i / 8] ^= (unsigned char)(1u << (i % 8));
  }
  /* A truncated shard. */
  sizes[0] = dn - 1;
  CHECK_STATUS(tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w), TCONV_BAD_FILE);
  /* Shard missing. */
  CHECK_STATUS(tconv_tfckpt_parse(index, in, NULL, NULL, 0, 0, &w), TCONV_NOT_FOUND);
  free(index);
  free(data);
}

TEST(tfckpt_corrupt_string_tensor) {
  if (!io_have_testdata("tfckpt_corrupt_string_tensor")) return;
  size_t in, dn;
  unsigned char *index =
      io_slurp(TESTDATA "/tf-ckpt/serving-half-plus-two-tf2-cpu/variables.index", &in);
  unsigned char *data =
      io_slurp(TESTDATA "/tf-ckpt/serving-half-plus-two-tf2-cpu/variables.data-00000-of-00001", &dn);
  if (!index || !data) {
    CHECK(0);
    return;
  }
  const void *shards[1] = {data};
  size_t sizes[1] = {dn};
  tconv_weights w;
  tconv_status ok = tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w);
#ifdef TCONV_HAVE_SNAPPY
  CHECK_OK(ok);
  tconv_weights_free(&w);
  /* The object graph string lives at offset 12: its length varint, length CRC and bytes. */
  for (size_t i = 12; i < dn; i += 13) {
    data[i] ^= 0x10;
    CHECK_STATUS(tconv_tfckpt_parse(index, in, shards, sizes, 1, 0, &w), TCONV_BAD_FILE);
    data[i] ^= 0x10;
  }
#else
  CHECK_STATUS(ok, TCONV_UNSUPPORTED);
#endif
  free(index);
  free(data);
}

/* ---- crafted bundles: TF's checkpoint fuzz seed classes (security-anchors D13) -------------- */

static tconv_status parse_crafted(const tb_entry *e, size_t n, const uint8_t *data, size_t dn,
                                  tconv_weights *w) {
  tb_buf idx = tb_index(1, e, n);
  const void *shards[1] = {data};
  size_t sizes[1] = {dn};
  tconv_status st = tconv_tfckpt_parse(idx.p, idx.n, shards, sizes, 1, 0, w);
  free(idx.p);
  return st;
}

static const float four[4] = {1.5f, -2.0f, 0.25f, 8.0f};

TEST(tfckpt_crafted_valid) {
  tb_entry e = {.key = "layer/kernel", .dtype = 1, .rank = 2, .dims = {2, 2}, .size = 16,
                .data = (const uint8_t *)four};
  tconv_weights w;
  CHECK_OK(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w));
  CHECK(w.count == 1 && w.items[0].value.data && w.items[0].value.data[3] == 8.0f);
  tconv_weights_free(&w);
  /* float16 and bfloat16 conversion. */
  uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}; /* 1, -2, 2^-24, 65504 */
  e.dtype = 19;
  e.size = 8;
  e.data = (const uint8_t *)h;
  CHECK_OK(parse_crafted(&e, 1, (const uint8_t *)h, 8, &w));
  if (w.count == 1) {
    CHECK(w.items[0].dtype == TCONV_DTYPE_FLOAT16);
    CHECK(w.items[0].value.data[0] == 1.0f && w.items[0].value.data[1] == -2.0f);
    CHECK(w.items[0].value.data[2] == ldexpf(1.0f, -24) && w.items[0].value.data[3] == 65504.0f);
  }
  tconv_weights_free(&w);
  uint16_t bf[4] = {0x3fc0, 0xc000, 0, 0x4100}; /* 1.5, -2, 0, 8 */
  e.dtype = 14;
  e.data = (const uint8_t *)bf;
  CHECK_OK(parse_crafted(&e, 1, (const uint8_t *)bf, 8, &w));
  if (w.count == 1) CHECK(w.items[0].value.data[0] == 1.5f && w.items[0].value.data[3] == 8.0f);
  tconv_weights_free(&w);
  double d[2] = {0.1, -3.0};
  tb_entry e2 = {.key = "x", .dtype = 2, .rank = 1, .dims = {2}, .size = 16,
                 .data = (const uint8_t *)d};
  CHECK_OK(parse_crafted(&e2, 1, (const uint8_t *)d, 16, &w));
  if (w.count == 1) CHECK(w.items[0].value.data[0] == 0.1f && w.items[0].value.data[1] == -3.0f);
  tconv_weights_free(&w);
}

TEST(tfckpt_crafted_several_shards) {
  /* Three shards; tensors spread over them, one empty tensor. */
  float a[3] = {1, 2, 3}, b[2] = {4, 5}, c[1] = {6};
  tb_entry e[4] = {
      {.key = "a", .dtype = 1, .rank = 1, .dims = {3}, .shard = 0, .size = 12, .data = (uint8_t *)a},
      {.key = "b", .dtype = 1, .rank = 1, .dims = {2}, .shard = 2, .offset = 4, .size = 8,
       .data = (uint8_t *)b},
      {.key = "c", .dtype = 1, .rank = 0, .shard = 1, .size = 4, .data = (uint8_t *)c},
      {.key = "empty", .dtype = 1, .rank = 2, .dims = {0, 5}, .shard = 1, .offset = 4},
  };
  uint8_t s2[12] = {0};
  memcpy(s2 + 4, b, 8);
  tb_buf idx = tb_index(3, e, 4);
  const void *shards[3] = {a, c, s2};
  size_t sizes[3] = {12, 4, 12};
  tconv_weights w;
  CHECK_OK(tconv_tfckpt_parse(idx.p, idx.n, shards, sizes, 3, 0, &w));
  CHECK(w.count == 4);
  if (w.count == 4) {
    CHECK(w.items[1].value.data[1] == 5.0f && w.items[2].value.data[0] == 6.0f);
    CHECK(w.items[3].value.rank == 2 && w.items[3].value.shape[0] == 0);
  }
  tconv_weights_free(&w);
  /* Files on disk: PREFIX.data-0000i-of-00003. */
  char dir[] = "/tmp/tconv-tfckpt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/model.ckpt.index", dir);
  FILE *f = fopen(path, "wb");
  fwrite(idx.p, 1, idx.n, f);
  fclose(f);
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/model.ckpt.data-%05d-of-00003", dir, i);
    f = fopen(path, "wb");
    fwrite(shards[i], 1, sizes[i], f);
    fclose(f);
  }
  snprintf(path, sizeof path, "%s/model.ckpt", dir);
  CHECK_OK(tconv_tfckpt_read(path, 0, &w));
  CHECK(w.count == 4 && w.items[1].value.data && w.items[1].value.data[0] == 4.0f);
  tconv_weights_free(&w);
  snprintf(path, sizeof path, "%s/model.ckpt.data-00001-of-00003", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/model.ckpt", dir);
  CHECK_STATUS(tconv_tfckpt_read(path, 0, &w), TCONV_NOT_FOUND);
  CHECK_OK(tconv_tfckpt_read(path, TCONV_LOAD_ALLOW_MISSING_DATA, &w));
  CHECK(w.count == 4 && w.items[0].value.data && w.items[2].value.data == NULL);
  tconv_weights_free(&w);
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/model.ckpt.data-%05d-of-00003", dir, i);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/model.ckpt.index", dir);
  unlink(path);
  rmdir(dir);
  free(idx.p);
}

TEST(tfckpt_seed_tensor_size_overflow) {
  /* [0, 2^32, 2^32] DT_DOUBLE: zero elements forward, overflow in reverse. */
  tb_entry e = {.key = "t", .dtype = 2, .rank = 3, .dims = {0, 1ll << 32, 1ll << 32}};
  tconv_weights w;
  CHECK_STATUS(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w), TCONV_LIMIT_EXCEEDED);
  int64_t big = (int64_t)1 << 40;
  tb_entry e2 = {.key = "t", .dtype = 1, .rank = 3, .dims = {big, big, big}, .size = 16};
  CHECK_STATUS(parse_crafted(&e2, 1, (const uint8_t *)four, 16, &w), TCONV_LIMIT_EXCEEDED);
}

TEST(tfckpt_seed_extents) {
  tconv_weights w;
  tb_entry e = {.key = "t", .dtype = 1, .rank = 1, .dims = {4}, .size = 16,
                .data = (const uint8_t *)four, .extents = 1,
                .ext_start = {7954877770267194415ll}, .ext_len = {7954877770267194415ll}};
  CHECK_STATUS(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w), TCONV_BAD_FILE); /* end overflow */
  e.ext_start[0] = -1;
  e.ext_len[0] = 2;
  CHECK_STATUS(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w), TCONV_BAD_FILE); /* negative start */
  e.ext_start[0] = 0;
  e.ext_len[0] = -2000; /* missing length = full extent: valid, but partitioned */
  CHECK_STATUS(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w), TCONV_UNSUPPORTED);
  e.ext_len[0] = -5;
  CHECK_STATUS(parse_crafted(&e, 1, (const uint8_t *)four, 16, &w), TCONV_BAD_FILE);
}

TEST(tfckpt_seed_missing_and_bad_fields) {
  tconv_weights w;
  const uint8_t *d = (const uint8_t *)four;
  /* missing_tensor_data: the entry points past the data shard. */
  tb_entry e = {.key = "t", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .offset = 8, .data = d};
  CHECK_STATUS(parse_crafted(&e, 1, d, 16, &w), TCONV_BAD_FILE);
  e.offset = INT64_MAX - 4; /* offset + size overflows */
  CHECK_STATUS(parse_crafted(&e, 1, d, 16, &w), TCONV_BAD_FILE);
  e.offset = -8;
  CHECK_STATUS(parse_crafted(&e, 1, d, 16, &w), TCONV_BAD_FILE);
  /* missing_tensor_type / unsupported_tensor_type. */
  tb_entry t = {.key = "t", .no_dtype = true, .rank = 1, .dims = {4}, .size = 16, .data = d};
  CHECK_STATUS(parse_crafted(&t, 1, d, 16, &w), TCONV_BAD_FILE);
  t.no_dtype = false;
  t.dtype = 20; /* DT_RESOURCE */
  CHECK_STATUS(parse_crafted(&t, 1, d, 16, &w), TCONV_UNSUPPORTED);
  t.dtype = 5000;
  CHECK_STATUS(parse_crafted(&t, 1, d, 16, &w), TCONV_BAD_FILE);
  /* negative_dimension. */
  tb_entry n = {.key = "t", .dtype = 1, .rank = 2, .dims = {-2, -2}, .size = 16, .data = d};
  CHECK_STATUS(parse_crafted(&n, 1, d, 16, &w), TCONV_BAD_FILE);
  /* size disagreeing with the shape: never allocate by either. */
  tb_entry s = {.key = "t", .dtype = 1, .rank = 1, .dims = {3}, .size = 16, .data = d};
  CHECK_STATUS(parse_crafted(&s, 1, d, 16, &w), TCONV_BAD_FILE);
  /* shard id out of range (TF indexed data_[shard_id] unchecked). */
  tb_entry sh = {.key = "t", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .shard = 1, .data = d};
  CHECK_STATUS(parse_crafted(&sh, 1, d, 16, &w), TCONV_BAD_FILE);
  sh.shard = -1;
  CHECK_STATUS(parse_crafted(&sh, 1, d, 16, &w), TCONV_BAD_FILE);
  /* Wrong CRC and no CRC. */
  tb_entry c = {.key = "t", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .crc = 12345, .data = d};
  CHECK_STATUS(parse_crafted(&c, 1, d, 16, &w), TCONV_BAD_FILE);
  c.no_crc = true;
  CHECK_STATUS(parse_crafted(&c, 1, d, 16, &w), TCONV_BAD_FILE);
  /* Rank above 8. */
  tb_entry r = {.key = "t", .dtype = 1, .rank = 9, .dims = {1, 1, 1, 1, 1, 1, 1, 1, 4}, .size = 16,
                .data = d};
  CHECK_STATUS(parse_crafted(&r, 1, d, 16, &w), TCONV_LIMIT_EXCEEDED);
  CHECK(w.count == 0);
}

TEST(tfckpt_crafted_table_structure) {
  tconv_weights w;
  tb_entry e[2] = {{.key = "b", .dtype = 1, .rank = 0, .size = 4, .data = (const uint8_t *)four},
                   {.key = "a", .dtype = 1, .rank = 0, .size = 4, .data = (const uint8_t *)four}};
  /* Keys out of order. */
  CHECK_STATUS(parse_crafted(e, 2, (const uint8_t *)four, 16, &w), TCONV_BAD_FILE);
  /* Duplicate keys. */
  e[1].key = "b";
  CHECK_STATUS(parse_crafted(e, 2, (const uint8_t *)four, 16, &w), TCONV_BAD_FILE);
  /* Header with absurd shard counts. */
  tb_buf idx = tb_index(0, e, 1);
  CHECK_STATUS(tconv_tfckpt_parse(idx.p, idx.n, NULL, NULL, 0, 0, &w), TCONV_BAD_FILE);
  free(idx.p);
  idx = tb_index(1 << 20, e, 1);
  CHECK_STATUS(tconv_tfckpt_parse(idx.p, idx.n, NULL, NULL, 0, 0, &w), TCONV_BAD_FILE);
  free(idx.p);
  /* A restart count that does not fit: patch the data block's last word and fix its CRC. */
  idx = tb_index(1, e, 1);
  /* Data block = [0, size); its restart count is the 4 bytes before the 5-byte trailer. */
  tfckpt_pb foot = {idx.p + idx.n - 48, idx.p + idx.n - 8};
  uint64_t mo, ms, io, is;
  tfckpt_pb_varint(&foot, &mo);
  tfckpt_pb_varint(&foot, &ms);
  tfckpt_pb_varint(&foot, &io);
  tfckpt_pb_varint(&foot, &is);
  size_t dsize = (size_t)mo - 5;
  uint32_t huge = 0x40000000u;
  memcpy(idx.p + dsize - 4, &huge, 4);
  uint8_t type = 0;
  uint32_t crc = tconv_crc32c_mask(tconv_crc32c_extend(tconv_crc32c(idx.p, dsize), &type, 1));
  memcpy(idx.p + dsize + 1, &crc, 4);
  CHECK_STATUS(tconv_tfckpt_parse(idx.p, idx.n, NULL, NULL, 0, 0, &w), TCONV_BAD_FILE);
  CHECK(strstr(tconv_last_error(), "restart") != NULL);
  free(idx.p);
  /* Only-footer files and a footer pointing at absurd offsets. */
  uint8_t f48[48] = {0};
  f48[0] = 0xff; f48[1] = 0xff; f48[2] = 0xff; f48[3] = 0xff; f48[4] = 0x0f;
  memcpy(f48 + 40, "\x57\xfb\x80\x8b\x24\x75\x47\xdb", 8);
  CHECK_STATUS(tconv_tfckpt_parse(f48, 48, NULL, NULL, 0, 0, &w), TCONV_BAD_FILE);
  CHECK_STATUS(tconv_tfckpt_parse(f48, 47, NULL, NULL, 0, 0, &w), TCONV_BAD_FILE);
}

TEST(tfckpt_crc32c_known_values) {
  /* RFC 3720 test vectors. */
  uint8_t zeros[32] = {0}, ones[32], inc[32];
  for (int i = 0; i < 32; i++) ones[i] = 0xff, inc[i] = (uint8_t)i;
  CHECK(tconv_crc32c(zeros, 32) == 0x8a9136aau);
  CHECK(tconv_crc32c(ones, 32) == 0x62a8ab43u);
  CHECK(tconv_crc32c(inc, 32) == 0x46dd794eu);
  CHECK(tconv_crc32c("123456789", 9) == 0xe3069283u);
  CHECK(tconv_crc32c_extend(tconv_crc32c("1234", 4), "56789", 5) == 0xe3069283u);
  CHECK(tconv_crc32c_unmask(tconv_crc32c_mask(0xdeadbeefu)) == 0xdeadbeefu);
}

/* TCONV_WRITE_FUZZ_SEEDS=fuzz/corpus/tfckpt build/unit-tests tfckpt_fuzz_seeds writes TF's seed
 * classes (D13) as fuzz_tfckpt inputs: 4-byte index length, index, data shard. */
TEST(tfckpt_fuzz_seeds) {
  const char *dir = getenv("TCONV_WRITE_FUZZ_SEEDS");
  const uint8_t *d = (const uint8_t *)four;
  tb_entry seeds[] = {
      {.key = "tensor_size_overflow", .dtype = 2, .rank = 3, .dims = {0, 1ll << 32, 1ll << 32}},
      {.key = "extent_end_overflow", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .data = d,
       .extents = 1, .ext_start = {7954877770267194415ll}, .ext_len = {7954877770267194415ll}},
      {.key = "negative_extent_start", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .data = d,
       .extents = 1, .ext_start = {-1}, .ext_len = {2}},
      {.key = "missing_extent_length", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .data = d,
       .extents = 1, .ext_start = {0}, .ext_len = {-2000}},
      {.key = "missing_tensor_data", .dtype = 1, .rank = 1, .dims = {4}, .size = 16, .offset = 8,
       .data = d},
      {.key = "missing_tensor_type", .no_dtype = true, .rank = 1, .dims = {4}, .size = 16, .data = d},
      {.key = "negative_dimension", .dtype = 1, .rank = 2, .dims = {-2, -2}, .size = 16, .data = d},
      {.key = "unsupported_tensor_type", .dtype = 20, .rank = 1, .dims = {4}, .size = 16, .data = d},
      {.key = "valid", .dtype = 1, .rank = 2, .dims = {2, 2}, .size = 16, .data = d},
  };
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    tb_buf idx = tb_index(1, &seeds[i], 1);
    tconv_weights w;
    const void *shards[1] = {four};
    size_t sizes[1] = {16};
    tconv_status st = tconv_tfckpt_parse(idx.p, idx.n, shards, sizes, 1, 0, &w);
    CHECK_MSG((st == TCONV_OK) == (i == sizeof seeds / sizeof seeds[0] - 1), "seed %s: %s",
              seeds[i].key, tconv_status_string(st));
    tconv_weights_free(&w);
    if (dir) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dir, seeds[i].key);
      FILE *f = fopen(path, "wb");
      if (f) {
        uint8_t len[4] = {(uint8_t)idx.n, (uint8_t)(idx.n >> 8), (uint8_t)(idx.n >> 16),
                          (uint8_t)(idx.n >> 24)};
        fwrite(len, 1, 4, f);
        fwrite(idx.p, 1, idx.n, f);
        fwrite(four, 1, 16, f);
        fclose(f);
      }
    }
    free(idx.p);
  }
}

/* Every allocation of a checkpoint read failing in turn: OUT_OF_MEMORY with a message, nothing
 * left allocated, *out left empty, and the run with no failure reads both tensors. */
typedef struct oom_case {
  const tb_buf *idx;
  const void *const *shards;
  const size_t *sizes;
} oom_case;
static tconv_status oom_parse_op(const void *ctx) {
  const oom_case *c = ctx;
  tconv_weights w;
  tconv_status st = tconv_tfckpt_parse(c->idx->p, c->idx->n, c->shards, c->sizes, 1, 0, &w);
  if (st == TCONV_OK) {
    CHECK(w.count == 2 && w.items[1].value.data[0] == 1.0f);
    tconv_weights_free(&w);
  } else {
    CHECK(w.count == 0 && w.items == NULL);
  }
  return st;
}

TEST(tfckpt_allocation_failures) {
  float a[3] = {1, 2, 3};
  tb_entry e[2] = {
      {.key = "a/kernel", .dtype = 1, .rank = 1, .dims = {3}, .size = 12, .data = (uint8_t *)a},
      {.key = "b/kernel", .dtype = 2, .rank = 1, .dims = {1}, .size = 8, .offset = 12,
       .data = (uint8_t *)"\0\0\0\0\0\0\xf0\x3f"},
  };
  uint8_t shard[20];
  memcpy(shard, a, 12);
  memcpy(shard + 12, "\0\0\0\0\0\0\xf0\x3f", 8);
  tb_buf idx = tb_index(1, e, 2);
  const void *shards[1] = {shard};
  size_t sizes[1] = {20};
  oom_case c = {&idx, shards, sizes};
  long k = io_sweep_failures(oom_parse_op, &c, "tfckpt_parse");
  CHECK_MSG(k > 3, "%ld allocation sites", k);
  free(idx.p);
}
