// SPDX-License-Identifier: MIT
// salun::Device: where a tensor's storage lives (torch.device), and the device-memory seam.
//
// The CPU library is header-only and needs nothing from this file but the enum. Another device's
// memory comes from a compiled backend (today only CUDA: the salun::cuda target, which defines
// SALUN_WITH_CUDA for its consumers); in a build without it, asking for that device is a clear
// salun::Error, never a crash. A backend provides exactly the functions `device_alloc`,
// `device_free`, `device_copy` and `device_available` route to (docs/architecture.md, "Backends").
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

#include "salun/core/error.hpp"

#if defined(SALUN_WITH_CUDA)
#include "salun/cuda/runtime.hpp"
#endif

namespace salun {

enum class Device { cpu, cuda };

/// "cpu" / "cuda", as PyTorch spells them in messages and on the command line.
inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

/// The device named `name` ("cpu" or "cuda"); an error for anything else.
inline Device parse_device(const std::string& name) {
    if (name == "cpu") return Device::cpu;
    if (name == "cuda") return Device::cuda;
    detail::throw_error("unknown device '", name, "' (expected cpu or cuda)");
}

/// True when this build has the backend for `d` compiled in (the CPU always).
constexpr bool backend_compiled(Device d) {
#if defined(SALUN_WITH_CUDA)
    return d == Device::cpu || d == Device::cuda;
#else
    return d == Device::cpu;
#endif
}

namespace detail {
[[noreturn]] inline void backend_not_built(Device d, const char* what) {
    throw_error(what, ": salun was built without the ", device_name(d), " backend; configure with -DSALUN_BACKEND=",
                device_name(d), " and link salun::", device_name(d));
}
}  // namespace detail

/// True when `d` can be used now: compiled in and (for a GPU) a device is present.
inline bool device_available(Device d) {
    if (d == Device::cpu) return true;
#if defined(SALUN_WITH_CUDA)
    return cuda::device_count() > 0;
#else
    return false;
#endif
}

/// Throws a clear error unless `d` is usable (`what` names the caller in the message).
inline void require_device(Device d, const char* what) {
    if (d == Device::cpu) return;
    if (!backend_compiled(d)) detail::backend_not_built(d, what);
#if defined(SALUN_WITH_CUDA)
    SALUN_CHECK(cuda::device_count() > 0, what, ": no CUDA device is available (", cuda::device_status(), ")");
#endif
}

// ---- the memory seam: raw bytes on a non-CPU device (CPU storage keeps its own allocator) -----
inline void* device_alloc(Device d, std::size_t bytes) {
#if defined(SALUN_WITH_CUDA)
    if (d == Device::cuda) return cuda::malloc_bytes(bytes);
#else
    (void)bytes;
#endif
    detail::backend_not_built(d, "device_alloc");
}
inline void device_free(Device d, void* p) noexcept {
#if defined(SALUN_WITH_CUDA)
    if (d == Device::cuda) cuda::free_bytes(p);
#else
    (void)d;
    (void)p;
#endif
}
/// Copies `bytes` from `src` on `from` to `dst` on `to`; returns when `dst` may be read by the host.
inline void device_copy(void* dst, Device to, const void* src, Device from, std::size_t bytes) {
    if (bytes == 0) return;
    if (to == Device::cpu && from == Device::cpu) {
        std::memcpy(dst, src, bytes);
        return;
    }
#if defined(SALUN_WITH_CUDA)
    cuda::copy_bytes(dst, to == Device::cuda, src, from == Device::cuda, bytes);
#else
    detail::backend_not_built(to == Device::cpu ? from : to, "copy");
#endif
}

/// Device memory owned by tensors on a non-CPU device; freed when the last view goes.
struct DeviceBuffer {
    DeviceBuffer(Device d, std::size_t n_bytes) : device(d), bytes(n_bytes), ptr(device_alloc(d, n_bytes)) {}
    ~DeviceBuffer() { device_free(device, ptr); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    Device device;
    std::size_t bytes;
    void* ptr;
};

}  // namespace salun
