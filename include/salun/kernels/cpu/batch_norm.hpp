// SPDX-License-Identifier: MIT
// CPU batch-norm kernels, same contract as reference::batch_norm_*. Statistics and gradient
// sums are accumulated in double with a two-pass (mean, then centred squares) scheme, one
// channel per OpenMP iteration (channels are independent, so results do not depend on the
// thread count); the element-wise passes are simple vectorisable loops over each HW plane.
#pragma once

#include <cstddef>

#include "salun/kernels/cpu/threading.hpp"

namespace salun::kernels::cpu {

namespace detail {
inline int bn_threads(std::size_t C, std::size_t elems) {
    const int nt = threads_for(double(elems), 1 << 14);
    return C < std::size_t(nt) ? int(C > 0 ? C : 1) : nt;
}

/// out[i] = relu_out[i] > 0 ? dy[i] : 0 for one HW row (the ReLU backward of a fused
/// batch_norm_relu, done in an L1-sized buffer so the reductions below stay vectorised).
template <class T>
const T* relu_mask_row(const T* dy, const T* relu_out, std::size_t HW, T* out) {
#pragma omp simd
    for (std::size_t i = 0; i < HW; ++i) {
        const T v = dy[i];
        out[i] = relu_out[i] <= T(0) ? T(0) : v;  // as relu's backward: NaN outputs pass
    }
    return out;
}
}  // namespace detail

/// Per-channel mean and biased variance of x[N,C,HW].
template <class T>
void batch_norm_stats(std::size_t N, std::size_t C, std::size_t HW, const T* x, T* mean, T* var) {
    const int nt = detail::bn_threads(C, N * C * HW);
    const double M = double(N * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t c = 0; c < C; ++c) {
        double s = 0;
        for (std::size_t n = 0; n < N; ++n) {
            const T* xp = x + (n * C + c) * HW;
            double sn = 0;
#pragma omp simd reduction(+ : sn)
            for (std::size_t i = 0; i < HW; ++i) sn += double(xp[i]);
            s += sn;
        }
        const double m = M > 0 ? s / M : 0.0;
        double ss = 0;
        for (std::size_t n = 0; n < N; ++n) {
            const T* xp = x + (n * C + c) * HW;
            double sn = 0;
#pragma omp simd reduction(+ : sn)
            for (std::size_t i = 0; i < HW; ++i) {
                const double d = double(xp[i]) - m;
                sn += d * d;
            }
            ss += sn;
        }
        mean[c] = T(m);
        var[c] = M > 0 ? T(ss / M) : T(0);
    }
}

/// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; gamma/beta nullable (1 and 0).
/// relu: y = max(y, 0) in the same pass (batch_norm_relu: one write instead of two passes).
template <class T>
void batch_norm_apply(std::size_t N, std::size_t C, std::size_t HW, const T* x, const T* mean, const T* invstd,
                      const T* gamma, const T* beta, T* y, bool relu = false) {
    const std::size_t planes = N * C;
    const int nt = detail::bn_threads(planes, planes * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < planes; ++nc) {
        const std::size_t c = nc % C;
        const T scale = invstd[c] * (gamma ? gamma[c] : T(1));
        const T shift = (beta ? beta[c] : T(0)) - mean[c] * scale;
        const T* xp = x + nc * HW;
        T* yp = y + nc * HW;
        if (relu) {
#pragma omp simd
            for (std::size_t i = 0; i < HW; ++i) {
                const T v = xp[i] * scale + shift;
                yp[i] = v < T(0) ? T(0) : v;  // NaN passes through, as in PyTorch
            }
        } else {
#pragma omp simd
            for (std::size_t i = 0; i < HW; ++i) yp[i] = xp[i] * scale + shift;
        }
    }
}

/// Backward of training-mode batch norm: dx, dgamma, dbeta (overwritten, each nullable).
///   dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M).
/// relu_out (nullable): the output of a fused batch_norm_relu; dy is then the gradient of that
/// output and is masked by relu_out > 0 on the fly (no separate ReLU backward pass).
template <class T>
void batch_norm_backward(std::size_t N, std::size_t C, std::size_t HW, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* gamma, T* dx, T* dgamma, T* dbeta, const T* relu_out = nullptr) {
    const int nt = detail::bn_threads(C, N * C * HW);
    const double M = double(N * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t c = 0; c < C; ++c) {
        const double m = double(mean[c]), is = double(invstd[c]);
        thread_local detail::AlignedBuffer<T> maskbuf;
        T* masked = relu_out ? maskbuf.get(HW) : nullptr;
        double sdy = 0, sdyx = 0;
        for (std::size_t n = 0; n < N; ++n) {
            const T* dyp = dy + (n * C + c) * HW;
            const T* xp = x + (n * C + c) * HW;
            if (relu_out) dyp = detail::relu_mask_row(dyp, relu_out + (n * C + c) * HW, HW, masked);
            double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
            for (std::size_t i = 0; i < HW; ++i) {
                a += double(dyp[i]);
                b += double(dyp[i]) * (double(xp[i]) - m);
            }
            sdy += a;
            sdyx += b;
        }
        sdyx *= is;
        if (dgamma) dgamma[c] = T(sdyx);
        if (dbeta) dbeta[c] = T(sdy);
        if (dx && M > 0) {
            const double g = (gamma ? double(gamma[c]) : 1.0) * is;
            const double mdy = sdy / M, k = is * sdyx / M;
            for (std::size_t n = 0; n < N; ++n) {
                const T* dyp = dy + (n * C + c) * HW;
                const T* xp = x + (n * C + c) * HW;
                T* dxp = dx + (n * C + c) * HW;
                if (relu_out) dyp = detail::relu_mask_row(dyp, relu_out + (n * C + c) * HW, HW, masked);
#pragma omp simd
                for (std::size_t i = 0; i < HW; ++i)
                    dxp[i] = T(g * (double(dyp[i]) - mdy - (double(xp[i]) - m) * k));
            }
        }
    }
}

}  // namespace salun::kernels::cpu
