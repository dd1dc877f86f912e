/* The seed-use models: the upsampler's border handling and strips (a bilinear-initialized layer
 * must equal the reference bilinear resize everywhere, borders and strip seams included), its
 * checkpoint round trip, and the MNIST model: loss falls, beats bilinear, and a restored
 * checkpoint reproduces the trained model's output bit for bit. */
#include "io_test.h"
#include "models/models.h"

TEST(upsampler_bilinear_layer_equals_bilinear_resize_with_strips) {
  unsigned long long seed = 42;
  tconv_image img, out = {0};
  tconv_upsampler u = {0};
  REQUIRE_OK(tconv_image_alloc(&img, 37, 300, 3, 8)); /* 300 rows: three strips */
  for (size_t i = 0; i < 37 * 300 * 3; i++) img.data[i] = 0.5f + 0.5f * test_rand_float(&seed);
  for (size_t s = 2; s <= 3; s++) {
    REQUIRE_OK(tconv_upsampler_init_bilinear(&u, s, 2 * s));
    REQUIRE_OK(tconv_upsampler_run(&u, &img, &out, NULL));
    CHECK(out.width == 37 * s && out.height == 300 * s && out.channels == 3);
    float *ref = malloc(37 * s * 300 * s * 3 * sizeof(float));
    tconv_resample_bilinear_up(img.data, 300, 37, 3, s, ref);
    double worst = 0;
    for (size_t i = 0; out.data && i < 37 * s * 300 * s * 3; i++)
      worst = fmax(worst, fabs(out.data[i] - ref[i]));
    CHECK_MSG(worst < 1e-5, "scale %zu: max |layer - bilinear| = %g", s, worst);
    free(ref);
    tconv_image_free(&out);
    tconv_upsampler_free(&u);
  }
done:
  tconv_image_free(&out);
  tconv_upsampler_free(&u);
  tconv_image_free(&img);
}

TEST(upsampler_checkpoint_round_trip_and_default_weights) {
  tconv_upsampler u = {0}, back = {0}, def = {0};
  tconv_image flat = {0}, out = {0};
  REQUIRE_OK(tconv_upsampler_init_bilinear(&u, 3, 12));
  u.filter[5] = 0.125f;
  u.bias = -0.01f;
  REQUIRE_OK(tconv_upsampler_save(&u, io_temp("up.safetensors")));
  REQUIRE_OK(tconv_upsampler_load(&back, io_temp("up.safetensors"), 0));
  CHECK(back.scale == 3 && back.kernel == 12 && back.bias == u.bias);
  CHECK(back.filter && memcmp(back.filter, u.filter, 144 * sizeof(float)) == 0);
  tconv_upsampler_free(&back);
  CHECK_FAILS(tconv_upsampler_load(&back, io_temp("up.safetensors"), 2), TCONV_INVALID_ARGUMENT);
  /* Embedded weights: a learned filter, not bilinear, that keeps a flat image flat (DC gain 1
   * per output phase, within the bias) for every scale shipped. */
  for (size_t s = 2; s <= 4; s++) {
    REQUIRE_OK(tconv_upsampler_init_default(&def, s));
    REQUIRE_OK(tconv_image_alloc(&flat, 9, 9, 1, 8));
    for (size_t i = 0; i < 81; i++) flat.data[i] = 0.5f;
    REQUIRE_OK(tconv_upsampler_run(&def, &flat, &out, NULL));
    for (size_t i = 0; out.data && i < 81 * s * s; i++) CHECK_NEAR(out.data[i], 0.5, 0.01);
    tconv_image_free(&flat);
    tconv_image_free(&out);
    tconv_upsampler_free(&def);
  }
  CHECK_STATUS(tconv_upsampler_init_default(&def, 5), TCONV_NOT_FOUND);
done:
  tconv_image_free(&flat);
  tconv_image_free(&out);
  tconv_upsampler_free(&def);
  tconv_upsampler_free(&u);
  tconv_upsampler_free(&back);
}

