// SPDX-License-Identifier: MIT
// Forward hooks, OutputCapture (reading outputs by PyTorch module name) and model copies.
// The captured outputs of the fused models must equal the children applied one by one, unfused;
// hooking a BatchNorm2d must leave outputs and gradients unchanged; a copy must be independent.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "salun/models.hpp"
#include "salun/nn.hpp"
#include "salun/ops.hpp"

using namespace salun;

namespace {

void check_same(const Tensor<float>& a, const Tensor<float>& b, const std::string& what) {
    INFO(what);
    REQUIRE(a.defined());
    REQUIRE(a.shape() == b.shape());
    CHECK(std::equal(a.data(), a.data() + a.numel(), b.data()));
}

std::vector<std::size_t> narrow_vgg() {
    const std::size_t M = models::kMaxPool;
    return {4, 4, M, 6, 6, M, 8, 8, 8, M, 8, 8, 8, M, 8, 8, 8, M};
}

/// The BasicBlock computed from its children's own forward() (nothing fused, no hooks).
Tensor<float> block_unfused(nn::BasicBlock<float>& b, const Tensor<float>& x) {
    Tensor<float> out = b.relu->forward(b.bn1->forward(b.conv1->forward(x)));
    out = b.bn2->forward(b.conv2->forward(out));
    const Tensor<float> id = b.downsample ? (*b.downsample)[1].forward((*b.downsample)[0].forward(x)) : x;
    return b.relu->forward(add(out, id));
}

}  // namespace

TEST_CASE("VGG: the ReLU outputs read by name through the fused path equal the unfused layers") {
    Generator gen(21);
    auto model = models::vgg16_bn<float>(10, narrow_vgg(), gen);
    for (auto& [name, p] : model->named_parameters())  // non-trivial BN affine: ReLU cuts differ per channel
        if (name.find("bias") != std::string::npos) p.array() = xt::eval(p.array() + 0.1f);
    model->eval();
    NoGradGuard no_grad;
    const auto x = Tensor<float>::normal({3, 3, 32, 32}, 0, 1, gen);
    const Tensor<float> plain = (*model)(x);

    // the reference: every child of features through its own forward(), one by one
    std::vector<Tensor<float>> ref;
    Tensor<float> y = x;
    for (std::size_t i = 0; i < model->features->size(); ++i) ref.push_back(y = (*model->features)[i].forward(y));
    const Tensor<float> ref_logits = model->head->fc->forward(model->head->flatten->forward(
        model->head->global_pool->forward(y)));

    const std::vector<std::string> relus{"features.2", "features.5", "features.9", "features.12", "features.16"};
    {
        std::vector<std::string> names = relus;
        names.push_back("head.fc");
        nn::OutputCapture<float> cap(*model, names);
        const Tensor<float> logits = (*model)(x);
        check_same(logits, plain, "hooks do not change the logits");
        check_same(logits, ref_logits, "fused == unfused logits");
        for (std::size_t k = 0; k < relus.size(); ++k) {
            const std::size_t idx = std::stoul(relus[k].substr(9));
            check_same(cap.output(relus[k]), ref[idx], relus[k]);
            CHECK(cap.calls(k) == 1);
        }
        check_same(cap.output("head.fc"), ref_logits, "head.fc");
        CHECK(model->features->at<nn::ReLU<float>>(2)->has_forward_hooks());
    }
    // the capture removed its hooks
    for (auto& [name, m] : model->named_modules()) CHECK_MESSAGE(!m->has_forward_hooks(), name);

    // a hooked BatchNorm2d runs unfused: its own output and the ReLU after it are both seen
    nn::OutputCapture<float> cap(*model, {"features.1", "features.2"});
    check_same((*model)(x), plain, "hooked BN: same logits");
    check_same(cap.output("features.1"), ref[1], "features.1 (BN output)");
    check_same(cap.output("features.2"), ref[2], "features.2");
}

