// SPDX-License-Identifier: MIT
// im2col / col2im for one NCHW image, writing into (reading from) a column matrix with an
// arbitrary leading dimension so that several images can sit side by side:
//   col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*SH + kh - PH][ow*SW + kw - PW]  (0 outside).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "salun/kernels/cpu/prefetch.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu::detail {

/// Range [lo, hi) of output positions o whose input index o*S + k - P lies in [0, L).
inline void valid_range(std::size_t O, std::size_t L, std::size_t S, std::size_t k, std::size_t P, std::size_t& lo,
                        std::size_t& hi) {
    // o*S + k >= P  <=>  o >= ceil((P - k) / S)
    lo = k >= P ? 0 : (P - k + S - 1) / S;
    // o*S + k - P <= L - 1  <=>  o <= (L - 1 + P - k) / S
    if (L + P < k + 1) {
        hi = 0;
    } else {
        hi = std::min(O, (L - 1 + P - k) / S + 1);
    }
    if (lo > hi) lo = hi;
}

/// x: one image [C,H,W]; col: [C*KH*KW] rows of OH*OW columns, row stride ld.
template <class T>
void im2col(const Conv2dParams& p, const T* x, T* col, std::size_t ld) {
    const std::size_t OH = p.OH(), OW = p.OW();
    for (std::size_t c = 0; c < p.C; ++c) {
        const T* xc = x + c * p.H * p.W;
        // the next plane, while this one is copied KH x KW times (see prefetch.hpp)
        if (c + 1 < p.C) prefetch_range(x, (c + 1) * p.H * p.W * sizeof(T), p.H * p.W * sizeof(T));
        for (std::size_t kh = 0; kh < p.KH; ++kh) {
            std::size_t oh_lo, oh_hi;
            valid_range(OH, p.H, p.SH, kh, p.PH, oh_lo, oh_hi);
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                std::size_t ow_lo, ow_hi;
                valid_range(OW, p.W, p.SW, kw, p.PW, ow_lo, ow_hi);
                T* row = col + ((c * p.KH + kh) * p.KW + kw) * ld;
                std::fill(row, row + oh_lo * OW, T(0));
                for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
                    T* r = row + oh * OW;
                    const T* xr = xc + (oh * p.SH + kh - p.PH) * p.W;
                    for (std::size_t ow = 0; ow < ow_lo; ++ow) r[ow] = T(0);
                    if (p.SW == 1) {
                        // ow_lo + kw >= PW by construction of the valid range
                        if (ow_hi > ow_lo)
                            std::memcpy(r + ow_lo, xr + (ow_lo + kw - p.PW), (ow_hi - ow_lo) * sizeof(T));
                    } else {
                        for (std::size_t ow = ow_lo; ow < ow_hi; ++ow) r[ow] = xr[ow * p.SW + kw - p.PW];
                    }
                    for (std::size_t ow = ow_hi; ow < OW; ++ow) r[ow] = T(0);
                }
                std::fill(row + oh_hi * OW, row + OH * OW, T(0));
            }
        }
    }
}

/// dx (one image [C,H,W], overwritten) = col2im of dcol ([C*KH*KW] rows, stride ld).
template <class T>
void col2im(const Conv2dParams& p, const T* dcol, std::size_t ld, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW();
    std::fill(dx, dx + p.C * p.H * p.W, T(0));
    for (std::size_t c = 0; c < p.C; ++c) {
        T* dxc = dx + c * p.H * p.W;
        for (std::size_t kh = 0; kh < p.KH; ++kh) {
            std::size_t oh_lo, oh_hi;
            valid_range(OH, p.H, p.SH, kh, p.PH, oh_lo, oh_hi);
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                std::size_t ow_lo, ow_hi;
                valid_range(OW, p.W, p.SW, kw, p.PW, ow_lo, ow_hi);
                const T* row = dcol + ((c * p.KH + kh) * p.KW + kw) * ld;
                for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
                    const T* r = row + oh * OW;
                    T* xr = dxc + (oh * p.SH + kh - p.PH) * p.W;
                    if (p.SW == 1) {
                        T* xo = xr + (ow_lo + kw - p.PW);
                        const T* ro = r + ow_lo;
                        const std::size_t len = ow_hi - ow_lo;
#pragma omp simd
                        for (std::size_t i = 0; i < len; ++i) xo[i] += ro[i];
                    } else {
                        for (std::size_t ow = ow_lo; ow < ow_hi; ++ow) xr[ow * p.SW + kw - p.PW] += r[ow];
                    }
                }
            }
        }
    }
}

}  // namespace salun::kernels::cpu::detail
