// SPDX-License-Identifier: MIT
// The baselines (methods.hpp) move the metrics the way they must, and the comparator's privacy
// score (privacy.hpp) tells a model that still knows the forget class from a retrained one. All
// on a narrow ResNet-18 and striped 8x8 images (tiny_fixture.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "salun/unlearn.hpp"
#include "tiny.hpp"
#include "tiny_fixture.hpp"

using namespace salun;
using namespace salun::unlearn;

namespace {

constexpr ClassIndex kForget = 0;

const data::ImageDataset& train_set() {
    static const data::ImageDataset ds = testing::striped_images(30, 1);
    return ds;
}
const data::ImageDataset& test_set() {
    static const data::ImageDataset ds = testing::striped_images(10, 2);
    return ds;
}

/// The trained original, trained once; every test unlearns a copy of it.
models::ResNet<float>& original() {
    static const auto m = testing::trained_narrow_resnet(train_set());
    return *m;
}

ExperimentOptions quick(Method m) {
    ExperimentOptions o;
    o.method = m;
    o.eval_batch_size = 50;
    o.attack = o.cka = false;
    return o;
}

std::pair<double, double> ua_ra(const Predictions& p) { return forget_retain_accuracy(class_metrics(p), kForget); }

}  // namespace

TEST_CASE("gradient ascent lowers the forget-class accuracy; the JSON names the method and its settings") {
    auto model = testing::copy_of(original());
    const auto before = ua_ra(predict_subset(*model, data::all(train_set()), 50, 10));
    REQUIRE(before.first > 0.8);
    auto o = quick(Method::GA);
    o.ga.lr = 0.02;  // the comparator's 1e-4 barely moves a 300-image toy in a few steps
    o.ga.epochs = 10;
    o.ga.batch_size = 16;
    const auto r = run_salun_experiment(*model, train_set(), test_set(), kForget, o);
    const auto [ua, ra] = forget_retain_accuracy(r.report.train, kForget);
    MESSAGE("GA: UA ", before.first, " -> ", ua, ", RA ", before.second, " -> ", ra);
    CHECK(ua < before.first - 0.3);
    const auto j = to_json(r.report);
    CHECK(j["Method"] == "GA");
    CHECK(j["Epoch"] == 10);
    CHECK(j["BS"] == 16);
    CHECK(j["LR"] == doctest::Approx(0.02));
    CHECK(j["grad_clip"] == doctest::Approx(100.0));
    CHECK_FALSE(j.contains("saliency_threshold"));  // no mask
    CHECK_FALSE(j.contains("PS"));                  // no reference
}

TEST_CASE("fine-tuning on the retain set keeps the retain accuracy") {
    auto model = testing::copy_of(original());
    const auto before = ua_ra(predict_subset(*model, data::all(train_set()), 50, 10));
    auto o = quick(Method::FT);
    o.ft.epochs = 2;
    const auto r = run_salun_experiment(*model, train_set(), test_set(), kForget, o);
    const auto [ua, ra] = forget_retain_accuracy(r.report.train, kForget);
    const auto [tua, tra] = forget_retain_accuracy(r.report.test, kForget);
    MESSAGE("FT: RA ", before.second, " -> ", ra, ", TRA ", tra, ", UA ", before.first, " -> ", ua);
    CHECK(ra >= before.second - 0.05);
    CHECK(tra >= 0.7);
    CHECK(r.report.method == "FT");
    CHECK(to_json(r.report)["lr_schedule"] == "CosineAnnealingLR");
}

TEST_CASE("random labels: SalUn's loop with every weight selected, and the forget labels never the true class") {
    auto model = testing::copy_of(original());
    const auto full = full_mask(*model);
    CHECK(full.selected_fraction() == 1.0);
    CHECK(full.masks.size() == model->parameters().size());
    auto o = quick(Method::RL);
    o.rl.epochs = 3;
    o.rl.lr = 0.05;
    o.rl.batch_size = 32;
    std::size_t forget_steps = 0;
    const auto r = run_salun_experiment(*model, train_set(), test_set(), kForget, o, [&](const StepInfo& s) {
        if (s.phase != Phase::Forget) return;
        ++forget_steps;
        REQUIRE(s.labels);
        for (auto l : *s.labels) CHECK(l != kForget);
    });
    CHECK(forget_steps == 3);  // 30 forget images: one batch of 32 per epoch, 3 epochs
    const auto [ua, ra] = forget_retain_accuracy(r.report.train, kForget);
    MESSAGE("RL: UA ", ua, " RA ", ra);
    CHECK(ua < 0.5);
    CHECK(to_json(r.report)["saliency_threshold"] == 1.0);
}

