// SPDX-License-Identifier: MIT
// CKA: PyTorch's randperm (the sample sets), the helper's centred cosine (streaming == direct),
// textbook linear CKA against NumPy, and the pass through two models by layer name.
// Goldens: tests/fixtures/metrics_golden.json (tests/fixtures/gen_metrics_fixtures.py).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <memory>

#include "salun/models.hpp"
#include "salun/unlearn.hpp"
#include "tiny_fixture.hpp"

using namespace salun;
using namespace salun::unlearn;

namespace {

const nlohmann::json& golden() {
    static const nlohmann::json j = [] {
        std::ifstream f(std::string(SALUN_FIXTURES_DIR) + "/metrics_golden.json");
        REQUIRE(f.good());
        return nlohmann::json::parse(f);
    }();
    return j;
}

using testing::noise_images;

}  // namespace

TEST_CASE("torch_randperm reproduces torch.randperm (PyTorch 1.13): the first 5,000 of 45,000 and 9,000") {
    for (const auto& c : golden()["randperm"]) {
        const auto n = c["n"].get<std::int64_t>();
        const auto seed = c["seed"].get<std::uint64_t>();
        INFO("n ", n, " seed ", seed);
        const auto perm = torch_randperm(n, seed);
        const auto want = c["first"].get<std::vector<std::int64_t>>();
        REQUIRE(want.size() == 5000);
        CHECK(std::equal(want.begin(), want.end(), perm.begin()));
        std::vector<std::int64_t> sorted = perm;  // and it is a permutation
        std::sort(sorted.begin(), sorted.end());
        for (std::int64_t i = 0; i < n; ++i) REQUIRE(sorted[static_cast<std::size_t>(i)] == i);
    }
    CHECK(torch_randperm(0, 1).empty());
    CHECK(torch_randperm(1, 1) == std::vector<std::int64_t>{0});
}

TEST_CASE("linear CKA and the helper's centred cosine match NumPy on small matrices") {
    for (const auto& c : golden()["cka"]) {
        const auto n = c["n"].get<std::size_t>(), dx = c["dx"].get<std::size_t>(), dy = c["dy"].get<std::size_t>();
        const auto x = c["x"].get<std::vector<double>>(), y = c["y"].get<std::vector<double>>();
        INFO("n ", n, " dx ", dx, " dy ", dy);
        CHECK(linear_cka(x.data(), y.data(), n, dx, dy) == doctest::Approx(c["linear_cka"].get<double>()).epsilon(1e-12));
        CHECK(linear_cka(x.data(), x.data(), n, dx, dx) == doctest::Approx(1.0).epsilon(1e-12));
        if (!c.contains("centred_cosine")) continue;
        const double want = c["centred_cosine"].get<double>();
        CHECK(centred_cosine(x.data(), y.data(), n, dx) == doctest::Approx(want).epsilon(1e-12));
        // streaming, in uneven batches, equals the dense formula
        CentredCosine acc;
        for (std::size_t r = 0; r < n; r += 4) {
            const std::size_t rows = std::min<std::size_t>(4, n - r);
            acc.add(x.data() + r * dx, y.data() + r * dx, rows, dx);
        }
        CHECK(acc.count() == n);
        CHECK(acc.score() == doctest::Approx(want).epsilon(1e-12));
    }
}

TEST_CASE("CentredCosine: many features (several chunks), large offsets, float input, constant sides") {
    Generator g(3);
    const std::size_t n = 23, d = 5000;  // 3 feature chunks
    std::vector<float> x(n * d), y(n * d);
    for (std::size_t i = 0; i < n * d; ++i) {
        x[i] = float(50.0 + g.normal());  // mean far above the spread: the sums must not cancel away
        y[i] = float(0.3 * (double(x[i]) - 50.0) + 0.5 * g.normal() - 7.0);
    }
    std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end());
    const double want = centred_cosine(xd.data(), yd.data(), n, d);
    CentredCosine acc;
    for (std::size_t r = 0; r < n; r += 5) acc.add(x.data() + r * d, y.data() + r * d, std::min<std::size_t>(5, n - r), d);
    CHECK(acc.score() == doctest::Approx(want).epsilon(1e-9));
    CHECK(want > 0.3);

    CentredCosine flat;  // X constant: 0, as the helper's "0 if a norm is 0"
    std::vector<float> c(n * 4, 2.5f), z(n * 4);
    for (auto& v : z) v = float(g.normal());
    flat.add(c.data(), z.data(), n, 4);
    CHECK(flat.score() == 0.0);
    CHECK(CentredCosine().score() == 0.0);
    CHECK_THROWS(flat.add(c.data(), z.data(), 2, 3));
}

