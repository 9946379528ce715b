// SPDX-License-Identifier: MIT
// Compiled into every test executable with that executable's own flags (-march=native, or
// -march=x86-64-v2/v3/v4 for the ISA matrix): prints, before the tests run, the instruction set
// the tests were compiled for (xsimd's default architecture, its vector width, the x86-64 level
// and extensions) and what this CPU supports. Called from doctest_main.cpp.
#include <cstdio>
#include <string>

#include <xsimd/xsimd.hpp>

#include <salun/core/cpu_features.hpp>

void salun_test_print_isa_banner(std::FILE* out) {
  using arch = xsimd::default_arch;
  std::fprintf(out, "[salun] compiled for: xsimd %s, %zu-byte vectors (%zu floats)", arch::name(),
               sizeof(xsimd::batch<float>), xsimd::batch<float>::size);
#if defined(__x86_64__)
  const salun::cpu::feature_mask compiled = salun::cpu::compiled_features();
  const int level = salun::cpu::level_of(compiled);
  const std::string level_name = level > 1 ? "x86-64-v" + std::to_string(level) : "x86-64";
  std::fprintf(out, "; %s (%s)", level_name.c_str(),
               compiled == 0 ? "baseline" : salun::cpu::feature_names(compiled).c_str());
#endif
  const auto cpu = xsimd::available_architectures();
  std::string have;
  const auto add = [&have](bool on, const char* name) {
    if (!on) return;
    if (!have.empty()) have += ' ';
    have += name;
  };
  add(cpu.sse2, "sse2");
  add(cpu.sse3, "sse3");
  add(cpu.ssse3, "ssse3");
  add(cpu.sse4_1, "sse4_1");
  add(cpu.sse4_2, "sse4_2");
  add(cpu.fma3_sse, "fma3<sse4_2>");
  add(cpu.fma4, "fma4");
  add(cpu.avx, "avx");
  add(cpu.fma3_avx, "fma3<avx>");
  add(cpu.avx2, "avx2");
  add(cpu.fma3_avx2, "fma3<avx2>");
  add(cpu.avx512f, "avx512f");
  add(cpu.avx512cd, "avx512cd");
  add(cpu.avx512dq, "avx512dq");
  add(cpu.avx512bw, "avx512bw");
  add(cpu.neon, "neon");
  add(cpu.neon64, "neon64");
  std::fprintf(out, "\n[salun] this CPU supports (xsimd::available_architectures): %s\n",
               have.empty() ? "none" : have.c_str());
}
