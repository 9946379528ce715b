// SPDX-License-Identifier: MIT
// Naive reference kernels: the definition of what every fast kernel computes. Plain loops,
// no blocking, no SIMD; used by the tests to check the optimised kernels (kernels/cpu/*) on
// edge tiles and odd sizes, and as documentation of each kernel's contract.
//
// Conventions shared by all kernels (reference, cpu, and any future backend):
//   * raw pointers to contiguous row-major data; images are NCHW;
//   * "forward"/"backward_*" outputs are overwritten, never accumulated, unless stated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "salun/kernels/params.hpp"

namespace salun::kernels::reference {

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op(X) = X or X^T (row-major storage;
/// A is M x K, or K x M when trans_a; B is K x N, or N x K when trans_b). beta == 0 ignores C.
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    for (std::size_t i = 0; i < M; ++i)
        for (std::size_t j = 0; j < N; ++j) {
            double acc = 0;
            for (std::size_t k = 0; k < K; ++k) {
                const T a = trans_a ? A[k * lda + i] : A[i * lda + k];
                const T b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += double(a) * double(b);
            }
            const T prev = beta == T(0) ? T(0) : beta * C[i * ldc + j];
            C[i * ldc + j] = static_cast<T>(alpha * acc) + prev;
        }
}

/// y[N,OC,OH,OW] = conv(x[N,C,H,W], w[OC,C,KH,KW]) + bias[OC] (bias may be null). Zero padding.
template <class T>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t n = 0; n < p.N; ++n)
        for (std::size_t oc = 0; oc < p.OC; ++oc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    double acc = bias ? bias[oc] : 0;
                    for (std::size_t c = 0; c < p.C; ++c)
                        for (std::size_t kh = 0; kh < p.KH; ++kh)
                            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                                const long ih = long(oh * p.SH + kh) - long(p.PH);
                                const long iw = long(ow * p.SW + kw) - long(p.PW);
                                if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                                acc += double(x[((n * p.C + c) * p.H + ih) * p.W + iw]) *
                                       double(w[((oc * p.C + c) * p.KH + kh) * p.KW + kw]);
                            }
                    y[((n * p.OC + oc) * OH + oh) * OW + ow] = static_cast<T>(acc);
                }
}

/// dx[N,C,H,W] = d(loss)/dx given dy[N,OC,OH,OW] (overwritten).
template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t i = 0; i < p.N * p.C * p.H * p.W; ++i) dx[i] = T(0);
    for (std::size_t n = 0; n < p.N; ++n)
        for (std::size_t oc = 0; oc < p.OC; ++oc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    const T g = dy[((n * p.OC + oc) * OH + oh) * OW + ow];
                    for (std::size_t c = 0; c < p.C; ++c)
                        for (std::size_t kh = 0; kh < p.KH; ++kh)
                            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                                const long ih = long(oh * p.SH + kh) - long(p.PH);
                                const long iw = long(ow * p.SW + kw) - long(p.PW);
                                if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                                dx[((n * p.C + c) * p.H + ih) * p.W + iw] +=
                                    g * w[((oc * p.C + c) * p.KH + kh) * p.KW + kw];
                            }
                }
}

/// dw[OC,C,KH,KW] and dbias[OC] (nullable), overwritten.
template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* x, const T* dy, T* dw, T* dbias) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t i = 0; i < p.OC * p.C * p.KH * p.KW; ++i) dw[i] = T(0);
    if (dbias)
        for (std::size_t oc = 0; oc < p.OC; ++oc) dbias[oc] = T(0);
    for (std::size_t n = 0; n < p.N; ++n)
        for (std::size_t oc = 0; oc < p.OC; ++oc)
            for (std::size_t oh = 0; oh < OH; ++oh)
                for (std::size_t ow = 0; ow < OW; ++ow) {
                    const T g = dy[((n * p.OC + oc) * OH + oh) * OW + ow];
                    if (dbias) dbias[oc] += g;
                    for (std::size_t c = 0; c < p.C; ++c)
                        for (std::size_t kh = 0; kh < p.KH; ++kh)
                            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                                const long ih = long(oh * p.SH + kh) - long(p.PH);
                                const long iw = long(ow * p.SW + kw) - long(p.PW);
                                if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                                dw[((oc * p.C + c) * p.KH + kh) * p.KW + kw] +=
                                    g * x[((n * p.C + c) * p.H + ih) * p.W + iw];
                            }
                }
}

