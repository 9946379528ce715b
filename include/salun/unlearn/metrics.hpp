// SPDX-License-Identifier: MIT
// Evaluation and the unlearning metrics (definitions: docs/salun.md):
//   accs[c]          accuracy on the samples of true class c
//   label_dist[i][j] fraction of class-i samples predicted as j
//   conf_dist[i][j]  the seed's helper: mean softmax probability of the predicted class over the
//                    class-i samples predicted as j (0 where there are none)
//   mean_probs[i][j] the comparison tool's backend "conf_dist": mean softmax probability of class
//                    j over all class-i samples (kept because it is cheap; not in the JSON)
//   UA  = accs[forget]          RA = mean of accs over the other classes
//   FQS = mean softmax entropy (natural log) over forget-class samples / ln(num_classes), capped at 1
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/nn/module.hpp"
#include "salun/ops/activation.hpp"

namespace salun::unlearn {

/// Model outputs on a dataset: true labels, predicted labels and softmax probabilities (N x C).
struct Predictions {
    std::size_t num_classes = 0;
    std::vector<ClassIndex> labels;
    std::vector<ClassIndex> preds;
    std::vector<float> probs;

    std::size_t size() const { return labels.size(); }
    const float* prob(std::size_t i) const { return probs.data() + i * num_classes; }
};

/// Runs `model` in eval mode without a graph over every batch of `loader`; `on_batch` (optional)
/// is told how many images each batch held, for progress displays.
template <class T, class Loader>
Predictions predict(nn::Module<T>& model, Loader& loader, std::size_t num_classes,
                    const std::function<void(std::size_t)>& on_batch = {}) {
    NoGradGuard no_grad;
    model.eval();
    Predictions p;
    p.num_classes = num_classes;
    for (const auto& batch : loader.epoch()) {
        const Tensor<T> logits = model(batch.images);
        SALUN_CHECK(logits.dim() == 2 && logits.shape()[1] == num_classes, "predict: the model gives logits of shape ",
                    shape_str(logits.shape()), ", expected [N, ", num_classes, "]");
        const Tensor<T> probs = softmax(logits, 1).cpu();  // read on the host
        for (std::size_t n = 0; n < logits.shape()[0]; ++n) {
            const T* row = probs.data() + n * num_classes;
            p.preds.push_back(std::max_element(row, row + num_classes) - row);
            for (std::size_t c = 0; c < num_classes; ++c) p.probs.push_back(float(row[c]));
        }
        p.labels.insert(p.labels.end(), batch.labels.begin(), batch.labels.end());
        if (on_batch) on_batch(batch.labels.size());
    }
    return p;
}

struct ClassMetrics {
    std::vector<double> accs;                     // per true class
    std::vector<std::size_t> counts;              // samples per true class
    std::vector<std::vector<double>> label_dist;  // [true][pred]
    std::vector<std::vector<double>> conf_dist;   // [true][pred]: mean p(pred) over those samples
    std::vector<std::vector<double>> mean_probs;  // [true][class]: mean p(class) over class-true samples
    std::size_t correct = 0, total = 0;
    double accuracy() const { return total ? double(correct) / double(total) : 0.0; }
};

inline ClassMetrics class_metrics(const Predictions& p) {
    const std::size_t C = p.num_classes;
    ClassMetrics m;
    m.accs.assign(C, 0.0);
    m.counts.assign(C, 0);
    m.label_dist.assign(C, std::vector<double>(C, 0.0));
    m.conf_dist.assign(C, std::vector<double>(C, 0.0));
    m.mean_probs.assign(C, std::vector<double>(C, 0.0));
    for (std::size_t i = 0; i < p.size(); ++i) {
        const auto t = static_cast<std::size_t>(p.labels[i]);
        SALUN_CHECK(t < C, "class_metrics: label ", p.labels[i], " of sample ", i, " outside 0..", C - 1);
        ++m.counts[t];
        const auto j = static_cast<std::size_t>(p.preds[i]);
        m.label_dist[t][j] += 1;
        m.conf_dist[t][j] += p.prob(i)[j];
        for (std::size_t c = 0; c < C; ++c) m.mean_probs[t][c] += p.prob(i)[c];
        if (p.preds[i] == p.labels[i]) ++m.correct;
    }
    m.total = p.size();
    for (std::size_t t = 0; t < C; ++t) {
        if (!m.counts[t]) continue;
        m.accs[t] = m.label_dist[t][t] / double(m.counts[t]);
        for (std::size_t c = 0; c < C; ++c) {
            if (m.label_dist[t][c] > 0) m.conf_dist[t][c] /= m.label_dist[t][c];  // samples predicted as c
            m.label_dist[t][c] /= double(m.counts[t]);
            m.mean_probs[t][c] /= double(m.counts[t]);
        }
    }
    return m;
}

/// (accuracy on the forget class, mean accuracy over the other classes that have samples).
inline std::pair<double, double> forget_retain_accuracy(const ClassMetrics& m, ClassIndex forget_class) {
    SALUN_CHECK(forget_class >= 0 && static_cast<std::size_t>(forget_class) < m.accs.size(), "forget_retain_accuracy: forget class ",
                forget_class, " outside 0..", m.accs.size() - 1);
    const auto fc = static_cast<std::size_t>(forget_class);
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t c = 0; c < m.accs.size(); ++c)
        if (c != fc && m.counts[c]) {
            sum += m.accs[c];
            ++n;
        }
    return {m.accs[fc], n ? sum / double(n) : 0.0};
}

/// Forgetting-quality score: mean normalised entropy of the forget-class predictions, in [0, 1].
inline double forgetting_quality(const Predictions& p, ClassIndex forget_class) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p.labels[i] != forget_class) continue;
        double h = 0;
        for (std::size_t c = 0; c < p.num_classes; ++c) {
            const double q = p.prob(i)[c];
            if (q > 0) h -= q * std::log(q);
        }
        sum += h;
        ++n;
    }
    if (!n) return 0.0;
    return std::min(1.0, sum / double(n) / std::log(double(p.num_classes)));
}

}  // namespace salun::unlearn
