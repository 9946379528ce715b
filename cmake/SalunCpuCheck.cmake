# SPDX-License-Identifier: MIT
# The start-up CPU check for this project's own executables (salun-demo, benchmarks, tests):
# a binary built with -march=native and moved to an older CPU stops with a message naming the
# missing instruction sets instead of dying with SIGILL. See include/salun/core/cpu_features.hpp
# and docs/architecture.md. Consumers of salun::salun get none of this.
#
#   salun_add_cpu_check(<target> [EXIT_CODE <n>])   # n defaults to 1; tests use 77 (CTest skip)
#
# adds two sources to <target>: src/cpu_check/compiled_for.cpp, compiled with the target's own
# flags (it records what they enable), and the objects of salun_cpu_check_exit<n>, an OBJECT
# library holding src/cpu_check/startup_check.cpp compiled for plain x86-64 (-march=x86-64 comes
# after any -march in CMAKE_CXX_FLAGS, and the last one wins), whose constructor does the check.
#
# SALUN_X86_64 (also used by the ISA-matrix tests) is true when the C++ compiler targets x86-64
# and is GCC or Clang; elsewhere salun_add_cpu_check does nothing.
include(CheckCXXSourceCompiles)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  check_cxx_source_compiles("
#if !defined(__x86_64__)
#error not x86-64
#endif
int main() { __builtin_cpu_init(); return __builtin_cpu_supports(\"avx2\") ? 0 : 1; }" SALUN_X86_64)
else()
  set(SALUN_X86_64 OFF)
endif()

set(SALUN_CPU_CHECK_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/../src/cpu_check)

function(salun_add_cpu_check target)
  cmake_parse_arguments(arg "" "EXIT_CODE" "" ${ARGN})
  if(NOT SALUN_X86_64)
    return()
  endif()
  if(NOT DEFINED arg_EXIT_CODE)
    set(arg_EXIT_CODE 1)
  endif()
  set(check salun_cpu_check_exit${arg_EXIT_CODE})
  if(NOT TARGET ${check})
    add_library(${check} OBJECT ${SALUN_CPU_CHECK_SOURCE_DIR}/startup_check.cpp)
    target_include_directories(${check} PRIVATE ${PROJECT_SOURCE_DIR}/include)
    target_compile_features(${check} PRIVATE cxx_std_17)
    target_compile_definitions(${check} PRIVATE SALUN_CPU_CHECK_EXIT_CODE=${arg_EXIT_CODE})
    target_compile_options(${check} PRIVATE -march=x86-64 -mtune=generic -Wall -Wextra)
  endif()
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:${check}> ${SALUN_CPU_CHECK_SOURCE_DIR}/compiled_for.cpp)
endfunction()
