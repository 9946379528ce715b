// SPDX-License-Identifier: MIT
// The core layer: Tensor (with its views and device moves), autograd, errors, the seeded
// generator and the class index type.
#pragma once

#include "salun/core/autograd.hpp"
#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"
#include "salun/core/random.hpp"
#include "salun/core/tensor.hpp"
#include "salun/core/transfer.hpp"
#include "salun/core/views.hpp"
