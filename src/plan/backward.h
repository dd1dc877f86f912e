/* Fast backward paths (owned by the training work): backward-data as a strided correlation on
 * the forward's GEMM/dot micro-kernels, backward-weights as a GEMM over pixels, the bias as a
 * channel sum.  Every output element is reduced by one work item in an order fixed by the
 * geometry alone, so results are bitwise identical for any thread count. */
#ifndef TCONV_PLAN_BACKWARD_H
#define TCONV_PLAN_BACKWARD_H

#include "plan/dispatch.h"
#include "tconv.h"

/* dz: gradient at the pre-activation (output layout of g); x: the layer input.  dx, dkernel,
 * dbias may each be NULL (skipped); x is needed only for dkernel, kernel only for dx.  path
 * selects the micro-kernels (REFERENCE runs the oracles of kernels/ref).  g must be valid.
 * Errors: OUT_OF_MEMORY (workspaces, packed weights), LIMIT_EXCEEDED. */
tconv_status tconv_backward_run(const tconv_geometry *g, const float *x, const float *kernel,
                                const float *dz, float *dx, float *dkernel, float *dbias,
                                tconv_threadpool *pool, tconv_path path);

#endif
