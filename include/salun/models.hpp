// The models: CIFAR ResNet-18 (torchvision names), VGG-16-BN (timm layout), and both by name.
#pragma once

#include "salun/models/registry.hpp"
#include "salun/models/resnet.hpp"
#include "salun/models/vgg.hpp"
