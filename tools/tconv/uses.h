/* Private pieces of the seed-use subcommands (cmd_upsample.c, cmd_mnist.c). */
#ifndef TCONV_USES_H
#define TCONV_USES_H

#include <stddef.h>

int cmd_upsample(int argc, char **argv);
int cmd_mnist(int argc, char **argv);

/* A one-line progress bar on stderr: "label [=====>    ]  45%  loss 0.0123  ETA 12s".  Redrawn
 * in place at most 10 times a second when stderr is a terminal; otherwise one line per 10%. */
typedef struct uses_progress {
  const char *label;
  double start, last_draw;
  int last_decile, drawn;
} uses_progress;
void uses_progress_start(uses_progress *p, const char *label);
void uses_progress_update(void *ctx, size_t done, size_t total, double loss);
void uses_progress_finish(uses_progress *p);

/* The bundled data directory for `name` ("mnist", "photos"): $TCONV_DATA/name, ./data/name, or
 * data/name beside the directory holding the tconv binary (build/../data).  NULL if none. */
const char *uses_data_dir(const char *name);

#endif
