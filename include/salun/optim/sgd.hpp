// SPDX-License-Identifier: MIT
// optim::SGD with PyTorch's update rule (torch.optim.SGD, 1.13):
//   g   = grad + weight_decay * w
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g
//   g   = g + momentum * buf (nesterov) or buf
//   w  -= lr * g
// Parameters whose .grad is undefined are skipped, as in PyTorch. A zero gradient is *not*
// skipped: weight decay and momentum still move that weight (this is what the SalUn seed relies
// on). `set_update_masks` offers the stricter alternative: where a mask is 0 neither the weight
// nor its momentum buffer changes.
#pragma once

#include <string>
#include <vector>

#include "salun/core/tensor.hpp"
#include "salun/kernels/cpu/optim.hpp"
#include "salun/kernels/elementwise.hpp"
#include "salun/io/state_dict.hpp"

namespace salun::optim {

struct SGDOptions {
    double lr = 0.1;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
};

template <class T>
class SGD {
public:
    SGD(std::vector<Tensor<T>> params, SGDOptions options) : params_(std::move(params)), opt_(options) {
        SALUN_CHECK(opt_.lr >= 0, "SGD: invalid learning rate ", opt_.lr);
        SALUN_CHECK(opt_.momentum >= 0, "SGD: invalid momentum ", opt_.momentum);
        SALUN_CHECK(opt_.weight_decay >= 0, "SGD: invalid weight_decay ", opt_.weight_decay);
        SALUN_CHECK(!opt_.nesterov || (opt_.momentum > 0 && opt_.dampening == 0),
                    "SGD: nesterov momentum requires a momentum and zero dampening");
        buffers_.resize(params_.size());
    }

    double lr() const { return opt_.lr; }
    void set_lr(double lr) { opt_.lr = lr; }
    double momentum() const { return opt_.momentum; }
    void set_momentum(double m) { opt_.momentum = m; }
    const SGDOptions& options() const { return opt_; }
    const std::vector<Tensor<T>>& params() const { return params_; }
    /// The momentum buffer of parameter i (undefined before its first step).
    const Tensor<T>& momentum_buffer(std::size_t i) const { return buffers_.at(i); }

    /// The optimiser's state as tensors, with the names of PyTorch's SGD state flattened:
    /// "state.<i>.momentum_buffer" for every parameter i that has one (none before its first
    /// step). The hyperparameters are the caller's (options, or a scheduler's state).
    io::StateDict state_dict() const {
        io::StateDict sd;
        for (std::size_t i = 0; i < buffers_.size(); ++i)
            if (buffers_[i].defined()) sd.insert_or_assign("state." + std::to_string(i) + ".momentum_buffer", buffers_[i]);
        return sd;
    }

    /// Restores state_dict(): every buffer is checked against its parameter's shape before any is
    /// replaced; a parameter without an entry has no buffer afterwards (its next step is a first).
    void load_state_dict(const io::StateDict& sd) {
        std::vector<Tensor<T>> buffers(params_.size());
        std::size_t used = 0;
        for (std::size_t i = 0; i < params_.size(); ++i) {
            const std::string key = "state." + std::to_string(i) + ".momentum_buffer";
            auto it = sd.find(key);
            if (it == sd.end()) continue;
            SALUN_CHECK(it->second.shape == params_[i].shape() && it->second.dtype != io::DType::I64,
                        "SGD::load_state_dict: '", key, "' is ", io::dtype_name(it->second.dtype), " ",
                        shape_str(it->second.shape), ", parameter ", i, " is ", shape_str(params_[i].shape()));
            buffers[i] = it->second.template to_tensor<T>();
            ++used;
        }
        SALUN_CHECK(used == sd.size(), "SGD::load_state_dict: ", sd.size() - used,
                    " entries are not momentum buffers of this optimiser's ", params_.size(), " parameters");
        buffers_ = std::move(buffers);
    }

    /// Per-parameter 0/1 masks (same shapes as the parameters); an empty vector removes them.
    void set_update_masks(std::vector<Tensor<T>> masks) {
        SALUN_CHECK(masks.empty() || masks.size() == params_.size(), "SGD::set_update_masks: ", masks.size(),
                    " masks for ", params_.size(), " parameters");
        for (std::size_t i = 0; i < masks.size(); ++i)
            SALUN_CHECK(masks[i].shape() == params_[i].shape(), "SGD::set_update_masks: mask ", i, " has shape ",
                        shape_str(masks[i].shape()), ", parameter has ", shape_str(params_[i].shape()));
        masks_ = std::move(masks);
    }

    void zero_grad() {
        for (auto& p : params_) p.zero_grad();
    }

    void step() {
        const T mom = T(opt_.momentum);
        for (std::size_t i = 0; i < params_.size(); ++i) {
            Tensor<T> grad = params_[i].grad();
            if (!grad.defined()) continue;
            const Device dev = params_[i].device();
            SALUN_CHECK(grad.device() == dev && (masks_.empty() || masks_[i].device() == dev), "SGD::step: parameter ",
                        i, " is on ", device_name(dev), " but its gradient or update mask is not");
            const bool first = !buffers_[i].defined();
            if (mom != T(0) && first) buffers_[i] = Tensor<T>::zeros(params_[i].shape(), dev);
            const kernels::ew::SgdStep<T> st{T(opt_.lr), mom, T(1 - opt_.dampening), T(opt_.weight_decay),
                                             opt_.nesterov, first};
            T* w = params_[i].device_data();
            const T* g = grad.device_data();
            const T* mask = masks_.empty() ? nullptr : masks_[i].device_data();
            T* buf = mom != T(0) ? buffers_[i].device_data() : nullptr;
            const std::size_t n = params_[i].numel();
            if (dev != Device::cpu) {
                kernels::device::sgd_update<T>(w, g, buf, mask, std::int64_t(n), st);
                continue;
            }
            kernels::cpu::sgd_update(w, g, buf, mask, n, st);  // where mask is 0 neither w nor buf moves
        }
    }

private:
    std::vector<Tensor<T>> params_;
    SGDOptions opt_;
    std::vector<Tensor<T>> buffers_;
    std::vector<Tensor<T>> masks_;
};

}  // namespace salun::optim
