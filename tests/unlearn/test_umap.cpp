// SPDX-License-Identifier: MIT
// UMAP (embed/): exact kNN, the fuzzy simplicial set against umap-learn, the spectral layout
// against a dense eigen-decomposition, the a/b curve fit against umap-learn, trustworthiness
// against scikit-learn, determinism, and an embedding that keeps well-separated clusters apart. Goldens: tests/fixtures/umap_golden.json
// (tests/fixtures/gen_umap_fixtures.py, umap-learn 0.5.12, scikit-learn 1.9.1).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "salun/core/random.hpp"
#include "salun/core/threads.hpp"
#include "salun/embed.hpp"

using namespace salun;
using namespace salun::embed;

namespace {

const nlohmann::json& golden() {
    static const nlohmann::json j = [] {
        std::ifstream f(std::string(SALUN_FIXTURES_DIR) + "/umap_golden.json");
        REQUIRE(f.good());
        return nlohmann::json::parse(f);
    }();
    return j;
}

std::vector<float> gaussian(std::size_t n, std::size_t d, std::uint64_t seed) {
    Generator g(seed);
    std::vector<float> x(n * d);
    for (auto& v : x) v = float(g.normal());
    return x;
}

/// `per` points around each of `clusters` centres 20 apart in `d` dimensions (unit noise).
std::vector<float> clusters(std::size_t count, std::size_t per, std::size_t d, std::uint64_t seed) {
    Generator g(seed);
    std::vector<float> x;
    for (std::size_t c = 0; c < count; ++c)
        for (std::size_t i = 0; i < per; ++i)
            for (std::size_t f = 0; f < d; ++f) x.push_back(float((f == c ? 20.0 : 0.0) + g.normal()));
    return x;
}

/// Row i of the fuzzy graph as a dense vector.
std::vector<double> dense(const SparseGraph& g) {
    std::vector<double> m(g.n * g.n, 0.0);
    for (std::size_t e = 0; e < g.nnz(); ++e) m[std::size_t(g.rows[e]) * g.n + std::size_t(g.cols[e])] = g.weights[e];
    return m;
}

}  // namespace

TEST_CASE("knn is exact: each row lists itself, then the k-1 nearest points by brute force, ascending") {
    const std::size_t n = 80, d = 7, k = 9;
    const auto x = gaussian(n, d, 1);
    const KnnGraph g = knn(x.data(), n, d, k);
    REQUIRE(g.indices.size() == n * k);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::pair<double, std::size_t>> all;
        for (std::size_t j = 0; j < n; ++j) all.emplace_back(std::sqrt(squared_distance(&x[i * d], &x[j * d], d)), j);
        std::sort(all.begin(), all.end());
        CHECK(g.index(i, 0) == std::int64_t(i));
        CHECK(g.distance(i, 0) == 0.0);
        for (std::size_t j = 0; j < k; ++j) {
            CHECK(g.index(i, j) == std::int64_t(all[j].second));
            CHECK(g.distance(i, j) == doctest::Approx(all[j].first).epsilon(1e-12));
        }
    }
    // duplicates: itself first, then the copy at distance 0
    std::vector<float> dup = {0, 0, 1, 1, 0, 0, 5, 5};
    const KnnGraph gd = knn(dup.data(), 4, 2, 2);
    CHECK(gd.index(0, 0) == 0);
    CHECK(gd.index(0, 1) == 2);
    CHECK(gd.index(2, 0) == 2);
    CHECK(gd.index(2, 1) == 0);
    CHECK_THROWS(knn(dup.data(), 4, 2, 5));
}

TEST_CASE("the fuzzy simplicial set matches umap-learn's (graph, sigmas, rhos)") {
    for (const auto& c : golden()["fuzzy"]) {
        const auto n = c["n"].get<std::size_t>(), d = c["d"].get<std::size_t>(), k = c["k"].get<std::size_t>();
        INFO("n ", n, " k ", k);
        const auto x = c["x"].get<std::vector<double>>();
        const KnnGraph g = knn(x.data(), n, d, k);
        const SmoothKnn s = smooth_knn_dist(g);
        const auto sigmas = c["sigmas"].get<std::vector<double>>(), rhos = c["rhos"].get<std::vector<double>>();
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(s.rhos[i] == doctest::Approx(rhos[i]).epsilon(1e-6));
            CHECK(s.sigmas[i] == doctest::Approx(sigmas[i]).epsilon(1e-4));
        }
        const auto want = c["graph"].get<std::vector<double>>();
        const auto got = dense(fuzzy_simplicial_set(g));
        for (std::size_t i = 0; i < n * n; ++i) {
            INFO("entry ", i / n, ", ", i % n);
            CHECK((got[i] > 0) == (want[i] > 0));
            CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-4));
        }
    }
}

