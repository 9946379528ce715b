// SPDX-License-Identifier: MIT
// Every op the models, the optimiser and SalUn use, forward and backward, on CUDA against the CPU
// backend from the same inputs. Tolerances (scaled errors, tests/cuda/compare.hpp):
//   element-wise, views, copies          1e-6 (the same float operations)
//   reductions, softmax, cross-entropy   1e-5 (double accumulation on both, other order)
//   GEMM, convolution (FP32, no TF32)    1e-4 (other summation order over K)
//   batch norm                           1e-4 forward, 1e-3 backward (cuDNN's formulation)
#include <doctest/doctest.h>

#include "compare.hpp"

using namespace salun;
using namespace salun::testing;

TEST_CASE("copies between devices keep the values and the gradient flows back") {
    const TensorF x = randn({3, 5}, 1);
    const TensorF d = x.to(Device::cuda);
    CHECK(d.is_cuda());
    CHECK(d.to_vector() == x.to_vector());
    CHECK(d.cpu().to_vector() == x.to_vector());
    CHECK(d.clone().to_vector() == x.to_vector());
    CHECK(TensorF::full({4}, 2.5f, Device::cuda).to_vector() == std::vector<float>(4, 2.5f));
    CHECK(TensorF::zeros({2, 2}, Device::cuda).to_vector() == std::vector<float>(4, 0.0f));
    check_op("to(cuda) then cpu()", [](const auto& in) { return (in[0] * 2.0f).cpu().to(Device::cuda); }, {x}, 1e-6);
    check_op("item", [](const auto& in) { return sum(in[0]); }, {x}, 1e-5);
}

TEST_CASE("element-wise ops") {
    const TensorF a = randn({4, 33}, 2), b = randn({4, 33}, 3), pos = randn({4, 33}, 4) * 0.1f + 2.0f;
    check_op("relu", [](const auto& in) { return relu(in[0]); }, {a}, 1e-6);
    check_op("add", [](const auto& in) { return in[0] + in[1]; }, {a, b}, 1e-6);
    check_op("sub", [](const auto& in) { return in[0] - in[1]; }, {a, b}, 1e-6);
    check_op("mul", [](const auto& in) { return in[0] * in[1]; }, {a, b}, 1e-6);
    check_op("div", [](const auto& in) { return in[0] / in[1]; }, {a, pos}, 1e-6, 1e-5);
    check_op("affine", [](const auto& in) { return in[0] * 3.0f - 1.0f; }, {a}, 1e-6);
    check_op("neg", [](const auto& in) { return -in[0]; }, {a}, 1e-6);
    check_op("a used twice", [](const auto& in) { return in[0] * in[0] + in[0]; }, {a}, 1e-6);
}

TEST_CASE("views: reshape, flatten, slice") {
    const TensorF x = randn({6, 2, 3, 3}, 5);
    check_op("reshape", [](const auto& in) { return relu(in[0].reshape({6, -1})); }, {x}, 1e-6);
    check_op("flatten", [](const auto& in) { return in[0].flatten(1) * 2.0f; }, {x}, 1e-6);
    check_op("slice", [](const auto& in) { return in[0].slice(2, 5) * 2.0f; }, {x}, 1e-6);
}

TEST_CASE("reductions, softmax, log_softmax, cross_entropy") {
    const TensorF x = randn({16, 10}, 6, 3.0);
    check_op("sum", [](const auto& in) { return sum(in[0]); }, {x}, 1e-5);
    check_op("mean", [](const auto& in) { return mean(in[0]); }, {x}, 1e-5);
    check_op("softmax", [](const auto& in) { return softmax(in[0], 1); }, {x}, 1e-5);
    check_op("log_softmax", [](const auto& in) { return log_softmax(in[0], 1); }, {x}, 1e-5);
    const std::vector<std::int64_t> t{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5};
    check_op("cross_entropy", [&](const auto& in) { return cross_entropy(in[0], t); }, {x}, 1e-5);
    check_op("cross_entropy * 3", [&](const auto& in) { return cross_entropy(in[0], t) * 3.0f; }, {x}, 1e-5);
}

