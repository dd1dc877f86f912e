/* tconv bench: times the forward pass on a shape suite (the format of bench/shapes.txt, shared
 * with the peers' harness) and prints a table or, with --csv, one RESULT row per cell in the
 * peers' column order, so both land in one table (bench/run_side_by_side.sh). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "plan/plan.h"

int cmd_bench(int argc, char **argv);

static const char bench_help[] =
    "usage: tconv bench --shapes FILE [--only a,b] [--passes fwd,bwd_d,bwd_w] [--threads 1,2]\n"
    "                   [--csv]\n"
    "                   [--variants nhwc,nchw] [--budget SECONDS]\n"
    "Times the passes (forward; backward-data and backward-weights with a random dy) of every\n"
    "shape in FILE (lines: id name N H W Cin Cout K S same|valid,\n"
    "TF padding semantics, f32).  Each cell: 1 warm-up call, then 3..30 timed calls filling about\n"
    "--budget seconds (default 0.4, or $BENCH_BUDGET); reports median/min/max ms and GFLOP/s of\n"
    "2*N*H*W*Cin*Cout*K*K.  --csv prints RESULT,tconv,<variant>,<id>,<name>,<pass>,<threads>,\n"
    "<ms_median>,<ms_min>,<ms_max>,<reps>,<gflops>,0,0,<kernel path>,<layout>,<max rel. error>\n"
    "(the peers' harness columns).  The kernel path follows TCONV_KERNELS (auto by default).\n";

typedef struct bench_shape {
  char id[8], name[32];
  size_t N, H, W, Cin, Cout, K, S;
  int same;
} bench_shape;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int in_list(const char *list, const char *a, const char *b) {
  if (list == NULL) return 1;
  size_t la = strlen(a), lb = strlen(b);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if ((n == la && !strncmp(p, a, n)) || (n == lb && !strncmp(p, b, n))) return 1;
    p += n + (e != NULL);
  }
  return 0;
}

/* TF semantics (dilation 1): full = (I-1)s + k; same: O = I*s, valid: O = I*s + max(k-s, 0);
 * crop = full - O split top/left = crop/2; a negative crop is a bias-only extension. */
static void shape_geometry(const bench_shape *s, tconv_data_format fmt, tconv_geometry *g) {
  memset(g, 0, sizeof *g);
  g->batch = s->N;
  g->in_h = s->H;
  g->in_w = s->W;
  g->in_c = s->Cin;
  g->out_c = s->Cout;
  g->kernel_h = g->kernel_w = s->K;
  g->stride_h = g->stride_w = s->S;
  g->dilation_h = g->dilation_w = 1;
  g->groups = 1;
  g->data_format = fmt;
  size_t extra = s->K > s->S ? s->K - s->S : 0;
  size_t fh = (s->H - 1) * s->S + s->K, fw = (s->W - 1) * s->S + s->K;
  g->out_h = s->same ? s->H * s->S : s->H * s->S + extra;
  g->out_w = s->same ? s->W * s->S : s->W * s->S + extra;
  if (fh >= g->out_h) {
    g->pad_top = (fh - g->out_h) / 2;
    g->pad_bottom = fh - g->out_h - g->pad_top;
  } else {
    g->adjust_h = g->out_h - fh;
  }
  if (fw >= g->out_w) {
    g->pad_left = (fw - g->out_w) / 2;
    g->pad_right = fw - g->out_w - g->pad_left;
  } else {
    g->adjust_w = g->out_w - fw;
  }
}

