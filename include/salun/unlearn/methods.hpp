// SPDX-License-Identifier: MIT
// The baselines SalUn is compared with, each a loop beside `salun_train` (same loaders, same
// StepCallback), and the `Method` that names them:
//   retrain  train from scratch without the forget class: the gold standard every other method
//            is judged against (the shared checkpoints' recipe: SGD nesterov, OneCycleLR,
//            RandomCrop + flip; the loader brings the augmentation)
//   ft       fine-tune on the retain set only (catastrophic forgetting does the work)
//   ga       gradient ascent on the forget set: maximise the cross-entropy of the true labels
//   rl       random labels: SalUn's two phases with no mask (threshold 1)
// Defaults are those of the Machine Unlearning Comparator (docs/salun.md, "Baselines"): its
// frontend's per-method epochs / lr / batch size, its backend's SGD (momentum 0.9, weight decay
// 5e-4), schedules and clipping.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/optim/clip.hpp"
#include "salun/optim/lr_scheduler.hpp"
#include "salun/optim/sgd.hpp"
#include "salun/unlearn/salun.hpp"

namespace salun::unlearn {

enum class Method { SalUn, FT, GA, RL, Retrain };

/// The results JSON's `Method` field (and the summary table's).
inline const char* method_name(Method m) {
    switch (m) {
    case Method::SalUn: return "SalUn";
    case Method::FT: return "FT";
    case Method::GA: return "GA";
    case Method::RL: return "RL";
    case Method::Retrain: return "Retrain";
    }
    return "?";
}

/// Fine-tuning (comparator: unlearn_FT.py; epochs/lr/batch from its frontend's defaults).
struct FineTuneOptions {
    int epochs = 10;
    double lr = 0.01;
    std::size_t batch_size = 128;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    bool cosine = true;  // CosineAnnealingLR(T_max = epochs), stepped once per epoch
};

/// Gradient ascent (comparator: unlearn_GA.py).
struct GradientAscentOptions {
    int epochs = 7;
    double lr = 1e-4;
    std::size_t batch_size = 256;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    double grad_clip = 100.0;  // the comparator clips GA (MAX_GRAD_NORM), not FT or RL
};

/// Random labels (comparator: unlearn_RL.py for the hyper-parameters; the loop is SalUn's).
struct RandomLabelOptions {
    int epochs = 3;
    double lr = 1e-3;
    std::size_t batch_size = 64;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    double grad_clip = 100.0;    // SalUn's clip (a norm of 100 is rarely reached at lr 1e-3)
    std::uint64_t seed = 2048;   // the random labels
};

/// Retraining from scratch: the recipe in the shared checkpoints' training logs.
struct RetrainOptions {
    int epochs = 6;              // the ResNet-18 log; VGG-16-BN's is 7 (retrain_epochs_for)
    double max_lr = 0.1;         // OneCycleLR's peak
    std::size_t batch_size = 128;
    double momentum = 0.9;       // nesterov
    double weight_decay = 5e-4;
    double pct_start = 0.25;     // warm-up share of the steps
    std::uint64_t seed = 2048;   // initialisation and shuffling
};

/// Epochs of the shared checkpoints' recipe for `arch` (their *.log.json).
inline int retrain_epochs_for(const std::string& arch) { return arch == "vgg16_bn" ? 7 : 6; }

namespace detail {
inline void check_epochs_lr(const char* what, int epochs, double lr) {
    SALUN_CHECK(epochs > 0, what, ": epochs must be positive, got ", epochs);
    SALUN_CHECK(lr > 0, what, ": lr must be positive, got ", lr);
}

/// zero_grad, loss, backward, optional clip, step; fills the callback's numbers.
template <class T>
void plain_step(const std::vector<Tensor<T>>& params, optim::SGD<T>& opt, Tensor<T>& loss, double grad_clip,
                StepInfo& info) {
    opt.zero_grad();
    loss.backward();
    info.grad_norm = info.masked_grad_norm = optim::grad_norm(params);
    if (grad_clip > 0) optim::clip_grad_norm(params, grad_clip);
    info.clipped_grad_norm = grad_clip > 0 ? optim::grad_norm(params) : info.grad_norm;
    opt.step();
}

/// One pass over `loader` with `loss_of(logits, labels)`; checks the loss and reports each step.
template <class T, class Loader, class LossOf>
void run_epoch(const char* what, nn::Module<T>& model, Loader& loader, Phase phase, int epoch,
               const std::vector<Tensor<T>>& params, optim::SGD<T>& opt, double grad_clip, LossOf loss_of,
               const StepCallback& callback) {
    StepInfo info;
    info.epoch = epoch;
    info.phase = phase;
    info.num_batches = loader.num_batches();
    for (const auto& batch : loader.epoch()) {
        Tensor<T> loss = loss_of(model(batch.images), batch.labels);
        info.loss = double(loss.item());
        SALUN_CHECK(std::isfinite(info.loss), what, ": the loss became ", info.loss, " at epoch ", epoch + 1, ", batch ",
                    info.batch + 1, " (try a smaller --lr)");
        info.batch_size = batch.labels.size();
        info.labels = &batch.labels;
        info.lr = opt.lr();
        plain_step(params, opt, loss, grad_clip, info);
        if (callback) callback(info);
        ++info.batch;
    }
}
}  // namespace detail

/// FT: `epochs` of plain SGD with the true labels on the retain data.
template <class T, class RetainLoader>
void fine_tune(nn::Module<T>& model, RetainLoader& retain_loader, const FineTuneOptions& o,
               const StepCallback& callback = {}) {
    detail::check_epochs_lr("fine_tune", o.epochs, o.lr);
    const std::vector<Tensor<T>> params = model.parameters();
    optim::SGDOptions sgd_options;
    sgd_options.lr = o.lr;
    sgd_options.momentum = o.momentum;
    sgd_options.weight_decay = o.weight_decay;
    optim::SGD<T> opt(params, sgd_options);
    optim::CosineAnnealingLR<T> cosine(opt, o.epochs);
    model.train();
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        detail::run_epoch("fine_tune", model, retain_loader, Phase::Retain, epoch, params, opt, 0.0,
                          [](const Tensor<T>& logits, const std::vector<std::int64_t>& y) { return cross_entropy(logits, y); },
                          callback);
        if (o.cosine) cosine.step();
    }
    model.eval();
    model.zero_grad();
}

