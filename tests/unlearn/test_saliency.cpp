// SPDX-License-Identifier: MIT
// The SalUn saliency mask: exact top fraction with ties kept, brute-force agreement on a model
// small enough to check, and masked gradients.
#include <doctest/doctest.h>

#include <algorithm>

#include "salun/unlearn.hpp"
#include "tiny.hpp"

using namespace salun;
using salun::testing::TinyMLP;
using TensorD = Tensor<double>;

TEST_CASE("the mask selects exactly the top fraction, ties included") {
    std::vector<TensorD> sal{TensorD::from_data({2, 3}, std::vector<double>{5, 1, 3, 2, 4, 0}),
                             TensorD::from_data({4}, std::vector<double>{6, 7, 8, 9})};
    auto m = unlearn::mask_from_saliency<double>({"a", "b"}, sal, 0.5);  // 10 values, k = 5
    CHECK(m.total == 10);
    CHECK(m.selected == 5);
    CHECK(m.threshold_value == 5.0);
    CHECK(m.masks[0].to_vector() == std::vector<double>{1, 0, 0, 0, 0, 0});
    CHECK(m.masks[1].to_vector() == std::vector<double>{1, 1, 1, 1});
    CHECK(m.layers[1].selected_fraction == 1.0);

    // Ties at the threshold are all kept (everything >= the k-th value).
    std::vector<TensorD> tied{TensorD::from_data({6}, std::vector<double>{1, 2, 2, 2, 3, 0})};
    auto t = unlearn::mask_from_saliency<double>({"a"}, tied, 0.5);  // k = 3 -> value 2
    CHECK(t.selected == 4);
    CHECK(t.masks[0].to_vector() == std::vector<double>{0, 1, 1, 1, 1, 0});

    CHECK(unlearn::mask_from_saliency<double>({"a"}, tied, 1.0).selected == 6);
    CHECK_THROWS_AS(unlearn::mask_from_saliency<double>({"a"}, tied, 0.0), Error);
    CHECK_THROWS_AS(unlearn::mask_from_saliency<double>({"a"}, tied, 1.5), Error);
}

TEST_CASE("the mask agrees with a brute-force computation on a small model") {
    TinyMLP<double> model(4, 6, 3, 1);
    auto loader = salun::testing::blobs<double>(3, 10, 4, 5, {0});
    loader.batch_size = 4;  // 10 forget samples -> 3 batches; max_batches 2 uses the first two
    unlearn::SaliencyOptions opt;
    opt.threshold = 0.3;
    opt.max_batches = 2;
    auto mask = unlearn::compute_saliency_mask(model, loader, opt);
    CHECK(mask.batches == 2);

    // Brute force: per batch gradient of -CE, |.| summed, averaged; then full sort.
    std::vector<double> all;
    std::vector<std::vector<double>> per_param(4);
    auto batches = loader.epoch();
    for (std::size_t b = 0; b < 2; ++b) {
        model.zero_grad();
        neg(cross_entropy(model(batches[b].images), batches[b].labels)).backward();
        auto params = model.parameters();
        for (std::size_t i = 0; i < params.size(); ++i) {
            auto g = params[i].grad().to_vector();
            per_param[i].resize(g.size());
            for (std::size_t j = 0; j < g.size(); ++j) per_param[i][j] += std::abs(g[j]) / 2;
        }
    }
    for (const auto& v : per_param) all.insert(all.end(), v.begin(), v.end());
    std::vector<double> sorted = all;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const std::size_t k = static_cast<std::size_t>(0.3 * double(all.size()));
    const double cut = sorted[k - 1];
    CHECK(mask.threshold_value == doctest::Approx(cut).epsilon(1e-12));
    std::size_t selected = 0;
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < per_param[i].size(); ++j) {
            CHECK(mask.saliency[i].data()[j] == doctest::Approx(per_param[i][j]).epsilon(1e-12));
            CHECK(mask.masks[i].data()[j] == (per_param[i][j] >= cut ? 1.0 : 0.0));
            selected += per_param[i][j] >= cut;
        }
    CHECK(mask.selected == selected);
    CHECK(mask.selected >= k);
    CHECK_FALSE(model.is_training());  // saliency runs in eval mode
}

TEST_CASE("masked-out weights receive zero gradient") {
    TinyMLP<double> model(4, 6, 3, 2);
    auto loader = salun::testing::blobs<double>(3, 8, 4, 6);
    auto mask = unlearn::compute_saliency_mask(model, loader, {0.5, 1});
    auto batch = loader.epoch().front();
    model.zero_grad();
    cross_entropy(model(batch.images), batch.labels).backward();
    const auto params = model.parameters();
    unlearn::apply_mask(params, mask);
    for (std::size_t i = 0; i < params.size(); ++i)
        for (std::size_t j = 0; j < params[i].numel(); ++j)
            if (mask.masks[i].data()[j] == 0.0) CHECK(params[i].grad().data()[j] == 0.0);
}
