// SPDX-License-Identifier: MIT
// Layer-wise similarity of an unlearned model to its original: the `cka` field of the results
// document, as the seed's helper defines it (../shared/design/results-and-metrics.md), and
// textbook linear CKA beside it.
//
//   centred cosine (the helper's "linear CKA"): flatten each layer output to X, Y [N, D] (the
//       original's and the unlearned model's on the same N images), centre every column, then
//           s = sum(X*Y) / sqrt(sum(X*X) * sum(Y*Y)),   0 if a norm is 0
//       CentredCosine computes it in one streaming pass from per-feature sums, in double:
//           sum(Xc*Yc) = sum(X*Y) - sum_f Sx_f Sy_f / N   (and the same for X*X, Y*Y)
//       so memory is O(D) per layer, independent of N (the helper's dense arrays need GBs).
//   linear_cka (Kornblith et al., 2019): on centred X [N, Dx], Y [N, Dy],
//           ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)
//       computed through the N x N Gram matrices (dense; for analysis and small N).
//   layers: ResNet-18 conv1 (the convolution's output, before bn1), layer1.0 ... layer4.1 (block
//       outputs), fc; VGG-16-BN the ReLU outputs features.2, .5, .9, .12, .16, .19, .22, .26, .29
//       and head.fc. Read through forward hooks (nn::OutputCapture), fused path included.
//   sets: train forget class (all of it, index order); train other classes: the first 5,000 of
//       torch.randperm(#other, seed + forget class) as positions in the ascending list of
//       other-class indices; the same two on the test set. Disjoint, so each image is scored once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/class_index.hpp"
#include "salun/data/loader.hpp"
#include "salun/data/subset.hpp"
#include "salun/nn/hooks.hpp"
#include "salun/unlearn/randperm.hpp"

namespace salun::unlearn {

// ---- the scores -----------------------------------------------------------------------------

/// The helper's centred cosine of X, Y [n, d] (row-major, dense), straight from its definition:
/// the reference for CentredCosine.
inline double centred_cosine(const double* x, const double* y, std::size_t n, std::size_t d) {
    std::vector<double> mx(d, 0.0), my(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < d; ++f) {
            mx[f] += x[i * d + f] / double(n);
            my[f] += y[i * d + f] / double(n);
        }
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < d; ++f) {
            const double a = x[i * d + f] - mx[f], b = y[i * d + f] - my[f];
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
    return xx > 0 && yy > 0 ? xy / std::sqrt(xx * yy) : 0.0;
}

/// Textbook linear CKA of X [n, dx] and Y [n, dy] (rows are the same n examples), columns
/// centred: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) = <Kx, Ky>_F / (||Kx||_F ||Ky||_F) with the
/// Gram matrices K = X X^T. 0 if either side is constant. O(n^2 (dx + dy)) time, O(n^2) memory.
inline double linear_cka(const double* x, const double* y, std::size_t n, std::size_t dx, std::size_t dy) {
    auto gram = [n](const double* m, std::size_t d) {
        std::vector<double> mean(d, 0.0), c(n * d), k(n * n, 0.0);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < d; ++f) mean[f] += m[i * d + f] / double(n);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t f = 0; f < d; ++f) c[i * d + f] = m[i * d + f] - mean[f];
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j)
                for (std::size_t f = 0; f < d; ++f) k[i * n + j] += c[i * d + f] * c[j * d + f];
        return k;
    };
    const std::vector<double> kx = gram(x, dx), ky = gram(y, dy);
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 0; i < n * n; ++i) {
        xy += kx[i] * ky[i];
        xx += kx[i] * kx[i];
        yy += ky[i] * ky[i];
    }
    return xx > 0 && yy > 0 ? xy / std::sqrt(xx * yy) : 0.0;
}

