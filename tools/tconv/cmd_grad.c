/* tconv grad: the backward pass of one Conv2DTranspose layer on .npy files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_grad(int argc, char **argv);

static const char *grad_help =
    "usage: tconv grad --input X.npy --kernel K.npy [--bias B.npy] --dy DY.npy -o PREFIX\n"
    "                  [layer flags]\n"
    "Writes PREFIX.dx.npy, PREFIX.dkernel.npy and, with --bias, PREFIX.dbias.npy: the gradients\n"
    "of sum(dy * y) for y = activation(conv2d_transpose(x, kernel) + bias), i.e. dy is the\n"
    "gradient at the layer's output (after the activation; with the default linear activation\n"
    "it is the gradient at the convolution itself).  Shapes as in `tconv apply`; DY has the\n"
    "output's shape.  The kernel path follows TCONV_KERNELS (auto, avx2, scalar, reference).\n"
    "  -o, --output PREFIX  where the gradients go (files written atomically)\n";

static int save(const char *prefix, const char *what, const tconv_tensor *t) {
  size_t n = strlen(prefix) + strlen(what) + 8;
  char *path = malloc(n);
  if (path == NULL) return cli_fail("grad: out of memory");
  snprintf(path, n, "%s.%s.npy", prefix, what);
  tconv_status st = tconv_npy_save(path, t);
  int rc = st == TCONV_OK ? 0 : cli_fail_status(st, path);
  free(path);
  return rc;
}

int cmd_grad(int argc, char **argv) {
  cli_layer_flags f;
  cli_layer_init(&f);
  const char *in_path = NULL, *k_path = NULL, *b_path = NULL, *dy_path = NULL, *prefix = NULL;
  for (int i = 1; i < argc; i++) {
    int r = cli_layer_flag(&f, argc, argv, &i);
    if (r < 0) return 2;
    if (r > 0) continue;
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("%s\n%s", grad_help, cli_layer_help);
      return 0;
    }
    const char **dst = !strcmp(a, "--input")    ? &in_path
                       : !strcmp(a, "--kernel") ? &k_path
                       : !strcmp(a, "--bias")   ? &b_path
                       : !strcmp(a, "--dy")     ? &dy_path
                       : (!strcmp(a, "-o") || !strcmp(a, "--output")) ? &prefix
                                                                     : NULL;
    if (dst == NULL) return cli_fail("grad: unknown argument '%s' (see tconv grad --help)", a), 2;
    if (i + 1 >= argc) return cli_fail("grad: %s needs a value", a), 2;
    *dst = argv[++i];
  }
  if (!in_path || !k_path || !dy_path || !prefix)
    return cli_fail("grad: --input, --kernel, --dy and -o are required (see tconv grad --help)"),
           2;

  int rc = 1;
  tconv_tensor x = {0}, k = {0}, b = {0}, dy = {0}, dx = {0}, dk = {0}, db = {0};
  float *z = NULL;
  tconv_status st;
  tconv_geometry g;
  if (cli_layer_load(&f, in_path, k_path, b_path, &x, &k, &b, &g)) goto done;
  if ((st = tconv_npy_load(dy_path, &dy)) != TCONV_OK) {
    cli_fail_status(st, dy_path);
    goto done;
  }
  tconv_config *c = &f.cfg;
  size_t out_shape[4];
  tconv_geometry_output_shape(&g, out_shape);
  if (dy.rank != 4 || memcmp(dy.shape, out_shape, sizeof out_shape) != 0) {
    cli_fail("%s: dy must have the output's shape (%zu, %zu, %zu, %zu)", dy_path, out_shape[0],
             out_shape[1], out_shape[2], out_shape[3]);
    goto done;
  }
  const size_t yn = tconv_tensor_numel(&dy);
  tconv_activation act = tconv_config_activation(c);
  if (act.kind != TCONV_ACT_LINEAR && yn > 0) {
    /* dz = dy * f'(z), z recomputed by the forward */
    z = malloc(2 * yn * sizeof(float));
    if (z == NULL) {
      cli_fail("grad: out of memory");
      goto done;
    }
    float *y = z + yn;
    if ((st = tconv_forward(&g, x.data, k.data, b_path ? b.data : NULL, NULL, z, NULL)) !=
        TCONV_OK) {
      cli_fail_status(st, "forward");
      goto done;
    }
    memcpy(y, z, yn * sizeof(float));
    tconv_activation_apply(&act, y, yn);
    for (size_t i = 0; i < yn; i++) dy.data[i] *= tconv_activation_derivative(&act, z[i], y[i]);
  }
  const size_t bshape[1] = {g.out_c};
  if ((st = tconv_tensor_alloc(&dx, x.rank, x.shape)) != TCONV_OK ||
      (st = tconv_tensor_alloc(&dk, k.rank, k.shape)) != TCONV_OK ||
      (b_path && (st = tconv_tensor_alloc(&db, 1, bshape)) != TCONV_OK)) {
    cli_fail_status(st, "gradients");
    goto done;
  }
  if ((st = tconv_backward(&g, x.data, k.data, dy.data, dx.data, dk.data,
                           b_path ? db.data : NULL, NULL)) != TCONV_OK) {
    cli_fail_status(st, "backward");
    goto done;
  }
  if (save(prefix, "dx", &dx) || save(prefix, "dkernel", &dk) || (b_path && save(prefix, "dbias", &db)))
    goto done;
  rc = 0;
done:
  free(z);
  tconv_tensor *all[7] = {&x, &k, &b, &dy, &dx, &dk, &db};
  for (int i = 0; i < 7; i++) tconv_tensor_free(all[i]);
  return rc;
}
