/* Keras HDF5 weight files through libhdf5.
 *
 * Keras 2 (`model.save("m.h5")`, `save_weights("w.h5")`): a group (the root, or model_weights/
 * for full models) lists its layers in the `layer_names` attribute; each layer group lists its
 * variables in `weight_names` ("conv2d_transpose/kernel:0"), which are dataset paths relative to
 * the layer group.  Keras 2.3 writes these as fixed-length byte strings, 2.7+ as variable-length
 * strings.  Keras 3 / 2.13 `.weights.h5`: no name attributes; datasets at
 * layers/<name>/vars/<i> or _layer_checkpoint_dependencies/<name>/vars/<i>, found by walking the
 * hard links.  Soft and external links are never followed (an external link opens another file).
 *
 * libhdf5 prints an error stack on failures by default; the library never prints, so automatic
 * error printing is switched off for the duration of each call and restored afterwards. */
#include "io/keras.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

tconv_status tconv_keras_split_names(const char *buf, size_t size, size_t count, size_t width,
                                     char ***out) {
  *out = NULL;
  RETURN_IF(count > TCONV_KERAS_MAX_DATASETS, TCONV_LIMIT_EXCEEDED,
            "keras h5: %zu names, above the limit %d", count, TCONV_KERAS_MAX_DATASETS);
  RETURN_IF(width == 0 || width > TCONV_KERAS_MAX_NAME, TCONV_LIMIT_EXCEEDED,
            "keras h5: name width %zu outside [1, %d]", width, TCONV_KERAS_MAX_NAME);
  size_t need;
  RETURN_IF(tconv_mul_overflow(count, width, &need) || need > size, TCONV_BAD_FILE,
            "keras h5: %zu names of %zu bytes do not fit in %zu bytes", count, width, size);
  char **names = tconv_alloc_zeroed((count ? count : 1) * sizeof *names);
  RETURN_IF(names == NULL, TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
  for (size_t i = 0; i < count; i++) {
    const char *s = buf + i * width;
    size_t n = 0;
    while (n < width && s[n] != 0) n++;
    while (n > 0 && s[n - 1] == ' ') n--; /* H5T_STR_SPACEPAD */
    if (n == 0) {
      tconv_keras_free_names(names, count);
      return tconv_error(TCONV_BAD_FILE, "keras h5: name %zu of %zu is empty", i, count);
    }
    names[i] = tconv_alloc(n + 1);
    if (names[i] == NULL) {
      tconv_keras_free_names(names, count);
      return tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
    }
    memcpy(names[i], s, n);
    names[i][n] = 0;
  }
  *out = names;
  return TCONV_OK;
}

void tconv_keras_free_names(char **names, size_t count) {
  if (names == NULL) return;
  for (size_t i = 0; i < count; i++) tconv_dealloc(names[i]);
  tconv_dealloc(names);
}

char *tconv_keras_alias(const char *path, const char *weight_name) {
  if (weight_name) {
    size_t n = strlen(weight_name);
    if (n > 2 && weight_name[n - 2] == ':' && weight_name[n - 1] == '0') n -= 2;
    char *a = tconv_alloc(n + 1);
    if (a) {
      memcpy(a, weight_name, n);
      a[n] = 0;
    }
    return a;
  }
  /* .../<layer>/vars/<i> */
  const char *v = NULL;
  for (const char *p = strstr(path, "/vars/"); p; p = strstr(p + 1, "/vars/")) v = p;
  if (v == NULL || v == path) return NULL;
  const char *idx = v + 6;
  if (!((idx[0] == '0' || idx[0] == '1') && idx[1] == 0)) return NULL;
  const char *layer = v;
  while (layer > path && layer[-1] != '/') layer--;
  size_t ln = (size_t)(v - layer);
  char lname[256];
  if (ln == 0 || ln >= sizeof lname) return NULL;
  memcpy(lname, layer, ln);
  lname[ln] = 0;
  if (!strstr(lname, "conv") && !strstr(lname, "dense")) return NULL;
  const char *what = idx[0] == '0' ? "/kernel" : "/bias";
  char *a = tconv_alloc(ln + strlen(what) + 1);
  if (a) {
    memcpy(a, lname, ln);
    strcpy(a + ln, what);
  }
  return a;
}

#ifdef TCONV_HAVE_HDF5
#include <hdf5.h>
#include <pthread.h>

typedef struct h5_read {
  hid_t file;
  uint64_t file_bytes; /* bounds what a dataset may claim to hold */
  tconv_weights *out;
  tconv_status st;
  size_t datasets;
} h5_read;

static tconv_status read_dataset(h5_read *r, hid_t dset, const char *name, const char *alias) {
  RETURN_IF(++r->datasets > TCONV_KERAS_MAX_DATASETS, TCONV_LIMIT_EXCEEDED,
            "keras h5: more than %d datasets", TCONV_KERAS_MAX_DATASETS);
  hid_t type = H5Dget_type(dset), space = H5Dget_space(dset);
  tconv_status st = TCONV_OK;
  tconv_tensor value = {0};
  tconv_dtype dt = TCONV_DTYPE_OTHER;
  if (type < 0 || space < 0) {
    st = tconv_error(TCONV_BAD_FILE, "keras h5: dataset '%s': unreadable type or shape", name);
    goto done;
  }
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > TCONV_MAX_RANK) {
    st = tconv_error(rank < 0 ? TCONV_BAD_FILE : TCONV_LIMIT_EXCEEDED,
                     "keras h5: dataset '%s' has rank %d (at most %d)", name, rank, TCONV_MAX_RANK);
    goto done;
  }
  hsize_t dims[TCONV_MAX_RANK] = {0};
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) != rank) {
    st = tconv_error(TCONV_BAD_FILE, "keras h5: dataset '%s': unreadable dimensions", name);
    goto done;
  }
  value.rank = (size_t)rank;
  for (int i = 0; i < rank; i++) value.shape[i] = dims[i] > SIZE_MAX ? SIZE_MAX : (size_t)dims[i];
  H5T_class_t cls = H5Tget_class(type);
  size_t tsize = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    dt = tsize == 4 ? TCONV_DTYPE_FLOAT32 : tsize == 8 ? TCONV_DTYPE_FLOAT64
       : tsize == 2 ? TCONV_DTYPE_FLOAT16 : TCONV_DTYPE_OTHER;
  } else if (cls == H5T_INTEGER) {
    bool sign = H5Tget_sign(type) == H5T_SGN_2;
    dt = tsize == 1 ? (sign ? TCONV_DTYPE_INT8 : TCONV_DTYPE_UINT8)
       : tsize == 2 && sign ? TCONV_DTYPE_INT16 : tsize == 4 && sign ? TCONV_DTYPE_INT32
       : tsize == 8 && sign ? TCONV_DTYPE_INT64 : TCONV_DTYPE_OTHER;
  } else if (cls == H5T_STRING) {
    dt = TCONV_DTYPE_STRING;
  }
  size_t numel;
  st = tconv_check_shape(value.rank, value.shape, tsize ? tsize : 1, &numel, "keras h5 dataset");
  if (st != TCONV_OK) {
    st = tconv_error_context(st, "keras h5: dataset '%s'", name);
    goto done;
  }
  if (dt == TCONV_DTYPE_FLOAT32 || dt == TCONV_DTYPE_FLOAT64 || dt == TCONV_DTYPE_FLOAT16) {
    /* Allocation bounded by bytes that exist: the stored size (x1032, deflate's best ratio) or
     * a few KiB of fill values. */
    uint64_t stored = (uint64_t)H5Dget_storage_size(dset), bytes = (uint64_t)numel * tsize;
    uint64_t cap = stored * 1032 > 4096 ? stored * 1032 : 4096;
    if (bytes > cap || (stored > r->file_bytes && r->file_bytes)) {
      st = tconv_error(TCONV_BAD_FILE,
                       "keras h5: dataset '%s' claims %llu bytes but stores %llu", name,
                       (unsigned long long)bytes, (unsigned long long)stored);
      goto done;
    }
    value.data = tconv_alloc((numel ? numel : 1) * sizeof(float));
    if (value.data == NULL) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: cannot allocate %zu floats", numel);
      goto done;
    }
    if (numel && H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data) < 0) {
      st = tconv_error(TCONV_BAD_FILE, "keras h5: dataset '%s': HDF5 could not read it", name);
      goto done;
    }
  }
  st = tconv_weights_push(r->out, name, dt, &value);
  if (st == TCONV_OK && alias) {
    char *a = tconv_strdup(alias);
    if (a == NULL) st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
    r->out->items[r->out->count - 1].alias = a;
  }
