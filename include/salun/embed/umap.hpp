// SPDX-License-Identifier: MIT
// UMAP: a 2-D (or c-D) embedding of points that keeps each point's nearest neighbours near it
// (McInnes, Healy & Melville 2018, "UMAP: Uniform Manifold Approximation and Projection"),
// following umap-learn 0.5 step by step:
//
//   1. exact k-nearest neighbours, itself included (knn.hpp)
//   2. the fuzzy simplicial set: smooth-kNN memberships, symmetrised by fuzzy union
//      (fuzzy_simplicial_set.hpp); edges below max weight / n_epochs are dropped
//   3. an initial layout: the spectral layout of the graph (spectral.hpp), or PCA scores
//      (pca.hpp), scaled to |coordinate| <= 10, plus N(0, 1e-4) noise, then each coordinate
//      rescaled to [0, 10]
//   4. the low-dimensional similarity 1 / (1 + a d^2b), with a, b fitted by least squares to
//      1 for d < min_dist, exp(-(d - min_dist) / spread) beyond (find_ab_params)
//   5. SGD on the fuzzy cross-entropy: edge e is sampled every max_w / w_e epochs (attraction,
//      both ends move), with negative_sample_rate random points per sample (repulsion, only the
//      head moves); the step decays linearly from learning_rate to 0 over n_epochs
//
// Where it differs from umap-learn (docs/salun.md, "points"):
//   * spectral initialisation by subspace iteration, not Lanczos (the same eigenvectors, to a
//     tighter tolerance); a graph with several connected components starts from PCA instead of
//     umap-learn's separate layout per component placed by a second embedding (kNN graphs of
//     well-separated classes can be disconnected). PCA preserves the global layout as well as a
//     spectral start does (Kobak & Linderman 2021, Nature Biotechnology 39:156); umap-learn
//     offers it as init="pca", and UmapInit::Pca chooses it here.
//   * the random numbers (start vectors, initial noise, negative samples) come from
//     salun::Generator, not umap-learn's Tausworthe generator: same algorithm, not the same
//     coordinates.
//   * the SGD is sequential in edge order, never Hogwild: umap-learn also runs it single-threaded
//     when given a random_state. kNN, PCA and the eigen-solver are parallel but split by rows,
//     so the embedding is the same for a seed whatever the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/core/random.hpp"
#include "salun/embed/fuzzy_simplicial_set.hpp"
#include "salun/embed/knn.hpp"
#include "salun/embed/pca.hpp"
#include "salun/embed/spectral.hpp"

