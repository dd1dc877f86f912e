/* One entry point for every weight format: detection by path shape and magic bytes, writing by
 * extension, and lookup by name or alias. */
#include "io/keras.h"
#include "io/tfckpt.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A single .npy array becomes one tensor named after the file ("kernel" for dir/kernel.npy). */
static tconv_status load_npy(const char *path, tconv_weights *out) {
  tconv_tensor t = {0};
  RETURN_IF_ERROR(tconv_npy_load(path, &t));
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char name[256];
  snprintf(name, sizeof name, "%s", base);
  if (has_suffix(name, ".npy")) name[strlen(name) - 4] = 0;
  tconv_status st = tconv_weights_push(out, name[0] ? name : "array", TCONV_DTYPE_FLOAT32, &t);
  tconv_tensor_free(&t);
  if (st == TCONV_OK) out->format = "npy";
  else tconv_weights_free(out);
  return st;
}

tconv_status tconv_weights_load_ex(const char *path, unsigned flags, tconv_weights *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "weights_load: NULL argument");
  memset(out, 0, sizeof *out);
  struct stat sb;
  if (stat(path, &sb) != 0 || S_ISDIR(sb.st_mode)) {
    /* A checkpoint prefix ("model.ckpt") names no file; a directory holds a state file. */
    if (tfckpt_looks_like(path) || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)))
      return tconv_tfckpt_read(path, flags, out);
    return tconv_error(TCONV_NOT_FOUND, "%s: no such file or checkpoint prefix", path);
  }
  if (has_suffix(path, ".index") || strstr(path, ".data-") != NULL) {
    if (tfckpt_looks_like(path)) return tconv_tfckpt_read(path, flags, out);
  }
  unsigned char head[16] = {0};
  int fd = open(path, O_RDONLY);
  RETURN_IF(fd < 0, TCONV_IO_ERROR, "%s: cannot open", path);
  ssize_t got = read(fd, head, sizeof head);
  close(fd);
  RETURN_IF(got < 0, TCONV_IO_ERROR, "%s: cannot read", path);
  size_t n = (size_t)got;
  if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return load_npy(path, out);
  if (n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0)) {
    if (has_suffix(path, ".keras") || tconv_keras_zip_probe(path))
      return tconv_keras_zip_read(path, out);
    return tconv_npz_read(path, out);
  }
  if (n >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) return tconv_keras_h5_read(path, out);
  if (n >= 9) {
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | head[i];
    if (head[8] == '{' && hlen >= 2 && hlen <= (uint64_t)sb.st_size - 8)
      return tconv_safetensors_read(path, out);
  }
  if (tfckpt_looks_like(path)) return tconv_tfckpt_read(path, flags, out);
  return tconv_error(TCONV_UNSUPPORTED,
                     "%s: unknown weight file format (expected .npy, .npz, .safetensors, a TF "
                     "checkpoint, Keras .h5 or .keras)", path);
}

tconv_status tconv_weights_load(const char *path, tconv_weights *out) {
  return tconv_weights_load_ex(path, 0, out);
}

/* Compares name with s, ignoring a ":0" suffix on either side. */
static bool same_name(const char *s, const char *name) {
  size_t a = strlen(s), b = strlen(name);
  if (a > 2 && s[a - 2] == ':' && s[a - 1] == '0') a -= 2;
  if (b > 2 && name[b - 2] == ':' && name[b - 1] == '0') b -= 2;
  return a == b && memcmp(s, name, a) == 0;
}

const tconv_named_tensor *tconv_weights_find(const tconv_weights *w, const char *name) {
  if (w == NULL || name == NULL) return NULL;
  for (size_t i = 0; i < w->count; i++)
    if (same_name(w->items[i].name, name)) return &w->items[i];
  for (size_t i = 0; i < w->count; i++)
    if (w->items[i].alias && same_name(w->items[i].alias, name)) return &w->items[i];
  return NULL;
}

tconv_status tconv_weights_save(const char *path, const tconv_weights *w) {
  RETURN_IF(path == NULL || w == NULL, TCONV_INVALID_ARGUMENT, "weights_save: NULL argument");
  bool npz = has_suffix(path, ".npz"), st_ = has_suffix(path, ".safetensors");
  RETURN_IF(!npz && !st_, TCONV_INVALID_ARGUMENT,
            "%s: the output extension must be .npz or .safetensors", path);
  /* A shallow view holding only the tensors with float values. */
  tconv_weights view = {.format = w->format};
  size_t floats = 0;
  for (size_t i = 0; i < w->count; i++) floats += w->items[i].value.data != NULL;
  RETURN_IF(floats == 0, TCONV_INVALID_ARGUMENT, "%s: no float tensor to write", path);
  view.items = tconv_alloc(floats * sizeof *view.items);
  RETURN_IF(view.items == NULL, TCONV_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < w->count; i++)
    if (w->items[i].value.data) view.items[view.count++] = w->items[i];
  tconv_status st;
  if (npz) {
    st = tconv_npz_write(path, &view);
  } else {
    char meta[128];
    snprintf(meta, sizeof meta, "{\"source_format\": \"%s\"}", w->format ? w->format : "unknown");
    st = tconv_safetensors_write(path, &view, meta);
  }
  tconv_dealloc(view.items);
  return st;
}
