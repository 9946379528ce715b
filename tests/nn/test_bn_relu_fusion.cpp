// SPDX-License-Identifier: MIT
// Sequential fuses a BatchNorm2d directly followed by a ReLU into one batch_norm_relu op
// (BatchNorm2d::forward_relu). The fused net must behave exactly like its children applied one by
// one: same outputs, same parameter gradients, same running statistics, and num_batches_tracked
// still counts one per training forward.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "salun/nn.hpp"
#include "salun/ops/reduce.hpp"

using namespace salun;

namespace {

using Net = nn::Sequential<float>;

/// conv -> bn -> relu -> conv -> bn -> relu -> conv -> bn: two fused pairs and a trailing
/// BatchNorm2d with no ReLU after it (must run unfused).
std::shared_ptr<Net> make_net(std::uint64_t seed) {
    Generator gen(seed);
    auto net = std::make_shared<Net>();
    net->emplace_back<nn::Conv2d<float>>(3, 4, 3, 1, 1, true, gen);
    net->emplace_back<nn::BatchNorm2d<float>>(4);
    net->emplace_back<nn::ReLU<float>>();
    net->emplace_back<nn::Conv2d<float>>(4, 5, 3, 2, 1, false, gen);
    net->emplace_back<nn::BatchNorm2d<float>>(5, 1e-3, 0.3);
    net->emplace_back<nn::ReLU<float>>();
    net->emplace_back<nn::Conv2d<float>>(5, 2, 1, 1, 0, true, gen);
    net->emplace_back<nn::BatchNorm2d<float>>(2);
    // non-trivial affine parameters, so that the ReLU cuts at different places per channel
    for (std::size_t i : {1, 4, 7}) {
        auto bn = net->at<nn::BatchNorm2d<float>>(i);
        for (std::size_t c = 0; c < bn->num_features; ++c) {
            bn->weight.data()[c] = float(0.7 + 0.2 * double(c));
            bn->bias.data()[c] = float(0.3 * (double(c % 3) - 1.0));
        }
    }
    return net;
}

/// The children one after the other, each through its own forward(): nothing fused.
Tensor<float> unfused(Net& net, const Tensor<float>& x) {
    Tensor<float> y = x;
    for (std::size_t i = 0; i < net.size(); ++i) y = net[i].forward(y);
    return y;
}

std::vector<std::int64_t> batches_tracked(const Net& net) {
    std::vector<std::int64_t> out;
    for (std::size_t i : {1, 4, 7}) out.push_back(net.at<nn::BatchNorm2d<float>>(i)->num_batches_tracked());
    return out;
}

/// max |a - b| / max(1, max|b|) over two tensors of the same shape.
double rel_diff(const Tensor<float>& a, const Tensor<float>& b) {
    REQUIRE(a.shape() == b.shape());
    double d = 0, m = 1;
    for (std::size_t i = 0; i < a.numel(); ++i) {
        d = std::max(d, std::abs(double(a.data()[i]) - double(b.data()[i])));
        m = std::max(m, std::abs(double(b.data()[i])));
    }
    return d / m;
}

/// One step on both nets: forward, backward of sum(out * w), then every comparison.
void step_and_compare(Net& fused, Net& plain, std::uint64_t seed) {
    Generator gen(seed);
    const auto x = Tensor<float>::normal({3, 3, 7, 6}, 0.5, 1.5, gen);
    const Tensor<float> yf = fused(x);
    const Tensor<float> yp = unfused(plain, x);
    REQUIRE(yf.shape() == yp.shape());
    CHECK(yf.to_vector() == yp.to_vector());  // same float expression per element: bitwise equal

    const auto w = Tensor<float>::uniform(yf.shape(), -1.0, 1.0, gen);
    sum(yf * w).backward();
    sum(yp * w).backward();
    const auto pf = fused.named_parameters(), pp = plain.named_parameters();
    REQUIRE(pf.size() == pp.size());
    for (std::size_t k = 0; k < pf.size(); ++k) {
        INFO(pf[k].first);
        REQUIRE(pf[k].second.grad().defined());
        REQUIRE(pp[k].second.grad().defined());
        // The fused backward masks the gradient in a buffer inside the batch-norm kernel, the
        // unfused one in a separate ReLU pass: the same terms, summed in possibly different SIMD
        // lanes, so equal up to float rounding.
        CHECK(rel_diff(pf[k].second.grad(), pp[k].second.grad()) < 1e-5);
    }
    const auto bf = fused.named_buffers(), bp = plain.named_buffers();
    REQUIRE(bf.size() == bp.size());
    for (std::size_t k = 0; k < bf.size(); ++k) {
        INFO(bf[k].first);
        CHECK(bf[k].second.to_vector() == bp[k].second.to_vector());  // same statistics kernel
    }
    fused.zero_grad();
    plain.zero_grad();
}

}  // namespace

