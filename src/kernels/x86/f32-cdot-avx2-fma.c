#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX2+FMA channel-dot kernel (one filter, many channels), blocks of 8 outputs.  The body is
 * src/kernels/cdot_block.h; contract: src/kernels/ukernel.h. */
#define CDOT_PMAX 8
#define CDOT_FN tconv_f32_cdot_ukernel__avx2_fma
#define CDOTR_FN tconv_f32_cdotr_ukernel__avx2_fma
#include "kernels/cdot_block.h"
#endif /* __x86_64__ */
