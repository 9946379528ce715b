// SPDX-License-Identifier: MIT
// The `attack` field of the results document: how well a threshold on the softmax entropy or
// confidence tells the forget class from the other classes, on one eval-mode pass over the
// training set (the seed's helper; ../shared/design/results-and-metrics.md):
//   per image   p = softmax(logits); entropy = -sum p ln(p + 1e-10); confidence = max p
//   values      the first 200 images of the pass: {"img": position, "entropy", "confidence"}
//               (our pass is in dataset index order; the helper's is shuffled)
//   entropy_above_unlearn     t = 0, 0.05, ..., 2.5 (51):
//               fpr = share of other-class images with entropy >= t
//               fnr = 1 - share of forget-class images with entropy >= t
//               attack_score = 1 - (fpr + fnr) / 2
//   confidence_above_unlearn  t = 0, 0.02, ..., 1 (51):
//               fpr = share of other-class images with confidence <= t
//               tpr = share of forget-class images with confidence <= t
//               attack_score = 1 - |tpr - fpr|
// Rounding: threshold 3 decimals, the rest 4. An empty group counts as share 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/unlearn/metrics.hpp"

namespace salun::unlearn {

struct AttackPoint {
    double threshold = 0;
    double fpr = 0;
    double rate = 0;  // fnr (entropy curve) or tpr (confidence curve)
    double attack_score = 0;
};

struct AttackResult {
    std::vector<double> entropy, confidence;  // per image, in the order of the pass
    std::vector<AttackPoint> entropy_curve, confidence_curve;
};

/// The 51 thresholds of numpy.linspace(0, stop, 51).
inline std::vector<double> attack_thresholds(double stop) {
    std::vector<double> t(51);
    for (std::size_t k = 0; k < 51; ++k) t[k] = double(k) * (stop / 50.0);
    t[50] = stop;
    return t;
}

/// The helper's entropy and confidence curves from predictions over the training set.
inline AttackResult attack_curves(const Predictions& p, ClassIndex forget_class) {
    AttackResult r;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const float* q = p.prob(i);
        double h = 0, m = 0;
        for (std::size_t c = 0; c < p.num_classes; ++c) {
            h -= double(q[c]) * std::log(double(q[c]) + 1e-10);
            m = std::max(m, double(q[c]));
        }
        r.entropy.push_back(h);
        r.confidence.push_back(m);
    }
    // share of one group (forget or other) satisfying `pred`
    auto share = [&](const std::vector<double>& v, bool forget, auto pred) {
        std::size_t hit = 0, n = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if ((p.labels[i] == forget_class) != forget) continue;
            ++n;
            hit += pred(v[i]);
        }
        return n ? double(hit) / double(n) : 0.0;
    };
    for (double t : attack_thresholds(2.5)) {
        const double fpr = share(r.entropy, false, [t](double h) { return h >= t; });
        const double fnr = 1.0 - share(r.entropy, true, [t](double h) { return h >= t; });
        r.entropy_curve.push_back({t, fpr, fnr, 1.0 - (fpr + fnr) / 2.0});
    }
    for (double t : attack_thresholds(1.0)) {
        const double fpr = share(r.confidence, false, [t](double c) { return c <= t; });
        const double tpr = share(r.confidence, true, [t](double c) { return c <= t; });
        r.confidence_curve.push_back({t, fpr, tpr, 1.0 - std::abs(tpr - fpr)});
    }
    return r;
}

/// {"values": [first `values` images], "results": {"entropy_above_unlearn": [...],
/// "confidence_above_unlearn": [...]}} with the helper's keys and rounding.
inline nlohmann::ordered_json attack_json(const AttackResult& r, std::size_t values = 200) {
    auto rnd = [](double x, double scale) { return std::round(x * scale) / scale; };
    nlohmann::ordered_json j;
    j["values"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < std::min(values, r.entropy.size()); ++i) {
        nlohmann::ordered_json v;
        v["img"] = i;
        v["entropy"] = rnd(r.entropy[i], 1e4);
        v["confidence"] = rnd(r.confidence[i], 1e4);
        j["values"].push_back(v);
    }
    auto curve = [&](const std::vector<AttackPoint>& c, const char* rate) {
        auto a = nlohmann::ordered_json::array();
        for (const auto& pt : c) {
            nlohmann::ordered_json o;
            o["threshold"] = rnd(pt.threshold, 1e3);
            o["fpr"] = rnd(pt.fpr, 1e4);
            o[rate] = rnd(pt.rate, 1e4);
            o["attack_score"] = rnd(pt.attack_score, 1e4);
            a.push_back(o);
        }
        return a;
    };
    j["results"]["entropy_above_unlearn"] = curve(r.entropy_curve, "fnr");
    j["results"]["confidence_above_unlearn"] = curve(r.confidence_curve, "tpr");
    return j;
}

}  // namespace salun::unlearn
