/* tconv apply: one Conv2DTranspose layer on .npy files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *apply_help =
    "usage: tconv apply --input X.npy --kernel K.npy [--bias B.npy] -o Y.npy [layer flags]\n"
    "Runs y = activation(conv2d_transpose(x, kernel) + bias) exactly as TensorFlow does.\n"
    "  X: (N,H,W,C) or (N,C,H,W) with --data-format channels_first; K: (KH,KW,FILTERS/G,C) as TF\n"
    "  stores it (no flip); B: (FILTERS).  float32 or float64 .npy, C order.\n"
    "  --threads N: run on N threads (0 = every CPU; the result is bitwise the same).\n";

int cmd_apply(int argc, char **argv) {
  cli_layer_flags f;
  cli_layer_init(&f);
  const char *in_path = NULL, *k_path = NULL, *b_path = NULL, *out_path = NULL;
  const char *threads_text = NULL;
  for (int i = 1; i < argc; i++) {
    int r = cli_layer_flag(&f, argc, argv, &i);
    if (r < 0) return 2;
    if (r > 0) continue;
    const char *a = argv[i];
    const char **dst = !strcmp(a, "--input")    ? &in_path
                       : !strcmp(a, "--kernel") ? &k_path
                       : !strcmp(a, "--bias")   ? &b_path
                       : (!strcmp(a, "-o") || !strcmp(a, "--output")) ? &out_path
                       : !strcmp(a, "--threads")                       ? &threads_text
                                                                       : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("%s\n%s", apply_help, cli_layer_help);
      return 0;
    }
    if (dst == NULL) return cli_fail("apply: unknown argument '%s' (see tconv apply --help)", a), 2;
    if (i + 1 >= argc) return cli_fail("apply: %s needs a value", a), 2;
    *dst = argv[++i];
  }
  if (!in_path || !k_path || !out_path)
    return cli_fail("apply: --input, --kernel and -o are required (see tconv apply --help)"), 2;

  int rc = 1;
  tconv_tensor x = {0}, k = {0}, b = {0}, y = {0};
  tconv_threadpool *pool = NULL;
  tconv_status st;
  int64_t threads = 1;
  if (threads_text && (!cli_parse_int(threads_text, &threads, "--threads") || threads < 0))
    return cli_fail("apply: --threads must be >= 0 (0 = every CPU)"), 2;
  if (threads != 1 && (st = tconv_threadpool_create((size_t)threads, &pool)) != TCONV_OK)
    return cli_fail_status(st, "threads");
  tconv_geometry g;
  if (cli_layer_load(&f, in_path, k_path, b_path, &x, &k, &b, &g)) goto done;
  tconv_config *c = &f.cfg;
  size_t out_shape[4];
  tconv_geometry_output_shape(&g, out_shape);
  if ((st = tconv_tensor_alloc(&y, 4, out_shape)) != TCONV_OK) {
    cli_fail_status(st, "output");
    goto done;
  }
  tconv_activation act = tconv_config_activation(c);
  if ((st = tconv_forward(&g, x.data, k.data, b_path ? b.data : NULL, &act, y.data, pool)) !=
      TCONV_OK) {
    cli_fail_status(st, "forward");
    goto done;
  }
  if ((st = tconv_npy_save(out_path, &y)) != TCONV_OK) {
    cli_fail_status(st, out_path);
    goto done;
  }
  rc = 0;
done:
  tconv_tensor_free(&x);
  tconv_tensor_free(&k);
  tconv_tensor_free(&b);
  tconv_tensor_free(&y);
  tconv_threadpool_destroy(pool);
  return rc;
}
