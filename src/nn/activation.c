/* Activations as Keras 2 (tf.keras) defines them, with their derivatives for backward. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

static const char *act_names[TCONV_ACT_COUNT_] = {
    "linear", "relu",         "relu6", "leaky_relu", "elu",      "selu",     "gelu",       "gelu_tanh",
    "sigmoid", "hard_sigmoid", "tanh", "softplus",   "softsign", "swish",    "exponential", "custom"};

const char *tconv_activation_name(tconv_activation_kind kind) {
  return (unsigned)kind < TCONV_ACT_COUNT_ ? act_names[kind] : "unknown";
}

tconv_status tconv_activation_from_name(const char *name, tconv_activation_kind *out) {
  RETURN_IF(name == NULL || out == NULL, TCONV_INVALID_ARGUMENT, "activation: NULL argument");
  static const struct {
    const char *alias;
    tconv_activation_kind kind;
  } aliases[] = {{"none", TCONV_ACT_LINEAR}, {"silu", TCONV_ACT_SWISH},
                 {"gelu_approximate", TCONV_ACT_GELU_TANH}, {"leakyrelu", TCONV_ACT_LEAKY_RELU}};
  for (int i = 0; i < TCONV_ACT_COUNT_; i++)
    if (i != TCONV_ACT_CUSTOM && strcasecmp(name, act_names[i]) == 0) {
      *out = (tconv_activation_kind)i;
      return TCONV_OK;
    }
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcasecmp(name, aliases[i].alias) == 0) {
      *out = aliases[i].kind;
      return TCONV_OK;
    }
  return tconv_error(TCONV_INVALID_ARGUMENT,
                     "unknown activation '%s' (linear, relu, relu6, leaky_relu, elu, selu, gelu, "
                     "gelu_tanh, sigmoid, hard_sigmoid, tanh, softplus, softsign, swish, silu, "
                     "exponential)",
                     name);
}

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT_2_OVER_PI 0.7978845608028654
#define GELU_C 0.044715

static double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z)); }

static float act_one(const tconv_activation *a, float x) {
  double z = x;
  switch (a->kind) {
  case TCONV_ACT_LINEAR: return x;
  case TCONV_ACT_RELU: return x > 0 ? x : 0.0f;
  case TCONV_ACT_RELU6: return x < 0 ? 0.0f : (x > 6 ? 6.0f : x);
  case TCONV_ACT_LEAKY_RELU: return x >= 0 ? x : (float)(a->alpha * z);
  case TCONV_ACT_ELU: return x > 0 ? x : (float)(a->alpha * expm1(z));
  case TCONV_ACT_SELU: return (float)(SELU_SCALE * (z > 0 ? z : SELU_ALPHA * expm1(z)));
  case TCONV_ACT_GELU: return (float)(0.5 * z * (1.0 + erf(z / sqrt(2.0))));
  case TCONV_ACT_GELU_TANH:
    return (float)(0.5 * z * (1.0 + tanh(SQRT_2_OVER_PI * (z + GELU_C * z * z * z))));
  case TCONV_ACT_SIGMOID: return (float)sigmoid(z);
  case TCONV_ACT_HARD_SIGMOID: {
    double v = 0.2 * z + 0.5;
    return (float)(v < 0 ? 0 : (v > 1 ? 1 : v));
  }
  case TCONV_ACT_TANH: return (float)tanh(z);
  case TCONV_ACT_SOFTPLUS: return (float)((z > 0 ? z : 0) + log1p(exp(-fabs(z))));
  case TCONV_ACT_SOFTSIGN: return (float)(z / (1.0 + fabs(z)));
  case TCONV_ACT_SWISH: return (float)(z * sigmoid(z));
  case TCONV_ACT_EXPONENTIAL: return (float)exp(z);
  case TCONV_ACT_CUSTOM: return a->fn ? a->fn(x, a->ctx) : x;
  case TCONV_ACT_COUNT_: break;
  }
  return x;
}

void tconv_activation_apply(const tconv_activation *act, float *v, size_t n) {
  if (act == NULL || act->kind == TCONV_ACT_LINEAR) return;
  if (act->kind == TCONV_ACT_RELU) { /* the common case, kept vectorizable */
    for (size_t i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0.0f;
    return;
  }
  for (size_t i = 0; i < n; i++) v[i] = act_one(act, v[i]);
}

float tconv_activation_derivative(const tconv_activation *a, float x, float y) {
  double z = x;
  if (a == NULL) return 1.0f;
  switch (a->kind) {
  case TCONV_ACT_LINEAR: return 1.0f;
  /* At the kinks TF's gradients take the left side for relu (0 at 0) and relu6. */
  case TCONV_ACT_RELU: return x > 0 ? 1.0f : 0.0f;
  case TCONV_ACT_RELU6: return (x > 0 && x < 6) ? 1.0f : 0.0f;
  case TCONV_ACT_LEAKY_RELU: return x > 0 ? 1.0f : a->alpha;
  case TCONV_ACT_ELU: return x > 0 ? 1.0f : (float)(a->alpha * exp(z));
  case TCONV_ACT_SELU: return (float)(z > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(z));
  case TCONV_ACT_GELU: {
    double cdf = 0.5 * (1.0 + erf(z / sqrt(2.0)));
    double pdf = exp(-0.5 * z * z) / sqrt(2.0 * M_PI);
    return (float)(cdf + z * pdf);
  }
  case TCONV_ACT_GELU_TANH: {
    double u = SQRT_2_OVER_PI * (z + GELU_C * z * z * z);
    double t = tanh(u);
    double du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * z * z);
    return (float)(0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du);
  }
  case TCONV_ACT_SIGMOID: return (float)((double)y * (1.0 - (double)y));
  case TCONV_ACT_HARD_SIGMOID: return (z > -2.5 && z < 2.5) ? 0.2f : 0.0f;
  case TCONV_ACT_TANH: return (float)(1.0 - (double)y * y);
  case TCONV_ACT_SOFTPLUS: return (float)sigmoid(z);
  case TCONV_ACT_SOFTSIGN: {
    double d = 1.0 + fabs(z);
    return (float)(1.0 / (d * d));
  }
  case TCONV_ACT_SWISH: {
    double sg = sigmoid(z);
    return (float)(sg * (1.0 + z * (1.0 - sg)));
  }
  case TCONV_ACT_EXPONENTIAL: return y;
  case TCONV_ACT_CUSTOM: return a->grad ? a->grad(x, a->ctx) : 1.0f;
  case TCONV_ACT_COUNT_: break;
  }
  return 1.0f;
}
