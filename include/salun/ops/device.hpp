// SPDX-License-Identifier: MIT
// Moving tensors between devices (torch.Tensor.to) and the device rule every op follows: all
// defined inputs on one device, the output on that device, a clear error naming the op and both
// devices otherwise (PyTorch: "Expected all tensors to be on the same device").
#pragma once

#include <initializer_list>

#include "salun/core/tensor.hpp"
#include "salun/core/autograd.hpp"
#include "salun/kernels/device.hpp"

namespace salun {

namespace detail {
/// The device of `op`'s defined inputs (the CPU when none is defined); an error if they differ.
template <class T>
Device common_device(const char* op, std::initializer_list<const Tensor<T>*> inputs) {
    const Tensor<T>* first = nullptr;
    for (const Tensor<T>* t : inputs) {
        if (!t || !t->defined()) continue;
        if (!first) {
            first = t;
        } else if (t->device() != first->device()) {
            throw_error(op, ": expected all tensors on one device, got ", device_name(first->device()), " and ",
                        device_name(t->device()), " (move them with .to(device) first)");
        }
    }
    return first ? first->device() : Device::cpu;
}
template <class T, class... Rest>
Device common_device(const char* op, const Tensor<T>& first, const Rest&... rest) {
    return common_device<T>(op, {&first, &rest...});
}

/// An op that has no kernel on `d` yet: a clear error instead of reading device memory.
[[noreturn]] inline void not_on_device(const char* op, Device d) {
    throw_error(op, ": not implemented on ", device_name(d), " yet (move the tensors to the CPU with .cpu())");
}
}  // namespace detail

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

namespace detail {
/// Moves a leaf's data to `device` in place, so every handle on it (an optimiser's, a mask's)
/// sees the move, as module.to(device) does in PyTorch. Its gradient is dropped.
template <class T>
void move_in_place(Tensor<T>& t, Device device) {
    if (!t.defined() || t.device() == device) return;
    Tensor<T> moved = t.detach().to(device);
    auto& impl = t.impl();
    impl.storage = moved.impl().storage;
    impl.device_storage = moved.impl().device_storage;
    impl.device = device;
    impl.offset = 0;
    impl.grad.reset();
}
}  // namespace detail

}  // namespace salun
