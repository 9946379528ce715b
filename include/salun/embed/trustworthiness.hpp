// SPDX-License-Identifier: MIT
// How well an embedding keeps local neighbourhoods: trustworthiness (Venna & Kaski 2001), as
// scikit-learn's sklearn.manifold.trustworthiness computes it, Euclidean in both spaces:
//
//   T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i} (r(i, j) - k)
//
// with U_i the k nearest neighbours of i in the embedding that are not among its k nearest in
// the input, and r(i, j) the rank of j among i's neighbours in the input (1 = nearest). 1 means
// every embedded neighbourhood is a true one; random embeddings score about 0.5. Ties are broken
// by index. O(n^2 log n) time, O(n) memory per thread: fine for a few thousand points.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/embed/knn.hpp"

namespace salun::embed {

/// Trustworthiness of the embedding y [n, dy] of x [n, dx] (both row-major) at k neighbours;
/// k < n / 2, as scikit-learn requires.
template <class TX, class TY>
double trustworthiness(const TX* x, std::size_t dx, const TY* y, std::size_t dy, std::size_t n, std::size_t k) {
    SALUN_CHECK(k >= 1 && 2 * k < n, "trustworthiness: n_neighbors ", k, " must be below n / 2 (n = ", n, ")");
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        std::vector<double> dist(n);
        std::vector<std::size_t> order(n), rank(n);
#pragma omp for schedule(static)
        for (long li = 0; li < static_cast<long>(n); ++li) {
            const auto i = static_cast<std::size_t>(li);
            auto by_distance = [&](std::size_t a, std::size_t b) {
                return dist[a] < dist[b] || (dist[a] == dist[b] && a < b);
            };
            // ranks in the input space, i itself excluded
            for (std::size_t j = 0; j < n; ++j) dist[j] = squared_distance(x + i * dx, x + j * dx, dx);
            order.resize(n);
            std::iota(order.begin(), order.end(), std::size_t(0));
            order.erase(order.begin() + static_cast<std::ptrdiff_t>(i));
            std::sort(order.begin(), order.end(), by_distance);
            for (std::size_t r = 0; r < n - 1; ++r) rank[order[r]] = r + 1;
            // the k nearest in the embedding
            for (std::size_t j = 0; j < n; ++j) dist[j] = squared_distance(y + i * dy, y + j * dy, dy);
            order.resize(n);
            std::iota(order.begin(), order.end(), std::size_t(0));
            order.erase(order.begin() + static_cast<std::ptrdiff_t>(i));
            std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), by_distance);
            for (std::size_t m = 0; m < k; ++m)
                if (rank[order[m]] > k) total += double(rank[order[m]] - k);  // integers: exact in any order
        }
    }
    const double nn = double(n), kk = double(k);
    return 1.0 - total * (2.0 / (nn * kk * (2.0 * nn - 3.0 * kk - 1.0)));
}

}  // namespace salun::embed
