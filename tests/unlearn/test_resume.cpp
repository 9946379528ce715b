// SPDX-License-Identifier: MIT
// Resumable runs: every piece of state a SalUn run carries (generator, loaders, momentum, BN
// buffers, the mask, the phase) saved and restored, and a run stopped mid-phase and continued
// from its resume file ends with the same weights, bit for bit, as one never stopped.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "salun/models.hpp"
#include "salun/ops.hpp"
#include "salun/optim.hpp"
#include "salun/unlearn.hpp"

using namespace salun;
namespace fs = std::filesystem;

namespace {

/// 10 classes of 8x8 RGB images, a colour each plus noise.
data::ImageDataset images(std::size_t per_class, std::uint64_t seed) {
    data::ImageDataset ds;
    ds.channels = 3;
    ds.height = ds.width = 8;
    for (int c = 0; c < 10; ++c) ds.classes.push_back("class" + std::to_string(c));
    Generator g(seed);
    for (std::size_t i = 0; i < per_class; ++i)
        for (int c = 0; c < 10; ++c) {
            for (std::size_t k = 0; k < 3 * 64; ++k) {
                const double v = 128 + 80 * std::sin(0.628 * c + 2.1 * double(k / 64)) + 20 * g.normal();
                ds.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0)));
            }
            ds.labels.push_back(c);
        }
    return ds;
}

std::shared_ptr<models::ResNet<float>> narrow_resnet() {
    Generator init(5);
    return models::resnet18<float>(10, 4, init);
}

std::string tmp_path(const std::string& name) {
    fs::create_directories(SALUN_TEST_TMP_DIR);
    const std::string p = std::string(SALUN_TEST_TMP_DIR) + "/" + name;
    fs::remove(p);
    return p;
}

/// Loaders as the experiment builds them, with augmentation on (its draws must resume too).
struct Loaders {
    data::DataLoader<float> mask, forget, retain;
    static data::LoaderOptions options(std::uint64_t seed) {
        data::LoaderOptions lo;
        lo.batch_size = 16;
        lo.shuffle = true;
        lo.seed = seed;
        lo.normalize = std::nullopt;
        lo.augment.random_crop = true;
        lo.augment.padding = 1;
        lo.augment.horizontal_flip = true;
        return lo;
    }
    explicit Loaders(const data::ImageDataset& ds)
        : mask(data::of_class(data::all(ds), 0), options(1)), forget(data::of_class(data::all(ds), 0), options(2)),
          retain(data::without_class(data::all(ds), 0), options(3)) {}
};

unlearn::SalUnOptions salun_options() {
    unlearn::SalUnOptions o;
    o.epochs = 3;
    o.lr = 0.02;
    return o;
}

/// Thrown from a step callback to stop a run in the middle of a phase, as Ctrl-C or a kill would.
struct Stop {};

}  // namespace

TEST_CASE("Generator::set_state(get_state()) continues the same sequence, spare normal included") {
    Generator a(42);
    for (int i = 0; i < 1000; ++i) a.next_u64();
    a.normal();  // leaves a spare normal in the state
    const std::string s = a.get_state();
    Generator b(7);
    b.set_state(s);
    CHECK(b.get_state() == s);
    CHECK(a.normal() == b.normal());  // the spare
    for (int i = 0; i < 100; ++i) CHECK(a.next_u64() == b.next_u64());
    CHECK_THROWS_WITH_AS(b.set_state("12 13"), doctest::Contains("not a generator state"), Error);
    CHECK(b.get_state() == a.get_state());  // a bad state changes nothing
}

TEST_CASE("a DataLoader restored from state() draws the same next epochs, augmentation included") {
    const auto ds = images(4, 1);
    data::DataLoader<float> a(data::all(ds), Loaders::options(9));
    a.epoch();
    a.epoch();
    const data::LoaderState s = a.state();
    CHECK(s.epochs_started == 2);
    data::DataLoader<float> b(data::all(ds), Loaders::options(9));
    b.load_state(s);
    CHECK(b.epochs_started() == 2);
    for (int e = 0; e < 2; ++e) {
        auto ea = a.epoch(), eb = b.epoch();
        CHECK(ea.order() == eb.order());
        const auto& ba = ea.batch(1);
        const auto& bb = eb.batch(1);
        CHECK(std::equal(ba.images.begin(), ba.images.end(), bb.images.begin()));
    }
}

