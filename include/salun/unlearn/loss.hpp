// SPDX-License-Identifier: MIT
// The loss type the unlearning code takes: any function of (logits, targets) -> scalar tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "salun/ops/loss.hpp"

namespace salun::unlearn {

template <class T>
using LossFn = std::function<Tensor<T>(const Tensor<T>& logits, const std::vector<std::int64_t>& targets)>;

template <class T>
LossFn<T> cross_entropy_loss() {
    return [](const Tensor<T>& logits, const std::vector<std::int64_t>& targets) { return cross_entropy(logits, targets); };
}

}  // namespace salun::unlearn
