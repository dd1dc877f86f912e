/* Reference backward, straight from the definitions (DESIGN.md section 1), accumulated in double.
 * With f = o + pad_begin = i*s + t*d per axis, the forward is y[o] += x[i] * w[t], so
 *     dx[i] = sum over (t, o = i*s + t*d - pad_begin in [0, O)) of dz[o] * w[t]
 *     dw[t] = sum over (i, o = i*s + t*d - pad_begin in [0, O)) of x[i] * dz[o]
 *     db    = sum over o of dz[o]
 * The outputs no input reaches (the adjust extension) only feed the bias gradient.  These loops
 * are the oracles the fast paths (src/plan/backward.c) are tested against. */
#include "kernels/ref/ref.h"

/* The output index a (input, tap) pair lands on along one axis, or SIZE_MAX when it is cropped. */
static inline size_t landing(size_t i, size_t t, size_t s, size_t d, size_t pb, size_t O) {
  size_t f = i * s + t * d;
  return (f < pb || f - pb >= O) ? SIZE_MAX : f - pb;
}

void tconv_ref_backward_data(const tconv_geometry *g, const float *kernel, const float *dz,
                             float *dx) {
  const size_t N = g->batch, IH = g->in_h, IW = g->in_w, IC = g->in_c;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, G = g->groups;
  const size_t icg = IC / G, ocg = OC / G;
  for (size_t n = 0; n < N; n++)
    for (size_t ih = 0; ih < IH; ih++)
      for (size_t iw = 0; iw < IW; iw++)
        for (size_t ic = 0; ic < IC; ic++) {
          const size_t grp = ic / icg;
          double acc = 0.0;
          for (size_t th = 0; th < g->kernel_h; th++) {
            size_t oh = landing(ih, th, g->stride_h, g->dilation_h, g->pad_top, OH);
            if (oh == SIZE_MAX) continue;
            for (size_t tw = 0; tw < g->kernel_w; tw++) {
              size_t ow = landing(iw, tw, g->stride_w, g->dilation_w, g->pad_left, OW);
              if (ow == SIZE_MAX) continue;
              const float *wk = kernel + ((th * g->kernel_w + tw) * ocg) * IC + ic;
              for (size_t j = 0; j < ocg; j++)
                acc += (double)dz[tconv_ref_index(g->data_format, OH, OW, OC, n, oh, ow,
                                                  grp * ocg + j)] *
                       wk[j * IC];
            }
          }
          dx[tconv_ref_index(g->data_format, IH, IW, IC, n, ih, iw, ic)] = (float)acc;
        }
}

void tconv_ref_backward_weights(const tconv_geometry *g, const float *x, const float *dz,
                                float *dkernel) {
  const size_t N = g->batch, IH = g->in_h, IW = g->in_w, IC = g->in_c;
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c, G = g->groups;
  const size_t icg = IC / G, ocg = OC / G;
  for (size_t th = 0; th < g->kernel_h; th++)
    for (size_t tw = 0; tw < g->kernel_w; tw++)
      for (size_t j = 0; j < ocg; j++)
        for (size_t ic = 0; ic < IC; ic++) {
          const size_t oc = (ic / icg) * ocg + j;
          double acc = 0.0;
          for (size_t n = 0; n < N; n++)
            for (size_t ih = 0; ih < IH; ih++) {
              size_t oh = landing(ih, th, g->stride_h, g->dilation_h, g->pad_top, OH);
              if (oh == SIZE_MAX) continue;
              for (size_t iw = 0; iw < IW; iw++) {
                size_t ow = landing(iw, tw, g->stride_w, g->dilation_w, g->pad_left, OW);
                if (ow == SIZE_MAX) continue;
                acc += (double)x[tconv_ref_index(g->data_format, IH, IW, IC, n, ih, iw, ic)] *
                       dz[tconv_ref_index(g->data_format, OH, OW, OC, n, oh, ow, oc)];
              }
            }
          dkernel[((th * g->kernel_w + tw) * ocg + j) * IC + ic] = (float)acc;
        }
}

void tconv_ref_backward_bias(const tconv_geometry *g, const float *dz, float *dbias) {
  const size_t OH = g->out_h, OW = g->out_w, OC = g->out_c;
  for (size_t oc = 0; oc < OC; oc++) {
    double acc = 0.0;
    for (size_t n = 0; n < g->batch; n++)
      for (size_t oh = 0; oh < OH; oh++)
        for (size_t ow = 0; ow < OW; ow++)
          acc += dz[tconv_ref_index(g->data_format, OH, OW, OC, n, oh, ow, oc)];
    dbias[oc] = (float)acc;
  }
}
