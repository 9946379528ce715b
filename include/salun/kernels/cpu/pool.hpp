// CPU pooling kernels (placeholder: forwards to the reference).
#pragma once
#include "salun/kernels/reference.hpp"
namespace salun::kernels::cpu {
using reference::max_pool2d_forward;
using reference::max_pool2d_backward;
using reference::avg_pool2d_forward;
using reference::avg_pool2d_backward;
using reference::adaptive_avg_pool2d_forward;
using reference::adaptive_avg_pool2d_backward;
}
