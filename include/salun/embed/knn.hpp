// Exact k-nearest neighbours under the Euclidean metric, by brute force: every pairwise
// distance. UMAP's first step; for a few thousand points (the results' 2,000-image subset) this
// is cheaper and simpler than an approximate index, and it is what umap-learn itself does below
// 4,096 points (a dense pairwise distance matrix, then an argsort per row).
//
//   knn(x, n, d, k)   x [n, d] row-major; for every point its k nearest points, itself first
//                     (distance 0), ordered by (distance, index): ties go to the lower index,
//                     so the result does not depend on the thread count or the sort.
// Distances are accumulated in double from the float inputs (the differences, not the
// |a|^2 + |b|^2 - 2ab expansion, which cancels badly for close points). Rows are split over
// OpenMP threads; each row is computed by one thread alone, so the result is the same for any
// thread count.
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

/// Squared Euclidean distance between rows a and b of length d, in double.
template <class T>
double squared_distance(const T* a, const T* b, std::size_t d) {
    double s = 0;
    for (std::size_t f = 0; f < d; ++f) {
        const double t = double(a[f]) - double(b[f]);
        s += t * t;
    }
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
#pragma omp parallel
    {
        std::vector<double> dist(n);
        std::vector<std::int64_t> order(n);
#pragma omp for schedule(static)
        for (long li = 0; li < static_cast<long>(n); ++li) {
            const auto i = static_cast<std::size_t>(li);
            for (std::size_t j = 0; j < n; ++j) dist[j] = j == i ? 0.0 : squared_distance(x + i * d, x + j * d, d);
            std::iota(order.begin(), order.end(), std::int64_t(0));
            // itself first even when a duplicate point is also at distance 0 (umap-learn's
            // membership step drops the entry equal to the point itself)
            auto before = [&](std::int64_t a, std::int64_t b) {
                const bool sa = std::size_t(a) == i, sb = std::size_t(b) == i;
                if (sa != sb) return sa;
                const double da = dist[std::size_t(a)], db = dist[std::size_t(b)];
                return da < db || (da == db && a < b);
            };
            std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), before);
            for (std::size_t j = 0; j < k; ++j) {
                g.indices[i * k + j] = order[j];
                g.distances[i * k + j] = std::sqrt(dist[std::size_t(order[j])]);
            }
        }
    }
    return g;
}

}  // namespace salun::embed
