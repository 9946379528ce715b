# SPDX-License-Identifier: MIT
# Cross compiling salun for 64-bit ARM Linux with Debian's cross toolchain, tests run under qemu.
#
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake -DSALUN_NATIVE=OFF
#
# xsimd picks NEON (neon64) from the target's predefined macros; no -march flag is needed
# (ARMv8-A always has Advanced SIMD). The top-level CMakeLists never adds -march=native when
# CMAKE_CROSSCOMPILING is set.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SALUN_CROSS_TRIPLE aarch64-linux-gnu)
set(SALUN_CROSS_SYSROOT /usr/${SALUN_CROSS_TRIPLE})

set(CMAKE_C_COMPILER ${SALUN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SALUN_CROSS_TRIPLE}-g++)
# GCC's note that passing std::pair<double, double> changed in GCC 10.1 (AArch64 psABI) concerns
# linking with objects built by GCC < 10 only.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")

# add_test() on an executable target runs it through the emulator; -L points qemu at the
# target's dynamic loader and libraries (libstdc++, libgomp) from the cross packages.
find_program(SALUN_QEMU_AARCH64 qemu-aarch64 qemu-aarch64-static)
if(SALUN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SALUN_QEMU_AARCH64} -L ${SALUN_CROSS_SYSROOT})
endif()

# Libraries only from the target's tree; headers and package configs from the target's tree and
# the host's (/usr), because the dependencies are header-only and installed for the host
# (xtensor, xsimd, xtl, doctest, nlohmann-json, stb). Programs always from the host.
set(CMAKE_FIND_ROOT_PATH ${SALUN_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Debian installs the xsimd and xtensor package configs under the host's multiarch folder
# (/usr/lib/x86_64-linux-gnu/cmake); find_package would look only in the target's
# (/usr/lib/aarch64-linux-gnu/cmake). Their content is architecture independent.
execute_process(COMMAND dpkg-architecture -qDEB_BUILD_MULTIARCH
                OUTPUT_VARIABLE SALUN_HOST_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT SALUN_HOST_MULTIARCH)
  set(SALUN_HOST_MULTIARCH ${CMAKE_HOST_SYSTEM_PROCESSOR}-linux-gnu)
endif()
if(IS_DIRECTORY /usr/lib/${SALUN_HOST_MULTIARCH}/cmake)
  list(APPEND CMAKE_PREFIX_PATH /usr/lib/${SALUN_HOST_MULTIARCH}/cmake)
endif()