done:
  tconv_tensor_free(&value);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  return st;
}

/* Reads a string-array attribute (fixed- or variable-length) into our own copies. */
static tconv_status read_names(hid_t obj, const char *attr_name, const char *where, char ***names,
                               size_t *count) {
  *names = NULL;
  *count = 0;
  hid_t attr = H5Aopen(obj, attr_name, H5P_DEFAULT);
  RETURN_IF(attr < 0, TCONV_BAD_FILE, "keras h5: %s has no '%s' attribute", where, attr_name);
  hid_t type = H5Aget_type(attr), space = H5Aget_space(attr), mem = -1;
  tconv_status st = TCONV_OK;
  char *buf = NULL;
  char **vl = NULL;
  hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  /* Layers without weights store an empty array, which h5py types as float64. */
  if (type >= 0 && n == 0 && rank <= 1) goto done;
  if (type < 0 || n < 0 || rank > 1 || H5Tget_class(type) != H5T_STRING) {
    st = tconv_error(TCONV_BAD_FILE, "keras h5: %s: '%s' is not a list of strings", where,
                     attr_name);
    goto done;
  }
  if ((uint64_t)n > TCONV_KERAS_MAX_DATASETS) {
    st = tconv_error(TCONV_LIMIT_EXCEEDED, "keras h5: %s: %lld names", where, (long long)n);
    goto done;
  }
  if (n == 0) goto done;
  mem = H5Tcopy(H5T_C_S1);
  if (H5Tis_variable_str(type) > 0) {
    vl = tconv_alloc_zeroed((size_t)n * sizeof *vl);
    if (vl == NULL || H5Tset_size(mem, H5T_VARIABLE) < 0) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
      goto done;
    }
    if (H5Aread(attr, mem, vl) < 0) {
      st = tconv_error(TCONV_BAD_FILE, "keras h5: %s: cannot read '%s'", where, attr_name);
      goto done;
    }
    size_t width = 1;
    for (hssize_t i = 0; i < n; i++) {
      size_t len = vl[i] ? strnlen(vl[i], TCONV_KERAS_MAX_NAME + 1) : 0;
      if (len + 1 > width) width = len + 1;
    }
    /* Pack into the fixed-width form so that one splitter validates both encodings. */
    size_t total;
    if (width > TCONV_KERAS_MAX_NAME || tconv_mul_overflow((size_t)n, width, &total)) {
      st = tconv_error(TCONV_LIMIT_EXCEEDED, "keras h5: %s: name longer than %d bytes", where,
                       TCONV_KERAS_MAX_NAME);
    } else if ((buf = tconv_alloc_zeroed(total)) == NULL) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
    } else {
      for (hssize_t i = 0; i < n; i++)
        if (vl[i]) memcpy(buf + (size_t)i * width, vl[i], strlen(vl[i]));
      st = tconv_keras_split_names(buf, total, (size_t)n, width, names);
    }
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mem, space, H5P_DEFAULT, vl);
#else
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, vl);
#endif
  } else {
    size_t width = H5Tget_size(type), total;
    if (width == 0 || width > TCONV_KERAS_MAX_NAME || tconv_mul_overflow((size_t)n, width, &total)) {
      st = tconv_error(TCONV_LIMIT_EXCEEDED, "keras h5: %s: string width %zu", where, width);
      goto done;
    }
    buf = tconv_alloc(total);
    if (buf == NULL || H5Tset_size(mem, width) < 0) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: out of memory");
      goto done;
    }
    H5Tset_strpad(mem, H5T_STR_NULLPAD);
    if (H5Aread(attr, mem, buf) < 0) {
      st = tconv_error(TCONV_BAD_FILE, "keras h5: %s: cannot read '%s'", where, attr_name);
      goto done;
    }
    st = tconv_keras_split_names(buf, total, (size_t)n, width, names);
  }
  if (st == TCONV_OK) *count = (size_t)n;
