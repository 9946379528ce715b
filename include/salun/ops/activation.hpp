// SPDX-License-Identifier: MIT
// Activations: relu, and softmax / log_softmax along dim 1 of a [N,C] tensor (numerically stable:
// the row maximum is subtracted before exponentiating).
#pragma once

#include <algorithm>
#include <cmath>

#include "salun/core/tensor.hpp"
#include "salun/kernels/elementwise.hpp"

namespace salun {

namespace detail {
/// The ReLU's backward on y's device: g where the ReLU's output y > 0, else 0 (a NaN output
/// passes g through, as in PyTorch). Also the fused batch-norm ops' masked gradient.
template <class T>
Tensor<T> relu_grad(const Tensor<T>& y, const Tensor<T>& g) {
    Tensor<T> dx = Tensor<T>::empty(g.shape(), g.device());
    const std::size_t m = g.numel();
    if (g.device() != Device::cpu) {
        kernels::device::relu_backward<T>(y.device_data(), g.device_data(), dx.device_data(), std::int64_t(m));
        return dx;
    }
    const T* pg = g.data();
    const T* py = y.data();
    T* pd = dx.data();
#pragma omp parallel for simd if (m > (1u << 16))
    for (std::size_t i = 0; i < m; ++i) pd[i] = kernels::ew::relu_backward(py[i], pg[i]);
    return dx;
}
}  // namespace detail

template <class T>
Tensor<T> relu(const Tensor<T>& x) {
    const Device dev = x.device();
    Tensor<T> out = Tensor<T>::empty(x.shape(), dev);
    const std::size_t n = x.numel();
    if (dev != Device::cpu) {
        kernels::device::relu_forward<T>(x.device_data(), out.device_data(), std::int64_t(n));
    } else {
        const T* px = x.data();
        T* py = out.data();
#pragma omp parallel for simd if (n > (1u << 16))
        for (std::size_t i = 0; i < n; ++i) py[i] = kernels::ew::relu(px[i]);  // NaN passes through, as in PyTorch
    }
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "relu", {x}, [y = out.detach()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{detail::relu_grad(y, g)};
        });
    }
    return out;
}

namespace detail {
inline void check_rows(const Shape& s, std::size_t dim, const char* op) {
    SALUN_CHECK(s.size() == 2 && dim == 1, op, ": supports [N,C] inputs along dim 1, got shape ", shape_str(s),
                " dim ", dim);
}

/// For each row of a [N,C] array: mx = max, s = sum exp(x - mx) (in double), r = per_row(s)
/// once, then y = f(x - mx, r) elementwise. Both softmax forms below share this pass.
template <class T, class R, class F>
void softmax_family_rows(const T* x, T* y, std::size_t N, std::size_t C, R per_row, F f) {
#pragma omp parallel for if (N * C > (1u << 14))
    for (std::size_t n = 0; n < N; ++n) {
        const T* xr = x + n * C;
        T* yr = y + n * C;
        const T mx = *std::max_element(xr, xr + C);
        double s = 0;
        for (std::size_t c = 0; c < C; ++c) s += std::exp(double(xr[c] - mx));
        const auto r = per_row(s);
        for (std::size_t c = 0; c < C; ++c) yr[c] = f(xr[c] - mx, r);
    }
}

/// Row-wise log-softmax: (x - max) - log(sum), as PyTorch. Folding max + log(sum) into one float
/// first would round it to ulp(max), an absolute error that swamps log-probabilities near 0 for
/// large logits.
template <class T>
void log_softmax_rows(const T* x, T* y, std::size_t N, std::size_t C) {
    softmax_family_rows(x, y, N, C, [](double s) { return T(std::log(s)); },
                        [](T shifted, T log_sum) { return shifted - log_sum; });
}

/// Row-wise softmax: exp(x - max) / sum (not exp(log_softmax), which loses relative accuracy
/// for large logits).
template <class T>
void softmax_rows(const T* x, T* y, std::size_t N, std::size_t C) {
    softmax_family_rows(x, y, N, C, [](double s) { return s; },
                        [](T shifted, double s) { return T(std::exp(double(shifted)) / s); });
}
}  // namespace detail

template <class T>
Tensor<T> log_softmax(const Tensor<T>& x, std::size_t dim = 1) {
    detail::check_rows(x.shape(), dim, "log_softmax");
    const std::size_t N = x.shape()[0], C = x.shape()[1];
    Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
    if (x.device() != Device::cpu)
        kernels::device::log_softmax_rows<T>(x.device_data(), out.device_data(), std::int64_t(N), std::int64_t(C));
    else
        detail::log_softmax_rows(x.data(), out.data(), N, C);
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "log_softmax", {x}, [y = out.detach(), N, C](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape(), g.device());  // dx = g - softmax * sum(g)
            if (g.device() != Device::cpu) {
                kernels::device::log_softmax_backward_rows<T>(y.device_data(), g.device_data(), dx.device_data(),
                                                              std::int64_t(N), std::int64_t(C));
                return std::vector<Tensor<T>>{dx};
            }
            for (std::size_t n = 0; n < N; ++n) {
                double s = 0;
                for (std::size_t c = 0; c < C; ++c) s += g.data()[n * C + c];
                for (std::size_t c = 0; c < C; ++c)
                    dx.data()[n * C + c] = g.data()[n * C + c] - std::exp(y.data()[n * C + c]) * T(s);
            }
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

template <class T>
Tensor<T> softmax(const Tensor<T>& x, std::size_t dim = 1) {
    detail::check_rows(x.shape(), dim, "softmax");
    const std::size_t N = x.shape()[0], C = x.shape()[1];
    Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
    if (x.device() != Device::cpu)
        kernels::device::softmax_rows<T>(x.device_data(), out.device_data(), std::int64_t(N), std::int64_t(C));
    else
        detail::softmax_rows(x.data(), out.data(), N, C);
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "softmax", {x}, [y = out.detach(), N, C](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape(), g.device());  // dx = y * (g - sum(g * y))
            if (g.device() != Device::cpu) {
                kernels::device::softmax_backward_rows<T>(y.device_data(), g.device_data(), dx.device_data(),
                                                          std::int64_t(N), std::int64_t(C));
                return std::vector<Tensor<T>>{dx};
            }
            for (std::size_t n = 0; n < N; ++n) {
                double s = 0;
                for (std::size_t c = 0; c < C; ++c) s += double(g.data()[n * C + c]) * y.data()[n * C + c];
                for (std::size_t c = 0; c < C; ++c)
                    dx.data()[n * C + c] = y.data()[n * C + c] * (g.data()[n * C + c] - T(s));
            }
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

}  // namespace salun
