// SPDX-License-Identifier: MIT
// Step 1 of SalUn: the weight-saliency mask.
//
// With the model in eval mode, for up to `max_batches` batches of the forget data:
//     loss = -CE(model(x), y)          (true labels: the direction that *increases* the loss)
//     saliency[p] += |d loss / d p|    for every trainable parameter p
// then saliency /= number of batches. One global threshold over all parameters keeps the top
// `threshold` fraction: with k = floor(threshold * total) (at least 1), the threshold value is
// the k-th largest saliency, found with std::nth_element (linear time, no full sort of the
// ~11 M values), and every weight whose saliency is >= that value gets mask 1 (ties are all
// kept, as the seed does).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "salun/kernels/cpu/optim.hpp"
#include "salun/nn/module.hpp"
#include "salun/ops/arithmetic.hpp"
#include "salun/unlearn/loss.hpp"

namespace salun::unlearn {

struct SaliencyOptions {
    double threshold = 0.75;      // fraction of all weights selected, in (0, 1]
    std::size_t max_batches = 5;  // forget batches used
};

/// Per-parameter statistics, for inspection and teaching.
struct LayerSaliency {
    std::string name;
    std::size_t numel = 0;
    std::size_t selected = 0;
    double selected_fraction = 0;
    double grad_mean = 0;  // mean saliency (averaged |grad|) of the parameter
};

template <class T>
struct SaliencyMask {
    std::vector<std::string> names;  // model.named_parameters() order
    std::vector<Tensor<T>> masks;    // 0/1, one per parameter, same shapes
    std::vector<Tensor<T>> saliency; // averaged |grad| per parameter
    double threshold_value = 0;      // the k-th largest saliency
    std::size_t selected = 0, total = 0;
    std::size_t batches = 0;
    std::vector<LayerSaliency> layers;

    double selected_fraction() const { return total ? double(selected) / double(total) : 0.0; }
};

inline void check_threshold(double threshold) {
    SALUN_CHECK(threshold > 0 && threshold <= 1, "saliency: threshold must be in (0, 1], got ", threshold);
}

/// Binary masks from saliency tensors: the global top `threshold` fraction (ties kept).
template <class T>
SaliencyMask<T> mask_from_saliency(std::vector<std::string> names, std::vector<Tensor<T>> saliency, double threshold) {
    check_threshold(threshold);
    SaliencyMask<T> m;
    m.names = std::move(names);
    m.saliency = std::move(saliency);
    std::vector<T> all;
    for (const auto& s : m.saliency) all.insert(all.end(), s.begin(), s.end());
    m.total = all.size();
    SALUN_CHECK(m.total > 0, "saliency: the model has no trainable parameters");
    const std::size_t k = std::max<std::size_t>(1, static_cast<std::size_t>(threshold * double(m.total)));
    // The k-th largest = element k-1 in descending order.
    std::nth_element(all.begin(), all.begin() + static_cast<long>(k - 1), all.end(), std::greater<T>());
    const T cut = all[k - 1];
    m.threshold_value = double(cut);
    for (std::size_t i = 0; i < m.saliency.size(); ++i) {
        const Tensor<T>& s = m.saliency[i];
        Tensor<T> mask = Tensor<T>::empty(s.shape());
        std::size_t sel = 0;
        double sum = 0;
        for (std::size_t j = 0; j < s.numel(); ++j) {
            const bool keep = s.data()[j] >= cut;
            mask.data()[j] = keep ? T(1) : T(0);
            sel += keep;
            sum += s.data()[j];
        }
        m.selected += sel;
        m.layers.push_back({m.names[i], s.numel(), sel, s.numel() ? double(sel) / double(s.numel()) : 0.0,
                            s.numel() ? sum / double(s.numel()) : 0.0});
        m.masks.push_back(std::move(mask));
    }
    return m;
}

/// Computes the SalUn saliency mask of `model` on `forget_loader` (anything whose `epoch()`
/// yields batches with `.images` and `.labels`). The model is left in eval mode with its
/// gradients cleared.
template <class T, class Loader>
SaliencyMask<T> compute_saliency_mask(nn::Module<T>& model, Loader& forget_loader, const SaliencyOptions& opt = {},
                                      LossFn<T> loss_fn = cross_entropy_loss<T>()) {
    check_threshold(opt.threshold);
    SALUN_CHECK(opt.max_batches > 0, "saliency: max_batches must be positive");
    const auto named = model.named_parameters();
    std::vector<std::string> names;
    std::vector<Tensor<T>> saliency;
    for (const auto& [name, p] : named) {
        names.push_back(name);
        saliency.push_back(Tensor<T>::zeros(p.shape(), p.device()));  // accumulated where the gradients are
    }
    model.eval();
    std::size_t batches = 0;
    for (const auto& batch : forget_loader.epoch()) {
        if (batches == opt.max_batches) break;
        model.zero_grad();
        Tensor<T> loss = neg(loss_fn(model(batch.images), batch.labels));
        SALUN_CHECK(std::isfinite(double(loss.item())), "saliency: the loss is not finite (", loss.item(),
                    ") on forget batch ", batches);
        loss.backward();
        for (std::size_t i = 0; i < named.size(); ++i) {
            const Tensor<T> g = named[i].second.grad();
            if (!g.defined()) continue;
            if (g.device() != Device::cpu) {
                kernels::device::abs_accumulate<T>(saliency[i].device_data(), g.device_data(), std::int64_t(g.numel()));
                continue;
            }
            kernels::cpu::abs_accumulate(saliency[i].data(), g.data(), g.numel());
        }
        ++batches;
    }
    SALUN_CHECK(batches > 0, "saliency: the forget loader yielded no batch");
    for (auto& s : saliency) {
        s = s.cpu();  // the threshold (a k-th largest over all parameters) is found on the host, once
        for (T& v : s) v /= T(batches);
    }
    model.zero_grad();
    SaliencyMask<T> m = mask_from_saliency(std::move(names), std::move(saliency), opt.threshold);
    for (std::size_t i = 0; i < m.masks.size(); ++i) m.masks[i] = m.masks[i].to(named[i].second.device());
    m.batches = batches;
    return m;
}

/// grad *= mask for every parameter (the masked gradient of SalUn's update).
template <class T>
void apply_mask(const std::vector<Tensor<T>>& params, const SaliencyMask<T>& mask) {
    SALUN_CHECK(params.size() == mask.masks.size(), "apply_mask: ", params.size(), " parameters but ",
                mask.masks.size(), " masks");
    for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor<T> g = params[i].grad();
        if (!g.defined()) continue;
        SALUN_CHECK(g.shape() == mask.masks[i].shape(), "apply_mask: parameter ", mask.names[i], " has shape ",
                    shape_str(g.shape()), ", mask has ", shape_str(mask.masks[i].shape()));
        SALUN_CHECK(g.device() == mask.masks[i].device(), "apply_mask: gradient of ", mask.names[i], " is on ",
                    device_name(g.device()), ", its mask on ", device_name(mask.masks[i].device()));
        if (g.device() != Device::cpu) {
            kernels::device::mask_multiply<T>(g.device_data(), mask.masks[i].device_data(), std::int64_t(g.numel()));
            continue;
        }
        kernels::cpu::mask_multiply(g.data(), mask.masks[i].data(), g.numel());
    }
}

}  // namespace salun::unlearn
