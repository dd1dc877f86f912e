/* zlib's allocation callbacks routed through tconv_alloc, so inflate's state is counted and can
 * be failed by the fault-injection tests like every other library allocation.  For
 * z_stream.zalloc / zfree (the .npz and gzip'd IDX readers). */
#ifndef TCONV_IO_ZLIB_ALLOC_H
#define TCONV_IO_ZLIB_ALLOC_H

#include "core/internal.h"

#include <zlib.h>

static inline voidpf tconv_zlib_alloc(voidpf opaque, uInt items, uInt size) {
  (void)opaque;
  size_t n;
  if (tconv_mul_overflow(items, size, &n)) return Z_NULL;
  return tconv_alloc(n);
}
static inline void tconv_zlib_free(voidpf opaque, voidpf p) {
  (void)opaque;
  tconv_dealloc(p);
}

#endif
