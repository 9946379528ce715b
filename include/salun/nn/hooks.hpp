// SPDX-License-Identifier: MIT
// Reading intermediate outputs by PyTorch module name, fused paths included.
//
//   nn::bn_relu(bn, relu, x)   relu(bn(x)) for composite modules: the fused batch_norm_relu op
//                              when nobody watches bn's own output, then relu's hooks with the
//                              result; the unfused pair, both hooked, when bn has a hook
//   nn::bn_add_relu(bn, relu, x, r)  relu(bn(x) + r) the same way (batch_norm_add_relu)
//   nn::OutputCapture          registers a forward hook on each named module for its lifetime
//                              and keeps the last output of each (a feature-extraction call:
//                              capture, run the model, read the outputs by name)
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "salun/nn/layers.hpp"
#include "salun/nn/module.hpp"

namespace salun::nn {

/// relu(bn(x)), the way every composite module runs a BatchNorm2d followed by a ReLU.
///   fused   batch_norm_relu (one pass, one stored activation less) unless `bn` has a forward
///           hook: the hooks of `relu` still see the output, which is exactly the ReLU's output
///   unfused bn(x) then relu(.), each through operator() (both hooked), when `bn` is watched
///   Both give the same values and gradients (tests/nn/test_hooks.cpp).
template <class T>
Tensor<T> bn_relu(BatchNorm2d<T>& bn, ReLU<T>& relu, const Tensor<T>& x) {
    if (bn.has_forward_hooks()) return relu(bn(x));
    Tensor<T> y = bn.forward_relu(x);
    relu.run_forward_hooks(y);
    return y;
}

/// relu(bn(x) + residual), the way BasicBlock ends: the fused batch_norm_add_relu op when nobody
/// watches bn's own output (relu's hooks see the result, which is exactly the ReLU's output);
/// bn(x), add and relu(.) one by one, bn and relu hooked, when bn has a hook. Same values and
/// gradients either way (tests/nn/test_hooks.cpp).
template <class T>
Tensor<T> bn_add_relu(BatchNorm2d<T>& bn, ReLU<T>& relu, const Tensor<T>& x, const Tensor<T>& residual) {
    if (bn.has_forward_hooks()) return relu(add(bn(x), residual));
    Tensor<T> y = bn.forward_add_relu(x, residual);
    relu.run_forward_hooks(y);
    return y;
}

/// Captures the outputs of named modules while it lives:
///     nn::OutputCapture<float> cap(model, {"layer1.0", "fc"});
///     model(x);
///     const Tensor<float>& a = cap.output("layer1.0");   // [N, 64, 32, 32]
/// A module called more than once per forward (torchvision's shared `relu`) keeps its last
/// output. The outputs are the model's own tensors (no copy); in training mode they carry the
/// graph. Copying is disabled: the hooks point at this object.
template <class T>
class OutputCapture {
public:
    OutputCapture(Module<T>& model, std::vector<std::string> names) : names_(std::move(names)) {
        outputs_.resize(names_.size());
        calls_.assign(names_.size(), 0);
        try {
            for (std::size_t i = 0; i < names_.size(); ++i) {
                Module<T>& m = model.get_submodule(names_[i]);
                const std::size_t h = m.register_forward_hook([this, i](Module<T>&, const Tensor<T>& y) {
                    outputs_[i] = y;
                    ++calls_[i];
                });
                handles_.emplace_back(&m, h);
            }
        } catch (...) {
            remove_all();  // an unknown name: no hook may outlive this half-built object
            throw;
        }
    }
    OutputCapture(const OutputCapture&) = delete;
    OutputCapture& operator=(const OutputCapture&) = delete;
    ~OutputCapture() { remove_all(); }

    const std::vector<std::string>& names() const { return names_; }
    /// The last output of the i-th named module (undefined before the first call).
    const Tensor<T>& output(std::size_t i) const { return outputs_.at(i); }
    const Tensor<T>& output(const std::string& name) const { return outputs_.at(index(name)); }
    /// How many times the i-th module ran since construction or clear().
    std::size_t calls(std::size_t i) const { return calls_.at(i); }
    /// Forgets the outputs (frees their memory) and the call counts.
    void clear() {
        for (auto& o : outputs_) o = Tensor<T>();
        calls_.assign(names_.size(), 0);
    }

private:
    void remove_all() {
        for (auto& [m, h] : handles_) m->remove_forward_hook(h);
        handles_.clear();
    }
    std::size_t index(const std::string& name) const {
        for (std::size_t i = 0; i < names_.size(); ++i)
            if (names_[i] == name) return i;
        detail::throw_error("OutputCapture: '", name, "' is not captured");
    }

    std::vector<std::string> names_;
    std::vector<Tensor<T>> outputs_;
    std::vector<std::size_t> calls_;
    std::vector<std::pair<Module<T>*, std::size_t>> handles_;
};

}  // namespace salun::nn