TEST(mnist_model_trains_beats_bilinear_and_restores_exactly) {
  tconv_tensor train = {0}, test = {0};
  tconv_mnist_model *m = NULL, *back = NULL, *other = NULL;
  tconv_upsampler u = {0};
  enum { N = 200 };
  float *lr = NULL, *up = NULL, *up2 = NULL, *bil = NULL;
  REQUIRE_OK(tconv_mnist_load("data/mnist", "train", &train));
  REQUIRE_OK(tconv_mnist_load("data/mnist", "t10k", &test));
  REQUIRE_OK(tconv_mnist_model_create(8, 3, 1, &m));
  tconv_mnist_train_options o = tconv_mnist_train_defaults();
  o.epochs = 2, o.batch = 16, o.learning_rate = 0.01;
  double loss[2] = {0, 0};
  REQUIRE_OK(tconv_mnist_model_train(m, train.data, 2048, &o, loss, NULL));
  CHECK_MSG(loss[1] < loss[0], "epoch losses %g, %g", loss[0], loss[1]);
  /* 200 held-out digits: 14x14 -> 28x28, model vs bilinear. */
  lr = malloc(N * 196 * sizeof(float)), up = malloc(N * 784 * sizeof(float));
  up2 = malloc(N * 784 * sizeof(float)), bil = malloc(N * 784 * sizeof(float));
  REQUIRE(lr && up && up2 && bil);
  for (size_t i = 0; i < N; i++) {
    tconv_resample_box_down(test.data + i * 784, 28, 28, 1, 2, lr + i * 196);
    tconv_resample_bilinear_up(lr + i * 196, 14, 14, 1, 2, bil + i * 784);
  }
  REQUIRE_OK(tconv_mnist_model_predict(m, lr, N, 14, 14, up, NULL));
  double p_model = tconv_metric_psnr(up, test.data, N * 784, NULL);
  double p_bil = tconv_metric_psnr(bil, test.data, N * 784, NULL);
  CHECK_MSG(p_model > p_bil + 1.0, "model %.2f dB, bilinear %.2f dB", p_model, p_bil);
  /* save -> restore -> the same numbers, bit for bit, also at the 28 -> 56 size show uses */
  REQUIRE_OK(tconv_mnist_model_save(m, io_temp("mnist.safetensors")));
  REQUIRE_OK(tconv_mnist_model_restore(io_temp("mnist.safetensors"), &back));
  CHECK(tconv_mnist_model_filters(back) == 8 && tconv_mnist_model_depth(back) == 3);
  REQUIRE_OK(tconv_mnist_model_predict(back, lr, N, 14, 14, up2, NULL));
  CHECK(io_same_floats(up, up2, N * 784));
  float a56[56 * 56], b56[56 * 56];
  REQUIRE_OK(tconv_mnist_model_predict(m, test.data, 1, 28, 28, a56, NULL));
  REQUIRE_OK(tconv_mnist_model_predict(back, test.data, 1, 28, 28, b56, NULL));
  CHECK(io_same_floats(a56, b56, 56 * 56));
  /* An upsampler checkpoint is not an MNIST model. */
  REQUIRE_OK(tconv_upsampler_init_bilinear(&u, 2, 4));
  REQUIRE_OK(tconv_upsampler_save(&u, io_temp("up4.safetensors")));
  tconv_upsampler_free(&u);
  CHECK_STATUS(tconv_mnist_model_restore(io_temp("up4.safetensors"), &other), TCONV_NOT_FOUND);
  CHECK(other == NULL);
done:
  tconv_upsampler_free(&u);
  tconv_mnist_model_destroy(other);
  free(lr), free(up), free(up2), free(bil);
  tconv_mnist_model_destroy(m);
  tconv_mnist_model_destroy(back);
  tconv_tensor_free(&train);
  tconv_tensor_free(&test);
}

TEST(metrics_psnr_ssim_values) {
  float a[64], b[64];
  for (int i = 0; i < 64; i++) a[i] = b[i] = (float)(i % 8) / 8.0f;
  double mse;
  CHECK(isinf(tconv_metric_psnr(a, b, 64, &mse)) && mse == 0);
  CHECK_NEAR(tconv_metric_ssim(a, b, 8, 8, 1), 1.0, 1e-9);
  for (int i = 0; i < 64; i++) b[i] = a[i] + 0.1f;
  CHECK_NEAR(tconv_metric_psnr(a, b, 64, NULL), 20.0, 0.05); /* mse 0.01 (clamping aside) */
}
