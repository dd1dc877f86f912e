/* Fuzz target: the hostile-input handling we own around libhdf5 — splitting fixed-width string
 * attributes (layer_names / weight_names) and deriving Keras names from dataset paths.  libhdf5's
 * own file parsing is not fuzzed here: it is not hardened against hostile files (its maintainers
 * treat malformed-file crashes as ordinary bugs), so tconv documents that Keras .h5 files must be
 * trusted as much as h5py would need them to be.
 * Input: 2-byte count, 2-byte width, then the attribute bytes (also used as a path string). */
#include <stdlib.h>
#include <string.h>

#include "io/keras.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  size_t count = (size_t)data[0] | (size_t)data[1] << 8;
  size_t width = (size_t)data[2] | (size_t)data[3] << 8;
  const char *buf = (const char *)data + 4;
  size_t n = size - 4;
  char **names = NULL;
  if (tconv_keras_split_names(buf, n, count, width, &names) == TCONV_OK) {
    if (count * width > n) abort();
    for (size_t i = 0; i < count; i++) {
      size_t len = strlen(names[i]);
      if (len == 0 || len > width || memcmp(names[i], buf + i * width, len) != 0) abort();
      char *alias = tconv_keras_alias(names[i], NULL);
      if (alias && (strlen(alias) == 0 || !strstr(names[i], "/vars/"))) abort();
      tconv_dealloc(alias);
      alias = tconv_keras_alias(names[i], names[i]);
      if (alias && strncmp(alias, names[i], strlen(alias)) != 0) abort();
      tconv_dealloc(alias);
    }
    tconv_keras_free_names(names, count);
  } else if (names != NULL) {
    abort();
  }
  /* The whole input as one path. */
  char *path = malloc(n + 1);
  memcpy(path, buf, n);
  path[n] = 0;
  char *alias = tconv_keras_alias(path, NULL);
  tconv_dealloc(alias);
  free(path);
  return 0;
}
