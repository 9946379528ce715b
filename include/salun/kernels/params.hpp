// SPDX-License-Identifier: MIT
// Shape parameters shared by the convolution and pooling kernels of every backend.
#pragma once

#include <cstddef>

namespace salun::kernels {

/// A 2-D convolution: input [N,C,H,W], weight [OC,C,KH,KW], stride SH/SW, zero padding PH/PW.
struct Conv2dParams {
    std::size_t N, C, H, W, OC, KH, KW, SH = 1, SW = 1, PH = 0, PW = 0;
    std::size_t OH() const { return (H + 2 * PH - KH) / SH + 1; }
    std::size_t OW() const { return (W + 2 * PW - KW) / SW + 1; }
};

/// A 2-D pooling window over input [N,C,H,W].
struct Pool2dParams {
    std::size_t N, C, H, W, KH, KW, SH, SW, PH = 0, PW = 0;
    std::size_t OH() const { return (H + 2 * PH - KH) / SH + 1; }
    std::size_t OW() const { return (W + 2 * PW - KW) / SW + 1; }
};

}  // namespace salun::kernels
