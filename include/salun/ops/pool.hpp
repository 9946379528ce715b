// SPDX-License-Identifier: MIT
// Pooling: max_pool2d (PyTorch's defaults: stride = kernel, -inf padding, first maximum wins),
// avg_pool2d (count_include_pad=True) and adaptive_avg_pool2d (PyTorch's window formula).
#pragma once

#include <cstdint>
#include <memory>

#include "salun/core/tensor.hpp"
#include "salun/kernels/backend.hpp"
#include "salun/ops/device.hpp"

namespace salun {

namespace detail {
inline kernels::Pool2dParams pool_params(const Shape& s, std::size_t kernel, std::size_t stride, std::size_t padding,
                                         const char* op) {
    SALUN_CHECK(s.size() == 4, op, ": need input [N,C,H,W], got ", shape_str(s));
    SALUN_CHECK(kernel > 0 && stride > 0, op, ": kernel and stride must be positive");
    SALUN_CHECK(2 * padding <= kernel, op, ": padding ", padding, " must be at most half the kernel ", kernel);
    SALUN_CHECK(s[2] + 2 * padding >= kernel && s[3] + 2 * padding >= kernel, op, ": kernel ", kernel,
                " larger than padded input ", shape_str(s));
    kernels::Pool2dParams p;
    p.N = s[0];
    p.C = s[1];
    p.H = s[2];
    p.W = s[3];
    p.KH = p.KW = kernel;
    p.SH = p.SW = stride;
    p.PH = p.PW = padding;
    return p;
}

/// max_pool2d of a tensor on a device: the argmax indices stay in device memory for the backward.
template <class T>
Tensor<T> max_pool2d_on_device(const Tensor<T>& x, const kernels::Pool2dParams& p, const Shape& out_shape) {
    const Device dev = x.device();
    Tensor<T> out = Tensor<T>::empty(out_shape, dev);
    auto argmax = std::make_shared<DeviceBuffer>(dev, numel_of(out_shape) * sizeof(std::int64_t));
    kernels::device::max_pool2d_forward<T>(x.device_data(), out.device_data(), static_cast<std::int64_t*>(argmax->ptr), p);
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "max_pool2d", {x}, [p, argmax, in_shape = x.shape()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(in_shape, g.device());
            kernels::device::max_pool2d_backward<T>(g.device_data(), static_cast<const std::int64_t*>(argmax->ptr),
                                                    dx.device_data(), p);
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}
}  // namespace detail

/// stride 0 means stride = kernel (PyTorch's default).
template <class T>
Tensor<T> max_pool2d(const Tensor<T>& x, std::size_t kernel, std::size_t stride = 0, std::size_t padding = 0) {
    const auto p = detail::pool_params(x.shape(), kernel, stride ? stride : kernel, padding, "max_pool2d");
    const Shape out_shape{p.N, p.C, p.OH(), p.OW()};
    if (x.device() != Device::cpu) return detail::max_pool2d_on_device(x, p, out_shape);
    Tensor<T> out = Tensor<T>::empty(out_shape);
    auto argmax = std::make_shared<std::vector<std::int64_t>>(numel_of(out_shape));
    kernels::backend::max_pool2d_forward<T>(p, x.data(), out.data(), argmax->data());
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "max_pool2d", {x}, [p, argmax, in_shape = x.shape()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(in_shape);
            kernels::backend::max_pool2d_backward<T>(p, g.data(), argmax->data(), dx.data());
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, std::size_t kernel, std::size_t stride = 0, std::size_t padding = 0) {
    const auto p = detail::pool_params(x.shape(), kernel, stride ? stride : kernel, padding, "avg_pool2d");
    if (x.device() != Device::cpu) detail::not_on_device("avg_pool2d", x.device());
    Tensor<T> out = Tensor<T>::empty({p.N, p.C, p.OH(), p.OW()});
    kernels::backend::avg_pool2d_forward<T>(p, x.data(), out.data());
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "avg_pool2d", {x}, [p, in_shape = x.shape()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(in_shape);
            kernels::backend::avg_pool2d_backward<T>(p, g.data(), dx.data());
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

template <class T>
Tensor<T> adaptive_avg_pool2d(const Tensor<T>& x, std::size_t out_h, std::size_t out_w) {
    SALUN_CHECK(x.dim() == 4, "adaptive_avg_pool2d: need input [N,C,H,W], got ", shape_str(x.shape()));
    SALUN_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size must be positive");
    const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    const Device dev = x.device();
    Tensor<T> out = Tensor<T>::empty({N, C, out_h, out_w}, dev);
    using I = std::int64_t;
    if (dev != Device::cpu) {
        kernels::device::adaptive_avg_pool2d_forward<T>(x.device_data(), out.device_data(), I(N * C), I(H), I(W),
                                                        I(out_h), I(out_w));
        if (autograd::needs_grad(x)) {
            autograd::record<T>(out, "adaptive_avg_pool2d", {x}, [=, in_shape = x.shape()](const Tensor<T>& g) {
                Tensor<T> dx = Tensor<T>::empty(in_shape, g.device());
                kernels::device::adaptive_avg_pool2d_backward<T>(g.device_data(), dx.device_data(), I(N * C), I(H),
                                                                 I(W), I(out_h), I(out_w));
                return std::vector<Tensor<T>>{dx};
            });
        }
        return out;
    }
    kernels::backend::adaptive_avg_pool2d_forward<T>(N * C, H, W, out_h, out_w, x.data(), out.data());
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "adaptive_avg_pool2d", {x}, [N, C, H, W, out_h, out_w, in_shape = x.shape()](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(in_shape);
            kernels::backend::adaptive_avg_pool2d_backward<T>(N * C, H, W, out_h, out_w, g.data(), dx.data());
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

}  // namespace salun
