// SPDX-License-Identifier: MIT
// Metrics and the results JSON: definitions, key order and rounding of the reference layout.
#include <doctest/doctest.h>

#include <fstream>

#include "salun/unlearn.hpp"

using namespace salun;
using namespace salun::unlearn;

namespace {
Predictions toy() {
    Predictions p;
    p.num_classes = 3;
    // class 0: two samples, one right; class 1: one sample, right; class 2: one sample, wrong.
    p.labels = {0, 0, 1, 2};
    p.preds = {0, 2, 1, 1};
    p.probs = {0.5f, 0.25f, 0.25f, 0.2f, 0.2f, 0.6f, 0.1f, 0.8f, 0.1f, 0.3f, 0.4f, 0.3f};
    return p;
}
}  // namespace

TEST_CASE("per-class accuracy, label and confidence distributions") {
    const ClassMetrics m = class_metrics(toy());
    CHECK(m.accs == std::vector<double>{0.5, 1.0, 0.0});
    CHECK(m.label_dist[0] == std::vector<double>{0.5, 0.0, 0.5});
    // conf_dist (the seed's helper): mean p(pred) over the class-0 samples predicted as j, 0 for none
    CHECK(m.conf_dist[0][0] == doctest::Approx(0.5));
    CHECK(m.conf_dist[0][1] == 0.0);
    CHECK(m.conf_dist[0][2] == doctest::Approx(0.6));
    CHECK(m.conf_dist[2][1] == doctest::Approx(0.4));
    // mean_probs (the comparison tool's conf_dist): mean p(j) over all class-0 samples
    CHECK(m.mean_probs[0][0] == doctest::Approx(0.35));
    CHECK(m.mean_probs[0][2] == doctest::Approx(0.425));
    CHECK(m.accuracy() == 0.5);
    const auto [ua, ra] = forget_retain_accuracy(m, 0);
    CHECK(ua == 0.5);
    CHECK(ra == 0.5);
    // a class index outside the metrics' classes is an error, not an out-of-bounds read
    CHECK_THROWS_WITH_AS(forget_retain_accuracy(m, 3), doctest::Contains("forget class 3 outside 0..2"), salun::Error);
    CHECK_THROWS_AS(forget_retain_accuracy(m, -1), salun::Error);
}

TEST_CASE("FQS is the normalised mean entropy on the forget class, capped at 1") {
    Predictions p;
    p.num_classes = 4;
    p.labels = {1, 1, 2};
    p.preds = {0, 0, 0};
    p.probs = {0.25f, 0.25f, 0.25f, 0.25f, 1.0f, 0.0f, 0.0f, 0.0f, 0.25f, 0.25f, 0.25f, 0.25f};
    CHECK(forgetting_quality(p, 1) == doctest::Approx(0.5));  // entropies ln4 and 0
    CHECK(forgetting_quality(p, 2) == doctest::Approx(1.0));
}

TEST_CASE("the results JSON has the reference keys, order and rounding") {
    RunReport r;
    r.created_at = "2026-11-27 10:00:00";
    r.id = "a1b2";
    r.forget_class = 0;
    r.model = "ResNet-18";
    r.base = "resnet18_cifar10.safetensors";
    r.epochs = 5;
    r.batch_size = 128;
    r.lr = 0.1;
    r.seconds = 123.456;
    r.train = class_metrics(toy());
    r.test = class_metrics(toy());
    r.fqs = 0.123456;
    r.saliency_threshold = 0.75;
    const auto j = to_json(r);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    const std::vector<std::string> expected{"CreatedAt", "ID", "FC", "Type", "Model", "Base", "Method", "Epoch", "BS",
                                            "LR", "UA", "RA", "TUA", "TRA", "RTE", "FQS", "accs", "t_accs",
                                            "label_dist", "conf_dist", "t_label_dist", "t_conf_dist",
                                            "saliency_threshold", "salun_version"};
    CHECK(keys == expected);
    CHECK(j["salun_version"] == SALUN_VERSION_STRING);
    CHECK(j["RTE"] == 123.5);
    CHECK(j["FQS"] == 0.1235);
    CHECK(j["Type"] == "Unlearned");
    CHECK(j["Method"] == "SalUn");
    CHECK(j["conf_dist"]["gt_0"][2] == 0.6);
    CHECK(j["label_dist"]["gt_0"][0] == 0.5);
    CHECK_FALSE(j.contains("attack"));  // optional fields: only when set
    CHECK(j["label_dist"].size() == 3);

    const std::string path = std::string(SALUN_TEST_TMP_DIR) + "/report.json";
    write_report(path, r);
    std::ifstream f(path);
    CHECK(nlohmann::ordered_json::parse(f) == j);
}

TEST_CASE("label_dist and conf_dist follow the seed's helper: 4 decimals, conf_dist per predicted class") {
    Predictions p;
    p.num_classes = 2;
    p.labels = {0, 0, 0};
    p.preds = {0, 1, 1};
    p.probs = {0.9f, 0.1f, 0.4f, 0.6f, 0.2f, 0.8f};
    RunReport r;
    r.train = r.test = class_metrics(p);
    const auto j = to_json(r);
    CHECK(j["label_dist"]["gt_0"].dump() == "[0.3333,0.6667]");
    CHECK(j["conf_dist"]["gt_0"].dump() == "[0.9,0.7]");  // p(0) of the one predicted 0; mean p(1) of the two predicted 1
    CHECK(j["conf_dist"]["gt_1"].dump() == "[0.0,0.0]");  // no samples: zeros
    CHECK(r.train.mean_probs[0][1] == doctest::Approx(0.5));
}
