// SPDX-License-Identifier: MIT
// The `points` field of the results document: a 2-D UMAP map of a fixed training subset, one
// record per image, as the seed's helper writes it (../shared/design/results-and-metrics.md):
//
//   subset     200 training images per class (points_subset): one torch.Generator seeded 2048
//              serves the classes in turn; for class c, the first 200 of
//              torch.randperm(#images of class c) index its ascending index list. Class 0's
//              200 come first, in permutation order, then class 1's, ...
//   features   the penultimate activations in eval mode, read by a forward hook
//              (points_feature_layer: ResNet-18 `flatten` = the avgpool output, 512 values; the
//              CIFAR VGG-16-BN `head.flatten` = the input of head.fc, 512), with the predictions
//              and softmax probabilities of the same forward pass
//   embedding  UMAP, n_neighbors 9, min_dist 0.45, seed 2048 (embed/umap.hpp)
//   record     [gt, pred, dataset_index, is_forget, x, y, {"c": p for p > 0.001}], x, y and p
//              rounded to 4
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/data/loader.hpp"
#include "salun/data/subset.hpp"
#include "salun/embed/umap.hpp"
#include "salun/nn/hooks.hpp"
#include "salun/ops/activation.hpp"
#include "salun/unlearn/metrics.hpp"
#include "salun/unlearn/randperm.hpp"
#include "salun/unlearn/results.hpp"

