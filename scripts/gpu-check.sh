#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CUDA backend on a machine with an NVIDIA GPU, in one prepared run (issue 12). Logs all
# output to $LOG_DIR/gpu-check.log (default gpu-check-<UTC time>/), results JSON beside it:
#   1. nvidia-smi, then configure + build the CUDA configuration (salun::cuda, tests/cuda,
#      salun-cuda-step, salun-demo), timed
#   2. ctest -L cuda; test_cuda must *pass* here (exit 77, "skipped", is a failure on a GPU machine)
#   3. the training step, salun vs PyTorch on the same GPU (salun-cuda-step, scripts/gpu/torch_step.py
#      for every interpreter in $TORCH_PYTHONS that has PyTorch with CUDA)
#   4. the seed's full experiment with --device cuda (both models, 5 epochs each), timed; with
#      CPU_REFERENCE=1 also on the CPU, and UA / RA / TUA / TRA compared (goal: within 0.5 points)
# Data: $SALUN_DATA, else ../shared/data/cifar-10-batches-bin.tar.xz extracted into $BUILD_DIR/cifar10.
# Models: $SALUN_MODELS, else ../shared/models. Architectures: $CUDA_ARCHS (default 80;90).
# $CMAKE_ARGS: more configure arguments (e.g. -DSALUN_CUDNN_LIBRARY=... where cuDNN is not beside
# the toolkit); $EXPERIMENT_ARGS: more experiment arguments (e.g. --archs resnet18 --epochs 1 on a
# cut data set); $RESULTS_DIR: where the experiments write (default $LOG_DIR); SKIP_EXPERIMENT=1
# stops after step 3.
# Each step runs even if an earlier one failed (the log shows them all); the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CUDA_ARCHS=${CUDA_ARCHS:-80;90}
TORCH_PYTHONS=${TORCH_PYTHONS:-python3 /opt/torch-current/bin/python}
LOG_DIR=${LOG_DIR:-gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}
RESULTS_DIR=${RESULTS_DIR:-$LOG_DIR}
read -r -a cmake_args <<<"${CMAKE_ARGS:-}"
read -r -a experiment_args <<<"${EXPERIMENT_ARGS:-}"
mkdir -p "$LOG_DIR"
exec > >(tee "$LOG_DIR/gpu-check.log") 2>&1
failed=()
section() { printf '\n==== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
run() {  # run NAME CMD...: logs, times and records a failure without stopping
  local name=$1 t0=$SECONDS
  shift
  "$@"
  local rc=$?
  echo "gpu-check: $name: exit $rc in $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || failed+=("$name")
  return $rc
}

section "machine"
nvidia-smi || echo "gpu-check: nvidia-smi failed"
"$CUDA_HOME/bin/nvcc" --version | tail -2

section "1. build the CUDA configuration"
run configure cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSALUN_BACKEND=cuda \
  -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS" \
  -DSALUN_TEST_ISA_MATRIX=OFF -DSALUN_BUILD_BENCH=OFF "${cmake_args[@]}"
run build cmake --build "$BUILD_DIR" -j "$JOBS" --target salun_cuda test_cuda test_cuda_host salun-cuda-step salun-demo \
  salun-walkthrough  # package_consumer_cuda installs both programs

section "2. tests: ctest -L cuda, then test_cuda itself (must pass, not skip)"
run ctest-cuda ctest --test-dir "$BUILD_DIR" --output-on-failure -L cuda
run test_cuda env NVIDIA_TF32_OVERRIDE=0 "$BUILD_DIR/tests/cuda/test_cuda" -tse=seam

section "3. training step: salun vs PyTorch on this GPU (batch 128)"
run step-salun bash -o pipefail -c '"$0" --arch all --batch 128 | tee "$1"' \
  "$BUILD_DIR/tests/cuda/salun-cuda-step" "$LOG_DIR/step_salun.jsonl"
for py in $TORCH_PYTHONS; do
  if "$py" -c 'import torch, torchvision, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    run "step-pytorch($py)" bash -o pipefail -c '"$0" scripts/gpu/torch_step.py --arch all --batch 128 | tee -a "$1"' \
      "$py" "$LOG_DIR/step_pytorch.jsonl"
  else
    echo "gpu-check: $py: no PyTorch with CUDA and torchvision, not timed"
  fi
done

section "4. the full experiment with --device cuda"
if [ "${SKIP_EXPERIMENT:-0}" = 1 ]; then
  echo "gpu-check: SKIP_EXPERIMENT=1, not run"
else
  shared=$(cd .. && pwd)/shared
  if [ -z "${SALUN_DATA:-}" ]; then
    SALUN_DATA="$BUILD_DIR/cifar10"
    if [ ! -f "$SALUN_DATA/cifar-10-batches-bin/test_batch.bin" ] && [ -f "$shared/data/cifar-10-batches-bin.tar.xz" ]; then
      scripts/download_cifar10.sh --from-archive "$shared/data/cifar-10-batches-bin.tar.xz" "$SALUN_DATA"
    fi
  fi
  SALUN_MODELS=${SALUN_MODELS:-$shared/models}
  run experiment-cuda "$BUILD_DIR/demo/salun-demo" experiment --device cuda --data "$SALUN_DATA" \
    --models "$SALUN_MODELS" --out-dir "$RESULTS_DIR/results-cuda" "${experiment_args[@]}"
  if [ "${CPU_REFERENCE:-0}" = 1 ]; then
    run experiment-cpu "$BUILD_DIR/demo/salun-demo" experiment --device cpu --data "$SALUN_DATA" \
      --models "$SALUN_MODELS" --out-dir "$RESULTS_DIR/results-cpu" "${experiment_args[@]}"
    python3 - "$RESULTS_DIR/results-cuda" "$RESULTS_DIR/results-cpu" <<'PY' || failed+=("compare")
import glob, json, sys
def load(d):
    out = {}
    for f in glob.glob(d + "/*.json"):
        r = json.load(open(f))
        out[r.get("Model")] = r
    return out
g, c = load(sys.argv[1]), load(sys.argv[2])
bad = False
for model in sorted(set(g) & set(c)):
    for key in ("UA", "RA", "TUA", "TRA"):
        a, b = g[model].get(key), c[model].get(key)
        if a is None or b is None:
            print(f"{model} {key}: not in both results"); continue
        d = 100 * abs(float(a) - float(b))  # fractions in the JSON; the goal is in percentage points
        print(f"{model} {key}: cuda {a} cpu {b} |diff| {d:.2f} points" + ("  > 0.5" if d > 0.5 else ""))
        bad |= d > 0.5
sys.exit(1 if bad else 0)
PY
  fi
fi

section "summary"
if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu-check: all steps passed; log $LOG_DIR/gpu-check.log"
else
  echo "gpu-check: FAILED: ${failed[*]}; log $LOG_DIR/gpu-check.log"
  exit 1
fi
