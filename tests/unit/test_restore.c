/* One-call restore: name mapping over every layout, all-or-nothing errors, PyTorch re-layout and
 * padding conversion checked against a direct PyTorch-formula loop. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/formats.h"
#include "io_test.h"

static bool same_values(const tconv_tensor *a, const tconv_tensor *b) {
  size_t n = tconv_tensor_numel(a);
  if (n != tconv_tensor_numel(b) || a->data == NULL || b->data == NULL) return false;
  return memcmp(a->data, b->data, n * sizeof(float)) == 0;
}

static tconv_layer *make_layer(tconv_store *s, const char *name, int64_t filters, int64_t k,
                               int64_t stride, size_t in_c) {
  tconv_config cfg = tconv_config_default();
  cfg.filters = filters;
  cfg.kernel_size[0] = cfg.kernel_size[1] = k;
  cfg.strides[0] = cfg.strides[1] = stride;
  cfg.padding = TCONV_PADDING_SAME;
  cfg.name = name;
  tconv_layer *l = NULL;
  if (tconv_layer_create(&cfg, &l) != TCONV_OK) return NULL;
  if (tconv_layer_build(l, s, in_c) != TCONV_OK) {
    tconv_layer_destroy(l);
    return NULL;
  }
  return l;
}

TEST(restore_tf2_object_graph_names) {
  if (!io_have_testdata("restore_tf2_object_graph_names")) return;
  const char *ckpt = TESTDATA "/tf-ckpt/cvae-init-object-graph";
  tconv_weights w = {0};
  tconv_store *s = tconv_store_create();
  tconv_layer *l0 = make_layer(s, NULL, 64, 3, 2, 32), *l1 = make_layer(s, NULL, 32, 3, 2, 64),
              *l2 = make_layer(s, NULL, 1, 3, 1, 32);
  REQUIRE(l0 && l1 && l2);
  CHECK(!strcmp(tconv_layer_name(l2), "conv2d_transpose_2"));
  size_t n = 0;
  CHECK_OK(tconv_store_restore_file(s, ckpt, NULL, &n));
  CHECK(n == 6);
  REQUIRE_OK(tconv_weights_load(ckpt, &w));
  CHECK(same_values(tconv_layer_kernel(l0), &tconv_weights_find(&w, "conv2d_transpose/kernel")->value));
  CHECK(same_values(tconv_layer_kernel(l1),
                    &tconv_weights_find(&w, "conv2d_transpose_1/kernel")->value));
  CHECK(same_values(tconv_layer_kernel(l2),
                    &tconv_weights_find(&w, "conv2d_transpose_2/kernel")->value));
  CHECK(tconv_layer_kernel(l2)->data[0] ==
        tconv_weights_find(&w, "conv2d_transpose_2/kernel")->value.data[0]);
  tconv_layer_destroy(l0);
  tconv_layer_destroy(l1);
  tconv_layer_destroy(l2);
  l0 = l1 = l2 = NULL;
  tconv_store_destroy(s);
  /* A store scope the file lacks: generator/conv2d_transpose_1/kernel takes
   * conv2d_transpose_1/kernel. */
  s = tconv_store_create();
  size_t ks[4] = {3, 3, 32, 64};
  tconv_tensor *k = NULL;
  REQUIRE_OK(tconv_store_add(s, "generator/conv2d_transpose_1/kernel", 4, ks, true, &k));
  CHECK_OK(tconv_store_restore(s, &w, NULL, &n));
  CHECK(n == 1 && same_values(k, &tconv_weights_find(&w, "conv2d_transpose_1/kernel")->value));
done:
  tconv_layer_destroy(l0);
  tconv_layer_destroy(l1);
  tconv_layer_destroy(l2);
  tconv_store_destroy(s);
  tconv_weights_free(&w);
}

