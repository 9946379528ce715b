// SPDX-License-Identifier: MIT
#pragma once
// Start-up CPU check: a program compiled with -march=native (or -march=x86-64-v3, ...) and moved
// to an older CPU dies with SIGILL at the first vector instruction, often inside a static
// initialiser, before main() can say anything. This header lets a program notice that first:
//
//  * compiled_features(): the instruction-set extensions the *current translation unit* is
//    compiled for, from the compiler's predefined macros (__AVX2__, __AVX512F__, ...). A constant
//    expression: stored in a constant-initialised variable it runs no instruction at all.
//  * detected_features(): what this CPU (and OS) supports, via __builtin_cpu_supports.
//  * missing_features_message(compiled, detected, program): the pure comparison and message,
//    testable with synthetic masks.
//  * SALUN_CPU_CHECK_COMPILED_FOR() and SALUN_CPU_CHECK_AT_STARTUP(exit_code): the two halves
//    of the check (see "Using the check in your own program" in docs/architecture.md).
//
// Only x86-64 with GCC or Clang is checked; elsewhere the masks are empty and the check passes.
//
// Every function here has internal linkage (static) on purpose. The check runs in a translation
// unit compiled for baseline x86-64 while the rest of the program is compiled with -march=native;
// an inline function with external linkage is emitted in every TU that uses it and the linker
// keeps one arbitrary copy, possibly an AVX-512 one, which would then run in the check itself.
// For the same reason the check path calls nothing from the C++ standard library (std::string
// and friends are inline templates too): only plain loops and the C library.
//
// The list covers every extension GCC may use on its own when generating code (vectorisation,
// builtins such as popcount/clz, byte swaps, prefetchw, 16-byte atomics, _Float16) plus those
// that define the x86-64 micro-architecture levels. Extensions only reachable through their own
// intrinsics (AES, VAES, PCLMUL, VPCLMULQDQ, SHA, ADX, RDRND, RDSEED, SSE4A, CLWB, ...) are left
// out: salun never calls them, and listing them would refuse to run on CPUs where the program
// works (e.g. an AMD build, which has SSE4A, on an Intel machine).

#include <cstddef>
#include <cstdint>
#include <string>

