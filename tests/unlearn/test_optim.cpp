// SPDX-License-Identifier: MIT
// SGD, clip_grad_norm and the LR schedules follow PyTorch's trajectories step by step
// (fixture: tests/fixtures/optim_golden.json from gen_optim_fixtures.py).
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "salun/ops.hpp"
#include "salun/optim.hpp"

using namespace salun;
using TensorD = Tensor<double>;
using json = nlohmann::json;

namespace {

json golden() {
    std::ifstream f(std::string(SALUN_FIXTURES_DIR) + "/optim_golden.json");
    REQUIRE(f.good());
    return json::parse(f);
}

TensorD tensor_of(const json& values, const json& shape) {
    return TensorD::from_data(shape.get<Shape>(), values.get<std::vector<double>>());
}

}  // namespace

TEST_CASE("SGD and clip_grad_norm match PyTorch trajectories") {
    const json g = golden();
    const json& pb = g["problem"];
    for (const json& c : g["sgd"]) {
        const std::string name = c["name"];
        CAPTURE(name);
        std::vector<TensorD> params, targets, coefs;
        for (std::size_t i = 0; i < 2; ++i) {
            params.push_back(tensor_of(pb["params"][i], pb["shapes"][i]).set_requires_grad(true));
            targets.push_back(tensor_of(pb["targets"][i], pb["shapes"][i]));
            coefs.push_back(tensor_of(pb["coefs"][i], pb["shapes"][i]));
        }
        const json& o = c["options"];
        optim::SGDOptions opts;
        opts.lr = o.value("lr", 0.0);
        opts.momentum = o.value("momentum", 0.0);
        opts.dampening = o.value("dampening", 0.0);
        opts.weight_decay = o.value("weight_decay", 0.0);
        opts.nesterov = o.value("nesterov", false);
        optim::SGD<double> sgd(params, opts);
        for (int step = 0; step < c["steps"].get<int>(); ++step) {
            sgd.zero_grad();
            TensorD loss = sum(coefs[0] * (params[0] - targets[0]) * (params[0] - targets[0])) +
                           sum(coefs[1] * (params[1] - targets[1]) * (params[1] - targets[1]));
            loss.backward();
            if (!c["clip"].is_null()) {
                const double norm = optim::clip_grad_norm(params, c["clip"].get<double>());
                CHECK(norm == doctest::Approx(c["norms"][step].get<double>()).epsilon(1e-10));
            }
            sgd.step();
            for (std::size_t i = 0; i < 2; ++i) {
                const auto expected = c["trajectory"][step][i].get<std::vector<double>>();
                for (std::size_t k = 0; k < expected.size(); ++k)
                    CHECK(params[i].data()[k] == doctest::Approx(expected[k]).epsilon(1e-10));
            }
        }
    }
}

TEST_CASE("learning-rate schedules match PyTorch") {
    const json g = golden();
    for (const json& c : g["schedules"]) {
        const std::string name = c["name"];
        CAPTURE(name);
        auto p = TensorD::zeros({1}, true);
        optim::SGDOptions sgd_options;
        sgd_options.lr = 0.1;
        sgd_options.momentum = 0.9;
        optim::SGD<double> sgd({p}, sgd_options);
        const auto lrs = c["lrs"].get<std::vector<double>>();
        const auto moms = c["momentums"].get<std::vector<double>>();
        auto run = [&](auto& sched) {
            for (std::size_t t = 0; t < lrs.size(); ++t) {
                CAPTURE(t);
                CHECK(sgd.lr() == doctest::Approx(lrs[t]).epsilon(1e-9));
                CHECK(sgd.momentum() == doctest::Approx(moms[t]).epsilon(1e-9));
                sched.step();
            }
        };
        if (name == "multistep") {
            optim::MultiStepLR<double> s(sgd, {3, 6}, 0.1);
            run(s);
        } else if (name == "cosine") {
            optim::CosineAnnealingLR<double> s(sgd, 10, 0.001);
            run(s);
        } else {
            optim::OneCycleLR<double>::Options o;
            o.pct_start = 0.25;
            optim::OneCycleLR<double> s(sgd, 0.1, 20, o);
            run(s);
        }
    }
}

TEST_CASE("SGD skips undefined gradients but zero gradients still decay and carry momentum") {
    auto a = TensorD::ones({2}, true), b = TensorD::ones({2}, true);
    optim::SGDOptions sgd_options;
    sgd_options.lr = 0.1;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 0.5;
    optim::SGD<double> sgd({a, b}, sgd_options);
    a.set_grad(TensorD::zeros({2}));  // a masked-out weight: zero gradient
    sgd.step();                        // b has no gradient at all
    CHECK(a.data()[0] == doctest::Approx(1 - 0.1 * 0.5));  // weight decay moved it
    CHECK(b.data()[0] == 1.0);
    sgd.step();  // momentum keeps moving a, even with a zero gradient
    CHECK(a.data()[0] < 1 - 0.1 * 0.5);
}

TEST_CASE("SGD update masks freeze weights and their momentum completely") {
    auto a = TensorD::ones({2}, true);
    optim::SGDOptions sgd_options;
    sgd_options.lr = 0.1;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 0.5;
    optim::SGD<double> sgd({a}, sgd_options);
    sgd.set_update_masks({TensorD::from_data({2}, std::vector<double>{1, 0})});
    a.set_grad(TensorD::from_data({2}, std::vector<double>{1, 0}));
    sgd.step();
    sgd.step();
    CHECK(a.data()[0] < 1.0);
    CHECK(a.data()[1] == 1.0);
    CHECK(sgd.momentum_buffer(0).data()[1] == 0.0);
    CHECK_THROWS_AS(sgd.set_update_masks({TensorD::ones({3})}), Error);
}

TEST_CASE("clip_grad_norm returns the norm and leaves small gradients alone") {
    auto a = TensorD::zeros({2}, true);
    a.set_grad(TensorD::from_data({2}, std::vector<double>{3, 4}));
    CHECK(optim::clip_grad_norm<double>({a}, 10.0) == doctest::Approx(5.0));
    CHECK(a.grad().data()[0] == 3.0);
    CHECK(optim::clip_grad_norm<double>({a}, 1.0) == doctest::Approx(5.0));
    CHECK(a.grad().data()[1] == doctest::Approx(4.0 / (5.0 + 1e-6)));
    CHECK_THROWS_AS(optim::clip_grad_norm<double>({a}, 0.0), Error);
}
