// SPDX-License-Identifier: MIT
// The models: CIFAR ResNet-18 (torchvision names), VGG-16-BN (timm layout), both by name, and
// deep copies (clone_model).
#pragma once

#include "salun/models/clone.hpp"
#include "salun/models/registry.hpp"
#include "salun/models/resnet.hpp"
#include "salun/models/vgg.hpp"
