// SPDX-License-Identifier: MIT
// View ops: reshape, flatten and batch slices (x[start:end]) share storage with their input. They
// are defined in core/views.hpp, because Tensor's member functions of the same names are these
// ops; this header is their place among the ops.
#pragma once

#include "salun/core/views.hpp"