namespace salun::unlearn {

/// The helper's subset of `pool` (all 50,000 training images give its 2,000): for each class
/// c = 0 .. num_classes-1 the first min(per_class, #c) entries of torch.randperm(#c, g) as
/// positions in the ascending list of class c's indices, g one generator seeded `seed` that
/// goes on from class to class.
inline data::Subset points_subset(const data::Subset& pool, std::size_t num_classes = 10, std::uint64_t seed = 2048,
                                  std::size_t per_class = 200) {
    std::mt19937 gen(static_cast<std::uint32_t>(seed & 0xFFFFFFFFu));  // torch.Generator().manual_seed(seed)
    data::Subset out{pool.dataset, {}};
    for (std::size_t c = 0; c < num_classes; ++c) {
        std::vector<std::size_t> idx;  // ascending: the pool is in index order, but do not rely on it
        for (std::size_t i = 0; i < pool.size(); ++i)
            if (pool.label(i) == static_cast<ClassIndex>(c)) idx.push_back(pool.indices[i]);
        std::sort(idx.begin(), idx.end());
        const auto perm = torch_randperm(static_cast<std::int64_t>(idx.size()), gen);
        for (std::size_t i = 0; i < std::min(per_class, perm.size()); ++i)
            out.indices.push_back(idx[static_cast<std::size_t>(perm[i])]);
    }
    return out;
}

/// The module whose output is the penultimate feature vector: ResNet `flatten` (the avgpool
/// output), VGG `head.flatten` (the input of head.fc: 512 values for vgg16_bn, the 4,096-wide
/// pre_logits output for vgg16_bn_timm); empty for other models.
template <class T>
std::string points_feature_layer(const nn::Module<T>& model) {
    const std::string type = model.type_name();
    if (type == "ResNet") return "flatten";
    if (type == "VGG") return "head.flatten";
    return {};
}

/// The UMAP parameters of the helper: n_neighbors 9, min_dist 0.45, random state 2048
/// (umap-learn's defaults otherwise).
inline embed::UmapOptions points_umap_options(std::uint64_t seed = 2048) {
    embed::UmapOptions o;
    o.n_neighbors = 9;
    o.min_dist = 0.45;
    o.seed = seed;
    return o;
}

struct PointsFeatures {
    data::Subset subset;
    std::size_t dim = 0;
    std::vector<float> features;  // [subset.size(), dim], subset order
    Predictions predictions;      // the same forward pass
};

/// One eval-mode pass over `subset` (no graph, no augmentation): the output of `layer`,
/// flattened per image, and the predictions.
template <class T>
PointsFeatures points_features(nn::Module<T>& model, const data::Subset& subset, const std::string& layer,
                               std::size_t num_classes, std::size_t batch_size = 100,
                               const std::function<void(std::size_t)>& on_batch = {},
                               const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    NoGradGuard no_grad;
    model.eval();
    nn::OutputCapture<T> cap(model, {layer});
    PointsFeatures r;
    r.subset = subset;
    r.predictions.num_classes = num_classes;
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.normalize = normalize;
    lo.device = model.device();  // batches go where the model is; features and logits come back
    data::DataLoader<T> loader(subset, lo);
    for (const auto& batch : loader.epoch()) {
        const Tensor<T> logits = model(batch.images);
        const std::size_t rows = batch.labels.size();
        SALUN_CHECK(logits.dim() == 2 && logits.shape()[1] == num_classes, "points: the model gives logits of shape ",
                    shape_str(logits.shape()), ", expected [N, ", num_classes, "]");
        const Tensor<T> f = cap.output(0).cpu();  // read on the host
        SALUN_CHECK(f.defined() && f.dim() > 0 && f.shape()[0] == rows, "points: layer ", layer, " did not run");
        const std::size_t d = f.numel() / rows;
        SALUN_CHECK(r.dim == 0 || r.dim == d, "points: layer ", layer, " gives ", d, " features, earlier ", r.dim);
        r.dim = d;
        for (std::size_t i = 0; i < f.numel(); ++i) r.features.push_back(float(f.data()[i]));
        const Tensor<T> probs = softmax(logits, 1).cpu();
        for (std::size_t n = 0; n < rows; ++n) {
            const T* row = probs.data() + n * num_classes;
            r.predictions.preds.push_back(std::max_element(row, row + num_classes) - row);
            for (std::size_t c = 0; c < num_classes; ++c) r.predictions.probs.push_back(float(row[c]));
        }
        r.predictions.labels.insert(r.predictions.labels.end(), batch.labels.begin(), batch.labels.end());
        cap.clear();
        if (on_batch) on_batch(rows);
    }
    return r;
}

/// [[gt, pred, dataset_index, is_forget, x, y, {"c": p}], ...] in subset order; probabilities
/// above 0.001 only; x, y and p rounded to 4 (the helper's record).
inline nlohmann::ordered_json points_json(const PointsFeatures& f, const embed::UmapResult& u,
                                          ClassIndex forget_class) {
    SALUN_CHECK(u.n == f.subset.size() && u.dim >= 2, "points_json: ", u.n, " embedded points for ", f.subset.size(),
                " images");
    const Predictions& p = f.predictions;
    auto a = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < u.n; ++i) {
        nlohmann::ordered_json probs = nlohmann::ordered_json::object();
        for (std::size_t c = 0; c < p.num_classes; ++c)
            // compared in double, as the helper compares PyTorch's float32 value with 0.001
            if (double(p.prob(i)[c]) > 0.001) probs[std::to_string(c)] = round_to(double(p.prob(i)[c]), 4);
        a.push_back(nlohmann::ordered_json::array({p.labels[i], p.preds[i], f.subset.indices[i],
                                                   p.labels[i] == forget_class ? 1 : 0, round_to(double(u.x(i)), 4),
                                                   round_to(double(u.y(i)), 4), probs}));
    }
    return a;
}

struct PointsResult {
    PointsFeatures features;
    embed::UmapResult umap;
    nlohmann::ordered_json json;
    double forward_seconds = 0, umap_seconds = 0;
};

/// The whole field for `model` on `pool`: subset, features, UMAP, records.
template <class T>
PointsResult compute_points(nn::Module<T>& model, const data::Subset& pool, ClassIndex forget_class,
                            std::size_t num_classes, const std::string& layer, std::size_t batch_size = 100,
                            const embed::UmapOptions& umap_options = points_umap_options(),
                            const std::function<void(std::size_t)>& on_batch = {},
                            const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    PointsResult r;
    const auto t0 = std::chrono::steady_clock::now();
    r.features = points_features(model, points_subset(pool, num_classes), layer, num_classes, batch_size, on_batch,
                                 normalize);
    const auto t1 = std::chrono::steady_clock::now();
    r.umap = embed::umap(r.features.features.data(), r.features.subset.size(), r.features.dim, umap_options);
    const auto t2 = std::chrono::steady_clock::now();
    r.forward_seconds = std::chrono::duration<double>(t1 - t0).count();
    r.umap_seconds = std::chrono::duration<double>(t2 - t1).count();
    r.json = points_json(r.features, r.umap, forget_class);
    return r;
}

}  // namespace salun::unlearn