namespace salun::cpu {

using feature_mask = std::uint64_t;

/// Feature indices; bit i of a feature_mask is feature i.
enum feature_id : unsigned {
  // x86-64-v2
  sse3, ssse3, sse4_1, sse4_2, popcnt, cmpxchg16b, lahf_lm,
  // x86-64-v3
  avx, avx2, bmi, bmi2, f16c, fma, lzcnt, movbe, xsave,
  // x86-64-v4
  avx512f, avx512bw, avx512cd, avx512dq, avx512vl,
  // beyond the levels, still used by GCC's code generation
  avx512vnni, avx512vbmi, avx512vbmi2, avx512ifma, avx512bitalg, avx512vpopcntdq, avx512bf16,
  avx512fp16, avxvnni, gfni, fma4, xop, prfchw,
  feature_count
};

struct feature_info {
  const char* name;  ///< as __builtin_cpu_supports and GCC's -m options spell it
  int level;         ///< the x86-64 level (2, 3, 4) whose definition includes it; 0: none
};

/// Indexed by feature_id. Names are what SALUN_CPU_DISABLE accepts.
inline constexpr feature_info kFeatures[feature_count] = {
    {"sse3", 2},         {"ssse3", 2},        {"sse4.1", 2},          {"sse4.2", 2},
    {"popcnt", 2},       {"cmpxchg16b", 2},   {"lahf_lm", 2},         {"avx", 3},
    {"avx2", 3},         {"bmi", 3},          {"bmi2", 3},            {"f16c", 3},
    {"fma", 3},          {"lzcnt", 3},        {"movbe", 3},           {"xsave", 3},
    {"avx512f", 4},      {"avx512bw", 4},     {"avx512cd", 4},        {"avx512dq", 4},
    {"avx512vl", 4},     {"avx512vnni", 0},   {"avx512vbmi", 0},      {"avx512vbmi2", 0},
    {"avx512ifma", 0},   {"avx512bitalg", 0}, {"avx512vpopcntdq", 0}, {"avx512bf16", 0},
    {"avx512fp16", 0},   {"avxvnni", 0},      {"gfni", 0},            {"fma4", 0},
    {"xop", 0},          {"prfchw", 0},
};

static constexpr feature_mask bit(feature_id f) noexcept { return feature_mask{1} << f; }

/// Every feature the levels up to and including x86-64-v`level` require (level 1: baseline).
static constexpr feature_mask level_features(int level) noexcept {
  feature_mask m = 0;
  for (unsigned i = 0; i < feature_count; ++i)
    if (kFeatures[i].level != 0 && kFeatures[i].level <= level) m |= feature_mask{1} << i;
  return m;
}

/// Every feature in the list.
static constexpr feature_mask all_features() noexcept {
  return feature_count == 64 ? ~feature_mask{0} : (feature_mask{1} << feature_count) - 1;
}

/// The highest x86-64 level (1..4) whose features are all in `m`; 1 is plain x86-64.
static constexpr int level_of(feature_mask m) noexcept {
  int level = 1;
  while (level < 4 && (level_features(level + 1) & ~m) == 0) ++level;
  return level;
}

/// The extensions the translation unit that evaluates this is compiled for (a constant).
static constexpr feature_mask compiled_features() noexcept {
  feature_mask m = 0;
#if defined(__x86_64__)
#if defined(__SSE3__)
  m |= bit(sse3);
#endif
#if defined(__SSSE3__)
  m |= bit(ssse3);
#endif
#if defined(__SSE4_1__)
  m |= bit(sse4_1);
#endif
#if defined(__SSE4_2__)
  m |= bit(sse4_2);
#endif
#if defined(__POPCNT__)
  m |= bit(popcnt);
#endif
#if defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
  m |= bit(cmpxchg16b);
#endif
#if defined(__LAHF_SAHF__)
  m |= bit(lahf_lm);
#endif
#if defined(__AVX__)
  m |= bit(avx);
#endif
#if defined(__AVX2__)
  m |= bit(avx2);
#endif
#if defined(__BMI__)
  m |= bit(bmi);
#endif
#if defined(__BMI2__)
  m |= bit(bmi2);
#endif
#if defined(__F16C__)
  m |= bit(f16c);
#endif
#if defined(__FMA__)
  m |= bit(fma);
#endif
#if defined(__LZCNT__)
  m |= bit(lzcnt);
#endif
#if defined(__MOVBE__)
  m |= bit(movbe);
#endif
#if defined(__XSAVE__)
  m |= bit(xsave);
#endif
#if defined(__AVX512F__)
  m |= bit(avx512f);
#endif
#if defined(__AVX512BW__)
  m |= bit(avx512bw);
#endif
#if defined(__AVX512CD__)
  m |= bit(avx512cd);
#endif
#if defined(__AVX512DQ__)
  m |= bit(avx512dq);
#endif
#if defined(__AVX512VL__)
  m |= bit(avx512vl);
#endif
#if defined(__AVX512VNNI__)
  m |= bit(avx512vnni);
#endif
#if defined(__AVX512VBMI__)
  m |= bit(avx512vbmi);
#endif
#if defined(__AVX512VBMI2__)
  m |= bit(avx512vbmi2);
#endif
#if defined(__AVX512IFMA__)
  m |= bit(avx512ifma);
#endif
#if defined(__AVX512BITALG__)
  m |= bit(avx512bitalg);
#endif
#if defined(__AVX512VPOPCNTDQ__)
  m |= bit(avx512vpopcntdq);
#endif
#if defined(__AVX512BF16__)
  m |= bit(avx512bf16);
#endif
#if defined(__AVX512FP16__)
  m |= bit(avx512fp16);
#endif
#if defined(__AVXVNNI__)
  m |= bit(avxvnni);
#endif
#if defined(__GFNI__)
  m |= bit(gfni);
#endif
#if defined(__FMA4__)
  m |= bit(fma4);
#endif
#if defined(__XOP__)
  m |= bit(xop);
#endif
#if defined(__PRFCHW__)
  m |= bit(prfchw);
#endif
#endif  // __x86_64__
  return m;
}

/// What this CPU and OS support (AVX and AVX-512 only when the OS saves their registers). On
/// other architectures or compilers: all_features(), i.e. nothing is ever reported missing.
/// Call it only from code compiled for baseline x86-64 when the point is to check the CPU.
[[maybe_unused]] static feature_mask detected_features() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  feature_mask m = 0;
#define SALUN_CPU_DETECT_(f, name) \
  if (__builtin_cpu_supports(name)) m |= bit(f);
#if defined(__clang__)
  // Clang (at least up to 14) rejects these names at compile time: assumed present. All of them
  // come with the levels' main features (AVX2, AVX-512F), which are checked.
#define SALUN_CPU_DETECT_GCC_(f, name) m |= bit(f);
#else
#define SALUN_CPU_DETECT_GCC_(f, name) SALUN_CPU_DETECT_(f, name)
#endif
  SALUN_CPU_DETECT_(sse3, "sse3")
  SALUN_CPU_DETECT_(ssse3, "ssse3")
  SALUN_CPU_DETECT_(sse4_1, "sse4.1")
  SALUN_CPU_DETECT_(sse4_2, "sse4.2")
  SALUN_CPU_DETECT_(popcnt, "popcnt")
  SALUN_CPU_DETECT_GCC_(cmpxchg16b, "cmpxchg16b")
  SALUN_CPU_DETECT_GCC_(lahf_lm, "lahf_lm")
  SALUN_CPU_DETECT_(avx, "avx")
  SALUN_CPU_DETECT_(avx2, "avx2")
  SALUN_CPU_DETECT_(bmi, "bmi")
  SALUN_CPU_DETECT_(bmi2, "bmi2")
  SALUN_CPU_DETECT_GCC_(f16c, "f16c")
  SALUN_CPU_DETECT_(fma, "fma")
  SALUN_CPU_DETECT_GCC_(lzcnt, "lzcnt")
  SALUN_CPU_DETECT_GCC_(movbe, "movbe")
  SALUN_CPU_DETECT_GCC_(xsave, "xsave")
  SALUN_CPU_DETECT_(avx512f, "avx512f")
  SALUN_CPU_DETECT_(avx512bw, "avx512bw")
  SALUN_CPU_DETECT_(avx512cd, "avx512cd")
  SALUN_CPU_DETECT_(avx512dq, "avx512dq")
  SALUN_CPU_DETECT_(avx512vl, "avx512vl")
  SALUN_CPU_DETECT_(avx512vnni, "avx512vnni")
  SALUN_CPU_DETECT_(avx512vbmi, "avx512vbmi")
  SALUN_CPU_DETECT_(avx512vbmi2, "avx512vbmi2")
  SALUN_CPU_DETECT_(avx512ifma, "avx512ifma")
  SALUN_CPU_DETECT_(avx512bitalg, "avx512bitalg")
  SALUN_CPU_DETECT_(avx512vpopcntdq, "avx512vpopcntdq")
  SALUN_CPU_DETECT_(avx512bf16, "avx512bf16")
  SALUN_CPU_DETECT_GCC_(avx512fp16, "avx512fp16")
  SALUN_CPU_DETECT_GCC_(avxvnni, "avxvnni")
  SALUN_CPU_DETECT_(gfni, "gfni")
  SALUN_CPU_DETECT_(fma4, "fma4")
  SALUN_CPU_DETECT_(xop, "xop")
  SALUN_CPU_DETECT_GCC_(prfchw, "prfchw")
#undef SALUN_CPU_DETECT_GCC_
#undef SALUN_CPU_DETECT_
  return m;
#else
  return all_features();
#endif
}

