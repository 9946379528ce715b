// The models: CIFAR ResNet-18 (torchvision names) and VGG-16-BN (timm layout).
#pragma once

#include "salun/models/resnet.hpp"
#include "salun/models/vgg.hpp"
