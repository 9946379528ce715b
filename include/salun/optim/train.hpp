// SPDX-License-Identifier: MIT
// A plain supervised training loop (one epoch): forward, cross-entropy (or any loss), backward,
// optional gradient clipping, optimiser step, optional per-step schedule. Used by the demo's
// `train` command to train originals and retrained-from-scratch references.
#pragma once

#include <cmath>
#include <functional>

#include "salun/nn/module.hpp"
#include "salun/ops/loss.hpp"
#include "salun/optim/clip.hpp"
#include "salun/optim/sgd.hpp"

namespace salun::optim {

struct EpochStats {
    double loss = 0;      // mean over samples
    double accuracy = 0;  // on the (augmented) training batches
    std::size_t samples = 0;
};

/// What the per-step callback sees.
struct TrainStep {
    std::size_t batch = 0, num_batches = 0, batch_size = 0;
    double loss = 0, lr = 0;
};

/// One epoch over `loader` (anything whose epoch() yields batches with .images/.labels).
/// `after_step` runs after each optimiser step (e.g. a OneCycleLR's step()).
template <class T, class Loader>
EpochStats train_epoch(nn::Module<T>& model, Loader& loader, SGD<T>& opt,
                       const std::function<void(const TrainStep&)>& on_step = {},
                       const std::function<void()>& after_step = {}, double grad_clip = 0) {
    model.train();
    EpochStats s;
    double loss_sum = 0;
    std::size_t correct = 0;
    TrainStep info;
    info.num_batches = loader.num_batches();
    for (const auto& batch : loader.epoch()) {
        opt.zero_grad();
        const Tensor<T> logits = model(batch.images);
        Tensor<T> loss = cross_entropy(logits, batch.labels);
        const double l = double(loss.item());
        SALUN_CHECK(std::isfinite(l), "train: the loss became ", l, " at batch ", info.batch + 1, " (try a smaller --lr)");
        loss.backward();
        if (grad_clip > 0) clip_grad_norm(opt.params(), grad_clip);
        info.lr = opt.lr();
        opt.step();
        if (after_step) after_step();
        const std::size_t C = logits.shape()[1];
        const Tensor<T> host_logits = logits.detach().cpu();  // the accuracy is counted on the host
        for (std::size_t n = 0; n < batch.labels.size(); ++n) {
            const T* row = host_logits.data() + n * C;
            correct += std::int64_t(std::max_element(row, row + C) - row) == batch.labels[n];
        }
        loss_sum += l * double(batch.labels.size());
        s.samples += batch.labels.size();
        info.loss = l;
        info.batch_size = batch.labels.size();
        if (on_step) on_step(info);
        ++info.batch;
    }
    s.loss = s.samples ? loss_sum / double(s.samples) : 0;
    s.accuracy = s.samples ? double(correct) / double(s.samples) : 0;
    return s;
}

}  // namespace salun::optim