static void fill_rand(float *p, size_t n, unsigned seed) {
  unsigned long long x = 0x9E3779B97F4A7C15ull ^ seed;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (float)((double)(x >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
  }
}

static size_t act_index(const tconv_geometry *g, size_t n, size_t h, size_t w, size_t c, int out) {
  size_t H = out ? g->out_h : g->in_h, W = out ? g->out_w : g->in_w, C = out ? g->out_c : g->in_c;
  return g->data_format == TCONV_CHANNELS_LAST ? ((n * H + h) * W + w) * C + c
                                               : ((n * C + c) * H + h) * W + w;
}

/* max over sampled outputs of |y - ref| / (sum |terms| + |b|), ref in double. */
static double sampled_error(const tconv_geometry *g, const float *x, const float *k,
                            const float *b, const float *y) {
  unsigned long long r = 12345;
  double worst = 0;
  for (int t = 0; t < 48; t++) {
    size_t v[4], lim[4] = {g->batch, g->out_h, g->out_w, g->out_c};
    for (int i = 0; i < 4; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      v[i] = (size_t)((r >> 33) % lim[i]);
    }
    double acc = b[v[3]], mag = fabs(b[v[3]]) + 1e-30;
    for (size_t th = 0; th < g->kernel_h; th++)
      for (size_t tw = 0; tw < g->kernel_w; tw++) {
        size_t fh = v[1] + g->pad_top, fw = v[2] + g->pad_left;
        if (fh < th || fw < tw || (fh - th) % g->stride_h || (fw - tw) % g->stride_w) continue;
        size_t ih = (fh - th) / g->stride_h, iw = (fw - tw) / g->stride_w;
        if (ih >= g->in_h || iw >= g->in_w) continue;
        for (size_t c = 0; c < g->in_c; c++) {
          double term = (double)x[act_index(g, v[0], ih, iw, c, 0)] *
                        k[((th * g->kernel_w + tw) * g->out_c + v[3]) * g->in_c + c];
          acc += term;
          mag += fabs(term);
        }
      }
    double e = fabs(y[act_index(g, v[0], v[1], v[2], v[3], 1)] - acc) / mag;
    if (e > worst) worst = e;
  }
  return worst;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The benchmarked passes: forward, and the backward passes of training (dy taken random). */
enum { PASS_FWD, PASS_BWD_D, PASS_BWD_W };
static const char *pass_names[] = {"fwd", "bwd_d", "bwd_w"};

typedef struct pass_args {
  const tconv_plan *plan;
  const tconv_geometry *g;
  const float *x, *k, *b, *dy;
  float *y, *dx, *dk;
  tconv_threadpool *pool;
} pass_args;

static tconv_status run_pass(int pass, const pass_args *a) {
  if (pass == PASS_FWD) return tconv_plan_run(a->plan, a->x, a->b, NULL, a->y, a->pool);
  if (pass == PASS_BWD_D) return tconv_backward(a->g, a->x, a->k, a->dy, a->dx, NULL, NULL, a->pool);
  return tconv_backward(a->g, a->x, NULL, a->dy, NULL, a->dk, NULL, a->pool);
}

/* v[0] * ... * v[n-1] <= limit, without overflowing (the factors are >= 1) */
static int product_at_most(const size_t *v, size_t n, size_t limit) {
  size_t p = 1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] > limit / p) return 0;
    p *= v[i];
  }
  return 1;
}

/* The tensors come from tconv_tensor_alloc, as the layer API's and the CLI's do: on a cache
 * line (as the peers' allocators place theirs), and from 2 MiB up on transparent huge pages
 * (src/core/alloc.c). */
static float *bench_alloc(tconv_tensor *t, size_t n) {
  const size_t shape[1] = {n ? n : 1};
  return tconv_tensor_alloc(t, 1, shape) == TCONV_OK ? t->data : NULL;
}

