// The whole SalUn experiment on one model, as the seed runs it: split the training data into
// retain/forget by class, compute the saliency mask, run the two-phase loop, then evaluate on
// the train and test sets and fill a RunReport (UA, RA, TUA, TRA, RTE, FQS, distributions).
// RTE covers the saliency computation and the unlearning loop (as in the seed notebook), not
// the evaluation. By default the report also gets the helper's `points` (one forward pass of
// its 2,000-image subset and a UMAP embedding of the penultimate features), `attack` curves
// (from the training-set evaluation pass, no extra forward) and, when the caller passes the
// original model, `cka` (one more streaming pass of the CKA sets through both models).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "salun/data/loader.hpp"
#include "salun/data/subset.hpp"
#include "salun/unlearn/attack.hpp"
#include "salun/unlearn/cka.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/points.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/salun.hpp"

namespace salun::unlearn {

struct ExperimentOptions {
    SalUnOptions salun;                 // epochs, lr, momentum, weight decay, clip, seed, ...
    SaliencyOptions saliency;           // threshold, batches
    std::size_t batch_size = 128;       // unlearning loaders
    std::size_t eval_batch_size = 100;  // evaluation loaders (no shuffle)
    std::size_t subset_per_class = 0;   // >0: keep only the first K training images of each class
    bool points = true;                 // write the `points` field (2,000 forwards + UMAP)
    std::string points_layer;           // empty: points_feature_layer(model) (ResNet / VGG)
    embed::UmapOptions umap = points_umap_options();  // the helper's n_neighbors 9, min_dist 0.45, seed 2048
    bool attack = true;                 // write the `attack` field
    bool cka = true;                    // write the `cka` field (needs the original model)
    std::vector<std::string> cka_layers;  // empty: cka_layer_names(model) (ResNet / VGG)
};

template <class T>
struct ExperimentResult {
    RunReport report;
    SaliencyMask<T> mask;
    Predictions train, test;
    double eval_seconds = 0;   // the train and test evaluation passes
    double extra_seconds = 0;  // points + attack curves + CKA: the evaluation the seed's helper adds
    double points_forward_seconds = 0, points_umap_seconds = 0;  // the two parts of `points`
};

/// Predictions of `model` on `subset`, in index order, without augmentation.
template <class T>
Predictions predict_subset(nn::Module<T>& model, const data::Subset& subset, std::size_t batch_size,
                           std::size_t num_classes, const std::function<void(std::size_t)>& on_batch = {}) {
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    data::DataLoader<T> loader(subset, lo);
    return predict(model, loader, num_classes, on_batch);
}

/// Stages reported through `on_stage`: "saliency", "unlearn", "eval-train", "eval-test",
/// "points", "attack", "cka"; `on_eval_batch` is told the size of every evaluation batch (CKA's included:
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
    data::DataLoader<T> mask_loader(forget, lo);
    lo.seed = o.salun.seed + 1;
    data::DataLoader<T> forget_loader(forget, lo);
    lo.seed = o.salun.seed + 2;
    data::DataLoader<T> retain_loader(retain, lo);

    ExperimentResult<T> r;
    const auto t0 = std::chrono::steady_clock::now();
    stage("saliency");
    r.mask = compute_saliency_mask(model, mask_loader, o.saliency);
    stage("unlearn");
    salun_train(model, forget_loader, retain_loader, forget_class, r.mask, o.salun, on_step);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const auto t1 = std::chrono::steady_clock::now();
    stage("eval-train");
    r.train = predict_subset(model, pool, o.eval_batch_size, C, on_eval_batch);
    stage("eval-test");
    r.test = predict_subset(model, data::all(test), o.eval_batch_size, C, on_eval_batch);
    const auto t2 = std::chrono::steady_clock::now();
    r.eval_seconds = std::chrono::duration<double>(t2 - t1).count();

    if (o.points) {
        stage("points");
        const std::string layer = o.points_layer.empty() ? points_feature_layer(model) : o.points_layer;
        SALUN_CHECK(!layer.empty(), "salun: no penultimate layer known for a ", model.type_name(),
                    " (set ExperimentOptions::points_layer, or points = false)");
        PointsResult p = compute_points(model, pool, forget_class, C, layer, o.eval_batch_size, o.umap, on_eval_batch);
        r.report.points = std::move(p.json);
        r.points_forward_seconds = p.forward_seconds;
        r.points_umap_seconds = p.umap_seconds;
    }
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
        r.report.cka = cka_json(compute_cka(*original, model, layers, sets, o.eval_batch_size, on_eval_batch));
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
