// SPDX-License-Identifier: MIT
// All differentiable ops (the "what" of the library; kernels/ holds the "how fast").
#pragma once

#include "salun/ops/activation.hpp"
#include "salun/ops/arithmetic.hpp"
#include "salun/ops/batch_norm.hpp"
#include "salun/ops/conv.hpp"
#include "salun/ops/linear.hpp"
#include "salun/ops/loss.hpp"
#include "salun/ops/pool.hpp"
#include "salun/ops/reduce.hpp"
#include "salun/ops/shape.hpp"
