// SPDX-License-Identifier: MIT
// The CUDA backend's runtime: device memory, copies and the one stream every salun kernel runs on.
// Plain C++ declarations (no CUDA header), defined in src/cuda/runtime.cu and compiled into
// salun::cuda; core/device.hpp calls them when SALUN_WITH_CUDA is defined.
#pragma once

#include <cstddef>
#include <string>

namespace salun::cuda {

/// Number of usable CUDA devices (0 when there is no GPU or no driver; never throws).
int device_count() noexcept;
/// Why device_count() is 0, or the GPU's name: for error messages and the demo's banner.
std::string device_status();

/// Stream-ordered device memory (cudaMallocAsync on salun's stream: the driver's pool caches
/// freed blocks, the analogue of the CPU block cache). Throws salun::Error when out of memory.
void* malloc_bytes(std::size_t bytes);
void free_bytes(void* p) noexcept;
/// Host <-> device or device <-> device; a copy to the host returns when the host may read it.
void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes);
/// Host -> device from pinned memory, asynchronous on salun's stream (the data loader's path).
void copy_to_device_async(void* dst, const void* pinned_src, std::size_t bytes);
/// Page-locked host memory for copy_to_device_async.
void* malloc_pinned(std::size_t bytes);
void free_pinned(void* p) noexcept;
/// Waits for everything queued on salun's stream (timing, tests).
void synchronize();

}  // namespace salun::cuda