TEST(restore_tf1_names_and_errors) {
  if (!io_have_testdata("restore_tf1_names_and_errors")) return;
  const char *ckpt = TESTDATA "/tf-ckpt/tf1-conv-autoencoder-adam";
  tconv_weights w;
  tconv_store *s = NULL;
  REQUIRE_OK(tconv_weights_load(ckpt, &w));
  s = tconv_store_create();
  size_t k1[4] = {3, 3, 32, 64}, b1[1] = {32}, k2[4] = {5, 5, 3, 32};
  tconv_tensor *vk1 = NULL, *vb1 = NULL, *vk2 = NULL;
  REQUIRE_OK(tconv_store_add(s, "decoder/conv1_d/kernel", 4, k1, true, &vk1));
  REQUIRE_OK(tconv_store_add(s, "conv1_d/bias", 1, b1, true, &vb1)); /* by unique suffix */
  REQUIRE_OK(tconv_store_add(s, "dec/conv2_d/kernel", 4, k2, true, &vk2)); /* neither: missing */
  size_t n = 99;
  CHECK_STATUS(tconv_store_restore(s, &w, NULL, &n), TCONV_NOT_FOUND);
  CHECK(n == 0);
  CHECK(strstr(tconv_last_error(), "dec/conv2_d/kernel") != NULL);
  CHECK(vk1->data[0] == 0.0f); /* all-or-nothing: nothing written */
  tconv_restore_options o = tconv_restore_options_default();
  o.allow_missing = true;
  CHECK_OK(tconv_store_restore(s, &w, &o, &n));
  CHECK(n == 2);
  CHECK(same_values(vk1, &tconv_weights_find(&w, "decoder/conv1_d/kernel")->value));
  CHECK(vb1->data[0] == 0.0391903743f);
  CHECK(vk2->data[0] == 0.0f);
  o.allow_missing = false;
  o.only_prefix = "decoder/";
  CHECK_OK(tconv_store_restore(s, &w, &o, &n));
  CHECK(n == 1);
  tconv_store_destroy(s);
  /* Shape mismatch lists both shapes. */
  s = tconv_store_create();
  size_t wrong[4] = {3, 3, 64, 32};
  REQUIRE_OK(tconv_store_add(s, "decoder/conv1_d/kernel", 4, wrong, true, NULL));
  CHECK_STATUS(tconv_store_restore(s, &w, NULL, &n), TCONV_SHAPE_MISMATCH);
  CHECK(strstr(tconv_last_error(), "[3, 3, 64, 32]") && strstr(tconv_last_error(), "[3, 3, 32, 64]"));
  tconv_store_destroy(s);
  /* Ambiguous: "kernel" ends every kernel's name. */
  s = tconv_store_create();
  REQUIRE_OK(tconv_store_add(s, "kernel", 4, k1, true, NULL));
  CHECK_STATUS(tconv_store_restore(s, &w, NULL, &n), TCONV_INVALID_STATE);
  CHECK(strstr(tconv_last_error(), "ambiguous") != NULL);
  tconv_store_destroy(s);
  /* An integer tensor cannot fill a float variable. */
  s = tconv_store_create();
  REQUIRE_OK(tconv_store_add(s, "Variable_1", 0, NULL, true, NULL));
  CHECK_STATUS(tconv_store_restore(s, &w, NULL, &n), TCONV_SHAPE_MISMATCH);
  CHECK(strstr(tconv_last_error(), "int32") != NULL);
done:
  tconv_store_destroy(s);
  tconv_weights_free(&w);
}

TEST(restore_keras_h5_names) {
  if (!io_have_testdata("restore_keras_h5_names")) return;
  tconv_store *s = tconv_store_create();
  tconv_layer *l = make_layer(s, "conv2d_transpose_2", 32, 3, 2, 64);
  REQUIRE(l != NULL);
  size_t n = 0;
  tconv_status st = tconv_store_restore_file(
      s, TESTDATA "/keras-h5/vae-decoder-k2.7-full-model/decoder.h5", NULL, &n);
#ifdef TCONV_HAVE_HDF5
  CHECK_OK(st);
  CHECK(n == 2);
  CHECK(tconv_layer_kernel(l)->data[0] == -0.0127641475f);
  CHECK(tconv_layer_bias(l)->data[1] == 0.168822199f);
#else
  CHECK_STATUS(st, TCONV_UNSUPPORTED);
#endif
done:
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
}