done:
  tconv_dealloc(buf);
  tconv_dealloc(vl);
  if (mem >= 0) H5Tclose(mem);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(attr);
  return st;
}

static bool safe_component(const char *s) {
  /* Names from attributes become HDF5 paths: refuse absolute paths and parent references. */
  return s[0] != '/' && strstr(s, "..") == NULL;
}

/* Keras 2: base has layer_names; each layer group has weight_names. */
static tconv_status read_by_attributes(h5_read *r, hid_t base, const char *base_path) {
  char **layers = NULL;
  size_t nl = 0;
  RETURN_IF_ERROR(read_names(base, "layer_names", base_path[0] ? base_path : "/", &layers, &nl));
  tconv_status st = TCONV_OK;
  for (size_t i = 0; i < nl && st == TCONV_OK; i++) {
    if (!safe_component(layers[i])) {
      st = tconv_error(TCONV_BAD_FILE, "keras h5: bad layer name '%s'", layers[i]);
      break;
    }
    hid_t g = H5Gopen2(base, layers[i], H5P_DEFAULT);
    if (g < 0) {
      st = tconv_error(TCONV_BAD_FILE, "keras h5: layer_names lists '%s' but there is no such "
                       "group", layers[i]);
      break;
    }
    char **weights = NULL;
    size_t nw = 0;
    st = H5Aexists(g, "weight_names") > 0 ? read_names(g, "weight_names", layers[i], &weights, &nw)
                                          : TCONV_OK;
    for (size_t j = 0; j < nw && st == TCONV_OK; j++) {
      char path[3 * TCONV_KERAS_MAX_NAME + 8];
      snprintf(path, sizeof path, "%s%s%s/%s", base_path, base_path[0] ? "/" : "", layers[i],
               weights[j]);
      hid_t d = safe_component(weights[j]) ? H5Dopen2(g, weights[j], H5P_DEFAULT) : -1;
      if (d < 0) {
        st = tconv_error(TCONV_BAD_FILE, "keras h5: weight_names of '%s' lists '%s' but there is "
                         "no such dataset", layers[i], weights[j]);
        break;
      }
      char *alias = tconv_keras_alias(path, weights[j]);
      st = read_dataset(r, d, path, alias);
      tconv_dealloc(alias);
      H5Dclose(d);
    }
    tconv_keras_free_names(weights, nw);
    H5Gclose(g);
  }
  tconv_keras_free_names(layers, nl);
  return st;
}

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  h5_read *r = data;
  if (info->type != H5L_TYPE_HARD) return 0; /* never follow soft or external links */
  hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
  if (obj < 0) return 0;
  if (H5Iget_type(obj) == H5I_DATASET) {
    char *alias = tconv_keras_alias(name, NULL);
    r->st = read_dataset(r, obj, name, alias);
    tconv_dealloc(alias);
  }
  H5Oclose(obj);
  return r->st == TCONV_OK ? 0 : 1;
}

