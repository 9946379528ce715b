// CPU convolution kernels (placeholder: forwards to the reference until im2col+GEMM lands).
#pragma once
#include "salun/kernels/reference.hpp"
namespace salun::kernels::cpu {
using reference::conv2d_forward;
using reference::conv2d_backward_input;
using reference::conv2d_backward_weight;
}