TEST_CASE("ResNet-18: conv1, the block outputs and fc read by name equal the unfused computation") {
    Generator gen(22);
    auto model = models::resnet18<float>(10, 8, gen);
    model->eval();
    NoGradGuard no_grad;
    const auto x = Tensor<float>::normal({2, 3, 32, 32}, 0, 1, gen);
    const Tensor<float> plain = (*model)(x);

    const std::vector<std::string> names{"conv1",    "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0",
                                         "layer3.1", "layer4.0", "layer4.1", "fc",       "relu"};
    nn::OutputCapture<float> cap(*model, names);
    check_same((*model)(x), plain, "hooks do not change the logits");

    Tensor<float> y = model->conv1->forward(x);
    check_same(cap.output("conv1"), y, "conv1 (before bn1)");
    y = model->relu->forward(model->bn1->forward(y));
    nn::Sequential<float>* layers[4] = {model->layer1.get(), model->layer2.get(), model->layer3.get(),
                                        model->layer4.get()};
    for (std::size_t l = 0; l < 4; ++l)
        for (std::size_t b = 0; b < 2; ++b) {
            y = block_unfused(*layers[l]->at<nn::BasicBlock<float>>(b), y);
            check_same(cap.output("layer" + std::to_string(l + 1) + "." + std::to_string(b)), y, "block");
        }
    check_same(cap.output("fc"), plain, "fc");
    // the stem's relu runs once, fused with bn1, and its hook still fires (as in PyTorch)
    CHECK(cap.calls(10) == 1);
}

TEST_CASE("hooks: order, removal, get_submodule errors, no hook left behind by a bad name") {
    Generator gen(23);
    auto model = models::resnet18<float>(10, 8, gen);
    model->eval();
    NoGradGuard no_grad;
    std::vector<std::string> seen;
    auto& fc = model->get_submodule("fc");
    CHECK(&fc == model->fc.get());
    CHECK(&model->get_submodule("") == model.get());
    CHECK(&model->get_submodule("layer2.0.downsample.1") == model->layer2->at<nn::BasicBlock<float>>(0)->downsample->at<nn::BatchNorm2d<float>>(1).get());
    const auto h1 = fc.register_forward_hook([&](nn::Module<float>& m, const Tensor<float>& out) {
        seen.push_back(m.type_name() + std::to_string(out.shape()[1]));
    });
    fc.register_forward_hook([&](nn::Module<float>&, const Tensor<float>&) { seen.push_back("second"); });
    (*model)(Tensor<float>::zeros({1, 3, 32, 32}));
    CHECK(seen == std::vector<std::string>{"Linear10", "second"});
    CHECK(fc.remove_forward_hook(h1));
    CHECK_FALSE(fc.remove_forward_hook(h1));
    (*model)(Tensor<float>::zeros({1, 3, 32, 32}));
    CHECK(seen.size() == 3);

    CHECK_THROWS_WITH(model->get_submodule("layer1.7"), doctest::Contains("no child '7'"));
    CHECK_THROWS(nn::OutputCapture<float>(*model, {"conv1", "nope"}));
    CHECK_FALSE(model->conv1->has_forward_hooks());
}

TEST_CASE("a hooked (unfused) BatchNorm2d gives the same loss, gradients and running stats as the fused model") {
    Generator gen(24);
    auto a = models::vgg16_bn<float>(10, narrow_vgg(), gen);
    auto b = models::vgg16_bn<float>(10, narrow_vgg(), gen);
    b->copy_from(*a);
    const auto x = Tensor<float>::normal({4, 3, 32, 32}, 0, 1, gen);
    const std::vector<std::int64_t> t{1, 2, 3, 4};
    a->train();
    b->train();
    cross_entropy((*a)(x), t).backward();
    nn::OutputCapture<float> cap(*b, {"features.1", "features.4", "features.8"});  // every watched BN unfused
    cross_entropy((*b)(x), t).backward();
    const auto pa = a->named_parameters(), pb = b->named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].first);
        const auto ga = pa[i].second.grad(), gb = pb[i].second.grad();
        for (std::size_t j = 0; j < ga.numel(); ++j) REQUIRE(ga.data()[j] == doctest::Approx(gb.data()[j]).epsilon(1e-5));
    }
    const auto ba = a->named_buffers(), bb = b->named_buffers();
    for (std::size_t i = 0; i < ba.size(); ++i) check_same(ba[i].second, bb[i].second, ba[i].first);
    CHECK(a->features->at<nn::BatchNorm2d<float>>(1)->num_batches_tracked() == 1);
    CHECK(b->features->at<nn::BatchNorm2d<float>>(1)->num_batches_tracked() == 1);
}

