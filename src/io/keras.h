/* Internal entry points of the Keras readers and the format detector (src/io/keras_*.c,
 * src/io/load.c). */
#ifndef TCONV_IO_KERAS_H
#define TCONV_IO_KERAS_H

#include "io/formats.h"

#include <stdbool.h>

/* True when the zip archive at path has a model.weights.h5 member (a .keras file). */
bool tconv_keras_zip_probe(const char *path);

/* Splits an HDF5 fixed-length string attribute value (count strings of width bytes each, NUL-
 * or space-padded) into NUL-terminated copies; *out (count pointers) owned by the caller, free
 * with tconv_keras_free_names.  Errors: LIMIT_EXCEEDED (count, width), BAD_FILE (empty name),
 * OUT_OF_MEMORY.  Hostile-input code we own around libhdf5, fuzzed by fuzz_keras_h5. */
tconv_status tconv_keras_split_names(const char *buf, size_t size, size_t count, size_t width,
                                     char ***out);
void tconv_keras_free_names(char **names, size_t count);

/* The Keras variable name for an HDF5 dataset path: "a/b/kernel:0" weight names lose ":0";
 * ".../<layer>/vars/<i>" of conv/dense layers become "<layer>/kernel" (i = 0) or "<layer>/bias"
 * (i = 1).  NULL when none can be derived (and on out-of-memory: aliases are best effort). */
char *tconv_keras_alias(const char *dataset_path, const char *weight_name);

#define TCONV_KERAS_MAX_DATASETS 100000
#define TCONV_KERAS_MAX_NAME 4096

#endif