/* PyTorch's ConvTranspose2d, written from its documented formula (NCHW, weight (in, out/g, kh,
 * kw)): out[n][g*opg+o][ih*s - p + a*d] += x[n][g*ipg+i][ih][iw] * W[g*ipg+i][o][a][b]. */
static void torch_reference(const tconv_pytorch_conv_transpose2d *t, size_t N, size_t H, size_t W,
                            const float *x, const float *wt, const float *bias, size_t OH,
                            size_t OW, double *y) {
  size_t C = (size_t)t->in_channels, F = (size_t)t->out_channels, G = (size_t)t->groups;
  size_t ipg = C / G, opg = F / G, KH = (size_t)t->kernel_size[0], KW = (size_t)t->kernel_size[1];
  for (size_t n = 0; n < N; n++)
    for (size_t f = 0; f < F; f++)
      for (size_t i = 0; i < OH * OW; i++) y[(n * F + f) * OH * OW + i] = bias ? bias[f] : 0;
  for (size_t n = 0; n < N; n++)
    for (size_t c = 0; c < C; c++)
      for (size_t ih = 0; ih < H; ih++)
        for (size_t iw = 0; iw < W; iw++)
          for (size_t o = 0; o < opg; o++)
            for (size_t a = 0; a < KH; a++)
              for (size_t b = 0; b < KW; b++) {
                long oh = (long)(ih * t->stride[0] + a * t->dilation[0]) - (long)t->padding[0];
                long ow = (long)(iw * t->stride[1] + b * t->dilation[1]) - (long)t->padding[1];
                if (oh < 0 || ow < 0 || oh >= (long)OH || ow >= (long)OW) continue;
                size_t f = (c / ipg) * opg + o;
                y[((n * F + f) * OH + (size_t)oh) * OW + (size_t)ow] +=
                    (double)x[((n * C + c) * H + ih) * W + iw] * wt[((c * opg + o) * KH + a) * KW + b];
              }
}

/* One PyTorch layer: its weights as a PyTorch file holds them, restored with the re-layout, and
 * the layer's output against torch_reference. */