// Types with member functions (even implicit ones) live in an unnamed namespace, for the
// internal-linkage reason given at the top.
namespace {
/// Result of parse_features: the named features and the first name not understood.
struct parsed_features {
  feature_mask mask = 0;
  const char* unknown = nullptr;  ///< points into the parsed string; nullptr if all were known
  std::size_t unknown_length = 0;
};
}  // namespace

/// Parses a list such as "avx512f,avx2" (separated by commas or spaces; case-sensitive, GCC's
/// names as in kFeatures). "all" is every feature; "x86-64-v2".."x86-64-v4" is every feature a
/// CPU of the level below lacks (what the level adds and everything beyond the levels), so
/// SALUN_CPU_DISABLE=x86-64-v4 makes an AVX-512 machine look like a plain x86-64-v3 one.
[[maybe_unused]] static parsed_features parse_features(const char* list) noexcept {
  parsed_features out;
  if (list == nullptr) return out;
  const auto equals = [](const char* s, std::size_t n, const char* name) noexcept {
    std::size_t i = 0;
    for (; i < n; ++i)
      if (name[i] == '\0' || name[i] != s[i]) return false;
    return name[i] == '\0';
  };
  const char* p = list;
  while (*p != '\0') {
    while (*p == ',' || *p == ' ') ++p;
    const char* start = p;
    while (*p != '\0' && *p != ',' && *p != ' ') ++p;
    const std::size_t n = static_cast<std::size_t>(p - start);
    if (n == 0) continue;
    bool known = false;
    if (equals(start, n, "all")) {
      out.mask |= all_features();
      known = true;
    }
    for (int level = 2; level <= 4 && !known; ++level) {
      const char names[3][10] = {"x86-64-v2", "x86-64-v3", "x86-64-v4"};
      if (equals(start, n, names[level - 2])) {
        out.mask |= all_features() & ~level_features(level - 1);
        known = true;
      }
    }
    for (unsigned i = 0; i < feature_count && !known; ++i) {
      if (equals(start, n, kFeatures[i].name)) {
        out.mask |= feature_mask{1} << i;
        known = true;
      }
    }
    if (!known && out.unknown == nullptr) {
      out.unknown = start;
      out.unknown_length = n;
    }
  }
  return out;
}

