#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command: configure, build everything and run every test except the "long" ones.
# Tests labelled "data" run when ../shared (CIFAR-10 + checkpoints) exists beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
# -j: tests run side by side; each waits passively for its OpenMP threads (OMP_WAIT_POLICY=PASSIVE,
# set by tests/CMakeLists.txt), so that the processes sharing the cores do not spin on each other.
ctest --test-dir "$BUILD_DIR" --output-on-failure -LE long -j "$JOBS"