static void pytorch_case(size_t c, const tconv_pytorch_conv_transpose2d *t,
                         unsigned long long *seed) {
  size_t C = (size_t)t->in_channels, F = (size_t)t->out_channels, G = (size_t)t->groups;
  size_t KH = (size_t)t->kernel_size[0], KW = (size_t)t->kernel_size[1];
  /* The weights as a PyTorch safetensors file would hold them. */
  tconv_weights w = {0};
  tconv_tensor wt = {0}, bt = {0};
  tconv_store *s = NULL;
  tconv_layer *l = NULL;
  float *wcopy = NULL, *bcopy = NULL, *x = NULL, *y = NULL;
  double *ref = NULL;
  size_t wshape[4] = {C, F / G, KH, KW}, bshape[1] = {F};
  REQUIRE_OK(tconv_tensor_alloc(&wt, 4, wshape));
  REQUIRE_OK(tconv_tensor_alloc(&bt, 1, bshape));
  for (size_t i = 0; i < tconv_tensor_numel(&wt); i++) wt.data[i] = test_rand_float(seed);
  for (size_t i = 0; i < F; i++) bt.data[i] = test_rand_float(seed);
  wcopy = malloc(tconv_tensor_numel(&wt) * sizeof(float)), bcopy = malloc(F * sizeof(float));
  REQUIRE(wcopy != NULL && bcopy != NULL);
  memcpy(wcopy, wt.data, tconv_tensor_numel(&wt) * sizeof(float));
  memcpy(bcopy, bt.data, F * sizeof(float));
  w.format = "safetensors";
  REQUIRE_OK(tconv_weights_push(&w, "decoder.up.weight", TCONV_DTYPE_FLOAT32, &wt));
  if (t->bias) REQUIRE_OK(tconv_weights_push(&w, "decoder.up.bias", TCONV_DTYPE_FLOAT32, &bt));
  tconv_tensor_free(&bt);
  tconv_config cfg;
  REQUIRE_OK(tconv_config_from_pytorch(t, &cfg));
  cfg.name = "up";
  s = tconv_store_create();
  REQUIRE(s != NULL);
  REQUIRE_OK(tconv_layer_create(&cfg, &l));
  REQUIRE_OK(tconv_layer_build(l, s, C));
  tconv_restore_options o = tconv_restore_options_default();
  o.source = TCONV_SOURCE_PYTORCH;
  size_t n = 0;
  REQUIRE_OK(tconv_store_restore(s, &w, &o, &n));
  CHECK(n == (t->bias ? 2u : 1u));
  tconv_layer_weights_changed(l);
  /* Without the PyTorch flag the shapes do not line up (unless square by accident). */
  o.source = TCONV_SOURCE_TF;
  CHECK(tconv_store_restore(s, &w, &o, &n) != TCONV_OK);
  size_t N = 2, H = 5, W = 4, in_shape[4] = {N, C, H, W}, out_shape[4];
  REQUIRE_OK(tconv_layer_reshape(l, in_shape, out_shape));
  size_t OH = (H - 1) * (size_t)t->stride[0] - 2 * (size_t)t->padding[0] +
              (size_t)t->dilation[0] * (KH - 1) + (size_t)t->output_padding[0] + 1;
  size_t OW = (W - 1) * (size_t)t->stride[1] - 2 * (size_t)t->padding[1] +
              (size_t)t->dilation[1] * (KW - 1) + (size_t)t->output_padding[1] + 1;
  CHECK(out_shape[0] == N && out_shape[1] == F && out_shape[2] == OH && out_shape[3] == OW);
  x = malloc(N * C * H * W * sizeof(float)), y = malloc(N * F * OH * OW * sizeof(float));
  ref = malloc(N * F * OH * OW * sizeof(double));
  REQUIRE(x != NULL && y != NULL && ref != NULL);
  for (size_t i = 0; i < N * C * H * W; i++) x[i] = test_rand_float(seed);
  REQUIRE_OK(tconv_layer_forward(l, x, y, NULL));
  torch_reference(t, N, H, W, x, wcopy, t->bias ? bcopy : NULL, OH, OW, ref);
  double worst = 0;
  for (size_t i = 0; i < N * F * OH * OW; i++) worst = fmax(worst, fabs(y[i] - ref[i]));
  CHECK_MSG(worst < 1e-5, "case %zu: max error %g", c, worst);
done:
  free(x);
  free(y);
  free(ref);
  free(wcopy);
  free(bcopy);
  tconv_layer_destroy(l);
  tconv_store_destroy(s);
  tconv_weights_free(&w);
  tconv_tensor_free(&wt);
  tconv_tensor_free(&bt);
}

TEST(restore_pytorch_relayout_and_padding) {
  unsigned long long seed = 42;
  tconv_pytorch_conv_transpose2d cases[] = {
      {4, 6, {3, 2}, {2, 3}, {1, 0}, {1, 2}, {1, 1}, 2, true},
      {3, 2, {4, 4}, {2, 2}, {1, 1}, {0, 0}, {1, 1}, 1, true},
      {2, 4, {3, 3}, {1, 1}, {2, 1}, {1, 0}, {2, 2}, 2, false},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) pytorch_case(c, &cases[c], &seed);
}

