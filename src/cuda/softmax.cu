// SPDX-License-Identifier: MIT
// Row-wise softmax / log-softmax over [N,C] (one block per row, the row maximum subtracted and
// the sum of exponentials taken in double, as on the CPU), their backward passes, and the fused
// cross-entropy with class-index targets (PyTorch's reduction='mean').
#include <cmath>

#include "common.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

constexpr int kThreads = 128;  // C is small here (10 classes); one block per row

/// Block-wide reduction of one value per thread (max or sum), fixed order.
template <class V, class Op>
__device__ V block_reduce(V v, Op op) {
    __shared__ V part[kThreads];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) part[threadIdx.x] = op(part[threadIdx.x], part[threadIdx.x + s]);
        __syncthreads();
    }
    const V r = part[0];
    __syncthreads();  // part is reused by the next call
    return r;
}

/// mx = row max, s = sum exp(x - mx) in double.
__device__ void row_stats(const float* x, std::int64_t C, float& mx, double& s) {
    float m = -INFINITY;
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads) m = fmaxf(m, x[c]);
    mx = block_reduce(m, [](float a, float b) { return fmaxf(a, b); });
    double acc = 0;
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads) acc += exp(double(x[c] - mx));
    s = block_reduce(acc, [](double a, double b) { return a + b; });
}

__global__ void softmax_kernel(const float* x, float* y, std::int64_t C, bool log) {
    const float* xr = x + blockIdx.x * C;
    float* yr = y + blockIdx.x * C;
    float mx;
    double s;
    row_stats(xr, C, mx, s);
    const float log_s = float(::log(s));
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads)
        yr[c] = log ? (xr[c] - mx) - log_s : float(exp(double(xr[c] - mx)) / s);
}

// log_softmax: dx = g - exp(y) * sum(g); softmax: dx = y * (g - sum(g * y)).
__global__ void softmax_backward_kernel(const float* y, const float* g, float* dx, std::int64_t C, bool log) {
    const float* yr = y + blockIdx.x * C;
    const float* gr = g + blockIdx.x * C;
    float* dr = dx + blockIdx.x * C;
    double acc = 0;
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads) acc += log ? double(gr[c]) : double(gr[c]) * yr[c];
    const float s = float(block_reduce(acc, [](double a, double b) { return a + b; }));
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads)
        dr[c] = log ? gr[c] - expf(yr[c]) * s : yr[c] * (gr[c] - s);
}

// One block per row writes logp and the row's -logp[target] into nll[n]; then one block averages.
__global__ void cross_entropy_rows(const float* x, const std::int64_t* t, float* logp, double* nll, std::int64_t C) {
    const std::int64_t n = blockIdx.x;
    const float* xr = x + n * C;
    float* lr = logp + n * C;
    float mx;
    double s;
    row_stats(xr, C, mx, s);
    const float log_s = float(::log(s));
    for (std::int64_t c = threadIdx.x; c < C; c += kThreads) lr[c] = (xr[c] - mx) - log_s;
    if (threadIdx.x == 0) nll[n] = -double((xr[t[n]] - mx) - log_s);
}

__global__ void mean_kernel(const double* v, float* out, std::int64_t N) {
    double acc = 0;
    for (std::int64_t i = threadIdx.x; i < N; i += kThreads) acc += v[i];
    const double s = block_reduce(acc, [](double a, double b) { return a + b; });
    if (threadIdx.x == 0) out[0] = float(s / double(N));
}

__global__ void cross_entropy_backward_kernel(const float* logp, const std::int64_t* t, const float* g, float* dx,
                                              std::int64_t N, std::int64_t C) {
    const float scale = g[0] / float(N);
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < N * C;
         i += std::int64_t(blockDim.x) * gridDim.x) {
        const std::int64_t n = i / C, c = i % C;
        dx[i] = (expf(logp[i]) - (t[n] == c ? 1.0f : 0.0f)) * scale;
    }
}

}  // namespace

void softmax_rows(const float* x, float* y, index_t N, index_t C) {
    if (N <= 0) return;
    softmax_kernel<<<unsigned(N), kThreads, 0, stream()>>>(x, y, C, false);
    check_launch("softmax_rows");
}
void log_softmax_rows(const float* x, float* y, index_t N, index_t C) {
    if (N <= 0) return;
    softmax_kernel<<<unsigned(N), kThreads, 0, stream()>>>(x, y, C, true);
    check_launch("log_softmax_rows");
}
void softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C) {
    if (N <= 0) return;
    softmax_backward_kernel<<<unsigned(N), kThreads, 0, stream()>>>(y, g, dx, C, false);
    check_launch("softmax_backward_rows");
}
void log_softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C) {
    if (N <= 0) return;
    softmax_backward_kernel<<<unsigned(N), kThreads, 0, stream()>>>(y, g, dx, C, true);
    check_launch("log_softmax_backward_rows");
}

void cross_entropy_forward(const float* logits, const std::int64_t* targets, float* logp, float* loss, index_t N,
                           index_t C) {
    double* nll = nullptr;
    SALUN_CUDA_CHECK(cudaMallocAsync(&nll, sizeof(double) * std::size_t(N), stream()));
    cross_entropy_rows<<<unsigned(N), kThreads, 0, stream()>>>(logits, targets, logp, nll, C);
    check_launch("cross_entropy_rows");
    mean_kernel<<<1, kThreads, 0, stream()>>>(nll, loss, N);
    check_launch("cross_entropy_mean");
    SALUN_CUDA_CHECK(cudaFreeAsync(nll, stream()));
}

void cross_entropy_backward(const float* logp, const std::int64_t* targets, const float* g, float* dx, index_t N,
                            index_t C) {
    cross_entropy_backward_kernel<<<blocks_for(N * C), 256, 0, stream()>>>(logp, targets, g, dx, N, C);
    check_launch("cross_entropy_backward");
}

}  // namespace salun::cuda
