#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses of tests/fuzz in their own folder (Clang, ASan + UBSan) and runs
# each for FUZZ_SECONDS (default 45) from a copy of its committed seed corpus, so the checkout is
# never written to. Fails if any harness crashes, leaks, times out or runs out of memory; each
# harness's log, and the inputs that failed, are kept in FUZZ_ARTIFACTS (default build-fuzz/artifacts).
#
# Needs (Debian 12): cmake make clang libclang-rt-14-dev libomp-dev xtensor-dev libxsimd-dev
# xtl-dev libstb-dev nlohmann-json3-dev, and llvm for symbolised stack traces.
#
#   scripts/ci/fuzz.sh                       # all harnesses, 45 s each
#   FUZZ_SECONDS=600 scripts/ci/fuzz.sh image safetensors   # some of them, longer
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-45}
build=${FUZZ_BUILD_DIR:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(safetensors state_dict cifar10 image demo_args pth)
fi

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DSALUN_BUILD_FUZZERS=ON \
  -DSALUN_BUILD_TESTS=OFF -DSALUN_BUILD_DEMO=OFF -DSALUN_BUILD_BENCH=OFF -DSALUN_NATIVE=OFF
if [ $# -eq 0 ]; then
  cmake --build "$build" -j"$jobs"  # all harnesses, compiled side by side
else
  targets=()
  for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
  cmake --build "$build" -j"$jobs" --target "${targets[@]}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
failed=()
summary=()
for h in "${harnesses[@]}"; do
  mkdir -p "$work/$h"
  cp tests/fuzz/corpus/"$h"/* "$work/$h"/
  echo "=== fuzz_$h: ${seconds} s from $(ls "$work/$h" | wc -l) seeds"
  # One worker; -timeout flags a single input slower than 25 s (a hang), -rss_limit_mb and
  # -malloc_limit_mb a run or one allocation above 2 GB.
  if "$build/tests/fuzz/fuzz_$h" "$work/$h" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
      -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$h-" >"$artifacts/$h.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$h")
    grep -E -A40 "^==[0-9]+==|runtime error|property violated|Test unit written" "$artifacts/$h.log" | head -80 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$artifacts/$h.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$artifacts/$h.log")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$artifacts/$h.log" | tail -1 || true)
  summary+=("$(printf '%-12s %-7s %12s execs %8s exec/s   %s' "$h" "$status" "${runs:-?}" "${rate:-?}" "${cov:-}")")
done

echo "=== summary (${seconds} s each)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs in $artifacts)" >&2
  exit 1
fi