TEST_CASE("cka_sets: the forget class in index order, the other classes by torch.randperm(seed + forget class)") {
    const auto train = noise_images(7, 1), test = noise_images(3, 2);
    const auto s = cka_sets(data::all(train), data::all(test), 4, 2048, 20);
    REQUIRE(s.train_forget.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) CHECK(s.train_forget.indices[i] == 4 + 10 * i);
    REQUIRE(s.train_other.size() == 20);
    std::vector<std::size_t> others;
    for (std::size_t i = 0; i < train.size(); ++i)
        if (train.labels[i] != 4) others.push_back(i);
    const auto perm = torch_randperm(63, 2052);
    for (std::size_t i = 0; i < 20; ++i) CHECK(s.train_other.indices[i] == others[static_cast<std::size_t>(perm[i])]);
    CHECK(s.test_forget.size() == 3);
    CHECK(s.test_other.size() == 20);
    for (std::size_t i : s.test_other.indices) CHECK(test.labels[i] != 4);
    // fewer other-class images than the cap: all of them, permuted
    CHECK(cka_sets(data::all(train), data::all(test), 4, 2048).test_other.size() == 27);
}

TEST_CASE("cka_scores: one streaming pass by layer name equals the dense score; a model against its copy is 1") {
    const auto ds = noise_images(2, 5);  // 20 images
    Generator g(9);
    auto a = models::resnet18<float>(10, 4, g);
    auto b = models::resnet18<float>(10, 4, g);
    const auto layers = cka_layer_names<float>(*a);
    REQUIRE(layers.size() == 10);
    CHECK(layers.front() == "conv1");
    CHECK(layers.back() == "fc");
    const data::Subset all = data::all(ds);
    const auto s = cka_scores<float>(*a, *b, layers, all, 6);  // batches 6, 6, 6, 2

    // dense reference: all 20 images in one batch, the captured outputs flattened
    data::LoaderOptions lo;
    lo.batch_size = 20;
    data::DataLoader<float> loader(all, lo);
    const auto batch = loader.epoch().batch(0);
    NoGradGuard no_grad;
    nn::OutputCapture<float> ca(*a, layers), cb(*b, layers);
    (*a)(batch.images);
    (*b)(batch.images);
    for (std::size_t l = 0; l < layers.size(); ++l) {
        INFO(layers[l]);
        const auto& x = ca.output(l);
        const auto& y = cb.output(l);
        std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end());
        CHECK(s[l] == doctest::Approx(centred_cosine(xd.data(), yd.data(), 20, x.numel() / 20)).epsilon(1e-9));
    }
    auto copy = models::resnet18<float>(10, 4, g);
    copy->copy_from(*a);
    for (double v : cka_scores<float>(*a, *copy, layers, all, 7)) CHECK(v == doctest::Approx(1.0).epsilon(1e-12));

    auto vgg = testing::narrow_vgg16_bn(g);
    const auto vl = cka_layer_names<float>(*vgg);
    CHECK(vl == std::vector<std::string>{"features.2", "features.5", "features.9", "features.12", "features.16",
                                         "features.19", "features.22", "features.26", "features.29", "head.fc"});
    const auto big32 = noise_images(1, 6, 32);  // VGG needs 32x32 (five max-pools)
    for (double v : cka_scores<float>(*vgg, *vgg, vl, data::all(big32), 4)) CHECK(v == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("cka_json has the helper's layout: layers, train/test x forget_class/other_classes, [[score]] rounded to 3") {
    CkaResult r;
    r.layers = {"a", "b"};
    r.train_forget = {0.12345, 1.0};
    r.train_other = {0.5, 0.9996};
    r.test_forget = {-0.0004, 0.25};
    r.test_other = {0.3333, 0.6667};
    const auto j = cka_json(r);
    CHECK(j.dump() ==
          R"({"layers":["a","b"],"train":{"forget_class":[[0.123],[1.0]],"other_classes":[[0.5],[1.0]]},)"
          R"("test":{"forget_class":[[-0.0],[0.25]],"other_classes":[[0.333],[0.667]]}})");
}