/// The centred cosine accumulated batch by batch: add() the two layer outputs of each batch
/// (same images, same order), score() at the end. Holds 2 D doubles and 3 scalars. The sums
/// are split over OpenMP threads by fixed feature ranges and added in a fixed order: the result
/// is the same for any thread count and schedule.
class CentredCosine {
public:
    /// x, y: [rows, d] row-major (one layer output of each model, flattened per image).
    template <class T>
    void add(const T* x, const T* y, std::size_t rows, std::size_t d) {
        if (sx_.empty()) {
            sx_.assign(d, 0.0);
            sy_.assign(d, 0.0);
        }
        SALUN_CHECK(d == sx_.size(), "CentredCosine: ", d, " features, earlier batches had ", sx_.size());
        constexpr std::size_t kChunk = 2048;
        const std::size_t chunks = (d + kChunk - 1) / kChunk;
        // per-chunk partial sums, added in chunk order below: no OpenMP reduction, whose
        // combining order is unspecified
        std::vector<double> part(3 * chunks, 0.0);
        double* px = sx_.data();
        double* py = sy_.data();
#pragma omp parallel for schedule(static) if (rows * d > (1u << 16))
        for (long c = 0; c < static_cast<long>(chunks); ++c) {
            const std::size_t f0 = static_cast<std::size_t>(c) * kChunk, f1 = std::min(d, f0 + kChunk);
            double lxy = 0, lxx = 0, lyy = 0;
            for (std::size_t r = 0; r < rows; ++r) {
                const T* xr = x + r * d;
                const T* yr = y + r * d;
                for (std::size_t f = f0; f < f1; ++f) {
                    const double a = double(xr[f]), b = double(yr[f]);
                    px[f] += a;
                    py[f] += b;
                    lxy += a * b;
                    lxx += a * a;
                    lyy += b * b;
                }
            }
            part[3 * static_cast<std::size_t>(c)] = lxy;
            part[3 * static_cast<std::size_t>(c) + 1] = lxx;
            part[3 * static_cast<std::size_t>(c) + 2] = lyy;
        }
        double sxy = 0, sxx = 0, syy = 0;
        for (std::size_t c = 0; c < chunks; ++c) {
            sxy += part[3 * c];
            sxx += part[3 * c + 1];
            syy += part[3 * c + 2];
        }
        sxy_ += sxy;
        sxx_ += sxx;
        syy_ += syy;
        n_ += rows;
    }

    /// sum(Xc*Yc) / sqrt(sum(Xc*Xc) sum(Yc*Yc)); 0 without data or when a side is constant (its
    /// centred norm below 1e-12 of its raw norm: the cancellation residue of an exact 0).
    double score() const {
        if (n_ == 0) return 0.0;
        double cxy = sxy_, cxx = sxx_, cyy = syy_;
        for (std::size_t f = 0; f < sx_.size(); ++f) {
            cxy -= sx_[f] * sy_[f] / double(n_);
            cxx -= sx_[f] * sx_[f] / double(n_);
            cyy -= sy_[f] * sy_[f] / double(n_);
        }
        if (!(cxx > 1e-12 * sxx_) || !(cyy > 1e-12 * syy_)) return 0.0;
        return cxy / std::sqrt(cxx * cyy);
    }
    std::size_t count() const { return n_; }

private:
    std::vector<double> sx_, sy_;
    double sxy_ = 0, sxx_ = 0, syy_ = 0;
    std::size_t n_ = 0;
};

// ---- layers, sets, the pass -----------------------------------------------------------------

/// The helper's CKA layers for a model, by its type: ResNet (ResNet-18) or VGG (VGG-16-BN);
/// empty for any other model (pass your own names to cka_scores).
template <class T>
std::vector<std::string> cka_layer_names(const nn::Module<T>& model) {
    const std::string type = model.type_name();
    if (type == "ResNet")
        return {"conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1",
                "layer4.0", "layer4.1", "fc"};
    if (type == "VGG")
        return {"features.2",  "features.5",  "features.9",  "features.12", "features.16",
                "features.19", "features.22", "features.26", "features.29", "head.fc"};
    return {};
}

struct CkaSets {
    data::Subset train_forget, train_other, test_forget, test_other;
};

/// The forget class of `pool` in index order, and the first `max_other` of
/// torch.randperm(#other, seed + forget_class) over the other classes' ascending indices.
inline std::pair<data::Subset, data::Subset> cka_split(const data::Subset& pool, ClassIndex forget_class, std::uint64_t seed,
                                                       std::size_t max_other = 5000) {
    data::Subset forget = data::of_class(pool, forget_class);
    const data::Subset others = data::without_class(pool, forget_class);
    const auto perm = torch_randperm(static_cast<std::int64_t>(others.size()), seed + std::uint64_t(forget_class));
    data::Subset other{others.dataset, {}};
    for (std::size_t i = 0; i < std::min(max_other, perm.size()); ++i)
        other.indices.push_back(others.indices[static_cast<std::size_t>(perm[i])]);
    return {forget, other};
}

