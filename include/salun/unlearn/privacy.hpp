// SPDX-License-Identifier: MIT
// The comparison tool's privacy score (PS): can a threshold on a per-image score tell the
// unlearned model's outputs on the forget class from those of a model retrained without it?
// (../shared/design/results-and-metrics.md, "The comparison tool's privacy score"; the Machine
// Unlearning Comparator's backend/app/utils/attack.py.) Over the forget-class images of the
// 2,000-image subset (privacy_subset), for each model:
//   entropy     of softmax(logits / 2), natural log, rounded to 2, clipped to [0, 2.5]
//   confidence  ln(p_max) - ln(1 - p_max), p = softmax(logits), rounded to 2, clipped to [-2.5, 10]
// For 51 thresholds over each range and one model's values as positives, the other's as negatives:
//   tpr = share of positives >= t, fpr = share of negatives >= t, fnr = 1 - tpr
//   fq  = 0 if fpr = fnr = 0; 1 if fpr or fnr >= 1 - delta; else 2^-epsilon with
//         epsilon = max(0, min(ln(1 - delta - fpr) - ln(fnr), ln(1 - delta - fnr) - ln(fpr)))
//         (fpr, fnr clipped to [1e-10, 1 - delta - 1e-10]), delta = 1e-5
//   attack_score = 1 - fq
// Four curves (entropy / confidence x unlearned / retrained as positives); PS = 1 - the largest
// attack_score of all, rounded to 3. PS = 1: no threshold separates the two models.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/data/loader.hpp"
#include "salun/unlearn/points.hpp"
#include "salun/data/subset.hpp"
#include "salun/nn/module.hpp"
#include "salun/unlearn/randperm.hpp"