TEST_CASE("matmul and linear on cuBLAS") {
    const TensorF a = randn({7, 300}, 7), b = randn({300, 5}, 8);
    check_op("matmul", [](const auto& in) { return matmul(in[0], in[1]); }, {a, b}, 1e-4);
    const TensorF x = randn({9, 512}, 9), w = randn({10, 512}, 10, 0.05), bias = randn({10}, 11);
    check_op("linear", [](const auto& in) { return linear(in[0], in[1], in[2]); }, {x, w, bias}, 1e-4);
    check_op("linear without bias", [](const auto& in) { return linear(in[0], in[1]); }, {x, w}, 1e-4);
}

TEST_CASE("conv2d on cuDNN: the shapes of ResNet-18 and VGG-16") {
    struct Case {
        std::size_t N, C, H, OC, K, stride, pad;
        bool bias;
    };
    for (const Case& c : {Case{2, 3, 32, 16, 3, 1, 1, false}, Case{2, 16, 16, 32, 3, 2, 1, false},
                          Case{2, 16, 16, 32, 1, 2, 0, false}, Case{3, 8, 8, 8, 3, 1, 1, true}}) {
        const TensorF x = randn({c.N, c.C, c.H, c.H}, 12), w = randn({c.OC, c.C, c.K, c.K}, 13, 0.2);
        const std::string what = "conv2d C=" + std::to_string(c.C) + " OC=" + std::to_string(c.OC) + " k=" +
                                 std::to_string(c.K) + " s=" + std::to_string(c.stride);
        if (c.bias)
            check_op(what, [&](const auto& in) { return conv2d(in[0], in[1], in[2], c.stride, c.pad); },
                     {x, w, randn({c.OC}, 14)}, 1e-4);
        else
            check_op(what, [&](const auto& in) { return conv2d(in[0], in[1], TensorF(), c.stride, c.pad); }, {x, w},
                     1e-4);
    }
}

