/* Internal entry points of the weight-file readers, all filling a tconv_weights.
 * Every reader treats its input as hostile: every length, offset, dtype and shape is checked
 * against the buffer and the process limits before anything is allocated. */
#ifndef TCONV_IO_FORMATS_H
#define TCONV_IO_FORMATS_H

#include "core/internal.h"

/* Appends one tensor (name copied; value moved in) to w.  Errors: OUT_OF_MEMORY. */
tconv_status tconv_weights_push(tconv_weights *w, const char *name, tconv_dtype dtype,
                                tconv_tensor *value);

#endif
