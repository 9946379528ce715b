// SPDX-License-Identifier: MIT
// clip_grad_norm (torch.nn.utils.clip_grad_norm_, L2): the global norm over all gradients,
// total = sqrt(sum of squares); if total > max_norm every gradient is scaled by
// max_norm / (total + 1e-6). Returns the norm before clipping.
#pragma once

#include <cmath>
#include <vector>

#include "salun/core/tensor.hpp"
#include "salun/kernels/cpu/optim.hpp"

namespace salun::optim {

/// The global L2 norm of the defined gradients of `params`.
template <class T>
double grad_norm(const std::vector<Tensor<T>>& params) {
    double ss = 0;
    std::vector<const T*> on_device;  // summed in one pass with one synchronisation
    std::vector<std::int64_t> sizes;
    for (const auto& p : params) {
        const Tensor<T> g = p.grad();
        if (!g.defined()) continue;
        if (g.device() != Device::cpu) {
            on_device.push_back(g.device_data());
            sizes.push_back(std::int64_t(g.numel()));
            continue;
        }
        ss += kernels::cpu::sum_squares(g.data(), g.numel());
    }
    if (!on_device.empty())
        ss += kernels::device::sum_squares<T>(on_device.data(), sizes.data(), std::int64_t(on_device.size()));
    return std::sqrt(ss);
}

template <class T>
double clip_grad_norm(const std::vector<Tensor<T>>& params, double max_norm) {
    SALUN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
    const double total = grad_norm(params);
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) {
        for (const auto& p : params) {
            Tensor<T> g = p.grad();
            if (!g.defined()) continue;
            if (g.device() != Device::cpu) {
                kernels::device::scale_inplace<T>(g.device_data(), T(coef), std::int64_t(g.numel()));
                continue;
            }
            kernels::cpu::scale_inplace(g.data(), coef, g.numel());
        }
    }
    return total;
}

}  // namespace salun::optim
