// SPDX-License-Identifier: MIT
// The layers of a CNN as Modules: Conv2d, BatchNorm2d, Linear, ReLU, MaxPool2d,
// AdaptiveAvgPool2d, Flatten, Identity, Dropout. Each is a thin owner of parameters around one
// differentiable op (ops/), with PyTorch's names, defaults and initialisation.
//
// Every declaration carries its contract (dlib style):
//   input   the shape forward() accepts
//   output  the shape it returns
//   backward what gradients the autograd graph delivers
//   PyTorch the equivalent torch.nn class (same state-dict entries)
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "salun/nn/init.hpp"
#include "salun/nn/module.hpp"
#include "salun/ops/activation.hpp"
#include "salun/ops/arithmetic.hpp"
#include "salun/ops/batch_norm.hpp"
#include "salun/ops/conv.hpp"
#include "salun/ops/linear.hpp"
#include "salun/ops/pool.hpp"
#include "salun/ops/shape.hpp"

namespace salun::nn {

/// 2-D convolution, square kernel, zero padding, groups = 1, dilation = 1.
///   input   [N, in_channels, H, W]
///   output  [N, out_channels, OH, OW], OH = (H + 2*padding - kernel) / stride + 1 (same for OW)
///   backward d/d input, d/d weight [out, in, k, k] and d/d bias [out] (if bias)
///   state   weight [out, in, k, k], bias [out] (only when bias = true)
///   init    weight kaiming_uniform(a = sqrt(5)); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in*k*k
///   PyTorch torch.nn.Conv2d(in, out, kernel, stride, padding, bias=bias)
template <class T>
class Conv2d : public Module<T> {
public:
    Conv2d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel_size, std::size_t stride = 1,
           std::size_t padding = 0, bool bias = true, Generator& gen = default_generator())
        : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size), stride(stride),
          padding(padding) {
        SALUN_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0,
                    "Conv2d: channels, kernel and stride must be positive (got in ", in_channels, ", out ",
                    out_channels, ", kernel ", kernel_size, ", stride ", stride, ")");
        weight = this->register_parameter("weight",
                                          Tensor<T>::empty({out_channels, in_channels, kernel_size, kernel_size}));
        init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
        if (bias) {
            const double b = 1.0 / std::sqrt(static_cast<double>(in_channels * kernel_size * kernel_size));
            this->bias = this->register_parameter("bias", Tensor<T>::uniform({out_channels}, -b, b, gen));
        }
    }
    Tensor<T> forward(const Tensor<T>& x) override { return conv2d(x, weight, bias, stride, padding); }
    std::string type_name() const override { return "Conv2d"; }

    const std::size_t in_channels, out_channels, kernel_size, stride, padding;
    Tensor<T> weight;
    Tensor<T> bias;  // undefined when constructed with bias = false
};

