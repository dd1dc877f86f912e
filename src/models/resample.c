/* Reference resamplers and quality metrics for the upscaling uses: what the learned models are
 * measured against.  Plain loops: these run on a handful of images. */
#include "models/models.h"

#include "core/internal.h"

#include <math.h>

void tconv_resample_box_down(const float *in, size_t h, size_t w, size_t c, size_t s, float *out) {
  size_t oh = h / s, ow = w / s;
  const float inv = 1.0f / (float)(s * s);
  for (size_t y = 0; y < oh; y++)
    for (size_t x = 0; x < ow; x++)
      for (size_t k = 0; k < c; k++) {
        float sum = 0;
        for (size_t dy = 0; dy < s; dy++)
          for (size_t dx = 0; dx < s; dx++) sum += in[((y * s + dy) * w + x * s + dx) * c + k];
        out[(y * ow + x) * c + k] = sum * inv;
      }
}

void tconv_resample_nearest_up(const float *in, size_t h, size_t w, size_t c, size_t s,
                               float *out) {
  for (size_t y = 0; y < h * s; y++)
    for (size_t x = 0; x < w * s; x++)
      for (size_t k = 0; k < c; k++) out[(y * w * s + x) * c + k] = in[((y / s) * w + x / s) * c + k];
}

/* Source index pair and weight of output position o for half-pixel-centered linear resampling. */
static void linear_tap(size_t o, size_t s, size_t n, size_t *i0, size_t *i1, float *frac) {
  double src = ((double)o + 0.5) / (double)s - 0.5;
  if (src < 0) src = 0;
  size_t i = (size_t)src;
  if (i >= n - 1) {
    *i0 = *i1 = n - 1;
    *frac = 0;
    return;
  }
  *i0 = i;
  *i1 = i + 1;
  *frac = (float)(src - (double)i);
}

void tconv_resample_bilinear_up(const float *in, size_t h, size_t w, size_t c, size_t s,
                                float *out) {
  for (size_t y = 0; y < h * s; y++) {
    size_t y0, y1;
    float fy;
    linear_tap(y, s, h, &y0, &y1, &fy);
    for (size_t x = 0; x < w * s; x++) {
      size_t x0, x1;
      float fx;
      linear_tap(x, s, w, &x0, &x1, &fx);
      for (size_t k = 0; k < c; k++) {
        float a = in[(y0 * w + x0) * c + k], b = in[(y0 * w + x1) * c + k];
        float d = in[(y1 * w + x0) * c + k], e = in[(y1 * w + x1) * c + k];
        float top = a + (b - a) * fx, bottom = d + (e - d) * fx;
        out[(y * w * s + x) * c + k] = top + (bottom - top) * fy;
      }
    }
  }
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

double tconv_metric_psnr(const float *a, const float *b, size_t n, double *mse_out) {
  double se = 0;
  for (size_t i = 0; i < n; i++) {
    double d = clamp01(a[i]) - clamp01(b[i]);
    se += d * d;
  }
  double mse = n ? se / (double)n : 0;
  if (mse_out) *mse_out = mse;
  return mse > 0 ? 10.0 * log10(1.0 / mse) : INFINITY;
}

/* Sum of v over the 7x7 window with top-left (y, x), from an (h+1) x (w+1) integral image. */
static double box7(const double *ii, size_t w, size_t y, size_t x) {
  size_t W = w + 1;
  return ii[(y + 7) * W + x + 7] - ii[y * W + x + 7] - ii[(y + 7) * W + x] + ii[y * W + x];
}

double tconv_metric_ssim(const float *a, const float *b, size_t h, size_t w, size_t c) {
  if (h < 7 || w < 7) return NAN;
  size_t W = w + 1, cells = (h + 1) * W;
  double *ii = tconv_alloc_zeroed(5 * cells * sizeof *ii); /* a, b, a^2, b^2, ab */
  if (ii == NULL) return NAN;
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03, np = 49, cov_norm = np / (np - 1);
  double total = 0;
  for (size_t k = 0; k < c; k++) {
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++) {
        double va = clamp01(a[(y * w + x) * c + k]), vb = clamp01(b[(y * w + x) * c + k]);
        double v[5] = {va, vb, va * va, vb * vb, va * vb};
        for (int m = 0; m < 5; m++) {
          double *t = ii + (size_t)m * cells;
          t[(y + 1) * W + x + 1] = v[m] + t[y * W + x + 1] + t[(y + 1) * W + x] - t[y * W + x];
        }
      }
    /* scikit-image averages over windows centred at least 3 pixels from every border */
    double sum = 0;
    for (size_t y = 0; y + 7 <= h; y++)
      for (size_t x = 0; x + 7 <= w; x++) {
        double ma = box7(ii, w, y, x) / np, mb = box7(ii + cells, w, y, x) / np;
        double vaa = cov_norm * (box7(ii + 2 * cells, w, y, x) / np - ma * ma);
        double vbb = cov_norm * (box7(ii + 3 * cells, w, y, x) / np - mb * mb);
        double vab = cov_norm * (box7(ii + 4 * cells, w, y, x) / np - ma * mb);
        sum += ((2 * ma * mb + c1) * (2 * vab + c2)) /
               ((ma * ma + mb * mb + c1) * (vaa + vbb + c2));
      }
    total += sum / (double)((h - 6) * (w - 6));
  }
  tconv_dealloc(ii);
  return total / (double)c;
}
