// SPDX-License-Identifier: MIT
// The helper's attack curves (entropy / confidence thresholds) against NumPy, and their JSON.
// Golden: tests/fixtures/metrics_golden.json (tests/fixtures/gen_metrics_fixtures.py).
#include <doctest/doctest.h>

#include <fstream>

#include "salun/unlearn.hpp"

using namespace salun;
using namespace salun::unlearn;

namespace {
nlohmann::json golden_attack() {
    std::ifstream f(std::string(SALUN_FIXTURES_DIR) + "/metrics_golden.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f)["attack"];
}
Predictions golden_predictions(const nlohmann::json& g) {
    Predictions p;
    p.num_classes = 10;
    p.labels = g["labels"].get<std::vector<std::int64_t>>();
    for (double v : g["probs"].get<std::vector<double>>()) p.probs.push_back(float(v));
    for (std::size_t i = 0; i < p.size(); ++i)
        p.preds.push_back(std::max_element(p.prob(i), p.prob(i) + 10) - p.prob(i));
    return p;
}
}  // namespace

TEST_CASE("attack_curves: entropy, confidence and both threshold curves match NumPy") {
    const auto g = golden_attack();
    const Predictions p = golden_predictions(g);
    const AttackResult r = attack_curves(p, g["forget"].get<std::int64_t>());
    const auto ent = g["entropy"].get<std::vector<double>>(), conf = g["confidence"].get<std::vector<double>>();
    REQUIRE(r.entropy.size() == ent.size());
    for (std::size_t i = 0; i < ent.size(); ++i) {
        CHECK(r.entropy[i] == doctest::Approx(ent[i]).epsilon(1e-12));
        CHECK(r.confidence[i] == doctest::Approx(conf[i]).epsilon(1e-12));
    }
    auto check_curve = [](const std::vector<AttackPoint>& got, const nlohmann::json& want) {
        REQUIRE(got.size() == 51);
        REQUIRE(want.size() == 51);
        for (std::size_t k = 0; k < 51; ++k) {
            INFO("threshold ", k);
            CHECK(got[k].threshold == want[k][0].get<double>());  // numpy.linspace exactly
            CHECK(got[k].fpr == doctest::Approx(want[k][1].get<double>()).epsilon(1e-12));
            CHECK(got[k].rate == doctest::Approx(want[k][2].get<double>()).epsilon(1e-12));
            CHECK(got[k].attack_score == doctest::Approx(want[k][3].get<double>()).epsilon(1e-12));
        }
    };
    check_curve(r.entropy_curve, g["entropy_curve"]);
    check_curve(r.confidence_curve, g["confidence_curve"]);
    // the curves move: not all thresholds give the same score on this data
    CHECK(r.entropy_curve.front().attack_score != r.entropy_curve[10].attack_score);
}

TEST_CASE("attack_json: the first 200 values in pass order, the helper's keys and rounding") {
    Predictions p;
    p.num_classes = 2;
    for (std::size_t i = 0; i < 250; ++i) {
        p.labels.push_back(i % 5 == 0 ? 1 : 0);
        const float q = i % 5 == 0 ? 0.5f : 0.98765f;
        p.probs.insert(p.probs.end(), {q, 1 - q});
        p.preds.push_back(0);
    }
    const auto j = attack_json(attack_curves(p, 1));
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"values", "results"});
    REQUIRE(j["values"].size() == 200);
    CHECK(j["values"][0].dump() == R"({"img":0,"entropy":0.6931,"confidence":0.5})");
    CHECK(j["values"][1].dump() == R"({"img":1,"entropy":0.0665,"confidence":0.9876})");
    CHECK(j["values"][199]["img"] == 199);
    const auto& e = j["results"]["entropy_above_unlearn"];
    const auto& c = j["results"]["confidence_above_unlearn"];
    REQUIRE(e.size() == 51);
    REQUIRE(c.size() == 51);
    CHECK(e[0].dump() == R"({"threshold":0.0,"fpr":1.0,"fnr":0.0,"attack_score":0.5})");
    // t = 0.1: the other class (entropy 0.066) drops out, the forget class (0.693) stays: a perfect attack
    CHECK(e[2].dump() == R"({"threshold":0.1,"fpr":0.0,"fnr":0.0,"attack_score":1.0})");
    CHECK(e[50]["threshold"] == 2.5);
    CHECK(c[25].dump() == R"({"threshold":0.5,"fpr":0.0,"tpr":1.0,"attack_score":0.0})");
    CHECK(c[50]["threshold"] == 1.0);
}
