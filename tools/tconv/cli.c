/* Shared CLI helpers: one-line errors and number-list parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tconv: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_fail_status(tconv_status st, const char *what) {
  const char *msg = tconv_last_error();
  return cli_fail("%s: %s", what, msg[0] ? msg : tconv_status_string(st));
}

/* Parses one signed integer; rejects trailing junk and values outside int64. */
static bool parse_one(const char *s, size_t len, int64_t *out) {
  char buf[32];
  if (len == 0 || len >= sizeof buf) return false;
  memcpy(buf, s, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno != 0 || *end != '\0' || end == buf) return false;
  *out = v;
  return true;
}

int cli_parse_ints(const char *text, int64_t *out, int max, const char *flag) {
  if (text == NULL) {
    cli_fail("%s needs a value", flag);
    return -1;
  }
  int n = 0;
  const char *p = text;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (n == max) {
      cli_fail("%s takes at most %d values, got '%s'", flag, max, text);
      return -1;
    }
    if (!parse_one(p, len, &out[n])) {
      cli_fail("%s: '%s' is not a list of integers", flag, text);
      return -1;
    }
    n++;
    if (!comma) break;
    p = comma + 1;
  }
  return n;
}

bool cli_parse_int(const char *text, int64_t *out, const char *flag) {
  if (text == NULL || !parse_one(text, strlen(text), out)) {
    cli_fail("%s: '%s' is not an integer", flag, text ? text : "");
    return false;
  }
  return true;
}
