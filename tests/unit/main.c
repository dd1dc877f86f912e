/* Runs every registered test (or those whose name contains one of the NAME arguments) and prints
 * the totals.
 *
 *   unit-tests [NAME...]                     run the tests
 *   unit-tests --fail-alloc[=all|=N] [NAME...]
 *   unit-tests --fail-write[=all|=N] [NAME...]
 *
 * Fault-injection modes: each test first runs once counting the library's allocations (through
 * tconv_set_allocator) or its tconv_write_all calls; then it reruns with allocation (or write) k
 * failing, for every k — or, without "=all", for at most N spread-out k per test (default 48,
 * all of them when the test makes fewer), so the whole suite runs in minutes.  Each injected run
 * must not crash and must free every library block it allocated (live count back to zero); the
 * tests' own CHECK failures are expected there and ignored.  Each test runs in a child process
 * whose output is hidden unless it crashes.  Every test takes part, so every test must survive a
 * failing library call: it stops at its first failed set-up step (REQUIRE / REQUIRE_OK in test.h
 * jump to its `done:` cleanup) and frees what it made.  The only tests left out, in both modes,
 * are those that install their own allocator: they run their own per-call failure sweeps (or,
 * like kernels_memory_follows_the_tensors, measure the library's allocations). */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

#define MAX_TESTS 4096
static struct {
  const char *name, *file;
  test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
int test_failed_checks;

void test_register(const char *name, const char *file, test_fn fn) {
  if (n_tests < MAX_TESTS) {
    tests[n_tests].name = name;
    tests[n_tests].file = file;
    tests[n_tests].fn = fn;
    n_tests++;
  }
}

static bool selected(const char *name, char **filters, int n_filters) {
  if (n_filters == 0) return true;
  for (int i = 0; i < n_filters; i++)
    if (strstr(name, filters[i]) != NULL) return true;
  return false;
}

/* ---- fault injection ---------------------------------------------------------------------- */

/* Counting allocator: plain malloc/free (so blocks stay compatible with tests that switch to
 * their own malloc-based hooks), with atomic counters because pools allocate from workers. */
static atomic_long fa_calls, fa_live, fa_fail_at = -1;

static void *fa_malloc(size_t n, void *ctx) {
  (void)ctx;
  long k = atomic_fetch_add(&fa_calls, 1);
  if (k == atomic_load(&fa_fail_at)) return NULL;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&fa_live, 1);
  return p;
}
static void fa_free(void *p, void *ctx) {
  (void)ctx;
  if (p) atomic_fetch_sub(&fa_live, 1);
  free(p);
}

/* Shared with the parent, so it can say where a child crashed. */
typedef struct fault_progress {
  long total; /* allocations / writes in the clean run */
  long current; /* k being injected, -1 for the clean run */
  long points, leaks;
  long first_leak_k, first_leak_live;
  int own_allocator; /* the test installs its own allocator */
} fault_progress;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The i-th of `points` failure indexes spread over [0, total): all of the first few, then even
 * steps, always including the last. */
static long spread(long i, long points, long total) {
  if (points >= total) return i;
  long head = points / 4;
  if (i < head) return i;
  long rest = points - head;
  return head + (long)((double)(i - head) * (double)(total - 1 - head) / (double)(rest - 1 > 0 ? rest - 1 : 1));
}

/* Runs in the child: the clean run, then every chosen injected run. */
static void fault_child(int t, bool writes, long max_points, fault_progress *pr) {
  pr->current = -1;
  tconv_set_allocator(fa_malloc, fa_free, NULL);
  atomic_store(&fa_calls, 0);
  atomic_store(&fa_live, 0);
  atomic_store(&fa_fail_at, -1);
  atomic_store(&tconv_test_write_calls, 0);
  atomic_store(&tconv_test_write_fail_at, -1);
  double t0 = now_seconds();
  tests[t].fn();
  double clean_time = now_seconds() - t0;
  pr->total = writes ? atomic_load(&tconv_test_write_calls) : atomic_load(&fa_calls);
  /* Still our allocator?  A test that installed its own resets to malloc at its end. */
  long before = atomic_load(&fa_calls);
  tconv_dealloc(tconv_alloc(1));
  pr->own_allocator = atomic_load(&fa_calls) == before;
  /* Tests with their own allocator run their own failure sweeps (many saves each): rerunning
   * them per injected failure would multiply those sweeps, so both modes skip them. */
  if (pr->own_allocator) return;
  if (atomic_load(&fa_live) != 0) { /* a leak without any injected failure */
    pr->leaks++;
    pr->first_leak_k = -1;
    pr->first_leak_live = atomic_load(&fa_live);
  }
  long points = pr->total;
  if (max_points > 0 && points > max_points) {
    /* keep each test's injected runs within about 4 s */
    long afford = clean_time > 0 ? (long)(4.0 / clean_time) : max_points;
    points = afford < max_points ? (afford < 8 ? 8 : afford) : max_points;
    if (points > pr->total) points = pr->total;
  }
  for (long i = 0; i < points; i++) {
    long k = spread(i, points, pr->total);
    pr->current = k;
    tconv_set_allocator(fa_malloc, fa_free, NULL);
    atomic_store(&fa_calls, 0);
    atomic_store(&fa_live, 0);
    atomic_store(&tconv_test_write_calls, 0);
    if (writes) atomic_store(&tconv_test_write_fail_at, k);
    else atomic_store(&fa_fail_at, k);
    test_failed_checks = 0;
    tests[t].fn();
    atomic_store(&fa_fail_at, -1);
    atomic_store(&tconv_test_write_fail_at, -1);
    pr->points++;
    long live = atomic_load(&fa_live);
    if (live != 0) {
      if (pr->leaks++ == 0) {
        pr->first_leak_k = k;
        pr->first_leak_live = live;
      }
    }
  }
  tconv_set_allocator(NULL, NULL, NULL);
}

