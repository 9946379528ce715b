// SPDX-License-Identifier: MIT
// UMAP's high-dimensional graph (McInnes, Healy & Melville 2018, section 3.1; umap-learn's
// fuzzy_simplicial_set): turn the k-nearest-neighbour distances into a weighted, symmetric graph.
//
//   1. smooth kNN distances, per point i (smooth_knn_dist):
//        rho_i   = the distance to its nearest other point (local connectivity 1: every point
//                  is connected to at least one neighbour with weight 1)
//        sigma_i = found by binary search so that  sum_{j=1..k-1} exp(-max(0, d_ij - rho_i) / sigma_i)
//                  = log2(k)   (the neighbour at j = 0 is i itself). A fixed target means every
//                  point gets the same total membership, whatever the local density.
//   2. directed memberships w_ij = exp(-max(0, d_ij - rho_i) / sigma_i), 0 for i itself.
//   3. symmetrise as the fuzzy set union: w = a + b - a*b with a = w_ij, b = w_ji.
// Constants, iteration count and the lower bound on sigma are umap-learn's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/embed/knn.hpp"

namespace salun::embed {

/// A sparse symmetric graph in coordinate form, entries sorted by (row, col), no zeros, no
/// diagonal (scipy's coo_matrix after sum_duplicates / eliminate_zeros, as umap-learn holds it).
struct SparseGraph {
    std::size_t n = 0;
    std::vector<std::int64_t> rows, cols;
    std::vector<double> weights;

    std::size_t nnz() const { return weights.size(); }
};

struct SmoothKnn {
    std::vector<double> sigmas, rhos;
};

namespace detail {
constexpr double kSmoothKTolerance = 1e-5;  // |sum - log2(k)| that ends the search
constexpr double kMinKDistScale = 1e-3;     // sigma >= 1e-3 * the mean neighbour distance
}  // namespace detail

/// rho_i and sigma_i of every point (umap-learn's smooth_knn_dist with local_connectivity 1,
/// bandwidth 1, 64 bisection steps).
inline SmoothKnn smooth_knn_dist(const KnnGraph& g, int n_iter = 64) {
    const std::size_t n = g.n, k = g.k;
    const double target = std::log2(double(k));
    double mean_all = 0;
    for (double d : g.distances) mean_all += d;
    mean_all /= double(std::max<std::size_t>(1, g.distances.size()));
    SmoothKnn s;
    s.sigmas.assign(n, 0.0);
    s.rhos.assign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const double* d = g.distances.data() + i * k;
        // rho: the first non-zero distance (the distances are ascending)
        for (std::size_t j = 0; j < k; ++j)
            if (d[j] > 0) {
                s.rhos[i] = d[j];
                break;
            }
        const double rho = s.rhos[i];
        double lo = 0, hi = std::numeric_limits<double>::infinity(), mid = 1;
        for (int it = 0; it < n_iter; ++it) {
            double psum = 0;
            for (std::size_t j = 1; j < k; ++j) {
                const double t = d[j] - rho;
                psum += t > 0 ? std::exp(-(t / mid)) : 1.0;
            }
            if (std::fabs(psum - target) < detail::kSmoothKTolerance) break;
            if (psum > target) {
                hi = mid;
                mid = (lo + hi) / 2;
            } else {
                lo = mid;
                mid = std::isinf(hi) ? mid * 2 : (lo + hi) / 2;
            }
        }
        double mean_i = 0;
        for (std::size_t j = 0; j < k; ++j) mean_i += d[j];
        mean_i /= double(k);
        // a lower bound keeps sigma away from 0 where all neighbours sit at the same distance
        s.sigmas[i] = std::max(mid, detail::kMinKDistScale * (rho > 0 ? mean_i : mean_all));
    }
    return s;
}

/// The directed membership strengths w_ij of the kNN graph, [n, k] like g (0 for i itself).
inline std::vector<double> membership_strengths(const KnnGraph& g, const SmoothKnn& s) {
    std::vector<double> w(g.n * g.k, 0.0);
    for (std::size_t i = 0; i < g.n; ++i)
        for (std::size_t j = 0; j < g.k; ++j) {
            if (g.index(i, j) == std::int64_t(i)) continue;
            const double t = g.distance(i, j) - s.rhos[i];
            w[i * g.k + j] = (t <= 0 || s.sigmas[i] == 0) ? 1.0 : std::exp(-(t / s.sigmas[i]));
        }
    return w;
}

/// The fuzzy simplicial set: memberships symmetrised by the fuzzy union a + b - ab.
inline SparseGraph fuzzy_simplicial_set(const KnnGraph& g) {
    const SmoothKnn s = smooth_knn_dist(g);
    const std::vector<double> w = membership_strengths(g, s);
    // directed weight of (i, j), 0 if j is not among i's neighbours
    auto directed = [&](std::size_t i, std::int64_t j) {
        for (std::size_t m = 0; m < g.k; ++m)
            if (g.index(i, m) == j) return w[i * g.k + m];
        return 0.0;
    };
    std::vector<std::tuple<std::int64_t, std::int64_t, double>> e;
    e.reserve(2 * g.n * g.k);
    for (std::size_t i = 0; i < g.n; ++i)
        for (std::size_t m = 0; m < g.k; ++m) {
            const double a = w[i * g.k + m];
            if (a <= 0) continue;
            const std::int64_t j = g.index(i, m);
            const double b = directed(std::size_t(j), std::int64_t(i));
            const double u = a + b - a * b;
            e.emplace_back(std::int64_t(i), j, u);
            if (b <= 0) e.emplace_back(j, std::int64_t(i), u);  // (j, i) appears nowhere else
        }
    std::sort(e.begin(), e.end());
    SparseGraph out;
    out.n = g.n;
    for (const auto& [r, c, v] : e) {
        out.rows.push_back(r);
        out.cols.push_back(c);
        out.weights.push_back(v);
    }
    return out;
}

}  // namespace salun::embed
