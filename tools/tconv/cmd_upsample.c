/* tconv upsample: the seed's second use, a picture upscaled by Conv2DTranspose(filters=channels,
 * kernel_size, strides=S, padding='same'); plus training, evaluation and the export of the
 * embedded default weights. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "models/models.h"
#include "uses.h"

static const char upsample_help[] =
    "usage: tconv upsample IN OUT [--scale S] [--weights FILE | --kernel K]\n"
    "       tconv upsample --train DIR --out FILE [--scale S] [--kernel K] [--steps N]\n"
    "       tconv upsample --eval DIR [--scale S] [--weights FILE | --kernel K] [--json]\n"
    "       tconv upsample --export-c CKPT...      (C source of the embedded weights)\n"
    "       tconv upsample --shrink F IN OUT [--crop X,Y,W,H]   (box-downscale, for data prep)\n"
    "\n"
    "Upscales a PNG or JPEG (8/16-bit gray, gray+alpha, RGB, RGBA; alpha is upscaled too) with\n"
    "one Conv2DTranspose(filters=channels, kernel_size=K, strides=S, padding='same'), the same\n"
    "learned K x K filter on every channel; writes PNG (same bit depth) or JPEG (.jpg/.jpeg).\n"
    "The input is edge-replicated by ceil(K/S) pixels before the layer and the output cropped\n"
    "by that times S, so the layer's zero padding does not darken the borders.\n"
    "\n"
    "  --scale S       upscaling factor (default 2)\n"
    "  --weights FILE  a checkpoint from `tconv upsample --train` (upsample/kernel (K,K,1,1))\n"
    "  --kernel K      no weights file: a bilinear-initialized K x K layer (K=3 is the text's\n"
    "                  literal layer, which cannot match bilinear: see docs/uses.md)\n"
    "                  Default: the embedded weights learned from photographs (scale 2), else\n"
    "                  bilinear with K = 2S.\n"
    "  --train DIR     learn a filter from the PNG/JPEG images in DIR (downscale-then-upscale\n"
    "                  pairs, MSE, Adam), progress on stderr; --out FILE gets the checkpoint\n"
    "  --steps N --batch N --patch N --lr X --seed N   training knobs (400, 16, 24, 0.002, 1)\n"
    "  --eval DIR      PSNR/SSIM of box-downscale-by-S then upscale round trips on DIR's images,\n"
    "                  nearest and bilinear against the layer; --json for one JSON object\n"
    "  --compare REF   after upscaling, print PSNR/SSIM of OUT against REF (the original of a\n"
    "                  downscaled IN), and bilinear's for comparison\n"
    "  --threads N     threads (default: all CPUs)\n"
    "  --export-c CKPT...  print C source embedding these --train checkpoints (one per scale) as\n"
    "                  the default weights (scripts/train-upsample.sh writes src/models/ with it)\n"
    "  --shrink F      box-downscale IN by the integer F (1..64) into OUT (test-data prep);\n"
    "                  --crop X,Y,W,H first cuts the W x H region at column X, row Y\n";

typedef struct up_args {
  const char *in, *out, *weights, *train_dir, *eval_dir, *train_out, *compare;
  size_t scale, kernel, shrink;
  int64_t crop[4];
  bool have_crop, json, export_c;
  tconv_upsample_train_options train;
  int64_t threads;
  int first_positional, npos;
  char **pos;
} up_args;

static int parse_size(const char *v, const char *flag, size_t lo, size_t hi, size_t *out) {
  int64_t x;
  if (!v) return cli_fail("%s needs a value", flag), -1;
  if (!cli_parse_int(v, &x, flag)) return -1;
  if (x < (int64_t)lo || (uint64_t)x > hi)
    return cli_fail("%s must be in %zu..%zu, got %lld", flag, lo, hi, (long long)x), -1;
  *out = (size_t)x;
  return 0;
}

/* The images of a directory, sorted by name: *.png, *.jpg, *.jpeg. */
static int load_dir(const char *dir, tconv_image **out, char ***names_out, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) return cli_fail("%s: cannot open the directory", dir);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *dot = strrchr(e->d_name, '.');
    if (!dot || (strcasecmp(dot, ".png") && strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg")))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **nn = realloc(names, cap * sizeof *names);
      if (!nn) break;
      names = nn;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  for (size_t i = 1; i < n; i++) /* insertion sort: a handful of names */
    for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1], names[j - 1] = t;
    }
  if (n == 0) {
    free(names);
    return cli_fail("%s: no .png/.jpg images", dir);
  }
  tconv_image *imgs = calloc(n, sizeof *imgs);
  for (size_t i = 0; imgs && i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    tconv_status st = tconv_image_load(path, &imgs[i]);
    if (st != TCONV_OK) {
      int rc = cli_fail_status(st, "upsample");
      for (size_t j = 0; j < n; j++) tconv_image_free(&imgs[j]), free(names[j]);
      free(imgs);
      free(names);
      return rc;
    }
  }
  *out = imgs;
  *names_out = names;
  *count = n;
  return 0;
}