/// Max pooling with -inf padding; argmax[i] = flat index h*W+w inside the (n,c) plane of the
/// winner (first maximum wins, as PyTorch). y and argmax are [N,C,OH,OW].
template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* x, T* y, std::int64_t* argmax) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t nc = 0; nc < p.N * p.C; ++nc)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                T best = -std::numeric_limits<T>::infinity();
                std::int64_t best_i = -1;
                for (std::size_t kh = 0; kh < p.KH; ++kh)
                    for (std::size_t kw = 0; kw < p.KW; ++kw) {
                        const long ih = long(oh * p.SH + kh) - long(p.PH);
                        const long iw = long(ow * p.SW + kw) - long(p.PW);
                        if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                        const T v = x[nc * p.H * p.W + ih * p.W + iw];
                        if (v > best || best_i < 0 || v != v) {
                            best = v;
                            best_i = ih * long(p.W) + iw;
                        }
                    }
                y[(nc * OH + oh) * OW + ow] = best;
                argmax[(nc * OH + oh) * OW + ow] = best_i;
            }
}

/// dx (overwritten) from dy and the argmax of the forward pass.
template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* dy, const std::int64_t* argmax, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t i = 0; i < p.N * p.C * p.H * p.W; ++i) dx[i] = T(0);
    for (std::size_t nc = 0; nc < p.N * p.C; ++nc)
        for (std::size_t o = 0; o < OH * OW; ++o) dx[nc * p.H * p.W + argmax[nc * OH * OW + o]] += dy[nc * OH * OW + o];
}

/// Average pooling, zero padding counted in the divisor (PyTorch's count_include_pad=True).
template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const T* x, T* y) {
    const std::size_t OH = p.OH(), OW = p.OW();
    const T inv = T(1) / T(p.KH * p.KW);
    for (std::size_t nc = 0; nc < p.N * p.C; ++nc)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                T acc = 0;
                for (std::size_t kh = 0; kh < p.KH; ++kh)
                    for (std::size_t kw = 0; kw < p.KW; ++kw) {
                        const long ih = long(oh * p.SH + kh) - long(p.PH);
                        const long iw = long(ow * p.SW + kw) - long(p.PW);
                        if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                        acc += x[nc * p.H * p.W + ih * p.W + iw];
                    }
                y[(nc * OH + oh) * OW + ow] = acc * inv;
            }
}

template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* dy, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW();
    const T inv = T(1) / T(p.KH * p.KW);
    for (std::size_t i = 0; i < p.N * p.C * p.H * p.W; ++i) dx[i] = T(0);
    for (std::size_t nc = 0; nc < p.N * p.C; ++nc)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow)
                for (std::size_t kh = 0; kh < p.KH; ++kh)
                    for (std::size_t kw = 0; kw < p.KW; ++kw) {
                        const long ih = long(oh * p.SH + kh) - long(p.PH);
                        const long iw = long(ow * p.SW + kw) - long(p.PW);
                        if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                        dx[nc * p.H * p.W + ih * p.W + iw] += dy[(nc * OH + oh) * OW + ow] * inv;
                    }
}

/// PyTorch's adaptive average pooling: output cell (oh, ow) averages rows
/// [floor(oh*H/OH), ceil((oh+1)*H/OH)) and the same for columns.
template <class T>
void adaptive_avg_pool2d_forward(std::size_t NC, std::size_t H, std::size_t W, std::size_t OH, std::size_t OW,
                                 const T* x, T* y) {
    for (std::size_t nc = 0; nc < NC; ++nc)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                const std::size_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
                const std::size_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                T acc = 0;
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) acc += x[nc * H * W + h * W + w];
                y[(nc * OH + oh) * OW + ow] = acc / T((h1 - h0) * (w1 - w0));
            }
}

