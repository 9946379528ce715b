// SPDX-License-Identifier: MIT
// Every differentiable op against central finite differences, in double precision, over several
// shapes (odd sizes, stride 2, padding 0 and 1, batch 1).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gradcheck.hpp"

using namespace salun;
using salun::testing::gradcheck;
using salun::testing::randn;
using salun::testing::TensorD;
using V = std::vector<TensorD>;

TEST_CASE("elementwise arithmetic with broadcasting") {
    const std::vector<std::pair<Shape, Shape>> shapes{{{3, 4}, {3, 4}}, {{2, 3, 5}, {5}}, {{4, 1}, {1, 3}}, {{1}, {2, 2}}};
    for (const auto& [sa, sb] : shapes) {
        const V in{randn(sa, 1), randn(sb, 2)};
        gradcheck([](const V& v) { return v[0] + v[1]; }, in, "add " + shape_str(sa) + shape_str(sb));
        gradcheck([](const V& v) { return v[0] - v[1]; }, in, "sub " + shape_str(sa) + shape_str(sb));
        gradcheck([](const V& v) { return v[0] * v[1]; }, in, "mul " + shape_str(sa) + shape_str(sb));
        V pos{randn(sa, 3), affine(randn(sb, 4), 0.1, 2.0)};  // keep the divisor away from 0
        gradcheck([](const V& v) { return v[0] / v[1]; }, pos, "div " + shape_str(sa) + shape_str(sb));
    }
    gradcheck([](const V& v) { return (v[0] * 3.0 - 1.0) / 2.0 + 0.5; }, {randn({5}, 5)}, "scalar ops");
    gradcheck([](const V& v) { return -v[0]; }, {randn({2, 3}, 6)}, "neg");
    CHECK_THROWS_AS(randn({2, 3}, 1) + randn({4}, 2), Error);
}

TEST_CASE("reductions") {
    for (const Shape& s : {Shape{7}, Shape{2, 3}, Shape{2, 3, 4}}) {
        gradcheck([](const V& v) { return sum(v[0]); }, {randn(s, 1)}, "sum " + shape_str(s));
        gradcheck([](const V& v) { return mean(v[0]); }, {randn(s, 1)}, "mean " + shape_str(s));
        for (std::size_t d = 0; d < s.size(); ++d)
            for (bool keep : {false, true}) {
                gradcheck([d, keep](const V& v) { return sum(v[0], d, keep); }, {randn(s, 2)}, "sum dim");
                gradcheck([d, keep](const V& v) { return mean(v[0], d, keep); }, {randn(s, 2)}, "mean dim");
            }
    }
    const auto t = salun::sum(TensorD::ones({2, 3}), 1);
    CHECK(t.shape() == Shape{2});
    CHECK(t.data()[0] == 3.0);
}

TEST_CASE("views") {
    gradcheck([](const V& v) { return v[0].reshape({3, -1}) * v[0].reshape({3, 4}); }, {randn({2, 6}, 1)}, "reshape");
    gradcheck([](const V& v) { return v[0].flatten(); }, {randn({2, 3, 2}, 1)}, "flatten");
    gradcheck([](const V& v) { return v[0].slice(1, 3); }, {randn({4, 2}, 1)}, "slice");
}

TEST_CASE("matmul and linear") {
    for (auto [m, k, n] : {std::tuple{1, 1, 1}, {3, 5, 2}, {7, 4, 9}}) {
        const std::size_t M = m, K = k, N = n;
        gradcheck([](const V& v) { return matmul(v[0], v[1]); }, {randn({M, K}, 1), randn({K, N}, 2)}, "matmul");
        gradcheck([](const V& v) { return linear(v[0], v[1], v[2]); }, {randn({M, K}, 1), randn({N, K}, 2), randn({N}, 3)},
                  "linear");
        gradcheck([](const V& v) { return linear(v[0], v[1]); }, {randn({M, K}, 1), randn({N, K}, 2)}, "linear nobias");
    }
    CHECK_THROWS_AS(matmul(randn({2, 3}, 1), randn({2, 3}, 1)), Error);
}

