/* The training loops' random stream (crop positions, shuffles): splitmix64, small and fast; the
 * same seed gives the same run on every platform. */
#ifndef TCONV_MODELS_RNG_H
#define TCONV_MODELS_RNG_H

#include <stdint.h>

static inline uint64_t tconv_models_rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#endif
