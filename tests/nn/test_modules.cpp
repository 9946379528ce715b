// SPDX-License-Identifier: MIT
// nn::Module and the layers: names, registration order, modes, initialisation, state dicts.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "salun/nn.hpp"
#include "salun/ops/loss.hpp"
#include "salun/ops/reduce.hpp"

using namespace salun;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> names_of(const nn::Module<float>::NamedTensors& v) {
    std::vector<std::string> out;
    for (const auto& [name, t] : v) out.push_back(name);
    return out;
}

/// The message of the salun::Error that f() throws ("" if none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

/// A two-level model with every kind of entry: Sequential(Conv2d, BatchNorm2d, ReLU, Flatten, Linear).
std::shared_ptr<nn::Sequential<float>> small_net(Generator& gen) {
    auto net = std::make_shared<nn::Sequential<float>>();
    net->push_back(std::make_shared<nn::Conv2d<float>>(3, 4, 3, 1, 1, true, gen));
    net->push_back(std::make_shared<nn::BatchNorm2d<float>>(4));
    net->push_back(std::make_shared<nn::ReLU<float>>());
    net->push_back(std::make_shared<nn::AdaptiveAvgPool2d<float>>(2, 2));
    net->push_back(std::make_shared<nn::Flatten<float>>());
    net->push_back(std::make_shared<nn::Linear<float>>(16, 5, true, gen));
    return net;
}

}  // namespace

TEST_CASE("Sequential names children 0, 1, ... and the state dict follows PyTorch's order") {
    Generator gen(1);
    auto net = small_net(gen);
    CHECK(names_of(net->named_parameters()) ==
          std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"});
    CHECK(names_of(net->named_buffers()) == std::vector<std::string>{"1.running_mean", "1.running_var"});
    REQUIRE(net->named_int64_buffers().size() == 1);
    CHECK(net->named_int64_buffers()[0].first == "1.num_batches_tracked");
    CHECK(net->state_dict().keys() ==
          std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                   "1.num_batches_tracked", "5.weight", "5.bias"});
    const auto sd = net->state_dict();
    CHECK(sd.at("1.num_batches_tracked").dtype == io::DType::I64);
    CHECK(sd.at("1.num_batches_tracked").shape == Shape{});
    CHECK(sd.at("0.weight").dtype == io::DType::F32);
    CHECK(sd.at("0.weight").shape == Shape{4, 3, 3, 3});
    for (const auto& t : net->parameters()) CHECK(t.requires_grad());
    for (const auto& [name, t] : net->named_buffers()) CHECK_FALSE(t.requires_grad());
    CHECK(net->named_modules().size() == 7);
    CHECK(net->named_modules()[6].first == "5");
}

TEST_CASE("layer contracts: output shapes and parameter shapes as in PyTorch") {
    Generator gen(2);
    const auto x = Tensor<float>::normal({2, 3, 9, 9}, 0, 1, gen);
    nn::Conv2d<float> conv(3, 5, 3, 2, 1, false, gen);
    CHECK(conv(x).shape() == Shape{2, 5, 5, 5});
    CHECK_FALSE(conv.bias.defined());
    CHECK(conv.named_parameters().size() == 1);
    CHECK(nn::MaxPool2d<float>(2)(x).shape() == Shape{2, 3, 4, 4});
    CHECK(nn::MaxPool2d<float>(3, 2, 1)(x).shape() == Shape{2, 3, 5, 5});
    CHECK(nn::AdaptiveAvgPool2d<float>(1, 1)(x).shape() == Shape{2, 3, 1, 1});
    CHECK(nn::Flatten<float>()(x).shape() == Shape{2, 243});
    CHECK(nn::Identity<float>()(x).same(x));
    CHECK(nn::Linear<float>(243, 7, true, gen)(nn::Flatten<float>()(x)).shape() == Shape{2, 7});
    nn::BasicBlock<float> same(3, 3, 1, gen), down(3, 6, 2, gen);
    CHECK_FALSE(same.downsample);
    CHECK(same(x).shape() == Shape{2, 3, 9, 9});
    REQUIRE(down.downsample);
    CHECK(down(x).shape() == Shape{2, 6, 5, 5});
    CHECK(names_of(down.named_parameters()) ==
          std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
                                   "downsample.0.weight", "downsample.1.weight", "downsample.1.bias"});
    CHECK(contains(error_of([&] { nn::BatchNorm2d<float>(4)(x); }), "BatchNorm2d(4)"));
}

