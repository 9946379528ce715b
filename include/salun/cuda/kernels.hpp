// SPDX-License-Identifier: MIT
// The CUDA backend's kernels behind plain pointers: what ops call for tensors on Device::cuda
// (through kernels/device.hpp). Every pointer is device memory; every function is float32 and
// queues its work on salun's one stream (runtime.hpp), so calls are ordered and return at once,
// except those documented as returning a host value (they synchronise). Row-major, NCHW, as
// on the CPU. Defined in src/cuda/*.cu; this header includes no CUDA header.
#pragma once

#include <cstdint>

#include "salun/kernels/elementwise.hpp"
#include "salun/kernels/params.hpp"

namespace salun::cuda {

using index_t = std::int64_t;

// ---- element-wise (src/cuda/elementwise.cu; bodies from kernels/elementwise.hpp) -------------
void fill(float* y, float value, index_t n);
void relu_forward(const float* x, float* y, index_t n);
void relu_backward(const float* y, const float* g, float* dx, index_t n);
void binary(kernels::ew::Binary op, const float* a, const float* b, float* y, index_t n);
void affine(const float* x, float* y, float s, float t, index_t n);
void add_inplace(float* y, const float* x, index_t n);                 ///< y += x
void scale_inplace(float* y, float s, index_t n);                      ///< y *= s
void mask_multiply(float* g, const float* mask, index_t n);            ///< g *= mask
void abs_accumulate(float* acc, const float* g, index_t n);            ///< acc += |g| (saliency)
void broadcast_rows(const float* row, float* y, index_t rows, index_t cols);  ///< y[r, :] = row
void sgd_update(float* w, const float* g, float* buf, const float* mask, index_t n,
                const kernels::ew::SgdStep<float>& step);              ///< mask may be null; buf too

// ---- reductions (src/cuda/reduce.cu) --------------------------------------------------------
void sum(const float* x, float* out, index_t n, float scale);          ///< out[0] = scale * sum(x)
void expand_scalar(const float* s, float* y, float scale, index_t n);  ///< y[i] = scale * s[0]
void column_sums(const float* x, float* y, index_t rows, index_t cols);///< y[c] = sum_r x[r, c]
/// sum over k of sum(xs[k][i]^2, i < ns[k]): the global gradient norm's square over all parameters
/// in one pass and one synchronisation (deterministic: fixed block partials, summed in order).
double sum_squares(const float* const* xs, const index_t* ns, index_t count);

// ---- softmax family and the loss (src/cuda/softmax.cu) --------------------------------------
void softmax_rows(const float* x, float* y, index_t N, index_t C);
void log_softmax_rows(const float* x, float* y, index_t N, index_t C);
void softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C);
void log_softmax_backward_rows(const float* y, const float* g, float* dx, index_t N, index_t C);
/// logp = log_softmax(logits); loss[0] = mean_n -logp[n, t_n]. `targets` is device memory.
void cross_entropy_forward(const float* logits, const std::int64_t* targets, float* logp, float* loss,
                           index_t N, index_t C);
/// dx = (exp(logp) - onehot(t)) * g[0] / N, with g the loss's gradient (device memory, one value).
void cross_entropy_backward(const float* logp, const std::int64_t* targets, const float* g, float* dx,
                            index_t N, index_t C);

// ---- cuBLAS (src/cuda/blas.cu) ------------------------------------------------------------------
/// C = alpha * op(A) op(B) + beta * C on row-major matrices, the contract of kernels::cpu::gemm.
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
          const float* B, index_t ldb, float beta, float* C, index_t ldc);

// ---- cuDNN (src/cuda/dnn.cu): same parameters as the CPU kernels (kernels/params.hpp) ----------
void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const kernels::Conv2dParams& p);
void conv2d_backward_data(const float* w, const float* gy, float* gx, const kernels::Conv2dParams& p);
void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias, const kernels::Conv2dParams& p);


// ---- batch norm over [N,C,HW] (src/cuda/batch_norm.cu: cuDNN, plus an own eval-mode backward) --
/// Batch statistics; running_mean/var (may both be null) updated with the unbiased variance.
/// save_mean / save_invstd [C] are what the backward pass needs. gamma/beta may be null (1 / 0).
void batch_norm_forward_training(const float* x, const float* gamma, const float* beta, float* y, float* running_mean,
                                 float* running_var, float* save_mean, float* save_invstd, index_t N, index_t C,
                                 index_t HW, double momentum, double eps);
void batch_norm_forward_inference(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float* y, index_t N, index_t C, index_t HW, double eps);
void batch_norm_backward_training(const float* x, const float* gy, const float* gamma, const float* save_mean,
                                  const float* save_invstd, float* gx, float* ggamma, float* gbeta, index_t N,
                                  index_t C, index_t HW, double eps);
/// Eval mode: the running statistics are constants. gx may be null.
void batch_norm_backward_eval(const float* x, const float* gy, const float* gamma, const float* running_mean,
                              const float* running_var, float* gx, float* ggamma, float* gbeta, index_t N, index_t C,
                              index_t HW, double eps);

// ---- pooling (src/cuda/pool.cu) ---------------------------------------------------------------
/// argmax: index within the input plane (h * W + w) of each output, as the CPU kernels.
void max_pool2d_forward(const float* x, float* y, std::int64_t* argmax, const kernels::Pool2dParams& p);
void max_pool2d_backward(const float* dy, const std::int64_t* argmax, float* dx, const kernels::Pool2dParams& p);
void adaptive_avg_pool2d_forward(const float* x, float* y, index_t NC, index_t H, index_t W, index_t OH, index_t OW);
void adaptive_avg_pool2d_backward(const float* dy, float* dx, index_t NC, index_t H, index_t W, index_t OH, index_t OW);

}  // namespace salun::cuda
