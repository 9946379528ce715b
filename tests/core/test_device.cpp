// SPDX-License-Identifier: MIT
// The device seam without a GPU: names, the CPU as the default device, and the errors a build or a
// machine without a CUDA backend gives (never a crash). The same file runs in the CUDA build's
// test_cuda (suite "seam"), where the expected errors depend on whether a GPU is present.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "salun/models.hpp"
#include "salun/ops.hpp"

using salun::Device;
using salun::Tensor;

namespace {
/// The message of the salun::Error `f` throws ("" if it throws none).
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

/// A handle that claims to live on `d` without any storage: enough to reach an op's device check,
/// which must come before any data access.
Tensor<float> fake_on(Device d, const salun::Shape& shape) {
    auto impl = std::make_shared<salun::TensorImpl<float>>();
    impl->device = d;
    impl->shape = shape;
    return Tensor<float>(impl);
}
}  // namespace

TEST_SUITE("seam") {

TEST_CASE("devices are named as in PyTorch and parsed back") {
    CHECK(std::string(salun::device_name(Device::cpu)) == "cpu");
    CHECK(std::string(salun::device_name(Device::cuda)) == "cuda");
    CHECK(salun::parse_device("cuda") == Device::cuda);
    CHECK(salun::parse_device("cpu") == Device::cpu);
    CHECK(error_of([] { salun::parse_device("gpu"); }).find("unknown device 'gpu'") != std::string::npos);
}

TEST_CASE("tensors and modules are on the CPU by default and .to(cpu) is the identity") {
    auto t = Tensor<float>::ones({2, 3});
    CHECK(t.device() == Device::cpu);
    CHECK_FALSE(t.is_cuda());
    CHECK(t.to(Device::cpu).same(t));
    CHECK(t.cpu().same(t));
    CHECK(t.device_data() == t.data());
    auto model = salun::models::make_model<float>("resnet18");
    CHECK(model->device() == Device::cpu);
    CHECK(salun::device_available(Device::cpu));
}

TEST_CASE("the host cannot read a device tensor: a clear error, not a crash") {
    const auto t = fake_on(Device::cuda, {2});
    const std::string msg = error_of([&] { (void)t.data(); });
    CHECK(msg.find("the tensor is on cuda") != std::string::npos);
    CHECK(msg.find(".cpu()") != std::string::npos);
}

TEST_CASE("mixing devices in one op names the op and both devices") {
    const auto a = Tensor<float>::ones({2, 2});
    const auto b = fake_on(Device::cuda, {2, 2});
    CHECK(error_of([&] { salun::add(a, b); }) ==
          "add: expected all tensors on one device, got cpu and cuda (move them with .to(device) first)");
    CHECK(error_of([&] { salun::matmul(b, a); }).find("matmul: expected all tensors on one device, got cuda and cpu") == 0);
    CHECK(error_of([&] { salun::linear(a, a, b.reshape({-1}).slice(0, 2)); }).find("linear: expected all tensors") == 0);
}

TEST_CASE("the device kernels take float32 only") {
    double x = 1;
    CHECK(error_of([&] { salun::kernels::device::relu_forward<double>(&x, &x, 1); })
              .find("relu_forward: the cuda backend computes in float32 only") == 0);
}

#if !defined(SALUN_WITH_CUDA)
TEST_CASE("without the CUDA backend every way onto cuda is a clear error") {
    const std::string hint = "salun was built without the cuda backend; configure with -DSALUN_BACKEND=cuda";
    auto t = Tensor<float>::ones({2});
    CHECK_FALSE(salun::backend_compiled(Device::cuda));
    CHECK_FALSE(salun::device_available(Device::cuda));
    CHECK(error_of([&] { t.to(Device::cuda); }).find("Tensor::to: " + hint) == 0);
    CHECK(error_of([&] { t.cuda(); }).find(hint) != std::string::npos);
    CHECK(error_of([] { Tensor<float>::empty({2}, Device::cuda); }).find("Tensor::empty: " + hint) == 0);
    CHECK(error_of([] { Tensor<float>::zeros({2}, Device::cuda); }).find(hint) != std::string::npos);
    auto model = salun::models::make_model<float>("vgg16_bn");
    CHECK(error_of([&] { model->to(Device::cuda); }).find("Module::to: " + hint) == 0);
    CHECK(model->device() == Device::cpu);  // nothing moved
    float x = 1;
    CHECK(error_of([&] { salun::kernels::device::relu_forward<float>(&x, &x, 1); }).find("relu_forward: " + hint) == 0);
}
#else
TEST_CASE("with the CUDA backend but no GPU, the errors say so; with a GPU the copy works") {
    CHECK(salun::backend_compiled(Device::cuda));
    auto t = Tensor<float>::ones({2});
    auto model = salun::models::make_model<float>("resnet18");
    if (!salun::device_available(Device::cuda)) {
        CHECK(error_of([&] { t.to(Device::cuda); }).find("Tensor::to: no CUDA device is available (") == 0);
        CHECK(error_of([&] { model->to(Device::cuda); }).find("Module::to: no CUDA device is available") == 0);
        CHECK(model->device() == Device::cpu);
    } else {
        CHECK(t.to(Device::cuda).to_vector() == t.to_vector());
        CHECK(model->to(Device::cuda).device() == Device::cuda);
    }
}
#endif

}  // TEST_SUITE
