// SPDX-License-Identifier: MIT
// CPU pooling kernels, same contract as reference::*pool2d*. Every (n, c) plane is independent:
// OpenMP splits the N*C planes over threads (serial inside an enclosing parallel region), and
// inside a plane the window bounds are hoisted out of the inner loops. Each output is computed
// with the same operation order as the reference (max: first maximum / NaN wins; averages:
// kh-major, kw-minor sums in T), so results match it bit for bit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu {

namespace detail {

/// Threads for a plane-parallel kernel touching `elems` elements in total.
inline int pool_threads(std::size_t planes, std::size_t elems) {
    const int nt = threads_for(double(elems), 1 << 14);
    return int(std::min<std::size_t>(std::size_t(nt), std::max<std::size_t>(1, planes)));
}

/// Clipped input window [h0, h1) for output row o (kernel K, stride S, padding P, size L).
inline void window(std::size_t o, std::size_t K, std::size_t S, std::size_t P, std::size_t L, std::size_t& lo,
                   std::size_t& hi) {
    const long start = long(o * S) - long(P);
    lo = std::size_t(std::max<long>(start, 0));
    hi = std::size_t(std::min<long>(start + long(K), long(L)));
    if (hi < lo) hi = lo;
}

}  // namespace detail

/// Max pooling with -inf padding; argmax = flat h*W+w index inside the plane (first max wins).
template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* x, T* y, std::int64_t* argmax) {
    const std::size_t OH = p.OH(), OW = p.OW(), NC = p.N * p.C, HW = p.H * p.W;
    const int nt = detail::pool_threads(NC, NC * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * HW;
        T* yp = y + nc * OH * OW;
        std::int64_t* ap = argmax + nc * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            std::size_t h0, h1;
            detail::window(oh, p.KH, p.SH, p.PH, p.H, h0, h1);
            for (std::size_t ow = 0; ow < OW; ++ow) {
                std::size_t w0, w1;
                detail::window(ow, p.KW, p.SW, p.PW, p.W, w0, w1);
                T best = -std::numeric_limits<T>::infinity();
                std::int64_t best_i = -1;
                for (std::size_t h = h0; h < h1; ++h) {
                    const T* row = xp + h * p.W;
                    for (std::size_t w = w0; w < w1; ++w) {
                        const T v = row[w];
                        if (v > best || best_i < 0 || v != v) {
                            best = v;
                            best_i = std::int64_t(h * p.W + w);
                        }
                    }
                }
                yp[oh * OW + ow] = best;
                ap[oh * OW + ow] = best_i;
            }
        }
    }
}

/// dx (overwritten) from dy and the forward argmax.
template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* dy, const std::int64_t* argmax, T* dx) {
    const std::size_t OHW = p.OH() * p.OW(), NC = p.N * p.C, HW = p.H * p.W;
    const int nt = detail::pool_threads(NC, NC * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        T* dxp = dx + nc * HW;
        std::fill(dxp, dxp + HW, T(0));
        const T* dyp = dy + nc * OHW;
        const std::int64_t* ap = argmax + nc * OHW;
        for (std::size_t o = 0; o < OHW; ++o) dxp[ap[o]] += dyp[o];
    }
}

/// Average pooling, zero padding counted in the divisor (count_include_pad=True).
template <class T>
void avg_pool2d_forward(const Pool2dParams& p, const T* x, T* y) {
    const std::size_t OH = p.OH(), OW = p.OW(), NC = p.N * p.C, HW = p.H * p.W;
    const T inv = T(1) / T(p.KH * p.KW);
    const int nt = detail::pool_threads(NC, NC * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * HW;
        T* yp = y + nc * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            std::size_t h0, h1;
            detail::window(oh, p.KH, p.SH, p.PH, p.H, h0, h1);
            for (std::size_t ow = 0; ow < OW; ++ow) {
                std::size_t w0, w1;
                detail::window(ow, p.KW, p.SW, p.PW, p.W, w0, w1);
                T acc = 0;
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) acc += xp[h * p.W + w];
                yp[oh * OW + ow] = acc * inv;
            }
        }
    }
}

template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* dy, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW(), NC = p.N * p.C, HW = p.H * p.W;
    const T inv = T(1) / T(p.KH * p.KW);
    const int nt = detail::pool_threads(NC, NC * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        T* dxp = dx + nc * HW;
        std::fill(dxp, dxp + HW, T(0));
        const T* dyp = dy + nc * OH * OW;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            std::size_t h0, h1;
            detail::window(oh, p.KH, p.SH, p.PH, p.H, h0, h1);
            for (std::size_t ow = 0; ow < OW; ++ow) {
                std::size_t w0, w1;
                detail::window(ow, p.KW, p.SW, p.PW, p.W, w0, w1);
                const T g = dyp[oh * OW + ow] * inv;
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) dxp[h * p.W + w] += g;
            }
        }
    }
}

/// PyTorch's adaptive average pooling: cell (oh, ow) averages rows [floor(oh*H/OH),
/// ceil((oh+1)*H/OH)) and the same for columns.
template <class T>
void adaptive_avg_pool2d_forward(std::size_t NC, std::size_t H, std::size_t W, std::size_t OH, std::size_t OW,
                                 const T* x, T* y) {
    const int nt = detail::pool_threads(NC, NC * H * W);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        const T* xp = x + nc * H * W;
        for (std::size_t oh = 0; oh < OH; ++oh) {
            const std::size_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
            for (std::size_t ow = 0; ow < OW; ++ow) {
                const std::size_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                T acc = 0;
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) acc += xp[h * W + w];
                y[(nc * OH + oh) * OW + ow] = acc / T((h1 - h0) * (w1 - w0));
            }
        }
    }
}

template <class T>
void adaptive_avg_pool2d_backward(std::size_t NC, std::size_t H, std::size_t W, std::size_t OH, std::size_t OW,
                                  const T* dy, T* dx) {
    const int nt = detail::pool_threads(NC, NC * H * W);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < NC; ++nc) {
        T* dxp = dx + nc * H * W;
        std::fill(dxp, dxp + H * W, T(0));
        for (std::size_t oh = 0; oh < OH; ++oh) {
            const std::size_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
            for (std::size_t ow = 0; ow < OW; ++ow) {
                const std::size_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                const T g = dy[(nc * OH + oh) * OW + ow] / T((h1 - h0) * (w1 - w0));
                for (std::size_t h = h0; h < h1; ++h)
                    for (std::size_t w = w0; w < w1; ++w) dxp[h * W + w] += g;
            }
        }
    }
}

}  // namespace salun::kernels::cpu
