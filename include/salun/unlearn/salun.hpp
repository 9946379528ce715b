// SPDX-License-Identifier: MIT
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
// Callbacks see every step (phase, batch, loss, gradient norms before/after masking and clipping)
// and the end of every phase; they print progress or log, and only observe.
// SalUn<T> is the loop as an object whose two phases are public functions (for teaching and
// inspection); salun_train runs all epochs of it.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "salun/core/class_index.hpp"
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
    const std::vector<ClassIndex>* labels = nullptr;  // what this step trained on (after relabelling)
};
using StepCallback = std::function<void(const StepInfo&)>;

/// A label drawn uniformly from {0..num_classes-1} \ {forget_class}.
inline ClassIndex random_other_label(Generator& gen, ClassIndex forget_class, std::size_t num_classes) {
    auto l = static_cast<ClassIndex>(gen.randint(num_classes - 1));
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

/// What the phase callback sees when a phase ends.
struct PhaseInfo {
    int epoch = 0;
    Phase phase = Phase::Forget;
    std::size_t steps = 0;   // optimiser steps taken in the phase
    std::size_t images = 0;  // images seen
    double mean_loss = 0;    // mean of the steps' losses
    double seconds = 0;      // wall time of the phase
};
using PhaseCallback = std::function<void(const PhaseInfo&)>;

/// SalUn's step 2 as an object: it owns the optimiser (SGD with the options' lr, momentum and
/// weight decay) and the generator of phase 1's labels, so that the two phases can be called
/// one at a time, with the model inspected in between, exactly as salun_train calls them:
///
///     unlearn::SalUn<float> salun(model, mask, forget_class, options);
///     salun.on_step = [](const unlearn::StepInfo& s) { ... };
///     for (int epoch = 0; epoch < options.epochs; ++epoch) {
///         salun.forget_phase(forget_loader, epoch);   // phase 1: random other-class labels
///         salun.retain_phase(retain_loader, epoch);   // phase 2: true labels
///     }
///     salun.finish();                                 // eval mode, gradients cleared
///
/// The loaders are anything whose `epoch()` yields batches with `.images` and `.labels` (and
/// that has `num_batches()`). The model and the mask must outlive the object.
template <class T>
class SalUn {
public:
    SalUn(nn::Module<T>& model, const SaliencyMask<T>& mask, ClassIndex forget_class, const SalUnOptions& options,
          LossFn<T> loss_fn = cross_entropy_loss<T>())
        : model_(model), mask_(mask), forget_class_(forget_class), options_(options), loss_fn_(std::move(loss_fn)),
          params_(model.parameters()), optimizer_(params_, sgd_options(options)), label_gen_(options.seed) {
        SALUN_CHECK(options.epochs > 0, "salun: epochs must be positive, got ", options.epochs);
        SALUN_CHECK(options.num_classes >= 2, "salun: need at least 2 classes");
        SALUN_CHECK(forget_class >= 0 && static_cast<std::size_t>(forget_class) < options.num_classes,
                    "salun: forget class ", forget_class, " outside 0..", options.num_classes - 1);
        SALUN_CHECK(options.grad_clip > 0, "salun: grad_clip must be positive, got ", options.grad_clip);
        if (options.freeze_masked) optimizer_.set_update_masks(mask.masks);
    }

    StepCallback on_step;         // after every optimiser step
    PhaseCallback on_phase_end;   // after every phase

    /// Phase 1 of `epoch`: every forget image gets a label drawn uniformly from the other classes.
    template <class Loader>
    PhaseInfo forget_phase(Loader& forget_loader, int epoch) { return run_phase(forget_loader, Phase::Forget, epoch); }

    /// Phase 2 of `epoch`: the retain images with their true labels.
    template <class Loader>
    PhaseInfo retain_phase(Loader& retain_loader, int epoch) { return run_phase(retain_loader, Phase::Retain, epoch); }

    /// Leaves the model as an evaluation expects it: eval mode, no gradients held.
    void finish() {
        model_.eval();
        model_.zero_grad();
    }

    optim::SGD<T>& optimizer() { return optimizer_; }
    const SalUnOptions& options() const { return options_; }
    /// The generator of phase 1's labels: its state is part of a resumable run's (resume.hpp).
    Generator& label_generator() { return label_gen_; }

private:
    static optim::SGDOptions sgd_options(const SalUnOptions& o) {
        optim::SGDOptions s;
        s.lr = o.lr;
        s.momentum = o.momentum;
        s.weight_decay = o.weight_decay;
        return s;
    }

    template <class Loader>
    PhaseInfo run_phase(Loader& loader, Phase phase, int epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        model_.train();
        StepInfo info;
        info.epoch = epoch;
        info.phase = phase;
        info.num_batches = loader.num_batches();
        PhaseInfo done;
        done.epoch = epoch;
        done.phase = phase;
        double loss_sum = 0;
        for (const auto& batch : loader.epoch()) {
            std::vector<ClassIndex> labels = batch.labels;
            if (phase == Phase::Forget)
                for (auto& l : labels) l = random_other_label(label_gen_, forget_class_, options_.num_classes);
            Tensor<T> loss = loss_fn_(model_(batch.images), labels);
            info.loss = double(loss.item());
            SALUN_CHECK(std::isfinite(info.loss), "salun: the loss became ", info.loss, " at epoch ", epoch + 1, ", ",
                        phase_name(phase), " batch ", info.batch + 1, " (try a smaller --lr)");
            info.batch_size = labels.size();
            info.labels = &labels;
            info.lr = optimizer_.lr();
            masked_step(params_, optimizer_, mask_, loss, options_.grad_clip, info);
            if (on_step) on_step(info);
            ++info.batch;
            loss_sum += info.loss;
            done.images += labels.size();
        }
        done.steps = info.batch;
        done.mean_loss = done.steps ? loss_sum / double(done.steps) : 0.0;
        done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (on_phase_end) on_phase_end(done);
        return done;
    }

    nn::Module<T>& model_;
    const SaliencyMask<T>& mask_;
    ClassIndex forget_class_;
    SalUnOptions options_;
    LossFn<T> loss_fn_;
    std::vector<Tensor<T>> params_;
    optim::SGD<T> optimizer_;
    Generator label_gen_;
};

/// Runs SalUn's two-phase loop on `model` with a precomputed `mask`: options.epochs times the
/// forget phase then the retain phase (see SalUn), leaving the model in eval mode.
template <class T, class ForgetLoader, class RetainLoader>
void salun_train(nn::Module<T>& model, ForgetLoader& forget_loader, RetainLoader& retain_loader, ClassIndex forget_class,
                 const SaliencyMask<T>& mask, const SalUnOptions& o, const StepCallback& callback = {},
                 LossFn<T> loss_fn = cross_entropy_loss<T>()) {
    SalUn<T> salun(model, mask, forget_class, o, std::move(loss_fn));
    salun.on_step = callback;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        salun.forget_phase(forget_loader, epoch);
        salun.retain_phase(retain_loader, epoch);
    }
    salun.finish();
}

}  // namespace salun::unlearn
