/* Internal side of the variable store: versions (so a layer knows when to repack its weights)
 * and the registry of layer names (for automatic names). */
#ifndef TCONV_LAYER_STORE_H
#define TCONV_LAYER_STORE_H

#include "tconv.h"

/* A counter bumped by every change made through the library (optimizer steps, restores,
 * tconv_layer_weights_changed). */
uint64_t tconv_store_version(const tconv_store *s, const tconv_tensor *t);
void tconv_store_touch(tconv_store *s, const tconv_tensor *t);
/* Records a layer name; false if it was already used. */
bool tconv_store_has_layer_name(const tconv_store *s, const char *name);
tconv_status tconv_store_add_layer_name(tconv_store *s, const char *name);

#endif
