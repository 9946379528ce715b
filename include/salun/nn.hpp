// SPDX-License-Identifier: MIT
// The nn layer: Module (named parameters and buffers, train/eval, PyTorch state dicts), the CNN
// layers, Sequential, ResNet's BasicBlock, the initialisers, and forward hooks / output capture.
#pragma once

#include "salun/nn/basic_block.hpp"
#include "salun/nn/hooks.hpp"
#include "salun/nn/init.hpp"
#include "salun/nn/layers.hpp"
#include "salun/nn/module.hpp"
#include "salun/nn/sequential.hpp"
