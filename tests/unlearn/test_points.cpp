// SPDX-License-Identifier: MIT
// The results' `points`: the helper's 2,000-image subset (all of it against PyTorch's randperm on
// the real CIFAR-10 labels: tests/fixtures/points_golden.json, gen_points_fixtures.py) and the
// record layout of the field.
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "salun/models.hpp"
#include "salun/unlearn/points.hpp"
#include "tiny_fixture.hpp"

using namespace salun;
using namespace salun::unlearn;

TEST_CASE("points_subset is the helper's: 200 per class by torch.randperm, one generator seeded 2048") {
    std::ifstream f(std::string(SALUN_FIXTURES_DIR) + "/points_golden.json");
    REQUIRE(f.good());
    const auto j = nlohmann::json::parse(f);
    data::ImageDataset train;  // the CIFAR-10 training labels, no pixels: the subset needs none
    for (char c : j["labels"].get<std::string>()) train.labels.push_back(c - '0');
    for (int c = 0; c < 10; ++c) train.classes.push_back("c" + std::to_string(c));
    REQUIRE(train.size() == 50000);
    const data::Subset s = points_subset(data::all(train));
    const auto want = j["subset"].get<std::vector<std::size_t>>();
    REQUIRE(s.size() == 2000);
    CHECK(s.indices == want);
    // the design note's first indices of classes 0 and 1
    CHECK(std::vector<std::size_t>(s.indices.begin(), s.indices.begin() + 4) ==
          std::vector<std::size_t>{11356, 35195, 47227, 5414});
    CHECK(std::vector<std::size_t>(s.indices.begin() + 200, s.indices.begin() + 204) ==
          std::vector<std::size_t>{3744, 38175, 9744, 26298});
    for (std::size_t i = 0; i < 2000; ++i) REQUIRE(s.label(i) == salun::ClassIndex(i / 200));
    // a smaller pool: at most what each class has
    const data::Subset small = points_subset(data::first_k_per_class(data::all(train), 30));
    CHECK(small.size() == 300);
}

TEST_CASE("points_json: [gt, pred, dataset_index, is_forget, x, y, probs above 0.001], rounded to 4") {
    data::ImageDataset ds;
    ds.labels = {0, 1, 2};
    PointsFeatures f;
    f.subset = data::Subset{&ds, {7, 3, 11}};
    f.predictions.num_classes = 3;
    f.predictions.labels = {0, 1, 2};
    f.predictions.preds = {0, 2, 2};
    f.predictions.probs = {0.99912345f, 0.0008f, 0.0000765f, 0.2f, 0.3f, 0.5f, 0.001f, 0.0011f, 0.9979f};
    embed::UmapResult u;
    u.n = 3;
    u.dim = 2;
    u.embedding = {1.23456f, -2.5f, 0.0f, 10.00004f, 3.33333f, 4.44449f};
    const auto j = points_json(f, u, 1);
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 3);
    CHECK(j[0].dump() == R"([0,0,7,0,1.2346,-2.5,{"0":0.9991}])");
    CHECK(j[1].dump() == R"([1,2,3,1,0.0,10.0,{"0":0.2,"1":0.3,"2":0.5}])");
    CHECK(j[2].dump() == R"([2,2,11,0,3.3333,4.4445,{"0":0.001,"1":0.0011,"2":0.9979}])");
    CHECK_THROWS(points_json(f, embed::UmapResult{}, 1));
}

TEST_CASE("points_features: the penultimate features are the input of the last Linear, for ResNet and VGG") {
    const data::ImageDataset ds = testing::noise_images(3, 3, 32);  // 32x32: VGG's five max-pools
    Generator g(3);
    auto resnet = models::resnet18<float>(10, 4, g);
    auto vgg = testing::narrow_vgg16_bn(g, 8);
    CHECK(points_feature_layer<float>(*resnet) == "flatten");
    CHECK(points_feature_layer<float>(*vgg) == "head.flatten");
    struct Case {
        nn::Module<float>* model;
        nn::Linear<float>* last;
        std::size_t dim;
    };
    for (const Case& c : {Case{resnet.get(), resnet->fc.get(), 32}, Case{vgg.get(), vgg->head->fc.get(), 8}}) {
        INFO(c.model->type_name());
        const data::Subset s = points_subset(data::all(ds));
        CHECK(s.size() == 30);
        const PointsFeatures f = points_features(*c.model, s, points_feature_layer(*c.model), 10, 7);
        REQUIRE(f.dim == c.dim);
        REQUIRE(f.features.size() == 30 * c.dim);
        const Predictions& p = f.predictions;
        REQUIRE(p.size() == 30);
        // softmax(W f + b) is the prediction the same pass made
        const float* w = c.last->weight.data();
        const float* b = c.last->bias.data();
        for (std::size_t i = 0; i < 30; ++i) {
            CHECK(p.labels[i] == s.label(i));
            std::vector<double> logit(10);
            for (std::size_t k = 0; k < 10; ++k) {
                logit[k] = b[k];
                for (std::size_t j = 0; j < c.dim; ++j) logit[k] += double(w[k * c.dim + j]) * f.features[i * c.dim + j];
            }
            const double mx = *std::max_element(logit.begin(), logit.end());
            double z = 0;
            for (double v : logit) z += std::exp(v - mx);
            for (std::size_t k = 0; k < 10; ++k)
                CHECK(p.prob(i)[k] == doctest::Approx(std::exp(logit[k] - mx) / z).epsilon(1e-4));
            CHECK(p.preds[i] == std::max_element(logit.begin(), logit.end()) - logit.begin());
        }
    }
}
