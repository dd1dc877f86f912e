/* tconv mnist: the seed's third use.  Train a Conv2DTranspose model (the text's filters=1, 3x3,
 * stride 2, 'same' layer, after stride-1 Conv2DTranspose layers) as 2x super-resolution of MNIST
 * digits, save it as a checkpoint, restore it, and look at a 28x28 digit at 56x56. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mnist_sheet.h"
#include "models/models.h"
#include "uses.h"

static const char mnist_help[] =
    "usage: tconv mnist train [--data DIR] [--epochs N] [--out CKPT] [--filters F] [--layers L]\n"
    "                         [--batch B] [--lr X] [--limit N] [--seed N]\n"
    "       tconv mnist show --checkpoint CKPT [--index N] [--data DIR] -o OUT.png [--raw OUT]\n"
    "       tconv mnist eval --checkpoint CKPT [--data DIR] [--limit N] [--json]\n"
    "\n"
    "Model: (L-1) x Conv2DTranspose(F, 3, strides=1, 'same', relu), then the text's\n"
    "Conv2DTranspose(1, 3, strides=2, 'same'); trained (MSE, Adam) to turn a digit's 2x2-mean\n"
    "14x14 version back into the 28x28 digit.  Applied to a 28x28 digit it draws it at 56x56.\n"
    "\n"
    "  --data DIR      MNIST IDX files: train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz]\n"
    "                  (gzip'd or not; Fashion-MNIST too).  Default: the bundled 10,000 digits.\n"
    "  --epochs N      training epochs (default 10)     --filters F  (default 32)\n"
    "  --layers L      Conv2DTranspose layers (default 3)  --batch B (32)  --lr X (0.002)\n"
    "  --limit N       use the first N digits only\n"
    "  --out CKPT      checkpoint (safetensors) to write (default mnist_sr.safetensors)\n"
    "  --seed N        initialization and shuffling seed (default 1)\n"
    "  --threads N     threads (default: all CPUs)\n"
    "  --checkpoint CKPT  (show, eval) a checkpoint from `tconv mnist train`\n"
    "  show:  the t10k digit N (--index, default 0): its 28x28 input, nearest, bilinear and the\n"
    "         model's 56x56, labelled, as a PNG (-o); --raw FILE also writes the bare 56x56 output\n"
    "  eval:  PSNR (dB, from the mean squared error over all pixels) of 14x14 -> 28x28 on the\n"
    "         held-out t10k digits: the model against bilinear and nearest; --json for one JSON\n"
    "         object\n";

typedef struct mnist_args {
  const char *data, *out, *checkpoint, *png, *raw;
  size_t epochs, filters, layers, batch, limit, index;
  double lr;
  uint64_t seed;
  bool json;
  int64_t threads;
} mnist_args;

static int get_size(const char *v, const char *flag, size_t lo, size_t hi, size_t *out) {
  int64_t x;
  if (!v) return cli_fail("%s needs a value", flag), 1;
  if (!cli_parse_int(v, &x, flag)) return 1;
  if (x < (int64_t)lo || (uint64_t)x > hi)
    return cli_fail("%s must be in %zu..%zu", flag, lo, hi), 1;
  *out = (size_t)x;
  return 0;
}

static int load_set(const mnist_args *a, const char *stem, tconv_tensor *t) {
  const char *dir = a->data ? a->data : uses_data_dir("mnist");
  if (!dir) return cli_fail("no --data DIR and no bundled data/mnist found (set TCONV_DATA)");
  tconv_status st = tconv_mnist_load(dir, stem, t);
  if (st != TCONV_OK) return cli_fail_status(st, "mnist");
  if (a->limit && a->limit < t->shape[0]) t->shape[0] = a->limit;
  return 0;
}

typedef struct psnr3 { double model, bilinear, nearest; size_t n; } psnr3;

/* 14x14 -> 28x28 on every digit: PSNR of the aggregate MSE for the model, bilinear, nearest. */
static int evaluate(tconv_mnist_model *m, const tconv_tensor *digits, psnr3 *r,
                    tconv_threadpool *pool) {
  size_t n = digits->shape[0], chunk = 250;
  float *lr = malloc(chunk * 196 * sizeof(float)), *up = malloc(chunk * 784 * sizeof(float));
  float tmp[784];
  double se[3] = {0};
  int rc = lr && up ? 0 : cli_fail("out of memory");
  for (size_t s = 0; rc == 0 && s < n; s += chunk) {
    size_t k = n - s < chunk ? n - s : chunk;
    for (size_t i = 0; i < k; i++)
      tconv_resample_box_down(digits->data + (s + i) * 784, 28, 28, 1, 2, lr + i * 196);
    tconv_status st = tconv_mnist_model_predict(m, lr, k, 14, 14, up, pool);
    if (st != TCONV_OK) {
      rc = cli_fail_status(st, "mnist eval");
      break;
    }
    for (size_t i = 0; i < k; i++) {
      const float *target = digits->data + (s + i) * 784;
      double mse;
      tconv_metric_psnr(up + i * 784, target, 784, &mse);
      se[0] += mse;
      tconv_resample_bilinear_up(lr + i * 196, 14, 14, 1, 2, tmp);
      tconv_metric_psnr(tmp, target, 784, &mse);
      se[1] += mse;
      tconv_resample_nearest_up(lr + i * 196, 14, 14, 1, 2, tmp);
      tconv_metric_psnr(tmp, target, 784, &mse);
      se[2] += mse;
    }
  }
  free(lr);
  free(up);
  r->n = n;
  r->model = 10 * log10((double)n / se[0]);
  r->bilinear = 10 * log10((double)n / se[1]);
  r->nearest = 10 * log10((double)n / se[2]);
  return rc;
}

