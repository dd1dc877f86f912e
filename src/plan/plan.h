/* The planner: turns a validated geometry and a kernel into an executable plan (phase
 * decomposition, packed weights, kernel choice) and runs it.  The layer keeps one plan per
 * (geometry, weights); tconv_forward makes a throw-away one. */
#ifndef TCONV_PLAN_H
#define TCONV_PLAN_H

#include "tconv.h"

typedef struct tconv_plan tconv_plan;

/* Packs the kernel for the geometry.  The kernel is copied (or packed): the plan does not keep
 * the pointer.  Errors: OUT_OF_MEMORY, LIMIT_EXCEEDED. */
tconv_status tconv_plan_create(const tconv_geometry *g, const float *kernel, tconv_plan **out);
/* y = activation(conv_transpose(x) + bias) for the plan's geometry; act NULL = linear.
 * Read-only on the plan: one plan may run from several threads at once. */
tconv_status tconv_plan_run(const tconv_plan *p, const float *x, const float *bias,
                            const tconv_activation *act, float *y, tconv_threadpool *pool);
void tconv_plan_destroy(tconv_plan *p);

#endif