TEST_CASE("fuzzy simplicial set: symmetric, weights in (0, 1], each point's memberships sum to log2(k)") {
    const std::size_t n = 120, d = 6, k = 9;
    const auto x = gaussian(n, d, 3);
    const KnnGraph g = knn(x.data(), n, d, k);
    const SmoothKnn s = smooth_knn_dist(g);
    const auto w = membership_strengths(g, s);
    for (std::size_t i = 0; i < n; ++i) {
        double sum = 0;
        for (std::size_t j = 0; j < k; ++j) sum += w[i * k + j];
        CHECK(w[i * k] == 0.0);  // itself
        CHECK(sum == doctest::Approx(std::log2(double(k))).epsilon(1e-4));
        CHECK(s.rhos[i] == g.distance(i, 1));  // the nearest other point gets weight 1
        CHECK(w[i * k + 1] == 1.0);
    }
    const SparseGraph f = fuzzy_simplicial_set(g);
    const auto m = dense(f);
    for (std::size_t e = 0; e < f.nnz(); ++e) {
        CHECK(f.weights[e] > 0.0);
        CHECK(f.weights[e] <= 1.0);
        CHECK(f.rows[e] != f.cols[e]);
        if (e > 0) CHECK(std::make_pair(f.rows[e - 1], f.cols[e - 1]) < std::make_pair(f.rows[e], f.cols[e]));
    }
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) REQUIRE(m[i * n + j] == m[j * n + i]);
}

TEST_CASE("spectral_layout: eigenvectors 2 and 3 of the normalised Laplacian; none for a disconnected graph") {
    const std::size_t n = 60, d = 4;
    const auto x = gaussian(n, d, 8);
    const SparseGraph g = fuzzy_simplicial_set(knn(x.data(), n, d, 9));
    REQUIRE(connected_components(g) == 1);
    Generator gen(1);
    const auto s = spectral_layout(g, 2, gen);
    REQUIRE(s.size() == n * 2);
    // the dense reference: all eigenpairs of M = D^-1/2 W D^-1/2 by Jacobi
    const auto w = dense(g);
    std::vector<double> deg(n, 0.0), m(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) deg[i] += w[i * n + j];
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) m[i * n + j] = w[i * n + j] / std::sqrt(deg[i] * deg[j]);
    std::vector<double> values, vectors;
    embed::detail::jacobi_eigen(m, n, values, vectors);
    CHECK(values[0] == doctest::Approx(1.0).epsilon(1e-10));  // the trivial one, skipped
    REQUIRE(values[1] - values[2] > 1e-3);                     // distinct: the vectors are unique up to sign
    REQUIRE(values[2] - values[3] > 1e-3);
    for (std::size_t a = 0; a < 2; ++a) {
        double dot = 0;
        for (std::size_t i = 0; i < n; ++i) dot += s[i * 2 + a] * vectors[i * n + a + 1];
        CHECK(std::fabs(dot) == doctest::Approx(1.0).epsilon(1e-8));
    }
    // two far-apart groups: two components, no spectral layout (umap falls back to PCA)
    const auto two = clusters(2, 30, 4, 2);
    const SparseGraph g2 = fuzzy_simplicial_set(knn(two.data(), 60, 4, 9));
    CHECK(connected_components(g2) == 2);
    CHECK(spectral_layout(g2, 2, gen).empty());
}

TEST_CASE("find_ab_params matches umap-learn's curve fit (min_dist 0.45 of the results, and others)") {
    for (const auto& c : golden()["ab"]) {
        const double spread = c["spread"], min_dist = c["min_dist"];
        INFO("spread ", spread, " min_dist ", min_dist);
        const CurveParams p = find_ab_params(spread, min_dist);
        CHECK(p.a == doctest::Approx(c["a"].get<double>()).epsilon(1e-4));
        CHECK(p.b == doctest::Approx(c["b"].get<double>()).epsilon(1e-4));
    }
    const CurveParams r = find_ab_params(1.0, 0.45);  // the value docs/salun.md quotes
    CHECK(r.a == doctest::Approx(0.67003).epsilon(1e-4));
    CHECK(r.b == doctest::Approx(1.27818).epsilon(1e-4));
}

TEST_CASE("trustworthiness matches scikit-learn's on small inputs") {
    for (const auto& c : golden()["trustworthiness"]) {
        const auto n = c["n"].get<std::size_t>(), dx = c["dx"].get<std::size_t>(), k = c["k"].get<std::size_t>();
        INFO("n ", n, " k ", k);
        const auto x = c["x"].get<std::vector<double>>(), y = c["y"].get<std::vector<double>>();
        CHECK(trustworthiness(x.data(), dx, y.data(), 2, n, k) == doctest::Approx(c["value"].get<double>()).epsilon(1e-12));
    }
    const auto x = gaussian(30, 4, 9);
    CHECK(trustworthiness(x.data(), 4, x.data(), 4, 30, 5) == 1.0);  // the identity keeps everything
    CHECK_THROWS(trustworthiness(x.data(), 4, x.data(), 4, 30, 15));
}

