/* tconv convert IN OUT [--keras-names]: any readable weight file -> .npz or .safetensors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_convert(int argc, char **argv);

static const char *convert_help =
    "usage: tconv convert IN OUT [--keras-names]\n"
    "Reads IN (any format tconv inspect reads) and writes its float tensors to OUT, as .npz or\n"
    ".safetensors by OUT's extension (float32; written atomically).  Non-float tensors (step\n"
    "counters, strings) are skipped.  --keras-names names each tensor by its recovered Keras\n"
    "name (\"conv2d_transpose/kernel\") instead of the stored key where one was recovered.\n";

int cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  bool keras_names = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(convert_help, stdout);
      return 0;
    } else if (!strcmp(a, "--keras-names")) {
      keras_names = true;
    } else if (a[0] == '-' && a[1] != 0) {
      return cli_fail("convert: unknown flag '%s' (see tconv convert --help)", a), 2;
    } else if (!in) {
      in = a;
    } else if (!out) {
      out = a;
    } else {
      return cli_fail("convert: too many arguments"), 2;
    }
  }
  if (!in || !out) return cli_fail("convert: needs IN and OUT (see tconv convert --help)"), 2;
  size_t n = strlen(out);
  if (!((n > 4 && !strcmp(out + n - 4, ".npz")) || (n > 12 && !strcmp(out + n - 12, ".safetensors"))))
    return cli_fail("convert: OUT must end in .npz or .safetensors"), 2;
  tconv_weights w;
  tconv_status st = tconv_weights_load(in, &w);
  if (st != TCONV_OK) return cli_fail_status(st, "convert");
  if (keras_names) {
    /* Swap names and aliases in place; a clash of two aliases would make a duplicate name. */
    for (size_t i = 0; i < w.count; i++) {
      if (!w.items[i].alias) continue;
      for (size_t j = 0; j < w.count; j++) {
        if (j != i && !strcmp(w.items[j].name, w.items[i].alias)) {
          /* Report before freeing: the alias lives in w. */
          cli_fail("convert: --keras-names: '%s' would name two tensors", w.items[i].alias);
          tconv_weights_free(&w);
          return 1;
        }
      }
      char *tmp = w.items[i].name;
      w.items[i].name = w.items[i].alias;
      w.items[i].alias = tmp;
    }
  }
  size_t written = 0;
  for (size_t i = 0; i < w.count; i++) written += w.items[i].value.data != NULL;
  st = tconv_weights_save(out, &w);
  if (st != TCONV_OK) {
    tconv_weights_free(&w);
    return cli_fail_status(st, "convert");
  }
  fprintf(stderr, "tconv: wrote %zu of %zu tensors from %s (%s) to %s\n", written, w.count, in,
          w.format ? w.format : "?", out);
  tconv_weights_free(&w);
  return 0;
}