static void free_dir(tconv_image *imgs, char **names, size_t n) {
  for (size_t i = 0; i < n; i++) tconv_image_free(&imgs[i]), free(names[i]);
  free(imgs);
  free(names);
}

/* The model the flags ask for; *source describes it. */
static int pick_model(const up_args *a, tconv_upsampler *u, const char **source) {
  tconv_status st;
  if (a->weights) {
    st = tconv_upsampler_load(u, a->weights, a->scale);
    *source = a->weights;
  } else if (a->kernel) {
    st = tconv_upsampler_init_bilinear(u, a->scale, a->kernel);
    *source = "bilinear init";
  } else {
    st = tconv_upsampler_init_default(u, a->scale);
    *source = "embedded, learned from photographs";
    if (st == TCONV_NOT_FOUND) {
      st = tconv_upsampler_init_bilinear(u, a->scale, 2 * a->scale);
      *source = "bilinear init (no embedded weights for this scale)";
    }
  }
  return st == TCONV_OK ? 0 : cli_fail_status(st, "upsample");
}

static int run_upsample(const up_args *a, tconv_threadpool *pool) {
  tconv_upsampler u;
  const char *source;
  if (pick_model(a, &u, &source)) return 1;
  tconv_image in, out;
  tconv_status st = tconv_image_load(a->in, &in);
  if (st != TCONV_OK) {
    tconv_upsampler_free(&u);
    return cli_fail_status(st, "upsample");
  }
  st = tconv_upsampler_run(&u, &in, &out, pool);
  if (st == TCONV_OK) st = tconv_image_save(a->out, &out);
  if (st == TCONV_OK)
    printf("%s: %zux%zux%zu (%d-bit) -> %s: %zux%zux%zu via Conv2DTranspose(filters=%zu, "
           "kernel_size=%zu, strides=%zu, padding='same') [%s]\n",
           a->in, in.height, in.width, in.channels, in.bit_depth, a->out, out.height, out.width,
           out.channels, in.channels, u.kernel, u.scale, source);
  int rc = st == TCONV_OK ? 0 : cli_fail_status(st, "upsample");
  tconv_image ref;
  if (rc == 0 && a->compare) {
    st = tconv_image_load(a->compare, &ref);
    if (st != TCONV_OK) rc = cli_fail_status(st, "upsample --compare");
    else if (ref.width != out.width || ref.height != out.height || ref.channels != out.channels)
      rc = cli_fail("--compare: %s is %zux%zux%zu, the output %zux%zux%zu", a->compare,
                    ref.height, ref.width, ref.channels, out.height, out.width, out.channels);
    else {
      size_t n = out.width * out.height * out.channels;
      float *bil = malloc(n * sizeof(float));
      if (bil) tconv_resample_bilinear_up(in.data, in.height, in.width, in.channels, u.scale, bil);
      /* Compare what was written: quantize as the file holds it. */
      double q = out.bit_depth == 16 ? 65535.0 : 255.0;
      for (size_t i = 0; i < n; i++) {
        double v = out.data[i] < 0 ? 0 : out.data[i] > 1 ? 1 : out.data[i];
        out.data[i] = (float)(floor(v * q + 0.5) / q);
      }
      printf("vs %s: tconv PSNR %.2f dB SSIM %.4f; bilinear PSNR %.2f dB SSIM %.4f\n", a->compare,
             tconv_metric_psnr(out.data, ref.data, n, NULL),
             tconv_metric_ssim(out.data, ref.data, out.height, out.width, out.channels),
             bil ? tconv_metric_psnr(bil, ref.data, n, NULL) : NAN,
             bil ? tconv_metric_ssim(bil, ref.data, out.height, out.width, out.channels) : NAN);
      free(bil);
    }
    tconv_image_free(&ref);
  }
  tconv_image_free(&in);
  tconv_image_free(&out);
  tconv_upsampler_free(&u);
  return rc;
}

