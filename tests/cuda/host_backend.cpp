// SPDX-License-Identifier: MIT
// A stand-in for salun::cuda that runs on the host: the plain-pointer interface of
// cuda/runtime.hpp and cuda/kernels.hpp implemented with ordinary memory and the CPU backend's
// kernels (kernels/cpu, kernels/elementwise.hpp). Linked instead of salun::cuda into
// test_cuda_host, it makes "cuda" tensors exist on a machine without a GPU, so that every device
// branch of the headers (dispatch, autograd, module.to, the loader, the optimiser, SalUn, the
// experiment) runs in CI. It proves the plumbing, not the CUDA kernels: those need a GPU
// (test_cuda).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "salun/cuda/kernels.hpp"
#include "salun/cuda/runtime.hpp"
#include "salun/kernels/backend.hpp"
#include "salun/ops/activation.hpp"

namespace salun::cuda {

namespace ew = kernels::ew;
namespace cpu = kernels::cpu;
using std::size_t;

// ---- runtime ------------------------------------------------------------------------------------
int device_count() noexcept { return 1; }
std::string device_status() { return "host stand-in for a CUDA device (tests/cuda/host_backend.cpp; no GPU used)"; }
void* malloc_bytes(size_t bytes) {
    // Filled with NaN bit patterns: a kernel that reads memory it never wrote shows up in the results.
    void* p = std::malloc(bytes ? bytes : 1);
    if (!p) detail::throw_error("host stand-in: cannot allocate ", bytes, " bytes");
    std::memset(p, 0xff, bytes);
    return p;
}
void free_bytes(void* p) noexcept { std::free(p); }
void copy_bytes(void* dst, bool, const void* src, bool, size_t bytes) { std::memmove(dst, src, bytes); }
void copy_to_device_async(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
void* malloc_pinned(size_t bytes) { return malloc_bytes(bytes); }
void free_pinned(void* p) noexcept { std::free(p); }
void synchronize() {}

// ---- element-wise -------------------------------------------------------------------------------
void fill(float* y, float v, index_t n) { std::fill_n(y, n, v); }
void relu_forward(const float* x, float* y, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] = ew::relu(x[i]);
}
void relu_backward(const float* y, const float* g, float* dx, index_t n) {
    for (index_t i = 0; i < n; ++i) dx[i] = ew::relu_backward(y[i], g[i]);
}
void binary(ew::Binary op, const float* a, const float* b, float* y, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] = ew::binary(op, a[i], b[i]);
}
void affine(const float* x, float* y, float s, float t, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] = ew::affine(x[i], s, t);
}
void add_inplace(float* y, const float* x, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] += x[i];
}
void scale_inplace(float* y, float s, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] *= s;
}
void mask_multiply(float* g, const float* m, index_t n) {
    for (index_t i = 0; i < n; ++i) g[i] *= m[i];
}
void abs_accumulate(float* acc, const float* g, index_t n) {
    for (index_t i = 0; i < n; ++i) acc[i] += ew::abs(g[i]);
}
void broadcast_rows(const float* row, float* y, index_t rows, index_t cols) {
    for (index_t r = 0; r < rows; ++r) std::copy_n(row, cols, y + r * cols);
}
void sgd_update(float* w, const float* g, float* buf, const float* mask, index_t n, const ew::SgdStep<float>& s) {
    for (index_t i = 0; i < n; ++i)
        if (!mask || mask[i] != 0.0f) ew::sgd_update(w[i], g[i], buf ? buf + i : nullptr, s);
}

// ---- reductions ---------------------------------------------------------------------------------
void sum(const float* x, float* out, index_t n, float scale) {
    double s = 0;
    for (index_t i = 0; i < n; ++i) s += x[i];
    out[0] = float(s * double(scale));
}
void expand_scalar(const float* s, float* y, float scale, index_t n) { std::fill_n(y, n, s[0] * scale); }
void column_sums(const float* x, float* y, index_t rows, index_t cols) {
    for (index_t c = 0; c < cols; ++c) {
        double s = 0;
        for (index_t r = 0; r < rows; ++r) s += x[r * cols + c];
        y[c] = float(s);
    }
}
double sum_squares(const float* const* xs, const index_t* ns, index_t count) {
    double s = 0;
    for (index_t k = 0; k < count; ++k)
        for (index_t i = 0; i < ns[k]; ++i) s += double(xs[k][i]) * double(xs[k][i]);
    return s;
}

// ---- softmax family -----------------------------------------------------------------------------
void softmax_rows(const float* x, float* y, index_t N, index_t C) { salun::detail::softmax_rows(x, y, size_t(N), size_t(C)); }
void log_softmax_rows(const float* x, float* y, index_t N, index_t C) {
    salun::detail::log_softmax_rows(x, y, size_t(N), size_t(C));
}
void softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C) {
    for (index_t n = 0; n < N; ++n) {
        double s = 0;
        for (index_t c = 0; c < C; ++c) s += double(g[n * C + c]) * y[n * C + c];
        for (index_t c = 0; c < C; ++c) dx[n * C + c] = y[n * C + c] * (g[n * C + c] - float(s));
    }
}
void log_softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C) {
    for (index_t n = 0; n < N; ++n) {
        double s = 0;
        for (index_t c = 0; c < C; ++c) s += g[n * C + c];
        for (index_t c = 0; c < C; ++c) dx[n * C + c] = g[n * C + c] - std::exp(y[n * C + c]) * float(s);
    }
}
void cross_entropy_forward(const float* logits, const std::int64_t* t, float* logp, float* loss, index_t N, index_t C) {
    log_softmax_rows(logits, logp, N, C);
    double s = 0;
    for (index_t n = 0; n < N; ++n) s -= logp[n * C + t[n]];
    loss[0] = float(s / double(N));
}
void cross_entropy_backward(const float* logp, const std::int64_t* t, const float* g, float* dx, index_t N, index_t C) {
    const float scale = g[0] / float(N);
    for (index_t n = 0; n < N; ++n)
        for (index_t c = 0; c < C; ++c) dx[n * C + c] = (std::exp(logp[n * C + c]) - (t[n] == c ? 1.0f : 0.0f)) * scale;
}