TEST_CASE("Sequential fuses BatchNorm2d -> ReLU: same outputs, gradients and statistics as unfused") {
    auto fused = make_net(42), plain = make_net(42);
    for (std::uint64_t step = 0; step < 3; ++step) {
        CAPTURE(step);
        step_and_compare(*fused, *plain, 100 + step);
        const std::vector<std::int64_t> once(3, std::int64_t(step + 1));
        CHECK(batches_tracked(*fused) == once);  // one per forward, fused or not
        CHECK(batches_tracked(*plain) == once);
    }
    fused->eval();
    plain->eval();
    for (std::uint64_t step = 0; step < 2; ++step) {
        CAPTURE(step);
        step_and_compare(*fused, *plain, 200 + step);
        CHECK(batches_tracked(*fused) == std::vector<std::int64_t>(3, 3));  // eval: not counted
    }
}

TEST_CASE("BatchNorm2d::forward_relu is relu(forward) and counts the batch once") {
    Generator gen(9);
    nn::BatchNorm2d<float> a(3), b(3);
    nn::ReLU<float> relu;
    const auto x = Tensor<float>::normal({2, 3, 4, 5}, 0.0, 2.0, gen);
    CHECK(a.forward_relu(x).to_vector() == relu(b(x)).to_vector());
    CHECK(a.num_batches_tracked() == 1);
    CHECK(a.running_mean.to_vector() == b.running_mean.to_vector());
    CHECK(a.running_var.to_vector() == b.running_var.to_vector());
    a.eval();
    b.eval();
    CHECK(a.forward_relu(x).to_vector() == relu(b(x)).to_vector());
    CHECK(a.num_batches_tracked() == 1);
    CHECK_THROWS_AS(a.forward_relu(Tensor<float>::ones({2, 4, 3, 3})), Error);  // wrong channel count
}

TEST_CASE("Sequential does not fuse a ReLU that does not directly follow a BatchNorm2d") {
    // bn -> identity -> relu and relu -> bn: nothing to fuse; results equal the plain chain
    Generator gen(10);
    Net net;
    net.emplace_back<nn::BatchNorm2d<float>>(2);
    net.emplace_back<nn::Identity<float>>();
    net.emplace_back<nn::ReLU<float>>();
    net.emplace_back<nn::BatchNorm2d<float>>(2);
    const auto x = Tensor<float>::normal({2, 2, 3, 3}, 0.0, 1.0, gen);
    const auto y = net(x);
    REQUIRE(y.grad_fn());
    CHECK(y.grad_fn()->name == "batch_norm");
    CHECK(net.at<nn::BatchNorm2d<float>>(0)->num_batches_tracked() == 1);
    CHECK(net.at<nn::BatchNorm2d<float>>(3)->num_batches_tracked() == 1);

    Net pair;
    pair.emplace_back<nn::BatchNorm2d<float>>(2);
    pair.emplace_back<nn::ReLU<float>>();
    const auto z = pair(x);
    REQUIRE(z.grad_fn());
    CHECK(z.grad_fn()->name == "batch_norm_relu");  // the pair at the end of a Sequential is fused
}

namespace {
/// A user's BatchNorm2d variant with its own forward: Sequential must call it, not fuse past it.
struct ShiftedBatchNorm : nn::BatchNorm2d<float> {
    using nn::BatchNorm2d<float>::BatchNorm2d;
    Tensor<float> forward(const Tensor<float>& x) override {
        return nn::BatchNorm2d<float>::forward(x) + Tensor<float>::scalar(-100.0f);
    }
};
}  // namespace

TEST_CASE("Sequential does not fuse a BatchNorm2d subclass that overrides forward") {
    Net net;
    net.emplace_back<ShiftedBatchNorm>(2);
    net.emplace_back<nn::ReLU<float>>();
    net.eval();
    Generator gen(3);
    const auto y = net(Tensor<float>::normal({2, 2, 3, 3}, 0, 1, gen));
    // every value is shifted far below 0 by the override, so the ReLU output is all zeros
    CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
}
