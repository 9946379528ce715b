// SPDX-License-Identifier: MIT
// The CPU backend's kernels, as ops call them: `kernels::backend::f(...)` for tensors on the CPU.
// Tensors on another device (CUDA, built with -DSALUN_BACKEND=cuda) reach that backend's kernels
// through kernels/device.hpp instead; docs/architecture.md, "Backends and devices".
#pragma once

#include "salun/kernels/params.hpp"
#include "salun/kernels/cpu/batch_norm.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/pool.hpp"

namespace salun::kernels {
namespace backend = cpu;
}  // namespace salun::kernels