/// Batch normalisation over the channels of an image batch.
///   input   [N, C, H, W] (N*H*W > 1 in training mode)
///   output  [N, C, H, W]: (x - mean) / sqrt(var + eps) * weight + bias
///   train   mean and biased var of the batch per channel; running_mean / running_var move by
///           `momentum` towards the batch mean and the *unbiased* batch var; num_batches_tracked += 1
///   eval    running_mean / running_var instead of batch statistics (buffers untouched)
///   backward d/d input (through the batch statistics in training), d/d weight, d/d bias
///   state   weight [C] (1), bias [C] (0), running_mean [C] (0), running_var [C] (1),
///           num_batches_tracked (int64 scalar, shape [])
///   PyTorch torch.nn.BatchNorm2d(C, eps, momentum)
template <class T>
class BatchNorm2d : public Module<T> {
public:
    explicit BatchNorm2d(std::size_t num_features, double eps = 1e-5, double momentum = 0.1)
        : num_features(num_features), eps(eps), momentum(momentum) {
        SALUN_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive");
        weight = this->register_parameter("weight", Tensor<T>::ones({num_features}));
        bias = this->register_parameter("bias", Tensor<T>::zeros({num_features}));
        running_mean = this->register_buffer("running_mean", Tensor<T>::zeros({num_features}));
        running_var = this->register_buffer("running_var", Tensor<T>::ones({num_features}));
        batches_ = this->register_int64_buffer("num_batches_tracked", 0);
    }
    Tensor<T> forward(const Tensor<T>& x) override {
        SALUN_CHECK(x.dim() == 4 && x.shape()[1] == num_features, "BatchNorm2d(", num_features,
                    "): need input [N, ", num_features, ", H, W], got ", shape_str(x.shape()));
        if (this->is_training()) ++*batches_;
        return batch_norm(x, running_mean, running_var, weight, bias, this->is_training(), momentum, eps);
    }
    /// relu(forward(x)) as one fused op (batch_norm_relu): same values and gradients, one pass and
    /// one stored activation less. Sequential and BasicBlock call it for BatchNorm2d -> ReLU.
    Tensor<T> forward_relu(const Tensor<T>& x) {
        SALUN_CHECK(x.dim() == 4 && x.shape()[1] == num_features, "BatchNorm2d(", num_features,
                    "): need input [N, ", num_features, ", H, W], got ", shape_str(x.shape()));
        if (this->is_training()) ++*batches_;
        return batch_norm_relu(x, running_mean, running_var, weight, bias, this->is_training(), momentum, eps);
    }
    /// relu(forward(x) + residual) as one fused op (batch_norm_add_relu): same values and
    /// gradients as the three ops, one pass. BasicBlock calls it for its output.
    Tensor<T> forward_add_relu(const Tensor<T>& x, const Tensor<T>& residual) {
        SALUN_CHECK(x.dim() == 4 && x.shape()[1] == num_features, "BatchNorm2d(", num_features,
                    "): need input [N, ", num_features, ", H, W], got ", shape_str(x.shape()));
        if (this->is_training()) ++*batches_;
        return batch_norm_add_relu(x, running_mean, running_var, weight, bias, residual, this->is_training(), momentum,
                                   eps);
    }
    std::string type_name() const override { return "BatchNorm2d"; }

    std::int64_t num_batches_tracked() const { return *batches_; }

    const std::size_t num_features;
    const double eps, momentum;
    Tensor<T> weight, bias, running_mean, running_var;

private:
    std::shared_ptr<std::int64_t> batches_;
};

/// Fully connected layer y = x weight^T + bias.
///   input   [N, in_features]
///   output  [N, out_features]
///   backward d/d input, d/d weight [out, in], d/d bias [out] (if bias)
///   init    weight kaiming_uniform(a = sqrt(5)); bias U(-1/sqrt(in), 1/sqrt(in))
///   PyTorch torch.nn.Linear(in, out, bias=bias)
template <class T>
class Linear : public Module<T> {
public:
    Linear(std::size_t in_features, std::size_t out_features, bool bias = true, Generator& gen = default_generator())
        : in_features(in_features), out_features(out_features) {
        SALUN_CHECK(in_features > 0 && out_features > 0, "Linear: feature counts must be positive (got ", in_features,
                    " -> ", out_features, ")");
        weight = this->register_parameter("weight", Tensor<T>::empty({out_features, in_features}));
        init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::FanIn, init::Nonlinearity::LeakyReLU, gen);
        if (bias) {
            const double b = 1.0 / std::sqrt(static_cast<double>(in_features));
            this->bias = this->register_parameter("bias", Tensor<T>::uniform({out_features}, -b, b, gen));
        }
    }
    Tensor<T> forward(const Tensor<T>& x) override { return linear(x, weight, bias); }
    std::string type_name() const override { return "Linear"; }

    const std::size_t in_features, out_features;
    Tensor<T> weight;
    Tensor<T> bias;  // undefined when constructed with bias = false
};

