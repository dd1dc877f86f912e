/* Keras `.keras` archives: a zip with metadata.json, config.json and model.weights.h5.  The
 * weights member is read into memory through libzip (its size checked against the limits
 * first, and the byte count actually read checked against it; libzip verifies the member's
 * CRC-32) and handed to the HDF5 reader as a file image. */
#include "io/keras.h"

#include <stdio.h>
#include <string.h>

#define WEIGHTS_MEMBER "model.weights.h5"
#define CONFIG_MEMBER "config.json"
#define CONFIG_MAX ((uint64_t)16 << 20)

#ifdef TCONV_HAVE_LIBZIP
#include <zip.h>

bool tconv_keras_zip_probe(const char *path) {
  int err = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY, &err);
  if (z == NULL) return false;
  bool yes = zip_name_locate(z, WEIGHTS_MEMBER, 0) >= 0;
  zip_discard(z);
  return yes;
}

/* Reads a member whole, refusing sizes above max before allocating. */
static tconv_status read_member(zip_t *z, const char *path, const char *name, uint64_t max,
                                unsigned char **out, size_t *size) {
  *out = NULL;
  *size = 0;
  zip_stat_t sb;
  zip_stat_init(&sb);
  RETURN_IF(zip_stat(z, name, 0, &sb) != 0, TCONV_NOT_FOUND, "%s: no member '%s'", path, name);
  RETURN_IF(!(sb.valid & ZIP_STAT_SIZE), TCONV_BAD_FILE, "%s: member '%s' has no size", path, name);
  RETURN_IF(sb.size > max || sb.size > SIZE_MAX - 1, TCONV_LIMIT_EXCEEDED,
            "%s: member '%s' of %llu bytes exceeds the limit of %llu", path, name,
            (unsigned long long)sb.size, (unsigned long long)max);
  size_t n = (size_t)sb.size;
  unsigned char *buf = tconv_alloc(n + 1);
  RETURN_IF(buf == NULL, TCONV_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, n);
  zip_file_t *f = zip_fopen(z, name, 0);
  if (f == NULL) {
    tconv_dealloc(buf);
    return tconv_error(TCONV_BAD_FILE, "%s: cannot open member '%s': %s", path, name,
                       zip_strerror(z));
  }
  size_t got = 0;
  while (got < n) {
    zip_int64_t r = zip_fread(f, buf + got, n - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  /* One more byte must not exist: the member is exactly the size its directory entry says. */
  unsigned char extra;
  zip_int64_t more = got == n ? zip_fread(f, &extra, 1) : 0;
  zip_fclose(f);
  if (got != n || more != 0) {
    tconv_dealloc(buf);
    return tconv_error(TCONV_BAD_FILE, "%s: member '%s' is corrupt (%zu of %zu bytes, or a CRC "
                       "error)", path, name, got, n);
  }
  buf[n] = 0;
  *out = buf;
  *size = n;
  return TCONV_OK;
}

tconv_status tconv_keras_zip_read(const char *path, tconv_weights *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "keras_zip_read: NULL argument");
  memset(out, 0, sizeof *out);
  int err = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (z == NULL) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    tconv_status st = tconv_error(err == ZIP_ER_NOENT || err == ZIP_ER_OPEN ? TCONV_IO_ERROR
                                                                            : TCONV_BAD_FILE,
                                  "%s: not a readable zip archive: %s", path,
                                  zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return st;
  }
  unsigned char *h5 = NULL, *config = NULL;
  size_t h5_size = 0, config_size = 0;
  tconv_status st = read_member(z, path, WEIGHTS_MEMBER, tconv_get_limits().max_tensor_bytes,
                                &h5, &h5_size);
  if (st == TCONV_OK && zip_name_locate(z, CONFIG_MEMBER, 0) >= 0)
    st = read_member(z, path, CONFIG_MEMBER, CONFIG_MAX, &config, &config_size);
  zip_discard(z);
  if (st == TCONV_OK) {
    st = tconv_keras_h5_parse(h5, h5_size, out);
    if (st != TCONV_OK) st = tconv_error_context(st, "%s: %s", path, WEIGHTS_MEMBER);
  }
  tconv_dealloc(h5);
  if (st == TCONV_OK) {
    out->format = "keras-zip";
    if (config && memchr(config, 0, config_size) == NULL) {
      out->metadata = (char *)config;
      config = NULL;
    }
  }
  tconv_dealloc(config);
  return st;
}

#else

bool tconv_keras_zip_probe(const char *path) { return false; }

tconv_status tconv_keras_zip_read(const char *path, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, "%s: this build has no libzip (.keras archives)", path);
}

#endif
