/* TF semantics in one place: every convention (Keras layer, tf.nn.conv2d_transpose with an
 * output shape, the general core form) is validated and mapped onto the core form (pb, pe, a)
 * per axis:
 *
 *     k_eff = d*(k-1) + 1                 effective (dilated) kernel length
 *     F     = (I-1)*s + k_eff             full, uncropped transposed-convolution length
 *     O     = F - pb - pe + a             crop pb at the start, pe at the end, append a
 *
 * Keras first picks O (conv_utils.deconv_output_length), then calls the TF op, which places the
 * crop: P = max(0, F - O), pb = floor(P/2), pe = P - pb (the odd extra at the END: bottom/right),
 * a = max(0, O - F).  The TF op accepts O only when the forward convolution of an O-long signal
 * gives back I: SAME needs ceil(O/s) == I, VALID and EXPLICIT need 0 <= O - (F - pb - pe) < s.
 * All arithmetic is checked int64 on values already bounded by the limits; nothing here divides
 * by a value it has not checked. */
#include <string.h>

#include "core/internal.h"

static const char *axis_name[2] = {"h", "w"};

/* Per-axis result before it is stored into the geometry. */
typedef struct axis_geom {
  int64_t out, pad_begin, pad_end, adjust;
} axis_geom;

static tconv_status check_positive(int64_t v, const char *what, int axis, int64_t max) {
  RETURN_IF(v < 1, TCONV_INVALID_ARGUMENT, "%s must be >= 1 on axis %s, got %lld", what,
            axis_name[axis], (long long)v);
  RETURN_IF(v > max, TCONV_LIMIT_EXCEEDED, "%s %lld on axis %s is above the limit %lld", what,
            (long long)v, axis_name[axis], (long long)max);
  return TCONV_OK;
}

static tconv_status check_nonneg(int64_t v, const char *what, int axis, int64_t max) {
  RETURN_IF(v < 0, TCONV_INVALID_ARGUMENT, "%s must be >= 0 on axis %s, got %lld", what,
            axis_name[axis], (long long)v);
  RETURN_IF(v > max, TCONV_LIMIT_EXCEEDED, "%s %lld on axis %s is above the limit %lld", what,
            (long long)v, axis_name[axis], (long long)max);
  return TCONV_OK;
}

/* TF's acceptance rule for a requested output length (conv_grad_shape_utils: the forward
 * convolution of the O-long signal must give I). */
static tconv_status tf_accepts(tconv_padding padding, int64_t I, int64_t O, int64_t s,
                               int64_t k_eff, int64_t pb, int64_t pe, int axis) {
  if (padding == TCONV_PADDING_SAME) {
    int64_t back = (O + s - 1) / s;
    RETURN_IF(back != I, TCONV_INVALID_ARGUMENT,
              "output size %lld on axis %s is not accepted by TF's SAME padding: ceil(%lld / "
              "stride %lld) = %lld must equal the input size %lld (the core form --pads/--adjust "
              "can express any output size)",
              (long long)O, axis_name[axis], (long long)O, (long long)s, (long long)back,
              (long long)I);
    return TCONV_OK;
  }
  /* Forward conv window count, as TF computes it: (O + pb + pe - k_eff + s) / s. */
  int64_t num = O + pb + pe - k_eff + s;
  RETURN_IF(num < 0 || num / s != I, TCONV_INVALID_ARGUMENT,
            "output size %lld on axis %s is not accepted by TF's %s padding: it must lie in "
            "[%lld, %lld] for input size %lld, kernel %lld and stride %lld (the core form "
            "--pads/--adjust can express any output size)",
            (long long)O, axis_name[axis], padding == TCONV_PADDING_VALID ? "VALID" : "EXPLICIT",
            (long long)((I - 1) * s + k_eff - pb - pe),
            (long long)((I - 1) * s + k_eff - pb - pe + s - 1), (long long)I, (long long)k_eff,
            (long long)s);
  return TCONV_OK;
}

