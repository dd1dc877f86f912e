/* Loss helpers with tf.keras's formulas and mean reduction. */
#include <math.h>

#include "core/internal.h"

#define KERAS_EPSILON 1e-7 /* tf.keras.backend.epsilon() */

tconv_status tconv_loss(tconv_loss_kind kind, const float *pred, const float *target, size_t n,
                        double *loss, float *grad) {
  RETURN_IF(n == 0, TCONV_INVALID_ARGUMENT, "loss: no elements (the mean is undefined)");
  RETURN_IF(pred == NULL || target == NULL, TCONV_INVALID_ARGUMENT,
            "loss: NULL predictions or targets");
  RETURN_IF((unsigned)kind > TCONV_LOSS_BCE_FROM_LOGITS, TCONV_INVALID_ARGUMENT,
            "loss: unknown kind %d", (int)kind);
  const double inv = 1.0 / (double)n;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double p = pred[i], t = target[i];
    double l, d;
    switch (kind) {
    case TCONV_LOSS_MSE:
      l = (p - t) * (p - t);
      d = 2.0 * (p - t);
      break;
    case TCONV_LOSS_BINARY_CROSSENTROPY: {
      /* tf.keras.backend.binary_crossentropy: clip, then log(p + eps) and log(1 - p + eps) */
      const double lo = KERAS_EPSILON, hi = 1.0 - KERAS_EPSILON;
      const double pc = p < lo ? lo : p > hi ? hi : p;
      l = -(t * log(pc + KERAS_EPSILON) + (1.0 - t) * log(1.0 - pc + KERAS_EPSILON));
      d = (p < lo || p > hi) ? 0.0
                             : -t / (pc + KERAS_EPSILON) + (1.0 - t) / (1.0 - pc + KERAS_EPSILON);
      break;
    }
    default: { /* from logits, the stable form of tf.nn.sigmoid_cross_entropy_with_logits */
      l = (p > 0 ? p : 0.0) - p * t + log1p(exp(-fabs(p)));
      const double s = p >= 0 ? 1.0 / (1.0 + exp(-p)) : exp(p) / (1.0 + exp(p));
      d = s - t;
      break;
    }
    }
    sum += l;
    if (grad) grad[i] = (float)(d * inv);
  }
  if (loss) *loss = sum * inv;
  return TCONV_OK;
}