TEST_CASE("pooling: max_pool2d (ties after a ReLU) and adaptive_avg_pool2d") {
    const TensorF x = randn({2, 3, 8, 8}, 15);
    check_op("max_pool2d 2x2", [](const auto& in) { return max_pool2d(in[0], 2); }, {x}, 1e-6);
    check_op("max_pool2d of relu (tied zeros)", [](const auto& in) { return max_pool2d(relu(in[0]), 2); }, {x}, 1e-6);
    check_op("max_pool2d 3x3 s2 p1", [](const auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {x}, 1e-6);
    check_op("adaptive_avg_pool2d 1x1", [](const auto& in) { return adaptive_avg_pool2d(in[0], 1, 1); }, {x}, 1e-6);
    check_op("adaptive_avg_pool2d 3x3", [](const auto& in) { return adaptive_avg_pool2d(in[0], 3, 3); }, {x}, 1e-6);
}

TEST_CASE("batch norm on cuDNN: train and eval, with and without ReLU, running statistics") {
    const TensorF x = randn({4, 6, 5, 5}, 16, 2.0), gamma = randn({6}, 17), beta = randn({6}, 18);
    for (bool fused : {false, true}) {
        // training: batch statistics; the running ones move with the unbiased variance
        TensorF rm_c = randn({6}, 19), rv_c = randn({6}, 20) * 0.1f + 1.0f;
        TensorF rm_g = rm_c.to(Device::cuda), rv_g = rv_c.to(Device::cuda);
        auto op = [fused](TensorF rm, TensorF rv, bool training) {
            return [=](const std::vector<TensorF>& in) {
                return fused ? batch_norm_relu(in[0], rm, rv, in[1], in[2], training, 0.1, 1e-5)
                          : batch_norm(in[0], rm, rv, in[1], in[2], training, 0.1, 1e-5);
            };
        };
        std::vector<TensorF> c{x.clone().set_requires_grad(true), gamma.clone().set_requires_grad(true),
                               beta.clone().set_requires_grad(true)};
        std::vector<TensorF> g{x.to(Device::cuda).set_requires_grad(true), gamma.to(Device::cuda).set_requires_grad(true),
                               beta.to(Device::cuda).set_requires_grad(true)};
        const TensorF oc = op(rm_c, rv_c, true)(c), og = op(rm_g, rv_g, true)(g);
        check_close(og, oc, 1e-4, fused ? "batch_norm_relu train forward" : "batch_norm train forward");
        check_close(rm_g, rm_c, 1e-5, "running_mean");
        check_close(rv_g, rv_c, 1e-5, "running_var (unbiased)");
        const TensorF w = randn(oc.shape(), 21);
        oc.backward(w);
        og.backward(w.to(Device::cuda));
        for (std::size_t k = 0; k < 3; ++k) check_close(g[k].grad(), c[k].grad(), 1e-3, "train grad " + std::to_string(k));
        // eval: running statistics (each device its own copy), constants for the backward pass
        const auto eval_c = op(rm_c, rv_c, false), eval_g = op(rm_g, rv_g, false);
        check_op(fused ? "batch_norm_relu eval" : "batch_norm eval",
                 [=](const std::vector<TensorF>& in) { return in[0].is_cuda() ? eval_g(in) : eval_c(in); },
                 {x, gamma, beta}, 1e-4, 1e-3);
    }
    // relu(batch_norm + residual), ResNet's fused block output: train and eval, the residual's
    // gradient included
    const TensorF r = randn(x.shape(), 23);
    for (bool training : {true, false}) {
        const TensorF rm_c = randn({6}, 24), rv_c = randn({6}, 25) * 0.1f + 1.0f;
        const TensorF rm_g = rm_c.to(Device::cuda), rv_g = rv_c.to(Device::cuda);
        check_op(training ? "batch_norm_add_relu train" : "batch_norm_add_relu eval",
                 [=](const std::vector<TensorF>& in) {
                     const bool cuda = in[0].is_cuda();
                     // training updates the running tensors: each call its own copy
                     return batch_norm_add_relu(in[0], (cuda ? rm_g : rm_c).clone(), (cuda ? rv_g : rv_c).clone(),
                                                in[1], in[2], in[3], training, 0.1, 1e-5);
                 },
                 {x, gamma, beta, r}, 1e-4, 1e-3);
    }
    // [N,C] input (BatchNorm1d), and no affine parameters
    const TensorF x2 = randn({8, 5}, 22);
    check_op("batch_norm [N,C] without affine",
             [](const auto& in) { return batch_norm(in[0], TensorF(), TensorF(), TensorF(), TensorF(), true); }, {x2}, 1e-4,
             1e-3);
}

TEST_CASE("ops refuse a mix of devices and the ops with no CUDA kernel, clearly") {
    const TensorF a = randn({2, 2}, 23), b = a.to(Device::cuda);
    CHECK_THROWS_WITH(add(a, b), "add: expected all tensors on one device, got cpu and cuda (move them with .to(device) first)");
    CHECK_THROWS_WITH(avg_pool2d(randn({1, 1, 4, 4}, 24).to(Device::cuda), 2),
                      "avg_pool2d: not implemented on cuda yet (move the tensors to the CPU with .cpu())");
    CHECK_THROWS_WITH((void)b.data(), doctest::Contains("the tensor is on cuda"));
    CHECK_THROWS_WITH(b + randn({2}, 25).to(Device::cuda), doctest::Contains("broadcasting"));
    const Tensor<double> d = Tensor<double>::ones({2});
    CHECK_THROWS_WITH(d.to(Device::cuda) * 2.0, doctest::Contains("float32 only"));
}
