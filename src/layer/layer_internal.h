/* The layer object, shared by the forward code (layer.c) and the training code. */
#ifndef TCONV_LAYER_INTERNAL_H
#define TCONV_LAYER_INTERNAL_H

#include <pthread.h>

#include "core/internal.h"
#include "plan/plan.h"

typedef enum layer_state { LAYER_CREATED = 0, LAYER_BUILT, LAYER_RESHAPED } layer_state;

struct tconv_layer {
  tconv_config cfg;          /* copy; cfg.name points at name below */
  char *name;                /* the final (possibly automatic) name */
  layer_state state;
  tconv_store *store;        /* borrowed; must outlive the layer */
  tconv_tensor *kernel;      /* (kh, kw, filters/groups, in_c), owned by the store */
  tconv_tensor *bias;        /* (filters) or NULL */
  size_t in_channels;
  tconv_activation act;      /* resolved from the config */
  tconv_geometry geom;       /* valid once reshaped */
  /* The packed-weights plan for geom, rebuilt when the kernel's store version moves on.
   * Guarded by plan_lock so concurrent forwards on a shared layer stay safe. */
  pthread_mutex_t plan_lock;
  tconv_plan *plan;
  uint64_t plan_version;
};

/* Returns the plan for the current weights, repacking it when they changed. */
tconv_status tconv_layer_current_plan(const tconv_layer *layer, const tconv_plan **out);

#endif