static int do_train(const mnist_args *a, tconv_threadpool *pool) {
  tconv_tensor train, test;
  if (load_set(a, "train", &train)) return 1;
  size_t n = train.shape[0];
  tconv_mnist_model *m = NULL;
  tconv_status st = tconv_mnist_model_create(a->filters, a->layers, a->seed, &m);
  if (st != TCONV_OK) {
    tconv_tensor_free(&train);
    return cli_fail_status(st, "mnist train");
  }
  printf("model: %zu x Conv2DTranspose(%zu, 3, strides=1, 'same', relu) -> "
         "Conv2DTranspose(1, 3, strides=2, 'same'); 14x14 -> 28x28\n", a->layers - 1, a->filters);
  printf("data: %zu training digits, %zu epochs, batch %zu, Adam lr %g\n", n, a->epochs, a->batch,
         a->lr);
  tconv_mnist_train_options o = tconv_mnist_train_defaults();
  o.epochs = a->epochs, o.batch = a->batch, o.learning_rate = a->lr, o.seed = a->seed;
  fflush(stdout); /* the progress bar goes to stderr */
  uses_progress prog;
  uses_progress_start(&prog, "train");
  o.progress = uses_progress_update;
  o.progress_ctx = &prog;
  double *losses = calloc(a->epochs, sizeof *losses);
  st = losses ? tconv_mnist_model_train(m, train.data, n, &o, losses, pool) : TCONV_OUT_OF_MEMORY;
  uses_progress_finish(&prog);
  int rc = 0;
  if (st != TCONV_OK) rc = cli_fail_status(st, "mnist train");
  for (size_t e = 0; rc == 0 && e < a->epochs; e++)
    printf("epoch %zu/%zu: loss %.6f\n", e + 1, a->epochs, losses[e]);
  if (rc == 0) {
    st = tconv_mnist_model_save(m, a->out);
    if (st != TCONV_OK) rc = cli_fail_status(st, "mnist train");
    else printf("checkpoint: %s\n", a->out);
  }
  if (rc == 0 && load_set(a, "t10k", &test) == 0) {
    psnr3 r;
    if (evaluate(m, &test, &r, pool) == 0)
      printf("held-out 14x14 -> 28x28 PSNR on %zu t10k digits: model %.2f dB, bilinear %.2f dB, "
             "nearest %.2f dB (%+.2f dB vs bilinear)\n", r.n, r.model, r.bilinear, r.nearest,
             r.model - r.bilinear);
    tconv_tensor_free(&test);
  }
  free(losses);
  tconv_mnist_model_destroy(m);
  tconv_tensor_free(&train);
  return rc;
}