/// GA: `epochs` of SGD on the forget data with loss = -CE(true labels), gradient clipped.
template <class T, class ForgetLoader>
void gradient_ascent(nn::Module<T>& model, ForgetLoader& forget_loader, const GradientAscentOptions& o,
                     const StepCallback& callback = {}) {
    detail::check_epochs_lr("gradient_ascent", o.epochs, o.lr);
    const std::vector<Tensor<T>> params = model.parameters();
    optim::SGDOptions sgd_options;
    sgd_options.lr = o.lr;
    sgd_options.momentum = o.momentum;
    sgd_options.weight_decay = o.weight_decay;
    optim::SGD<T> opt(params, sgd_options);
    // The comparator's MultiStepLR([80, 120]) is stepped per epoch: constant for < 80 epochs.
    model.train();
    for (int epoch = 0; epoch < o.epochs; ++epoch)
        detail::run_epoch("gradient_ascent", model, forget_loader, Phase::Forget, epoch, params, opt, o.grad_clip,
                          [](const Tensor<T>& logits, const std::vector<std::int64_t>& y) { return neg(cross_entropy(logits, y)); },
                          callback);
    model.eval();
    model.zero_grad();
}

/// A mask that selects every parameter: SalUn with threshold 1.
template <class T>
SaliencyMask<T> full_mask(nn::Module<T>& model) {
    SaliencyMask<T> m;
    for (const auto& [name, p] : model.named_parameters()) {
        m.names.push_back(name);
        m.masks.push_back(Tensor<T>::ones(p.shape()));
        LayerSaliency layer;
        layer.name = name;
        layer.numel = layer.selected = p.numel();
        layer.selected_fraction = 1.0;
        m.layers.push_back(layer);
        m.selected += p.numel();
    }
    m.total = m.selected;
    return m;
}

/// RL: SalUn's two-phase loop (random other labels on the forget data, then the retain data)
/// with every weight in the mask.
template <class T, class ForgetLoader, class RetainLoader>
void random_label(nn::Module<T>& model, ForgetLoader& forget_loader, RetainLoader& retain_loader, ClassIndex forget_class,
                  const RandomLabelOptions& o, const StepCallback& callback = {}, std::size_t num_classes = 10) {
    detail::check_epochs_lr("random_label", o.epochs, o.lr);
    SalUnOptions so;
    so.epochs = o.epochs;
    so.lr = o.lr;
    so.momentum = o.momentum;
    so.weight_decay = o.weight_decay;
    so.grad_clip = o.grad_clip;
    so.num_classes = num_classes;
    so.seed = o.seed;
    salun_train(model, forget_loader, retain_loader, forget_class, full_mask(model), so, callback);
}

/// Retrain: trains `model` (freshly initialised by the caller) on `retain_loader`, which must
/// hold no image of `forget_class` (checked on every batch: the reference must never see it) and
/// should augment (RandomCrop + flip). SGD nesterov + OneCycleLR stepped per batch.
template <class T, class RetainLoader>
void retrain(nn::Module<T>& model, RetainLoader& retain_loader, ClassIndex forget_class, const RetrainOptions& o,
             const StepCallback& callback = {}) {
    detail::check_epochs_lr("retrain", o.epochs, o.max_lr);
    const std::vector<Tensor<T>> params = model.parameters();
    optim::SGDOptions sgd_options;
    sgd_options.lr = o.max_lr;
    sgd_options.momentum = o.momentum;
    sgd_options.weight_decay = o.weight_decay;
    sgd_options.nesterov = true;
    optim::SGD<T> opt(params, sgd_options);
    typename optim::OneCycleLR<T>::Options oc;
    oc.pct_start = o.pct_start;
    optim::OneCycleLR<T> sched(opt, o.max_lr, long(o.epochs) * long(retain_loader.num_batches()), oc);
    model.train();
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        StepInfo info;
        info.epoch = epoch;
        info.phase = Phase::Retain;
        info.num_batches = retain_loader.num_batches();
        for (const auto& batch : retain_loader.epoch()) {
            for (auto l : batch.labels)
                SALUN_CHECK(l != forget_class, "retrain: batch ", info.batch + 1, " of epoch ", epoch + 1,
                            " holds an image of the forget class ", forget_class);
            Tensor<T> loss = cross_entropy(model(batch.images), batch.labels);
            info.loss = double(loss.item());
            SALUN_CHECK(std::isfinite(info.loss), "retrain: the loss became ", info.loss, " at epoch ", epoch + 1,
                        ", batch ", info.batch + 1, " (try a smaller --retrain-lr)");
            info.batch_size = batch.labels.size();
            info.labels = &batch.labels;
            info.lr = opt.lr();
            detail::plain_step(params, opt, loss, 0.0, info);
            sched.step();
            if (callback) callback(info);
            ++info.batch;
        }
    }
    model.eval();
    model.zero_grad();
}

}  // namespace salun::unlearn
