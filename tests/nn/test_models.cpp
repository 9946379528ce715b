// SPDX-License-Identifier: MIT
// models::resnet18 and models::vgg16_bn against PyTorch: the real CIFAR-10 checkpoints load
// strictly, and narrow copies reproduce PyTorch's logits, loss, gradients and running statistics
// (fixtures written by tests/fixtures/gen_model_fixtures.py, reference computed in float64).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <fstream>

#include <nlohmann/json.hpp>

#include "salun/io/safetensors.hpp"
#include "salun/nn/hooks.hpp"
#include "salun/models.hpp"
#include "salun/ops/loss.hpp"

using namespace salun;

namespace {

// ../shared beside the checkout (tests/fixtures/../../../shared), where CI and developers have it.
const std::string kModelsDir = SALUN_FIXTURES_DIR "/../../../shared/models";
const std::size_t M = models::kMaxPool;

// Must match RESNET_WIDTH / VGG_WIDTHS in gen_model_fixtures.py.
const std::size_t kResNetWidth = 6;
const std::vector<std::size_t> kVggWidths{8, 8, M, 16, 16, M, 16, 16, 16, M, 32, 32, 32, M, 32, 32, 32, M};
// Must match CFG / PRE_LOGITS in gen_timm_vgg_fixtures.py (same features as kVggWidths).
const std::size_t kTimmPreLogits = 24;

double max_abs(const Tensor<float>& t) {
    double m = 0;
    for (float v : t) m = std::max(m, double(std::abs(v)));
    return m;
}

/// max |a - b| / max(max |ref|, floor): the error relative to the tensor's scale. `floor` is for
/// tensors that are zero in exact arithmetic (a conv bias followed by training-mode batch norm
/// gets gradient 0 plus rounding noise): they are measured against the model's gradient scale.
template <class T>
double scaled_error(const Tensor<T>& got, const Tensor<float>& ref, double floor = 0) {
    REQUIRE(got.shape() == ref.shape());
    double diff = 0;
    for (std::size_t i = 0; i < ref.numel(); ++i)
        diff = std::max(diff, std::abs(double(got.data()[i]) - double(ref.data()[i])));
    const double scale = std::max(max_abs(ref), floor);
    return scale > 0 ? diff / scale : diff;
}

/// Worst errors seen by a fixture comparison, reported once per model and dtype.
struct Worst {
    double logits = 0, loss = 0, grad = 0, stats = 0;
    std::string grad_at;
};

template <class T, class Model>
void compare_with_fixture(Model& model, const io::StateDict& fx, Worst& worst, double grad_tol) {
    io::StateDict state;
    for (const auto& [key, data] : fx)
        if (key.rfind("state.", 0) == 0) state.insert_or_assign(key.substr(6), data);
    const Tensor<T> x = fx.at("input").to_tensor<T>();
    const std::vector<std::int64_t> labels = fx.at("labels").to_int64();
    CHECK(model.state_dict().keys() == state.keys());  // PyTorch's state_dict() order, not just the same set

    for (const std::string mode : {"train", "eval"}) {
        INFO("mode ", mode);
        model.load_state_dict(state);  // the training forward moved the running statistics
        model.train(mode == "train");
        model.zero_grad();
        const Tensor<T> logits = model(x);
        const Tensor<T> loss = cross_entropy(logits, labels);
        loss.backward();

        const double e_logits = scaled_error(logits, fx.at(mode + ".logits").to_tensor<float>());
        const double e_loss = scaled_error(loss, fx.at(mode + ".loss").to_tensor<float>());
        CHECK(e_logits < 1e-5);
        CHECK(e_loss < 1e-5);
        worst.logits = std::max(worst.logits, e_logits);
        worst.loss = std::max(worst.loss, e_loss);

        double grad_scale = 0;
        for (const auto& [name, p] : model.named_parameters())
            grad_scale = std::max(grad_scale, max_abs(fx.at(mode + ".grad." + name).template to_tensor<float>()));
        std::size_t grads = 0;
        for (const auto& [name, p] : model.named_parameters()) {
            INFO("gradient of ", name);
            REQUIRE(p.grad().defined());
            const double e = scaled_error(p.grad(), fx.at(mode + ".grad." + name).template to_tensor<float>(),
                                          1e-3 * grad_scale);
            CHECK(e < grad_tol);
            if (e > worst.grad) {
                worst.grad = e;
                worst.grad_at = mode + " " + name;
            }
            ++grads;
        }
        const std::string prefix = mode + ".grad.";
        CHECK(grads == static_cast<std::size_t>(std::count_if(fx.begin(), fx.end(), [&](const auto& e) {
                  return e.first.rfind(prefix, 0) == 0;
              })));

        if (mode == "train") {
            for (const auto& [name, b] : model.named_buffers()) {
                INFO("buffer ", name);
                const double e = scaled_error(b, fx.at("train.after." + name).template to_tensor<float>());
                CHECK(e < 1e-5);
                worst.stats = std::max(worst.stats, e);
            }
            for (const auto& [name, count] : model.named_int64_buffers()) {
                INFO("buffer ", name);
                CHECK(count == fx.at("train.after." + name).to_int64()[0]);
                CHECK(count == state.at(name).to_int64()[0] + 1);
            }
        }
    }
}

void report(const std::string& what, const Worst& w) {
    MESSAGE(what, ": worst scaled error logits ", w.logits, ", loss ", w.loss, ", running stats ", w.stats,
            ", gradients ", w.grad, " (", w.grad_at, ")");
}

io::StateDict load_fixture(const std::string& name) {
    return io::load_safetensors(std::string(SALUN_FIXTURES_DIR) + "/" + name).tensors;
}

std::set<std::string> key_set(const io::StateDict& sd) {
    const auto k = sd.keys();
    return {k.begin(), k.end()};
}

template <class Model>
void check_checkpoint(Model& model, const std::string& file) {
    const std::string path = kModelsDir + "/" + file;
    if (!std::filesystem::exists(path)) {
        MESSAGE("skipped: ", path, " not found");
        return;
    }
    const auto ckpt = io::load_safetensors(path);
    model.load_state_dict(ckpt.tensors);  // strict
    const auto sd = model.state_dict();
    CHECK(sd.keys().size() == ckpt.tensors.size());
    CHECK(key_set(sd) == key_set(ckpt.tensors));
    CHECK(sd.keys() == ckpt.tensors.keys());  // the file was written in PyTorch's order
    // values arrived: compare a few entries (weights are F16 in the file)
    for (const auto& [key, data] : ckpt.tensors) {
        if (data.dtype == io::DType::I64) {
            CHECK(sd.at(key).to_int64() == data.to_int64());
            continue;
        }
        const auto want = data.template to_tensor<float>(), got = sd.at(key).template to_tensor<float>();
        REQUIRE(std::equal(want.begin(), want.end(), got.begin()));
    }
    // and the model runs on them: a CIFAR-sized batch gives finite logits in eval mode
    model.eval();
    NoGradGuard no_grad;
    Generator gen(11);
    const auto logits = model(Tensor<float>::normal({2, 3, 32, 32}, 0, 1, gen));
    CHECK(logits.shape() == Shape{2, 10});
    for (float v : logits) CHECK(std::isfinite(v));
}

}  // namespace

