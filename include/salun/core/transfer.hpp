// SPDX-License-Identifier: MIT
// Moving tensors between devices (torch.Tensor.to) and filling a tensor on a device: the
// definitions of Tensor::to and Tensor::full(shape, value, device). In core, not ops: they are
// Tensor's own member functions (the backward pass itself calls Tensor::full), and core includes
// nothing above it. ops/device.hpp adds the device rule every op follows.
#pragma once

#include "salun/core/autograd.hpp"
#include "salun/core/device.hpp"
#include "salun/core/tensor.hpp"
#include "salun/kernels/device.hpp"

namespace salun {

template <class T>
Tensor<T> Tensor<T>::full(const Shape& shape, T value, Device device, bool requires_grad) {
    if (device == Device::cpu) return full(shape, value, requires_grad);
    Tensor t = empty(shape, device, requires_grad);
    kernels::device::fill<T>(t.device_data(), value, static_cast<std::int64_t>(t.numel()));
    return t;
}

/// `x` on `device`: x itself if it is there already, else a copy; the gradient flows back to x's
/// device.
template <class T>
Tensor<T> to(const Tensor<T>& x, Device device) {
    if (x.device() == device) return x;
    require_device(device, "Tensor::to");
    Tensor<T> out = Tensor<T>::empty(x.shape(), device);
    device_copy(out.device_data(), device, x.device_data(), x.device(), x.numel() * sizeof(T));
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, "to", {x}, [from = x.device()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{salun::to(g.detach(), from)};
        });
    }
    return out;
}

template <class T>
Tensor<T> Tensor<T>::to(Device device) const {
    return salun::to(*this, device);
}

}  // namespace salun