TEST_CASE("SGD::load_state_dict(state_dict()) restores the momentum buffers under PyTorch's names") {
    Tensor<double> w = Tensor<double>::from_data({3}, std::vector<double>{1, 2, 3});
    Tensor<double> v = Tensor<double>::from_data({2}, std::vector<double>{4, 5});
    w.set_requires_grad(true);
    v.set_requires_grad(true);
    optim::SGDOptions sgd_options;
    sgd_options.lr = 0.1;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 1e-2;
    optim::SGD<double> a({w, v}, sgd_options);
    CHECK(a.state_dict().empty());  // no buffer before the first step
    sum(mul(w, w)).backward();      // only w gets a gradient: v keeps no buffer
    a.step();
    const io::StateDict sd = a.state_dict();
    CHECK(sd.keys() == std::vector<std::string>{"state.0.momentum_buffer"});

    optim::SGD<double> b({w, v}, a.options());
    b.load_state_dict(sd);
    CHECK(b.momentum_buffer(0).defined());
    CHECK(!b.momentum_buffer(1).defined());
    CHECK(std::equal(b.momentum_buffer(0).begin(), b.momentum_buffer(0).end(), a.momentum_buffer(0).begin()));

    io::StateDict bad;
    bad.insert_or_assign("state.0.momentum_buffer", Tensor<double>::zeros({4}));
    CHECK_THROWS_WITH_AS(b.load_state_dict(bad), doctest::Contains("parameter 0 is [3]"), Error);
    io::StateDict extra = sd;
    extra.insert_or_assign("state.7.momentum_buffer", Tensor<double>::zeros({3}));
    CHECK_THROWS_WITH_AS(b.load_state_dict(extra), doctest::Contains("not momentum buffers"), Error);
}

TEST_CASE("phases 1..k, saved and restored into fresh objects, continue bit for bit") {
    const auto ds = images(6, 2);
    const auto o = salun_options();
    const std::string path = tmp_path("resume_phases.safetensors");

    // Uninterrupted: all 2 * epochs phases on one set of objects.
    auto ref = narrow_resnet();
    Loaders lr(ds);
    const auto mask = unlearn::compute_saliency_mask(*ref, lr.mask, {});
    {
        unlearn::SalUn<float> s(*ref, mask, 0, o);
        for (int e = 0; e < o.epochs; ++e) {
            s.forget_phase(lr.forget, e);
            s.retain_phase(lr.retain, e);
        }
        s.finish();
    }

    // Three phases (the second epoch's forget phase included), saved, then everything dropped.
    {
        auto m = narrow_resnet();
        Loaders l(ds);
        const auto mk = unlearn::compute_saliency_mask(*m, l.mask, {});
        unlearn::SalUn<float> s(*m, mk, 0, o);
        s.forget_phase(l.forget, 0);
        s.retain_phase(l.retain, 0);
        s.forget_phase(l.forget, 1);
        unlearn::save_resume(path, {{"run", "test"}}, 3, 1.5, *m, s, mk, l.forget, l.retain);
        s.retain_phase(l.retain, 1);  // work after the save that the resumed run must redo
    }

    // Fresh model (the original weights, as a restarted program would load), loaders, SalUn.
    auto m = narrow_resnet();
    Loaders l(ds);
    const unlearn::ResumeFile f = unlearn::load_resume(path, {{"run", "test"}});
    CHECK(f.phases_done == 3);
    CHECK(f.seconds == 1.5);
    const auto mk = unlearn::resume_mask(f, *m, 0.75);
    REQUIRE(mk.masks.size() == mask.masks.size());
    for (std::size_t i = 0; i < mk.masks.size(); ++i)
        CHECK(std::equal(mk.masks[i].begin(), mk.masks[i].end(), mask.masks[i].begin()));
    CHECK(mk.selected == mask.selected);
    unlearn::SalUn<float> s(*m, mk, 0, o);
    unlearn::restore_resume(f, *m, s, l.forget, l.retain);
    s.retain_phase(l.retain, 1);
    s.forget_phase(l.forget, 2);
    s.retain_phase(l.retain, 2);
    s.finish();
    CHECK(m->state_dict() == ref->state_dict());  // every weight and BN buffer, bit for bit
}