TEST_CASE("ResNet-18: hooked (unfused) bn2 layers give the same loss, gradients and running stats as the fused blocks") {
    Generator gen(25);
    auto a = models::resnet18<float>(10, 8, gen);
    auto b = models::resnet18<float>(10, 8, gen);
    b->copy_from(*a);
    const auto x = Tensor<float>::normal({4, 3, 32, 32}, 0, 1, gen);
    const std::vector<std::int64_t> t{1, 2, 3, 4};
    a->train();
    b->train();
    const Tensor<float> la = cross_entropy((*a)(x), t);
    la.backward();
    // every block's bn2 watched: its block ends in bn2, add and relu one by one
    nn::OutputCapture<float> cap(*b, {"layer1.0.bn2", "layer1.1.bn2", "layer2.0.bn2", "layer2.1.bn2", "layer3.0.bn2",
                                      "layer3.1.bn2", "layer4.0.bn2", "layer4.1.bn2"});
    const Tensor<float> lb = cross_entropy((*b)(x), t);
    lb.backward();
    CHECK(la.item() == doctest::Approx(lb.item()).epsilon(1e-6));
    const auto pa = a->named_parameters(), pb = b->named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].first);
        const auto ga = pa[i].second.grad(), gb = pb[i].second.grad();
        REQUIRE(ga.defined());
        double worst = 0, scale = 1e-6;
        for (std::size_t j = 0; j < ga.numel(); ++j) {
            worst = std::max(worst, std::abs(double(ga.data()[j]) - double(gb.data()[j])));
            scale = std::max(scale, std::abs(double(gb.data()[j])));
        }
        CHECK(worst / scale < 1e-4);
    }
    const auto ba = a->named_buffers(), bb = b->named_buffers();
    for (std::size_t i = 0; i < ba.size(); ++i) check_same(ba[i].second, bb[i].second, ba[i].first);
    CHECK(a->layer1->at<nn::BasicBlock<float>>(0)->bn2->num_batches_tracked() == 1);
    CHECK(b->layer1->at<nn::BasicBlock<float>>(0)->bn2->num_batches_tracked() == 1);
    CHECK(a->layer1->at<nn::BasicBlock<float>>(0)->relu->has_forward_hooks() == false);
}

TEST_CASE("clone_model is a deep copy: same outputs, then independent") {
    Generator gen(25);
    auto original = models::make_model<float>("resnet18", 10, gen);
    original->eval();
    auto copy = models::clone_model<float>("resnet18", *original);
    CHECK_FALSE(copy->is_training());
    const auto x = Tensor<float>::normal({2, 3, 32, 32}, 0, 1, gen);
    Tensor<float> before;
    {
        NoGradGuard no_grad;
        before = (*original)(x);
        check_same((*copy)(x), before, "the copy computes the same logits");
    }
    // train the copy one step in train mode: the original's parameters, buffers and outputs stay
    const auto sd = original->state_dict();
    copy->train();
    cross_entropy((*copy)(x), {3, 5}).backward();
    for (auto& p : copy->parameters()) p.array() = xt::eval(p.array() - 0.1f * p.grad().array());
    for (const auto& [name, t] : original->named_parameters()) {
        INFO(name);
        const auto ref = sd.at(name).to_tensor<float>();
        CHECK(std::equal(t.data(), t.data() + t.numel(), ref.data()));
    }
    CHECK(dynamic_cast<models::ResNet<float>&>(*original).bn1->num_batches_tracked() == 0);
    CHECK(dynamic_cast<models::ResNet<float>&>(*copy).bn1->num_batches_tracked() == 1);
    NoGradGuard no_grad;
    check_same((*original)(x), before, "the original is unchanged");

    auto vgg = models::make_model<float>("vgg16_bn", 10, gen);
    CHECK_THROWS_WITH(copy->copy_from(*vgg), doctest::Contains("copy_from"));
}