TEST_CASE("pca_scores: the leading axes of data stretched along known directions") {
    const std::size_t n = 300, d = 5;
    Generator g(4);
    std::vector<double> x(n * d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t f = 0; f < d; ++f) x[i * d + f] = g.normal() * (f == 3 ? 10.0 : f == 1 ? 4.0 : 1.0) + 7.0;
    for (const std::size_t rows : {n, std::size_t(4)}) {  // X^T X path, and the X X^T path (d > n)
        const auto s = pca_scores(x.data(), rows, d, 2, g);
        if (rows < n) {
            CHECK(s.size() == rows * 2);
            continue;
        }
        double c3 = 0, c1 = 0, n0 = 0, n3 = 0, n1 = 0, m3 = 0, m1 = 0;
        for (std::size_t i = 0; i < n; ++i) {
            m3 += x[i * d + 3] / double(n);
            m1 += x[i * d + 1] / double(n);
        }
        for (std::size_t i = 0; i < n; ++i) {
            c3 += s[i * 2] * (x[i * d + 3] - m3);
            c1 += s[i * 2 + 1] * (x[i * d + 1] - m1);
            n0 += s[i * 2] * s[i * 2] + s[i * 2 + 1] * s[i * 2 + 1];
            n3 += (x[i * d + 3] - m3) * (x[i * d + 3] - m3);
            n1 += (x[i * d + 1] - m1) * (x[i * d + 1] - m1);
        }
        (void)n0;
        CHECK(std::fabs(c3) / n3 > 0.95);  // first axis ~ feature 3, second ~ feature 1
        CHECK(std::fabs(c1) / n1 > 0.8);
    }
    // the X X^T path gives the same scores as the X^T X path (up to sign)
    const auto a = pca_scores(x.data(), 4, d, 2, g);
    std::vector<double> xt(x.begin(), x.begin() + 4 * d);
    const auto b = pca_scores(xt.data(), 4, d, 2, g);
    for (std::size_t i = 0; i < 8; ++i) CHECK(std::fabs(a[i]) == doctest::Approx(std::fabs(b[i])).epsilon(1e-8));
}

TEST_CASE("umap is deterministic for a seed, whatever the thread count; another seed moves the points") {
    const std::size_t n = 150, d = 8;
    const auto x = gaussian(n, d, 5);
    UmapOptions o;
    o.n_neighbors = 9;
    o.min_dist = 0.45;
    o.seed = 2048;
    o.n_epochs = 100;
    const int before = get_num_threads();
    set_num_threads(1);
    const UmapResult one = umap(x.data(), n, d, o);
    set_num_threads(2);
    const UmapResult two = umap(x.data(), n, d, o);
    const UmapResult again = umap(x.data(), n, d, o);
    set_num_threads(before);
    CHECK(one.init == UmapInit::Spectral);  // one Gaussian blob: a connected graph
    CHECK(one.embedding == two.embedding);
    CHECK(two.embedding == again.embedding);
    o.seed = 2049;
    CHECK(umap(x.data(), n, d, o).embedding != one.embedding);
    CHECK(one.n_epochs == 100);
    CHECK(one.embedding.size() == n * 2);
    for (float v : one.embedding) CHECK(std::isfinite(v));
    o.negative_sample_rate = 0;  // attraction only: still finite
    for (float v : umap(x.data(), n, d, o).embedding) REQUIRE(std::isfinite(v));
    CHECK(default_epochs(2000) == 500);
    CHECK(default_epochs(20000) == 200);
}

TEST_CASE("umap keeps well-separated clusters apart and neighbourhoods trustworthy") {
    const std::size_t count = 5, per = 60, d = 10, n = count * per;
    const auto x = clusters(count, per, d, 6);
    UmapOptions o;
    o.n_neighbors = 9;
    o.min_dist = 0.45;
    o.seed = 2048;
    const UmapResult u = umap(x.data(), n, d, o);
    CHECK(u.n_epochs == 500);
    CHECK(u.init == UmapInit::Pca);  // five components: the spectral layout falls back to PCA
    // every point's 5 nearest embedded neighbours are of its own cluster
    const KnnGraph ge = knn(u.embedding.data(), n, 2, 6);
    std::size_t same = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 1; j < 6; ++j) same += std::size_t(ge.index(i, j)) / per == i / per;
    CHECK(same == n * 5);
    // cluster centres lie further apart than the clusters are wide
    std::vector<double> cx(count, 0), cy(count, 0), radius(count, 0);
    for (std::size_t i = 0; i < n; ++i) {
        cx[i / per] += u.x(i) / double(per);
        cy[i / per] += u.y(i) / double(per);
    }
    for (std::size_t i = 0; i < n; ++i)
        radius[i / per] = std::max(radius[i / per], std::hypot(u.x(i) - cx[i / per], u.y(i) - cy[i / per]));
    for (std::size_t a = 0; a < count; ++a)
        for (std::size_t b = a + 1; b < count; ++b)
            CHECK(std::hypot(cx[a] - cx[b], cy[a] - cy[b]) > radius[a] + radius[b]);
    CHECK(trustworthiness(x.data(), d, u.embedding.data(), 2, n, 9) > 0.9);
}
