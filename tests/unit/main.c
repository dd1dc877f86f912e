/* Runs every registered test (or those whose name contains argv[1]) and prints the totals. */
#include <stdlib.h>

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

int main(int argc, char **argv) {
  int passed = 0, failed = 0;
  for (int i = 0; i < n_tests; i++) {
    if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) continue;
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
