// SPDX-License-Identifier: MIT
// The whole experiment on a narrow ResNet and a synthetic 10-class image set: one SalUn epoch
// drives the forget-class accuracy to ~0 while the other classes stay far above chance, and the
// same seed and thread count reproduce the results JSON exactly (apart from CreatedAt/ID/RTE).
#include <doctest/doctest.h>

#include <cmath>

#include "salun/models.hpp"
#include "salun/optim.hpp"
#include "salun/unlearn.hpp"
#include "tiny_fixture.hpp"

using namespace salun;

namespace {

using testing::striped_images;
using testing::trained_narrow_resnet;

unlearn::ExperimentOptions quick_options() {
    unlearn::ExperimentOptions o;
    o.salun.epochs = 1;
    o.salun.lr = 0.05;
    o.batch_size = 32;
    o.eval_batch_size = 50;
    return o;
}

}  // namespace

TEST_CASE("one SalUn epoch on a narrow ResNet forgets the class and keeps the rest") {
    const auto train = striped_images(30, 1), test = striped_images(10, 2);
    auto model = trained_narrow_resnet(train);
    const auto before = unlearn::class_metrics(unlearn::predict_subset(*model, data::all(test), 50, 10));
    REQUIRE(before.accuracy() > 0.8);

    auto o = quick_options();
    o.salun.epochs = 3;  // one epoch on 300 images is too little to be robust to rounding noise
    auto r = unlearn::run_salun_experiment(*model, train, test, 0, o);
    const auto [ua, ra] = unlearn::forget_retain_accuracy(r.report.train, 0);
    const auto [tua, tra] = unlearn::forget_retain_accuracy(r.report.test, 0);
    MESSAGE("before: test accuracy ", before.accuracy(), "; after: UA ", ua, " RA ", ra, " TUA ", tua, " TRA ", tra,
            " FQS ", r.report.fqs);
    CHECK(ua <= 0.1);
    CHECK(tua <= 0.1);
    CHECK(ra >= 0.5);
    CHECK(tra >= 0.5);
    // At least the top 75%; more when many saliencies tie at the threshold (here: exact zeros from
    // saturated softmax outputs and dead ReLUs of the tiny model, all >= a threshold of 0).
    CHECK(r.mask.selected_fraction() >= 0.75);
}

TEST_CASE("the same seed and thread count reproduce the results JSON") {
    const auto train = striped_images(10, 3), test = striped_images(4, 4);
    auto run = [&] {
        auto model = trained_narrow_resnet(train);
        auto r = unlearn::run_salun_experiment(*model, train, test, 3, quick_options());
        auto j = unlearn::to_json(r.report);
        j.erase("CreatedAt");
        j.erase("ID");
        j.erase("RTE");
        return j.dump();
    };
    CHECK(run() == run());
}

TEST_CASE("the experiment rejects bad settings before doing any work") {
    const auto train = striped_images(2, 5), test = striped_images(1, 6);
    auto model = testing::narrow_resnet();
    auto o = quick_options();
    CHECK_THROWS_WITH_AS(unlearn::run_salun_experiment(*model, train, test, 10, o), doctest::Contains("forget class"), Error);
    o.saliency.threshold = 0;
    CHECK_THROWS_WITH_AS(unlearn::run_salun_experiment(*model, train, test, 0, o), doctest::Contains("threshold"), Error);
}

TEST_CASE("eval_every_epoch: the original's accuracies and one row per epoch, without changing the run") {
    const auto train = striped_images(10, 7), test = striped_images(4, 8);
    auto o = quick_options();
    o.salun.epochs = 2;
    o.points = false;
    auto plain_model = trained_narrow_resnet(train);
    const auto before = unlearn::class_metrics(unlearn::predict_subset(*plain_model, data::all(test), 50, 10));
    const auto plain = unlearn::run_salun_experiment(*plain_model, train, test, 2, o);

    o.eval_every_epoch = true;
    auto model = trained_narrow_resnet(train);
    const auto r = unlearn::run_salun_experiment(*model, train, test, 2, o);
    // Evaluating between epochs changes nothing of the run: same weights, same final metrics.
    const auto a = plain_model->state_dict(), b = model->state_dict();
    for (const auto& [k, v] : a) CHECK_MESSAGE(v.bytes == b.at(k).bytes, k);
    const auto j = unlearn::to_json(r.report);
    const auto& rows = j.at("per_epoch");
    REQUIRE(rows.size() == 3);  // before, after epoch 1, after epoch 2
    for (int e = 0; e < 3; ++e) CHECK(rows[std::size_t(e)].at("epoch") == e);
    const auto& last = rows.back();
    for (const char* k : {"UA", "RA", "TUA", "TRA"}) CHECK_MESSAGE(last.at(k) == j.at(k), k);
    // Row 0 is the original model's, before unlearning.
    const auto [before_tua, before_tra] = unlearn::forget_retain_accuracy(before, 2);
    CHECK(rows[0].at("TUA").get<double>() == doctest::Approx(before_tua).epsilon(1e-3));
    CHECK(rows[0].at("TRA").get<double>() == doctest::Approx(before_tra).epsilon(1e-3));
    CHECK_FALSE(rows[0].contains("accs"));
    REQUIRE(j.at("original_t_accs").size() == 10);
    for (std::size_t c = 0; c < 10; ++c)
        CHECK(j.at("original_t_accs")[c].get<double>() == doctest::Approx(before.accs[c]).epsilon(1e-3));
    CHECK(r.report.seconds > 0);
    CHECK_FALSE(unlearn::to_json(plain.report).contains("per_epoch"));

    // A baseline with one phase per epoch (GA: forget only) gets its rows too.
    o.method = unlearn::Method::GA;
    o.ga.epochs = 2;
    auto ga_model = trained_narrow_resnet(train);
    const auto g = unlearn::to_json(unlearn::run_salun_experiment(*ga_model, train, test, 2, o).report);
    CHECK(g.at("per_epoch").size() == 3);
}

TEST_CASE("eval_every_epoch: its evaluations are stages and report their batches (progress, Ctrl-C)") {
    const auto train = striped_images(10, 7), test = striped_images(4, 8);
    auto o = quick_options();
    o.salun.epochs = 2;
    o.points = false;
    o.attack = false;
    o.cka = false;
    o.eval_every_epoch = true;
    auto model = trained_narrow_resnet(train);
    std::vector<unlearn::Stage> stages;
    std::size_t evaluated = 0;
    unlearn::run_salun_experiment(*model, train, test, 2, o, {}, [&](unlearn::Stage s) { stages.push_back(s); },
                                  [&](std::size_t n) { evaluated += n; });
    using S = unlearn::Stage;
    const std::vector<S> expected{S::EvalTrain, S::EvalTest, S::Saliency, S::Unlearn,  S::EvalTrain,
                                  S::EvalTest,  S::Unlearn,  S::EvalTrain, S::EvalTest};
    CHECK(stages == expected);
    CHECK(evaluated == 3 * (train.size() + test.size()));  // before, after epoch 1, final
}
