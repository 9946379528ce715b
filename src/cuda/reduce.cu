// Reductions: whole-tensor sums (accumulated in double, like the CPU's, so a loss or a gradient
// norm matches it closely), the sum of squares for clipping, and column sums (a linear layer's
// bias gradient). One block per output keeps them deterministic: no atomics, fixed order.
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

__global__ void sum_squares_kernel(const float* x, double* out, std::int64_t n) {
    const double s = block_sum(x, n, [](float v) { return double(v) * double(v); });
    if (threadIdx.x == 0) out[0] = s;
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

double sum_squares(const float* x, index_t n) {
    double* d = nullptr;
    SALUN_CUDA_CHECK(cudaMallocAsync(&d, sizeof(double), stream()));
    sum_squares_kernel<<<1, kThreads, 0, stream()>>>(x, d, n);
    check_launch("sum_squares");
    double h = 0;
    SALUN_CUDA_CHECK(cudaMemcpyAsync(&h, d, sizeof(double), cudaMemcpyDeviceToHost, stream()));
    SALUN_CUDA_CHECK(cudaFreeAsync(d, stream()));
    SALUN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    return h;
}

}  // namespace salun::cuda
