/* Drawing helpers for `tconv mnist show` (one-channel float images, row-major). */
#ifndef TCONV_MNIST_SHEET_H
#define TCONV_MNIST_SHEET_H

#include <stddef.h>

/* Draws text (A-Z, 0-9, others blank) with a 3x5 font, 4 pixels per character, at (x, y). */
void sheet_text(float *img, size_t w, size_t h, size_t x, size_t y, const char *text, float v);
/* Copies an sw x sh image to (x, y), clamped to [0, 1]. */
void sheet_blit(float *img, size_t w, size_t x, size_t y, const float *src, size_t sw, size_t sh);

#endif