// ---- GEMM, convolution, batch norm, pooling: the CPU backend's kernels ------------------------------
void gemm(bool ta, bool tb, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda, const float* B,
          index_t ldb, float beta, float* C, index_t ldc) {
    cpu::gemm<float>(ta, tb, size_t(M), size_t(N), size_t(K), alpha, A, size_t(lda), B, size_t(ldb), beta, C, size_t(ldc));
}
void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const kernels::Conv2dParams& p) {
    cpu::conv2d_forward<float>(p, x, w, bias, y);
}
void conv2d_backward_data(const float* w, const float* gy, float* gx, const kernels::Conv2dParams& p) {
    cpu::conv2d_backward_input<float>(p, gy, w, gx);
}
void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gb, const kernels::Conv2dParams& p) {
    cpu::conv2d_backward_weight<float>(p, x, gy, gw, gb);
}

void batch_norm_forward_training(const float* x, const float* gamma, const float* beta, float* y, float* rm, float* rv,
                                 float* save_mean, float* save_invstd, index_t N, index_t C, index_t HW, double momentum,
                                 double eps) {
    std::vector<float> var(static_cast<size_t>(C));
    cpu::batch_norm_stats<float>(size_t(N), size_t(C), size_t(HW), x, save_mean, var.data());
    for (index_t c = 0; c < C; ++c) save_invstd[c] = 1.0f / std::sqrt(var[size_t(c)] + float(eps));
    if (rm && rv) {
        const double M = double(N * HW), unbias = M / (M - 1);
        for (index_t c = 0; c < C; ++c) {
            rm[c] = float((1 - momentum) * rm[c] + momentum * save_mean[c]);
            rv[c] = float((1 - momentum) * rv[c] + momentum * var[size_t(c)] * unbias);
        }
    }
    cpu::batch_norm_apply<float>(size_t(N), size_t(C), size_t(HW), x, save_mean, save_invstd, gamma, beta, y, false);
}
void batch_norm_forward_inference(const float* x, const float* gamma, const float* beta, const float* rm, const float* rv,
                                  float* y, index_t N, index_t C, index_t HW, double eps) {
    std::vector<float> invstd(static_cast<size_t>(C));
    for (index_t c = 0; c < C; ++c) invstd[size_t(c)] = 1.0f / std::sqrt(rv[c] + float(eps));
    cpu::batch_norm_apply<float>(size_t(N), size_t(C), size_t(HW), x, rm, invstd.data(), gamma, beta, y, false);
}
void batch_norm_backward_training(const float* x, const float* gy, const float* gamma, const float* save_mean,
                                  const float* save_invstd, float* gx, float* gg, float* gb, index_t N, index_t C,
                                  index_t HW, double) {
    cpu::batch_norm_backward<float>(size_t(N), size_t(C), size_t(HW), gy, x, save_mean, save_invstd, gamma, gx, gg, gb,
                                    nullptr);
}
void batch_norm_backward_eval(const float* x, const float* gy, const float* gamma, const float* rm, const float* rv,
                              float* gx, float* gg, float* gb, index_t N, index_t C, index_t HW, double eps) {
    for (index_t c = 0; c < C; ++c) {
        const float invstd = 1.0f / std::sqrt(rv[c] + float(eps));
        const float scale = invstd * (gamma ? gamma[c] : 1.0f);
        double sg = 0, sgx = 0;
        for (index_t n = 0; n < N; ++n)
            for (index_t i = 0; i < HW; ++i) {
                const index_t k = (n * C + c) * HW + i;
                sg += gy[k];
                sgx += double(gy[k]) * (double(x[k]) - rm[c]) * invstd;
                if (gx) gx[k] = gy[k] * scale;
            }
        gg[c] = float(sgx);
        gb[c] = float(sg);
    }
}
void max_pool2d_forward(const float* x, float* y, std::int64_t* argmax, const kernels::Pool2dParams& p) {
    cpu::max_pool2d_forward<float>(p, x, y, argmax);
}
void max_pool2d_backward(const float* dy, const std::int64_t* argmax, float* dx, const kernels::Pool2dParams& p) {
    cpu::max_pool2d_backward<float>(p, dy, argmax, dx);
}
void adaptive_avg_pool2d_forward(const float* x, float* y, index_t NC, index_t H, index_t W, index_t OH, index_t OW) {
    cpu::adaptive_avg_pool2d_forward<float>(size_t(NC), size_t(H), size_t(W), size_t(OH), size_t(OW), x, y);
}
void adaptive_avg_pool2d_backward(const float* dy, float* dx, index_t NC, index_t H, index_t W, index_t OH, index_t OW) {
    cpu::adaptive_avg_pool2d_backward<float>(size_t(NC), size_t(H), size_t(W), size_t(OH), size_t(OW), dy, dx);
}

}  // namespace salun::cuda