static int restore(const mnist_args *a, tconv_mnist_model **m) {
  if (!a->checkpoint) return cli_fail("--checkpoint CKPT is required");
  tconv_status st = tconv_mnist_model_restore(a->checkpoint, m);
  return st == TCONV_OK ? 0 : cli_fail_status(st, "mnist");
}

static int do_show(const mnist_args *a, tconv_threadpool *pool) {
  if (!a->png) return cli_fail("show needs -o OUT.png");
  tconv_mnist_model *m = NULL;
  if (restore(a, &m)) return 1;
  tconv_tensor test;
  if (load_set(a, "t10k", &test)) {
    tconv_mnist_model_destroy(m);
    return 1;
  }
  int rc = 0;
  if (a->index >= test.shape[0])
    rc = cli_fail("--index %zu: the set has %zu digits", a->index, test.shape[0]);
  const float *digit = test.data + a->index * 784;
  float model56[56 * 56], near56[56 * 56], bil56[56 * 56];
  if (rc == 0) {
    tconv_status st = tconv_mnist_model_predict(m, digit, 1, 28, 28, model56, pool);
    if (st != TCONV_OK) rc = cli_fail_status(st, "mnist show");
  }
  if (rc == 0) {
    tconv_resample_nearest_up(digit, 28, 28, 1, 2, near56);
    tconv_resample_bilinear_up(digit, 28, 28, 1, 2, bil56);
    /* Four 56x56 cells with 4-pixel gaps, a text row above; then everything 3x for viewing. */
    enum { CELL = 56, GAP = 4, TOP = 11, W = 4 * CELL + 5 * GAP, H = TOP + CELL + GAP, ZOOM = 3 };
    static float sheet[H * W];
    for (size_t i = 0; i < H * W; i++) sheet[i] = 0.3f;
    const char *labels[4] = {"INPUT 28X28", "NEAREST 56", "BILINEAR 56", "TCONV 56"};
    const float *panels[4] = {digit, near56, bil56, model56};
    for (size_t p = 0; p < 4; p++) {
      size_t x = GAP + p * (CELL + GAP);
      sheet_text(sheet, W, H, x, 3, labels[p], 1.0f);
      for (size_t r = 0; r < CELL; r++) /* black cell: the 28x28 input sits in its centre */
        for (size_t c = 0; c < CELL; c++) sheet[(TOP + r) * W + x + c] = 0;
      if (p == 0) sheet_blit(sheet, W, x + 14, TOP + 14, panels[p], 28, 28);
      else sheet_blit(sheet, W, x, TOP, panels[p], 56, 56);
    }
    tconv_image img;
    tconv_status st = tconv_image_alloc(&img, W * ZOOM, H * ZOOM, 1, 8);
    for (size_t y = 0; st == TCONV_OK && y < H * ZOOM; y++)
      for (size_t x = 0; x < W * ZOOM; x++) img.data[y * W * ZOOM + x] = sheet[y / ZOOM * W + x / ZOOM];
    if (st == TCONV_OK) st = tconv_image_save(a->png, &img);
    tconv_image_free(&img);
    if (st == TCONV_OK && a->raw) {
      tconv_image raw = {56, 56, 1, 8, model56};
      st = tconv_image_save(a->raw, &raw);
    }
    if (st != TCONV_OK) rc = cli_fail_status(st, "mnist show");
    else {
      printf("digit %zu (28x28) -> Conv2DTranspose model -> 56x56: %s%s%s\n", a->index, a->png,
             a->raw ? ", " : "", a->raw ? a->raw : "");
    }
  }
  tconv_tensor_free(&test);
  tconv_mnist_model_destroy(m);
  return rc;
}

