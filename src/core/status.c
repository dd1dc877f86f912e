/* Status strings and the per-thread error message. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *tconv_status_string(tconv_status status) {
  switch (status) {
#define TCONV_STATUS_CASE_(name, value, text)                                                      \
  case name:                                                                                       \
    return text;
    TCONV_STATUS_LIST(TCONV_STATUS_CASE_)
#undef TCONV_STATUS_CASE_
  }
  return "unknown status";
}

const char *tconv_last_error(void) { return last_error; }

tconv_status tconv_error(tconv_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}

void tconv_error_clear(void) { last_error[0] = '\0'; }

const char *tconv_version(void) { return TCONV_VERSION_STRING; }