/// max(x, 0) elementwise.
///   input   any shape;  output  the same shape
///   backward g where the output is positive, 0 elsewhere
///   PyTorch torch.nn.ReLU() (never in place here)
template <class T>
class ReLU : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override { return relu(x); }
    std::string type_name() const override { return "ReLU"; }
};

/// Max over k x k windows; padding counts as -inf.
///   input   [N, C, H, W]
///   output  [N, C, OH, OW], OH = (H + 2*padding - k) / stride + 1
///   backward routes each output gradient to the (first) maximum of its window
///   PyTorch torch.nn.MaxPool2d(k, stride, padding); stride 0 means stride = k (PyTorch's default)
template <class T>
class MaxPool2d : public Module<T> {
public:
    explicit MaxPool2d(std::size_t kernel_size, std::size_t stride = 0, std::size_t padding = 0)
        : kernel_size(kernel_size), stride(stride ? stride : kernel_size), padding(padding) {}
    Tensor<T> forward(const Tensor<T>& x) override { return max_pool2d(x, kernel_size, stride, padding); }
    std::string type_name() const override { return "MaxPool2d"; }

    const std::size_t kernel_size, stride, padding;
};

/// Average over PyTorch's adaptive windows so that the output has a fixed spatial size.
///   input   [N, C, H, W]
///   output  [N, C, out_h, out_w] (1 x 1: global average pooling)
///   backward spreads each output gradient evenly over its window
///   PyTorch torch.nn.AdaptiveAvgPool2d((out_h, out_w))
template <class T>
class AdaptiveAvgPool2d : public Module<T> {
public:
    explicit AdaptiveAvgPool2d(std::size_t out_h = 1, std::size_t out_w = 1) : out_h(out_h), out_w(out_w) {}
    Tensor<T> forward(const Tensor<T>& x) override { return adaptive_avg_pool2d(x, out_h, out_w); }
    std::string type_name() const override { return "AdaptiveAvgPool2d"; }

    const std::size_t out_h, out_w;
};

/// Collapses dims start_dim.. into one (a view, no copy).
///   input   [N, d1, d2, ...];  output [N, d1*d2*...] for start_dim = 1
///   backward the gradient viewed back in the input's shape
///   PyTorch torch.nn.Flatten(start_dim) (end_dim = -1)
template <class T>
class Flatten : public Module<T> {
public:
    explicit Flatten(std::size_t start_dim = 1) : start_dim(start_dim) {}
    Tensor<T> forward(const Tensor<T>& x) override { return flatten(x, start_dim); }
    std::string type_name() const override { return "Flatten"; }

    const std::size_t start_dim;
};

/// Returns its input unchanged (a placeholder, e.g. for a removed max-pool).
///   input   any shape;  output the same tensor;  backward passes the gradient through
///   PyTorch torch.nn.Identity()
template <class T>
class Identity : public Module<T> {
public:
    Tensor<T> forward(const Tensor<T>& x) override { return x; }
    std::string type_name() const override { return "Identity"; }
};

/// Zeroes each element with probability p in training mode and scales the rest by 1/(1-p);
/// the identity in eval mode. The mask comes from the layer's Generator (not PyTorch's stream).
///   input   any shape;  output the same shape
///   backward g * mask / (1 - p) (training), g (eval)
///   PyTorch torch.nn.Dropout(p)
template <class T>
class Dropout : public Module<T> {
public:
    explicit Dropout(double p = 0.5, Generator& gen = default_generator()) : p(p), gen_(&gen) {
        SALUN_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got ", p);
    }
    Tensor<T> forward(const Tensor<T>& x) override {
        if (!this->is_training() || p == 0.0) return x;
        const T keep_scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
        Tensor<T> mask = Tensor<T>::empty(x.shape());
        for (T& m : mask) m = gen_->uniform01() < p ? T(0) : keep_scale;
        return mul(x, mask);
    }
    std::string type_name() const override { return "Dropout"; }

    const double p;

private:
    Generator* gen_;
};

}  // namespace salun::nn
