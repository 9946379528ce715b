// SPDX-License-Identifier: MIT
// The whole SalUn experiment on one model, as the seed runs it: split the training data into
// retain/forget by class, compute the saliency mask, run the two-phase loop, then evaluate on
// the train and test sets and fill a RunReport (UA, RA, TUA, TRA, RTE, FQS, distributions).
// RTE covers the saliency computation and the unlearning loop (as in the seed notebook), not
// the evaluation. By default the report also gets the helper's `points` (one forward pass of
// its 2,000-image subset and a UMAP embedding of the penultimate features), `attack` curves
// (from the training-set evaluation pass, no extra forward) and, when the caller passes the
// original model, `cka` (one more streaming pass of the CKA sets through both models).
// `ExperimentOptions::method` swaps the SalUn loop for a baseline (methods.hpp: FT, GA, RL, or
// retraining from scratch); given a retrained reference, the report also gets the privacy score
// (privacy.hpp) and the average gap of UA, RA, TUA, TRA to the reference.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/data/loader.hpp"
#include "salun/data/subset.hpp"
#include "salun/unlearn/attack.hpp"
#include "salun/unlearn/cka.hpp"
#include "salun/unlearn/inspection.hpp"
#include "salun/unlearn/methods.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/privacy.hpp"
#include "salun/unlearn/points.hpp"
#include "salun/unlearn/results.hpp"
#include "salun/unlearn/resume.hpp"
#include "salun/unlearn/salun.hpp"
#include "salun/unlearn/stage.hpp"

