// CPU batch-norm kernels (placeholder: forwards to the reference).
#pragma once
#include "salun/kernels/reference.hpp"
namespace salun::kernels::cpu {
using reference::batch_norm_stats;
using reference::batch_norm_apply;
using reference::batch_norm_backward;
}