template <class T>
void adaptive_avg_pool2d_backward(std::size_t NC, std::size_t H, std::size_t W, std::size_t OH, std::size_t OW,
                                  const T* dy, T* dx) {
    for (std::size_t i = 0; i < NC * H * W; ++i) dx[i] = T(0);
    for (std::size_t nc = 0; nc < NC; ++nc)
        for (std::size_t oh = 0; oh < OH; ++oh)
            for (std::size_t ow = 0; ow < OW; ++ow) {
                const std::size_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
                const std::size_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                const T g = dy[(nc * OH + oh) * OW + ow] / T((h1 - h0) * (w1 - w0));
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) dx[nc * H * W + h * W + w] += g;
            }
}

/// Per-channel mean and biased variance of x[N,C,HW].
template <class T>
void batch_norm_stats(std::size_t N, std::size_t C, std::size_t HW, const T* x, T* mean, T* var) {
    for (std::size_t c = 0; c < C; ++c) {
        double s = 0, ss = 0;
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) s += x[(n * C + c) * HW + i];
        const double m = s / double(N * HW);
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const double d = x[(n * C + c) * HW + i] - m;
                ss += d * d;
            }
        mean[c] = T(m);
        var[c] = T(ss / double(N * HW));
    }
}

/// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; gamma/beta nullable (1 and 0); then
/// + residual[same index] when residual is given, then max(., 0) when relu.
template <class T>
void batch_norm_apply(std::size_t N, std::size_t C, std::size_t HW, const T* x, const T* mean, const T* invstd,
                      const T* gamma, const T* beta, T* y, bool relu = false, const T* residual = nullptr) {
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t c = 0; c < C; ++c) {
            const T scale = invstd[c] * (gamma ? gamma[c] : T(1));
            const T shift = (beta ? beta[c] : T(0)) - mean[c] * scale;
            for (std::size_t i = 0; i < HW; ++i) {
                const std::size_t at = (n * C + c) * HW + i;
                const T v = x[at] * scale + shift + (residual ? residual[at] : T(0));
                y[at] = relu && v < T(0) ? T(0) : v;
            }
        }
}

/// Backward of training-mode batch norm (batch statistics): dx, dgamma, dbeta (all overwritten,
/// each nullable). With xhat = (x - mean) * invstd:
///   dbeta = sum dy, dgamma = sum dy * xhat,
///   dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M), M = N*HW.
/// relu_out (nullable): output of the fused batch_norm_relu; dy is masked by relu_out > 0.
template <class T>
void batch_norm_backward(std::size_t N, std::size_t C, std::size_t HW, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* gamma, T* dx, T* dgamma, T* dbeta, const T* relu_out = nullptr) {
    const double M = double(N * HW);
    auto grad = [&](std::size_t k) { return relu_out && relu_out[k] <= T(0) ? 0.0 : double(dy[k]); };
    for (std::size_t c = 0; c < C; ++c) {
        double sdy = 0, sdyx = 0;
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const std::size_t k = (n * C + c) * HW + i;
                sdy += grad(k);
                sdyx += grad(k) * (double(x[k]) - mean[c]) * invstd[c];
            }
        if (dgamma) dgamma[c] = T(sdyx);
        if (dbeta) dbeta[c] = T(sdy);
        if (dx) {
            const double g = (gamma ? gamma[c] : 1.0) * invstd[c];
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t i = 0; i < HW; ++i) {
                    const std::size_t k = (n * C + c) * HW + i;
                    const double xhat = (double(x[k]) - mean[c]) * invstd[c];
                    dx[k] = T(g * (grad(k) - sdy / M - xhat * sdyx / M));
                }
        }
    }
}

}  // namespace salun::kernels::reference