static int run_train(up_args *a, tconv_threadpool *pool) {
  if (!a->train_out) return cli_fail("--train needs --out FILE");
  tconv_image *imgs;
  char **names;
  size_t n;
  if (load_dir(a->train_dir, &imgs, &names, &n)) return 1;
  tconv_upsampler u;
  size_t kernel = a->kernel ? a->kernel : 4 * a->scale;
  tconv_status st = tconv_upsampler_init_bilinear(&u, a->scale, kernel);
  fflush(stdout);
  uses_progress prog;
  uses_progress_start(&prog, "train");
  a->train.progress = uses_progress_update;
  a->train.progress_ctx = &prog;
  double loss = 0;
  if (st == TCONV_OK) st = tconv_upsampler_train(&u, imgs, n, &a->train, &loss, pool);
  uses_progress_finish(&prog);
  if (st == TCONV_OK) st = tconv_upsampler_save(&u, a->train_out);
  if (st == TCONV_OK)
    printf("trained a %zux%zu filter for scale %zu on %zu images (%zu steps of %zu crops), "
           "final loss %.6f -> %s\n", kernel, kernel, a->scale, n, a->train.steps,
           a->train.batch, loss, a->train_out);
  tconv_upsampler_free(&u);
  free_dir(imgs, names, n);
  return st == TCONV_OK ? 0 : cli_fail_status(st, "upsample --train");
}

typedef struct eval_row { double psnr[3], ssim[3]; } eval_row;

static int run_eval(const up_args *a, tconv_threadpool *pool) {
  tconv_upsampler u;
  const char *source;
  if (pick_model(a, &u, &source)) return 1;
  tconv_image *imgs;
  char **names;
  size_t n;
  if (load_dir(a->eval_dir, &imgs, &names, &n)) {
    tconv_upsampler_free(&u);
    return 1;
  }
  const size_t s = a->scale;
  eval_row mean = {{0}, {0}};
  static const char *methods[3] = {"nearest", "bilinear", "tconv"};
  if (!a->json)
    printf("%-24s %11s  %-15s %-15s %-15s\n", "image (box-down, up)", "size", "nearest PSNR/SSIM",
           "bilinear", "tconv");
  int rc = 0;
  size_t used = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    tconv_image *im = &imgs[i];
    size_t h = im->height / s * s, w = im->width / s * s, c = im->channels;
    if (h / s < 8 || w / s < 8) continue;
    float *hr = malloc(h * w * c * sizeof(float)), *lr = malloc(h / s * w / s * c * sizeof(float));
    float *up[3] = {malloc(h * w * c * sizeof(float)), malloc(h * w * c * sizeof(float)), NULL};
    for (size_t y = 0; hr && y < h; y++)
      memcpy(hr + y * w * c, im->data + y * im->width * c, w * c * sizeof(float));
    tconv_resample_box_down(hr, h, w, c, s, lr);
    tconv_resample_nearest_up(lr, h / s, w / s, c, s, up[0]);
    tconv_resample_bilinear_up(lr, h / s, w / s, c, s, up[1]);
    tconv_image lri = {w / s, h / s, c, 8, lr}, out;
    tconv_status st = tconv_upsampler_run(&u, &lri, &out, pool);
    if (st != TCONV_OK) {
      rc = cli_fail_status(st, "upsample --eval");
    } else {
      up[2] = out.data;
      eval_row r;
      for (int m = 0; m < 3; m++) {
        r.psnr[m] = tconv_metric_psnr(up[m], hr, h * w * c, NULL);
        r.ssim[m] = tconv_metric_ssim(up[m], hr, h, w, c);
        mean.psnr[m] += r.psnr[m];
        mean.ssim[m] += r.ssim[m];
      }
      used++;
      if (!a->json)
        printf("%-24s %4zux%-4zux%zu  %6.2f / %.4f  %6.2f / %.4f  %6.2f / %.4f\n", names[i], w, h,
               c, r.psnr[0], r.ssim[0], r.psnr[1], r.ssim[1], r.psnr[2], r.ssim[2]);
      tconv_image_free(&out);
    }
    free(hr), free(lr), free(up[0]), free(up[1]);
  }
  if (rc == 0 && used == 0) rc = cli_fail("%s: no image is large enough", a->eval_dir);
  if (rc == 0) {
    for (int m = 0; m < 3; m++) mean.psnr[m] /= (double)used, mean.ssim[m] /= (double)used;
    if (a->json) {
      printf("{\"scale\": %zu, \"kernel\": %zu, \"weights\": \"%s\", \"n\": %zu", s, u.kernel,
             source, used);
      for (int m = 0; m < 3; m++)
        printf(", \"psnr_%s\": %.4f, \"ssim_%s\": %.5f", methods[m], mean.psnr[m], methods[m],
               mean.ssim[m]);
      printf("}\n");
    } else {
      printf("%-24s %11s  %6.2f / %.4f  %6.2f / %.4f  %6.2f / %.4f\n", "mean", "", mean.psnr[0],
             mean.ssim[0], mean.psnr[1], mean.ssim[1], mean.psnr[2], mean.ssim[2]);
      printf("tconv: Conv2DTranspose(kernel_size=%zu, strides=%zu, 'same') [%s]; "
             "%+.2f dB vs bilinear\n", u.kernel, s, source, mean.psnr[2] - mean.psnr[1]);
    }
  }
  free_dir(imgs, names, n);
  tconv_upsampler_free(&u);
  return rc;
}

