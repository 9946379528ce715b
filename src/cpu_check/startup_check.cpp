// SPDX-License-Identifier: MIT
// The start-up CPU check (see include/salun/core/cpu_features.hpp). Compiled for plain x86-64,
// never with -march=native (cmake/SalunCpuCheck.cmake forces -march=x86-64), so it runs on any
// x86-64 CPU; its constructor (priority 101) runs before the static initialisers of the
// -march=native translation units and exits with SALUN_CPU_CHECK_EXIT_CODE when the CPU lacks
// an instruction set they were compiled for.
#include <salun/core/cpu_features.hpp>

#ifndef SALUN_CPU_CHECK_EXIT_CODE
#define SALUN_CPU_CHECK_EXIT_CODE 1
#endif

SALUN_CPU_CHECK_AT_STARTUP(SALUN_CPU_CHECK_EXIT_CODE)
