// SPDX-License-Identifier: MIT
// The two-phase SalUn loop: phase-1 labels, the optimiser's treatment of masked weights, the
// callback, bad options, and a quick run that forgets a class while keeping the others.
#include <doctest/doctest.h>

#include <map>

#include "salun/unlearn.hpp"
#include "tiny.hpp"

using namespace salun;
using salun::testing::TinyMLP;
using TensorD = Tensor<double>;

TEST_CASE("phase-1 labels never equal the forget class and are uniform over the others") {
    Generator g(2048);
    for (ClassIndex fc : {0, 4, 9}) {
        std::map<std::int64_t, int> counts;
        const int draws = 90000;
        for (int i = 0; i < draws; ++i) ++counts[unlearn::random_other_label(g, fc, 10)];
        CHECK(counts.count(fc) == 0);
        CHECK(counts.size() == 9);
        for (const auto& [label, n] : counts) {
            CHECK(label >= 0);
            CHECK(label < 10);
            CHECK(std::abs(n - draws / 9) < draws / 9 / 10);  // within 10% of uniform (~9 sigma)
        }
    }
}

namespace {
struct Setup {
    TinyMLP<double> model{8, 16, 4, 3};
    salun::testing::VectorLoader<double> forget = salun::testing::blobs<double>(4, 40, 8, 11, {0});
    salun::testing::VectorLoader<double> retain = salun::testing::blobs<double>(4, 40, 8, 12, {1, 2, 3});
    salun::testing::VectorLoader<double> all = salun::testing::blobs<double>(4, 40, 8, 13);

    Setup() {  // train the original model on all classes
        all.shuffle = true;
        all.batch_size = 16;
        optim::SGDOptions sgd_options;
        sgd_options.lr = 0.05;
        sgd_options.momentum = 0.9;
        optim::SGD<double> sgd(model.parameters(), sgd_options);
        model.train();
        for (int e = 0; e < 20; ++e)
            for (const auto& b : all.epoch()) {
                sgd.zero_grad();
                cross_entropy(model(b.images), b.labels).backward();
                sgd.step();
            }
        forget.batch_size = retain.batch_size = 16;
        forget.shuffle = retain.shuffle = true;
    }
};
}  // namespace

TEST_CASE("a quick SalUn run forgets the class and keeps the others") {
    Setup s;
    REQUIRE(salun::testing::accuracy_on(s.model, s.forget) > 0.9);
    REQUIRE(salun::testing::accuracy_on(s.model, s.retain) > 0.9);
    auto mask = unlearn::compute_saliency_mask(s.model, s.forget, {0.5, 5});
    unlearn::SalUnOptions o;
    o.epochs = 2;
    o.lr = 0.05;
    o.num_classes = 4;
    std::vector<unlearn::StepInfo> steps;
    unlearn::salun_train(s.model, s.forget, s.retain, 0, mask, o, [&](const unlearn::StepInfo& i) { steps.push_back(i); });
    CHECK(salun::testing::accuracy_on(s.model, s.forget) < 0.1);
    CHECK(salun::testing::accuracy_on(s.model, s.retain) > 0.8);

    // The callback saw every step of both phases, in order, with consistent norms.
    const std::size_t per_epoch = s.forget.num_batches() + s.retain.num_batches();
    REQUIRE(steps.size() == 2 * per_epoch);
    CHECK(steps[0].phase == unlearn::Phase::Forget);
    CHECK(steps[s.forget.num_batches()].phase == unlearn::Phase::Retain);
    CHECK(steps.back().epoch == 1);
    for (const auto& st : steps) {
        CHECK(st.masked_grad_norm <= st.grad_norm + 1e-12);
        CHECK(st.clipped_grad_norm <= 100.0 + 1e-6);
    }
}