/* Crop placement of the TF op for a requested O (SAME: centred, odd extra at the end). */
static void tf_place(tconv_padding padding, int64_t F, int64_t O, const int64_t *explicit_pads,
                     axis_geom *ax) {
  ax->out = O;
  if (padding == TCONV_PADDING_SAME) {
    int64_t P = F > O ? F - O : 0;
    ax->pad_begin = P / 2;
    ax->pad_end = P - P / 2;
  } else if (padding == TCONV_PADDING_EXPLICIT) {
    ax->pad_begin = explicit_pads[0];
    ax->pad_end = explicit_pads[1];
  } else {
    ax->pad_begin = ax->pad_end = 0;
  }
  ax->adjust = O - (F - ax->pad_begin - ax->pad_end);
}

static tconv_status compute_axis(const tconv_config *cfg, int axis, int64_t I, axis_geom *ax) {
  const int64_t max = (int64_t)tconv_get_limits().max_dim;
  const int64_t k = cfg->kernel_size[axis], s = cfg->strides[axis], d = cfg->dilation_rate[axis];
  RETURN_IF_ERROR(check_positive(k, "kernel_size", axis, max));
  RETURN_IF_ERROR(check_positive(s, "strides", axis, max));
  RETURN_IF_ERROR(check_positive(d, "dilation_rate", axis, max));
  /* All factors are <= 2^31-1, so these products fit comfortably in int64. */
  const int64_t k_eff = d * (k - 1) + 1;
  const int64_t F = (I - 1) * s + k_eff; /* may be < 0 only for I == 0 */
  const int64_t *pads = &cfg->explicit_padding[2 * axis];

  switch (cfg->form) {
  case TCONV_FORM_KERAS: {
    RETURN_IF(cfg->padding != TCONV_PADDING_VALID && cfg->padding != TCONV_PADDING_SAME,
              TCONV_INVALID_ARGUMENT,
              "the Keras layer takes padding 'valid' or 'same'; explicit padding needs the "
              "tf.nn form (--output-shape) or the core form (--pads)");
    int64_t O;
    if (cfg->has_output_padding) {
      int64_t op = cfg->output_padding[axis];
      RETURN_IF(op < 0, TCONV_INVALID_ARGUMENT, "output_padding must be >= 0 on axis %s, got %lld",
                axis_name[axis], (long long)op);
      RETURN_IF(op >= s, TCONV_INVALID_ARGUMENT,
                "output_padding %lld must be < stride %lld on axis %s (as Keras requires; the "
                "core form --pads/--adjust allows any extension)",
                (long long)op, (long long)s, axis_name[axis]);
      /* Keras deconv_output_length: pad = k_eff // 2 for 'same', 0 for 'valid'. */
      int64_t pad = cfg->padding == TCONV_PADDING_SAME ? k_eff / 2 : 0;
      O = (I - 1) * s + k_eff - 2 * pad + op;
    } else if (cfg->padding == TCONV_PADDING_VALID) {
      O = I * s + (k_eff - s > 0 ? k_eff - s : 0);
    } else {
      O = I * s;
    }
    RETURN_IF(O < 0, TCONV_INVALID_ARGUMENT, "the output size on axis %s would be negative (%lld)",
              axis_name[axis], (long long)O);
    tf_place(cfg->padding, F, O, pads, ax);
    return tf_accepts(cfg->padding, I, O, s, k_eff, ax->pad_begin, ax->pad_end, axis);
  }
  case TCONV_FORM_TF_NN: {
    RETURN_IF(cfg->has_output_padding, TCONV_INVALID_ARGUMENT,
              "output_padding cannot be combined with an explicit output shape");
    int64_t O = cfg->output_shape[axis];
    RETURN_IF_ERROR(check_nonneg(O, "output_shape", axis, max));
    if (cfg->padding == TCONV_PADDING_EXPLICIT) {
      RETURN_IF_ERROR(check_nonneg(pads[0], "explicit padding (begin)", axis, max));
      RETURN_IF_ERROR(check_nonneg(pads[1], "explicit padding (end)", axis, max));
    } else {
      RETURN_IF(cfg->padding != TCONV_PADDING_VALID && cfg->padding != TCONV_PADDING_SAME,
                TCONV_INVALID_ARGUMENT, "padding must be SAME, VALID or EXPLICIT");
    }
    tf_place(cfg->padding, F, O, pads, ax);
    return tf_accepts(cfg->padding, I, O, s, k_eff, ax->pad_begin, ax->pad_end, axis);
  }
  case TCONV_FORM_CORE: {
    RETURN_IF_ERROR(check_nonneg(pads[0], "pad (begin)", axis, max));
    RETURN_IF_ERROR(check_nonneg(pads[1], "pad (end)", axis, max));
    RETURN_IF_ERROR(check_nonneg(cfg->adjust[axis], "adjust", axis, max));
    ax->pad_begin = pads[0];
    ax->pad_end = pads[1];
    ax->adjust = cfg->adjust[axis];
    ax->out = F - pads[0] - pads[1] + cfg->adjust[axis];
    RETURN_IF(ax->out < 0, TCONV_INVALID_ARGUMENT,
              "pads %lld + %lld on axis %s crop more than the full output length %lld",
              (long long)pads[0], (long long)pads[1], axis_name[axis], (long long)(F + cfg->adjust[axis]));
    return TCONV_OK;
  }
  }
  return tconv_error(TCONV_INVALID_ARGUMENT, "unknown form %d", (int)cfg->form);
}

