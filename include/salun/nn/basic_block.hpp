// SPDX-License-Identifier: MIT
// salun::nn::BasicBlock: ResNet-18/34's residual block, with torchvision's names
// (conv1, bn1, relu, conv2, bn2, downsample.{0,1}).
#pragma once

#include <memory>
#include <string>

#include "salun/nn/hooks.hpp"
#include "salun/nn/layers.hpp"
#include "salun/nn/sequential.hpp"

namespace salun::nn {

/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), convs 3x3 without bias.
///   input   [N, in_planes, H, W]
///   output  [N, planes, OH, OW], OH = (H - 1) / stride + 1 (3x3 convs with padding 1)
///   shortcut x itself, or downsample = Sequential(Conv2d 1x1 stride s no bias, BatchNorm2d) when
///            stride != 1 or in_planes != planes
///   backward through both branches; the gradients of the sum add up at x
///   state   conv1.weight, bn1.*, conv2.weight, bn2.*, [downsample.0.weight, downsample.1.*]
///   PyTorch torchvision.models.resnet.BasicBlock(in_planes, planes, stride, downsample)
template <class T>
class BasicBlock : public Module<T> {
public:
    BasicBlock(std::size_t in_planes, std::size_t planes, std::size_t stride = 1, Generator& gen = default_generator()) {
        conv1 = this->register_module("conv1", std::make_shared<Conv2d<T>>(in_planes, planes, 3, stride, 1, false, gen));
        bn1 = this->register_module("bn1", std::make_shared<BatchNorm2d<T>>(planes));
        relu = this->register_module("relu", std::make_shared<ReLU<T>>());
        conv2 = this->register_module("conv2", std::make_shared<Conv2d<T>>(planes, planes, 3, 1, 1, false, gen));
        bn2 = this->register_module("bn2", std::make_shared<BatchNorm2d<T>>(planes));
        if (stride != 1 || in_planes != planes) {
            downsample = this->register_module("downsample", std::make_shared<Sequential<T>>());
            downsample->push_back(std::make_shared<Conv2d<T>>(in_planes, planes, 1, stride, 0, false, gen));
            downsample->push_back(std::make_shared<BatchNorm2d<T>>(planes));
        }
    }
    Tensor<T> forward(const Tensor<T>& x) override {
        // children through operator() / bn_relu so that their forward hooks fire
        Tensor<T> out = bn_relu(*bn1, *relu, (*conv1)(x));  // = relu(bn1(conv1(x))), fused
        out = (*conv2)(out);
        const Tensor<T> identity = downsample ? (*downsample)(x) : x;
        return bn_add_relu(*bn2, *relu, out, identity);  // = relu(bn2(out) + identity), fused
    }
    std::string type_name() const override { return "BasicBlock"; }

    std::shared_ptr<Conv2d<T>> conv1, conv2;
    std::shared_ptr<BatchNorm2d<T>> bn1, bn2;
    std::shared_ptr<ReLU<T>> relu;
    std::shared_ptr<Sequential<T>> downsample;  // null when the shortcut is the identity
};

}  // namespace salun::nn