TEST_CASE("resnet18 has torchvision's parameter names, shapes and count") {
    Generator gen(1);
    auto net = models::resnet18<float>(10, 64, gen);
    std::size_t count = 0;
    for (const auto& p : net->parameters()) count += p.numel();
    CHECK(count == 11173962);  // sum(p.numel() for p in the CIFAR torchvision resnet18(num_classes=10))
    const auto sd = net->state_dict();
    CHECK(sd.size() == 122);
    CHECK(sd.keys().front() == "conv1.weight");
    CHECK(sd.keys().back() == "fc.bias");
    CHECK(sd.at("conv1.weight").shape == Shape{64, 3, 3, 3});
    CHECK(sd.at("layer2.0.downsample.0.weight").shape == Shape{128, 64, 1, 1});
    CHECK(sd.at("layer4.1.bn2.running_var").shape == Shape{512});
    CHECK(sd.at("fc.weight").shape == Shape{10, 512});
    CHECK_FALSE(sd.contains("layer1.0.downsample.0.weight"));
    CHECK_FALSE(sd.contains("conv1.bias"));

    auto narrow = models::resnet18<float>(10, 8, gen);
    CHECK(narrow->state_dict().at("layer4.1.conv2.weight").shape == Shape{64, 64, 3, 3});
    Generator g2(2);
    CHECK((*narrow)(Tensor<float>::normal({2, 3, 32, 32}, 0, 1, g2)).shape() == Shape{2, 10});
}