TEST_CASE("default initialisation has PyTorch's distributions") {
    Generator gen(3);
    nn::Conv2d<float> conv(16, 32, 3, 1, 1, true, gen);  // fan_in 144: bound 1/12
    const double bound = 1.0 / 12.0;
    double sq = 0, mx = 0;
    for (float v : conv.weight) {
        sq += double(v) * v;
        mx = std::max(mx, std::abs(double(v)));
    }
    CHECK(mx <= bound);
    CHECK(mx > 0.99 * bound);
    CHECK(std::sqrt(sq / double(conv.weight.numel())) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.03));
    for (float v : conv.bias) CHECK(std::abs(v) <= bound);

    nn::Linear<float> fc(64, 10, true, gen);
    for (float v : fc.weight) CHECK(std::abs(v) <= 1.0 / 8.0);
    for (float v : fc.bias) CHECK(std::abs(v) <= 1.0 / 8.0);

    nn::BatchNorm2d<float> bn(3);
    CHECK(bn.weight.to_vector() == std::vector<float>{1, 1, 1});
    CHECK(bn.bias.to_vector() == std::vector<float>{0, 0, 0});
    CHECK(bn.running_mean.to_vector() == std::vector<float>{0, 0, 0});
    CHECK(bn.running_var.to_vector() == std::vector<float>{1, 1, 1});
    CHECK(bn.num_batches_tracked() == 0);

    // kaiming_normal(fan_out, relu): std = sqrt(2 / fan_out), fan_out = 64 * 9
    auto w = Tensor<float>::empty({64, 32, 3, 3});
    nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, gen);
    sq = 0;
    double mean = 0;
    for (float v : w) {
        sq += double(v) * v;
        mean += v;
    }
    mean /= double(w.numel());
    CHECK(std::abs(mean) < 0.005);
    CHECK(std::sqrt(sq / double(w.numel())) == doctest::Approx(std::sqrt(2.0 / 576.0)).epsilon(0.03));
    CHECK(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0)) ==
          doctest::Approx(std::sqrt(1.0 / 3.0)));
    CHECK(nn::init::calculate_fan_in_and_fan_out(w) == std::pair<std::size_t, std::size_t>{288, 576});
}

TEST_CASE("train() and eval() switch BatchNorm between batch and running statistics, recursively") {
    Generator gen(4);
    auto net = small_net(gen);
    auto bn = net->at<nn::BatchNorm2d<float>>(1);
    REQUIRE(bn);
    const auto x = Tensor<float>::normal({4, 3, 6, 6}, 2.0, 3.0, gen);
    auto conv_out = (*net)[0](x);

    CHECK(bn->is_training());
    const auto y_train = (*bn)(conv_out);
    CHECK(bn->num_batches_tracked() == 1);
    // batch statistics: every channel of the output has mean 0 (weight 1, bias 0)
    for (std::size_t c = 0; c < 4; ++c) {
        double s = 0;
        for (std::size_t n = 0; n < 4; ++n)
            for (std::size_t i = 0; i < 36; ++i) s += y_train.data()[(n * 4 + c) * 36 + i];
        CHECK(std::abs(s / 144) < 1e-5);
    }
    const auto rm = bn->running_mean.to_vector();
    CHECK(rm != std::vector<float>(4, 0.0f));  // moved towards the batch mean

    net->eval();
    for (auto& [name, m] : net->named_modules()) CHECK_FALSE(m->is_training());
    const auto y_eval = (*bn)(conv_out);
    CHECK(bn->num_batches_tracked() == 1);
    CHECK(bn->running_mean.to_vector() == rm);  // eval leaves the buffers alone
    for (std::size_t i = 0; i < y_eval.numel(); ++i) {
        const std::size_t c = (i / 36) % 4;
        const double want = (conv_out.data()[i] - rm[c]) / std::sqrt(double(bn->running_var.data()[c]) + 1e-5);
        REQUIRE(y_eval.data()[i] == doctest::Approx(want).epsilon(1e-5));
    }
    net->train();
    for (auto& [name, m] : net->named_modules()) CHECK(m->is_training());
}

