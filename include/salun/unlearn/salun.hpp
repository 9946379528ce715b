// Step 2 of SalUn: the two-phase unlearning loop.
//
// For each epoch, with the model in train mode:
//   phase 1 (forget): every forget image gets a label drawn uniformly from the classes other
//                     than the forget class (drawn anew each time the image is seen);
//   phase 2 (retain): the retain data with its true labels.
// Every step: zero_grad, loss = loss_fn(model(x), labels), backward, grad *= mask, clip the
// global grad norm at `grad_clip`, SGD step. With the seed's optimiser weight decay and momentum
// still move masked-out weights (their gradient is 0, not absent); `freeze_masked` makes the
// optimiser leave them, and their momentum, untouched instead.
// A callback sees every step (phase, batch, loss, gradient norms before/after masking and
// clipping) and can print progress, log, or stop nothing: it only observes.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "salun/optim/clip.hpp"
#include "salun/optim/sgd.hpp"
#include "salun/unlearn/saliency.hpp"

namespace salun::unlearn {

struct SalUnOptions {
    int epochs = 5;
    double lr = 0.1;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    double grad_clip = 100.0;
    std::size_t num_classes = 10;
    std::uint64_t seed = 2048;   // for the phase-1 labels
    bool freeze_masked = false;  // true: masked-out weights and their momentum never move
};

enum class Phase { Forget, Retain };
inline const char* phase_name(Phase p) { return p == Phase::Forget ? "forget" : "retain"; }

/// What the callback sees after each optimiser step.
struct StepInfo {
    int epoch = 0;                   // 0-based
    Phase phase = Phase::Forget;
    std::size_t batch = 0;           // 0-based within the phase
    std::size_t num_batches = 0;     // batches in this phase
    std::size_t batch_size = 0;      // images in this batch
    double loss = 0;
    double grad_norm = 0;            // before masking
    double masked_grad_norm = 0;     // after masking, before clipping
    double clipped_grad_norm = 0;    // after clipping
    double lr = 0;
    const std::vector<std::int64_t>* labels = nullptr;  // what this step trained on (after relabelling)
};
using StepCallback = std::function<void(const StepInfo&)>;

/// A label drawn uniformly from {0..num_classes-1} \ {forget_class}.
inline std::int64_t random_other_label(Generator& gen, std::int64_t forget_class, std::size_t num_classes) {
    auto l = static_cast<std::int64_t>(gen.randint(num_classes - 1));
    return l >= forget_class ? l + 1 : l;
}

/// One masked, clipped SGD step on `loss` (the building block of both phases). Returns the
/// gradient norms (raw, masked, clipped) through `info`.
template <class T>
void masked_step(const std::vector<Tensor<T>>& params, optim::SGD<T>& opt, const SaliencyMask<T>& mask,
                 Tensor<T>& loss, double grad_clip, StepInfo& info) {
    opt.zero_grad();
    loss.backward();
    info.grad_norm = optim::grad_norm(params);
    apply_mask(params, mask);
    info.masked_grad_norm = optim::grad_norm(params);
    optim::clip_grad_norm(params, grad_clip);
    info.clipped_grad_norm = optim::grad_norm(params);
    opt.step();
}

/// Runs SalUn's two-phase loop on `model` with a precomputed `mask`. The loaders are anything
/// whose `epoch()` yields batches with `.images` and `.labels` (and `num_batches()`).
template <class T, class ForgetLoader, class RetainLoader>
void salun_train(nn::Module<T>& model, ForgetLoader& forget_loader, RetainLoader& retain_loader, std::int64_t forget_class,
                 const SaliencyMask<T>& mask, const SalUnOptions& o, const StepCallback& callback = {},
                 LossFn<T> loss_fn = cross_entropy_loss<T>()) {
    SALUN_CHECK(o.epochs > 0, "salun: epochs must be positive, got ", o.epochs);
    SALUN_CHECK(o.num_classes >= 2, "salun: need at least 2 classes");
    SALUN_CHECK(forget_class >= 0 && static_cast<std::size_t>(forget_class) < o.num_classes, "salun: forget class ",
                forget_class, " outside 0..", o.num_classes - 1);
    SALUN_CHECK(o.grad_clip > 0, "salun: grad_clip must be positive, got ", o.grad_clip);
    const std::vector<Tensor<T>> params = model.parameters();
    optim::SGD<T> opt(params, {o.lr, o.momentum, 0.0, o.weight_decay, false});
    if (o.freeze_masked) opt.set_update_masks(mask.masks);
    Generator label_gen(o.seed);

    auto run_phase = [&](auto& loader, Phase phase, int epoch) {
        StepInfo info;
        info.epoch = epoch;
        info.phase = phase;
        info.num_batches = loader.num_batches();
        for (const auto& batch : loader.epoch()) {
            std::vector<std::int64_t> labels = batch.labels;
            if (phase == Phase::Forget)
                for (auto& l : labels) l = random_other_label(label_gen, forget_class, o.num_classes);
            Tensor<T> loss = loss_fn(model(batch.images), labels);
            info.loss = double(loss.item());
            SALUN_CHECK(std::isfinite(info.loss), "salun: the loss became ", info.loss, " at epoch ", epoch + 1, ", ",
                        phase_name(phase), " batch ", info.batch + 1, " (try a smaller --lr)");
            info.batch_size = labels.size();
            info.labels = &labels;
            info.lr = opt.lr();
            masked_step(params, opt, mask, loss, o.grad_clip, info);
            if (callback) callback(info);
            ++info.batch;
        }
    };

    model.train();
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        run_phase(forget_loader, Phase::Forget, epoch);
        run_phase(retain_loader, Phase::Retain, epoch);
    }
    model.eval();
    model.zero_grad();
}

}  // namespace salun::unlearn
