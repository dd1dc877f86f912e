/* Runtime dispatch.  The choice is process-wide (like BLIS_ARCH_TYPE): an atomic holding the
 * requested path, initialised once from the TCONV_KERNELS environment variable.  Plans pack
 * weights in a layout every path shares, so the path may change between runs of one plan. */
#include "plan/dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

/* indices 0-3 are the tconv_path values; "avx512" (4) runs as TCONV_PATH_AVX2 plus the AVX-512
 * forward GEMM kernel */
enum { PATH_AVX512 = 4 };
static const char *const path_names[] = {"auto", "avx2", "scalar", "reference", "avx512"};
static atomic_int requested = TCONV_PATH_AUTO;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

bool tconv_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool tconv_cpu_has_avx512(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return tconv_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

static int path_parse(const char *name) {
  for (int i = 0; i < (int)(sizeof path_names / sizeof path_names[0]); i++)
    if (strcasecmp(name, path_names[i]) == 0) return i;
  return -1;
}

/* An unknown or unsupported TCONV_KERNELS value is ignored ("auto"): the environment is not a
 * call that can return an error, and the library never prints. */
static void env_init(void) {
  const char *env = getenv("TCONV_KERNELS");
  if (env == NULL) return;
  int p = path_parse(env);
  if (p < 0 || (p == TCONV_PATH_AVX2 && !tconv_cpu_has_avx2_fma())) return;
  if (p == PATH_AVX512 && !tconv_cpu_has_avx512()) return;
  atomic_store(&requested, p);
}

tconv_status tconv_set_kernel_path(const char *name) {
  pthread_once(&env_once, env_init);
  RETURN_IF(name == NULL, TCONV_INVALID_ARGUMENT, "kernel path: name is NULL");
  int p = path_parse(name);
  RETURN_IF(p < 0, TCONV_INVALID_ARGUMENT,
            "kernel path '%.64s' is unknown (use auto, avx2, avx512, scalar or reference)", name);
  RETURN_IF(p == TCONV_PATH_AVX2 && !tconv_cpu_has_avx2_fma(), TCONV_UNSUPPORTED,
            "kernel path 'avx2': this CPU lacks AVX2+FMA");
  RETURN_IF(p == PATH_AVX512 && !tconv_cpu_has_avx512(), TCONV_UNSUPPORTED,
            "kernel path 'avx512': this CPU lacks AVX-512 F+VL (or AVX2+FMA)");
  atomic_store(&requested, p);
  return TCONV_OK;
}

const char *tconv_kernel_path(void) {
  pthread_once(&env_once, env_init);
  return path_names[atomic_load(&requested)];
}

tconv_path tconv_dispatch_path(void) {
  pthread_once(&env_once, env_init);
  int p = atomic_load(&requested);
  if (p == TCONV_PATH_AUTO) return tconv_cpu_has_avx2_fma() ? TCONV_PATH_AVX2 : TCONV_PATH_SCALAR;
  if (p == PATH_AVX512) return TCONV_PATH_AVX2;
  return (tconv_path)p;
}

bool tconv_dispatch_avx512(void) {
  pthread_once(&env_once, env_init);
  int p = atomic_load(&requested);
  return p == PATH_AVX512 || (p == TCONV_PATH_AUTO && tconv_cpu_has_avx512());
}