namespace detail {
namespace {
/// Appends to a fixed buffer, always NUL-terminated, counting what did not fit.
struct text_buffer {
  char* data;
  std::size_t size;
  std::size_t length = 0;  ///< length of the full text, even past `size`
  void append(const char* s, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i, ++length)
      if (length + 1 < size) data[length] = s[i];
    if (size > 0) data[length + 1 < size ? length : size - 1] = '\0';
  }
  void append(const char* s) noexcept {
    std::size_t n = 0;
    while (s[n] != '\0') ++n;
    append(s, n);
  }
  void append_level(int level) noexcept {
    if (level <= 1) {
      append("x86-64");
    } else {
      const char name[] = {'x', '8', '6', '-', '6', '4', '-', 'v', static_cast<char>('0' + level)};
      append(name, sizeof name);
    }
  }
  /// "avx512f, avx512bw" for the features in `m`, in list order.
  void append_list(feature_mask m) noexcept {
    bool first = true;
    for (unsigned i = 0; i < feature_count; ++i) {
      if ((m >> i & 1) == 0) continue;
      if (!first) append(", ");
      append(kFeatures[i].name);
      first = false;
    }
  }
};
}  // namespace
}  // namespace detail

/// The message for a program compiled for `compiled` on a CPU with `detected`, written into
/// `buffer` (NUL-terminated, truncated to `size`). Returns the length of the whole message, 0
/// when nothing is missing (the program can run). Pure: no I/O, no allocation.
[[maybe_unused]] static std::size_t format_missing_features(feature_mask compiled, feature_mask detected,
                                                            const char* program, char* buffer,
                                                            std::size_t size) noexcept {
  detail::text_buffer out{buffer, size};
  if (size > 0) buffer[0] = '\0';
  const feature_mask missing = compiled & ~detected;
  if (missing == 0) return 0;
  const char* name = program != nullptr && program[0] != '\0' ? program : "this program";
  const int compiled_level = level_of(compiled);
  const int cpu_level = level_of(detected);
  out.append(name);
  out.append(": this CPU lacks instruction sets the program was compiled for: ");
  out.append_list(missing);
  out.append(".\n");
  out.append(name);
  out.append(": compiled for ");
  out.append_level(compiled_level);
  const feature_mask extra = compiled & ~level_features(compiled_level);
  if (extra != 0) {
    out.append(" + ");
    out.append_list(extra);
  }
  out.append("; this CPU is ");
  out.append_level(cpu_level);
  if (cpu_level < compiled_level) {
    out.append(" (missing ");
    for (int level = cpu_level + 1; level <= compiled_level; ++level) {
      if (level > cpu_level + 1) out.append(", ");
      out.append_level(level);
    }
    out.append(")");
  }
  out.append(". It would crash with SIGILL (illegal instruction).\n");
  out.append(name);
  out.append(": fix: rebuild it on this machine, or for any x86-64 CPU: salun's CMake option "
             "-DSALUN_NATIVE=OFF (elsewhere: without -march=native).\n");
  return out.length;
}

