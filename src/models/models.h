/* The seed's uses 2 and 3 as small models built from tconv layers, shared by the tconv tool
 * (tools/tconv/cmd_upsample.c, cmd_mnist.c) and the tests.  Library-internal (not in tconv.h):
 * examples/ show the same things through the public API alone.  Nothing here prints; long work
 * reports through a progress callback. */
#ifndef TCONV_MODELS_H
#define TCONV_MODELS_H

#include "tconv.h"

/* Called now and then during training: steps done of total, the running mean loss. */
typedef void (*tconv_progress_fn)(void *ctx, size_t done, size_t total, double loss);

/* ---- Image helpers (src/models/resample.c): float HWC planes --------------------------------- */
/* Mean of each s x s block: (h, w) -> (h / s, w / s); the remainder rows/columns are dropped. */
void tconv_resample_box_down(const float *in, size_t h, size_t w, size_t c, size_t s, float *out);
/* Nearest and bilinear (half-pixel centers, edge clamped: TF's resize with
 * half_pixel_centers=True, PIL/OpenCV for upscaling) by an integer factor s. */
void tconv_resample_nearest_up(const float *in, size_t h, size_t w, size_t c, size_t s, float *out);
void tconv_resample_bilinear_up(const float *in, size_t h, size_t w, size_t c, size_t s,
                                float *out);
/* PSNR in dB of a against b (values clamped to [0, 1] first; peak 1); mean squared error out. */
double tconv_metric_psnr(const float *a, const float *b, size_t n, double *mse);
/* Mean SSIM over channels, 7x7 uniform windows, K1 0.01, K2 0.03, data range 1 (scikit-image's
 * structural_similarity defaults); a and b clamped to [0, 1].  h, w >= 7. */
double tconv_metric_ssim(const float *a, const float *b, size_t h, size_t w, size_t c);

/* ---- Use 2: image upscaling (src/models/upsample.c) ---------------------------------------- *
 * One Conv2DTranspose(filters = channels, kernel k, strides s, 'same'), applied per channel
 * (its kernel is diagonal over channels: one learned k x k filter for every channel, so one
 * model serves gray, RGB and RGBA alike) on the image edge-replicated by `pad` pixels, the
 * output then cropped by pad * s: the layer's zero padding would otherwise darken the first and
 * last rows and columns. */
typedef struct tconv_upsampler {
  size_t scale, kernel, pad;
  float *filter; /* kernel x kernel taps (the depthwise filter), owned */
  float bias;
} tconv_upsampler;

/* The bilinear filter for scale s in a k x k 'same' layer (exact half-pixel bilinear when
 * k >= 2s).  Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
tconv_status tconv_upsampler_init_bilinear(tconv_upsampler *u, size_t scale, size_t kernel);
/* The weights embedded in the tool (src/models/upsample_weights.c) for this scale, or NOT_FOUND. */
tconv_status tconv_upsampler_init_default(tconv_upsampler *u, size_t scale);
/* A checkpoint written by tconv_upsampler_save (or any safetensors/npz with "upsample/kernel" of
 * shape (k, k, 1, 1) and "upsample/bias" (1)).  The scale comes from the file's metadata when it
 * has one.  Errors: those of tconv_weights_load, NOT_FOUND, SHAPE_MISMATCH. */
tconv_status tconv_upsampler_load(tconv_upsampler *u, const char *path, size_t scale_hint);
tconv_status tconv_upsampler_save(const tconv_upsampler *u, const char *path);
void tconv_upsampler_free(tconv_upsampler *u);
/* in -> out (allocated here: width * s, height * s, same channels and bit depth), processed in
 * strips of rows so memory stays bounded on big images. */
tconv_status tconv_upsampler_run(const tconv_upsampler *u, const tconv_image *in, tconv_image *out,
                                 tconv_threadpool *pool);

typedef struct tconv_upsample_train_options {
  size_t steps, batch, patch; /* patch: low-resolution side of a training crop */
  double learning_rate;
  uint64_t seed;
  tconv_progress_fn progress;
  void *progress_ctx;
} tconv_upsample_train_options;
tconv_upsample_train_options tconv_upsample_train_defaults(void);
/* Learns u's filter (starting from what u holds) from images: random crops, box-downscaled by
 * u->scale, upscaled by the model, MSE against the crop, Adam.  Each channel of each image is
 * one gray sample.  final_loss (optional): mean loss of the last 10% of steps. */
tconv_status tconv_upsampler_train(tconv_upsampler *u, const tconv_image *images, size_t count,
                                   const tconv_upsample_train_options *opt, double *final_loss,
                                   tconv_threadpool *pool);

/* ---- Use 3: MNIST 2x super-resolution (src/models/mnist.c) --------------------------------- *
 * `depth - 1` Conv2DTranspose(filters, 3x3, stride 1, 'same', relu) layers, then the text's
 * Conv2DTranspose(filters=1, 3x3, stride 2, 'same').  Trained on digits box-downscaled to
 * 14x14 with the 28x28 digit as target; applied to a 28x28 digit it gives 56x56. */
typedef struct tconv_mnist_model tconv_mnist_model;
tconv_status tconv_mnist_model_create(size_t filters, size_t depth, uint64_t seed,
                                      tconv_mnist_model **out);
/* Builds the model a checkpoint holds (architecture read from its tensor shapes) and restores
 * it. */
tconv_status tconv_mnist_model_restore(const char *path, tconv_mnist_model **out);
tconv_status tconv_mnist_model_save(tconv_mnist_model *m, const char *path);
void tconv_mnist_model_destroy(tconv_mnist_model *m);
size_t tconv_mnist_model_filters(const tconv_mnist_model *m);
size_t tconv_mnist_model_depth(const tconv_mnist_model *m);
/* n images of h x w (one channel, values in [0, 1]) -> n images of 2h x 2w (not clamped). */
tconv_status tconv_mnist_model_predict(tconv_mnist_model *m, const float *in, size_t n, size_t h,
                                       size_t w, float *out, tconv_threadpool *pool);

typedef struct tconv_mnist_train_options {
  size_t epochs, batch;
  double learning_rate;
  uint64_t seed;
  tconv_progress_fn progress; /* done/total in batches over all epochs */
  void *progress_ctx;
} tconv_mnist_train_options;
tconv_mnist_train_options tconv_mnist_train_defaults(void);
/* Trains on n 28x28 digits (values in [0, 1]): input their 2x2-mean 14x14, target the digit.
 * epoch_loss (optional, epochs entries): mean training loss of each epoch. */
tconv_status tconv_mnist_model_train(tconv_mnist_model *m, const float *digits, size_t n,
                                     const tconv_mnist_train_options *opt, double *epoch_loss,
                                     tconv_threadpool *pool);

/* Loads IDX images (n, 28, 28) from dir/<stem>-images-idx3-ubyte[.gz] as floats in [0, 1]
 * (u8 / 255).  stem: "train" or "t10k". */
tconv_status tconv_mnist_load(const char *dir, const char *stem, tconv_tensor *images);

#endif
