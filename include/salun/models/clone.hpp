// SPDX-License-Identifier: MIT
// models::clone_model: a deep copy of a model of a known architecture, e.g. to keep the original
// beside the one being unlearned (CKA compares the two layer by layer).
#pragma once

#include <memory>
#include <string>

#include "salun/models/registry.hpp"

namespace salun::models {

/// A new model of architecture `arch` holding a copy of every parameter, buffer and counter of
/// `src`, and its training mode (nn::Module::copy_from). Nothing is shared: training one
/// leaves the other unchanged. Hooks are not copied. The fresh model is initialised from a
/// private generator, so cloning does not advance default_generator().
template <class T = float>
std::shared_ptr<nn::Module<T>> clone_model(const std::string& arch, const nn::Module<T>& src,
                                           std::size_t num_classes = 10) {
    Generator init(0);  // the values are overwritten; only the stream of the caller matters
    auto copy = make_model<T>(arch, num_classes, init);
    copy->copy_from(src);
    return copy;
}

}  // namespace salun::models
