// SPDX-License-Identifier: MIT
// Principal component scores of a small dense data set, for UMAP's initial layout.
//
//   pca_scores(x, n, d, c, gen)   x [n, d] -> [n, c]: the projections of the centred rows on the
//                                 c leading principal axes (what sklearn's PCA.fit_transform
//                                 returns, up to the sign of each axis)
// How: subspace iteration with a Rayleigh-Ritz step on the smaller of the two Gram matrices,
// X^T X [d, d] (d <= n) or X X^T [n, n] (d > n, e.g. 4,096 VGG features of 2,000 images),
// accumulated in double. The c + 6 extra vectors make convergence fast: the error shrinks by
// lambda_{c+7} / lambda_c per step. Each axis's sign is fixed (its largest-magnitude entry is
// positive), so the scores do not depend on the random start. Every product is computed by
// fixed rows per thread: the same result for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/core/random.hpp"

namespace salun::embed {

namespace detail {

/// Eigenvalues (descending) and eigenvectors (columns of v, [m, m] row-major) of a small
/// symmetric matrix a [m, m], by cyclic Jacobi rotations.
inline void jacobi_eigen(std::vector<double> a, std::size_t m, std::vector<double>& values, std::vector<double>& v) {
    v.assign(m * m, 0.0);
    for (std::size_t i = 0; i < m; ++i) v[i * m + i] = 1;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0, total = 0;
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < m; ++j) (i == j ? total : off) += a[i * m + j] * a[i * m + j];
        if (off <= 1e-30 * (total + off)) break;
        for (std::size_t p = 0; p + 1 < m; ++p)
            for (std::size_t q = p + 1; q < m; ++q) {
                const double apq = a[p * m + q];
                if (apq == 0) continue;
                const double theta = (a[q * m + q] - a[p * m + p]) / (2 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (std::size_t k = 0; k < m; ++k) {  // a <- J^T a J, columns then rows
                    const double akp = a[k * m + p], akq = a[k * m + q];
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for (std::size_t k = 0; k < m; ++k) {
                    const double apk = a[p * m + k], aqk = a[q * m + k];
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for (std::size_t k = 0; k < m; ++k) {
                    const double vkp = v[k * m + p], vkq = v[k * m + q];
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
    }
    std::vector<std::size_t> order(m);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return a[i * m + i] > a[j * m + j]; });
    std::vector<double> vs(m * m);
    values.resize(m);
    for (std::size_t c = 0; c < m; ++c) {
        values[c] = a[order[c] * m + order[c]];
        for (std::size_t k = 0; k < m; ++k) vs[k * m + c] = v[k * m + order[c]];
    }
    v = std::move(vs);
}

/// Orthonormalises the p columns of q [m, p] in place (modified Gram-Schmidt, twice for safety).
inline void orthonormalise(std::vector<double>& q, std::size_t m, std::size_t p) {
    for (int pass = 0; pass < 2; ++pass)
        for (std::size_t c = 0; c < p; ++c) {
            for (std::size_t b = 0; b < c; ++b) {
                double dot = 0;
                for (std::size_t k = 0; k < m; ++k) dot += q[k * p + c] * q[k * p + b];
                for (std::size_t k = 0; k < m; ++k) q[k * p + c] -= dot * q[k * p + b];
            }
            double nrm = 0;
            for (std::size_t k = 0; k < m; ++k) nrm += q[k * p + c] * q[k * p + c];
            nrm = std::sqrt(nrm);
            for (std::size_t k = 0; k < m; ++k) q[k * p + c] = nrm > 0 ? q[k * p + c] / nrm : 0.0;
        }
}

/// z [m, p] = s [m, m] q [m, p], rows split over threads.
inline void symm_times(const std::vector<double>& s, const std::vector<double>& q, std::vector<double>& z,
                       std::size_t m, std::size_t p) {
    z.assign(m * p, 0.0);
#pragma omp parallel for schedule(static)
    for (long li = 0; li < static_cast<long>(m); ++li) {
        const auto i = static_cast<std::size_t>(li);
        for (std::size_t k = 0; k < m; ++k) {
            const double sik = s[i * m + k];
            for (std::size_t c = 0; c < p; ++c) z[i * p + c] += sik * q[k * p + c];
        }
    }
}

/// The c leading eigenvectors ([m, c] row-major) and eigenvalues of a symmetric PSD s [m, m].
inline void top_eigen(const std::vector<double>& s, std::size_t m, std::size_t c, Generator& gen,
                      std::vector<double>& vectors, std::vector<double>& values) {
    const std::size_t p = std::min(m, c + 6);
    std::vector<double> q(m * p), z, h(p * p), hv, hval, prev;
    for (auto& v : q) v = gen.normal();
    orthonormalise(q, m, p);
    for (int it = 0; it < 300; ++it) {
        symm_times(s, q, z, m, p);
        // Rayleigh-Ritz: h = q^T s q, rotate q onto h's eigenvectors
        for (std::size_t a = 0; a < p; ++a)
            for (std::size_t b = 0; b < p; ++b) {
                double dot = 0;
                for (std::size_t k = 0; k < m; ++k) dot += q[k * p + a] * z[k * p + b];
                h[a * p + b] = dot;
            }
        for (std::size_t a = 0; a < p; ++a)  // exact symmetry for Jacobi
            for (std::size_t b = a + 1; b < p; ++b) h[a * p + b] = h[b * p + a] = (h[a * p + b] + h[b * p + a]) / 2;
        jacobi_eigen(h, p, hval, hv);
        bool done = !prev.empty();
        for (std::size_t a = 0; a < c && done; ++a)
            done = std::fabs(hval[a] - prev[a]) <= 1e-10 * std::max(std::fabs(hval[0]), 1e-300);
        prev = hval;
        if (done || it == 299) {
            vectors.assign(m * c, 0.0);
            for (std::size_t k = 0; k < m; ++k)
                for (std::size_t a = 0; a < c; ++a)
                    for (std::size_t b = 0; b < p; ++b) vectors[k * c + a] += q[k * p + b] * hv[b * p + a];
            values.assign(hval.begin(), hval.begin() + static_cast<std::ptrdiff_t>(c));
            return;
        }
        q = z;  // next power step
        orthonormalise(q, m, p);
    }
}

}  // namespace detail

/// The first c principal component scores of x [n, d] (row-major), [n, c] row-major, in double.
template <class T>
std::vector<double> pca_scores(const T* x, std::size_t n, std::size_t d, std::size_t c, Generator& gen) {
    SALUN_CHECK(n >= 1 && c >= 1 && c <= std::min(n, d), "pca_scores: ", c, " components of ", n, " x ", d, " data");
    std::vector<double> xc(n * d), mean(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < d; ++f) mean[f] += double(x[i * d + f]);
    for (auto& m : mean) m /= double(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < d; ++f) xc[i * d + f] = double(x[i * d + f]) - mean[f];
    const bool features = d <= n;  // eigen-decompose X^T X [d, d], else X X^T [n, n]
    const std::size_t m = features ? d : n;
    std::vector<double> s(m * m, 0.0);
    if (features) {
        // X^T X, the lower triangle by blocks of 32 rows: row i of X is read contiguously for
        // every block, and each entry is summed by one thread in row order (deterministic)
        constexpr std::size_t kBlock = 32;
        const std::size_t blocks = (m + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic, 1)
        for (long lb = 0; lb < static_cast<long>(blocks); ++lb) {
            const std::size_t a0 = static_cast<std::size_t>(lb) * kBlock, a1 = std::min(m, a0 + kBlock);
            for (std::size_t i = 0; i < n; ++i) {
                const double* r = xc.data() + i * d;
                for (std::size_t a = a0; a < a1; ++a) {
                    const double ra = r[a];
                    double* row = s.data() + a * m;
                    for (std::size_t b = 0; b <= a; ++b) row[b] += ra * r[b];
                }
            }
        }
    } else {
#pragma omp parallel for schedule(dynamic, 8)
        for (long la = 0; la < static_cast<long>(m); ++la) {
            const auto a = static_cast<std::size_t>(la);
            for (std::size_t b = 0; b <= a; ++b) {
                double dot = 0;
                for (std::size_t f = 0; f < d; ++f) dot += xc[a * d + f] * xc[b * d + f];
                s[a * m + b] = dot;
            }
        }
    }
    for (std::size_t a = 0; a < m; ++a)
        for (std::size_t b = 0; b < a; ++b) s[b * m + a] = s[a * m + b];
    std::vector<double> v, lambda;
    detail::top_eigen(s, m, c, gen, v, lambda);
    for (std::size_t a = 0; a < c; ++a) {  // sign: largest-magnitude entry positive
        std::size_t arg = 0;
        for (std::size_t k = 0; k < m; ++k)
            if (std::fabs(v[k * c + a]) > std::fabs(v[arg * c + a])) arg = k;
        if (v[arg * c + a] < 0)
            for (std::size_t k = 0; k < m; ++k) v[k * c + a] = -v[k * c + a];
    }
    std::vector<double> scores(n * c, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t a = 0; a < c; ++a) {
            if (features) {
                double dot = 0;
                for (std::size_t f = 0; f < d; ++f) dot += xc[i * d + f] * v[f * c + a];
                scores[i * c + a] = dot;
            } else {
                scores[i * c + a] = v[i * c + a] * std::sqrt(std::max(0.0, lambda[a]));
            }
        }
    return scores;
}

}  // namespace salun::embed
