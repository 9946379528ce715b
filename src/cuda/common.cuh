// SPDX-License-Identifier: MIT
// What every .cu file of the CUDA backend shares: salun's stream, error checks that throw
// salun::Error (naming the call and CUDA's message), and a grid-stride launch helper.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "salun/core/error.hpp"

namespace salun::cuda {

/// The one stream every salun kernel, copy and library call is queued on (created on first use).
cudaStream_t stream();

#define SALUN_CUDA_CHECK(call)                                                                      \
    do {                                                                                             \
        const cudaError_t salun_err_ = (call);                                                       \
        if (salun_err_ != cudaSuccess)                                                               \
            ::salun::detail::throw_error("cuda: ", #call, " failed: ", cudaGetErrorString(salun_err_)); \
    } while (0)

/// Blocks for a grid-stride loop over n elements (at most 65535 * 4 blocks: enough to fill any GPU).
inline unsigned blocks_for(std::int64_t n, unsigned threads = 256) {
    const std::int64_t b = (n + threads - 1) / threads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > 262140 ? 262140 : b));
}

/// Launch errors surface at the launch (bad configuration), not at the next synchronisation.
inline void check_launch(const char* kernel) {
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) ::salun::detail::throw_error("cuda: kernel ", kernel, " failed to launch: ", cudaGetErrorString(err));
}

}  // namespace salun::cuda