static tconv_status read_file(hid_t file, uint64_t file_bytes, tconv_weights *out) {
  h5_read r = {.file = file, .file_bytes = file_bytes, .out = out, .st = TCONV_OK};
  if (H5Aexists(file, "layer_names") > 0) return read_by_attributes(&r, file, "");
  if (H5Lexists(file, "model_weights", H5P_DEFAULT) > 0) {
    hid_t g = H5Gopen2(file, "model_weights", H5P_DEFAULT);
    RETURN_IF(g < 0, TCONV_BAD_FILE, "keras h5: cannot open model_weights");
    tconv_status st = H5Aexists(g, "layer_names") > 0
                          ? read_by_attributes(&r, g, "model_weights")
                          : TCONV_OK;
    H5Gclose(g);
    if (st != TCONV_OK || out->count) return st;
  }
  herr_t e = H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &r);
  if (r.st != TCONV_OK) return r.st;
  RETURN_IF(e < 0, TCONV_BAD_FILE, "keras h5: cannot walk the file's groups");
  return TCONV_OK;
}

static tconv_status open_and_read_locked(const char *path, const void *bytes, size_t size,
                                         tconv_weights *out) {
  memset(out, 0, sizeof *out);
  H5E_auto2_t old_fn;
  void *old_data;
  H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  tconv_status st = TCONV_OK;
  hid_t fapl = -1, file = -1;
  uint64_t file_bytes = size;
  if (bytes) {
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        H5Pset_file_image(fapl, (void *)bytes, size) < 0) {
      st = tconv_error(TCONV_OUT_OF_MEMORY, "keras h5: cannot set up an in-memory HDF5 file");
      goto done;
    }
    file = H5Fopen("tconv-in-memory.h5", H5F_ACC_RDONLY, fapl);
  } else {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      st = tconv_error(TCONV_IO_ERROR, "%s: no such file", path);
      goto done;
    }
    file_bytes = (uint64_t)sb.st_size;
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  if (file < 0) {
    st = tconv_error(TCONV_BAD_FILE, "%s: not a readable HDF5 file", path);
    goto done;
  }
  st = read_file(file, file_bytes, out);
