/* Progress bar and data lookup for the seed-use subcommands. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "uses.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void uses_progress_start(uses_progress *p, const char *label) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->start = now_s();
  p->last_decile = -1;
}

static void format_secs(double s, char *buf, size_t n) {
  if (s < 0 || s > 1e7) snprintf(buf, n, "?");
  else if (s < 60) snprintf(buf, n, "%.0fs", s);
  else snprintf(buf, n, "%.0fm%02.0fs", s / 60 - 0.5, s - 60 * (double)(long)(s / 60));
}

void uses_progress_update(void *ctx, size_t done, size_t total, double loss) {
  uses_progress *p = ctx;
  double t = now_s(), elapsed = t - p->start;
  double frac = total ? (double)done / (double)total : 1;
  char eta[32];
  format_secs(frac > 0 ? elapsed * (1 - frac) / frac : -1, eta, sizeof eta);
  if (isatty(STDERR_FILENO)) {
    if (done < total && t - p->last_draw < 0.1) return;
    p->last_draw = t;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3.0f%%  %zu/%zu  loss %.5f  ETA %s   ", p->label, bar, 100 * frac,
            done, total, loss, eta);
    p->drawn = 1;
  } else {
    int decile = (int)(frac * 10);
    if (decile == p->last_decile) return;
    p->last_decile = decile;
    fprintf(stderr, "%s %3.0f%%  %zu/%zu  loss %.5f  ETA %s\n", p->label, 100 * frac, done, total,
            loss, eta);
  }
  fflush(stderr);
}

void uses_progress_finish(uses_progress *p) {
  if (p->drawn) fputc('\n', stderr);
  p->drawn = 0;
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *uses_data_dir(const char *name) {
  static char buf[PATH_MAX + 64];
  const char *env = getenv("TCONV_DATA");
  if (env && env[0]) {
    snprintf(buf, sizeof buf, "%s/%s", env, name);
    if (is_dir(buf)) return buf;
  }
  snprintf(buf, sizeof buf, "data/%s", name);
  if (is_dir(buf)) return buf;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      snprintf(buf, sizeof buf, "%s/../data/%s", exe, name);
      if (is_dir(buf)) return buf;
      snprintf(buf, sizeof buf, "%s/../../data/%s", exe, name);
      if (is_dir(buf)) return buf;
    }
  }
  return NULL;
}