TEST_CASE("backward reaches every parameter and zero_grad drops the gradients") {
    Generator gen(5);
    auto net = small_net(gen);
    auto loss = cross_entropy((*net)(Tensor<float>::normal({3, 3, 5, 5}, 0, 1, gen)), {0, 4, 2});
    loss.backward();
    for (const auto& [name, p] : net->named_parameters()) {
        INFO(name);
        REQUIRE(p.grad().defined());
        CHECK(p.grad().shape() == p.shape());
    }
    net->zero_grad();
    for (const auto& p : net->parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("load_state_dict copies into the existing tensors and converts F16, BF16 and F64") {
    Generator gen(6);
    auto src = small_net(gen), dst = small_net(gen);
    auto sd = src->state_dict();
    sd.insert_or_assign("1.num_batches_tracked", io::TensorData::from_int64({}, {42}));
    sd.insert_or_assign("0.weight", io::TensorData::from_tensor(src->at<nn::Conv2d<float>>(0)->weight, io::DType::F16));
    sd.insert_or_assign("5.weight", io::TensorData::from_tensor(src->at<nn::Linear<float>>(5)->weight, io::DType::BF16));
    sd.insert_or_assign("1.running_var",
                        io::TensorData::from_tensor(Tensor<double>::full({4}, 0.25)));
    auto handle = dst->at<nn::Conv2d<float>>(0)->weight;
    const float* storage = handle.data();
    dst->load_state_dict(sd);
    CHECK(handle.data() == storage);
    CHECK(dst->at<nn::Conv2d<float>>(0)->weight.same(handle));
    CHECK(dst->at<nn::BatchNorm2d<float>>(1)->num_batches_tracked() == 42);
    CHECK(dst->at<nn::BatchNorm2d<float>>(1)->running_var.to_vector() == std::vector<float>(4, 0.25f));
    const auto w_src = src->at<nn::Conv2d<float>>(0)->weight.to_vector();
    for (std::size_t i = 0; i < w_src.size(); ++i)
        REQUIRE(handle.data()[i] == doctest::Approx(w_src[i]).epsilon(1e-3));  // F16 rounding
    CHECK(dst->at<nn::Linear<float>>(5)->bias.to_vector() == src->at<nn::Linear<float>>(5)->bias.to_vector());
    CHECK(handle.requires_grad());
}

TEST_CASE("load_state_dict errors name the key and both shapes") {
    Generator gen(7);
    auto net = small_net(gen);
    const auto good = net->state_dict();

    auto missing = good;
    missing.erase("1.running_mean");
    std::string msg = error_of([&] { net->load_state_dict(missing); });
    CHECK(contains(msg, "Missing key(s)"));
    CHECK(contains(msg, "\"1.running_mean\""));
    CHECK(error_of([&] { net->load_state_dict(missing, false); }).empty());

    auto unexpected = good;
    unexpected.insert_or_assign("2.weight", Tensor<float>::ones({3}));
    msg = error_of([&] { net->load_state_dict(unexpected); });
    CHECK(contains(msg, "Unexpected key(s)"));
    CHECK(contains(msg, "\"2.weight\""));
    CHECK(error_of([&] { net->load_state_dict(unexpected, false); }).empty());

    auto wrong_shape = good;
    wrong_shape.insert_or_assign("5.weight", Tensor<float>::ones({5, 15}));
    for (bool strict : {true, false}) {
        msg = error_of([&] { net->load_state_dict(wrong_shape, strict); });
        CHECK(contains(msg, "5.weight"));
        CHECK(contains(msg, "[5, 15]"));
        CHECK(contains(msg, "[5, 16]"));
    }

    auto wrong_dtype = good;
    wrong_dtype.insert_or_assign("0.bias", io::TensorData::from_int64({4}, {1, 2, 3, 4}));
    msg = error_of([&] { net->load_state_dict(wrong_dtype); });
    CHECK(contains(msg, "0.bias"));
    CHECK(contains(msg, "I64"));
    auto float_counter = good;
    float_counter.insert_or_assign("1.num_batches_tracked", Tensor<float>::scalar(3));
    CHECK(contains(error_of([&] { net->load_state_dict(float_counter); }), "1.num_batches_tracked"));

    // a failed load changes nothing
    const auto before = net->state_dict();
    wrong_shape.insert_or_assign("0.bias", Tensor<float>::full({4}, 9.0f));
    CHECK_FALSE(error_of([&] { net->load_state_dict(wrong_shape); }).empty());
    CHECK(net->state_dict() == before);
}

TEST_CASE("Dropout: identity in eval mode, zeroes about p and rescales in training") {
    Generator gen(8);
    nn::Dropout<float> drop(0.25, gen);
    const auto x = Tensor<float>::ones({4000}, true);
    auto y = drop(x);
    std::size_t zeros = 0;
    for (float v : y) {
        if (v == 0.0f)
            ++zeros;
        else
            REQUIRE(v == doctest::Approx(1.0 / 0.75));
    }
    CHECK(double(zeros) / 4000 == doctest::Approx(0.25).epsilon(0.1));
    sum(y).backward();
    for (std::size_t i = 0; i < y.numel(); ++i) REQUIRE(x.grad().data()[i] == y.data()[i]);
    drop.eval();
    CHECK(drop(x).same(x));
}
