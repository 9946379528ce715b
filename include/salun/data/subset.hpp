// SPDX-License-Identifier: MIT
// salun::data::Subset: a view of some images of an ImageDataset, by index (no pixel copies).
// The dataset must outlive the subset; helpers taking a temporary dataset are deleted.
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"
#include "salun/data/dataset.hpp"

namespace salun::data {

struct Subset {
    const ImageDataset* dataset = nullptr;
    std::vector<std::size_t> indices;  ///< dataset indices, in order

    std::size_t size() const { return indices.size(); }
    bool empty() const { return indices.empty(); }
    /// Label of the i-th element of the subset.
    ClassIndex label(std::size_t i) const {
        SALUN_CHECK(dataset, "Subset::label: subset has no dataset");
        SALUN_CHECK(i < indices.size(), "Subset::label: position ", i, " out of range for ", indices.size());
        return dataset->label(indices[i]);
    }
};

namespace detail {
inline std::size_t class_count(const ImageDataset& ds) {
    if (!ds.classes.empty()) return ds.classes.size();
    ClassIndex mx = -1;
    for (ClassIndex l : ds.labels) mx = std::max(mx, l);
    return static_cast<std::size_t>(mx + 1);
}
inline void check_class(const ImageDataset& ds, ClassIndex c, const char* op) {
    const std::size_t n = class_count(ds);
    SALUN_CHECK(c >= 0 && static_cast<std::size_t>(c) < n, op, ": class ", c, " out of range (dataset has ", n,
                " classes: 0..", n == 0 ? 0 : n - 1, ")");
}
inline void check_subset(const Subset& s, const char* op) { SALUN_CHECK(s.dataset, op, ": subset has no dataset"); }
}  // namespace detail

/// Every image of `ds`, in order.
inline Subset all(const ImageDataset& ds) {
    Subset s{&ds, std::vector<std::size_t>(ds.size())};
    std::iota(s.indices.begin(), s.indices.end(), std::size_t{0});
    return s;
}
Subset all(const ImageDataset&&) = delete;  // the subset would dangle

struct RetainForget {
    Subset retain;  ///< images whose label != forget_class, index order
    Subset forget;  ///< images whose label == forget_class, index order
};

/// Splits `ds` into the images of `forget_class` and all others (both in index order).
inline RetainForget split_by_class(const ImageDataset& ds, ClassIndex forget_class) {
    detail::check_class(ds, forget_class, "split_by_class");
    RetainForget out{{&ds, {}}, {&ds, {}}};
    for (std::size_t i = 0; i < ds.size(); ++i)
        (ds.labels[i] == forget_class ? out.forget : out.retain).indices.push_back(i);
    return out;
}
RetainForget split_by_class(const ImageDataset&&, ClassIndex) = delete;

/// The elements of `s` whose label is `c`, in order.
inline Subset of_class(const Subset& s, ClassIndex c) {
    detail::check_subset(s, "of_class");
    detail::check_class(*s.dataset, c, "of_class");
    Subset out{s.dataset, {}};
    for (std::size_t i : s.indices)
        if (s.dataset->label(i) == c) out.indices.push_back(i);
    return out;
}

/// The elements of `s` whose label is not `c`, in order (the retain side of a class split).
inline Subset without_class(const Subset& s, ClassIndex c) {
    detail::check_subset(s, "without_class");
    detail::check_class(*s.dataset, c, "without_class");
    Subset out{s.dataset, {}};
    for (std::size_t i : s.indices)
        if (s.dataset->label(i) != c) out.indices.push_back(i);
    return out;
}

/// The first `k` elements of each class of `s`, keeping the order of `s`.
inline Subset first_k_per_class(const Subset& s, std::size_t k) {
    detail::check_subset(s, "first_k_per_class");
    std::vector<std::size_t> taken(detail::class_count(*s.dataset), 0);
    Subset out{s.dataset, {}};
    for (std::size_t i : s.indices) {
        const ClassIndex l = s.dataset->label(i);
        SALUN_CHECK(l >= 0 && static_cast<std::size_t>(l) < taken.size(), "first_k_per_class: image ", i,
                    " has label ", l, " outside 0..", taken.size() - 1);
        if (taken[static_cast<std::size_t>(l)] < k) {
            ++taken[static_cast<std::size_t>(l)];
            out.indices.push_back(i);
        }
    }
    return out;
}

}  // namespace salun::data