/// The helper's four sets: `train` is the training pool (all 50,000 images, or the --subset
/// pool), `test` the test set; seed 2048 gives the helper's sets.
inline CkaSets cka_sets(const data::Subset& train, const data::Subset& test, ClassIndex forget_class,
                        std::uint64_t seed = 2048, std::size_t max_other = 5000) {
    CkaSets s;
    std::tie(s.train_forget, s.train_other) = cka_split(train, forget_class, seed, max_other);
    std::tie(s.test_forget, s.test_other) = cka_split(test, forget_class, seed, max_other);
    return s;
}

/// One streaming pass over `images` through both models (eval mode, no graph, no
/// augmentation): the centred cosine of every named layer, original vs unlearned. Memory: one
/// batch of activations per model plus 2 D doubles per layer. Both models are left in eval mode.
template <class T>
std::vector<double> cka_scores(nn::Module<T>& original, nn::Module<T>& unlearned, const std::vector<std::string>& layers,
                               const data::Subset& images, std::size_t batch_size = 100,
                               const std::function<void(std::size_t)>& on_batch = {},
                               const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    SALUN_CHECK(!layers.empty(), "cka: no layers named");
    if (images.empty()) return std::vector<double>(layers.size(), 0.0);
    NoGradGuard no_grad;
    original.eval();
    unlearned.eval();
    nn::OutputCapture<T> a(original, layers), b(unlearned, layers);
    std::vector<CentredCosine> acc(layers.size());
    data::LoaderOptions lo;
    lo.batch_size = batch_size;
    lo.normalize = normalize;
    lo.device = original.device();
    data::DataLoader<T> loader(images, lo);
    for (const auto& batch : loader.epoch()) {
        original(batch.images);
        unlearned(batch.images);
        const std::size_t rows = batch.labels.size();
        for (std::size_t l = 0; l < layers.size(); ++l) {
            const Tensor<T>&x = a.output(l), &y = b.output(l);
            SALUN_CHECK(x.defined() && y.defined(), "cka: layer ", layers[l], " did not run");
            SALUN_CHECK(x.shape() == y.shape() && x.dim() > 0 && x.shape()[0] == rows, "cka: layer ", layers[l],
                        " gives ", shape_str(x.shape()), " and ", shape_str(y.shape()), " for ", rows, " images");
            const Tensor<T> xh = x.cpu(), yh = y.cpu();  // the accumulators are on the host
            acc[l].add(xh.data(), yh.data(), rows, x.numel() / rows);
        }
        a.clear();  // frees the activations before the next batch
        b.clear();
        if (on_batch) on_batch(rows);
    }
    std::vector<double> s;
    for (const auto& c : acc) s.push_back(c.score());
    return s;
}

struct CkaResult {
    std::vector<std::string> layers;
    std::vector<double> train_forget, train_other, test_forget, test_other;  // one score per layer
};

/// cka_scores on each of the four sets.
template <class T>
CkaResult compute_cka(nn::Module<T>& original, nn::Module<T>& unlearned, const std::vector<std::string>& layers,
                      const CkaSets& sets, std::size_t batch_size = 100,
                      const std::function<void(std::size_t)>& on_batch = {},
                      const std::optional<data::Normalize>& normalize = data::cifar10_normalize()) {
    CkaResult r;
    r.layers = layers;
    r.train_forget = cka_scores(original, unlearned, layers, sets.train_forget, batch_size, on_batch, normalize);
    r.train_other = cka_scores(original, unlearned, layers, sets.train_other, batch_size, on_batch, normalize);
    r.test_forget = cka_scores(original, unlearned, layers, sets.test_forget, batch_size, on_batch, normalize);
    r.test_other = cka_scores(original, unlearned, layers, sets.test_other, batch_size, on_batch, normalize);
    return r;
}

/// {"layers": [...], "train": {"forget_class": [[s], ...], "other_classes": [...]}, "test": {...}},
/// each score rounded to 3 in a one-element list (the helper's layout).
inline nlohmann::ordered_json cka_json(const CkaResult& r) {
    auto rows = [](const std::vector<double>& v) {
        auto a = nlohmann::ordered_json::array();
        for (double s : v) a.push_back(nlohmann::ordered_json::array({std::round(s * 1000.0) / 1000.0}));
        return a;
    };
    nlohmann::ordered_json j;
    j["layers"] = r.layers;
    j["train"]["forget_class"] = rows(r.train_forget);
    j["train"]["other_classes"] = rows(r.train_other);
    j["test"]["forget_class"] = rows(r.test_forget);
    j["test"]["other_classes"] = rows(r.test_other);
    return j;
}

}  // namespace salun::unlearn