/// format_missing_features as a std::string ("" when nothing is missing); for tests and tools,
/// not for the start-up check itself.
[[maybe_unused]] static std::string missing_features_message(feature_mask compiled, feature_mask detected,
                                                             const char* program = nullptr) {
  const std::size_t n = format_missing_features(compiled, detected, program, nullptr, 0);
  std::string text(n, '\0');
  if (n > 0) format_missing_features(compiled, detected, program, text.data(), n + 1);
  return text;
}

/// Space-separated names of the features in `m` ("" for none).
[[maybe_unused]] static std::string feature_names(feature_mask m) {
  std::string text;
  for (unsigned i = 0; i < feature_count; ++i) {
    if ((m >> i & 1) == 0) continue;
    if (!text.empty()) text += ' ';
    text += kFeatures[i].name;
  }
  return text;
}

}  // namespace salun::cpu

// The symbol that carries the compiled-for mask from a -march TU to the baseline check.
extern "C" const salun::cpu::feature_mask salun_cpu_compiled_features;

/// Put in one translation unit compiled with the program's -march flags. Defines a
/// constant-initialised variable holding compiled_features(): reading it runs no instruction.
#define SALUN_CPU_CHECK_COMPILED_FOR() \
  extern "C" constexpr salun::cpu::feature_mask salun_cpu_compiled_features = \
      salun::cpu::compiled_features();

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace salun::cpu::detail {
/// The start-up check: compares salun_cpu_compiled_features with the CPU (minus the features
/// named in SALUN_CPU_DISABLE, a testing aid), prints the message and _exit()s with `exit_code`
/// when something is missing. Must be compiled for baseline x86-64 (no -march).
[[maybe_unused]] static void check_at_startup(int exit_code) noexcept {
  const char* program = "this program";
#if defined(__GLIBC__)
  program = program_invocation_short_name;
#endif
  feature_mask detected = detected_features();
  const parsed_features disabled = parse_features(std::getenv("SALUN_CPU_DISABLE"));
  if (disabled.unknown != nullptr) {
    std::fprintf(stderr, "%s: SALUN_CPU_DISABLE: unknown feature '%.*s' ignored (known: all, x86-64-v2..v4",
                 program, static_cast<int>(disabled.unknown_length), disabled.unknown);
    for (unsigned i = 0; i < feature_count; ++i) std::fprintf(stderr, ", %s", kFeatures[i].name);
    std::fprintf(stderr, ")\n");
  }
  detected &= ~disabled.mask;
  char message[2048];
  if (format_missing_features(salun_cpu_compiled_features, detected, program, message, sizeof message) == 0)
    return;
  std::fputs(message, stderr);
  if (exit_code == 77) std::fprintf(stderr, "%s: exit status 77 (skipped, for a CTest test with SKIP_RETURN_CODE 77)\n", program);
  std::fflush(stderr);
  std::fflush(stdout);
  _exit(exit_code);  // not exit(): no atexit handler or destructor compiled with -march may run
}
}  // namespace salun::cpu::detail

/// Put in one translation unit compiled WITHOUT -march (plain x86-64), in the same program as
/// SALUN_CPU_CHECK_COMPILED_FOR(). Runs the check from a constructor of priority 101, before the
/// program's static initialisers (default priority) and main(); exits with `exit_code` when the
/// CPU lacks something.
#define SALUN_CPU_CHECK_AT_STARTUP(exit_code) \
  static_assert((salun::cpu::compiled_features() & ~salun::cpu::level_features(2)) == 0, \
                "compile the start-up CPU check for plain x86-64 (no -march=native)"); \
  __attribute__((constructor(101))) static void salun_cpu_check_constructor() { \
    salun::cpu::detail::check_at_startup(exit_code); \
  }
#else
#define SALUN_CPU_CHECK_AT_STARTUP(exit_code)
#endif
