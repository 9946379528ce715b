// SPDX-License-Identifier: MIT
// Element-wise kernels: one grid-stride loop each around a body from kernels/elementwise.hpp
// (the same functions the CPU ops call, so both backends compute each element the same way).
#include "common.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

namespace ew = ::salun::kernels::ew;

// for (i in [0, n)) f(i), spread over the grid.
template <class F>
__global__ void for_each(std::int64_t n, F f) {
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(blockDim.x) * gridDim.x)
        f(i);
}

template <class F>
void launch(const char* name, std::int64_t n, F f) {
    if (n <= 0) return;
    for_each<<<blocks_for(n), 256, 0, stream()>>>(n, f);
    check_launch(name);
}

}  // namespace

void fill(float* y, float value, index_t n) {
    launch("fill", n, [=] __device__(std::int64_t i) { y[i] = value; });
}
void relu_forward(const float* x, float* y, index_t n) {
    launch("relu_forward", n, [=] __device__(std::int64_t i) { y[i] = ew::relu(x[i]); });
}
void relu_backward(const float* y, const float* g, float* dx, index_t n) {
    launch("relu_backward", n, [=] __device__(std::int64_t i) { dx[i] = ew::relu_backward(y[i], g[i]); });
}
void binary(ew::Binary op, const float* a, const float* b, float* y, index_t n) {
    launch("binary", n, [=] __device__(std::int64_t i) { y[i] = ew::binary(op, a[i], b[i]); });
}
void affine(const float* x, float* y, float s, float t, index_t n) {
    launch("affine", n, [=] __device__(std::int64_t i) { y[i] = ew::affine(x[i], s, t); });
}
void add_inplace(float* y, const float* x, index_t n) {
    launch("add_inplace", n, [=] __device__(std::int64_t i) { y[i] += x[i]; });
}
void scale_inplace(float* y, float s, index_t n) {
    launch("scale_inplace", n, [=] __device__(std::int64_t i) { y[i] *= s; });
}
void mask_multiply(float* g, const float* mask, index_t n) {
    launch("mask_multiply", n, [=] __device__(std::int64_t i) { g[i] *= mask[i]; });
}
void abs_accumulate(float* acc, const float* g, index_t n) {
    launch("abs_accumulate", n, [=] __device__(std::int64_t i) { acc[i] += ew::abs(g[i]); });
}
void broadcast_rows(const float* row, float* y, index_t rows, index_t cols) {
    launch("broadcast_rows", rows * cols, [=] __device__(std::int64_t i) { y[i] = row[i % cols]; });
}
void sgd_update(float* w, const float* g, float* buf, const float* mask, index_t n, const ew::SgdStep<float>& step) {
    const ew::SgdStep<float> s = step;  // by value into the kernel
    launch("sgd_update", n, [=] __device__(std::int64_t i) {
        if (mask && mask[i] == 0.0f) return;  // a masked weight and its momentum stay as they are
        ew::sgd_update(w[i], g[i], buf ? buf + i : nullptr, s);
    });
}

}  // namespace salun::cuda
