/* Kernel-path selection: filled once from CPU detection (and TCONV_KERNELS), overridable with
 * tconv_set_kernel_path for tests and debugging. */
#ifndef TCONV_PLAN_DISPATCH_H
#define TCONV_PLAN_DISPATCH_H

#include <stdbool.h>

typedef enum tconv_path {
  TCONV_PATH_AUTO = 0,
  TCONV_PATH_AVX2,
  TCONV_PATH_SCALAR,
  TCONV_PATH_REFERENCE,
} tconv_path;

/* The path to run now, with "auto" resolved to the best the CPU supports (never AUTO). */
tconv_path tconv_dispatch_path(void);
bool tconv_cpu_has_avx2_fma(void);
/* AVX-512 (F + VL) for the forward GEMM kernel: true on the "auto" path when the CPU has it and
 * on the "avx512" path.  "avx512" otherwise runs as the AVX2 path (tconv_dispatch_path() says
 * TCONV_PATH_AVX2), so code without an AVX-512 kernel needs no change. */
bool tconv_dispatch_avx512(void);
bool tconv_cpu_has_avx512(void);

#endif