TEST_CASE("masked-out weights keep moving by weight decay and momentum unless frozen") {
    for (bool freeze : {false, true}) {
        CAPTURE(freeze);
        Setup s;
        auto mask = unlearn::compute_saliency_mask(s.model, s.forget, {0.3, 5});
        const auto before = s.model.parameters();
        std::vector<std::vector<double>> old;
        for (const auto& p : before) old.push_back(p.to_vector());
        unlearn::SalUnOptions o;
        o.epochs = 1;
        o.num_classes = 4;
        o.freeze_masked = freeze;
        unlearn::salun_train(s.model, s.forget, s.retain, 0, mask, o);
        std::size_t masked = 0, moved = 0;
        const auto after = s.model.parameters();
        for (std::size_t i = 0; i < after.size(); ++i)
            for (std::size_t j = 0; j < after[i].numel(); ++j)
                if (mask.masks[i].data()[j] == 0.0) {
                    ++masked;
                    moved += after[i].data()[j] != old[i][j];
                }
        REQUIRE(masked > 0);
        if (freeze)
            CHECK(moved == 0);
        else
            CHECK(moved == masked);  // weight decay 5e-4 touches every nonzero weight
    }
}

TEST_CASE("bad options are rejected with a clear message") {
    Setup s;
    auto mask = unlearn::compute_saliency_mask(s.model, s.forget, {0.5, 1});
    unlearn::SalUnOptions o;
    o.num_classes = 4;
    CHECK_THROWS_WITH_AS(unlearn::salun_train(s.model, s.forget, s.retain, 7, mask, o), doctest::Contains("forget class"),
                         Error);
    o.epochs = 0;
    CHECK_THROWS_WITH_AS(unlearn::salun_train(s.model, s.forget, s.retain, 0, mask, o), doctest::Contains("epochs"), Error);
    o.epochs = 1;
    o.lr = 1e300;  // diverges: the loss turns inf/NaN and the loop stops with an error
    CHECK_THROWS_WITH_AS(unlearn::salun_train(s.model, s.forget, s.retain, 0, mask, o), doctest::Contains("loss became"),
                         Error);
}

TEST_CASE("the SalUn object's phases, called one at a time, are salun_train step for step") {
    Setup a, b;  // identical originals (the setup is deterministic)
    auto mask = unlearn::compute_saliency_mask(a.model, a.forget, {0.5, 5});
    // b's saliency pass too: it draws the forget loader's next shuffle, as a's did
    const auto mask_b = unlearn::compute_saliency_mask(b.model, b.forget, {0.5, 5});
    for (std::size_t i = 0; i < mask.masks.size(); ++i) REQUIRE(mask.masks[i].to_vector() == mask_b.masks[i].to_vector());
    unlearn::SalUnOptions o;
    o.epochs = 2;
    o.lr = 0.05;
    o.num_classes = 4;
    unlearn::salun_train(a.model, a.forget, a.retain, 0, mask, o);

    unlearn::SalUn<double> salun(b.model, mask_b, 0, o);
    std::vector<unlearn::PhaseInfo> phases;
    std::size_t steps = 0;
    salun.on_step = [&](const unlearn::StepInfo&) { ++steps; };
    salun.on_phase_end = [&](const unlearn::PhaseInfo& p) { phases.push_back(p); };
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        const auto f = salun.forget_phase(b.forget, epoch);
        CHECK(f.phase == unlearn::Phase::Forget);
        CHECK(b.model.is_training());  // between the phases the model is still in train mode
        salun.retain_phase(b.retain, epoch);
    }
    salun.finish();
    CHECK_FALSE(b.model.is_training());

    const auto pa = a.model.parameters(), pb = b.model.parameters();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].to_vector() == pb[i].to_vector());  // bit for bit

    REQUIRE(phases.size() == 4);
    CHECK(phases[0].phase == unlearn::Phase::Forget);
    CHECK(phases[1].phase == unlearn::Phase::Retain);
    CHECK(phases[3].epoch == 1);
    CHECK(phases[0].steps == b.forget.num_batches());
    CHECK(phases[1].images == 120);  // three retain classes of 40
    CHECK(steps == 2 * (b.forget.num_batches() + b.retain.num_batches()));
    for (const auto& p : phases) {
        CHECK(p.mean_loss > 0);
        CHECK(p.seconds >= 0);
    }
}
