/* Shared pieces of the tconv command-line tool. */
#ifndef TCONV_CLI_H
#define TCONV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tconv.h"

/* One subcommand: returns the process exit status (0 ok, 1 error, 2 usage). */
typedef struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
  const char *summary;
  const char *help; /* full --help text (also the source of the man page) */
} cli_command;

/* Prints "tconv: <message>" on stderr (one line) and returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with the library's last error appended: "tconv: <what>: <tconv_last_error()>". */
int cli_fail_status(tconv_status st, const char *what);

/* Parses "a,b,c" into at most max int64 values; returns the count or -1 with a message. */
int cli_parse_ints(const char *text, int64_t *out, int max, const char *flag);
/* Parses a whole non-negative int64; false (and a message) otherwise. */
bool cli_parse_int(const char *text, int64_t *out, const char *flag);

/* The layer flags shared by apply, shape and grad (see `tconv apply --help`).  cli_layer_flag
 * consumes argv[*i] (and its value) when it is a layer flag: 1 consumed, 0 not a layer flag,
 * -1 error (message printed).  cli_layer_finish completes the config after all flags. */
typedef struct cli_layer_flags {
  tconv_config cfg;
  bool have_strides, have_padding, have_output_shape, have_explicit, have_pads, have_adjust;
  bool have_groups, have_output_padding, have_dilation, have_filters;
  int64_t strides4[4], dilation4[4]; /* raw values as given */
  int n_strides, n_dilation, n_output_shape;
  int64_t output_shape_raw[4];
  int64_t explicit_raw[8];
  int n_explicit;
  const char *padding_text;
  const char *from; /* "tf" (default), "torch", "onnx" */
  const char *auto_pad; /* onnx: NOTSET, SAME_UPPER, SAME_LOWER, VALID */
} cli_layer_flags;
void cli_layer_init(cli_layer_flags *f);
int cli_layer_flag(cli_layer_flags *f, int argc, char **argv, int *i);
/* Resolves the flags into f->cfg for a given input shape (needed for ONNX auto_pad/output_shape
 * and 4-value output shapes).  Returns 0 or prints an error and returns 1. */
int cli_layer_finish(cli_layer_flags *f, const size_t input_shape[4]);
extern const char *cli_layer_help;
/* Loads the .npy files of a layer run (--input, --kernel, optional --bias: b_path may be NULL),
 * completes the config from the kernel's shape (kernel_size, filters = kernel[2] * groups,
 * use_bias), resolves the flags and computes the geometry.  Returns 0, or prints one error line
 * and returns 1; the caller frees the tensors in both cases. */
int cli_layer_load(cli_layer_flags *f, const char *in_path, const char *k_path,
                   const char *b_path, tconv_tensor *x, tconv_tensor *k, tconv_tensor *b,
                   tconv_geometry *g);

/* Every subcommand. */
int cmd_apply(int argc, char **argv);
int cmd_shape(int argc, char **argv);
extern const cli_command cli_commands[];
extern const size_t cli_command_count;

#endif
