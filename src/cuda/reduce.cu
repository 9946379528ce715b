// SPDX-License-Identifier: MIT
// Reductions: whole-tensor sums (accumulated in double, like the CPU's, so a loss or a gradient
// norm matches it closely), the sum of squares for clipping, and column sums (a linear layer's
// bias gradient). One block per output keeps them deterministic: no atomics, fixed order.
#include <algorithm>

#include "common.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

constexpr int kThreads = 512;

/// Sum of f(x[i]) over the block's threads into one double (shared-memory tree, fixed order).
template <class F>
__device__ double block_sum(const float* x, std::int64_t n, F f) {
    __shared__ double part[kThreads];
    double acc = 0;
    for (std::int64_t i = threadIdx.x; i < n; i += kThreads) acc += f(x[i]);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    return part[0];
}

__global__ void sum_kernel(const float* x, float* out, std::int64_t n, float scale) {
    const double s = block_sum(x, n, [](float v) { return double(v); });
    if (threadIdx.x == 0) out[0] = float(s * double(scale));
}

// Block b of a multi-block pass writes the sum of squares of its grid-stride share to partial[b].
__global__ void sum_squares_partial(const float* x, std::int64_t n, double* partial) {
    __shared__ double part[kThreads];
    double acc = 0;
    for (std::int64_t i = blockIdx.x * std::int64_t(kThreads) + threadIdx.x; i < n; i += std::int64_t(kThreads) * gridDim.x)
        acc += double(x[i]) * double(x[i]);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

// total[0] += the partials of one tensor, in a fixed order.
__global__ void add_partials(const double* partial, int count, double* total) {
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        double s = 0;
        for (int i = 0; i < count; ++i) s += partial[i];
        total[0] += s;
    }
}

__global__ void expand_scalar_kernel(const float* s, float* y, float scale, std::int64_t n) {
    const float v = s[0] * scale;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(blockDim.x) * gridDim.x)
        y[i] = v;
}

__global__ void column_sums_kernel(const float* x, float* y, std::int64_t rows, std::int64_t cols) {
    const std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
    if (c >= cols) return;
    double acc = 0;
    for (std::int64_t r = 0; r < rows; ++r) acc += x[r * cols + c];  // coalesced across threads
    y[c] = float(acc);
}

}  // namespace

// A single block: these sums run on losses and per-parameter gradients (at most a few million
// elements, once per step), where one block is fast enough and the order is fixed.
void sum(const float* x, float* out, index_t n, float scale) {
    sum_kernel<<<1, kThreads, 0, stream()>>>(x, out, n, scale);
    check_launch("sum");
}

void expand_scalar(const float* s, float* y, float scale, index_t n) {
    if (n <= 0) return;
    expand_scalar_kernel<<<blocks_for(n), 256, 0, stream()>>>(s, y, scale, n);
    check_launch("expand_scalar");
}

void column_sums(const float* x, float* y, index_t rows, index_t cols) {
    if (cols <= 0) return;
    column_sums_kernel<<<unsigned((cols + 255) / 256), 256, 0, stream()>>>(x, y, rows, cols);
    check_launch("column_sums");
}

double sum_squares(const float* const* xs, const index_t* ns, index_t count) {
    constexpr int kMaxBlocks = 256;
    double* scratch = nullptr;  // [0]: the total, [1 ..]: one tensor's block partials
    SALUN_CUDA_CHECK(cudaMallocAsync(&scratch, sizeof(double) * (1 + kMaxBlocks), stream()));
    SALUN_CUDA_CHECK(cudaMemsetAsync(scratch, 0, sizeof(double), stream()));
    for (index_t k = 0; k < count; ++k) {
        if (ns[k] <= 0) continue;
        const int blocks = int(std::min<index_t>(kMaxBlocks, (ns[k] + kThreads * 8 - 1) / (kThreads * 8)));
        sum_squares_partial<<<blocks, kThreads, 0, stream()>>>(xs[k], ns[k], scratch + 1);
        check_launch("sum_squares_partial");
        add_partials<<<1, 32, 0, stream()>>>(scratch + 1, blocks, scratch);
        check_launch("add_partials");
    }
    double h = 0;
    SALUN_CUDA_CHECK(cudaMemcpyAsync(&h, scratch, sizeof(double), cudaMemcpyDeviceToHost, stream()));
    SALUN_CUDA_CHECK(cudaFreeAsync(scratch, stream()));
    SALUN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    return h;
}

}  // namespace salun::cuda