namespace salun::unlearn {

/// Per-image scores of one model on the privacy subset (each rounded to 2, not yet clipped).
struct PrivacyValues {
    std::vector<double> entropy, confidence;
    std::size_t size() const { return entropy.size(); }
};

struct PrivacyPoint {
    double threshold = 0, fpr = 0, fnr = 0, attack_score = 0;
};

struct PrivacyResult {
    // positives: the unlearned model's values (_unlearn) or the retrained model's (_retrain)
    std::vector<PrivacyPoint> entropy_above_unlearn, entropy_above_retrain;
    std::vector<PrivacyPoint> confidence_above_unlearn, confidence_above_retrain;
    double score = 1;  // PS, rounded to 3
};

namespace detail {
inline double round2(double x) { return std::round(x * 100.0) / 100.0; }
}  // namespace detail

/// The two scores of one row of logits (computed in double, stable for any logit range).
inline void add_privacy_values(const float* logits, std::size_t C, PrivacyValues& v) {
    const double lmax = *std::max_element(logits, logits + C);
    // softmax(logits / 2): entropy = ln S - sum q z / S with z = (l - lmax) / 2, q = e^z
    double s = 0, sz = 0;
    for (std::size_t c = 0; c < C; ++c) {
        const double z = (double(logits[c]) - lmax) / 2, q = std::exp(z);
        s += q;
        sz += q * z;
    }
    v.entropy.push_back(detail::round2(std::log(s) - sz / s));
    // ln p_max - ln(1 - p_max) = -ln(sum over the other classes of e^(l - lmax)); one argmax only
    const std::size_t arg = std::size_t(std::max_element(logits, logits + C) - logits);
    double rest = 0;
    for (std::size_t c = 0; c < C; ++c)
        if (c != arg) rest += std::exp(double(logits[c]) - lmax);
    v.confidence.push_back(detail::round2(rest > 0 ? -std::log(rest) : 1e30));  // 1e30: clipped to 10
}

/// The scores of `model` (eval mode, no graph) on `subset`, in subset order.
template <class T>
PrivacyValues privacy_values(nn::Module<T>& model, const data::Subset& subset, std::size_t batch_size = 100,
                             const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    NoGradGuard no_grad;
    model.eval();
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.normalize = normalize;
    data::DataLoader<T> loader(subset, lo);
    PrivacyValues v;
    for (const auto& batch : loader.epoch()) {
        const Tensor<T> logits = model(batch.images);
        const std::size_t C = logits.shape()[1];
        std::vector<float> row(C);
        for (std::size_t n = 0; n < logits.shape()[0]; ++n) {
            for (std::size_t c = 0; c < C; ++c) row[c] = float(logits.data()[n * C + c]);
            add_privacy_values(row.data(), C, v);
        }
    }
    return v;
}

/// The forget-class part of the 2,000-image subset of the results' `points` (design note): one
/// MT19937 seeded `seed` serves the classes 0, 1, ... in turn; class c draws
/// torch.randperm(#images of class c in `pool`) and keeps the first `per_class` entries, as
/// positions in the ascending list of its pool indices. On the full training set this is the
/// comparator's subset; with --subset K each class has K images instead of 5,000.
inline data::Subset privacy_subset(const data::Subset& pool, ClassIndex forget_class, std::uint64_t seed = 2048,
                                   std::size_t per_class = 200) {
    SALUN_CHECK(forget_class >= 0, "privacy_subset: forget class ", forget_class, " is negative");
    // the same draws as points_subset: classes after the forget class do not change its part
    return data::of_class(points_subset(pool, static_cast<std::size_t>(forget_class) + 1, seed, per_class), forget_class);
}

/// numpy.linspace(start, stop, 51), computed as numpy does (start + k * step, last = stop).
inline std::vector<double> linspace51(double start, double stop) {
    std::vector<double> t(51);
    const double step = (stop - start) / 50.0;
    for (std::size_t k = 0; k < 51; ++k) t[k] = double(k) * step + start;
    t[50] = stop;
    return t;
}

/// The forgetting score fq of one (fpr, fnr) pair; attack_score = 1 - fq.
inline double forgetting_score(double fpr, double fnr) {
    constexpr double delta = 1e-5, eps = 1e-10;
    if (fpr == 0 && fnr == 0) return 0.0;
    if (fpr >= 1 - delta || fnr >= 1 - delta) return 1.0;
    const double sfp = std::clamp(fpr, eps, 1 - delta - eps), sfn = std::clamp(fnr, eps, 1 - delta - eps);
    const double e = std::max(0.0, std::min(std::log(1 - delta - sfp) - std::log(sfn),
                                            std::log(1 - delta - sfn) - std::log(sfp)));
    return std::pow(2.0, -e);
}

/// One curve: `pos` as positives, `neg` as negatives, both clipped to [lo, hi].
inline std::vector<PrivacyPoint> privacy_curve(const std::vector<double>& pos, const std::vector<double>& neg, double lo,
                                               double hi) {
    std::vector<PrivacyPoint> curve;
    if (pos.empty() || neg.empty()) return curve;
    auto share_above = [&](const std::vector<double>& v, double t) {
        std::size_t n = 0;
        for (double x : v) n += std::clamp(x, lo, hi) >= t;
        return double(n) / double(v.size());
    };
    for (double t : linspace51(lo, hi)) {
        const double tpr = share_above(pos, t), fpr = share_above(neg, t), fnr = 1.0 - tpr;
        curve.push_back({t, fpr, fnr, 1.0 - forgetting_score(fpr, fnr)});
    }
    return curve;
}

/// The four curves and PS of an unlearned model's values against a retrained model's.
inline PrivacyResult privacy_score(const PrivacyValues& unlearned, const PrivacyValues& retrained) {
    SALUN_CHECK(unlearned.size() > 0 && retrained.size() > 0, "privacy_score: no forget-class images (",
                unlearned.size(), " unlearned, ", retrained.size(), " retrained)");
    PrivacyResult r;
    r.entropy_above_unlearn = privacy_curve(unlearned.entropy, retrained.entropy, 0.0, 2.5);
    r.entropy_above_retrain = privacy_curve(retrained.entropy, unlearned.entropy, 0.0, 2.5);
    r.confidence_above_unlearn = privacy_curve(unlearned.confidence, retrained.confidence, -2.5, 10.0);
    r.confidence_above_retrain = privacy_curve(retrained.confidence, unlearned.confidence, -2.5, 10.0);
    double best = 0;
    for (const auto* c : {&r.entropy_above_unlearn, &r.entropy_above_retrain, &r.confidence_above_unlearn,
                          &r.confidence_above_retrain})
        for (const auto& p : *c) best = std::max(best, p.attack_score);
    r.score = std::round((1.0 - best) * 1000.0) / 1000.0;
    return r;
}

/// The four curves under keys that do not collide with the helper's `attack.results` curves of
/// the same names: ps_entropy_above_unlearn, ps_entropy_above_retrain, ps_confidence_above_unlearn,
/// ps_confidence_above_retrain; each point {"threshold", "fpr", "fnr", "attack_score"}, rounded to 3.
inline nlohmann::ordered_json privacy_curves_json(const PrivacyResult& r) {
    auto r3 = [](double x) { return std::round(x * 1000.0) / 1000.0; };
    auto curve = [&](const std::vector<PrivacyPoint>& c) {
        auto a = nlohmann::ordered_json::array();
        for (const auto& p : c) {
            nlohmann::ordered_json o;
            o["threshold"] = r3(p.threshold);
            o["fpr"] = r3(p.fpr);
            o["fnr"] = r3(p.fnr);
            o["attack_score"] = r3(p.attack_score);
            a.push_back(o);
        }
        return a;
    };
    nlohmann::ordered_json j;
    j["ps_entropy_above_unlearn"] = curve(r.entropy_above_unlearn);
    j["ps_entropy_above_retrain"] = curve(r.entropy_above_retrain);
    j["ps_confidence_above_unlearn"] = curve(r.confidence_above_unlearn);
    j["ps_confidence_above_retrain"] = curve(r.confidence_above_retrain);
    return j;
}

}  // namespace salun::unlearn
