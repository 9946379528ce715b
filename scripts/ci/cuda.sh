#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CUDA check: the -DSALUN_BACKEND=cuda configuration compiled with nvcc on every CI run, so that
# the backend cannot rot on machines without a GPU. Builds only what the CUDA part needs
# (salun::cuda, tests/cuda, salun-demo) and runs `ctest -L cuda` (the GPU tests report *skipped*
# without a GPU, exit status 77; the GPU-free ones run: device-seam errors, the shared element-wise
# bodies, the package's cuda component, and test_cuda_host: the same tests through every device
# branch of the headers with a host stand-in for the CUDA library) plus the demo's --device tests.
# Build folder: build-cuda-ci (BUILD_DIR overrides), JOBS parallel jobs (2). Needs the CUDA toolkit
# with cuBLAS and cuDNN (CUDA_HOME, default /usr/local/cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-cuda-ci}
JOBS=${JOBS:-2}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
  echo "cuda.sh: no nvcc at $CUDA_HOME/bin/nvcc: install the CUDA toolkit (with cuBLAS and cuDNN) or set CUDA_HOME" >&2
  exit 1
fi

t0=$(date +%s)
# No ISA matrix, no benchmarks: this part is about the CUDA backend. Architectures: the default 80;90.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSALUN_BACKEND=cuda \
  -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" -DSALUN_TEST_ISA_MATRIX=OFF -DSALUN_BUILD_BENCH=OFF
cmake --build "$BUILD_DIR" -j "$JOBS" --target salun_cuda test_cuda test_cuda_host salun-cuda-step salun-demo salun-walkthrough  # install() needs every installed target; salun-cuda-step: scripts/gpu-check.sh's timer
t1=$(date +%s)
ctest --test-dir "$BUILD_DIR" --output-on-failure -L cuda
ctest --test-dir "$BUILD_DIR" --output-on-failure -R '^cli_device_'
t2=$(date +%s)
echo "cuda.sh: build $((t1 - t0)) s, tests $((t2 - t1)) s"
