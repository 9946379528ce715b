#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ARM64 check: cross compile the unit tests for aarch64 (xsimd uses NEON) with Debian's
# g++-aarch64-linux-gnu and run `ctest -L unit` under qemu-aarch64 (user-mode emulation).
# Needs: cmake make g++-aarch64-linux-gnu qemu-user + the header-only dependencies (see
# docs/testing.md). Build folder: build-arm64 (BUILD_DIR overrides), JOBS parallel jobs (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-arm64}
JOBS=${JOBS:-2}
SYSROOT=/usr/aarch64-linux-gnu

for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-objdump qemu-aarch64 cmake; do
  command -v "$tool" >/dev/null || { echo "arm64.sh: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user cmake)" >&2; exit 2; }
done

t0=$(date +%s)
# SALUN_NATIVE=OFF: no -march=native (the top-level CMakeLists also refuses it when cross compiling).
cmake -S . -B "$BUILD_DIR" -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DSALUN_NATIVE=OFF -DSALUN_BUILD_BENCH=OFF
# By default the tests that meet what differs on ARM: the kernels and ops on NEON (4 floats,
# xsimd's neon64), and the file formats (byte order and alignment). TARGETS="test_core test_kernels
# test_io_data test_nn test_unlearn test_report salun-demo" builds every suite and the demo for
# the cli_* tests (about three times the compiler time).
TARGETS=${TARGETS:-"test_core test_kernels test_io_data"}
source scripts/ci/unit_targets.sh
# shellcheck disable=SC2086  # TARGETS is a list
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS
t1=$(date +%s)

# The binaries are AArch64 and use NEON: xsimd's default architecture (printed by the test) and
# vector fused multiply-adds on 4 floats in the GEMM micro-kernel.
aarch64-linux-gnu-readelf -h "$BUILD_DIR/tests/test_kernels" | grep -E 'Machine:\s+AArch64'
qemu-aarch64 -L "$SYSROOT" "$BUILD_DIR/tests/test_core" -tc='xsimd default architecture*' -s --no-version \
  | grep -E 'default_arch|Status' || true
fmla=$(aarch64-linux-gnu-objdump -d --no-show-raw-insn "$BUILD_DIR/tests/test_kernels" | grep -cE '\sfmla\s+v[0-9]+\.4s' || true)
echo "NEON fmla v.4s instructions in test_kernels: $fmla"
if [ "$fmla" -eq 0 ]; then
  echo "arm64.sh: no NEON fmla in test_kernels: xsimd did not use NEON" >&2
  exit 1
fi

# Serial, as in scripts/test.sh (each test uses all cores through OpenMP).
ctest --test-dir "$BUILD_DIR" --output-on-failure -L unit -E "$UNIT_EXCLUDE" -j "$JOBS"
t2=$(date +%s)
echo "arm64.sh: build $((t1 - t0)) s, tests $((t2 - t1)) s"