tconv_status tconv_config_check(const tconv_config *cfg) {
  RETURN_IF(cfg == NULL, TCONV_INVALID_ARGUMENT, "config is NULL");
  const int64_t max = (int64_t)tconv_get_limits().max_dim;
  RETURN_IF(cfg->filters < 1, TCONV_INVALID_ARGUMENT, "filters must be >= 1, got %lld",
            (long long)cfg->filters);
  RETURN_IF(cfg->filters > max, TCONV_LIMIT_EXCEEDED, "filters %lld is above the limit",
            (long long)cfg->filters);
  RETURN_IF(cfg->groups < 1, TCONV_INVALID_ARGUMENT, "groups must be >= 1, got %lld",
            (long long)cfg->groups);
  RETURN_IF(cfg->filters % cfg->groups != 0, TCONV_INVALID_ARGUMENT,
            "filters %lld is not divisible by groups %lld", (long long)cfg->filters,
            (long long)cfg->groups);
  RETURN_IF(cfg->data_format != TCONV_CHANNELS_LAST && cfg->data_format != TCONV_CHANNELS_FIRST,
            TCONV_INVALID_ARGUMENT, "unknown data_format %d", (int)cfg->data_format);
  RETURN_IF((unsigned)cfg->form > TCONV_FORM_CORE, TCONV_INVALID_ARGUMENT, "unknown form %d",
            (int)cfg->form);
  RETURN_IF((unsigned)cfg->padding > TCONV_PADDING_EXPLICIT, TCONV_INVALID_ARGUMENT,
            "unknown padding %d", (int)cfg->padding);
  RETURN_IF((unsigned)cfg->activation >= TCONV_ACT_COUNT_, TCONV_INVALID_ARGUMENT,
            "unknown activation %d", (int)cfg->activation);
  RETURN_IF(cfg->activation == TCONV_ACT_CUSTOM && cfg->activation_fn == NULL,
            TCONV_INVALID_ARGUMENT, "a custom activation needs activation_fn");
  for (int a = 0; a < 2; a++) {
    RETURN_IF_ERROR(check_positive(cfg->kernel_size[a], "kernel_size", a, max));
    RETURN_IF_ERROR(check_positive(cfg->strides[a], "strides", a, max));
    RETURN_IF_ERROR(check_positive(cfg->dilation_rate[a], "dilation_rate", a, max));
  }
  if (cfg->form == TCONV_FORM_KERAS) {
    bool strided = cfg->strides[0] > 1 || cfg->strides[1] > 1;
    bool dilated = cfg->dilation_rate[0] > 1 || cfg->dilation_rate[1] > 1;
    RETURN_IF(strided && dilated, TCONV_INVALID_ARGUMENT,
              "strides > 1 together with dilation_rate > 1 is not supported by Keras; the core "
              "form (--pads) computes it");
  }
  return TCONV_OK;
}