TEST_CASE("a retrained model never sees the forget class, and does not predict it") {
    auto model = testing::narrow_resnet(11);
    auto o = quick(Method::Retrain);
    o.retrain.epochs = 8;
    o.retrain.batch_size = 32;
    std::set<std::int64_t> seen;
    std::size_t images = 0;
    const auto r = run_salun_experiment(*model, train_set(), test_set(), kForget, o, [&](const StepInfo& s) {
        REQUIRE(s.labels);
        seen.insert(s.labels->begin(), s.labels->end());
        images += s.labels->size();
    });
    CHECK(seen.count(kForget) == 0);
    CHECK(seen.size() == 9);
    CHECK(images == 8 * 270);  // every retain image once per epoch, no forget image
    const auto [ua, ra] = forget_retain_accuracy(r.report.train, kForget);
    const auto [tua, tra] = forget_retain_accuracy(r.report.test, kForget);
    MESSAGE("Retrain: UA ", ua, " RA ", ra, " TUA ", tua, " TRA ", tra);
    CHECK(ua == 0.0);
    CHECK(tua == 0.0);
    CHECK(ra > 0.4);

    // and the loop itself refuses a batch that holds the forget class
    testing::TinyMLP<float> mlp(4, 8, 3, 1);
    auto blobs = testing::blobs<float>(3, 5, 4, 2);
    CHECK_THROWS_WITH_AS(retrain(mlp, blobs, 1, RetrainOptions{}), doctest::Contains("forget class 1"), Error);
}

TEST_CASE("privacy score: identical models give 1; separable values give 0; fq follows the comparator") {
    // two copies of one model: every threshold sees the same shares, no attack succeeds
    const data::Subset ps_set = privacy_subset(data::all(train_set()), kForget);
    REQUIRE(ps_set.size() == 30);
    for (std::size_t i = 0; i < ps_set.size(); ++i) CHECK(ps_set.label(i) == kForget);
    auto a = testing::copy_of(original());
    const PrivacyValues va = privacy_values(original(), ps_set, 30), vb = privacy_values(*a, ps_set, 30);
    const PrivacyResult same = privacy_score(va, vb);
    CHECK(same.score == 1.0);
    for (const auto* c : {&same.entropy_above_unlearn, &same.entropy_above_retrain, &same.confidence_above_unlearn,
                          &same.confidence_above_retrain}) {
        REQUIRE(c->size() == 51);
        for (const auto& p : *c) CHECK(p.attack_score == doctest::Approx(0.0).epsilon(1e-12));
    }

    // fully separable: one threshold has fpr = fnr = 0, so fq = 0 and PS = 0
    PrivacyValues low, high;
    for (int i = 0; i < 10; ++i) {
        low.entropy.push_back(0.1);
        low.confidence.push_back(8.0);
        high.entropy.push_back(2.0);
        high.confidence.push_back(-1.0);
    }
    CHECK(privacy_score(low, high).score == 0.0);
    CHECK(forgetting_score(0, 0) == 0.0);
    CHECK(forgetting_score(1.0, 0.0) == 1.0);
    CHECK(forgetting_score(0.2, 0.3) == doctest::Approx(std::pow(2.0, -std::log((1 - 1e-5 - 0.2) / 0.3))));
    const auto t = linspace51(-2.5, 10.0);
    CHECK(t.front() == -2.5);
    CHECK(t[1] == -2.25);
    CHECK(t.back() == 10.0);
    CHECK_THROWS_AS(privacy_score(PrivacyValues{}, high), Error);
}

TEST_CASE("privacy score and gap of a model that still knows the forget class against a retrained one") {
    auto retrained = testing::narrow_resnet(11);
    auto ro = quick(Method::Retrain);
    ro.retrain.epochs = 8;
    ro.retrain.batch_size = 32;
    const auto rr = run_salun_experiment(*retrained, train_set(), test_set(), kForget, ro);
    RetrainReference<float> ref;
    ref.model = retrained.get();
    ref.train = rr.report.train;
    ref.test = rr.report.test;
    ref.name = "retrained";

    // FT for one tiny step: the model still knows the forget class
    auto knows = testing::copy_of(original());
    auto o = quick(Method::FT);
    o.ft.epochs = 1;
    o.ft.lr = 1e-6;
    o.attack = true;
    const auto r = run_salun_experiment<float>(*knows, train_set(), test_set(), kForget, o, {}, {}, {}, nullptr, &ref);
    REQUIRE(r.report.ps);
    MESSAGE("PS of the original against the retrained model: ", *r.report.ps, ", avg gap ", *r.report.avg_gap);
    CHECK(*r.report.ps < 0.3);
    CHECK(*r.report.avg_gap > 0.2);  // UA ~1 against 0, TUA likewise
    const auto j = to_json(r.report);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    CHECK(std::find(keys.begin(), keys.end(), "PS") - std::find(keys.begin(), keys.end(), "FQS") == 1);
    const auto& res = j["attack"]["results"];
    for (const char* k : {"entropy_above_unlearn", "confidence_above_unlearn", "ps_entropy_above_unlearn",
                          "ps_entropy_above_retrain", "ps_confidence_above_unlearn", "ps_confidence_above_retrain"})
        CHECK(res.contains(k));
    CHECK(res["ps_confidence_above_retrain"].size() == 51);
    CHECK(res["ps_entropy_above_unlearn"][0].contains("fnr"));
    CHECK(j["retrain_reference"] == "retrained");
    // the reference's values were computed once and kept for the next run
    CHECK(ref.values.size() == 30);

    // the gap of the reference to itself is 0
    CHECK(average_gap(ref.train, ref.test, ref.train, ref.test, kForget) == 0.0);
}