TEST_CASE("conv2d: strides, paddings, odd sizes, batch 1") {
    struct Case { Shape x, w; std::size_t stride, pad; bool bias; };
    const std::vector<Case> cases{
        {{1, 1, 5, 5}, {1, 1, 3, 3}, 1, 0, true},  {{2, 3, 5, 4}, {4, 3, 3, 3}, 1, 1, true},
        {{1, 2, 7, 7}, {3, 2, 3, 3}, 2, 1, false}, {{2, 3, 6, 6}, {2, 3, 1, 1}, 2, 0, false},
        {{1, 2, 4, 5}, {2, 2, 1, 1}, 1, 0, true},  {{3, 1, 6, 5}, {2, 1, 2, 3}, 2, 0, true},
    };
    for (const auto& c : cases) {
        const std::string what = "conv2d x" + shape_str(c.x) + " w" + shape_str(c.w) + " s" + std::to_string(c.stride) +
                                 " p" + std::to_string(c.pad);
        if (c.bias)
            gradcheck([&](const V& v) { return conv2d(v[0], v[1], v[2], c.stride, c.pad); },
                      {randn(c.x, 1), randn(c.w, 2), randn({c.w[0]}, 3)}, what);
        else
            gradcheck([&](const V& v) { return conv2d(v[0], v[1], TensorD(), c.stride, c.pad); },
                      {randn(c.x, 1), randn(c.w, 2)}, what);
    }
    CHECK_THROWS_AS(conv2d(randn({1, 2, 5, 5}, 1), randn({3, 3, 3, 3}, 2)), Error);
}

TEST_CASE("pooling") {
    gradcheck([](const V& v) { return max_pool2d(v[0], 2); }, {randn({2, 3, 4, 6}, 1)}, "max_pool2d 2");
    gradcheck([](const V& v) { return max_pool2d(v[0], 3, 2, 1); }, {randn({1, 2, 7, 5}, 2)}, "max_pool2d 3/2/1");
    gradcheck([](const V& v) { return avg_pool2d(v[0], 2); }, {randn({2, 2, 4, 4}, 3)}, "avg_pool2d 2");
    gradcheck([](const V& v) { return avg_pool2d(v[0], 3, 2, 1); }, {randn({1, 2, 5, 5}, 4)}, "avg_pool2d 3/2/1");
    gradcheck([](const V& v) { return adaptive_avg_pool2d(v[0], 1, 1); }, {randn({2, 3, 4, 4}, 5)}, "adaptive 1x1");
    gradcheck([](const V& v) { return adaptive_avg_pool2d(v[0], 2, 3); }, {randn({1, 2, 5, 7}, 6)}, "adaptive 2x3");
}

TEST_CASE("batch_norm in training and eval mode") {
    for (const Shape& s : {Shape{4, 3}, Shape{2, 3, 3, 2}, Shape{1, 2, 3, 3}}) {
        const std::size_t C = s[1];
        gradcheck([C](const V& v) { return batch_norm(v[0], TensorD(), TensorD(), v[1], v[2], true); },
                  {randn(s, 1), randn({C}, 2), randn({C}, 3)}, "batch_norm train " + shape_str(s), 1e-6, 1e-4);
        const TensorD rm = randn({C}, 4), rv = affine(randn({C}, 5), 0.1, 1.0);
        gradcheck([&](const V& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); },
                  {randn(s, 1), randn({C}, 2), randn({C}, 3)}, "batch_norm eval " + shape_str(s));
    }
}