tconv_status tconv_geometry_compute(const tconv_config *cfg, const size_t input_shape[4],
                                    const size_t *kernel_shape, tconv_geometry *out) {
  RETURN_IF(input_shape == NULL || out == NULL, TCONV_INVALID_ARGUMENT,
            "geometry: NULL argument");
  RETURN_IF_ERROR(tconv_config_check(cfg));
  const tconv_limits lim = tconv_get_limits();
  for (int i = 0; i < 4; i++)
    RETURN_IF(input_shape[i] > lim.max_dim, TCONV_LIMIT_EXCEEDED,
              "input dimension %d is %zu, above the limit %llu", i, input_shape[i],
              (unsigned long long)lim.max_dim);
  const bool nchw = cfg->data_format == TCONV_CHANNELS_FIRST;
  const size_t N = input_shape[0];
  const size_t H = input_shape[nchw ? 2 : 1], W = input_shape[nchw ? 3 : 2];
  const size_t C = input_shape[nchw ? 1 : 3];
  const size_t G = (size_t)cfg->groups, OC = (size_t)cfg->filters;
  RETURN_IF(C == 0, TCONV_INVALID_ARGUMENT,
            "the input has 0 channels: the kernel would have zero elements");
  RETURN_IF(C % G != 0, TCONV_INVALID_ARGUMENT,
            "input channels %zu are not divisible by groups %zu", C, G);
  const size_t want_k[4] = {(size_t)cfg->kernel_size[0], (size_t)cfg->kernel_size[1], OC / G, C};
  if (kernel_shape != NULL) {
    static const char *kname[4] = {"height", "width", "filters/groups", "input channels"};
    for (int i = 0; i < 4; i++)
      RETURN_IF(kernel_shape[i] != want_k[i], TCONV_SHAPE_MISMATCH,
                "kernel shape (%zu, %zu, %zu, %zu) does not match the layer: its %s must be %zu "
                "(kernel layout is (kh, kw, filters/groups, in_channels))",
                kernel_shape[0], kernel_shape[1], kernel_shape[2], kernel_shape[3], kname[i],
                want_k[i]);
  }
  axis_geom ax[2];
  const size_t in_len[2] = {H, W};
  for (int a = 0; a < 2; a++) {
    RETURN_IF_ERROR(compute_axis(cfg, a, (int64_t)in_len[a], &ax[a]));
    RETURN_IF((uint64_t)ax[a].out > lim.max_dim, TCONV_LIMIT_EXCEEDED,
              "output size %lld on axis %s is above the limit %llu", (long long)ax[a].out,
              axis_name[a], (unsigned long long)lim.max_dim);
    /* the crops and the extension are sizes too (tconv_geometry_check holds them to the same
     * limit, so both validators agree) */
    RETURN_IF((uint64_t)ax[a].pad_begin > lim.max_dim || (uint64_t)ax[a].pad_end > lim.max_dim ||
                  (uint64_t)ax[a].adjust > lim.max_dim,
              TCONV_LIMIT_EXCEEDED, "the crop or extension on axis %s is above the limit %llu",
              axis_name[a], (unsigned long long)lim.max_dim);
  }
  const size_t out_shape[4] = {N, (size_t)ax[0].out, (size_t)ax[1].out, OC};
  RETURN_IF_ERROR(tconv_check_shape(4, input_shape, sizeof(float), NULL, "input"));
  RETURN_IF_ERROR(tconv_check_shape(4, want_k, sizeof(float), NULL, "kernel"));
  RETURN_IF_ERROR(tconv_check_shape(4, out_shape, sizeof(float), NULL, "output"));

  memset(out, 0, sizeof *out);
  out->batch = N;
  out->in_h = H;
  out->in_w = W;
  out->in_c = C;
  out->out_h = (size_t)ax[0].out;
  out->out_w = (size_t)ax[1].out;
  out->out_c = OC;
  out->kernel_h = want_k[0];
  out->kernel_w = want_k[1];
  out->stride_h = (size_t)cfg->strides[0];
  out->stride_w = (size_t)cfg->strides[1];
  out->dilation_h = (size_t)cfg->dilation_rate[0];
  out->dilation_w = (size_t)cfg->dilation_rate[1];
  out->pad_top = (size_t)ax[0].pad_begin;
  out->pad_bottom = (size_t)ax[0].pad_end;
  out->pad_left = (size_t)ax[1].pad_begin;
  out->pad_right = (size_t)ax[1].pad_end;
  out->adjust_h = (size_t)ax[0].adjust;
  out->adjust_w = (size_t)ax[1].adjust;
  out->groups = G;
  out->data_format = cfg->data_format;
  return TCONV_OK;
}

