// The compute backend, chosen at build time (ggml-style): ops call `kernels::backend::f(...)`
// and never name a device. The CPU backend is always compiled; another backend (CUDA, Metal)
// would provide the same functions under its own namespace and be selected here by the
// SALUN_BACKEND_* macro that CMake's SALUN_BACKEND option defines.
#pragma once

#include "salun/kernels/params.hpp"
#include "salun/kernels/cpu/batch_norm.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/pool.hpp"

namespace salun::kernels {
#if defined(SALUN_BACKEND_CUDA)
#error "SALUN_BACKEND_CUDA: the CUDA backend is not implemented yet"
#else
namespace backend = cpu;
#endif
}  // namespace salun::kernels
