// SPDX-License-Identifier: MIT
// What the cuDNN users among the .cu files share: one cuDNN handle on salun's stream (made on
// first use, defined in dnn.cu) and an error check that throws salun::Error naming the call.
#pragma once

#include <cudnn.h>

#include "common.cuh"

namespace salun::cuda {

#define SALUN_CUDNN_CHECK(call)                                                                        \
    do {                                                                                                \
        const cudnnStatus_t salun_st_ = (call);                                                         \
        if (salun_st_ != CUDNN_STATUS_SUCCESS)                                                          \
            ::salun::detail::throw_error("cuDNN: ", #call, " failed: ", cudnnGetErrorString(salun_st_)); \
    } while (0)

/// The process's cuDNN handle, bound to stream().
cudnnHandle_t cudnn_handle();

}  // namespace salun::cuda