namespace salun::unlearn {

struct ExperimentOptions {
    Method method = Method::SalUn;      // which loop runs; the options below of the others are unused
    SalUnOptions salun;                 // epochs, lr, momentum, weight decay, clip, seed, ...
    SaliencyOptions saliency;           // threshold, batches
    std::size_t batch_size = 128;       // SalUn's loaders (the baselines carry their own)
    FineTuneOptions ft;
    GradientAscentOptions ga;
    RandomLabelOptions rl;
    RetrainOptions retrain;             // Method::Retrain: the model passed in must be freshly initialised
    std::size_t eval_batch_size = 100;  // evaluation loaders (no shuffle)
    std::size_t subset_per_class = 0;   // >0: keep only the first K training images of each class
    bool points = true;                 // write the `points` field (2,000 forwards + UMAP)
    std::string points_layer;           // empty: points_feature_layer(model) (ResNet / VGG)
    embed::UmapOptions umap = points_umap_options();  // the helper's n_neighbors 9, min_dist 0.45, seed 2048
    bool attack = true;                 // write the `attack` field
    bool cka = true;                    // write the `cka` field (needs the original model)
    /// Evaluate train and test before the method (the original's `original_accs`,
    /// `original_t_accs`) and after every epoch (`per_epoch`: UA, RA, TUA, TRA): one more
    /// evaluation before the method and after every epoch but the last, not counted in RTE.
    bool eval_every_epoch = false;
    std::vector<std::string> cka_layers;  // empty: cka_layer_names(model) (ResNet / VGG)
    /// Input normalisation of every loader (the checkpoint's own, when it carries one).
    std::optional<data::Normalize> normalize = data::cifar10_normalize();
    ResumeOptions resume;               // resume file after the mask and every phase (resume.hpp)
};

/// A model retrained without the forget class, to judge an unlearned model against: its
/// metrics (evaluated once, e.g. cached beside its weights) and, for the privacy score, the model
/// itself or its values on the privacy subset (`values`, computed from `model` when empty).
template <class T>
struct RetrainReference {
    nn::Module<T>* model = nullptr;
    ClassMetrics train, test;  // on the same training pool and test set as the run
    PrivacyValues values;
    std::string name;          // written to the JSON as retrain_reference
};

/// Mean of |UA - UA_ref|, |RA - RA_ref|, |TUA - TUA_ref|, |TRA - TRA_ref| (the SalUn paper's
/// "Avg. Gap"), from unrounded fractions.
inline double average_gap(const ClassMetrics& train, const ClassMetrics& test, const ClassMetrics& ref_train,
                          const ClassMetrics& ref_test, ClassIndex forget_class) {
    const auto [ua, ra] = forget_retain_accuracy(train, forget_class);
    const auto [tua, tra] = forget_retain_accuracy(test, forget_class);
    const auto [rua, rra] = forget_retain_accuracy(ref_train, forget_class);
    const auto [rtua, rtra] = forget_retain_accuracy(ref_test, forget_class);
    return (std::abs(ua - rua) + std::abs(ra - rra) + std::abs(tua - rtua) + std::abs(tra - rtra)) / 4.0;
}

/// What a resume file must agree on with the run that continues it: every option that changes
/// the unlearned weights or the evaluation (the caller's fingerprint, e.g. the checkpoint, too).
inline nlohmann::ordered_json experiment_fingerprint(const ExperimentOptions& o, ClassIndex forget_class) {
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
    f["points"] = o.points;
    f["eval_every_epoch"] = o.eval_every_epoch;
    if (o.normalize) f["normalize"] = {{"mean", o.normalize->mean}, {"std", o.normalize->std}};
    return f;
}

template <class T>
struct ExperimentResult {
    RunReport report;
    SaliencyMask<T> mask;
    Predictions train, test;
    double eval_seconds = 0;   // the train and test evaluation passes (eval_every_epoch's included)
    double extra_seconds = 0;  // points + attack curves + CKA: the evaluation the seed's helper adds
    double points_forward_seconds = 0, points_umap_seconds = 0;  // the two parts of `points`
    StepLog steps;  // every optimiser step of the run; a resumed SalUn run's earlier ones included
};

/// The settings of the chosen method that the loaders and the report need.
struct MethodSettings {
    int epochs = 0;
    double lr = 0, momentum = 0, weight_decay = 0, grad_clip = 0;
    std::size_t batch_size = 0;
    std::uint64_t seed = 0;
};

inline MethodSettings method_settings(const ExperimentOptions& o) {
    MethodSettings s;
    auto common = [&s](const auto& m) {  // the fields every method's options share by name
        s.epochs = m.epochs;
        s.momentum = m.momentum;
        s.weight_decay = m.weight_decay;
    };
    s.seed = o.salun.seed;
    switch (o.method) {
    case Method::FT:
        common(o.ft);
        s.lr = o.ft.lr;
        s.batch_size = o.ft.batch_size;
        break;
    case Method::GA:
        common(o.ga);
        s.lr = o.ga.lr;
        s.grad_clip = o.ga.grad_clip;
        s.batch_size = o.ga.batch_size;
        break;
    case Method::RL:
        common(o.rl);
        s.lr = o.rl.lr;
        s.grad_clip = o.rl.grad_clip;
        s.batch_size = o.rl.batch_size;
        s.seed = o.rl.seed;
        break;
    case Method::Retrain:
        common(o.retrain);
        s.lr = o.retrain.max_lr;
        s.batch_size = o.retrain.batch_size;
        s.seed = o.retrain.seed;
        break;
    case Method::SalUn:
        common(o.salun);
        s.lr = o.salun.lr;
        s.grad_clip = o.salun.grad_clip;
        s.batch_size = o.batch_size;
        break;
    }
    return s;
}

/// Predictions of `model` on `subset`, in index order, without augmentation.
template <class T>
Predictions predict_subset(nn::Module<T>& model, const data::Subset& subset, std::size_t batch_size,
                           std::size_t num_classes, const std::function<void(std::size_t)>& on_batch = {},
                           const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.normalize = normalize;
    lo.device = model.device();  // batches go where the model is
    data::DataLoader<T> loader(subset, lo);
    return predict(model, loader, num_classes, on_batch);
}

/// Stages reported through `on_stage` (stage.hpp), in this order: Saliency (or Resumed: continuing
/// from o.resume.path; the baselines have neither), Unlearn, EvalTrain, EvalTest, then Points,
/// Attack, Cka and Privacy for the fields that are computed; `on_eval_batch` is
/// told the size of every evaluation batch (CKA's included:
/// the images of a batch that went through both models).
/// `original`: a copy of the model before unlearning (models::clone_model), for `cka`; without
/// it there is no `cka` field. It is only read (eval mode), never trained.
/// `reference`: a retrained model (stage Privacy): adds `PS`, the four privacy-score curves in
/// `attack.results` and `avg_gap`.
template <class T>
ExperimentResult<T> run_salun_experiment(nn::Module<T>& model, const data::ImageDataset& train,
                                         const data::ImageDataset& test, ClassIndex forget_class,
                                         const ExperimentOptions& o, const StepCallback& on_step = {},
                                         const StageCallback& on_stage = {},
                                         const std::function<void(std::size_t)>& on_eval_batch = {},
                                         nn::Module<T>* original = nullptr,
                                         RetrainReference<T>* reference = nullptr) {
    const std::size_t C = o.salun.num_classes;
    SALUN_CHECK(forget_class >= 0 && static_cast<std::size_t>(forget_class) < C, "salun: forget class ", forget_class,
                " outside 0..", C - 1);
    SALUN_CHECK(o.batch_size > 0 && o.eval_batch_size > 0 && method_settings(o).batch_size > 0,
                "salun: batch sizes must be positive");
    check_threshold(o.saliency.threshold);
    auto stage = [&](Stage s) {
        if (on_stage) on_stage(s);
    };

    data::Subset pool = data::all(train);
    if (o.subset_per_class > 0) pool = data::first_k_per_class(pool, o.subset_per_class);
    data::Subset forget = data::of_class(pool, forget_class);
    data::Subset retain = data::without_class(pool, forget_class);
    SALUN_CHECK(forget.size() > 0, "salun: no training images of the forget class ", forget_class);
    SALUN_CHECK(retain.size() > 0, "salun: no training images outside the forget class");

    // Each method's own batch size and seed; the same seed offsets for the three loaders as SalUn.
    const MethodSettings ms = method_settings(o);
    data::LoaderOptions lo;
    lo.batch_size = ms.batch_size;
    lo.shuffle = true;
    lo.seed = ms.seed;
    lo.normalize = o.normalize;
    lo.device = model.device();  // the whole experiment runs where the model is
    data::DataLoader<T> mask_loader(forget, lo);
    lo.seed = ms.seed + 1;
    data::DataLoader<T> forget_loader(forget, lo);
    lo.seed = ms.seed + 2;
    if (o.method == Method::Retrain) {  // the checkpoints' recipe trains on augmented images
        lo.seed = ms.seed;
        lo.augment.random_crop = true;
        lo.augment.horizontal_flip = true;
    }
    data::DataLoader<T> retain_loader(retain, lo);

    ExperimentResult<T> r;
    // eval_every_epoch: train and test accuracies before the method (epoch 0) and after each
    // epoch, i.e. after the method's last phase of it (GA has only the forget phase); the last
    // epoch's row is the final evaluation's. Their time goes to eval_seconds, not to RTE; a
    // resumed SalUn run gets the earlier rows from its file.
    nlohmann::ordered_json per_epoch = nlohmann::ordered_json::array();
    double loop_eval_seconds = 0;  // evaluations inside the method's loop (subtracted from its time)
    auto add_epoch_row = [&](const ClassMetrics& tr, const ClassMetrics& ts, int epoch) {
        nlohmann::ordered_json row;
        row["epoch"] = epoch;
        put_accuracies(row, tr, ts, forget_class);
        if (epoch == 0) {
            row["accs"] = rounded(tr.accs, 3);
            row["t_accs"] = rounded(ts.accs, 3);
        }
        per_epoch.push_back(std::move(row));
    };
    // Train and test predictions of `m`, announced as stages and reported batch by batch (the
    // caller's progress display, and its chance to stop, e.g. on Ctrl-C); adds the time taken.
    auto evaluate = [&](nn::Module<T>& m, Predictions& train_out, Predictions& test_out) {
        const auto te = std::chrono::steady_clock::now();
        stage(Stage::EvalTrain);
        train_out = predict_subset(m, pool, o.eval_batch_size, C, on_eval_batch, o.normalize);
        stage(Stage::EvalTest);
        test_out = predict_subset(m, data::all(test), o.eval_batch_size, C, on_eval_batch, o.normalize);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
    };
    auto evaluate_epoch = [&](nn::Module<T>& m, int epoch) {
        Predictions tr, ts;
        const double seconds = evaluate(m, tr, ts);
        add_epoch_row(class_metrics(tr), class_metrics(ts), epoch);
        return seconds;
    };
    // A resumed SalUn run has its "before" row (and the later ones) in its resume file.
    const bool resuming = o.method == Method::SalUn && resume_file_present(o.resume);
    if (o.eval_every_epoch && !resuming) {
        // "Before": the model the method starts from; retrain starts from a fresh model, so its
        // "before" is the original it replaces (when the caller passed it).
        nn::Module<T>* before = o.method == Method::Retrain ? original : &model;
        if (before) r.eval_seconds += evaluate_epoch(*before, 0);
    }
    const Phase last_phase = o.method == Method::GA ? Phase::Forget : Phase::Retain;
    auto logged = [&](const StepInfo& s) {  // into the result's step log, then the caller
        r.steps.record(s);
        if (on_step) on_step(s);
    };
    StepCallback step = logged;
    if (o.eval_every_epoch)
        step = [&](const StepInfo& s) {
            logged(s);
            if (s.phase != last_phase || s.batch + 1 != s.num_batches || s.epoch + 1 == ms.epochs) return;
            const double t = evaluate_epoch(model, s.epoch + 1);
            loop_eval_seconds += t;
            model.train();  // back to training: the loop may not set it again before the next step
            stage(Stage::Unlearn);  // the loop goes on
        };
    // Only SalUn writes resume files (after the mask and every phase); a baseline restarts from its
    // beginning (docs/salun.md, "Resuming a run").
    double seconds = 0;  // the mask and the loop (for SalUn across resumed runs)
    const auto t0 = std::chrono::steady_clock::now();
    switch (o.method) {
    case Method::SalUn: {
        ResumeOptions resume = o.resume;
        resume.fingerprint = experiment_fingerprint(o, forget_class);
        // The per-epoch rows and the step log so far go into every resume file and come back.
        resume.save_carried = [&] { return nlohmann::ordered_json{{"per_epoch", per_epoch}, {"steps", r.steps.rows()}}; };
        resume.restore_carried = [&](const nlohmann::ordered_json& c) {
            if (c.is_array()) {  // written before the step log was carried: the rows alone
                per_epoch = c;
                return;
            }
            per_epoch = c.at("per_epoch");
            r.steps.assign(c.at("steps"));
        };
        resume.excluded_seconds = &loop_eval_seconds;
        r.mask = resumable_salun(model, mask_loader, forget_loader, retain_loader, forget_class, o.saliency, o.salun,
                                 resume, step, on_stage, seconds);
        break;
    }
    case Method::FT:
        stage(Stage::Unlearn);
        fine_tune(model, retain_loader, o.ft, step);
        break;
    case Method::GA:
        stage(Stage::Unlearn);
        gradient_ascent(model, forget_loader, o.ga, step);
        break;
    case Method::RL:
        stage(Stage::Unlearn);
        random_label(model, forget_loader, retain_loader, forget_class, o.rl, step, C);
        break;
    case Method::Retrain:
        stage(Stage::Unlearn);
        retrain(model, retain_loader, forget_class, o.retrain, step);
        break;
    }
    if (o.method != Method::SalUn)
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - loop_eval_seconds;
    r.eval_seconds += loop_eval_seconds;

    r.eval_seconds += evaluate(model, r.train, r.test);

    const auto t2 = std::chrono::steady_clock::now();  // the extra fields' time
    if (o.points) {
        stage(Stage::Points);
        const std::string layer = o.points_layer.empty() ? points_feature_layer(model) : o.points_layer;
        SALUN_CHECK(!layer.empty(), "salun: no penultimate layer known for a ", model.type_name(),
                    " (set ExperimentOptions::points_layer, or points = false)");
        PointsResult p = compute_points(model, pool, forget_class, C, layer, o.eval_batch_size, o.umap, on_eval_batch,
                                        o.normalize);
        r.report.points = std::move(p.json);
        r.points_forward_seconds = p.forward_seconds;
        r.points_umap_seconds = p.umap_seconds;
    }
    if (o.attack) {
        stage(Stage::Attack);
        r.report.attack = attack_json(attack_curves(r.train, forget_class));
    }
    if (o.cka && original) {
        stage(Stage::Cka);
        const std::vector<std::string> layers = o.cka_layers.empty() ? cka_layer_names(model) : o.cka_layers;
        SALUN_CHECK(!layers.empty(), "salun: no CKA layers known for a ", model.type_name(),
                    " (set ExperimentOptions::cka_layers, or cka = false)");
        const CkaSets sets = cka_sets(pool, data::all(test), forget_class, o.salun.seed);
        r.report.cka = cka_json(compute_cka(*original, model, layers, sets, o.eval_batch_size, on_eval_batch, o.normalize));
    }
    RunReport& rep = r.report;
    rep.train = class_metrics(r.train);
    rep.test = class_metrics(r.test);
    if (o.eval_every_epoch) add_epoch_row(rep.train, rep.test, ms.epochs);
    if (reference) {
        stage(Stage::Privacy);
        const data::Subset ps_set = privacy_subset(pool, forget_class, o.salun.seed);
        if (reference->values.size() == 0 && reference->model)
            reference->values = privacy_values(*reference->model, ps_set, o.eval_batch_size, o.normalize);
        const PrivacyResult ps = privacy_score(privacy_values(model, ps_set, o.eval_batch_size, o.normalize), reference->values);
        rep.ps = ps.score;
        if (rep.attack.is_null()) rep.attack = nlohmann::ordered_json::object();
        const nlohmann::ordered_json curves = privacy_curves_json(ps);  // named: items() must not outlive it
        for (const auto& [k, v] : curves.items()) rep.attack["results"][k] = v;
        rep.avg_gap = average_gap(rep.train, rep.test, reference->train, reference->test, forget_class);
    }
    r.extra_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();

    rep.created_at = now_string();
    rep.forget_class = forget_class;
    rep.method = method_name(o.method);
    rep.epochs = ms.epochs;
    rep.batch_size = ms.batch_size;
    rep.lr = ms.lr;
    rep.seconds = seconds;
    rep.fqs = forgetting_quality(r.train, forget_class);
    if (o.method == Method::SalUn) {
        rep.saliency_threshold = o.saliency.threshold;
        rep.extra["saliency_selected_fraction"] = round_to(r.mask.selected_fraction(), 4);
        rep.extra["saliency_layers"] = saliency_layers_json(r.mask);  // per parameter: the report's mask chart
    } else if (o.method == Method::RL) {
        rep.saliency_threshold = 1.0;  // SalUn with every weight in the mask
    }
    rep.extra["momentum"] = ms.momentum;
    rep.extra["weight_decay"] = ms.weight_decay;
    if (ms.grad_clip > 0) rep.extra["grad_clip"] = ms.grad_clip;
    rep.extra["seed"] = ms.seed;
    if (o.method == Method::SalUn) rep.extra["freeze_masked"] = o.salun.freeze_masked;
    if (o.method == Method::FT) rep.extra["lr_schedule"] = o.ft.cosine ? "CosineAnnealingLR" : "constant";
    if (o.method == Method::Retrain) {
        rep.extra["lr_schedule"] = "OneCycleLR";
        rep.extra["nesterov"] = true;
        rep.extra["augmentation"] = "RandomCrop(32, 4) + horizontal flip";
    }
    rep.extra["train_images"] = pool.size();
    if (o.eval_every_epoch) {
        // The report's "before unlearning" bars, and the accuracies after every epoch.
        if (!per_epoch.empty() && per_epoch.front().value("epoch", -1) == 0) {
            rep.extra["original_accs"] = per_epoch.front().at("accs");
            rep.extra["original_t_accs"] = per_epoch.front().at("t_accs");
        }
        nlohmann::ordered_json rows = per_epoch;
        for (auto& row : rows) {  // the per-class lists are in original_accs / original_t_accs
            row.erase("accs");
            row.erase("t_accs");
        }
        rep.extra["per_epoch"] = rows;
    }
    if (o.method == Method::SalUn) rep.extra["rte_includes_saliency"] = true;
    if (reference) {
        rep.extra["avg_gap"] = round_to(*rep.avg_gap, 4);
        rep.extra["retrain_reference"] = reference->name;
    }
    return r;
}

}  // namespace salun::unlearn