TEST_CASE("a resume file written for other options is refused, naming what differs") {
    const auto ds = images(2, 3);
    auto m = narrow_resnet();
    Loaders l(ds);
    const auto mk = unlearn::compute_saliency_mask(*m, l.mask, {});
    unlearn::SalUn<float> s(*m, mk, 0, salun_options());
    const std::string path = tmp_path("resume_options.safetensors");
    unlearn::save_resume(path, {{"epochs", 3}, {"lr", 0.1}}, 0, 0.0, *m, s, mk, l.forget, l.retain);
    CHECK_THROWS_WITH_AS(unlearn::load_resume(path, {{"epochs", 4}, {"lr", 0.1}}),
                         doctest::Contains("other options (epochs: 3 in the file, 4 now)"), Error);
    CHECK_NOTHROW(unlearn::load_resume(path, {{"epochs", 3}, {"lr", 0.1}}));
    io::save_safetensors(path, m->state_dict());
    CHECK_THROWS_WITH_AS(unlearn::load_resume(path, {}), doctest::Contains("not a salun resume file"), Error);
}

TEST_CASE("an experiment stopped mid-phase and resumed gives the uninterrupted results JSON") {
    const auto train = images(6, 4), test = images(2, 5);
    unlearn::ExperimentOptions o;
    o.salun = salun_options();
    o.batch_size = 16;
    o.eval_batch_size = 40;
    o.normalize = std::nullopt;
    auto json = [](const unlearn::ExperimentResult<float>& r) {
        auto j = unlearn::to_json(r.report);
        for (const char* k : {"CreatedAt", "ID", "RTE"}) j.erase(k);
        return j.dump();
    };
    // With eval_every_epoch the per-epoch rows before the stop come from the resume file.
    for (const bool every_epoch : {false, true}) {
        CAPTURE(every_epoch);
        o.eval_every_epoch = every_epoch;
        o.resume = {};
        auto ref_model = narrow_resnet();
        auto original = narrow_resnet();
        const auto ref = unlearn::run_salun_experiment(*ref_model, train, test, 0, o, {}, {}, {}, original.get());

        o.resume.path = tmp_path(every_epoch ? "resume_experiment_epochs.safetensors" : "resume_experiment.safetensors");
        o.resume.resume = true;  // no file yet: starts afresh
        o.resume.fingerprint = {{"arch", "resnet18-narrow"}};
        std::size_t steps = 0;
        // Stop in the middle of epoch 2's retain phase (each epoch: 1 forget + 4 retain steps).
        auto stop_at_8 = [&](const unlearn::StepInfo&) {
            if (++steps == 8) throw Stop{};
        };
        {
            auto m = narrow_resnet();
            CHECK_THROWS_AS(unlearn::run_salun_experiment(*m, train, test, 0, o, stop_at_8), Stop);
        }
        REQUIRE(fs::exists(o.resume.path));
        std::vector<unlearn::Stage> stages;
        auto m = narrow_resnet();
        const auto r = unlearn::run_salun_experiment(*m, train, test, 0, o, {}, [&](unlearn::Stage s) { stages.push_back(s); },
                                                     {}, original.get());
        CHECK(stages.at(0) == unlearn::Stage::Resumed);
        CHECK(m->state_dict() == ref_model->state_dict());
        CHECK(json(r) == json(ref));
        // The step log too: the steps before the stop come from the resume file.
        CHECK(r.steps.size() == ref.steps.size());
        CHECK(r.steps.size() > 8);  // more than the 8 of the stopped run
        CHECK(r.steps.text() == ref.steps.text());
        CHECK(r.report.seconds > 0);
        if (every_epoch) CHECK(unlearn::to_json(r.report).at("per_epoch").size() == std::size_t(o.salun.epochs) + 1);
    }
    // The last run's file (eval_every_epoch) stays until its caller deletes it: another lr is refused.
    auto other = o;
    other.salun.lr = 0.03;
    REQUIRE(fs::exists(other.resume.path));
    auto m2 = narrow_resnet();
    CHECK_THROWS_WITH_AS(unlearn::run_salun_experiment(*m2, train, test, 0, other), doctest::Contains("lr: 0.02 in the file, 0.03 now"),
                         Error);
}
