#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* The channel-dot kernel compiled with AVX-512VL: the same ymm arithmetic, but 32 registers
 * hold blocks of 16 outputs (a 14-pixel phase row in one block, its column taps' input
 * loads shared by all of it).  Bitwise equal to the AVX2 file: an output's sum does not
 * depend on its block.  The body is src/kernels/cdot_block.h; contract: src/kernels/ukernel.h. */
#define CDOT_PMAX 16
#define CDOT_FN tconv_f32_cdot_ukernel__avx512f
#define CDOTR_FN tconv_f32_cdotr_ukernel__avx512f
#include "kernels/cdot_block.h"
#endif /* __x86_64__ */
