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
