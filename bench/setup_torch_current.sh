#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the current PyTorch release from PyPI (and torchvision) into a virtual environment, for
# bench/compare_pytorch.py --torch /usr/bin/python3,VENV/bin/python (see docs/performance.md).
#
#   bench/setup_torch_current.sh [VENV]          # VENV defaults to /opt/torch-current
#
# Environment: TORCH_VERSION, TORCHVISION_VERSION (default: the newest release on the index, from
# `pip index versions`), PYTHON (the interpreter the venv is made from; default /usr/bin/python3).
# Idempotent: an existing venv is reused and pip leaves what is already installed alone.
#
# What gets installed, and why. PyPI's Linux wheel is the CUDA build; there is no CPU-only wheel on
# PyPI (the CPU wheels live on download.pytorch.org, which need not be reachable). torch is
# installed with --no-deps, then its own requirements (read from the installed wheel's metadata)
# except the two that only a GPU uses, triton (torch.compile's GPU code generator) and
# cuda-bindings (Python bindings). The nvidia-* CUDA libraries cannot be left out: libtorch.so
# and torch/_C link libtorch_cuda.so, which needs libcudart, cuBLAS, cuDNN, NCCL, cuSPARSELt,
# NVSHMEM, cuFile, ... at load time, so without them `import torch` fails (ImportError:
# libcufile.so.0 ...), and a system CUDA of another minor version does not do either (NCCL from
# CUDA 13.0: undefined symbol ncclCommResume). torch's RPATH finds the pinned copies under
# site-packages/nvidia first. Nothing here needs a GPU: compare_pytorch.py runs on the CPU only.
set -euo pipefail

VENV=${1:-/opt/torch-current}
PYTHON=${PYTHON:-/usr/bin/python3}
PIP_OPTS=(--disable-pip-version-check --progress-bar off)

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating venv $VENV from $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip)

latest() {  # newest release of $1 on the index
  "${PIP[@]}" index versions "$1" 2>/dev/null | sed -n "s/^$1 (\(.*\))\$/\1/p" | head -1
}
TORCH_VERSION=${TORCH_VERSION:-$(latest torch)}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-$(latest torchvision)}
if [[ -z "$TORCH_VERSION" || -z "$TORCHVISION_VERSION" ]]; then
  echo "could not find the newest torch/torchvision with 'pip index versions'; set TORCH_VERSION and TORCHVISION_VERSION" >&2
  exit 1
fi
echo "installing torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION into $VENV"

# 1. the two wheels themselves, without their dependency trees
"${PIP[@]}" install "${PIP_OPTS[@]}" --no-deps "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

# 2. their requirements as the wheels declare them (versions pinned by torch), minus the GPU-only
#    Python packages and torch itself
mapfile -t REQS < <("$PY" - <<'EOF'
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement

SKIP = {"torch", "triton", "cuda-bindings"}
seen = set()
for dist in ("torch", "torchvision"):
    for line in requires(dist) or []:
        r = Requirement(line)
        if r.marker is not None and not r.marker.evaluate({"extra": ""}):
            continue  # other platform, or an optional extra
        if r.name.lower() in SKIP:
            continue
        extras = "[" + ",".join(sorted(r.extras)) + "]" if r.extras else ""
        spec = f"{r.name}{extras}{r.specifier}"
        if spec not in seen:
            seen.add(spec)
            print(spec)
EOF
)
echo "requirements: ${REQS[*]}"
"${PIP[@]}" install "${PIP_OPTS[@]}" "${REQS[@]}"
echo "(a pip message that triton and cuda-bindings are not installed is expected: they are left out on purpose)"

# 3. check: versions, and one forward + backward pass of ResNet-18 on the CPU in both memory formats
"$PY" - <<'EOF'
import platform

import torch
import torchvision

print(f"python {platform.python_version()} ({platform.python_implementation()})")
print(f"torch {torch.__version__} (CUDA build {torch.version.cuda}), torchvision {torchvision.__version__}")
print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, oneDNN {torch.backends.mkldnn.is_available()}, "
      f"MKL {torch.backends.mkl.is_available()}, threads {torch.get_num_threads()}")
m = torchvision.models.resnet18(num_classes=10)
x = torch.randn(2, 3, 32, 32)
for fmt in (torch.contiguous_format, torch.channels_last):
    mm, xx = m.to(memory_format=fmt), x.to(memory_format=fmt)
    mm(xx).sum().backward()
print("ResNet-18 forward + backward on the CPU: ok (contiguous and channels_last)")
EOF
echo "venv size: $(du -sh "$VENV" | cut -f1)"
echo "use: /usr/bin/python3 bench/compare_pytorch.py --torch /usr/bin/python3,$PY ..."
