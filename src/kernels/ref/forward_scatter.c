/* Reference forward, scatter form, accumulated in double. */
#include "core/internal.h"
#include "kernels/ref/ref.h"

tconv_status tconv_ref_forward_scatter(const tconv_geometry *g, const float *x, const float *kernel,
                               const float *bias, float *y) {
  const size_t N = g->batch, IH = g->in_h, IW = g->in_w, IC = g->in_c;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, G = g->groups;
  const size_t icg = IC / G, ocg = OC / G;
  size_t y_count = N * OH * OW * OC;
  /* Accumulate in double so the reference's own rounding stays far below the tolerances. */
  double *acc = tconv_alloc_zeroed((y_count ? y_count : 1) * sizeof(double));
  RETURN_IF(acc == NULL, TCONV_OUT_OF_MEMORY, "reference scatter: cannot allocate %zu doubles",
            y_count);
  for (size_t n = 0; n < N; n++)
    for (size_t ih = 0; ih < IH; ih++)
      for (size_t iw = 0; iw < IW; iw++)
        for (size_t ic = 0; ic < IC; ic++) {
          const double xv = x[tconv_ref_index(g->data_format, IH, IW, IC, n, ih, iw, ic)];
          const size_t grp = ic / icg;
          for (size_t th = 0; th < g->kernel_h; th++) {
            /* full-output row ih*s + th*d, shifted by the crop at the top */
            size_t full_h = ih * g->stride_h + th * g->dilation_h;
            if (full_h < g->pad_top || full_h - g->pad_top >= OH) continue;
            size_t oh = full_h - g->pad_top;
            for (size_t tw = 0; tw < g->kernel_w; tw++) {
              size_t full_w = iw * g->stride_w + tw * g->dilation_w;
              if (full_w < g->pad_left || full_w - g->pad_left >= OW) continue;
              size_t ow = full_w - g->pad_left;
              const float *wk = kernel + ((th * g->kernel_w + tw) * ocg) * IC + ic;
              for (size_t j = 0; j < ocg; j++) {
                size_t oc = grp * ocg + j;
                acc[((n * OH + oh) * OW + ow) * OC + oc] += xv * wk[j * IC];
              }
            }
          }
        }
  for (size_t n = 0; n < N; n++)
    for (size_t oh = 0; oh < OH; oh++)
      for (size_t ow = 0; ow < OW; ow++)
        for (size_t oc = 0; oc < OC; oc++) {
          double v = acc[((n * OH + oh) * OW + ow) * OC + oc] + (bias ? bias[oc] : 0.0);
          y[tconv_ref_index(g->data_format, OH, OW, OC, n, oh, ow, oc)] = (float)v;
        }
  tconv_dealloc(acc);
  return TCONV_OK;
}
