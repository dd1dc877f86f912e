/* bwd_timing.c - times tconv's forward, backward-data and backward-weights on the shape suite
 * (bench/shapes.txt: NHWC f32, TF 'same'/'valid'), printing the peers' CSV rows so that
 * bench/bwd_side_by_side.sh can put them next to oneDNN and PyTorch from the same run.
 *
 * Not part of `make test`; build by hand after `make BUILD=build-x`:
 *   cc -O2 -Iinclude bench/bwd_timing.c build-x/libtconv.a -lm -lpthread -o build-x/bwd_timing
 * usage: bwd_timing SHAPES [--shapes a,b] [--passes fwd,bwd_d,bwd_w] [--threads 1,2]
 *                          [--budget SECONDS]
 * Each cell: one warm-up call, then 3..30 timed calls (about budget seconds, default 0.4 or
 * $BENCH_BUDGET; 2 or 1 when a call is over 1.5 s / 4 s), median / min / max in ms.
 * Row: RESULT,tconv,nhwc,<id>,<name>,<pass>,<threads>,<median>,<min>,<max>,<reps>,<GFLOP/s>
 * with FLOPs = 2 N H W Cin Cout K^2 for every pass. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tconv.h"

typedef struct shape {
  char id[8], name[32];
  size_t N, H, W, Ci, Co, K, S;
  int same;
} shape;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* TF geometry: full = (I-1)s + k; same -> O = I*s, valid -> O = I*s + max(k-s, 0); the crop's
 * odd pixel goes to the end. */
static int make_geometry(const shape *s, tconv_geometry *g) {
  memset(g, 0, sizeof *g);
  const size_t full = (s->H - 1) * s->S + s->K, fullw = (s->W - 1) * s->S + s->K;
  const size_t extra = s->K > s->S ? s->K - s->S : 0;
  const size_t oh = s->same ? s->H * s->S : s->H * s->S + extra;
  const size_t ow = s->same ? s->W * s->S : s->W * s->S + extra;
  if (oh > full || ow > fullw) return -1;
  g->batch = s->N, g->in_h = s->H, g->in_w = s->W, g->in_c = s->Ci;
  g->out_h = oh, g->out_w = ow, g->out_c = s->Co;
  g->kernel_h = g->kernel_w = s->K;
  g->stride_h = g->stride_w = s->S;
  g->dilation_h = g->dilation_w = 1;
  g->pad_top = (full - oh) / 2, g->pad_bottom = full - oh - g->pad_top;
  g->pad_left = (fullw - ow) / 2, g->pad_right = fullw - ow - g->pad_left;
  g->groups = 1;
  g->data_format = TCONV_CHANNELS_LAST;
  return tconv_geometry_check(g) == TCONV_OK ? 0 : -1;
}

static int listed(const char *list, const char *a, const char *b) {
  if (list == NULL) return 1;
  char buf[512], k1[48], k2[48];
  snprintf(buf, sizeof buf, ",%s,", list);
  snprintf(k1, sizeof k1, ",%s,", a);
  snprintf(k2, sizeof k2, ",%s,", b);
  return strstr(buf, k1) != NULL || strstr(buf, k2) != NULL;
}

typedef struct call {
  const tconv_geometry *g;
  const float *x, *k, *dz;
  float *y, *dx, *dk;
  int pass; /* 0 fwd, 1 bwd_d, 2 bwd_w */
  tconv_threadpool *pool;
} call;

