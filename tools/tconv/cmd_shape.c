/* tconv shape: validate a configuration without data; print the output shape, the core form and
 * the same layer in PyTorch's and ONNX's conventions (the convention translator). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *shape_help =
    "usage: tconv shape --input-shape N,H,W,C (data-format order)\n"
    "                   (--kernel-shape KH,KW,FILTERS/G,IN | --kernel-size KH,KW --filters N)\n"
    "                   [layer flags] [--json]\n"
    "Validates the layer and prints its output shape and core form (pads crop the full output;\n"
    "adjust appends bias-only rows/columns), plus the equivalent PyTorch and ONNX arguments.\n";

/* PyTorch writes (p, op) per axis as pads (p, p - op... ) i.e. crop p at the start and p - op at
 * the end; TF's SAME with an odd total crop puts the extra at the end, which no symmetric p can. */
static bool torch_form(const tconv_geometry *g, int64_t p[2], int64_t op[2]) {
  const size_t pb[2] = {g->pad_top, g->pad_left}, pe[2] = {g->pad_bottom, g->pad_right};
  const size_t adj[2] = {g->adjust_h, g->adjust_w}, s[2] = {g->stride_h, g->stride_w};
  const size_t d[2] = {g->dilation_h, g->dilation_w};
  for (int a = 0; a < 2; a++) {
    p[a] = (int64_t)pb[a];
    op[a] = (int64_t)pb[a] - (int64_t)pe[a] + (int64_t)adj[a];
    int64_t lim = (int64_t)(s[a] > d[a] ? s[a] : d[a]);
    if (op[a] < 0 || op[a] >= lim) return false;
  }
  return true;
}

int cmd_shape(int argc, char **argv) {
  cli_layer_flags f;
  cli_layer_init(&f);
  int64_t in_raw[4], k_raw[4], ks[2];
  int n_in = 0, n_k = 0, n_ks = 0;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int r = cli_layer_flag(&f, argc, argv, &i);
    if (r < 0) return 2;
    if (r > 0) continue;
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("%s\n%s", shape_help, cli_layer_help);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = true;
    } else if (!strcmp(a, "--input-shape")) {
      if ((n_in = cli_parse_ints(v, in_raw, 4, a)) < 0) return 2;
      i++;
    } else if (!strcmp(a, "--kernel-shape")) {
      if ((n_k = cli_parse_ints(v, k_raw, 4, a)) < 0) return 2;
      i++;
    } else if (!strcmp(a, "--kernel-size")) {
      if ((n_ks = cli_parse_ints(v, ks, 2, a)) < 0) return 2;
      if (n_ks == 1) ks[1] = ks[0];
      i++;
    } else {
      return cli_fail("shape: unknown argument '%s' (see tconv shape --help)", a), 2;
    }
  }
  if (n_in != 4) return cli_fail("shape: --input-shape takes 4 values (data-format order)"), 2;
  size_t in_shape[4], k_shape[4];
  for (int i = 0; i < 4; i++) {
    if (in_raw[i] < 0) return cli_fail("shape: --input-shape values must be >= 0"), 1;
    in_shape[i] = (size_t)in_raw[i];
  }
  tconv_config *c = &f.cfg;
  if (c->groups < 1) return cli_fail("shape: --groups must be >= 1"), 1;
  if (n_k) {
    if (n_k != 4) return cli_fail("shape: --kernel-shape takes 4 values KH,KW,FILTERS/G,IN"), 2;
    for (int i = 0; i < 4; i++) {
      if (k_raw[i] < 0) return cli_fail("shape: --kernel-shape values must be >= 0"), 1;
      k_shape[i] = (size_t)k_raw[i];
    }
    c->kernel_size[0] = k_raw[0];
    c->kernel_size[1] = k_raw[1];
    int64_t filters = k_raw[2] * c->groups;
    if (f.have_filters && c->filters != filters)
      return cli_fail("shape: --filters %lld disagrees with the kernel shape (%lld x groups %lld)",
                      (long long)c->filters, (long long)k_raw[2], (long long)c->groups), 1;
    c->filters = filters;
  } else {
    if (!n_ks || !f.have_filters)
      return cli_fail("shape: give --kernel-shape, or --kernel-size with --filters"), 2;
    c->kernel_size[0] = ks[0];
    c->kernel_size[1] = ks[1];
  }
  if (cli_layer_finish(&f, in_shape)) return 1;
  tconv_geometry g;
  tconv_status st = tconv_geometry_compute(c, in_shape, n_k ? k_shape : NULL, &g);
  if (st != TCONV_OK) return cli_fail_status(st, "invalid layer");
  size_t out[4];
  tconv_geometry_output_shape(&g, out);
  int64_t tp[2], top[2];
  bool torch_ok = torch_form(&g, tp, top);
  if (json) {
    printf("{\"output_shape\": [%zu, %zu, %zu, %zu], \"pads\": [%zu, %zu, %zu, %zu], "
           "\"adjust\": [%zu, %zu], ",
           out[0], out[1], out[2], out[3], g.pad_top, g.pad_bottom, g.pad_left, g.pad_right,
           g.adjust_h, g.adjust_w);
    if (torch_ok)
      printf("\"torch\": {\"padding\": [%lld, %lld], \"output_padding\": [%lld, %lld]}, ",
             (long long)tp[0], (long long)tp[1], (long long)top[0], (long long)top[1]);
    else
      printf("\"torch\": null, ");
    printf("\"onnx\": {\"pads\": [%zu, %zu, %zu, %zu], \"output_padding\": [%zu, %zu]}}\n",
           g.pad_top, g.pad_left, g.pad_bottom, g.pad_right, g.adjust_h, g.adjust_w);
    return 0;
  }
  const bool nchw = g.data_format == TCONV_CHANNELS_FIRST;
  printf("output shape: %zu,%zu,%zu,%zu (%s)\n", out[0], out[1], out[2], out[3],
         nchw ? "N,C,H,W" : "N,H,W,C");
  printf("core form: pads top %zu bottom %zu left %zu right %zu, adjust h %zu w %zu\n",
         g.pad_top, g.pad_bottom, g.pad_left, g.pad_right, g.adjust_h, g.adjust_w);
  if (torch_ok)
    printf("pytorch: ConvTranspose2d(..., stride=(%zu, %zu), padding=(%lld, %lld), "
           "output_padding=(%lld, %lld), dilation=(%zu, %zu))\n",
           g.stride_h, g.stride_w, (long long)tp[0], (long long)tp[1], (long long)top[0],
           (long long)top[1], g.dilation_h, g.dilation_w);
  else
    printf("pytorch: not expressible with symmetric padding (this layer crops %zu/%zu rows and "
           "%zu/%zu columns at the start/end); run ConvTranspose2d with padding=0 and slice "
           "[%zu:%zu, %zu:%zu]\n",
           g.pad_top, g.pad_bottom, g.pad_left, g.pad_right, g.pad_top, g.pad_top + g.out_h,
           g.pad_left, g.pad_left + g.out_w);
  printf("onnx: ConvTranspose pads=[%zu, %zu, %zu, %zu] output_padding=[%zu, %zu]\n", g.pad_top,
         g.pad_left, g.pad_bottom, g.pad_right, g.adjust_h, g.adjust_w);
  return 0;
}
