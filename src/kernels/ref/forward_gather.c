/* Reference forward, gather form: y[o] = bias + sum over (i, t) with o + pad = i*s + t*d. */
#include "kernels/ref/ref.h"

void tconv_ref_forward_gather(const tconv_geometry *g, const float *x, const float *kernel,
                              const float *bias, float *y) {
  const size_t N = g->batch, IH = g->in_h, IW = g->in_w, IC = g->in_c;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, G = g->groups;
  const size_t icg = IC / G, ocg = OC / G;
  for (size_t n = 0; n < N; n++)
    for (size_t oh = 0; oh < OH; oh++)
      for (size_t ow = 0; ow < OW; ow++)
        for (size_t oc = 0; oc < OC; oc++) {
          const size_t grp = oc / ocg, j = oc % ocg;
          double acc = bias ? bias[oc] : 0.0;
          const size_t fh = oh + g->pad_top, fw = ow + g->pad_left; /* full-output position */
          for (size_t th = 0; th < g->kernel_h; th++) {
            size_t th_off = th * g->dilation_h;
            if (th_off > fh || (fh - th_off) % g->stride_h != 0) continue;
            size_t ih = (fh - th_off) / g->stride_h;
            if (ih >= IH) continue;
            for (size_t tw = 0; tw < g->kernel_w; tw++) {
              size_t tw_off = tw * g->dilation_w;
              if (tw_off > fw || (fw - tw_off) % g->stride_w != 0) continue;
              size_t iw = (fw - tw_off) / g->stride_w;
              if (iw >= IW) continue;
              const float *wk = kernel + ((th * g->kernel_w + tw) * ocg + j) * IC;
              for (size_t ic = grp * icg; ic < (grp + 1) * icg; ic++)
                acc += (double)x[tconv_ref_index(g->data_format, IH, IW, IC, n, ih, iw, ic)] *
                       wk[ic];
            }
          }
          y[tconv_ref_index(g->data_format, OH, OW, OC, n, oh, ow, oc)] = (float)acc;
        }
}
