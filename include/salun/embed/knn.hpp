// SPDX-License-Identifier: MIT
// Exact k-nearest neighbours under the Euclidean metric, by brute force: every pairwise
// distance. UMAP's first step; for a few thousand points (the results' 2,000-image subset) this
// is cheaper and simpler than an approximate index, and it is what umap-learn itself does below
// 4,096 points (a dense pairwise distance matrix, then an argsort per row).
//
//   knn(x, n, d, k)   x [n, d] row-major; for every point its k nearest points, itself first
//                     (distance 0), ordered by (distance, index): ties go to the lower index,
//                     so the result does not depend on the thread count or the sort.
// Distances are accumulated in double (the differences, not the |a|^2 + |b|^2 - 2ab expansion,
// which cancels badly for close points), in the same order for every pair. Blocks of 8 rows are
// split over OpenMP threads; each row is computed by one thread alone, so the result is the same
// for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "salun/core/error.hpp"

namespace salun::embed {

struct KnnGraph {
    std::size_t n = 0, k = 0;
    std::vector<std::int64_t> indices;  // [n, k]: row i lists i's neighbours, nearest first
    std::vector<double> distances;      // [n, k]: Euclidean distances, ascending

    std::int64_t index(std::size_t i, std::size_t j) const { return indices[i * k + j]; }
    double distance(std::size_t i, std::size_t j) const { return distances[i * k + j]; }
};

/// Squared Euclidean distance between rows a and b of length d, in double. Sixteen partial sums
/// added in a fixed order at the end: the compiler may vectorise them (a single running sum
/// it may not reorder), and the result is the same on every call.
template <class T>
double squared_distance(const T* a, const T* b, std::size_t d) {
    constexpr std::size_t kLanes = 16;
    double acc[kLanes] = {};
    std::size_t f = 0;
    for (; f + kLanes <= d; f += kLanes)
        for (std::size_t l = 0; l < kLanes; ++l) {
            const double t = double(a[f + l]) - double(b[f + l]);
            acc[l] += t * t;
        }
    for (; f < d; ++f) {
        const double t = double(a[f]) - double(b[f]);
        acc[f % kLanes] += t * t;
    }
    double s = 0;
    for (double v : acc) s += v;
    return s;
}

/// The exact k nearest neighbours of each row of x [n, d] (itself included, first).
template <class T>
KnnGraph knn(const T* x, std::size_t n, std::size_t d, std::size_t k) {
    SALUN_CHECK(k >= 1 && k <= n, "knn: k = ", k, " must be in 1..n (n = ", n, ")");
    KnnGraph g;
    g.n = n;
    g.k = k;
    g.indices.resize(n * k);
    g.distances.resize(n * k);
    // the points in double once (not a conversion per distance term)
    std::vector<double> xd(x, x + n * d);
    constexpr std::size_t kRows = 8;  // rows per block: each point j is read once for 8 rows
    const std::size_t blocks = (n + kRows - 1) / kRows;
#pragma omp parallel
    {
        std::vector<double> dist(kRows * n);
        std::vector<std::int64_t> order(n);
#pragma omp for schedule(dynamic, 4)
        for (long lb = 0; lb < static_cast<long>(blocks); ++lb) {
            const std::size_t i0 = static_cast<std::size_t>(lb) * kRows, i1 = std::min(n, i0 + kRows);
            for (std::size_t j = 0; j < n; ++j) {
                const double* pj = xd.data() + j * d;
                for (std::size_t i = i0; i < i1; ++i) {
                    dist[(i - i0) * n + j] = i == j ? 0.0 : squared_distance(xd.data() + i * d, pj, d);
                }
            }
            for (std::size_t i = i0; i < i1; ++i) {
                const double* di = dist.data() + (i - i0) * n;
                std::iota(order.begin(), order.end(), std::int64_t(0));
                // itself first even when a duplicate point is also at distance 0 (umap-learn's
                // membership step drops the entry equal to the point itself)
                auto before = [&](std::int64_t a, std::int64_t b) {
                    const bool sa = std::size_t(a) == i, sb = std::size_t(b) == i;
                    if (sa != sb) return sa;
                    const double da = di[std::size_t(a)], db = di[std::size_t(b)];
                    return da < db || (da == db && a < b);
                };
                std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), before);
                for (std::size_t j = 0; j < k; ++j) {
                    g.indices[i * k + j] = order[j];
                    g.distances[i * k + j] = std::sqrt(di[std::size_t(order[j])]);
                }
            }
        }
    }
    return g;
}

}  // namespace salun::embed
