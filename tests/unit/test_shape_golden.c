/* tconv_geometry_compute against tests/golden/shapes.tsv: output shapes and core forms of the
 * Keras layer, tf.nn.conv2d_transpose (SAME/VALID/EXPLICIT output_shape) and the core form over
 * a grid, computed from the Keras/TF formulas by tests/golden/make_shapes.py (no numpy needed
 * here).  The file is found through $TCONV_GOLDEN_DIR, else tests/golden/ from the current
 * directory (tests/run.sh runs from the repository root). */
#include <stdlib.h>

#include "test.h"

#define SHAPES_COLUMNS 29

typedef struct shape_row {
  char form[16], padding[16], status[8];
  long v[SHAPES_COLUMNS]; /* numeric columns by index; text columns unused */
} shape_row;

enum { C_IN_H = 2, C_K_H = 4, C_S_H = 6, C_D_H = 8, C_OP_H = 10, C_REQ_H = 12, C_PAD_T = 14,
       C_ADJ_H = 18, C_OUT_H = 21, C_G_PAD_T = 23, C_G_ADJ_H = 27 };

static FILE *open_table(void) {
  const char *dir = getenv("TCONV_GOLDEN_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/shapes.tsv", dir ? dir : "tests/golden");
  return fopen(path, "r");
}

/* Parses one data line; false for comments, the header and malformed lines. */
static bool parse_row(char *line, shape_row *r) {
  if (line[0] == '#' || !strncmp(line, "form\t", 5)) return false;
  int col = 0;
  for (char *tok = strtok(line, "\t\n"); tok; tok = strtok(NULL, "\t\n"), col++) {
    if (col >= SHAPES_COLUMNS) return false;
    if (col == 0) snprintf(r->form, sizeof r->form, "%s", tok);
    else if (col == 1) snprintf(r->padding, sizeof r->padding, "%s", tok);
    else if (col == 20) snprintf(r->status, sizeof r->status, "%s", tok);
    else r->v[col] = strtol(tok, NULL, 10);
  }
  return col == SHAPES_COLUMNS;
}

static tconv_config row_config(const shape_row *r) {
  tconv_config c = tconv_config_default();
  c.filters = 3;
  for (int a = 0; a < 2; a++) {
    c.kernel_size[a] = r->v[C_K_H + a];
    c.strides[a] = r->v[C_S_H + a];
    c.dilation_rate[a] = r->v[C_D_H + a];
  }
  if (!strcmp(r->padding, "same")) c.padding = TCONV_PADDING_SAME;
  else if (!strcmp(r->padding, "explicit")) c.padding = TCONV_PADDING_EXPLICIT;
  else c.padding = TCONV_PADDING_VALID;
  if (!strcmp(r->form, "keras")) {
    c.form = TCONV_FORM_KERAS;
    c.has_output_padding = r->v[C_OP_H] >= 0;
    c.output_padding[0] = r->v[C_OP_H];
    c.output_padding[1] = r->v[C_OP_H + 1];
  } else if (!strcmp(r->form, "tf_nn")) {
    c.form = TCONV_FORM_TF_NN;
    c.output_shape[0] = r->v[C_REQ_H];
    c.output_shape[1] = r->v[C_REQ_H + 1];
  } else {
    c.form = TCONV_FORM_CORE;
    c.adjust[0] = r->v[C_ADJ_H];
    c.adjust[1] = r->v[C_ADJ_H + 1];
  }
  if (c.form != TCONV_FORM_KERAS && r->v[C_PAD_T] >= 0)
    for (int i = 0; i < 4; i++) c.explicit_padding[i] = r->v[C_PAD_T + i];
  return c;
}

/* Runs every row of one form; returns the number of rows checked. */
static int check_form(const char *form) {
  FILE *f = open_table();
  CHECK_MSG(f != NULL, "cannot open shapes.tsv (set TCONV_GOLDEN_DIR or run from the repo root)");
  if (!f) return 0;
  char line[1024];
  int rows = 0, reported = 0;
  while (fgets(line, sizeof line, f)) {
    shape_row r;
    memset(&r, 0, sizeof r);
    if (!parse_row(line, &r) || strcmp(r.form, form)) continue;
    rows++;
    tconv_config c = row_config(&r);
    const size_t in[4] = {1, (size_t)r.v[C_IN_H], (size_t)r.v[C_IN_H + 1], 2};
    const size_t k[4] = {(size_t)r.v[C_K_H], (size_t)r.v[C_K_H + 1], 3, 2};
    tconv_geometry g;
    tconv_status st = tconv_geometry_compute(&c, in, k, &g);
    bool want_ok = !strcmp(r.status, "ok");
    bool ok = want_ok ? st == TCONV_OK && g.out_h == (size_t)r.v[C_OUT_H] &&
                            g.out_w == (size_t)r.v[C_OUT_H + 1] &&
                            g.pad_top == (size_t)r.v[C_G_PAD_T] &&
                            g.pad_bottom == (size_t)r.v[C_G_PAD_T + 1] &&
                            g.pad_left == (size_t)r.v[C_G_PAD_T + 2] &&
                            g.pad_right == (size_t)r.v[C_G_PAD_T + 3] &&
                            g.adjust_h == (size_t)r.v[C_G_ADJ_H] &&
                            g.adjust_w == (size_t)r.v[C_G_ADJ_H + 1]
                      : st != TCONV_OK;
    if (!ok && reported++ < 10)
      CHECK_MSG(ok,
                "%s/%s in %ldx%ld k %ldx%ld s %ld,%ld d %ld,%ld op %ld,%ld req %ld,%ld pads "
                "%ld,%ld,%ld,%ld adj %ld,%ld: want %s %ldx%ld pads %ld,%ld,%ld,%ld adj %ld,%ld; got "
                "%s %zux%zu pads %zu,%zu,%zu,%zu adj %zu,%zu (%s)",
                r.form, r.padding, r.v[2], r.v[3], r.v[4], r.v[5], r.v[6], r.v[7], r.v[8], r.v[9],
                r.v[10], r.v[11], r.v[12], r.v[13], r.v[14], r.v[15], r.v[16], r.v[17], r.v[18],
                r.v[19], r.status, r.v[21], r.v[22], r.v[23], r.v[24], r.v[25], r.v[26], r.v[27],
                r.v[28], tconv_status_string(st), st == TCONV_OK ? g.out_h : 0,
                st == TCONV_OK ? g.out_w : 0, st == TCONV_OK ? g.pad_top : 0,
                st == TCONV_OK ? g.pad_bottom : 0, st == TCONV_OK ? g.pad_left : 0,
                st == TCONV_OK ? g.pad_right : 0, st == TCONV_OK ? g.adjust_h : 0,
                st == TCONV_OK ? g.adjust_w : 0, st == TCONV_OK ? "" : tconv_last_error());
    else if (!ok)
      test_failed_checks++;
  }
  fclose(f);
  return rows;
}

TEST(shape_golden_keras) { CHECK(check_form("keras") > 700); }
TEST(shape_golden_tf_nn) { CHECK(check_form("tf_nn") > 2000); }
TEST(shape_golden_core) { CHECK(check_form("core") > 1000); }
