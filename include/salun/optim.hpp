// SPDX-License-Identifier: MIT
// Optimisation: SGD, gradient clipping, learning-rate schedules.
#pragma once

#include "salun/optim/clip.hpp"
#include "salun/optim/lr_scheduler.hpp"
#include "salun/optim/sgd.hpp"
#include "salun/optim/train.hpp"
