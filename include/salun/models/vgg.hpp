// salun::models::vgg16_bn: VGG-16 with batch norm in timm's layout, as the CIFAR-10 checkpoints
// store it:
//   features.{i}.*  where i counts the sequence conv, bn, relu, conv, bn, relu, maxpool, ...
//                   (convs 3x3 pad 1 with bias; max-pools take an index but hold no parameters)
//   head.fc.{weight,bias}
// There is no pre_logits block (timm's ConvMlp): global average pooling feeds head.fc directly.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "salun/nn/layers.hpp"
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

/// VGG with batch norm.
///   input   [N, 3, H, W] (CIFAR: 32 x 32; H and W must survive every max-pool)
///   output  [N, num_classes] logits
///   layout  features = for each width w: Conv2d(c, w, 3, 1, 1, bias) - BatchNorm2d(w) - ReLU,
///           for each kMaxPool: MaxPool2d(2, 2); then head = global average pool - flatten - fc
///   init    as timm / torchvision VGG: convs kaiming_normal(fan_out, relu) with zero bias, BN 1 / 0,
///           fc weight N(0, 0.01) with zero bias
///   PyTorch timm's vgg16_bn features with head.fc and no pre_logits (see the file comment)
template <class T>
class VGG : public nn::Module<T> {
public:
    VGG(std::size_t num_classes = 10, const std::vector<std::size_t>& widths = vgg16_widths(),
        Generator& gen = default_generator()) {
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
        head = this->register_module("head", std::make_shared<ClassifierHead<T>>(channels, num_classes, gen));
        nn::init::normal_(head->fc->weight, 0.0, 0.01, gen);
        nn::init::zeros_(head->fc->bias);
    }

    Tensor<T> forward(const Tensor<T>& x) override { return (*head)((*features)(x)); }  // hooks fire
    std::string type_name() const override { return "VGG"; }

    std::shared_ptr<nn::Sequential<T>> features;
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

}  // namespace salun::models