TEST_CASE("vgg16_bn has timm's layout: features.{i} with max-pools counted, head.fc") {
    Generator gen(1);
    auto net = models::vgg16_bn<float>(10, models::vgg16_widths(), gen);
    const auto sd = net->state_dict();
    CHECK(sd.size() == 13 * 7 + 2);
    CHECK(sd.keys().front() == "features.0.weight");
    CHECK(sd.at("features.0.bias").shape == Shape{64});
    CHECK(sd.at("features.1.num_batches_tracked").dtype == io::DType::I64);
    CHECK(sd.at("features.7.weight").shape == Shape{128, 64, 3, 3});  // 3..5 conv-bn-relu, 6 max-pool
    CHECK(sd.at("features.41.running_mean").shape == Shape{512});
    CHECK(sd.at("head.fc.weight").shape == Shape{10, 512});
    CHECK(sd.keys().back() == "head.fc.bias");
    CHECK(net->features->size() == 44);
    std::size_t count = 0;
    for (const auto& p : net->parameters()) count += p.numel();
    CHECK(count == 14728266);
}

TEST_CASE("the CIFAR-10 ResNet-18 checkpoint loads strictly, key for key") {
    Generator gen(3);
    auto net = models::resnet18<float>(10, 64, gen);
    check_checkpoint(*net, "resnet18_cifar10.safetensors");
}

TEST_CASE("the CIFAR-10 VGG-16-BN checkpoint loads strictly, key for key") {
    Generator gen(4);
    auto net = models::vgg16_bn<float>(10, models::vgg16_widths(), gen);
    check_checkpoint(*net, "vgg16_bn_cifar10.safetensors");
}

TEST_CASE("narrow resnet18 reproduces PyTorch: logits, loss, gradients, running stats (train and eval)") {
    const auto fx = load_fixture("model_resnet_narrow.safetensors");
    Generator gen(5);
    {
        auto net = models::resnet18<float>(10, kResNetWidth, gen);
        Worst w;
        compare_with_fixture<float>(*net, fx, w, 1e-4);
        report("resnet18 narrow, float", w);
    }
    {
        auto net = models::resnet18<double>(10, kResNetWidth, gen);
        Worst w;
        compare_with_fixture<double>(*net, fx, w, 1e-5);
        report("resnet18 narrow, double", w);
    }
}

TEST_CASE("narrow vgg16_bn reproduces PyTorch: logits, loss, gradients, running stats (train and eval)") {
    const auto fx = load_fixture("model_vgg_narrow.safetensors");
    Generator gen(6);
    {
        auto net = models::vgg16_bn<float>(10, kVggWidths, gen);
        Worst w;
        compare_with_fixture<float>(*net, fx, w, 1e-4);
        report("vgg16_bn narrow, float", w);
    }
    {
        auto net = models::vgg16_bn<double>(10, kVggWidths, gen);
        Worst w;
        compare_with_fixture<double>(*net, fx, w, 1e-5);
        report("vgg16_bn narrow, double", w);
    }
}

TEST_CASE("state_dict -> save_safetensors -> load -> load_state_dict gives identical outputs") {
    Generator gen(7);
    auto a = models::resnet18<float>(10, 4, gen), b = models::resnet18<float>(10, 4, gen);
    const auto x = Tensor<float>::normal({2, 3, 32, 32}, 0, 1, gen);
    (*a)(x);  // one training step's forward moves the running stats and counters
    a->eval();
    b->eval();
    const std::string path = std::string(SALUN_TEST_TMP_DIR) + "/nn_roundtrip.safetensors";
    std::filesystem::create_directories(SALUN_TEST_TMP_DIR);
    io::save_safetensors(path, a->state_dict(), {{"arch", "resnet18"}});
    const auto loaded = io::load_safetensors(path);
    CHECK(loaded.metadata.at("arch") == "resnet18");
    CHECK(loaded.tensors.keys() == a->state_dict().keys());
    b->load_state_dict(loaded.tensors);
    CHECK(b->state_dict() == a->state_dict());
    CHECK(b->bn1->num_batches_tracked() == 1);
    const auto ya = (*a)(x), yb = (*b)(x);
    CHECK(ya.to_vector() == yb.to_vector());

    auto v1 = models::vgg16_bn<float>(10, kVggWidths, gen), v2 = models::vgg16_bn<float>(10, kVggWidths, gen);
    v1->eval();
    v2->eval();
    io::save_safetensors(path, v1->state_dict());
    v2->load_state_dict(io::load_safetensors(path).tensors);
    CHECK((*v1)(x).to_vector() == (*v2)(x).to_vector());
}