static int bench_one(const bench_shape *s, tconv_data_format fmt, size_t threads, double budget,
                     int csv, int pass) {
  tconv_geometry g;
  shape_geometry(s, fmt, &g);
  size_t xn = g.batch * g.in_h * g.in_w * g.in_c, yn = g.batch * g.out_h * g.out_w * g.out_c;
  size_t kn = g.kernel_h * g.kernel_w * g.out_c * g.in_c;
  tconv_tensor t[7] = {{0}};
  float *x = bench_alloc(&t[0], xn), *y = bench_alloc(&t[1], yn);
  float *k = bench_alloc(&t[2], kn), *b = bench_alloc(&t[3], g.out_c);
  float *dy = pass != PASS_FWD ? bench_alloc(&t[4], yn) : NULL;
  float *dx = pass == PASS_BWD_D ? bench_alloc(&t[5], xn) : NULL;
  float *dk = pass == PASS_BWD_W ? bench_alloc(&t[6], kn) : NULL;
  tconv_threadpool *pool = NULL;
  tconv_plan *plan = NULL;
  int rc = 0;
  if (!x || !y || !k || !b || (pass != PASS_FWD && !dy) || (pass == PASS_BWD_D && !dx) ||
      (pass == PASS_BWD_W && !dk)) {
    rc = cli_fail("bench: out of memory for shape %s", s->id);
    goto done;
  }
  fill_rand(x, xn, 1);
  fill_rand(k, kn, 2);
  fill_rand(b, g.out_c, 3);
  if (dy) fill_rand(dy, yn, 4);
  tconv_status st = threads > 1 ? tconv_threadpool_create(threads, &pool) : TCONV_OK;
  if (st == TCONV_OK) st = tconv_plan_create(&g, k, &plan);
  pass_args pa = {plan, &g, x, k, b, dy, y, dx, dk, pool};
  if (st == TCONV_OK) st = tconv_plan_run(plan, x, b, NULL, y, pool); /* the forward's check */
  if (st == TCONV_OK && pass != PASS_FWD) st = run_pass(pass, &pa); /* warm-up */
  if (st != TCONV_OK) {
    rc = cli_fail_status(st, s->id);
    goto done;
  }
  double samples[32];
  double t0 = now_s();
  tconv_plan_run(plan, x, b, NULL, y, pool);
  samples[0] = now_s() - t0;
  int n = (int)ceil(budget / (samples[0] > 1e-9 ? samples[0] : 1e-9));
  n = n < 3 ? 3 : n > 30 ? 30 : n;
  if (samples[0] > 1.5) n = 2;
  if (samples[0] > 4.0) n = 1;
  for (int i = 1; i < n; i++) {
    t0 = now_s();
    run_pass(pass, &pa);
    samples[i] = now_s() - t0;
  }
  qsort(samples, (size_t)n, sizeof(double), cmp_double);
  double med = (n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2])) * 1e3;
  double flops = 2.0 * (double)s->N * s->H * s->W * (double)s->Cin * s->Cout * s->K * s->K;
  double gf = flops / (med * 1e-3) / 1e9, err = sampled_error(&g, x, k, b, y);
  const char *variant = fmt == TCONV_CHANNELS_LAST ? "nhwc" : "nchw";
  if (csv)
    printf("RESULT,tconv,%s,%s,%s,%s,%zu,%.4f,%.4f,%.4f,%d,%.2f,0.0000,0.0000,%s,%s,%.2e\n",
           variant, s->id, s->name, pass_names[pass], threads, med, samples[0] * 1e3,
           samples[n - 1] * 1e3, n, gf, tconv_kernel_path(), variant, err);
  else
    printf("%-3s %-12s %-5s %-5s %zut  %10.4f ms  %8.2f GFLOP/s  (min %.4f, max %.4f, %d reps, "
           "fwd err %.1e)\n",
           s->id, s->name, variant, pass_names[pass], threads, med, gf, samples[0] * 1e3,
           samples[n - 1] * 1e3, n, err);
  fflush(stdout);
  if (err > 1e-4) rc = cli_fail("bench: shape %s: result error %.2e", s->id, err);
done:
  tconv_plan_destroy(plan);
  tconv_threadpool_destroy(pool);
  for (size_t i = 0; i < 7; i++) tconv_tensor_free(&t[i]);
  return rc;
}

