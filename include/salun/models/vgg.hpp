// SPDX-License-Identifier: MIT
// salun::models::vgg16_bn: VGG-16 with batch norm in timm's layout, as the CIFAR-10 checkpoints
// store it:
//   features.{i}.*  where i counts the sequence conv, bn, relu, conv, bn, relu, maxpool, ...
//                   (convs 3x3 pad 1 with bias; max-pools take an index but hold no parameters)
//   pre_logits.fc1.*, pre_logits.fc2.*   only in vgg16_bn_timm (timm's ConvMlp, see below)
//   head.fc.{weight,bias}
// Two variants share the class:
//   vgg16_bn       the CIFAR layout of the shared checkpoint: no pre_logits, global average pooling
//                  feeds head.fc (512 -> 10), 14.7 M parameters;
//   vgg16_bn_timm  timm.create_model("vgg16_bn", num_classes=10), the reference notebook's model:
//                  pre_logits (7x7 conv 512 -> 4096, 1x1 conv 4096 -> 4096) then head.fc
//                  (4096 -> 10), 134.3 M parameters.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "salun/nn/layers.hpp"
#include "salun/ops/pool.hpp"
#include "salun/nn/sequential.hpp"

namespace salun::models {

/// In a VGG configuration, marks a 2x2 stride-2 max-pool instead of a conv width.
inline constexpr std::size_t kMaxPool = 0;

/// VGG-16's configuration "D": 13 convs, 5 max-pools.
inline std::vector<std::size_t> vgg16_widths() {
    const std::size_t M = kMaxPool;
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
}

/// timm's ClassifierHead: global average pool, flatten, fc.
///   input   [N, C, H, W];  output [N, num_classes]
///   state   fc.weight [num_classes, C], fc.bias [num_classes]
template <class T>
class ClassifierHead : public nn::Module<T> {
public:
    ClassifierHead(std::size_t in_features, std::size_t num_classes, Generator& gen = default_generator()) {
        global_pool = this->register_module("global_pool", std::make_shared<nn::AdaptiveAvgPool2d<T>>(1, 1));
        fc = this->register_module("fc", std::make_shared<nn::Linear<T>>(in_features, num_classes, true, gen));
        flatten = this->register_module("flatten", std::make_shared<nn::Flatten<T>>(1));
    }
    Tensor<T> forward(const Tensor<T>& x) override { return (*fc)((*flatten)((*global_pool)(x))); }  // hooks fire
    std::string type_name() const override { return "ClassifierHead"; }

    std::shared_ptr<nn::AdaptiveAvgPool2d<T>> global_pool;
    std::shared_ptr<nn::Linear<T>> fc;
    std::shared_ptr<nn::Flatten<T>> flatten;
};

/// timm's ConvMlp, VGG's pre_logits: the classifier's two fully connected layers as convolutions.
///   input   [N, C, H, W]; H or W below 7 is first average-pooled *up* to 7 (adaptive average
///           pooling to max(7, H) x max(7, W)), as timm does so that a CIFAR 1x1 map still meets a
///           7x7 kernel: every cell of the 7x7 map then holds the one input pixel
///   output  [N, hidden, max(7,H) - 6, max(7,W) - 6] (CIFAR: [N, hidden, 1, 1])
///   layout  fc1 Conv2d(C, hidden, 7, bias) - act1 ReLU - drop Dropout(p) - fc2 Conv2d(hidden,
///           hidden, 1, bias) - act2 ReLU
///   state   fc1.{weight [hidden, C, 7, 7], bias}, fc2.{weight [hidden, hidden, 1, 1], bias}
///   PyTorch timm.models.vgg.ConvMlp(C, hidden, 7, mlp_ratio=1, drop_rate=p); timm's vgg16_bn
///           passes drop_rate 0, so `drop` is the identity there
template <class T>
class ConvMlp : public nn::Module<T> {
public:
    static constexpr std::size_t kKernel = 7;  // timm's input_kernel_size

    ConvMlp(std::size_t in_features, std::size_t hidden, double drop_rate = 0.0, Generator& gen = default_generator()) {
        fc1 = this->register_module("fc1", std::make_shared<nn::Conv2d<T>>(in_features, hidden, kKernel, 1, 0, true, gen));
        act1 = this->register_module("act1", std::make_shared<nn::ReLU<T>>());
        // The mask stream is the global generator's: `gen` only initialises and may not outlive us.
        drop = this->register_module("drop", std::make_shared<nn::Dropout<T>>(drop_rate, default_generator()));
        fc2 = this->register_module("fc2", std::make_shared<nn::Conv2d<T>>(hidden, hidden, 1, 1, 0, true, gen));
        act2 = this->register_module("act2", std::make_shared<nn::ReLU<T>>());
    }

    Tensor<T> forward(const Tensor<T>& input) override {
        SALUN_CHECK(input.dim() == 4, "ConvMlp: need input [N,C,H,W], got ", shape_str(input.shape()));
        Tensor<T> x = input;
        const std::size_t H = x.shape()[2], W = x.shape()[3];
        if (H < kKernel || W < kKernel) x = adaptive_avg_pool2d(x, std::max(kKernel, H), std::max(kKernel, W));
        return (*act2)((*fc2)((*drop)((*act1)((*fc1)(x)))));  // hooks fire
    }
    std::string type_name() const override { return "ConvMlp"; }

