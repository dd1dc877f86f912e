/* The picture `tconv mnist show` writes: labelled panels side by side, with a 3x5 pixel font
 * (only the tool draws text, so it needs nothing more). */
#include <string.h>

#include "mnist_sheet.h"

/* Rows of 3 bits, top to bottom, MSB left. */
static const unsigned char glyphs[][5] = {
    ['A' - 'A'] = {2, 5, 7, 5, 5}, ['B' - 'A'] = {6, 5, 6, 5, 6}, ['C' - 'A'] = {3, 4, 4, 4, 3},
    ['D' - 'A'] = {6, 5, 5, 5, 6}, ['E' - 'A'] = {7, 4, 6, 4, 7}, ['F' - 'A'] = {7, 4, 6, 4, 4},
    ['G' - 'A'] = {3, 4, 5, 5, 3}, ['H' - 'A'] = {5, 5, 7, 5, 5}, ['I' - 'A'] = {7, 2, 2, 2, 7},
    ['J' - 'A'] = {1, 1, 1, 5, 2}, ['K' - 'A'] = {5, 5, 6, 5, 5}, ['L' - 'A'] = {4, 4, 4, 4, 7},
    ['M' - 'A'] = {5, 7, 7, 5, 5}, ['N' - 'A'] = {6, 5, 5, 5, 5}, ['O' - 'A'] = {2, 5, 5, 5, 2},
    ['P' - 'A'] = {6, 5, 6, 4, 4}, ['Q' - 'A'] = {2, 5, 5, 6, 3}, ['R' - 'A'] = {6, 5, 6, 5, 5},
    ['S' - 'A'] = {3, 4, 2, 1, 6}, ['T' - 'A'] = {7, 2, 2, 2, 2}, ['U' - 'A'] = {5, 5, 5, 5, 7},
    ['V' - 'A'] = {5, 5, 5, 5, 2}, ['W' - 'A'] = {5, 5, 7, 7, 5}, ['X' - 'A'] = {5, 5, 2, 5, 5},
    ['Y' - 'A'] = {5, 5, 2, 2, 2}, ['Z' - 'A'] = {7, 1, 2, 4, 7},
};
static const unsigned char digits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {6, 1, 2, 4, 7}, {6, 1, 2, 1, 6}, {5, 5, 7, 1, 1},
    {7, 4, 6, 1, 6}, {3, 4, 6, 5, 2}, {7, 1, 2, 2, 2}, {2, 5, 2, 5, 2}, {2, 5, 3, 1, 6},
};

void sheet_text(float *img, size_t w, size_t h, size_t x, size_t y, const char *text, float v) {
  for (; *text; text++, x += 4) {
    const unsigned char *g = NULL;
    char ch = *text;
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    if (ch >= 'A' && ch <= 'Z') g = glyphs[ch - 'A'];
    else if (ch >= '0' && ch <= '9') g = digits[ch - '0'];
    if (g == NULL) continue; /* space and anything else: a blank cell */
    for (size_t r = 0; r < 5; r++)
      for (size_t c = 0; c < 3; c++)
        if ((g[r] >> (2 - c)) & 1 && x + c < w && y + r < h) img[(y + r) * w + x + c] = v;
  }
}

void sheet_blit(float *img, size_t w, size_t x, size_t y, const float *src, size_t sw, size_t sh) {
  for (size_t r = 0; r < sh; r++) {
    float *dst = img + (y + r) * w + x;
    for (size_t c = 0; c < sw; c++) {
      float v = src[r * sw + c];
      dst[c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
}
