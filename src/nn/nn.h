/* Internal entry points of src/nn. */
#ifndef TCONV_NN_H
#define TCONV_NN_H

#include "tconv.h"

/* Fills t; seed 0 derives the seed from the variable name (reproducible, distinct per layer). */
tconv_status tconv_initializer_fill_named(const tconv_initializer *init, tconv_tensor *t,
                                          const char *name);

#endif
