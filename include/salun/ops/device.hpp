// SPDX-License-Identifier: MIT
// Moving tensors between devices (torch.Tensor.to, defined in core/transfer.hpp because it is
// Tensor's own member function) and the device rule every op follows: all defined inputs on one
// device, the output on that device, a clear error naming the op and both devices otherwise
// (PyTorch: "Expected all tensors to be on the same device").
#pragma once

#include <initializer_list>

#include "salun/core/autograd.hpp"
#include "salun/core/tensor.hpp"
#include "salun/core/transfer.hpp"
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
