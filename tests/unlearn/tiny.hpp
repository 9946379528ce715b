// SPDX-License-Identifier: MIT
// Test helpers for the unlearning layer: a tiny MLP module, an in-memory loader over synthetic
// Gaussian-blob data, and a plain training loop. Small enough to check by brute force.
#pragma once

#include <cstdint>
#include <vector>

#include "salun/nn/module.hpp"
#include "salun/ops.hpp"
#include "salun/optim.hpp"

namespace salun::testing {

template <class T>
struct TinyMLP : nn::Module<T> {
    Tensor<T> w1, b1, w2, b2;
    TinyMLP(std::size_t in, std::size_t hidden, std::size_t classes, std::uint64_t seed) {
        Generator g(seed);
        const double s1 = 1 / std::sqrt(double(in)), s2 = 1 / std::sqrt(double(hidden));
        w1 = this->register_parameter("fc1_weight", Tensor<T>::uniform({hidden, in}, -s1, s1, g));
        b1 = this->register_parameter("fc1_bias", Tensor<T>::uniform({hidden}, -s1, s1, g));
        w2 = this->register_parameter("fc2_weight", Tensor<T>::uniform({classes, hidden}, -s2, s2, g));
        b2 = this->register_parameter("fc2_bias", Tensor<T>::uniform({classes}, -s2, s2, g));
    }
    Tensor<T> forward(const Tensor<T>& x) override { return linear(relu(linear(x.flatten(), w1, b1)), w2, b2); }
    std::string type_name() const override { return "TinyMLP"; }
};

template <class T>
struct Batch {
    Tensor<T> images;
    std::vector<std::int64_t> labels;
};

/// Batches a fixed dataset; `shuffle` reorders each epoch with its own generator.
template <class T>
struct VectorLoader {
    Tensor<T> x;  // [N, D]
    std::vector<std::int64_t> y;
    std::size_t batch_size = 32;
    bool shuffle = false;
    Generator gen{0};

    std::size_t num_batches() const { return (y.size() + batch_size - 1) / batch_size; }
    std::vector<Batch<T>> epoch() {
        std::vector<std::size_t> idx(y.size());
        for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        if (shuffle) gen.shuffle(idx.begin(), idx.end());
        const std::size_t D = x.numel() / y.size();
        std::vector<Batch<T>> out;
        for (std::size_t s = 0; s < idx.size(); s += batch_size) {
            const std::size_t n = std::min(batch_size, idx.size() - s);
            Batch<T> b{Tensor<T>::empty({n, D}), {}};
            for (std::size_t i = 0; i < n; ++i) {
                std::copy_n(x.data() + idx[s + i] * D, D, b.images.data() + i * D);
                b.labels.push_back(y[idx[s + i]]);
            }
            out.push_back(std::move(b));
        }
        return out;
    }
};

/// n samples per class of `classes` Gaussian blobs in `dim` dimensions (well separated).
template <class T>
VectorLoader<T> blobs(std::size_t classes, std::size_t per_class, std::size_t dim, std::uint64_t seed,
                      const std::vector<std::int64_t>& only = {}) {
    Generator g(seed), centres(99);
    std::vector<T> centre(classes * dim);
    for (auto& v : centre) v = T(centres.normal() * 3);
    VectorLoader<T> l;
    std::vector<T> data;
    for (std::size_t c = 0; c < classes; ++c) {
        if (!only.empty() && std::find(only.begin(), only.end(), std::int64_t(c)) == only.end()) continue;
        for (std::size_t i = 0; i < per_class; ++i) {
            for (std::size_t d = 0; d < dim; ++d) data.push_back(centre[c * dim + d] + T(g.normal()));
            l.y.push_back(std::int64_t(c));
        }
    }
    l.x = Tensor<T>::from_data({l.y.size(), dim}, data);
    return l;
}

template <class T, class Loader>
double accuracy_on(nn::Module<T>& model, Loader& loader) {
    NoGradGuard ng;
    std::size_t correct = 0, total = 0;
    for (const auto& b : loader.epoch()) {
        const Tensor<T> out = model(b.images);
        const std::size_t C = out.shape()[1];
        for (std::size_t n = 0; n < b.labels.size(); ++n) {
            const T* row = out.data() + n * C;
            correct += std::int64_t(std::max_element(row, row + C) - row) == b.labels[n];
        }
        total += b.labels.size();
    }
    return double(correct) / double(total);
}

}  // namespace salun::testing
