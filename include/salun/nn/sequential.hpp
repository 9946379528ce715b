// SPDX-License-Identifier: MIT
// salun::nn::Sequential: children run in order, named "0", "1", ... (torch.nn.Sequential), so a
// parameter of the third child is "<prefix>.2.weight" in the state dict.
#pragma once

#include <memory>
#include <string>
#include <typeinfo>
#include <utility>

#include "salun/nn/hooks.hpp"
#include "salun/nn/layers.hpp"
#include "salun/nn/module.hpp"

namespace salun::nn {

/// Applies its children one after the other.
///   input   whatever the first child accepts;  output whatever the last child returns
///   backward through every child in reverse (the autograd graph of the composition)
///   fusion  a BatchNorm2d directly followed by a ReLU runs as one batch_norm_relu op (same
///           values and gradients; saves a pass over the activations and their storage); the
///           ReLU's forward hooks still see its output, a hooked BatchNorm2d runs unfused
///   hooks   children run through operator(), so their forward hooks fire (nn/hooks.hpp)
///   PyTorch torch.nn.Sequential(*modules)
template <class T>
class Sequential : public Module<T> {
public:
    Sequential() = default;
    explicit Sequential(std::vector<typename Module<T>::Ptr> modules) {
        for (auto& m : modules) push_back(std::move(m));
    }

    /// Appends `m` under the next index and returns it (typed, for further use).
    template <class M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
        this->register_module(std::to_string(layers_.size()), m);
        layers_.push_back(m);
        return m;
    }
    /// Appends a new M constructed from `args`.
    template <class M, class... Args>
    std::shared_ptr<M> emplace_back(Args&&... args) {
        return push_back(std::make_shared<M>(std::forward<Args>(args)...));
    }

    Tensor<T> forward(const Tensor<T>& x) override {
        Tensor<T> y = x;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            // exact types only: a subclass may override forward(), which fusion would skip
            if (i + 1 < layers_.size() && typeid(*layers_[i]) == typeid(BatchNorm2d<T>) &&
                typeid(*layers_[i + 1]) == typeid(ReLU<T>)) {
                y = bn_relu(static_cast<BatchNorm2d<T>&>(*layers_[i]), static_cast<ReLU<T>&>(*layers_[i + 1]), y);
                ++i;
            } else {
                y = (*layers_[i])(y);
            }
        }
        return y;
    }
    std::string type_name() const override { return "Sequential"; }

    std::size_t size() const { return layers_.size(); }
    Module<T>& operator[](std::size_t i) const {
        SALUN_CHECK(i < layers_.size(), "Sequential: index ", i, " out of range (size ", layers_.size(), ")");
        return *layers_[i];
    }
    /// The i-th child as an M (nullptr if it is not one).
    template <class M>
    std::shared_ptr<M> at(std::size_t i) const {
        SALUN_CHECK(i < layers_.size(), "Sequential: index ", i, " out of range (size ", layers_.size(), ")");
        return std::dynamic_pointer_cast<M>(layers_[i]);
    }

private:
    std::vector<typename Module<T>::Ptr> layers_;
};

}  // namespace salun::nn
