/* Internal entry points of the weight-file readers, all filling a tconv_weights.
 * Every reader treats its input as hostile: every length, offset, dtype and shape is checked
 * against the buffer and the process limits before anything is allocated. */
#ifndef TCONV_IO_FORMATS_H
#define TCONV_IO_FORMATS_H

#include "core/internal.h"

/* Appends one tensor (name copied; value moved in) to w.  Errors: OUT_OF_MEMORY. */
tconv_status tconv_weights_push(tconv_weights *w, const char *name, tconv_dtype dtype,
                                tconv_tensor *value);

/* Sets the error message to "<context>: <current message>", context formatted from fmt, and
 * returns st: how a reader names the file or member its parser failed in.  The current message is
 * copied first; passing tconv_last_error() to tconv_error directly would make vsnprintf read the
 * buffer it is writing (undefined; in practice the prefix repeats until the buffer is full). */
tconv_status tconv_error_context(tconv_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
