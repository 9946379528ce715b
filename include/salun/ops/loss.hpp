// SPDX-License-Identifier: MIT
// Losses with class-index targets: cross_entropy(logits[N,C], targets) = mean_n -log softmax(x_n)[t_n]
// (torch.nn.functional.cross_entropy, reduction='mean'), computed with log-sum-exp, and nll_loss
// on log-probabilities. A target outside [0, C) is an error naming the sample.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "salun/ops/activation.hpp"
#include "salun/ops/device.hpp"

namespace salun {

namespace detail {
inline void check_targets(const Shape& s, const std::vector<std::int64_t>& targets, const char* op) {
    SALUN_CHECK(s.size() == 2, op, ": need input [N,C], got ", shape_str(s));
    SALUN_CHECK(targets.size() == s[0], op, ": ", targets.size(), " targets for a batch of ", s[0]);
    SALUN_CHECK(s[0] > 0, op, ": empty batch");
    for (std::size_t n = 0; n < targets.size(); ++n)
        SALUN_CHECK(targets[n] >= 0 && static_cast<std::size_t>(targets[n]) < s[1], op, ": target ", targets[n],
                    " at index ", n, " is out of range [0, ", s[1], ")");
}

/// cross_entropy for logits on a device: the targets travel there once per call (N int64s).
template <class T>
Tensor<T> cross_entropy_on_device(const Tensor<T>& logits, const std::vector<std::int64_t>& targets, std::size_t N,
                                  std::size_t C) {
    const Device dev = logits.device();
    auto t = std::make_shared<DeviceBuffer>(dev, N * sizeof(std::int64_t));
    device_copy(t->ptr, dev, targets.data(), Device::cpu, N * sizeof(std::int64_t));
    Tensor<T> logp = Tensor<T>::empty({N, C}, dev), out = Tensor<T>::empty({}, dev);
    kernels::device::cross_entropy_forward<T>(logits.device_data(), static_cast<const std::int64_t*>(t->ptr),
                                              logp.device_data(), out.device_data(), std::int64_t(N), std::int64_t(C));
    if (autograd::needs_grad(logits)) {
        autograd::record<T>(out, "cross_entropy", {logits}, [logp, t, N, C](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty({N, C}, g.device());
            kernels::device::cross_entropy_backward<T>(logp.device_data(), static_cast<const std::int64_t*>(t->ptr),
                                                       g.device_data(), dx.device_data(), std::int64_t(N),
                                                       std::int64_t(C));
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}
}  // namespace detail

/// Mean negative log-likelihood of log-probabilities `logp` [N,C].
template <class T>
Tensor<T> nll_loss(const Tensor<T>& logp, const std::vector<std::int64_t>& targets) {
    detail::check_targets(logp.shape(), targets, "nll_loss");
    if (logp.device() != Device::cpu) detail::not_on_device("nll_loss", logp.device());
    const std::size_t N = logp.shape()[0], C = logp.shape()[1];
    double s = 0;
    for (std::size_t n = 0; n < N; ++n) s -= logp.data()[n * C + static_cast<std::size_t>(targets[n])];
    Tensor<T> out = Tensor<T>::scalar(T(s / double(N)));
    if (autograd::needs_grad(logp)) {
        autograd::record<T>(out, "nll_loss", {logp}, [targets, N, C](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::zeros({N, C});
            const T v = -g.item() / T(N);
            for (std::size_t n = 0; n < N; ++n) dx.data()[n * C + static_cast<std::size_t>(targets[n])] = v;
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

/// Fused log_softmax + nll_loss: the gradient is (softmax - onehot) / N.
template <class T>
Tensor<T> cross_entropy(const Tensor<T>& logits, const std::vector<std::int64_t>& targets) {
    detail::check_targets(logits.shape(), targets, "cross_entropy");
    const std::size_t N = logits.shape()[0], C = logits.shape()[1];
    if (logits.device() != Device::cpu) return detail::cross_entropy_on_device(logits, targets, N, C);
    Tensor<T> logp = Tensor<T>::empty({N, C});
    detail::log_softmax_rows(logits.data(), logp.data(), N, C);
    double s = 0;
    for (std::size_t n = 0; n < N; ++n) s -= logp.data()[n * C + static_cast<std::size_t>(targets[n])];
    Tensor<T> out = Tensor<T>::scalar(T(s / double(N)));
    if (autograd::needs_grad(logits)) {
        autograd::record<T>(out, "cross_entropy", {logits}, [logp, targets, N, C](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty({N, C});
            const T scale = g.item() / T(N);
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t c = 0; c < C; ++c) {
                    const T onehot = static_cast<std::size_t>(targets[n]) == c ? T(1) : T(0);
                    dx.data()[n * C + c] = (std::exp(logp.data()[n * C + c]) - onehot) * scale;
                }
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

}  // namespace salun
