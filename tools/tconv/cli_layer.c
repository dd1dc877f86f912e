/* The layer flags shared by apply, shape and grad: TF/Keras, tf.nn, core, PyTorch and ONNX
 * conventions, all resolved into one tconv_config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

const char *cli_layer_help =
    "Layer flags (TensorFlow conventions unless --from says otherwise):\n"
    "  Keras form:  --strides SH,SW --padding valid|same [--output-padding H,W]\n"
    "               [--dilation H,W] [--data-format channels_last|channels_first]\n"
    "               [--activation NAME] [--activation-alpha A]\n"
    "  tf.nn form:  --output-shape H,W (or N,H,W,C in data-format order) with --padding SAME|VALID,\n"
    "               or --padding EXPLICIT --explicit-padding T,B,L,R\n"
    "  core form:   --pads T,B,L,R [--adjust H,W] [--groups G]   (any strides/dilation)\n"
    "  --strides and --dilation take 2 values, or 4 in data-format order whose batch and\n"
    "  channel entries are 1.  Padding names are case-insensitive.\n"
    "  --from torch: --padding P|PH,PW --output-padding H,W [--strides --dilation --groups]\n"
    "  --from onnx:  --pads HB,WB,HE,WE (ONNX order) | --auto-pad SAME_UPPER|SAME_LOWER|VALID\n"
    "                [--output-shape H,W] [--output-padding H,W]\n";

void cli_layer_init(cli_layer_flags *f) {
  memset(f, 0, sizeof *f);
  f->cfg = tconv_config_default();
  f->cfg.kernel_initializer = tconv_initializer_default(TCONV_INIT_ZEROS);
  f->from = "tf";
}

static const char *value_of(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) return NULL;
  return argv[++*i];
}

/* Reads a flag that takes a list of ints into dst; returns the count or -1. */
static int list_flag(int argc, char **argv, int *i, int64_t *dst, int max) {
  const char *flag = argv[*i];
  return cli_parse_ints(value_of(argc, argv, i), dst, max, flag);
}

