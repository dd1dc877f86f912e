/* tconv inspect FILE [--json] [--first N] [--names-only]: the tensors of any weight file, like
 * TF's inspect_checkpoint.  (tconv convert, which rewrites one as .npz/.safetensors, is in
 * cmd_convert.c.) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_inspect(int argc, char **argv);

static const char *inspect_help =
    "usage: tconv inspect FILE [--json] [--first N] [--names-only]\n"
    "Lists every tensor of a weight file: name, recovered Keras name, dtype, shape, the float64\n"
    "sum of its values and its first N (default 6) values in row-major order.\n"
    "FILE: .npy, .npz, .safetensors, Keras .h5/.weights.h5/.keras, or a TF checkpoint (PREFIX,\n"
    "PREFIX.index, or a directory with a `checkpoint` file).  A TF checkpoint whose data shards\n"
    "are missing is still listed (values null).  --names-only reads no tensor data at all.\n"
    "JSON: {\"format\": F, \"tensors\": [{\"name\", \"keras_name\" (when recovered), \"dtype\",\n"
    "\"shape\", \"sum\" (null without float values), \"first\"}]}\n";

static void json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void json_number(double v, int digits) {
  if (isfinite(v)) printf("%.*g", digits, v);
  else printf("null");
}

int cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  bool json = false, names_only = false;
  int64_t first = 6;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(inspect_help, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = true;
    } else if (!strcmp(a, "--names-only")) {
      names_only = true;
    } else if (!strcmp(a, "--first")) {
      if (!cli_parse_int(i + 1 < argc ? argv[i + 1] : NULL, &first, a)) return 2;
      i++;
    } else if (a[0] == '-' && a[1] != 0) {
      return cli_fail("inspect: unknown flag '%s' (see tconv inspect --help)", a), 2;
    } else if (path) {
      return cli_fail("inspect: one FILE only"), 2;
    } else {
      path = a;
    }
  }
  if (path == NULL) return cli_fail("inspect: missing FILE (see tconv inspect --help)"), 2;
  tconv_weights w;
  unsigned flags = names_only ? TCONV_LOAD_NO_DATA : TCONV_LOAD_ALLOW_MISSING_DATA;
  tconv_status st = tconv_weights_load_ex(path, flags, &w);
  if (st != TCONV_OK) return cli_fail_status(st, "inspect");
  if (json) printf("{\"format\": \"%s\", \"tensors\": [", w.format ? w.format : "unknown");
  for (size_t i = 0; i < w.count; i++) {
    const tconv_named_tensor *t = &w.items[i];
    size_t n = tconv_tensor_numel(&t->value);
    double sum = 0;
    if (t->value.data)
      for (size_t k = 0; k < n; k++) sum += t->value.data[k];
    size_t shown = t->value.data ? (n < (size_t)first ? n : (size_t)first) : 0;
    if (json) {
      printf("%s\n  {\"name\": ", i ? "," : "");
      json_string(t->name);
      if (t->alias) {
        printf(", \"keras_name\": ");
        json_string(t->alias);
      }
      printf(", \"dtype\": \"%s\", \"shape\": [", tconv_dtype_name(t->dtype));
      for (size_t d = 0; d < t->value.rank; d++) printf("%s%zu", d ? ", " : "", t->value.shape[d]);
      printf("], \"sum\": ");
      if (t->value.data) json_number(sum, 17);
      else printf("null");
      printf(", \"first\": [");
      for (size_t k = 0; k < shown; k++) {
        if (k) printf(", ");
        json_number(t->value.data[k], 9);
      }
      printf("]}");
    } else {
      printf("tensor_name: %s%s%s%s\n", t->name, t->alias ? "  (keras: " : "",
             t->alias ? t->alias : "", t->alias ? ")" : "");
      printf("  %s [", tconv_dtype_name(t->dtype));
      for (size_t d = 0; d < t->value.rank; d++) printf("%s%zu", d ? ", " : "", t->value.shape[d]);
      if (t->value.data) {
        printf("]  sum=%.17g  first=[", sum);
        for (size_t k = 0; k < shown; k++) printf("%s%.9g", k ? ", " : "", t->value.data[k]);
        printf("%s]\n", shown < n ? ", ..." : "");
      } else {
        printf("]  (no float values)\n");
      }
    }
  }
  if (json) printf("\n]}\n");
  else printf("%zu tensors (%s)\n", w.count, w.format ? w.format : "unknown");
  tconv_weights_free(&w);
  return 0;
}