static int do_eval(const mnist_args *a, tconv_threadpool *pool) {
  tconv_mnist_model *m = NULL;
  if (restore(a, &m)) return 1;
  tconv_tensor test;
  int rc = load_set(a, "t10k", &test);
  psnr3 r;
  if (rc == 0) rc = evaluate(m, &test, &r, pool);
  if (rc == 0) {
    if (a->json)
      printf("{\"psnr_model\": %.4f, \"psnr_bilinear\": %.4f, \"psnr_nearest\": %.4f, "
             "\"n\": %zu}\n", r.model, r.bilinear, r.nearest, r.n);
    else
      printf("14x14 -> 28x28 on %zu held-out digits: model %.2f dB, bilinear %.2f dB, nearest "
             "%.2f dB (%+.2f dB vs bilinear)\n", r.n, r.model, r.bilinear, r.nearest,
             r.model - r.bilinear);
  }
  if (rc == 0) tconv_tensor_free(&test);
  tconv_mnist_model_destroy(m);
  return rc;
}

int cmd_mnist(int argc, char **argv) {
  if (argc < 2) /* an error is one line on stderr, not the whole help */
    return cli_fail("mnist: needs train, show or eval (see tconv mnist --help)"), 2;
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(mnist_help, stdout);
    return 0;
  }
  const char *sub = argv[1];
  mnist_args a = {.out = "mnist_sr.safetensors", .epochs = 10, .filters = 32, .layers = 3,
                  .batch = 32, .lr = 2e-3, .seed = 1};
  for (int i = 2; i < argc; i++) {
    const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
      fputs(mnist_help, stdout);
      return 0;
    } else if (!strcmp(f, "--epochs")) bad = get_size(v, f, 1, 100000, &a.epochs), i++;
    else if (!strcmp(f, "--filters")) bad = get_size(v, f, 1, 256, &a.filters), i++;
    else if (!strcmp(f, "--layers")) bad = get_size(v, f, 1, 8, &a.layers), i++;
    else if (!strcmp(f, "--batch")) bad = get_size(v, f, 1, 4096, &a.batch), i++;
    else if (!strcmp(f, "--limit")) bad = get_size(v, f, 1, 100000000, &a.limit), i++;
    else if (!strcmp(f, "--index")) bad = get_size(v, f, 0, 100000000, &a.index), i++;
    else if (!strcmp(f, "--seed")) {
      size_t s;
      bad = get_size(v, f, 0, SIZE_MAX, &s), i++;
      a.seed = s;
    } else if (!strcmp(f, "--threads")) bad = !cli_parse_int(v ? v : "", &a.threads, f), i++;
    else if (!strcmp(f, "--lr")) {
      char *end = NULL;
      a.lr = v ? strtod(v, &end) : 0;
      if (!v || *end || !(a.lr > 0)) bad = cli_fail("--lr needs a number > 0");
      i++;
    } else if (!strcmp(f, "--data")) a.data = v, bad = !v, i++;
    else if (!strcmp(f, "--out")) a.out = v, bad = !v, i++;
    else if (!strcmp(f, "--checkpoint")) a.checkpoint = v, bad = !v, i++;
    else if (!strcmp(f, "-o")) a.png = v, bad = !v, i++;
    else if (!strcmp(f, "--raw")) a.raw = v, bad = !v, i++;
    else if (!strcmp(f, "--json")) a.json = true;
    else bad = cli_fail("mnist %s: unknown argument %s", sub, f);
    if (bad) return 2;
  }
  tconv_threadpool *pool = NULL;
  if (a.threads != 1 && tconv_threadpool_create((size_t)a.threads, &pool) != TCONV_OK) pool = NULL;
  int rc;
  if (!strcmp(sub, "train")) rc = do_train(&a, pool);
  else if (!strcmp(sub, "show")) rc = do_show(&a, pool);
  else if (!strcmp(sub, "eval")) rc = do_eval(&a, pool);
  else rc = (cli_fail("mnist: unknown subcommand '%s' (train, show, eval)", sub), 2);
  tconv_threadpool_destroy(pool);
  return rc;
}
