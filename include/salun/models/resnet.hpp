// SPDX-License-Identifier: MIT
// salun::models::resnet18: torchvision's ResNet-18 in the CIFAR variant (3x3 stride-1 stem, no
// max-pool), with torchvision's parameter names so that its state dicts load unchanged:
//   conv1.weight, bn1.*, layer{1..4}.{0,1}.{conv1,bn1,conv2,bn2}.*,
//   layer{2,3,4}.0.downsample.{0,1}.*, fc.{weight,bias}
#pragma once

#include <memory>
#include <string>

#include "salun/nn/basic_block.hpp"
#include "salun/nn/hooks.hpp"
#include "salun/nn/layers.hpp"
#include "salun/nn/sequential.hpp"

namespace salun::models {

/// ResNet-18 for 32x32 images.
///   input   [N, 3, H, W] (CIFAR: 32 x 32, normalised)
///   output  [N, num_classes] logits
///   layout  conv1 (3x3, stride 1, pad 1, no bias) - bn1 - relu - [no max-pool] -
///           layer1..layer4 (2 BasicBlocks each; width w, 2w, 4w, 8w; strides 1, 2, 2, 2) -
///           avgpool (adaptive 1x1) - flatten - fc (8w -> num_classes)
///   init    as torchvision: convs kaiming_normal(fan_out, relu), BN weight 1 / bias 0, fc default
///   PyTorch torchvision.models.resnet18(num_classes) with conv1 = Conv2d(3, 64, 3, 1, 1, bias=False)
///           and maxpool = Identity() (width 64)
template <class T>
class ResNet : public nn::Module<T> {
public:
    ResNet(std::size_t num_classes = 10, std::size_t width = 64, Generator& gen = default_generator()) {
        SALUN_CHECK(num_classes > 0 && width > 0, "resnet18: num_classes and width must be positive");
        conv1 = this->register_module("conv1", std::make_shared<nn::Conv2d<T>>(3, width, 3, 1, 1, false, gen));
        bn1 = this->register_module("bn1", std::make_shared<nn::BatchNorm2d<T>>(width));
        relu = this->register_module("relu", std::make_shared<nn::ReLU<T>>());
        maxpool = this->register_module("maxpool", std::make_shared<nn::Identity<T>>());
        std::size_t in = width;
        const std::size_t strides[4] = {1, 2, 2, 2};
        std::shared_ptr<nn::Sequential<T>>* layers[4] = {&layer1, &layer2, &layer3, &layer4};
        for (std::size_t i = 0; i < 4; ++i) {
            const std::size_t planes = width << i;
            auto layer = std::make_shared<nn::Sequential<T>>();
            layer->push_back(std::make_shared<nn::BasicBlock<T>>(in, planes, strides[i], gen));
            layer->push_back(std::make_shared<nn::BasicBlock<T>>(planes, planes, 1, gen));
            *layers[i] = this->register_module("layer" + std::to_string(i + 1), layer);
            in = planes;
        }
        avgpool = this->register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d<T>>(1, 1));
        flatten = this->register_module("flatten", std::make_shared<nn::Flatten<T>>(1));
        fc = this->register_module("fc", std::make_shared<nn::Linear<T>>(in, num_classes, true, gen));

        // torchvision re-initialises every conv (the BN layers already hold weight 1, bias 0).
        for (auto& [name, m] : this->named_modules())
            if (auto* conv = dynamic_cast<nn::Conv2d<T>*>(m))
                nn::init::kaiming_normal_(conv->weight, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU,
                                          gen);
    }

    Tensor<T> forward(const Tensor<T>& x) override {
        // children through operator() / nn::bn_relu so that their forward hooks fire
        Tensor<T> y = (*maxpool)(nn::bn_relu(*bn1, *relu, (*conv1)(x)));  // relu(bn1(.)), fused
        y = (*layer4)((*layer3)((*layer2)((*layer1)(y))));
        return (*fc)((*flatten)((*avgpool)(y)));
    }
    std::string type_name() const override { return "ResNet"; }

    std::shared_ptr<nn::Conv2d<T>> conv1;
    std::shared_ptr<nn::BatchNorm2d<T>> bn1;
    std::shared_ptr<nn::ReLU<T>> relu;
    std::shared_ptr<nn::Identity<T>> maxpool;  // CIFAR variant: no max-pool
    std::shared_ptr<nn::Sequential<T>> layer1, layer2, layer3, layer4;  // children are nn::BasicBlock<T>
    std::shared_ptr<nn::AdaptiveAvgPool2d<T>> avgpool;
    std::shared_ptr<nn::Flatten<T>> flatten;
    std::shared_ptr<nn::Linear<T>> fc;
};

/// A new CIFAR ResNet-18 (width 64: 11.2 M parameters; a smaller width gives a narrow copy with
/// the same names, e.g. 8 -> channels 8-16-32-64).
template <class T = float>
std::shared_ptr<ResNet<T>> resnet18(std::size_t num_classes = 10, std::size_t width = 64,
                                    Generator& gen = default_generator()) {
    return std::make_shared<ResNet<T>>(num_classes, width, gen);
}

}  // namespace salun::models