static int run_export(int npos, char **pos) {
  printf("/* Generated by `tconv upsample --export-c` (scripts/train-upsample.sh): the default\n"
         " * upsampling filters embedded in tconv, one per scale.  Do not edit by hand. */\n"
         "#include <stddef.h>\n\n"
         "typedef struct tconv_upsample_embedded {\n  size_t scale, kernel;\n  float bias;\n"
         "  const float *filter;\n} tconv_upsample_embedded;\n");
  tconv_upsampler *us = calloc((size_t)npos, sizeof *us);
  for (int i = 0; us && i < npos; i++) {
    tconv_status st = tconv_upsampler_load(&us[i], pos[i], 0);
    if (st != TCONV_OK) return cli_fail_status(st, "upsample --export-c");
    size_t kk = us[i].kernel * us[i].kernel;
    printf("\n/* %s */\nstatic const float filter_%d[%zu] = {", pos[i], i, kk);
    for (size_t t = 0; t < kk; t++)
      printf("%s%.9ef,", t % us[i].kernel ? " " : "\n    ", (double)us[i].filter[t]);
    printf("\n};\n");
  }
  printf("\nconst tconv_upsample_embedded tconv_upsample_embedded_weights[] = {\n");
  for (int i = 0; us && i < npos; i++)
    printf("    {%zu, %zu, %.9ef, filter_%d},\n", us[i].scale, us[i].kernel, (double)us[i].bias, i);
  printf("};\nconst size_t tconv_upsample_embedded_count = %d;\n", npos);
  for (int i = 0; us && i < npos; i++) tconv_upsampler_free(&us[i]);
  free(us);
  return 0;
}

static int run_shrink(const up_args *a) {
  tconv_image in, out;
  tconv_status st = tconv_image_load(a->in, &in);
  if (st != TCONV_OK) return cli_fail_status(st, "upsample --shrink");
  size_t x0 = 0, y0 = 0, w = in.width, h = in.height, c = in.channels, f = a->shrink;
  if (a->have_crop) {
    x0 = (size_t)a->crop[0], y0 = (size_t)a->crop[1], w = (size_t)a->crop[2], h = (size_t)a->crop[3];
    if (x0 + w > in.width || y0 + h > in.height || w == 0 || h == 0) {
      tconv_image_free(&in);
      return cli_fail("--crop %zu,%zu,%zu,%zu is outside the %zux%zu image", x0, y0, w, h,
                      in.width, in.height);
    }
  }
  st = tconv_image_alloc(&out, w / f, h / f, c, in.bit_depth);
  if (st == TCONV_OK) {
    float *crop = malloc(w * h * c * sizeof(float));
    if (crop == NULL) { /* was skipped silently, saving an all-zero image */
      tconv_image_free(&in);
      tconv_image_free(&out);
      return cli_fail("upsample --shrink: out of memory for a %zux%zu crop", w, h);
    }
    for (size_t y = 0; y < h; y++)
      memcpy(crop + y * w * c, in.data + ((y0 + y) * in.width + x0) * c, w * c * sizeof(float));
    tconv_resample_box_down(crop, h, w, c, f, out.data);
    free(crop);
    st = tconv_image_save(a->out, &out);
  }
  if (st == TCONV_OK) printf("%s -> %s: %zux%zux%zu\n", a->in, a->out, out.width, out.height, c);
  tconv_image_free(&in);
  tconv_image_free(&out);
  return st == TCONV_OK ? 0 : cli_fail_status(st, "upsample --shrink");
}