int cli_layer_flag(cli_layer_flags *f, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  tconv_config *c = &f->cfg;
  int n;
  if (!strcmp(a, "--strides")) {
    if ((n = list_flag(argc, argv, i, f->strides4, 4)) < 0) return -1;
    f->n_strides = n;
    f->have_strides = true;
  } else if (!strcmp(a, "--dilation") || !strcmp(a, "--dilation-rate")) {
    if ((n = list_flag(argc, argv, i, f->dilation4, 4)) < 0) return -1;
    f->n_dilation = n;
    f->have_dilation = true;
  } else if (!strcmp(a, "--padding")) {
    f->padding_text = value_of(argc, argv, i);
    if (!f->padding_text) return cli_fail("--padding needs a value"), -1;
    f->have_padding = true;
  } else if (!strcmp(a, "--output-padding")) {
    if ((n = list_flag(argc, argv, i, c->output_padding, 2)) < 0) return -1;
    if (n == 1) c->output_padding[1] = c->output_padding[0];
    c->has_output_padding = f->have_output_padding = true;
  } else if (!strcmp(a, "--output-shape")) {
    if ((n = list_flag(argc, argv, i, f->output_shape_raw, 4)) < 0) return -1;
    if (n != 2 && n != 4) return cli_fail("--output-shape takes 2 or 4 values"), -1;
    f->n_output_shape = n;
    f->have_output_shape = true;
  } else if (!strcmp(a, "--explicit-padding")) {
    /* 4 values T,B,L,R, or TF's 4 pairs flattened in data-format order (resolved in finish) */
    if ((n = list_flag(argc, argv, i, f->explicit_raw, 8)) < 0) return -1;
    if (n != 4 && n != 8)
      return cli_fail("--explicit-padding takes 4 values (T,B,L,R) or 8 (4 pairs)"), -1;
    f->n_explicit = n;
    f->have_explicit = true;
  } else if (!strcmp(a, "--pads")) {
    if ((n = list_flag(argc, argv, i, c->explicit_padding, 4)) < 0) return -1;
    if (n != 4) return cli_fail("--pads takes 4 values"), -1;
    f->have_pads = true;
  } else if (!strcmp(a, "--adjust")) {
    if ((n = list_flag(argc, argv, i, c->adjust, 2)) < 0) return -1;
    if (n == 1) c->adjust[1] = c->adjust[0];
    f->have_adjust = true;
  } else if (!strcmp(a, "--groups")) {
    if (!cli_parse_int(value_of(argc, argv, i), &c->groups, "--groups")) return -1;
    f->have_groups = true;
  } else if (!strcmp(a, "--filters")) {
    if (!cli_parse_int(value_of(argc, argv, i), &c->filters, "--filters")) return -1;
    f->have_filters = true;
  } else if (!strcmp(a, "--data-format")) {
    const char *v = value_of(argc, argv, i);
    if (v && (!strcasecmp(v, "channels_last") || !strcasecmp(v, "NHWC")))
      c->data_format = TCONV_CHANNELS_LAST;
    else if (v && (!strcasecmp(v, "channels_first") || !strcasecmp(v, "NCHW")))
      c->data_format = TCONV_CHANNELS_FIRST;
    else
      return cli_fail("--data-format must be channels_last or channels_first"), -1;
  } else if (!strcmp(a, "--activation")) {
    const char *v = value_of(argc, argv, i);
    if (!v || tconv_activation_from_name(v, &c->activation) != TCONV_OK)
      return cli_fail("--activation: %s", v ? tconv_last_error() : "needs a value"), -1;
  } else if (!strcmp(a, "--activation-alpha")) {
    const char *v = value_of(argc, argv, i);
    char *end = NULL;
    c->activation_alpha = v ? strtod(v, &end) : 0;
    if (!v || *end != '\0') return cli_fail("--activation-alpha needs a number"), -1;
  } else if (!strcmp(a, "--from")) {
    f->from = value_of(argc, argv, i);
    if (!f->from || (strcmp(f->from, "tf") && strcmp(f->from, "torch") && strcmp(f->from, "onnx")))
      return cli_fail("--from must be tf, torch or onnx"), -1;
  } else if (!strcmp(a, "--auto-pad")) {
    f->auto_pad = value_of(argc, argv, i);
    if (!f->auto_pad) return cli_fail("--auto-pad needs a value"), -1;
  } else {
    return 0;
  }
  return 1;
}

/* 2 values, or 4 in data-format order with 1 at batch and channel (as tf.nn takes them). */
static int spatial_pair(const int64_t *raw, int n, bool nchw, int64_t out[2], const char *flag) {
  if (n == 0) {
    out[0] = out[1] = 1;
    return 0;
  }
  if (n == 2) {
    out[0] = raw[0];
    out[1] = raw[1];
    return 0;
  }
  if (n == 4) {
    int64_t b = raw[0], ch = nchw ? raw[1] : raw[3];
    if (b != 1 || ch != 1)
      return cli_fail("%s: with 4 values the batch and channel entries must be 1 (got %lld,%lld,"
                      "%lld,%lld in %s order)",
                      flag, (long long)raw[0], (long long)raw[1], (long long)raw[2],
                      (long long)raw[3], nchw ? "NCHW" : "NHWC");
    out[0] = nchw ? raw[2] : raw[1];
    out[1] = nchw ? raw[3] : raw[2];
    return 0;
  }
  return cli_fail("%s takes 2 values, or 4 in data-format order; got %d", flag, n);
}

static int parse_padding_name(const char *text, tconv_padding *out) {
  if (!strcasecmp(text, "valid")) *out = TCONV_PADDING_VALID;
  else if (!strcasecmp(text, "same")) *out = TCONV_PADDING_SAME;
  else if (!strcasecmp(text, "explicit")) *out = TCONV_PADDING_EXPLICIT;
  else return cli_fail("--padding must be valid, same or explicit, got '%s'", text);
  return 0;
}