void tconv_geometry_output_shape(const tconv_geometry *g, size_t out_shape[4]) {
  out_shape[0] = g->batch;
  if (g->data_format == TCONV_CHANNELS_FIRST) {
    out_shape[1] = g->out_c;
    out_shape[2] = g->out_h;
    out_shape[3] = g->out_w;
  } else {
    out_shape[1] = g->out_h;
    out_shape[2] = g->out_w;
    out_shape[3] = g->out_c;
  }
}

/* A geometry handed in by a caller (tconv_forward) is re-derived axis by axis before use, so an
 * inconsistent struct can never make a kernel read or write out of bounds. */
static bool axis_consistent(size_t I, size_t k, size_t s, size_t d, size_t pb, size_t pe,
                            size_t a, size_t O) {
  const uint64_t max = tconv_get_limits().max_dim;
  if (k < 1 || s < 1 || d < 1 || k > max || s > max || d > max || I > max || O > max ||
      pb > max || pe > max || a > max)
    return false;
  int64_t F = ((int64_t)I - 1) * (int64_t)s + (int64_t)d * ((int64_t)k - 1) + 1;
  return F - (int64_t)pb - (int64_t)pe + (int64_t)a == (int64_t)O;
}

tconv_status tconv_geometry_check(const tconv_geometry *g) {
  RETURN_IF(g == NULL, TCONV_INVALID_ARGUMENT, "geometry is NULL");
  RETURN_IF(g->in_c == 0 || g->out_c == 0 || g->groups == 0 || g->in_c % g->groups != 0 ||
                g->out_c % g->groups != 0,
            TCONV_INVALID_ARGUMENT, "geometry: channels %zu -> %zu do not fit groups %zu",
            g->in_c, g->out_c, g->groups);
  RETURN_IF(g->data_format != TCONV_CHANNELS_LAST && g->data_format != TCONV_CHANNELS_FIRST,
            TCONV_INVALID_ARGUMENT, "geometry: unknown data_format");
  RETURN_IF(!axis_consistent(g->in_h, g->kernel_h, g->stride_h, g->dilation_h, g->pad_top,
                             g->pad_bottom, g->adjust_h, g->out_h),
            TCONV_INVALID_ARGUMENT, "geometry: the h axis is inconsistent");
  RETURN_IF(!axis_consistent(g->in_w, g->kernel_w, g->stride_w, g->dilation_w, g->pad_left,
                             g->pad_right, g->adjust_w, g->out_w),
            TCONV_INVALID_ARGUMENT, "geometry: the w axis is inconsistent");
  const size_t in[4] = {g->batch, g->in_h, g->in_w, g->in_c};
  const size_t out[4] = {g->batch, g->out_h, g->out_w, g->out_c};
  const size_t k[4] = {g->kernel_h, g->kernel_w, g->out_c / g->groups, g->in_c};
  RETURN_IF_ERROR(tconv_check_shape(4, in, sizeof(float), NULL, "input"));
  RETURN_IF_ERROR(tconv_check_shape(4, out, sizeof(float), NULL, "output"));
  RETURN_IF_ERROR(tconv_check_shape(4, k, sizeof(float), NULL, "kernel"));
  return TCONV_OK;
}