static int run(const call *c) {
  tconv_status st;
  if (c->pass == 0)
    st = tconv_forward(c->g, c->x, c->k, NULL, NULL, c->y, c->pool);
  else if (c->pass == 1)
    st = tconv_backward(c->g, NULL, c->k, c->dz, c->dx, NULL, NULL, c->pool);
  else
    st = tconv_backward(c->g, c->x, NULL, c->dz, NULL, c->dk, NULL, c->pool);
  if (st != TCONV_OK) fprintf(stderr, "tconv: %s\n", tconv_last_error());
  return st == TCONV_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SHAPES [--shapes ids] [--passes fwd,bwd_d,bwd_w] [--threads 1,2] "
                    "[--budget S]\n", argv[0]);
    return 2;
  }
  const char *only = NULL, *passes = "fwd,bwd_d,bwd_w", *threads = "1,2";
  double budget = getenv("BENCH_BUDGET") ? atof(getenv("BENCH_BUDGET")) : 0.4;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--shapes")) only = argv[i + 1];
    else if (!strcmp(argv[i], "--passes")) passes = argv[i + 1];
    else if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
    else if (!strcmp(argv[i], "--budget")) budget = atof(argv[i + 1]);
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  FILE *f = fopen(argv[1], "r");
  if (!f) { fprintf(stderr, "cannot open %s\n", argv[1]); return 2; }
  static const char *pass_names[] = {"fwd", "bwd_d", "bwd_w"};
  char line[512];
  int failed = 0;
  while (fgets(line, sizeof line, f)) {
    shape s;
    char pad[16];
    if (line[0] == '#' || sscanf(line, "%7s %31s %zu %zu %zu %zu %zu %zu %zu %15s", s.id, s.name,
                                 &s.N, &s.H, &s.W, &s.Ci, &s.Co, &s.K, &s.S, pad) != 10)
      continue;
    if (!listed(only, s.id, s.name)) continue;
    s.same = strcmp(pad, "same") == 0;
    tconv_geometry g;
    if (make_geometry(&s, &g)) { fprintf(stderr, "skip %s\n", s.name); continue; }
    const size_t xn = g.batch * g.in_h * g.in_w * g.in_c;
    const size_t yn = g.batch * g.out_h * g.out_w * g.out_c;
    const size_t kn = g.kernel_h * g.kernel_w * g.out_c * g.in_c;
    float *x = malloc(xn * 4), *y = malloc(yn * 4), *k = malloc(kn * 4), *dz = malloc(yn * 4);
    float *dx = malloc(xn * 4), *dk = malloc(kn * 4);
    unsigned long long r = 88172645463325252ull;
    for (size_t i = 0; i < xn; i++) r = r * 6364136223846793005ull + 1, x[i] = (float)(r >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < kn; i++) r = r * 6364136223846793005ull + 1, k[i] = (float)(r >> 40) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < yn; i++) r = r * 6364136223846793005ull + 1, dz[i] = (float)(r >> 40) / 16777216.0f - 0.5f;
    const double flops = 2.0 * (double)(s.N * s.H * s.W * s.Ci * s.Co * s.K * s.K);
    for (int p = 0; p < 3; p++) {
      if (!listed(passes, pass_names[p], pass_names[p])) continue;
      for (size_t t = 1; t <= 8; t++) {
        char tn[8];
        snprintf(tn, sizeof tn, "%zu", t);
        if (!listed(threads, tn, tn)) continue;
        tconv_threadpool *pool = NULL;
        if (t > 1 && tconv_threadpool_create(t, &pool) != TCONV_OK) continue;
        call c = {&g, x, k, dz, y, dx, dk, p, pool};
        double samples[32];
        if (run(&c)) { failed = 1; tconv_threadpool_destroy(pool); continue; }
        double t0 = now();
        run(&c);
        samples[0] = now() - t0;
        int n = (int)ceil(budget / samples[0]);
        n = n < 3 ? 3 : n > 30 ? 30 : n;
        if (samples[0] > 1.5) n = 2;
        if (samples[0] > 4.0) n = 1;
        for (int i = 1; i < n; i++) {
          t0 = now();
          run(&c);
          samples[i] = now() - t0;
        }
        qsort(samples, (size_t)n, sizeof(double), cmp_double);
        const double med = (n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]));
        printf("RESULT,tconv,nhwc,%s,%s,%s,%zu,%.4f,%.4f,%.4f,%d,%.2f\n", s.id, s.name,
               pass_names[p], t, med * 1e3, samples[0] * 1e3, samples[n - 1] * 1e3, n,
               flops / med / 1e9);
        fflush(stdout);
        tconv_threadpool_destroy(pool);
      }
    }
    free(x), free(y), free(k), free(dz), free(dx), free(dk);
  }
  fclose(f);
  return failed;
}
