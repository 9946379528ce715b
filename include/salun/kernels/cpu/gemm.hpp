// CPU matrix multiply (placeholder: forwards to the reference until the blocked kernel lands).
#pragma once
#include "salun/kernels/reference.hpp"
namespace salun::kernels::cpu {
using reference::gemm;
}