    std::shared_ptr<nn::Conv2d<T>> fc1, fc2;
    std::shared_ptr<nn::ReLU<T>> act1, act2;
    std::shared_ptr<nn::Dropout<T>> drop;
};

/// VGG with batch norm.
///   input   [N, 3, H, W] (CIFAR: 32 x 32; H and W must survive every max-pool)
///   output  [N, num_classes] logits
///   layout  features = for each width w: Conv2d(c, w, 3, 1, 1, bias) - BatchNorm2d(w) - ReLU,
///           for each kMaxPool: MaxPool2d(2, 2); then, when pre_logits_width > 0, pre_logits =
///           ConvMlp(c, pre_logits_width); then head = global average pool - flatten - fc
///   init    as timm / torchvision VGG: convs (pre_logits' too) kaiming_normal(fan_out, relu) with
///           zero bias, BN 1 / 0, fc weight N(0, 0.01) with zero bias
///   PyTorch timm's vgg16_bn: with pre_logits_width 4096 exactly; with 0 its features and head.fc
///           without pre_logits (see the file comment)
template <class T>
class VGG : public nn::Module<T> {
public:
    VGG(std::size_t num_classes = 10, const std::vector<std::size_t>& widths = vgg16_widths(),
        Generator& gen = default_generator(), std::size_t pre_logits_width = 0) {
        SALUN_CHECK(num_classes > 0, "vgg16_bn: num_classes must be positive");
        features = this->register_module("features", std::make_shared<nn::Sequential<T>>());
        std::size_t channels = 3, convs = 0;
        for (std::size_t w : widths) {
            if (w == kMaxPool) {
                features->push_back(std::make_shared<nn::MaxPool2d<T>>(2, 2));
                continue;
            }
            auto conv = features->push_back(std::make_shared<nn::Conv2d<T>>(channels, w, 3, 1, 1, true, gen));
            nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, gen);
            nn::init::zeros_(conv->bias);
            features->push_back(std::make_shared<nn::BatchNorm2d<T>>(w));
            features->push_back(std::make_shared<nn::ReLU<T>>());
            channels = w;
            ++convs;
        }
        SALUN_CHECK(convs > 0, "vgg16_bn: the configuration has no conv layer");
        if (pre_logits_width > 0) {
            pre_logits = this->register_module("pre_logits", std::make_shared<ConvMlp<T>>(channels, pre_logits_width, 0.0, gen));
            for (auto* conv : {pre_logits->fc1.get(), pre_logits->fc2.get()}) {
                nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, gen);
                nn::init::zeros_(conv->bias);
            }
            channels = pre_logits_width;
        }
        head = this->register_module("head", std::make_shared<ClassifierHead<T>>(channels, num_classes, gen));
        nn::init::normal_(head->fc->weight, 0.0, 0.01, gen);
        nn::init::zeros_(head->fc->bias);
    }

    Tensor<T> forward(const Tensor<T>& x) override {  // hooks fire
        Tensor<T> f = (*features)(x);
        if (pre_logits) f = (*pre_logits)(f);
        return (*head)(f);
    }
    std::string type_name() const override { return "VGG"; }

    std::shared_ptr<nn::Sequential<T>> features;
    std::shared_ptr<ConvMlp<T>> pre_logits;  // null in the CIFAR layout
    std::shared_ptr<ClassifierHead<T>> head;
};

/// A new VGG-16-BN (default widths: 14.7 M parameters); other widths give a narrow copy with the
/// same layout, e.g. {8, 8, kMaxPool, 16, 16, kMaxPool, ...}.
template <class T = float>
std::shared_ptr<VGG<T>> vgg16_bn(std::size_t num_classes = 10,
                                 const std::vector<std::size_t>& widths = vgg16_widths(),
                                 Generator& gen = default_generator()) {
    return std::make_shared<VGG<T>>(num_classes, widths, gen);
}

/// timm's pre_logits width (VGG.head_hidden_size).
inline constexpr std::size_t kTimmPreLogits = 4096;

/// The reference notebook's VGG-16-BN, timm.create_model("vgg16_bn", num_classes=10): the same
/// features, then pre_logits (ConvMlp 512 -> 4096) and head.fc 4096 -> 10; 134,309,962
/// parameters, timm's names. Narrower widths and pre_logits give a small copy for tests.
template <class T = float>
std::shared_ptr<VGG<T>> vgg16_bn_timm(std::size_t num_classes = 10,
                                      const std::vector<std::size_t>& widths = vgg16_widths(),
                                      std::size_t pre_logits_width = kTimmPreLogits,
                                      Generator& gen = default_generator()) {
    SALUN_CHECK(pre_logits_width > 0, "vgg16_bn_timm: pre_logits width must be positive");
    return std::make_shared<VGG<T>>(num_classes, widths, gen, pre_logits_width);
}

}  // namespace salun::models
