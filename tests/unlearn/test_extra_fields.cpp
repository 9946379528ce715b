// SPDX-License-Identifier: MIT
// The experiment writes the reference layout's `points`, `attack` and `cka` fields by default
// (cka when given the original model), in the design note's place and shape, and skips them on
// request.
#include <doctest/doctest.h>

#include <cmath>

#include "salun/models.hpp"
#include "salun/optim.hpp"
#include "salun/unlearn.hpp"
#include "tiny_fixture.hpp"

using namespace salun;


TEST_CASE("run_salun_experiment writes points, attack and cka (layout of the design note), and can skip them") {
    const auto train = testing::striped_images(8, 1), test = testing::striped_images(3, 2);
    auto model = testing::narrow_resnet();
    auto original = testing::copy_of(*model);
    unlearn::ExperimentOptions o;
    o.salun.epochs = 1;
    o.batch_size = 32;
    o.eval_batch_size = 50;
    std::vector<std::string> stages;  // by name: doctest prints strings
    auto r = unlearn::run_salun_experiment<float>(*model, train, test, 2, o, {},
                                                  [&](unlearn::Stage s) { stages.push_back(unlearn::stage_name(s)); }, {},
                                                  original.get());
    CHECK(stages == std::vector<std::string>{"saliency", "unlearn", "eval-train", "eval-test", "points", "attack", "cka"});
    const auto j = unlearn::to_json(r.report);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    const auto at = [&](const std::string& k) { return std::find(keys.begin(), keys.end(), k) - keys.begin(); };
    CHECK(at("points") == at("t_conf_dist") + 1);
    CHECK(at("attack") == at("points") + 1);
    CHECK(at("cka") == at("attack") + 1);
    CHECK(at("saliency_threshold") == at("cka") + 1);

    // points: the pool has 8 images per class, so 8 per class (not 200), classes in order
    REQUIRE(j["points"].size() == 80);
    for (std::size_t i = 0; i < 80; ++i) {
        const auto& p = j["points"][i];
        REQUIRE(p.size() == 7);
        CHECK(p[0].get<int>() == int(i / 8));                        // gt
        CHECK(p[1].get<int>() >= 0);                                 // pred
        CHECK(train.labels[p[2].get<std::size_t>()] == p[0].get<int>());  // dataset index of that class
        CHECK(p[3].get<int>() == (p[0].get<int>() == 2 ? 1 : 0));    // is_forget
        CHECK(std::isfinite(p[4].get<double>()));
        CHECK(std::isfinite(p[5].get<double>()));
        double sum = 0;
        for (const auto& [c, v] : p[6].items()) {
            CHECK(v.get<double>() > 0.001);
            sum += v.get<double>();
        }
        CHECK(sum <= 1.0001);
    }
    CHECK(r.points_umap_seconds > 0);
    CHECK(j["attack"]["values"].size() == 80);  // fewer than 200 training images
    CHECK(j["attack"]["results"]["entropy_above_unlearn"].size() == 51);
    const auto& cka = j["cka"];
    CHECK(cka["layers"].size() == 10);
    for (const char* split : {"train", "test"})
        for (const char* set : {"forget_class", "other_classes"}) {
            REQUIRE(cka[split][set].size() == 10);
            for (const auto& row : cka[split][set]) {
                REQUIRE(row.size() == 1);
                CHECK(row[0].get<double>() >= -1.0);
                CHECK(row[0].get<double>() <= 1.0);
            }
        }
    // the unlearned model moved away from the original somewhere, most on the forget class's logits
    CHECK(cka["train"]["forget_class"][9][0].get<double>() < 1.0);
    CHECK(r.extra_seconds >= 0);

    // the original was only read: it still equals a fresh copy's state
    CHECK(original->bn1->num_batches_tracked() == 0);

    // off by option, or without the original: no field
    o.points = o.attack = o.cka = false;
    auto model2 = testing::narrow_resnet(6);
    const auto j2 = unlearn::to_json(unlearn::run_salun_experiment<float>(*model2, train, test, 2, o, {}, {}, {},
                                                                          original.get()).report);
    CHECK_FALSE(j2.contains("points"));
    CHECK_FALSE(j2.contains("attack"));
    CHECK_FALSE(j2.contains("cka"));
    o.points = o.attack = o.cka = true;
    auto model3 = testing::narrow_resnet(7);
    const auto j3 = unlearn::to_json(unlearn::run_salun_experiment<float>(*model3, train, test, 2, o).report);
    CHECK(j3.contains("attack"));
    CHECK_FALSE(j3.contains("cka"));
}