int cmd_bench(int argc, char **argv) {
  const char *shapes = NULL, *only = NULL, *passes = "fwd", *threads = "1", *variants = "nhwc";
  int csv = 0;
  const char *env_budget = getenv("BENCH_BUDGET");
  double budget = env_budget ? atof(env_budget) : 0.4;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(bench_help, stdout);
      return 0;
    }
    if (!strcmp(a, "--csv")) {
      csv = 1;
      continue;
    }
    if (i + 1 >= argc) return cli_fail("bench: %s needs a value (see tconv bench --help)", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--shapes")) shapes = v;
    else if (!strcmp(a, "--only")) only = v;
    else if (!strcmp(a, "--passes")) passes = v;
    else if (!strcmp(a, "--threads")) threads = v;
    else if (!strcmp(a, "--variants")) variants = v;
    else if (!strcmp(a, "--budget")) budget = atof(v);
    else return cli_fail("bench: unknown flag %s (see tconv bench --help)", a);
  }
  if (shapes == NULL) return cli_fail("bench: --shapes FILE is required");
  if (!(budget > 0 && budget < 3600)) return cli_fail("bench: --budget must be in (0, 3600)");
  int want[3] = {0, 0, 0};
  for (const char *p = passes; *p;) {
    size_t n = strcspn(p, ","), k = 0;
    while (k < 3 && !(strlen(pass_names[k]) == n && !strncmp(p, pass_names[k], n))) k++;
    if (k == 3) return cli_fail("bench: unknown pass '%.*s' (fwd, bwd_d, bwd_w)", (int)n, p);
    want[k] = 1;
    p += n + (p[n] == ',');
  }
  int64_t tl[8];
  int nt = cli_parse_ints(threads, tl, 8, "--threads");
  if (nt <= 0) return 1;
  for (int i = 0; i < nt; i++)
    if (tl[i] < 1 || tl[i] > 1024) return cli_fail("bench: --threads values must be in 1..1024");
  FILE *f = fopen(shapes, "r");
  if (f == NULL) return cli_fail("bench: cannot open %s", shapes);
  bench_shape list[256];
  size_t count = 0;
  char line[512];
  while (fgets(line, sizeof line, f) && count < 256) {
    if (line[0] == '#' || line[0] == '\n') continue;
    bench_shape s;
    char pad[16];
    if (sscanf(line, "%7s %31s %zu %zu %zu %zu %zu %zu %zu %15s", s.id, s.name, &s.N, &s.H, &s.W,
               &s.Cin, &s.Cout, &s.K, &s.S, pad) != 10)
      continue;
    const size_t in_dims[] = {s.N, s.H, s.W, s.Cin}, out_dims[] = {s.N, s.H, s.W, s.S, s.S, s.Cout};
    if (s.N < 1 || s.H < 1 || s.W < 1 || s.Cin < 1 || s.Cout < 1 || s.K < 1 || s.S < 1 ||
        s.K > 64 || s.S > 64 || s.Cout > 65536 || !product_at_most(in_dims, 4, (size_t)1 << 30) ||
        !product_at_most(out_dims, 6, (size_t)1 << 30)) {
      fclose(f);
      return cli_fail("bench: %s: shape %s out of the benchmark's range", shapes, s.id);
    }
    s.same = !strcmp(pad, "same");
    if (in_list(only, s.id, s.name)) list[count++] = s;
  }
  fclose(f);
  if (count == 0) return cli_fail("bench: no shapes selected from %s", shapes);
  int rc = 0;
  for (size_t i = 0; i < count; i++)
    for (int t = 0; t < nt; t++)
      for (int fmt = 0; fmt < 2; fmt++)
        for (int pass = 0; pass < 3; pass++) {
          if (!want[pass] || !in_list(variants, fmt ? "nchw" : "nhwc", fmt ? "nchw" : "nhwc"))
            continue;
          rc |= bench_one(&list[i], fmt ? TCONV_CHANNELS_FIRST : TCONV_CHANNELS_LAST,
                          (size_t)tl[t], budget, csv, pass);
        }
  return rc;
}