static void print_tail(const char *path, int lines) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  static char ring[64][512];
  int n = 0;
  while (fgets(ring[n % 64], sizeof ring[0], f)) n++;
  fclose(f);
  int start = n > lines ? n - lines : 0;
  for (int i = start; i < n; i++) fprintf(stderr, "    | %s", ring[i % 64]);
}

static int fault_main(bool writes, long max_points, char **filters, int n_filters) {
  const char *mode = writes ? "fail-write" : "fail-alloc";
  int passed = 0, failed = 0, skipped = 0;
  long total_points = 0, total_sites = 0;
  fault_progress *pr = mmap(NULL, sizeof *pr, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                            -1, 0);
  if (pr == MAP_FAILED) return 2;
  char logpath[] = "/tmp/tconv-fault-XXXXXX";
  int logfd = mkstemp(logpath);
  if (logfd < 0) return 2;
  fflush(stdout);
  for (int t = 0; t < n_tests; t++) {
    if (!selected(tests[t].name, filters, n_filters)) continue;
    memset(pr, 0, sizeof *pr);
    if (ftruncate(logfd, 0) != 0) return 2;
    lseek(logfd, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      dup2(logfd, 1);
      dup2(logfd, 2);
      fault_child(t, writes, max_points, pr);
      fflush(stdout);
      fflush(stderr);
      _exit(0); /* no atexit leak report: injected runs leave the tests' own buffers */
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    bool crashed = !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
    if (crashed) {
      failed++;
      printf("FAIL %s (%s): %s %s at k = %ld of %ld\n", tests[t].name, tests[t].file,
             WIFSIGNALED(ws) ? "killed by" : "exit", WIFSIGNALED(ws) ? strsignal(WTERMSIG(ws)) : "",
             pr->current, pr->total);
      fflush(stdout);
      print_tail(logpath, 40);
    } else if (pr->own_allocator) {
      skipped++;
      if (getenv("TEST_VERBOSE")) printf("skip %s: installs its own allocator\n", tests[t].name);
    } else if (pr->leaks > 0) {
      failed++;
      printf("FAIL %s (%s): %ld leaking run(s); first with %s %ld failing: %ld live blocks\n",
             tests[t].name, tests[t].file, pr->leaks, writes ? "write" : "allocation",
             pr->first_leak_k, pr->first_leak_live);
    } else {
      passed++;
      if (getenv("TEST_VERBOSE"))
        printf("ok   %s: %ld of %ld injected\n", tests[t].name, pr->points, pr->total);
    }
    total_points += pr->points;
    total_sites += pr->total;
    fflush(stdout);
  }
  close(logfd);
  unlink(logpath);
  printf("%s: %ld injected runs over %ld %s; skipped: %d with their own allocator\n", mode,
         total_points, total_sites, writes ? "writes" : "allocations", skipped);
  printf("%s: %d passed, %d failed\n", mode, passed, failed);
  return failed ? 1 : 0;
}

int main(int argc, char **argv) {
  char **filters = argv + 1;
  int n_filters = argc - 1;
  if (argc > 1 && (strncmp(argv[1], "--fail-alloc", 12) == 0 ||
                   strncmp(argv[1], "--fail-write", 12) == 0)) {
    bool writes = argv[1][7] == 'w';
    const char *eq = strchr(argv[1], '=');
    long max_points = eq == NULL ? 48 : strcmp(eq + 1, "all") == 0 ? 0 : atol(eq + 1);
    return fault_main(writes, max_points, argv + 2, argc - 2);
  }
  int passed = 0, failed = 0;
  for (int i = 0; i < n_tests; i++) {
    if (!selected(tests[i].name, filters, n_filters)) continue;
    test_failed_checks = 0;
    tests[i].fn();
    if (test_failed_checks == 0) {
      passed++;
      if (getenv("TEST_VERBOSE")) printf("ok   %s\n", tests[i].name);
    } else {
      failed++;
      printf("FAIL %s (%s): %d failed checks\n", tests[i].name, tests[i].file, test_failed_checks);
    }
  }
  printf("unit: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
