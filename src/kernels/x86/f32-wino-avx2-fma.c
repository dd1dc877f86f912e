#if defined(__x86_64__) /* x86-only file: empty elsewhere so a portable build still links */
/* AVX2+FMA Winograd transforms, 8 channels (or filters) per vector.  The body is
 * src/kernels/wino_block.h; contract: src/kernels/ukernel.h. */
#include <immintrin.h>

#define V __m256
#define VLANES 8
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VFMA _mm256_fmadd_ps
#define VSET1 _mm256_set1_ps
#define VMIN _mm256_min_ps
#define VMAX _mm256_max_ps
#define VZERO _mm256_setzero_ps
#define WINO_IN_FN tconv_f32_wino_in__avx2_fma
#define WINO_OUT_FN tconv_f32_wino_out__avx2_fma
#include "kernels/wino_block.h"
#endif /* __x86_64__ */