namespace salun::embed {

/// How the SGD's starting layout is made.
enum class UmapInit {
    Spectral,  // umap-learn's default: Laplacian eigenvectors (spectral.hpp); PCA for a disconnected graph
    Pca,       // the first principal components of the data (umap-learn's init="pca")
};

/// umap-learn's parameters, with its defaults (the results' `points` use n_neighbors 9,
/// min_dist 0.45, seed 2048: unlearn::points_umap_options()).
struct UmapOptions {
    std::size_t n_neighbors = 15;     // neighbourhood size, itself included: larger = more global structure
    std::size_t n_components = 2;     // embedding dimension
    double min_dist = 0.1;            // how tightly points may pack: larger = more evenly spread clusters
    double spread = 1.0;              // the scale of the embedded points (with min_dist: a, b)
    int n_epochs = 0;                 // 0: umap-learn's default, 500 up to 10,000 points, else 200
    double learning_rate = 1.0;       // initial SGD step; decays linearly to 0
    double repulsion_strength = 1.0;  // gamma: weight of the negative samples in the loss
    int negative_sample_rate = 5;     // random (repelling) points per positive edge sample
    std::uint64_t seed = 0;           // initial-layout noise, eigen-solver start vectors, negative samples
    UmapInit init = UmapInit::Spectral;  // spectral as umap-learn; PCA where the graph is disconnected
};

struct CurveParams {
    double a = 0, b = 0;
};

/// a, b of 1 / (1 + a x^2b) fitted to the offset exponential of (spread, min_dist), as
/// umap-learn's find_ab_params: least squares over 300 points of [0, 3 spread], from (1, 1).
/// (scipy's curve_fit runs MINPACK's Levenberg-Marquardt with finite differences; this is
/// Levenberg-Marquardt with the exact Jacobian, so it lands on the same minimum.)
inline CurveParams find_ab_params(double spread, double min_dist) {
    SALUN_CHECK(spread > 0 && min_dist >= 0, "find_ab_params: spread ", spread, ", min_dist ", min_dist);
    constexpr int kPoints = 300;
    std::vector<double> xv(kPoints), yv(kPoints);
    for (int i = 0; i < kPoints; ++i) {
        xv[i] = spread * 3 * double(i) / double(kPoints - 1);  // numpy.linspace(0, 3 spread, 300)
        yv[i] = xv[i] < min_dist ? 1.0 : std::exp(-(xv[i] - min_dist) / spread);
    }
    auto cost = [&](double a, double b) {
        double s = 0;
        for (int i = 0; i < kPoints; ++i) {
            const double r = 1 / (1 + a * std::pow(xv[i], 2 * b)) - yv[i];
            s += r * r;
        }
        return s;
    };
    double a = 1, b = 1, lambda = 1e-3, c = cost(a, b);
    for (int it = 0; it < 500; ++it) {
        double jaa = 0, jab = 0, jbb = 0, ga = 0, gb = 0;  // J^T J and J^T r
        for (int i = 0; i < kPoints; ++i) {
            const double u = std::pow(xv[i], 2 * b), den = 1 + a * u;
            const double r = 1 / den - yv[i];
            const double da = -u / (den * den);
            const double db = xv[i] > 0 ? -a * u * 2 * std::log(xv[i]) / (den * den) : 0.0;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        bool accepted = false;
        while (!accepted && lambda < 1e12) {
            const double m00 = jaa * (1 + lambda), m11 = jbb * (1 + lambda), det = m00 * m11 - jab * jab;
            const double sa = -(m11 * ga - jab * gb) / det, sb = -(m00 * gb - jab * ga) / det;
            const double nc = cost(a + sa, b + sb);
            if (std::isfinite(nc) && nc <= c) {
                accepted = true;
                const double step = std::fabs(sa) + std::fabs(sb);
                a += sa;
                b += sb;
                const double gain = c - nc;
                c = nc;
                lambda = std::max(lambda / 10, 1e-12);
                if (step < 1e-13 * (std::fabs(a) + std::fabs(b)) || gain <= 1e-16 * c) return {a, b};
            } else {
                lambda *= 10;
            }
        }
        if (!accepted) break;
    }
    return {a, b};
}

/// umap-learn's default number of epochs for n points.
inline int default_epochs(std::size_t n) { return n <= 10000 ? 500 : 200; }

/// Drops the edges below max weight / n_epochs: sampled less than once in the whole run.
inline SparseGraph prune_edges(const SparseGraph& g, int n_epochs) {
    double wmax = 0;
    for (double w : g.weights) wmax = std::max(wmax, w);
    SparseGraph out;
    out.n = g.n;
    for (std::size_t e = 0; e < g.nnz(); ++e)
        if (!(g.weights[e] < wmax / double(n_epochs))) {
            out.rows.push_back(g.rows[e]);
            out.cols.push_back(g.cols[e]);
            out.weights.push_back(g.weights[e]);
        }
    return out;
}

/// The starting layout [n, c] (float) from scores s [n, c] (spectral or PCA): scaled to max |coordinate| 10, plus
/// N(0, 1e-4) noise (umap-learn's noisy_scale_coords), then every coordinate rescaled to [0, 10]
/// (what umap-learn does to any initialisation before the SGD).
inline std::vector<float> scale_layout(const std::vector<double>& s, std::size_t n, std::size_t c, Generator& gen) {
    double amax = 0;
    for (double v : s) amax = std::max(amax, std::fabs(v));
    const double expansion = amax > 0 ? 10 / amax : 1.0;
    std::vector<float> e(n * c);
    for (std::size_t i = 0; i < n * c; ++i) e[i] = float(s[i] * expansion) + float(gen.normal() * 1e-4);
    for (std::size_t a = 0; a < c; ++a) {
        float lo = e[a], hi = e[a];
        for (std::size_t i = 0; i < n; ++i) {
            lo = std::min(lo, e[i * c + a]);
            hi = std::max(hi, e[i * c + a]);
        }
        for (std::size_t i = 0; i < n; ++i) e[i * c + a] = hi > lo ? 10 * (e[i * c + a] - lo) / (hi - lo) : 0.0f;
    }
    return e;
}

/// initial_layout from the PCA scores of x.
template <class T>
std::vector<float> initial_layout(const T* x, std::size_t n, std::size_t d, std::size_t c, Generator& gen) {
    return scale_layout(pca_scores(x, n, d, c, gen), n, c, gen);
}

namespace detail {
inline double clip4(double v) { return v > 4 ? 4 : (v < -4 ? -4 : v); }
}  // namespace detail

/// umap-learn's optimize_layout_euclidean (densMAP off), sequential: `embedding` [n, dim] is
/// moved in place over n_epochs epochs of the graph's edges (both directions are edges).
inline void optimize_layout(std::vector<float>& embedding, std::size_t dim, const SparseGraph& g, CurveParams ab,
                            int n_epochs, const UmapOptions& o, Generator& gen) {
    const std::size_t n = g.n, ne = g.nnz();
    SALUN_CHECK(embedding.size() == n * dim, "optimize_layout: embedding of ", embedding.size(), " values for ", n,
                " x ", dim);
    double wmax = 0;
    for (double w : g.weights) wmax = std::max(wmax, w);
    // edge e is sampled once every max_w / w_e epochs: the heaviest edge every epoch
    std::vector<double> per_sample(ne), per_negative(ne), next_sample(ne), next_negative(ne);
    for (std::size_t e = 0; e < ne; ++e) {
        per_sample[e] = wmax / g.weights[e];
        // no negative samples at rate 0 (an infinite period, never due)
        per_negative[e] = o.negative_sample_rate > 0 ? per_sample[e] / double(o.negative_sample_rate)
                                                     : std::numeric_limits<double>::infinity();
        next_sample[e] = per_sample[e];
        next_negative[e] = per_negative[e];
    }
    const double a = ab.a, b = ab.b, gamma = o.repulsion_strength;
    auto rdist = [dim](const float* p, const float* q) {
        double s = 0;
        for (std::size_t k = 0; k < dim; ++k) {
            const double t = double(p[k]) - double(q[k]);
            s += t * t;
        }
        return s;
    };
    for (int epoch = 0; epoch < n_epochs; ++epoch) {
        const double alpha = o.learning_rate * (1.0 - double(epoch) / double(n_epochs));
        const double now = double(epoch);
        for (std::size_t e = 0; e < ne; ++e) {
            if (next_sample[e] > now) continue;
            const auto j = std::size_t(g.rows[e]);
            float* current = embedding.data() + j * dim;
            float* other = embedding.data() + std::size_t(g.cols[e]) * dim;
            double d2 = rdist(current, other);
            // attraction along the edge: d/dx of log(1 / (1 + a d^2b)); d^2(b-1) = d^2b / d^2
            // saves a second pow, the costliest step of the loop
            double attract = 0;
            if (d2 > 0) {
                const double pb = std::pow(d2, b);
                attract = -2 * a * b * (pb / d2) / (a * pb + 1);
            }
            for (std::size_t k = 0; k < dim; ++k) {
                const double gk = detail::clip4(attract * (double(current[k]) - double(other[k])));
                current[k] = float(double(current[k]) + gk * alpha);
                other[k] = float(double(other[k]) - gk * alpha);
            }
            next_sample[e] += per_sample[e];
            const auto negatives =
                std::isinf(per_negative[e]) ? 0L : static_cast<long>((now - next_negative[e]) / per_negative[e]);
            for (long p = 0; p < negatives; ++p) {
                const auto kk = std::size_t(gen.randint(n));
                other = embedding.data() + kk * dim;
                d2 = rdist(current, other);
                double repel = 0;
                if (d2 > 0)
                    repel = 2 * gamma * b / ((0.001 + d2) * (a * std::pow(d2, b) + 1));
                else if (kk == j)
                    continue;
                for (std::size_t k = 0; k < dim; ++k) {
                    const double gk = repel > 0 ? detail::clip4(repel * (double(current[k]) - double(other[k]))) : 0.0;
                    current[k] = float(double(current[k]) + gk * alpha);
                }
            }
            next_negative[e] += double(std::max(0L, negatives)) * per_negative[e];
        }
    }
}

struct UmapResult {
    std::size_t n = 0, dim = 0;
    std::vector<float> embedding;  // [n, dim] row-major
    CurveParams ab;
    int n_epochs = 0;
    std::size_t edges = 0;  // directed edges the SGD samples (after pruning)
    UmapInit init = UmapInit::Spectral;  // the initialisation actually used
    float x(std::size_t i) const { return embedding[i * dim]; }
    float y(std::size_t i) const { return embedding[i * dim + 1]; }
};

/// The UMAP embedding of x [n, d] (row-major).
template <class T>
UmapResult umap(const T* x, std::size_t n, std::size_t d, const UmapOptions& o = {}) {
    SALUN_CHECK(o.n_neighbors >= 2 && o.n_neighbors <= n, "umap: n_neighbors ", o.n_neighbors, " for ", n,
                " points (2..n)");
    SALUN_CHECK(o.n_components >= 1 && o.n_components <= std::min(n, d), "umap: ", o.n_components,
                " components of ", n, " x ", d, " data");
    SALUN_CHECK(o.negative_sample_rate >= 0 && o.learning_rate > 0, "umap: negative_sample_rate and learning_rate");
    Generator gen(o.seed);
    UmapResult r;
    r.n = n;
    r.dim = o.n_components;
    r.n_epochs = o.n_epochs > 0 ? o.n_epochs : default_epochs(n);
    r.ab = find_ab_params(o.spread, o.min_dist);
    const SparseGraph graph = prune_edges(fuzzy_simplicial_set(knn(x, n, d, o.n_neighbors)), r.n_epochs);
    r.edges = graph.nnz();
    std::vector<double> start;
    if (o.init == UmapInit::Spectral) start = spectral_layout(graph, r.dim, gen);
    r.init = start.empty() ? UmapInit::Pca : UmapInit::Spectral;
    if (start.empty()) start = pca_scores(x, n, d, r.dim, gen);
    r.embedding = scale_layout(start, n, r.dim, gen);
    optimize_layout(r.embedding, r.dim, graph, r.ab, r.n_epochs, o, gen);
    return r;
}

}  // namespace salun::embed
