// SPDX-License-Identifier: MIT
// The one translation unit that holds doctest's runner; every test executable links it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

// isa_banner.cpp, compiled with each test executable's own -march flags.
void salun_test_print_isa_banner(std::FILE* out);

int main(int argc, char** argv) {
  // A machine-readable reporter (-r=xml, --reporters=junit) owns stdout: the banner goes to stderr.
  bool to_stderr = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    while (*a == '-') ++a;
    if (std::strncmp(a, "dt-", 3) == 0) a += 3;
    if (std::strncmp(a, "r=", 2) == 0 || std::strncmp(a, "reporters=", 10) == 0) to_stderr = true;
  }
  salun_test_print_isa_banner(to_stderr ? stderr : stdout);
  return doctest::Context(argc, argv).run();
}
