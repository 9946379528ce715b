// SPDX-License-Identifier: MIT
// Compiled with the executable's own flags (-march=native, -march=x86-64-v3, ...): records what
// they enable in a constant-initialised variable, salun_cpu_compiled_features, which the start-up
// check (startup_check.cpp, plain x86-64) compares with the CPU. Reading it runs no instruction.
#include <salun/core/cpu_features.hpp>

SALUN_CPU_CHECK_COMPILED_FOR()
