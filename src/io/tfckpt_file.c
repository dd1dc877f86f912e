/* TF checkpoints on disk: finding the bundle prefix (a prefix, PREFIX.index, a data shard, or a
 * directory whose `checkpoint` state file names the latest checkpoint) and opening the shards
 * PREFIX.data-SSSSS-of-NNNNN.  Shard paths come only from the prefix and the header's shard
 * count, never from key strings. */
#include "io/tfckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE_MAX ((uint64_t)1 << 20)

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *concat(const char *a, size_t an, const char *b) {
  size_t bn = strlen(b), total;
  if (tconv_add_overflow(an, bn + 1, &total)) return NULL;
  char *s = tconv_alloc(total);
  if (s == NULL) return NULL;
  memcpy(s, a, an);
  memcpy(s + an, b, bn + 1);
  return s;
}

/* Parses `model_checkpoint_path: "..."` from a text-format CheckpointState. */
static tconv_status state_file_prefix(const char *dir, char **prefix) {
  size_t dn = strlen(dir);
  char *state = concat(dir, dn, "/checkpoint");
  RETURN_IF(state == NULL, TCONV_OUT_OF_MEMORY, "out of memory");
  unsigned char *text = NULL;
  size_t n = 0;
  tconv_status st = tconv_read_file(state, STATE_FILE_MAX, &text, &n);
  if (st != TCONV_OK) {
    st = tconv_error_context(st == TCONV_IO_ERROR ? TCONV_NOT_FOUND : st,
                             "%s: a directory without a readable TF `checkpoint` state file", dir);
    tconv_dealloc(state);
    return st;
  }
  const char *field = "model_checkpoint_path:";
  size_t fl = strlen(field);
  const unsigned char *val = NULL;
  size_t vlen = 0;
  for (size_t i = 0; i + fl <= n; i++) {
    if ((i > 0 && text[i - 1] != '\n') || memcmp(text + i, field, fl) != 0) continue;
    size_t j = i + fl;
    while (j < n && (text[j] == ' ' || text[j] == '\t')) j++;
    if (j >= n || text[j] != '"') break;
    size_t k = ++j;
    while (k < n && text[k] != '"' && text[k] != '\n' && text[k] != '\\') k++;
    if (k >= n || text[k] != '"') break; /* escapes are not expected in paths: refuse them */
    val = text + j;
    vlen = k - j;
    break;
  }
  if (val == NULL || vlen == 0 || memchr(val, 0, vlen)) {
    st = tconv_error(TCONV_BAD_FILE, "%s: no model_checkpoint_path \"...\" line", state);
  } else if (val[0] == '/') {
    *prefix = tconv_alloc(vlen + 1);
    if (*prefix) {
      memcpy(*prefix, val, vlen);
      (*prefix)[vlen] = 0;
    }
  } else {
    char rel[4096];
    if (vlen >= sizeof rel) {
      st = tconv_error(TCONV_LIMIT_EXCEEDED, "%s: checkpoint path too long", state);
    } else {
      memcpy(rel, val, vlen);
      rel[vlen] = 0;
      char *d = concat(dir, dn, "/");
      *prefix = d ? concat(d, dn + 1, rel) : NULL;
      tconv_dealloc(d);
    }
  }
  if (st == TCONV_OK && *prefix == NULL) st = tconv_error(TCONV_OUT_OF_MEMORY, "out of memory");
  tconv_dealloc(text);
  tconv_dealloc(state);
  return st;
}

tconv_status tfckpt_resolve_prefix(const char *path, char **prefix) {
  *prefix = NULL;
  RETURN_IF(path == NULL || path[0] == 0, TCONV_INVALID_ARGUMENT, "empty checkpoint path");
  size_t n = strlen(path);
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return state_file_prefix(path, prefix);
  if (ends_with(path, n, ".index")) {
    *prefix = concat(path, n - 6, "");
  } else {
    /* PREFIX.data-00000-of-00001 */
    const char *d = strstr(path, ".data-");
    size_t dn = d ? strlen(d) : 0;
    if (d && dn == 20 && d[11] == '-' && d[12] == 'o' && d[13] == 'f' && d[14] == '-')
      *prefix = concat(path, (size_t)(d - path), "");
    else
      *prefix = concat(path, n, "");
  }
  RETURN_IF(*prefix == NULL, TCONV_OUT_OF_MEMORY, "out of memory");
  return TCONV_OK;
}

bool tfckpt_looks_like(const char *path) {
  char *prefix = NULL;
  if (tfckpt_resolve_prefix(path, &prefix) != TCONV_OK) return false;
  char *index = concat(prefix, strlen(prefix), ".index");
  bool yes = index && is_file(index);
  tconv_dealloc(index);
  tconv_dealloc(prefix);
  return yes;
}

static tconv_status file_open(void *ctx, int64_t n, tfckpt_shard **out) {
  const char *prefix = ctx;
  *out = tconv_alloc_zeroed((size_t)n * sizeof **out);
  RETURN_IF(*out == NULL, TCONV_OUT_OF_MEMORY, "tf checkpoint: out of memory");
  for (int64_t i = 0; i < n; i++) {
    char suffix[96];
    snprintf(suffix, sizeof suffix, ".data-%05lld-of-%05lld", (long long)i, (long long)n);
    tfckpt_shard *s = &(*out)[i];
    char *path = concat(prefix, strlen(prefix), suffix);
    RETURN_IF(path == NULL, TCONV_OUT_OF_MEMORY, "out of memory");
    s->path = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
      RETURN_IF(errno != ENOENT, TCONV_IO_ERROR, "%s: %s", path, strerror(errno));
      continue; /* missing: an error only when one of its tensors is read */
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
      close(fd);
      return tconv_error(TCONV_IO_ERROR, "%s: not a regular file", path);
    }
    s->present = true;
    s->fd = fd;
    s->size = (uint64_t)sb.st_size;
  }
  return TCONV_OK;
}

tconv_status tconv_tfckpt_read(const char *path, unsigned flags, tconv_weights *out) {
  RETURN_IF(out == NULL, TCONV_INVALID_ARGUMENT, "tfckpt_read: NULL output");
  memset(out, 0, sizeof *out);
  char *prefix = NULL;
  RETURN_IF_ERROR(tfckpt_resolve_prefix(path, &prefix));
  char *index_path = concat(prefix, strlen(prefix), ".index");
  if (index_path == NULL) {
    tconv_dealloc(prefix);
    return tconv_error(TCONV_OUT_OF_MEMORY, "out of memory");
  }
  unsigned char *index = NULL;
  size_t size = 0;
  tconv_status st = TCONV_OK;
  if (!is_file(index_path))
    st = tconv_error(TCONV_NOT_FOUND, "%s: no TF checkpoint index at %s", path, index_path);
  else
    st = tconv_read_file(index_path, TFCKPT_MAX_INDEX_BYTES, &index, &size);
  if (st == TCONV_OK) {
    st = tfckpt_read_bundle(index, size, index_path, file_open, prefix, flags, out);
    if (st != TCONV_OK) st = tconv_error_context(st, "%s", index_path); /* name the file */
  }
  tconv_dealloc(index);
  tconv_dealloc(index_path);
  tconv_dealloc(prefix);
  return st;
}