TEST_CASE("vgg16_bn_timm has timm's vgg16_bn layout: keys in order, shapes, 134,309,962 parameters") {
    // tests/fixtures/timm_vgg16_bn_layout.json: timm.create_model("vgg16_bn", num_classes=10).state_dict()
    std::ifstream in(std::string(SALUN_FIXTURES_DIR) + "/timm_vgg16_bn_layout.json");
    REQUIRE(in);
    const auto timm = nlohmann::json::parse(in);
    Generator gen(9);
    auto net = models::vgg16_bn_timm<float>(10, models::vgg16_widths(), models::kTimmPreLogits, gen);
    std::size_t count = 0;
    for (const auto& p : net->parameters()) count += p.numel();
    CHECK(count == timm.at("parameters").get<std::size_t>());
    const auto sd = net->state_dict();
    const auto& keys = timm.at("keys");
    REQUIRE(sd.size() == keys.size());
    std::size_t i = 0;
    for (const auto& [key, data] : sd) {
        INFO("entry ", i, ": ", key);
        CHECK(key == keys[i][0].get<std::string>());
        CHECK(data.shape == keys[i][1].get<Shape>());
        ++i;
    }
}

TEST_CASE("narrow vgg16_bn_timm reproduces timm: logits, loss, gradients, running stats (train and eval)") {
    const auto fx = load_fixture("model_vgg_timm_narrow.safetensors");  // gen_timm_vgg_fixtures.py
    Generator gen(10);
    {
        auto net = models::vgg16_bn_timm<float>(10, kVggWidths, kTimmPreLogits, gen);
        Worst w;
        compare_with_fixture<float>(*net, fx, w, 1e-4);
        report("vgg16_bn_timm narrow, float", w);
    }
    {
        auto net = models::vgg16_bn_timm<double>(10, kVggWidths, kTimmPreLogits, gen);
        Worst w;
        compare_with_fixture<double>(*net, fx, w, 1e-5);
        report("vgg16_bn_timm narrow, double", w);
    }
}

TEST_CASE("vgg16_bn_timm's pre_logits output is the 2-D features the points field embeds") {
    Generator gen(12);
    auto net = models::vgg16_bn_timm<float>(10, kVggWidths, kTimmPreLogits, gen);
    net->eval();
    NoGradGuard no_grad;
    nn::OutputCapture<float> cap(*net, {"pre_logits", "pre_logits.fc1", "head.fc"});
    const auto logits = (*net)(Tensor<float>::normal({3, 3, 32, 32}, 0, 1, gen));
    CHECK(logits.shape() == Shape{3, 10});
    CHECK(cap.output("pre_logits").shape() == Shape{3, kTimmPreLogits, 1, 1});  // 1x1 map pooled up to 7x7, then the 7x7 conv
    CHECK(cap.output("pre_logits.fc1").shape() == Shape{3, kTimmPreLogits, 1, 1});
    for (float v : cap.output("pre_logits")) CHECK(v >= 0.0f);  // act2 is a ReLU
    // a feature map of 7x7 or more is not pooled: 224x224 input -> 7x7 map -> 1x1
    CHECK((*net)(Tensor<float>::normal({1, 3, 224, 224}, 0, 1, gen)).shape() == Shape{1, 10});
}

TEST_CASE("make_model builds the architectures by name") {
    CHECK(models::architectures() == std::vector<std::string>{"resnet18", "vgg16_bn", "vgg16_bn_timm"});
    CHECK(models::display_name("vgg16_bn") == "VGG-16-BN");
    CHECK(models::display_name("vgg16_bn_timm") == "VGG-16-BN");
    Generator gen(8);
    auto r = models::make_model<float>("resnet18", 10, gen);
    CHECK(r->type_name() == "ResNet");
    CHECK(r->state_dict().size() == 122);
    CHECK(models::make_model<float>("vgg16_bn", 10, gen)->type_name() == "VGG");
    try {
        models::make_model<float>("resnet50");
        FAIL("no error");
    } catch (const salun::Error& e) {
        CHECK(std::string(e.what()).find("resnet50") != std::string::npos);
    }
}