int cmd_upsample(int argc, char **argv) {
  up_args a;
  memset(&a, 0, sizeof a);
  a.scale = 2;
  a.train = tconv_upsample_train_defaults();
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      fputs(upsample_help, stdout);
      free(pos);
      return 0;
    } else if (!strcmp(f, "--scale")) bad = parse_size(v, f, 1, 16, &a.scale), i++;
    else if (!strcmp(f, "--kernel")) bad = parse_size(v, f, 1, 64, &a.kernel), i++;
    else if (!strcmp(f, "--steps")) bad = parse_size(v, f, 1, 10000000, &a.train.steps), i++;
    else if (!strcmp(f, "--batch")) bad = parse_size(v, f, 1, 4096, &a.train.batch), i++;
    else if (!strcmp(f, "--patch")) bad = parse_size(v, f, 4, 512, &a.train.patch), i++;
    else if (!strcmp(f, "--shrink")) bad = parse_size(v, f, 1, 64, &a.shrink), i++;
    else if (!strcmp(f, "--seed")) {
      size_t seed;
      bad = parse_size(v, f, 0, SIZE_MAX, &seed), i++;
      a.train.seed = seed;
    } else if (!strcmp(f, "--lr")) {
      char *end = NULL;
      a.train.learning_rate = v ? strtod(v, &end) : 0;
      if (!v || *end || !(a.train.learning_rate > 0)) bad = cli_fail("--lr needs a number > 0");
      i++;
    } else if (!strcmp(f, "--threads")) {
      bad = !cli_parse_int(v ? v : "", &a.threads, f), i++;
    } else if (!strcmp(f, "--crop")) {
      bad = cli_parse_ints(v, a.crop, 4, f) != 4, i++;
      a.have_crop = true;
      for (int k = 0; k < 4; k++) bad |= a.crop[k] < 0;
    } else if (!strcmp(f, "--weights")) a.weights = v, bad = !v, i++;
    else if (!strcmp(f, "--train")) a.train_dir = v, bad = !v, i++;
    else if (!strcmp(f, "--out")) a.train_out = v, bad = !v, i++;
    else if (!strcmp(f, "--eval")) a.eval_dir = v, bad = !v, i++;
    else if (!strcmp(f, "--compare")) a.compare = v, bad = !v, i++;
    else if (!strcmp(f, "--json")) a.json = true;
    else if (!strcmp(f, "--export-c")) a.export_c = true;
    else if (f[0] == '-' && f[1] != '\0') bad = cli_fail("upsample: unknown flag %s", f);
    else pos[npos++] = argv[i];
    if (bad) {
      free(pos);
      return 2;
    }
  }
  if (a.weights && a.kernel) {
    free(pos);
    return cli_fail("--weights and --kernel exclude each other (the file fixes the kernel)"), 2;
  }
  tconv_threadpool *pool = NULL;
  if (a.threads != 1 && tconv_threadpool_create((size_t)a.threads, &pool) != TCONV_OK) pool = NULL;
  int rc;
  if (a.export_c) rc = npos > 0 ? run_export(npos, pos) : (cli_fail("--export-c needs files"), 2);
  else if (a.train_dir) rc = npos ? (cli_fail("--train takes no IN/OUT"), 2) : run_train(&a, pool);
  else if (a.eval_dir) rc = npos ? (cli_fail("--eval takes no IN/OUT"), 2) : run_eval(&a, pool);
  else if (npos != 2) rc = (cli_fail("upsample needs IN and OUT (see tconv upsample --help)"), 2);
  else {
    a.in = pos[0], a.out = pos[1];
    rc = a.shrink ? run_shrink(&a) : run_upsample(&a, pool);
  }
  tconv_threadpool_destroy(pool);
  free(pos);
  return rc;
}
