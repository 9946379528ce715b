// SPDX-License-Identifier: MIT
// Device memory, copies and salun's stream (salun/cuda/runtime.hpp).
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <string>

#include "common.cuh"
#include "salun/cuda/runtime.hpp"

namespace salun::cuda {

cudaStream_t stream() {
    // Created once, never destroyed: kernels may still be queued when static destructors run.
    static cudaStream_t s = [] {
        cudaStream_t created = nullptr;
        SALUN_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
        // Keep freed blocks in the driver's pool instead of returning them at each synchronisation:
        // a training step then allocates nothing new after the first (like the CPU block cache).
        cudaMemPool_t pool = nullptr;
        int dev = 0;
        if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
            std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
            cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
        }
        return created;
    }();
    return s;
}

int device_count() noexcept {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

std::string device_status() {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    }
    if (n == 0) return "no CUDA device found";
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "CUDA device 0";
    return std::string(prop.name) + " (compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + ")";
}

void* malloc_bytes(std::size_t bytes) {
    void* p = nullptr;
    if (bytes == 0) bytes = 1;  // a valid, distinct pointer even for empty tensors
    const cudaError_t err = cudaMallocAsync(&p, bytes, stream());
    if (err != cudaSuccess) {
        cudaGetLastError();
        detail::throw_error("cuda: cannot allocate ", bytes, " bytes on the GPU: ", cudaGetErrorString(err));
    }
    return p;
}

void free_bytes(void* p) noexcept {
    if (p) cudaFreeAsync(p, stream());  // stream-ordered: kernels queued before may still use it
}

void copy_bytes(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes) {
    const cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                              : (src_on_device ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    SALUN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()));
    // To the host: the caller reads dst next. From pageable host memory: the source may be freed
    // as soon as the call returns (CUDA staged it), so only a device-side destination can run on.
    if (!dst_on_device) SALUN_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_to_device_async(void* dst, const void* pinned_src, std::size_t bytes) {
    SALUN_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, bytes, cudaMemcpyHostToDevice, stream()));
}

void* malloc_pinned(std::size_t bytes) {
    void* p = nullptr;
    SALUN_CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
    return p;
}

void free_pinned(void* p) noexcept {
    if (p) cudaFreeHost(p);
}

void synchronize() { SALUN_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace salun::cuda
