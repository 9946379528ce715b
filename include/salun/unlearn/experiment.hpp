// The whole SalUn experiment on one model, as the seed runs it: split the training data into
// retain/forget by class, compute the saliency mask, run the two-phase loop, then evaluate on
// the train and test sets and fill a RunReport (UA, RA, TUA, TRA, RTE, FQS, distributions).
// RTE covers the saliency computation and the unlearning loop (as in the seed notebook), not
// the evaluation. By default the report also gets the helper's `attack` curves (from the
// training-set evaluation pass, no extra forward) and, when the caller passes the original
// model, `cka` (one more streaming pass of the CKA sets through both models).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "salun/data/loader.hpp"
#include "salun/data/subset.hpp"
#include "salun/unlearn/attack.hpp"
#include "salun/unlearn/cka.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/resume.hpp"
#include "salun/unlearn/salun.hpp"

namespace salun::unlearn {

struct ExperimentOptions {
    SalUnOptions salun;                 // epochs, lr, momentum, weight decay, clip, seed, ...
    SaliencyOptions saliency;           // threshold, batches
    std::size_t batch_size = 128;       // unlearning loaders
    std::size_t eval_batch_size = 100;  // evaluation loaders (no shuffle)
    std::size_t subset_per_class = 0;   // >0: keep only the first K training images of each class
    bool attack = true;                 // write the `attack` field
    bool cka = true;                    // write the `cka` field (needs the original model)
    std::vector<std::string> cka_layers;  // empty: cka_layer_names(model) (ResNet / VGG)
    /// Input normalisation of every loader (the checkpoint's own, when it carries one).
    std::optional<data::Normalize> normalize = data::cifar10_normalize();
    ResumeOptions resume;               // resume file after the mask and every phase (resume.hpp)
};

/// What a resume file must agree on with the run that continues it: every option that changes
/// the unlearned weights or the evaluation (the caller's fingerprint, e.g. the checkpoint, too).
inline nlohmann::ordered_json experiment_fingerprint(const ExperimentOptions& o, std::int64_t forget_class) {
    nlohmann::ordered_json f = o.resume.fingerprint;
    f["forget_class"] = forget_class;
    f["epochs"] = o.salun.epochs;
    f["lr"] = o.salun.lr;
    f["momentum"] = o.salun.momentum;
    f["weight_decay"] = o.salun.weight_decay;
    f["grad_clip"] = o.salun.grad_clip;
    f["num_classes"] = o.salun.num_classes;
    f["seed"] = o.salun.seed;
    f["freeze_masked"] = o.salun.freeze_masked;
    f["threshold"] = o.saliency.threshold;
    f["saliency_batches"] = o.saliency.max_batches;
    f["batch_size"] = o.batch_size;
    f["eval_batch_size"] = o.eval_batch_size;
    f["subset_per_class"] = o.subset_per_class;
    f["attack"] = o.attack;
    f["cka"] = o.cka;
    f["cka_layers"] = o.cka_layers;
    if (o.normalize) f["normalize"] = {{"mean", o.normalize->mean}, {"std", o.normalize->std}};
    return f;
}

template <class T>
struct ExperimentResult {
    RunReport report;
    SaliencyMask<T> mask;
    Predictions train, test;
    double eval_seconds = 0;   // the train and test evaluation passes
    double extra_seconds = 0;  // attack curves + CKA: the evaluation the seed's helper adds
};

/// Predictions of `model` on `subset`, in index order, without augmentation.
template <class T>
Predictions predict_subset(nn::Module<T>& model, const data::Subset& subset, std::size_t batch_size,
                           std::size_t num_classes, const std::function<void(std::size_t)>& on_batch = {},
                           const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.normalize = normalize;
    data::DataLoader<T> loader(subset, lo);
    return predict(model, loader, num_classes, on_batch);
}

/// Stages reported through `on_stage`: "saliency" (or "resumed": continuing from o.resume.path), "unlearn", "eval-train", "eval-test",
/// "attack", "cka"; `on_eval_batch` is told the size of every evaluation batch (CKA's included:
/// the images of a batch that went through both models).
/// `original`: a copy of the model before unlearning (models::clone_model), for `cka`; without
/// it there is no `cka` field. It is only read (eval mode), never trained.
template <class T>
ExperimentResult<T> run_salun_experiment(nn::Module<T>& model, const data::ImageDataset& train,
                                         const data::ImageDataset& test, std::int64_t forget_class,
                                         const ExperimentOptions& o, const StepCallback& on_step = {},
                                         const std::function<void(const std::string&)>& on_stage = {},
                                         const std::function<void(std::size_t)>& on_eval_batch = {},
                                         nn::Module<T>* original = nullptr) {
    const std::size_t C = o.salun.num_classes;
    SALUN_CHECK(forget_class >= 0 && static_cast<std::size_t>(forget_class) < C, "salun: forget class ", forget_class,
                " outside 0..", C - 1);
    SALUN_CHECK(o.batch_size > 0 && o.eval_batch_size > 0, "salun: batch sizes must be positive");
    check_threshold(o.saliency.threshold);
    auto stage = [&](const char* s) {
        if (on_stage) on_stage(s);
    };

    data::Subset pool = data::all(train);
    if (o.subset_per_class > 0) pool = data::first_k_per_class(pool, o.subset_per_class);
    data::Subset forget = data::of_class(pool, static_cast<int>(forget_class));
    data::Subset retain = data::without_class(pool, static_cast<int>(forget_class));
    SALUN_CHECK(forget.size() > 0, "salun: no training images of the forget class ", forget_class);
    SALUN_CHECK(retain.size() > 0, "salun: no training images outside the forget class");

    data::LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.shuffle = true;
    lo.seed = o.salun.seed;
    lo.normalize = o.normalize;
    data::DataLoader<T> mask_loader(forget, lo);
    lo.seed = o.salun.seed + 1;
    data::DataLoader<T> forget_loader(forget, lo);
    lo.seed = o.salun.seed + 2;
    data::DataLoader<T> retain_loader(retain, lo);

    ExperimentResult<T> r;
    ResumeOptions resume = o.resume;
    resume.fingerprint = experiment_fingerprint(o, forget_class);
    double seconds = 0;  // the mask and the loop, across resumed runs
    r.mask = resumable_salun(model, mask_loader, forget_loader, retain_loader, forget_class, o.saliency, o.salun, resume,
                             on_step, on_stage, seconds);

    const auto t1 = std::chrono::steady_clock::now();
    stage("eval-train");
    r.train = predict_subset(model, pool, o.eval_batch_size, C, on_eval_batch, o.normalize);
    stage("eval-test");
    r.test = predict_subset(model, data::all(test), o.eval_batch_size, C, on_eval_batch, o.normalize);
    const auto t2 = std::chrono::steady_clock::now();
    r.eval_seconds = std::chrono::duration<double>(t2 - t1).count();

    if (o.attack) {
        stage("attack");
        r.report.attack = attack_json(attack_curves(r.train, forget_class));
    }
    if (o.cka && original) {
        stage("cka");
        const std::vector<std::string> layers = o.cka_layers.empty() ? cka_layer_names(model) : o.cka_layers;
        SALUN_CHECK(!layers.empty(), "salun: no CKA layers known for a ", model.type_name(),
                    " (set ExperimentOptions::cka_layers, or cka = false)");
        const CkaSets sets = cka_sets(pool, data::all(test), static_cast<int>(forget_class), o.salun.seed);
        r.report.cka = cka_json(compute_cka(*original, model, layers, sets, o.eval_batch_size, on_eval_batch, o.normalize));
    }
    r.extra_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();

    RunReport& rep = r.report;
    rep.created_at = now_string();
    rep.forget_class = forget_class;
    rep.epochs = o.salun.epochs;
    rep.batch_size = o.batch_size;
    rep.lr = o.salun.lr;
    rep.seconds = seconds;
    rep.train = class_metrics(r.train);
    rep.test = class_metrics(r.test);
    rep.fqs = forgetting_quality(r.train, forget_class);
    rep.saliency_threshold = o.saliency.threshold;
    rep.extra["saliency_selected_fraction"] = round_to(r.mask.selected_fraction(), 4);
    rep.extra["momentum"] = o.salun.momentum;
    rep.extra["weight_decay"] = o.salun.weight_decay;
    rep.extra["grad_clip"] = o.salun.grad_clip;
    rep.extra["seed"] = o.salun.seed;
    rep.extra["freeze_masked"] = o.salun.freeze_masked;
    rep.extra["train_images"] = pool.size();
    rep.extra["rte_includes_saliency"] = true;
    return r;
}

}  // namespace salun::unlearn