namespace {
/// Smallest |pre-activation| of batch_norm over the inputs: the fused ReLU's kink must be further
/// than the finite-difference step from every element, or the numeric gradient straddles it.
double kink_margin(const V& in, const TensorD& rm, const TensorD& rv, bool training) {
    NoGradGuard ng;
    const TensorD pre = training ? batch_norm(in[0], TensorD(), TensorD(), in[1], in[2], true)
                                 : batch_norm(in[0], rm, rv, in[1], in[2], false);
    double m = INFINITY;
    for (double v : pre) m = std::min(m, std::abs(v));
    return m;
}

/// Inputs {x, weight, bias} from the first seed (from `seed` on) whose pre-activations all stay
/// 1e-3 away from the ReLU kink; about half of the outputs are then zero, half positive.
V away_from_kink(const Shape& s, std::uint64_t seed, const TensorD& rm, const TensorD& rv, bool training) {
    const std::size_t C = s[1];
    for (std::uint64_t k = seed; k < seed + 1000; k += 3) {
        V in{randn(s, k), randn({C}, k + 1), randn({C}, k + 2)};
        if (kink_margin(in, rm, rv, training) > 1e-3) return in;
    }
    FAIL("no seed keeps the pre-activations of " << shape_str(s) << " away from 0");
    return {};
}
}  // namespace

TEST_CASE("batch_norm_relu (fused) in training and eval mode") {
    for (const Shape& s : {Shape{4, 3}, Shape{2, 3, 3, 2}, Shape{1, 2, 3, 3}, Shape{3, 2, 1, 1}}) {
        const std::size_t C = s[1];
        const TensorD rm = randn({C}, 4), rv = affine(randn({C}, 5), 0.1, 1.0);
        const V train_in = away_from_kink(s, 11, rm, rv, true);
        REQUIRE(kink_margin(train_in, rm, rv, true) > 1e-3);
        gradcheck([](const V& v) { return batch_norm_relu(v[0], TensorD(), TensorD(), v[1], v[2], true); }, train_in,
                  "batch_norm_relu train " + shape_str(s), 1e-6, 1e-4);
        const V eval_in = away_from_kink(s, 21, rm, rv, false);
        REQUIRE(kink_margin(eval_in, rm, rv, false) > 1e-3);
        gradcheck([&](const V& v) { return batch_norm_relu(v[0], rm, rv, v[1], v[2], false); }, eval_in,
                  "batch_norm_relu eval " + shape_str(s));
        // without weight and bias
        gradcheck([](const V& v) { return batch_norm_relu(v[0], TensorD(), TensorD(), TensorD(), TensorD(), true); },
                  {train_in[0]}, "batch_norm_relu train, no affine " + shape_str(s), 1e-6, 1e-4);
    }
}

TEST_CASE("batch_norm_add_relu (fused) in training and eval mode, the residual's gradient included") {
    for (const Shape& s : {Shape{2, 3, 3, 2}, Shape{1, 2, 3, 3}, Shape{3, 2, 1, 1}}) {
        const std::size_t C = s[1];
        const TensorD rm = randn({C}, 4), rv = affine(randn({C}, 5), 0.1, 1.0);
        for (const bool training : {true, false}) {
            // x, weight, bias, residual, with every pre-activation 1e-3 away from the kink
            V in;
            for (std::uint64_t k = 31; k < 3000; k += 7) {
                in = {randn(s, k), randn({C}, k + 1), randn({C}, k + 2), randn(s, k + 3)};
                const TensorD pre = add(batch_norm(in[0], training ? TensorD() : rm.clone(),
                                                   training ? TensorD() : rv.clone(), in[1], in[2], training),
                                        in[3]);
                double margin = 1e300;
                for (std::size_t i = 0; i < pre.numel(); ++i) margin = std::min(margin, std::abs(pre.data()[i]));
                if (margin > 1e-3) break;
                in.clear();
            }
            REQUIRE(!in.empty());
            const std::string what = std::string("batch_norm_add_relu ") + (training ? "train " : "eval ") + shape_str(s);
            if (training)
                gradcheck([](const V& v) { return batch_norm_add_relu(v[0], TensorD(), TensorD(), v[1], v[2], v[3], true); },
                          in, what, 1e-6, 1e-4);
            else
                gradcheck([&](const V& v) { return batch_norm_add_relu(v[0], rm, rv, v[1], v[2], v[3], false); }, in,
                          what);
        }
    }
    // the residual must have the input's shape
    CHECK_THROWS_AS(batch_norm_add_relu(randn({2, 3, 2, 2}, 1), TensorD(), TensorD(), TensorD(), TensorD(),
                                        randn({2, 3, 2, 1}, 2), true),
                    salun::Error);
}

