/* Whole-file reads with a size cap, and crash-safe writes (temp file, fsync, rename). */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Test-only fault injection (see internal.h): the call whose index equals
 * tconv_test_write_fail_at writes half its bytes, then fails as a full disk does. */
atomic_long tconv_test_write_calls;
atomic_long tconv_test_write_fail_at = -1;

int tconv_write_all(int fd, const void *buf, size_t n) {
  const unsigned char *p = buf;
  if (atomic_fetch_add(&tconv_test_write_calls, 1) == atomic_load(&tconv_test_write_fail_at)) {
    ssize_t w = n / 2 > 0 ? write(fd, p, n / 2) : 0;
    (void)w;
    return ENOSPC;
  }
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

tconv_status tconv_write_atomic(const char *path, tconv_write_fn writer, void *ctx) {
  RETURN_IF(path == NULL || path[0] == '\0', TCONV_INVALID_ARGUMENT, "empty output path");
  size_t n = strlen(path);
  char *tmp = tconv_alloc(n + 16);
  RETURN_IF(tmp == NULL, TCONV_OUT_OF_MEMORY, "%s: out of memory", path);
  memcpy(tmp, path, n);
  memcpy(tmp + n, ".tmp-XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    tconv_status st = tconv_error(TCONV_IO_ERROR, "%s: cannot create a temporary file: %s", path,
                                  strerror(errno));
    tconv_dealloc(tmp);
    return st;
  }
  tconv_status st = writer(ctx, fd);
  if (st == TCONV_OK && fsync(fd) != 0)
    st = tconv_error(TCONV_IO_ERROR, "%s: fsync failed: %s", path, strerror(errno));
  if (close(fd) != 0 && st == TCONV_OK)
    st = tconv_error(TCONV_IO_ERROR, "%s: close failed: %s", path, strerror(errno));
  if (st == TCONV_OK) {
    /* mkstemp makes 0600 files; give the result the usual permissions. */
    mode_t mask = umask(0);
    umask(mask);
    chmod(tmp, 0666 & ~mask);
    if (rename(tmp, path) != 0)
      st = tconv_error(TCONV_IO_ERROR, "%s: rename failed: %s", path, strerror(errno));
  }
  if (st != TCONV_OK) unlink(tmp);
  tconv_dealloc(tmp);
  return st;
}

tconv_status tconv_read_file(const char *path, uint64_t max_bytes, unsigned char **out,
                             size_t *size) {
  *out = NULL;
  *size = 0;
  int fd = open(path, O_RDONLY);
  RETURN_IF(fd < 0, TCONV_IO_ERROR, "%s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return tconv_error(TCONV_IO_ERROR, "%s: not a regular file", path);
  }
  if ((uint64_t)sb.st_size > max_bytes) {
    close(fd);
    return tconv_error(TCONV_LIMIT_EXCEEDED, "%s: %lld bytes, above the limit of %llu", path,
                       (long long)sb.st_size, (unsigned long long)max_bytes);
  }
  size_t n = (size_t)sb.st_size;
  unsigned char *buf = tconv_alloc(n);
  if (buf == NULL) {
    close(fd);
    return tconv_error(TCONV_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != n) {
    tconv_dealloc(buf);
    return tconv_error(TCONV_IO_ERROR, "%s: short read (%zu of %zu bytes)", path, got, n);
  }
  *out = buf;
  *size = n;
  return TCONV_OK;
}