TEST(restore_pytorch_helpers) {
  tconv_pytorch_conv_transpose2d t = {4, 6, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 2, true};
  tconv_config cfg;
  CHECK_OK(tconv_config_from_pytorch(&t, &cfg));
  CHECK(cfg.form == TCONV_FORM_CORE && cfg.explicit_padding[0] == 1 && cfg.explicit_padding[3] == 1);
  CHECK(cfg.adjust[0] == 1 && cfg.groups == 2 && cfg.filters == 6);
  CHECK(cfg.data_format == TCONV_CHANNELS_FIRST);
  t.output_padding[1] = 2; /* >= max(stride 2, dilation 1) */
  CHECK_STATUS(tconv_config_from_pytorch(&t, &cfg), TCONV_INVALID_ARGUMENT);
  t.output_padding[1] = 1;
  t.out_channels = 5;
  CHECK_STATUS(tconv_config_from_pytorch(&t, &cfg), TCONV_INVALID_ARGUMENT);
  t.out_channels = 6;
  t.padding[0] = -1;
  CHECK_STATUS(tconv_config_from_pytorch(&t, &cfg), TCONV_INVALID_ARGUMENT);
  CHECK_STATUS(tconv_config_from_pytorch(NULL, &cfg), TCONV_INVALID_ARGUMENT);
  /* Re-layout by hand: src (in=2, out=3, kh=1, kw=2). */
  tconv_tensor src = {0}, dst = {0};
  size_t shape[4] = {2, 3, 1, 2};
  REQUIRE_OK(tconv_tensor_alloc(&src, 4, shape));
  for (size_t i = 0; i < 12; i++) src.data[i] = (float)i;
  REQUIRE_OK(tconv_kernel_from_pytorch(&src, &dst));
  CHECK(dst.rank == 4 && dst.shape[0] == 1 && dst.shape[1] == 2 && dst.shape[2] == 3 &&
        dst.shape[3] == 2);
  /* dst[0][b][o][i] = src[i][o][0][b] = i*6 + o*2 + b. */
  for (size_t b = 0; b < 2; b++)
    for (size_t o = 0; o < 3; o++)
      for (size_t i = 0; i < 2; i++) CHECK(dst.data[(b * 3 + o) * 2 + i] == (float)(i * 6 + o * 2 + b));
  tconv_tensor_free(&dst);
  src.rank = 3;
  CHECK_STATUS(tconv_kernel_from_pytorch(&src, &dst), TCONV_INVALID_ARGUMENT);
done:
  tconv_tensor_free(&dst);
  tconv_tensor_free(&src);
}

TEST(restore_roundtrip_through_npz_and_safetensors) {
  if (!io_have_testdata("restore_roundtrip")) return;
  tconv_weights w, back;
  CHECK_OK(tconv_weights_load(TESTDATA "/tf-ckpt/tf1-conv-autoencoder-adam", &w));
  char dir[] = "/tmp/tconv-rt-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  const char *exts[2] = {"npz", "safetensors"};
  for (int e = 0; e < 2; e++) {
    char path[256];
    snprintf(path, sizeof path, "%s/w.%s", dir, exts[e]);
    CHECK_OK(tconv_weights_save(path, &w));
    CHECK_OK(tconv_weights_load(path, &back));
    CHECK(back.count == w.count - 1); /* the int32 Variable_1 is not written */
    const tconv_named_tensor *a = tconv_weights_find(&w, "decoder/conv2_d/kernel/Adam_1");
    const tconv_named_tensor *b = tconv_weights_find(&back, "decoder/conv2_d/kernel/Adam_1");
    CHECK(a && b && same_values(&a->value, &b->value) && b->value.rank == 4);
    tconv_weights_free(&back);
    unlink(path);
  }
  rmdir(dir);
  char bad[] = "/tmp/w.txt";
  CHECK_STATUS(tconv_weights_save(bad, &w), TCONV_INVALID_ARGUMENT);
  tconv_weights_free(&w);
}
