#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job in one command: build salun-demo, find CIFAR-10 and the checkpoints, and run the
# reference's experiment (SalUn on ResNet-18 and VGG-16-BN). Extra arguments go to `salun-demo
# experiment` (e.g. --subset 500 --epochs 1 for a quick run, --archs vgg16_bn, --threads 2).
#
# Data: $SALUN_DATA, else ../shared/data/cifar-10-batches-bin.tar.xz extracted into build/cifar10,
#       else downloaded into build/cifar10 by scripts/download_cifar10.sh (needs internet).
# Models: $SALUN_MODELS, else ../shared/models: <arch>_cifar10.safetensors or .pth per architecture
#         (scripts/download_models.sh fetches the reference's ResNet-18; salun-demo train makes either).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads sleep at barriers instead of spinning, unless you chose otherwise: as fast on an
# idle machine, 1.2-1.4x faster when other programs share the cores (docs/performance.md,
# "Sharing the cores").
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target salun-demo

shared=$(cd .. && pwd)/shared
if [ -z "${SALUN_DATA:-}" ]; then
  SALUN_DATA="$BUILD_DIR/cifar10"
  if [ ! -f "$SALUN_DATA/cifar-10-batches-bin/test_batch.bin" ]; then
    if [ -f "$shared/data/cifar-10-batches-bin.tar.xz" ]; then
      scripts/download_cifar10.sh --from-archive "$shared/data/cifar-10-batches-bin.tar.xz" "$SALUN_DATA"
    else
      scripts/download_cifar10.sh "$SALUN_DATA"
    fi
  fi
fi
SALUN_MODELS=${SALUN_MODELS:-$shared/models}
if [ ! -d "$SALUN_MODELS" ]; then
  echo "demo.sh: no checkpoints: set SALUN_MODELS to a folder with resnet18_cifar10.safetensors (or .pth) and" \
       "vgg16_bn_cifar10.safetensors (or .pth); scripts/download_models.sh fetches the reference's ResNet-18" \
       "(then add --archs resnet18), salun-demo train makes either" >&2
  exit 1
fi
exec "$BUILD_DIR/demo/salun-demo" experiment --data "$SALUN_DATA" --models "$SALUN_MODELS" \
  --out-dir "${OUT_DIR:-results}" "$@"
