/* Learning the upsampling filter from photographs: downscale-then-upscale pairs.
 *
 * Each sample is one channel of a random crop: the crop is box-downscaled by s (the camera-like
 * "area" reduction every evaluation here uses), edge context of `pad` low-resolution pixels kept
 * around it exactly as tconv_upsampler_run pads an image, upscaled by a 1-channel
 * Conv2DTranspose(1, k, s, 'same') and compared (MSE) with the crop's centre, the part whose
 * neighbourhood is real.  Gradients come from tconv_layer_backward, updates from Adam. */
#include "models/models.h"
#include "models/rng.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

tconv_upsample_train_options tconv_upsample_train_defaults(void) {
  tconv_upsample_train_options o = {.steps = 400, .batch = 16, .patch = 24,
                                    .learning_rate = 2e-3, .seed = 1};
  return o;
}

typedef struct train_buffers {
  float *hr, *x, *y, *dy, *target;
} train_buffers;

tconv_status tconv_upsampler_train(tconv_upsampler *u, const tconv_image *images, size_t count,
                                   const tconv_upsample_train_options *opt, double *final_loss,
                                   tconv_threadpool *pool) {
  RETURN_IF(u == NULL || u->filter == NULL || images == NULL || opt == NULL,
            TCONV_INVALID_ARGUMENT, "tconv_upsampler_train: NULL argument");
  RETURN_IF(opt->steps == 0 || opt->batch == 0 || opt->patch < 4 || opt->patch > 512,
            TCONV_INVALID_ARGUMENT, "training needs steps, batch > 0 and patch in 4..512");
  const size_t s = u->scale, p = u->pad, k = u->kernel, b = opt->batch;
  const size_t lr_side = opt->patch + 2 * p, hr_side = lr_side * s, out_side = lr_side * s;
  const size_t centre = opt->patch * s, off = p * s;
  /* Images big enough for one crop. */
  size_t usable = 0;
  for (size_t i = 0; i < count; i++)
    usable += images[i].width >= hr_side && images[i].height >= hr_side;
  RETURN_IF(usable == 0, TCONV_INVALID_ARGUMENT,
            "no training image is at least %zux%zu pixels (patch %zu, scale %zu)", hr_side,
            hr_side, opt->patch, s);

  tconv_config cfg = tconv_config_default();
  cfg.filters = 1;
  cfg.kernel_size[0] = cfg.kernel_size[1] = (int64_t)k;
  cfg.strides[0] = cfg.strides[1] = (int64_t)s;
  cfg.padding = TCONV_PADDING_SAME;
  cfg.name = "upsample";
  tconv_store *vars = tconv_store_create();
  tconv_layer *layer = NULL;
  tconv_optimizer *adam = NULL;
  tconv_layer_grads grads;
  memset(&grads, 0, sizeof grads);
  train_buffers buf = {0};
  tconv_status st = vars ? tconv_layer_create(&cfg, &layer)
                         : tconv_error(TCONV_OUT_OF_MEMORY, "upsampler: out of memory");
  if (st == TCONV_OK) st = tconv_layer_build(layer, vars, 1);
  size_t in_shape[4] = {b, lr_side, lr_side, 1}, out_shape[4];
  if (st == TCONV_OK) st = tconv_layer_reshape(layer, in_shape, out_shape);
  if (st == TCONV_OK) st = tconv_layer_grads_alloc(layer, &grads);
  tconv_optimizer_config oc = tconv_optimizer_config_default(TCONV_OPT_ADAM);
  oc.learning_rate = opt->learning_rate;
  if (st == TCONV_OK) st = tconv_optimizer_create(&oc, vars, &adam);
  if (st == TCONV_OK) {
    memcpy(tconv_layer_kernel(layer)->data, u->filter, k * k * sizeof(float));
    tconv_layer_bias(layer)->data[0] = u->bias;
    tconv_layer_weights_changed(layer);
    buf.hr = tconv_alloc(hr_side * hr_side * sizeof(float));
    buf.x = tconv_alloc(b * lr_side * lr_side * sizeof(float));
    buf.y = tconv_alloc(b * out_side * out_side * sizeof(float));
    buf.dy = tconv_alloc_zeroed(b * out_side * out_side * sizeof(float));
    buf.target = tconv_alloc(b * centre * centre * sizeof(float));
    if (!buf.hr || !buf.x || !buf.y || !buf.dy || !buf.target)
      st = tconv_error(TCONV_OUT_OF_MEMORY, "upsampler training: out of memory");
  }
  uint64_t rng = opt->seed;
  double tail_loss = 0, running = 0;
  size_t tail_steps = 0, tail_from = opt->steps - opt->steps / 10 - 1;
  for (size_t step = 0; st == TCONV_OK && step < opt->steps; step++) {
    for (size_t n = 0; n < b; n++) {
      const tconv_image *im;
      do im = &images[tconv_models_rng_next(&rng) % count];
      while (im->width < hr_side || im->height < hr_side);
      size_t cy = tconv_models_rng_next(&rng) % (im->height - hr_side + 1);
      size_t cx = tconv_models_rng_next(&rng) % (im->width - hr_side + 1);
      size_t ch = tconv_models_rng_next(&rng) % im->channels;
      for (size_t yy = 0; yy < hr_side; yy++)
        for (size_t xx = 0; xx < hr_side; xx++)
          buf.hr[yy * hr_side + xx] = im->data[((cy + yy) * im->width + cx + xx) * im->channels + ch];
      tconv_resample_box_down(buf.hr, hr_side, hr_side, 1, s, buf.x + n * lr_side * lr_side);
      for (size_t yy = 0; yy < centre; yy++)
        memcpy(buf.target + (n * centre + yy) * centre, buf.hr + (off + yy) * hr_side + off,
               centre * sizeof(float));
    }
    st = tconv_layer_forward(layer, buf.x, buf.y, pool);
    if (st != TCONV_OK) break;
    /* MSE over the centres only: dy is zero on the context border. */
    double se = 0;
    const double norm = 2.0 / (double)(b * centre * centre);
    for (size_t n = 0; n < b; n++)
      for (size_t yy = 0; yy < centre; yy++)
        for (size_t xx = 0; xx < centre; xx++) {
          size_t yi = (n * out_side + off + yy) * out_side + off + xx;
          double d = (double)buf.y[yi] - buf.target[(n * centre + yy) * centre + xx];
          se += d * d;
          buf.dy[yi] = (float)(norm * d);
        }
    double loss = se / (double)(b * centre * centre);
    st = tconv_layer_backward(layer, buf.x, buf.y, buf.dy, NULL, &grads, pool);
    if (st == TCONV_OK) st = tconv_optimizer_step(adam, &layer, &grads, 1);
    running = step == 0 ? loss : 0.95 * running + 0.05 * loss;
    if (step >= tail_from) tail_loss += loss, tail_steps++;
    if (opt->progress) opt->progress(opt->progress_ctx, step + 1, opt->steps, running);
  }
  if (st == TCONV_OK) {
    memcpy(u->filter, tconv_layer_kernel(layer)->data, k * k * sizeof(float));
    u->bias = tconv_layer_bias(layer)->data[0];
    if (final_loss) *final_loss = tail_steps ? tail_loss / (double)tail_steps : NAN;
  }
  tconv_dealloc(buf.hr);
  tconv_dealloc(buf.x);
  tconv_dealloc(buf.y);
  tconv_dealloc(buf.dy);
  tconv_dealloc(buf.target);
  tconv_layer_grads_free(&grads);
  tconv_optimizer_destroy(adam);
  tconv_layer_destroy(layer);
  tconv_store_destroy(vars);
  return st;
}
