// SPDX-License-Identifier: MIT
// UMAP's spectral initialisation (umap-learn's spectral_layout, for a connected graph): the
// eigenvectors of the normalised graph Laplacian L = I - D^-1/2 W D^-1/2 for its 2nd .. (c+1)-th
// smallest eigenvalues, i.e. the (c+1) leading eigenvectors of M = D^-1/2 W D^-1/2 after the
// trivial one (sqrt of the degrees, eigenvalue 1).
//
// How: subspace iteration on (I + M) / 2 (eigenvalues in [0, 1], same vectors, no negative
// ones to compete), the trivial vector projected out, with a Rayleigh-Ritz step; c + 14 vectors
// so that the near-1 eigenvalues of a graph with a few loosely joined clusters separate. Cheap:
// one sparse product per vector and step. umap-learn solves the same problem with scipy's eigsh
// (Lanczos) to tolerance 1e-4; residuals below 1e-6 here.
//
// A disconnected graph (several components: eigenvalue 1 repeated) is not handled: umap-learn
// lays each component out separately and places them by a second embedding. spectral_layout
// returns an empty vector then, and umap() falls back to PCA.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "salun/core/random.hpp"
#include "salun/embed/fuzzy_simplicial_set.hpp"
#include "salun/embed/pca.hpp"

namespace salun::embed {

/// The number of connected components of a symmetric graph.
inline std::size_t connected_components(const SparseGraph& g) {
    std::vector<std::size_t> start(g.n + 1, 0);
    for (auto r : g.rows) ++start[std::size_t(r) + 1];
    for (std::size_t i = 0; i < g.n; ++i) start[i + 1] += start[i];
    std::vector<char> seen(g.n, 0);
    std::vector<std::size_t> stack;
    std::size_t count = 0;
    for (std::size_t s = 0; s < g.n; ++s) {
        if (seen[s]) continue;
        ++count;
        seen[s] = 1;
        stack.push_back(s);
        while (!stack.empty()) {
            const std::size_t v = stack.back();
            stack.pop_back();
            for (std::size_t e = start[v]; e < start[v + 1]; ++e) {
                const auto u = std::size_t(g.cols[e]);
                if (!seen[u]) {
                    seen[u] = 1;
                    stack.push_back(u);
                }
            }
        }
    }
    return count;
}

/// [n, c] row-major: eigenvectors 2 .. c+1 of the normalised Laplacian of g; empty when g is
/// not connected, too small, or the iteration did not converge in `max_iter` steps.
inline std::vector<double> spectral_layout(const SparseGraph& g, std::size_t c, Generator& gen, int max_iter = 5000) {
    const std::size_t n = g.n;
    if (n < c + 2 || connected_components(g) != 1) return {};
    std::vector<std::size_t> start(n + 1, 0);  // CSR row starts (entries sorted by row)
    for (auto r : g.rows) ++start[std::size_t(r) + 1];
    for (std::size_t i = 0; i < n; ++i) start[i + 1] += start[i];
    std::vector<double> isd(n, 0.0), u0(n);  // D^-1/2, the trivial eigenvector
    double norm0 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double deg = 0;
        for (std::size_t e = start[i]; e < start[i + 1]; ++e) deg += g.weights[e];
        isd[i] = deg > 0 ? 1 / std::sqrt(deg) : 0.0;
        u0[i] = std::sqrt(deg);
        norm0 += deg;
    }
    for (auto& v : u0) v /= std::sqrt(norm0);
    const std::size_t p = std::min(n - 1, c + 14);
    // z = (q + M q) / 2, with the trivial direction removed
    auto apply = [&](const std::vector<double>& q, std::vector<double>& z) {
        z.assign(n * p, 0.0);
        // threads only for large graphs: a step is ~nnz * 16 multiply-adds, and thousands of
        // short parallel regions lose more at their barriers than they gain (measured: 2 threads
        // on a busy 2-core machine made the 2,000-point layout 4x slower)
#pragma omp parallel for schedule(static) if (n * p > (1u << 20))
        for (long li = 0; li < static_cast<long>(n); ++li) {
            const auto i = static_cast<std::size_t>(li);
            double* zi = z.data() + i * p;
            for (std::size_t e = start[i]; e < start[i + 1]; ++e) {
                const auto j = std::size_t(g.cols[e]);
                const double m = isd[i] * g.weights[e] * isd[j];
                for (std::size_t a = 0; a < p; ++a) zi[a] += m * q[j * p + a];
            }
            for (std::size_t a = 0; a < p; ++a) zi[a] = (zi[a] + q[i * p + a]) / 2;
        }
        for (std::size_t a = 0; a < p; ++a) {
            double dot = 0;
            for (std::size_t i = 0; i < n; ++i) dot += u0[i] * z[i * p + a];
            for (std::size_t i = 0; i < n; ++i) z[i * p + a] -= dot * u0[i];
        }
    };
    std::vector<double> q(n * p), z, h(p * p), hv, hval;
    for (auto& v : q) v = gen.normal();
    for (std::size_t a = 0; a < p; ++a) {  // start orthogonal to the trivial vector
        double dot = 0;
        for (std::size_t i = 0; i < n; ++i) dot += u0[i] * q[i * p + a];
        for (std::size_t i = 0; i < n; ++i) q[i * p + a] -= dot * u0[i];
    }
    detail::orthonormalise(q, n, p);
    for (int it = 0; it < max_iter; ++it) {
        apply(q, z);
        if (it % 10 == 9 || it + 1 == max_iter) {
            // Rayleigh-Ritz on span(q): h = q^T A q, residuals of the c leading Ritz pairs
            for (std::size_t a = 0; a < p; ++a)
                for (std::size_t b = 0; b < p; ++b) {
                    double dot = 0;
                    for (std::size_t i = 0; i < n; ++i) dot += q[i * p + a] * z[i * p + b];
                    h[a * p + b] = dot;
                }
            for (std::size_t a = 0; a < p; ++a)
                for (std::size_t b = a + 1; b < p; ++b) h[a * p + b] = h[b * p + a] = (h[a * p + b] + h[b * p + a]) / 2;
            detail::jacobi_eigen(h, p, hval, hv);
            double worst = 0;
            for (std::size_t a = 0; a < c; ++a) {
                double r2 = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    double qv = 0, zv = 0;
                    for (std::size_t b = 0; b < p; ++b) {
                        qv += q[i * p + b] * hv[b * p + a];
                        zv += z[i * p + b] * hv[b * p + a];
                    }
                    r2 += (zv - hval[a] * qv) * (zv - hval[a] * qv);
                }
                worst = std::max(worst, std::sqrt(r2));
            }
            if (worst < 1e-6) {
                std::vector<double> out(n * c, 0.0);
                for (std::size_t i = 0; i < n; ++i)
                    for (std::size_t a = 0; a < c; ++a)
                        for (std::size_t b = 0; b < p; ++b) out[i * c + a] += q[i * p + b] * hv[b * p + a];
                for (std::size_t a = 0; a < c; ++a) {  // sign: largest-magnitude entry positive
                    std::size_t arg = 0;
                    for (std::size_t i = 0; i < n; ++i)
                        if (std::fabs(out[i * c + a]) > std::fabs(out[arg * c + a])) arg = i;
                    if (out[arg * c + a] < 0)
                        for (std::size_t i = 0; i < n; ++i) out[i * c + a] = -out[i * c + a];
                }
                return out;
            }
        }
        q = z;
        detail::orthonormalise(q, n, p);
    }
    return {};
}

}  // namespace salun::embed