static int finish_torch(cli_layer_flags *f) {
  tconv_config *c = &f->cfg;
  int64_t p[2] = {0, 0};
  if (f->have_padding) {
    int n = cli_parse_ints(f->padding_text, p, 2, "--padding (torch: integers)");
    if (n < 0) return 1;
    if (n == 1) p[1] = p[0];
  }
  c->form = TCONV_FORM_CORE;
  int64_t pads[4] = {p[0], p[0], p[1], p[1]};
  memcpy(c->explicit_padding, pads, sizeof pads);
  for (int a = 0; a < 2; a++) {
    int64_t op = c->has_output_padding ? c->output_padding[a] : 0;
    int64_t lim = c->strides[a] > c->dilation_rate[a] ? c->strides[a] : c->dilation_rate[a];
    if (op < 0 || op >= lim)
      return cli_fail("PyTorch requires 0 <= output_padding < max(stride, dilation); got %lld on "
                      "axis %s", (long long)op, a ? "w" : "h");
    c->adjust[a] = op;
  }
  c->has_output_padding = false;
  return 0;
}

static int finish_onnx(cli_layer_flags *f, const size_t in_hw[2]) {
  tconv_config *c = &f->cfg;
  const char *ap = f->auto_pad ? f->auto_pad : "NOTSET";
  bool upper = !strcasecmp(ap, "SAME_UPPER"), lower = !strcasecmp(ap, "SAME_LOWER");
  if (!upper && !lower && strcasecmp(ap, "VALID") && strcasecmp(ap, "NOTSET"))
    return cli_fail("--auto-pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  c->form = TCONV_FORM_CORE;
  int64_t pads[4] = {0, 0, 0, 0};
  if (f->have_pads) { /* ONNX order: h_begin, w_begin, h_end, w_end */
    int64_t *o = c->explicit_padding;
    int64_t tmp[4] = {o[0], o[2], o[1], o[3]};
    memcpy(pads, tmp, sizeof tmp);
  }
  for (int a = 0; a < 2; a++) {
    int64_t op = c->has_output_padding ? c->output_padding[a] : 0;
    int64_t k_eff = c->dilation_rate[a] * (c->kernel_size[a] - 1) + 1;
    int64_t full = c->strides[a] * ((int64_t)in_hw[a] - 1) + op + k_eff;
    c->adjust[a] = op;
    if (f->have_output_shape || upper || lower) {
      int64_t O = f->have_output_shape ? f->output_shape_raw[a] : (int64_t)in_hw[a] * c->strides[a];
      int64_t T = full - O;
      if (T < 0) {
        if (f->have_output_shape)
          return cli_fail("ONNX output_shape %lld on axis %s is larger than the full output %lld",
                          (long long)O, a ? "w" : "h", (long long)full);
        c->adjust[a] += -T;
        T = 0;
      }
      /* ONNX: SAME_UPPER puts floor(T/2) at the start; otherwise the start gets the rest. */
      int64_t begin = upper ? T / 2 : T - T / 2;
      pads[2 * a] = begin;
      pads[2 * a + 1] = T - begin;
    } else if (!strcasecmp(ap, "VALID")) {
      pads[2 * a] = pads[2 * a + 1] = 0;
    }
  }
  memcpy(c->explicit_padding, pads, sizeof pads);
  c->has_output_padding = false;
  return 0;
}

int cli_layer_finish(cli_layer_flags *f, const size_t input_shape[4]) {
  tconv_config *c = &f->cfg;
  const bool nchw = c->data_format == TCONV_CHANNELS_FIRST;
  if (spatial_pair(f->strides4, f->n_strides, nchw, c->strides, "--strides")) return 1;
  if (spatial_pair(f->dilation4, f->n_dilation, nchw, c->dilation_rate, "--dilation")) return 1;
  const size_t in_hw[2] = {input_shape[nchw ? 2 : 1], input_shape[nchw ? 3 : 2]};
  if (!strcmp(f->from, "torch")) return finish_torch(f);
  if (!strcmp(f->from, "onnx")) return finish_onnx(f, in_hw);

  tconv_padding padding = TCONV_PADDING_VALID;
  if (f->have_padding && parse_padding_name(f->padding_text, &padding)) return 1;
  if (f->have_pads || f->have_adjust) {
    if (f->have_output_padding)
      return cli_fail("--output-padding belongs to the Keras form; with --pads use --adjust");
    if (f->have_output_shape || f->have_padding)
      return cli_fail("--pads (core form) cannot be combined with --padding or --output-shape");
    c->form = TCONV_FORM_CORE;
    return 0;
  }
  if (f->have_explicit && padding != TCONV_PADDING_EXPLICIT)
    return cli_fail("--explicit-padding needs --padding EXPLICIT");
  if (f->have_output_shape) {
    c->form = TCONV_FORM_TF_NN;
    if (!f->have_padding) return cli_fail("--output-shape needs --padding SAME, VALID or EXPLICIT");
    c->padding = padding;
    const int64_t *o = f->output_shape_raw;
    if (f->n_output_shape == 4) {
      int64_t n = o[0], ch = nchw ? o[1] : o[3];
      if (n != (int64_t)input_shape[0])
        return cli_fail("--output-shape batch %lld differs from the input batch %zu",
                        (long long)n, input_shape[0]);
      if (ch != c->filters)
        return cli_fail("--output-shape channels %lld differ from the kernel's filters %lld",
                        (long long)ch, (long long)c->filters);
      c->output_shape[0] = nchw ? o[2] : o[1];
      c->output_shape[1] = nchw ? o[3] : o[2];
    } else {
      c->output_shape[0] = o[0];
      c->output_shape[1] = o[1];
    }
    if (padding == TCONV_PADDING_EXPLICIT) {
      if (!f->have_explicit) return cli_fail("--padding EXPLICIT needs --explicit-padding");
      const int64_t *e = f->explicit_raw;
      if (f->n_explicit == 8) { /* pairs in data-format order; batch and channel pairs are 0 */
        int hp = nchw ? 2 : 1, wp = nchw ? 3 : 2, cp = nchw ? 1 : 3;
        if (e[0] || e[1] || e[2 * cp] || e[2 * cp + 1])
          return cli_fail("explicit padding on the batch or channel dimension must be 0");
        int64_t v[4] = {e[2 * hp], e[2 * hp + 1], e[2 * wp], e[2 * wp + 1]};
        memcpy(c->explicit_padding, v, sizeof v);
      } else {
        memcpy(c->explicit_padding, e, sizeof(int64_t) * 4);
      }
      for (int k = 0; k < 4; k++)
        if (c->explicit_padding[k] < 0)
          return cli_fail("all explicit paddings must be non-negative");
    }
    return 0;
  }
  if (padding == TCONV_PADDING_EXPLICIT)
    return cli_fail("--padding EXPLICIT needs --output-shape (tf.nn form); or use --pads");
  c->form = TCONV_FORM_KERAS;
  c->padding = padding;
  return 0;
}

int cli_layer_load(cli_layer_flags *f, const char *in_path, const char *k_path,
                   const char *b_path, tconv_tensor *x, tconv_tensor *k, tconv_tensor *b,
                   tconv_geometry *g) {
  tconv_status st;
  const char *paths[3] = {in_path, k_path, b_path};
  tconv_tensor *dsts[3] = {x, k, b};
  for (int i = 0; i < 3; i++)
    if (paths[i] && (st = tconv_npy_load(paths[i], dsts[i])) != TCONV_OK)
      return cli_fail_status(st, paths[i]);
  if (x->rank != 4)
    return cli_fail("%s: the input must have rank 4, got rank %zu", in_path, x->rank);
  if (k->rank != 4)
    return cli_fail("%s: the kernel must have rank 4 (kh, kw, filters, in_channels), got rank %zu",
                    k_path, k->rank);
  tconv_config *c = &f->cfg;
  c->kernel_size[0] = (int64_t)k->shape[0];
  c->kernel_size[1] = (int64_t)k->shape[1];
  if (c->groups < 1) return cli_fail("--groups must be >= 1");
  c->filters = (int64_t)k->shape[2] * c->groups;
  c->use_bias = b_path != NULL;
  if (cli_layer_finish(f, x->shape)) return 1;
  if ((st = tconv_geometry_compute(c, x->shape, k->shape, g)) != TCONV_OK)
    return cli_fail_status(st, "invalid layer");
  if (b_path && (b->rank != 1 || b->shape[0] != g->out_c))
    return cli_fail("%s: the bias must have shape (%zu,) to match the filters", b_path, g->out_c);
  return 0;
}
