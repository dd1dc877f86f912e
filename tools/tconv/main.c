/* tconv — the command-line tool: one subcommand per file (tools/tconv/cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_bench(int, char **);
int cmd_inspect(int, char **);
int cmd_convert(int, char **);
int cmd_upsample(int, char **);
int cmd_mnist(int, char **);
int cmd_grad(int, char **);
const cli_command cli_commands[] = {
    /* Keep one line per subcommand, in the order `tconv --help` lists them. */
    {"apply", cmd_apply, "run one Conv2DTranspose layer on .npy input", NULL},
    {"shape", cmd_shape, "validate a configuration; print output shape and core form", NULL},
    {"bench", cmd_bench, "time the forward pass on a shape suite (bench/shapes.txt)", NULL},
    {"inspect", cmd_inspect, "list the tensors of a weight file (TF checkpoint, Keras, npz, ...)", NULL},
    {"convert", cmd_convert, "convert a weight file to .npz or .safetensors", NULL},
    {"upsample", cmd_upsample, "upscale a PNG/JPEG with a learned Conv2DTranspose (seed use 2)", NULL},
    {"mnist", cmd_mnist, "train / show / eval the MNIST 2x super-resolution model (seed use 3)", NULL},
    {"grad", cmd_grad, "backward pass on .npy files: dx, dkernel, dbias", NULL},
    /* @@COMMANDS@@ */
};
const size_t cli_command_count = sizeof cli_commands / sizeof cli_commands[0];

static void usage(FILE *out) {
  fprintf(out, "usage: tconv COMMAND [ARGS]   (tconv COMMAND --help for its flags)\n\n");
  for (size_t i = 0; i < cli_command_count; i++)
    fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
  fprintf(out, "\ntconv %s — TensorFlow's Conv2DTranspose in C\n", tconv_version());
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("tconv %s\n", tconv_version());
    return 0;
  }
  for (size_t i = 0; i < cli_command_count; i++)
    if (!strcmp(argv[1], cli_commands[i].name)) return cli_commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "tconv: unknown command '%s' (try tconv --help)\n", argv[1]);
  return 2;
}