TEST_CASE("batch_norm_relu equals relu(batch_norm) and updates the running statistics the same way") {
    const Shape s{3, 4, 2, 5};
    const TensorD x = randn(s, 7), w = randn({4}, 8), b = randn({4}, 9);
    for (bool training : {true, false}) {
        CAPTURE(training);
        TensorD rm1 = randn({4}, 10), rv1 = affine(randn({4}, 11), 0.1, 1.0);
        TensorD rm2 = rm1.clone(), rv2 = rv1.clone();
        const TensorD fused = batch_norm_relu(x, rm1, rv1, w, b, training, 0.2, 1e-3);
        const TensorD plain = relu(batch_norm(x, rm2, rv2, w, b, training, 0.2, 1e-3));
        CHECK(fused.to_vector() == plain.to_vector());
        CHECK(rm1.to_vector() == rm2.to_vector());
        CHECK(rv1.to_vector() == rv2.to_vector());
    }
}

TEST_CASE("batch_norm updates running statistics like PyTorch") {
    auto x = TensorD::from_data({4, 1}, std::vector<double>{1, 2, 3, 6});
    auto rm = TensorD::zeros({1}), rv = TensorD::ones({1});
    batch_norm(x, rm, rv, TensorD(), TensorD(), true, 0.1, 1e-5);
    CHECK(rm.item() == doctest::Approx(0.1 * 3.0));
    // unbiased variance of {1,2,3,6} = 14/3
    CHECK(rv.item() == doctest::Approx(0.9 + 0.1 * 14.0 / 3.0));
}

TEST_CASE("activations and losses") {
    gradcheck([](const V& v) { return relu(v[0]); }, {randn({3, 7}, 1)}, "relu");
    gradcheck([](const V& v) { return softmax(v[0], 1); }, {randn({3, 5}, 2)}, "softmax");
    gradcheck([](const V& v) { return log_softmax(v[0], 1); }, {randn({3, 5}, 3)}, "log_softmax");
    const std::vector<std::int64_t> t{0, 4, 2};
    gradcheck([&](const V& v) { return cross_entropy(v[0], t); }, {randn({3, 5}, 4)}, "cross_entropy");
    gradcheck([&](const V& v) { return nll_loss(log_softmax(v[0], 1), t); }, {randn({3, 5}, 5)}, "nll_loss");
    CHECK_THROWS_WITH_AS(cross_entropy(randn({3, 5}, 4), {0, 5, 1}), doctest::Contains("out of range"), Error);
}

TEST_CASE("cross_entropy is stable for huge logits") {
    auto x = TensorD::from_data({1, 3}, std::vector<double>{1000, 0, -1000});
    CHECK(cross_entropy(x, {0}).item() == doctest::Approx(0.0));
    CHECK(cross_entropy(x, {1}).item() == doctest::Approx(1000.0));
}

TEST_CASE("relu and batch_norm_relu let NaN through, as PyTorch does (a NaN must not be masked to 0)") {
    using T = double;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    auto x = Tensor<T>::from_data({1, 2, 1, 2}, {nan, -1.0, 2.0, -3.0}, true);
    auto y = relu(x);
    CHECK(std::isnan(y.data()[0]));
    CHECK(y.data()[1] == 0.0);
    y.backward(Tensor<T>::ones(y.shape()));
    CHECK(x.grad().data()[0] == 1.0);  // threshold_backward: only outputs <= 0 block the gradient
    CHECK(x.grad().data()[1] == 0.0);

    // eval-mode batch_norm_relu with identity statistics: the NaN survives the fused op too
    auto rm = Tensor<T>::zeros({2}), rv = Tensor<T>::full({2}, 1.0 - 1e-5);
    auto z = batch_norm_relu(Tensor<T>::from_data({1, 2, 1, 2}, {nan, -1.0, 2.0, -3.0}), rm, rv, Tensor<T>(),
                             Tensor<T>(), false);
    CHECK(std::isnan(z.data()[0]));
    CHECK(z.data()[1] == 0.0);
    CHECK(z.data()[2] == doctest::Approx(2.0));
}
