// The whole experiment on a narrow ResNet and a synthetic 10-class image set: one SalUn epoch
// drives the forget-class accuracy to ~0 while the other classes stay far above chance, and the
// same seed and thread count reproduce the results JSON exactly (apart from CreatedAt/ID/RTE).
#include <doctest/doctest.h>

#include <cmath>

#include "salun/models.hpp"
#include "salun/optim.hpp"
#include "salun/unlearn.hpp"

using namespace salun;

namespace {

/// 10 classes of 8x8 RGB images: each class a distinct colour and stripe pattern plus noise.
data::ImageDataset synthetic(std::size_t per_class, std::uint64_t seed) {
    data::ImageDataset ds;
    ds.channels = 3;
    ds.height = ds.width = 8;
    for (int c = 0; c < 10; ++c) ds.classes.push_back("class" + std::to_string(c));
    Generator g(seed);
    for (std::size_t i = 0; i < per_class; ++i)
        for (int c = 0; c < 10; ++c) {
            for (std::size_t ch = 0; ch < 3; ++ch)
                for (std::size_t y = 0; y < 8; ++y)
                    for (std::size_t x = 0; x < 8; ++x) {
                        // A colour of its own (10 points on a circle in RGB) plus a stripe direction.
                        const double colour = 128 + 80 * std::sin(0.628 * c + 2.1 * double(ch));
                        const double stripes = 30 * std::sin(0.9 * double(c % 2 == 0 ? x : y) + c);
                        const double v = colour + stripes + 15 * g.normal();
                        ds.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0)));
                    }
            ds.labels.push_back(c);
        }
    return ds;
}

std::shared_ptr<models::ResNet<float>> trained_model(const data::ImageDataset& train) {
    Generator init(5);
    auto model = models::resnet18<float>(10, 4, init);
    data::LoaderOptions lo;
    lo.batch_size = 32;
    lo.shuffle = true;
    lo.seed = 1;
    data::DataLoader<float> loader(data::all(train), lo);
    optim::SGD<float> sgd(model->parameters(), {0.05, 0.9, 0.0, 5e-4, false});
    for (int e = 0; e < 12; ++e) optim::train_epoch<float>(*model, loader, sgd);
    return model;
}

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
    const auto train = synthetic(30, 1), test = synthetic(10, 2);
    auto model = trained_model(train);
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
    const auto train = synthetic(10, 3), test = synthetic(4, 4);
    auto run = [&] {
        auto model = trained_model(train);
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
    const auto train = synthetic(2, 5), test = synthetic(1, 6);
    auto model = models::resnet18<float>(10, 4);
    auto o = quick_options();
    CHECK_THROWS_WITH_AS(unlearn::run_salun_experiment(*model, train, test, 10, o), doctest::Contains("forget class"), Error);
    o.saliency.threshold = 0;
    CHECK_THROWS_WITH_AS(unlearn::run_salun_experiment(*model, train, test, 0, o), doctest::Contains("threshold"), Error);
}
