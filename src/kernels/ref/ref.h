/* The reference kernels: slow, simple and independent of each other — the oracles every fast
 * path is tested against.  They see only a validated geometry and raw arrays. */
#ifndef TCONV_KERNELS_REF_H
#define TCONV_KERNELS_REF_H

#include "tconv.h"

/* y = conv_transpose(x, kernel) + bias (no activation); bias may be NULL.  Scatter needs a
 * double accumulator the size of y: it returns OUT_OF_MEMORY when that fails.
 * Scatter form: every input pixel adds its kernel-weighted contribution into the outputs it
 * reaches (the definition of the transposed convolution as the adjoint of a convolution). */
tconv_status tconv_ref_forward_scatter(const tconv_geometry *g, const float *x, const float *kernel,
                               const float *bias, float *y);
/* Gather form: every output pixel sums the (input, tap) pairs with o + pad = i*s + t*d. */
void tconv_ref_forward_gather(const tconv_geometry *g, const float *x, const float *kernel,
                              const float *bias, float *y);

/* Offsets of element (n, h, w, c) in an activation tensor of the given format. */
static inline size_t tconv_ref_index(tconv_data_format fmt, size_t H, size_t W, size_t C, size_t n,
                                     size_t h, size_t w, size_t c) {
  return fmt == TCONV_CHANNELS_LAST ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
}

/* Reference backward (kernels/ref/backward.c, owned by the training work): gradients of
 * sum(dz * conv_transpose(x, kernel)) in double; dz is the gradient at the pre-activation. */
void tconv_ref_backward_data(const tconv_geometry *g, const float *kernel, const float *dz, float *dx);
void tconv_ref_backward_weights(const tconv_geometry *g, const float *x, const float *dz, float *dkernel);
void tconv_ref_backward_bias(const tconv_geometry *g, const float *dz, float *dbias);

#endif
