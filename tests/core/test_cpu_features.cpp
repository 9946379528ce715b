// SPDX-License-Identifier: MIT
// The start-up CPU check's pure parts (include/salun/core/cpu_features.hpp): the feature table,
// the compiled-for mask, x86-64 levels, SALUN_CPU_DISABLE's parser and the message, on synthetic
// masks. The check itself (a constructor in a plain x86-64 TU) is exercised by the cli_cpu_check_*
// and isa_skip_check CTest tests.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <xsimd/xsimd.hpp>

#include <salun/core/cpu_features.hpp>

namespace cpu = salun::cpu;

namespace {
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("cpu features: the table and the x86-64 levels") {
  for (unsigned i = 0; i < cpu::feature_count; ++i) {
    CAPTURE(i);
    REQUIRE(cpu::kFeatures[i].name != nullptr);
    for (unsigned j = 0; j < i; ++j) CHECK(std::strcmp(cpu::kFeatures[i].name, cpu::kFeatures[j].name) != 0);
  }
  // x86-64-v2: CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3.
  CHECK(cpu::feature_names(cpu::level_features(2)) == "sse3 ssse3 sse4.1 sse4.2 popcnt cmpxchg16b lahf_lm");
  // x86-64-v3 adds AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, OSXSAVE.
  CHECK(cpu::feature_names(cpu::level_features(3) & ~cpu::level_features(2)) ==
        "avx avx2 bmi bmi2 f16c fma lzcnt movbe xsave");
  // x86-64-v4 adds AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL.
  CHECK(cpu::feature_names(cpu::level_features(4) & ~cpu::level_features(3)) ==
        "avx512f avx512bw avx512cd avx512dq avx512vl");
  CHECK(cpu::level_features(1) == 0);

  CHECK(cpu::level_of(0) == 1);
  CHECK(cpu::level_of(cpu::all_features()) == 4);
  for (int level = 1; level <= 4; ++level) CHECK(cpu::level_of(cpu::level_features(level)) == level);
  CHECK(cpu::level_of(cpu::level_features(4) & ~cpu::bit(cpu::avx512vl)) == 3);
  CHECK(cpu::level_of(cpu::level_features(3) & ~cpu::bit(cpu::movbe)) == 2);
  // A level needs every lower level: AVX2 alone is still baseline.
  CHECK(cpu::level_of(cpu::level_features(4) & ~cpu::bit(cpu::popcnt)) == 1);
}

TEST_CASE("cpu features: compiled_features follows the predefined macros") {
  constexpr cpu::feature_mask compiled = cpu::compiled_features();  // a constant expression
#if defined(__x86_64__)
#if defined(__SSE4_2__)
  CHECK((compiled & cpu::bit(cpu::sse4_2)) != 0);
#else
  CHECK((compiled & cpu::bit(cpu::sse4_2)) == 0);
#endif
#if defined(__AVX2__)
  CHECK((compiled & cpu::bit(cpu::avx2)) != 0);
#else
  CHECK((compiled & cpu::bit(cpu::avx2)) == 0);
#endif
#if defined(__FMA__)
  CHECK((compiled & cpu::bit(cpu::fma)) != 0);
#else
  CHECK((compiled & cpu::bit(cpu::fma)) == 0);
#endif
#if defined(__AVX512F__)
  CHECK((compiled & cpu::bit(cpu::avx512f)) != 0);
#else
  CHECK((compiled & cpu::bit(cpu::avx512f)) == 0);
#endif
#if defined(__AVX512BW__)
  CHECK((compiled & cpu::bit(cpu::avx512bw)) != 0);
#else
  CHECK((compiled & cpu::bit(cpu::avx512bw)) == 0);
#endif
  // What xsimd picked at compile time is covered by the mask.
  const std::string arch = xsimd::default_arch::name();
  if (arch == "avx512bw")
    CHECK((compiled & cpu::bit(cpu::avx512bw)) != 0);
  if (arch == "fma3+avx2" || arch == "avx2" || arch.rfind("avx512", 0) == 0)
    CHECK((compiled & cpu::bit(cpu::avx2)) != 0);
  if (arch == "sse2")
    CHECK((compiled & cpu::level_features(3)) == 0);
  // This executable passed the start-up check, so the CPU has all of it (unless told otherwise).
  if (std::getenv("SALUN_CPU_DISABLE") == nullptr) CHECK((compiled & ~cpu::detected_features()) == 0);
#else
  CHECK(compiled == 0);
  CHECK(cpu::detected_features() == cpu::all_features());
#endif
}

TEST_CASE("cpu features: parse_features (SALUN_CPU_DISABLE)") {
  CHECK(cpu::parse_features(nullptr).mask == 0);
  CHECK(cpu::parse_features("").mask == 0);
  CHECK(cpu::parse_features("").unknown == nullptr);

  auto p = cpu::parse_features("avx512f,avx2");
  CHECK(p.mask == (cpu::bit(cpu::avx512f) | cpu::bit(cpu::avx2)));
  CHECK(p.unknown == nullptr);

  p = cpu::parse_features(" sse4.2 , ,fma  lahf_lm,");
  CHECK(p.mask == (cpu::bit(cpu::sse4_2) | cpu::bit(cpu::fma) | cpu::bit(cpu::lahf_lm)));
  CHECK(p.unknown == nullptr);

  CHECK(cpu::parse_features("all").mask == cpu::all_features());
  // A level name leaves exactly the levels below it.
  CHECK(cpu::parse_features("x86-64-v4").mask == (cpu::all_features() & ~cpu::level_features(3)));
  CHECK(cpu::parse_features("x86-64-v2").mask == cpu::all_features());
  CHECK(cpu::level_of(cpu::level_features(4) & ~cpu::parse_features("x86-64-v3").mask) == 2);

  // Names match whole: prefixes and longer names are unknown; the first unknown one is reported.
  const char* list = "avx2,avx512,bogus,avx512fx";
  p = cpu::parse_features(list);
  CHECK(p.mask == cpu::bit(cpu::avx2));
  REQUIRE(p.unknown != nullptr);
  CHECK(std::string(p.unknown, p.unknown_length) == "avx512");
  CHECK(p.unknown == list + 5);
  CHECK(std::string(cpu::parse_features("AVX2").unknown, 4) == "AVX2");  // case-sensitive
}

TEST_CASE("cpu features: the message names what is missing, the levels and the fix") {
  const cpu::feature_mask v3 = cpu::level_features(3);
  const cpu::feature_mask v4 = cpu::level_features(4);

  // Nothing missing: no message, whatever the CPU has beyond.
  CHECK(cpu::missing_features_message(0, 0).empty());
  CHECK(cpu::missing_features_message(v3, v4).empty());
  CHECK(cpu::missing_features_message(v4 | cpu::bit(cpu::avx512vnni), cpu::all_features()).empty());

  // An AVX-512 build on an AVX2 machine.
  std::string m = cpu::missing_features_message(v4 | cpu::bit(cpu::avx512vnni), v3, "salun-demo");
  CHECK(contains(m, "salun-demo: this CPU lacks instruction sets the program was compiled for: "
                    "avx512f, avx512bw, avx512cd, avx512dq, avx512vl, avx512vnni.\n"));
  CHECK(contains(m, "compiled for x86-64-v4 + avx512vnni; this CPU is x86-64-v3 (missing x86-64-v4)."));
  CHECK(contains(m, "SIGILL"));
  CHECK(contains(m, "-DSALUN_NATIVE=OFF"));
  CHECK(contains(m, "rebuild it on this machine"));
  CHECK(m.back() == '\n');

  // A v3 build on a v2 machine without FMA only: one feature, two levels named.
  m = cpu::missing_features_message(v3, v3 & ~cpu::bit(cpu::fma), "t");
  CHECK(contains(m, "t: this CPU lacks instruction sets the program was compiled for: fma.\n"));
  CHECK(contains(m, "compiled for x86-64-v3; this CPU is x86-64-v2 (missing x86-64-v3)."));

  // A v4 build on a baseline machine: every level missing.
  m = cpu::missing_features_message(v4, 0);
  CHECK(contains(m, "this program: this CPU lacks"));
  CHECK(contains(m, "this CPU is x86-64 (missing x86-64-v2, x86-64-v3, x86-64-v4)"));

  // Extensions outside the levels only: the levels agree, the extension is named.
  m = cpu::missing_features_message(v3 | cpu::bit(cpu::avxvnni), v4, "p");
  CHECK(contains(m, "compiled for: avxvnni.\n"));
  CHECK(contains(m, "compiled for x86-64-v3 + avxvnni; this CPU is x86-64-v4."));
}

TEST_CASE("cpu features: format_missing_features into a fixed buffer") {
  const cpu::feature_mask v4 = cpu::level_features(4);
  const std::string full = cpu::missing_features_message(v4, 0, "p");
  REQUIRE(!full.empty());

  char small[32];
  std::memset(small, 'x', sizeof small);
  const std::size_t n = cpu::format_missing_features(v4, 0, "p", small, sizeof small);
  CHECK(n == full.size());  // the whole length, as snprintf
  CHECK(std::strlen(small) == sizeof small - 1);
  CHECK(std::string(small) == full.substr(0, sizeof small - 1));

  char big[2048];
  CHECK(cpu::format_missing_features(v4, 0, "p", big, sizeof big) == full.size());
  CHECK(std::string(big) == full);
  // Nothing missing: 0 and an empty string.
  CHECK(cpu::format_missing_features(v4, v4, "p", big, sizeof big) == 0);
  CHECK(big[0] == '\0');
  // The longest message (everything missing) fits the check's own 2048-byte buffer.
  CHECK(cpu::missing_features_message(cpu::all_features(), 0, "a-rather-long-program-name").size() < 2048);
}