done:
  if (file >= 0) H5Fclose(file);
  if (fapl >= 0) H5Pclose(fapl);
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
  if (st != TCONV_OK) {
    tconv_weights_free(out);
  } else {
    out->format = "keras-h5";
  }
  return st;
}

/* Loads may come from several threads at once.  Debian's libhdf5 is built thread-safe (it takes
 * its own global lock; H5is_library_threadsafe says so); a build without that option keeps
 * global state unguarded, so then every use goes through this lock instead. */
static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static hbool_t h5_threadsafe;
static void h5_query(void) {
  if (H5is_library_threadsafe(&h5_threadsafe) < 0) h5_threadsafe = 0;
}

static tconv_status open_and_read(const char *path, const void *bytes, size_t size,
                                  tconv_weights *out) {
  pthread_once(&h5_once, h5_query);
  if (!h5_threadsafe) pthread_mutex_lock(&h5_lock);
  tconv_status st = open_and_read_locked(path, bytes, size, out);
  if (!h5_threadsafe) pthread_mutex_unlock(&h5_lock);
  return st;
}

tconv_status tconv_keras_h5_read(const char *path, tconv_weights *out) {
  RETURN_IF(path == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "keras_h5_read: NULL argument");
  return open_and_read(path, NULL, 0, out);
}

tconv_status tconv_keras_h5_parse(const void *bytes, size_t size, tconv_weights *out) {
  RETURN_IF(bytes == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "keras_h5_parse: NULL argument");
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  memset(out, 0, sizeof *out);
  RETURN_IF(size < 8 || memcmp(bytes, sig, 8) != 0, TCONV_BAD_FILE,
            "keras h5: no HDF5 signature at the start of the %zu bytes", size);
  return open_and_read("(memory)", bytes, size, out);
}

#else /* !TCONV_HAVE_HDF5 */

tconv_status tconv_keras_h5_read(const char *path, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, "%s: this build has no libhdf5 (Keras .h5 files)", path);
}
tconv_status tconv_keras_h5_parse(const void *bytes, size_t size, tconv_weights *out) {
  if (out) memset(out, 0, sizeof *out);
  return tconv_error(TCONV_UNSUPPORTED, "this build has no libhdf5 (Keras .h5 files)");
}

#endif
