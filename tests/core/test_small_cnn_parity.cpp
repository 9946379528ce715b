// SPDX-License-Identifier: MIT
// Training parity with PyTorch: a small CNN built from the ops directly
//   conv3x3 (3->6, pad 1) -> batch_norm (training) -> relu -> max_pool2d(2) -> flatten
//   -> linear (96->4) -> cross_entropy
// on a fixed batch of 8 images 3x8x8, trained for 5 plain SGD steps (w -= lr * grad, gradients
// cleared between steps) from PyTorch's initial weights. The fixture (ops_small_cnn.safetensors,
// from tests/fixtures/gen_ops_fixtures.py) holds the loss of every step, the step-0 gradients and
// the final weights and running statistics of the same run in PyTorch 1.13.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <iomanip>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/io/safetensors.hpp"
#include "salun/ops.hpp"

namespace {

using TensorF = salun::Tensor<float>;

/// Elementwise |got - want| <= atol_abs + atol_rel * max|want| + rtol * |want|.
void check_close(const std::string& what, const TensorF& got, const TensorF& want, double rtol, double atol_rel,
                 double atol_abs = 0) {
    REQUIRE_MESSAGE(got.defined(), what << ": undefined");
    REQUIRE_MESSAGE(got.shape() == want.shape(), what << ": shape " << salun::shape_str(got.shape()) << " vs torch "
                                                      << salun::shape_str(want.shape()));
    double scale = 0;
    for (float v : want) scale = std::max(scale, std::abs(double(v)));
    std::size_t bad = 0, first = 0;
    double max_diff = 0;
    for (std::size_t i = 0; i < want.numel(); ++i) {
        const double d = std::abs(double(got.data()[i]) - double(want.data()[i]));
        max_diff = std::max(max_diff, d);
        if (!(d <= atol_abs + atol_rel * scale + rtol * std::abs(double(want.data()[i]))) && bad++ == 0) first = i;
    }
    CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << want.numel() << " elements differ; first at " << first
                                 << ": salun " << std::setprecision(9) << got.data()[first] << " vs torch "
                                 << want.data()[first] << " (max |diff| " << max_diff << ", max|torch| " << scale << ")");
}

}  // namespace

TEST_CASE("small CNN: 5 SGD steps match PyTorch step by step") {
    using namespace salun;
    const auto st = io::load_safetensors(std::string(SALUN_FIXTURES_DIR) + "/ops_small_cnn.safetensors");
    const int steps = std::stoi(st.metadata.at("steps"));
    const float lr = std::stof(st.metadata.at("lr"));
    const double momentum = std::stod(st.metadata.at("momentum")), eps = std::stod(st.metadata.at("eps"));
    const TensorF x = st.tensors.at("x").to_tensor<float>();
    const std::vector<std::int64_t> targets = st.tensors.at("targets").to_int64();
    const TensorF losses = st.tensors.at("losses").to_tensor<float>();
    REQUIRE(losses.numel() == static_cast<std::size_t>(steps));

    const std::vector<std::string> names{"conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"};
    std::map<std::string, TensorF> p;
    for (const auto& n : names) p[n] = st.tensors.at("init/" + n).to_tensor<float>().set_requires_grad(true);
    TensorF running_mean = st.tensors.at("init/bn.running_mean").to_tensor<float>();
    TensorF running_var = st.tensors.at("init/bn.running_var").to_tensor<float>();

    for (int step = 0; step < steps; ++step) {
        CAPTURE(step);
        TensorF h = conv2d(x, p["conv.weight"], p["conv.bias"], 1, 1);
        h = batch_norm(h, running_mean, running_var, p["bn.weight"], p["bn.bias"], true, momentum, eps);
        h = max_pool2d(relu(h), 2);
        const TensorF logits = linear(h.flatten(1), p["fc.weight"], p["fc.bias"]);
        const TensorF loss = cross_entropy(logits, targets);

        // Losses: ~1e-5 relative. Later steps inherit the (tiny) weight differences of earlier ones.
        const double want = losses.data()[step], got = loss.item();
        if (std::getenv("SALUN_GOLDEN_REPORT"))
            std::cout << "small CNN step " << step << ": loss salun " << std::setprecision(9) << got << " torch " << want
                      << " rel " << std::abs(got - want) / std::abs(want) << "\n";
        CHECK_MESSAGE(std::abs(got - want) <= 1e-5 * std::abs(want) + 1e-7,
                      "loss at step " << step << ": salun " << std::setprecision(9) << got << " vs torch " << want
                                      << " (rel " << std::abs(got - want) / std::abs(want) << ")");
        loss.backward();
        if (step == 0) {  // localises a mismatch before it is smeared over 5 steps
            check_close("step-0 logits", logits, st.tensors.at("step0/logits").to_tensor<float>(), 1e-5, 1e-5);
            for (const auto& n : names) {
                // conv.bias feeds batch_norm, which removes any per-channel shift: its exact gradient
                // is 0 and both sides hold rounding noise (~1e-8), so it gets an absolute 1e-6.
                const double atol_abs = n == "conv.bias" ? 1e-6 : 0.0;
                check_close("step-0 grad of " + n, p[n].grad(), st.tensors.at("step0/grad." + n).to_tensor<float>(),
                            1e-4, 1e-5, atol_abs);
            }
        }
        {
            NoGradGuard no_grad;
            for (const auto& n : names) {
                TensorF& w = p[n];
                const TensorF g = w.grad();
                REQUIRE_MESSAGE(g.defined(), "no gradient reached " << n << " at step " << step);
                for (std::size_t i = 0; i < w.numel(); ++i) w.data()[i] -= lr * g.data()[i];
                w.zero_grad();
            }
        }
    }

    // Final weights and running statistics: ~1e-4 relative (5 steps of float rounding differences).
    for (const auto& n : names)
        check_close("final " + n, p[n], st.tensors.at("final/" + n).to_tensor<float>(), 1e-4, 1e-5);
    check_close("final bn.running_mean", running_mean, st.tensors.at("final/bn.running_mean").to_tensor<float>(), 1e-4,
                1e-5);
    check_close("final bn.running_var", running_var, st.tensors.at("final/bn.running_var").to_tensor<float>(), 1e-4,
                1e-5);
}
