// SPDX-License-Identifier: MIT
// Convolution on tiny maps (stride 1, output of at most 2x2) as one GEMM per (output position,
// input position) pair that a kernel tap connects, over the whole batch.
//
// Why: on VGG-16's 2x2 maps (3x3 kernels, padding 1) only 16 of the 36 (output, tap) products
// touch the image; the rest multiply padding. im2col + GEMM does all 36; Winograd F(2x2) does
// 16 but adds its transforms and packs 16 transformed weight planes for a single tile per image.
// Here each of the 16 pairs is one GEMM with the batch as a dimension:
//
//   forward:         Y_o[N, OC]  += X_i[N, C]  * W_t[OC, C]^T    for each pair (o, i), tap t
//   backward_input:  dX_i[N, C]  += dY_o[N, OC] * W_t[OC, C]
//   backward_weight: dW_t[OC, C] += dY_o[N, OC]^T * X_i[N, C]
//
// with X_i = x[:, :, i] (position-major copies of the input, "Xp"), W_t = w[:, :, t] ("Wt") and
// the pairs taken in a fixed order, so every result is the same on any thread count (the GEMM
// splits its output between threads). On the 512-channel 2x2 layers at batch 128: 2.25x fewer
// multiplies than im2col, no transforms (docs/kernels.md has the measurements).
//
// Contract: as reference::conv2d_* for stride-1 convolutions with OH, OW <= 2
// (conv_taps_eligible); any kernel size and padding. Templates on the GEMM tile like the other
// paths, so the tests run them with every ISA's tile shape.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu {

namespace detail {

/// Largest output side for the tap GEMMs. On a 3x3 map (3x3 kernel, padding 1) there are 49 pairs
/// against F(4x4)'s 36 transform points for its one tile; from there Winograd does fewer
/// multiplies.
constexpr std::size_t kConvTapsMaxOutput = 2;

inline bool conv_taps_eligible(const Conv2dParams& p) {
    return p.SH == 1 && p.SW == 1 && p.OH() <= kConvTapsMaxOutput && p.OW() <= kConvTapsMaxOutput && p.N > 0 &&
           p.OH() > 0 && p.OW() > 0;
}

/// One (output position o, input position i, kernel tap t) triple; positions are row-major
/// indices into the OH x OW and H x W maps, t = kh * KW + kw.
struct TapPair {
    std::size_t o, i, t;
};

/// Every pair of output and input positions that a tap connects, output-major.
inline std::vector<TapPair> conv_tap_pairs(const Conv2dParams& p) {
    std::vector<TapPair> pairs;
    for (std::size_t oh = 0; oh < p.OH(); ++oh)
        for (std::size_t ow = 0; ow < p.OW(); ++ow)
            for (std::size_t kh = 0; kh < p.KH; ++kh)
                for (std::size_t kw = 0; kw < p.KW; ++kw) {
                    const long ih = long(oh + kh) - long(p.PH), iw = long(ow + kw) - long(p.PW);
                    if (ih < 0 || iw < 0 || ih >= long(p.H) || iw >= long(p.W)) continue;
                    pairs.push_back({oh * p.OW() + ow, std::size_t(ih) * p.W + std::size_t(iw), kh * p.KW + kw});
                }
    return pairs;
}

/// For each of A blocks, its [B][S] matrix made S-major: dst[(s * A + a) * B + b] =
/// src[(a * B + b) * S + s], or back (inverse = true: dst[(a * B + b) * S + s] =
/// src[(s * A + a) * B + b]).
/// Inputs and outputs (A = N images, B = C channels, S = HW positions) are made position-major
/// and back; weights (A = OC, B = C, S = KK taps) tap-major and back. The innermost loop runs
/// over b, contiguous on the S-major side: ordered (a, b, s), a 512 x 512 x 9 weight took 4.8 ms
/// against 0.7 ms.
template <class T>
void conv_taps_transpose(const T* src, std::size_t A, std::size_t B, std::size_t S, bool inverse, T* dst) {
#pragma omp parallel for schedule(static) if (!in_parallel() && A * B * S >= (std::size_t(1) << 16))
    for (std::size_t a = 0; a < A; ++a)
        for (std::size_t s = 0; s < S; ++s) {
            const std::size_t smajor = (s * A + a) * B, amajor = a * B * S + s;  // (a, 0, s) on each side
            if (inverse) {
#pragma omp simd
                for (std::size_t b = 0; b < B; ++b) dst[amajor + b * S] = src[smajor + b];
            } else {
#pragma omp simd
                for (std::size_t b = 0; b < B; ++b) dst[smajor + b] = src[amajor + b * S];
            }
        }
}

/// Block b of out (`block` values, b < blocks) = the sum over the pairs q with q.*key == b of
/// gemm(q, beta, out + b * block), where gemm writes (beta 0: the first pair of the block) or adds
/// (beta 1) one pair's product. The pairs go in a fixed order (stably sorted by key, so each block
/// is complete before the next); a block that no pair reaches is zero. Every pass of this file is
/// one such sum: over the output positions (forward), the input positions (backward_input) or
/// the taps (backward_weight).
template <class T, class Gemm>
void conv_taps_sum(std::vector<TapPair> pairs, std::size_t TapPair::*key, std::size_t blocks, std::size_t block,
                   T* out, Gemm gemm) {
    std::stable_sort(pairs.begin(), pairs.end(), [key](const TapPair& a, const TapPair& b) { return a.*key < b.*key; });
    std::vector<bool> written(blocks, false);
    for (const TapPair& q : pairs) {
        const std::size_t b = q.*key;
        gemm(q, written[b] ? T(1) : T(0), out + b * block);
        written[b] = true;
    }
    for (std::size_t b = 0; b < blocks; ++b)
        if (!written[b]) std::fill_n(out + b * block, block, T(0));
}

/// Scratch buffers of the calling thread (grow-only).
template <class T>
struct ConvTapsScratch {
    AlignedBuffer<T> a, b, w;
};

template <class T>
ConvTapsScratch<T>& conv_taps_scratch() {
    thread_local ConvTapsScratch<T> s;
    return s;
}

}  // namespace detail

/// y[N,OC,OH,OW] = conv(x, w) + bias (bias nullable), overwritten; conv_taps_eligible(p).
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_forward_taps(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    const std::size_t HW = p.H * p.W, OHW = p.OH() * p.OW(), KK = p.KH * p.KW;
    auto& s = detail::conv_taps_scratch<T>();
    T* Xp = s.a.get(HW * p.N * p.C);
    T* Yp = s.b.get(OHW * p.N * p.OC);
    T* Wt = s.w.get(KK * p.OC * p.C);
    detail::conv_taps_transpose(x, p.N, p.C, HW, false, Xp);
    detail::conv_taps_transpose(w, p.OC, p.C, KK, false, Wt);
    detail::conv_taps_sum(detail::conv_tap_pairs(p), &detail::TapPair::o, OHW, p.N * p.OC, Yp,
                          [&](const detail::TapPair& q, T beta, T* Yo) {
                              detail::gemm_with<Tile>(bl, false, true, p.N, p.OC, p.C, T(1), Xp + q.i * p.N * p.C, p.C,
                                                      Wt + q.t * p.OC * p.C, p.C, beta, Yo, p.OC);
                          });
    detail::conv_taps_transpose(Yp, p.N, p.OC, OHW, true, y);
    if (bias)
        for (std::size_t n = 0; n < p.N; ++n)
            for (std::size_t oc = 0; oc < p.OC; ++oc)
                for (std::size_t o = 0; o < OHW; ++o) y[(n * p.OC + oc) * OHW + o] += bias[oc];
}

/// dx[N,C,H,W] (overwritten) from dy[N,OC,OH,OW] and w; conv_taps_eligible(p).
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_backward_input_taps(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    const std::size_t HW = p.H * p.W, OHW = p.OH() * p.OW(), KK = p.KH * p.KW;
    auto& s = detail::conv_taps_scratch<T>();
    T* dYp = s.a.get(OHW * p.N * p.OC);
    T* dXp = s.b.get(HW * p.N * p.C);
    T* Wt = s.w.get(KK * p.OC * p.C);
    detail::conv_taps_transpose(dy, p.N, p.OC, OHW, false, dYp);
    detail::conv_taps_transpose(w, p.OC, p.C, KK, false, Wt);
    detail::conv_taps_sum(detail::conv_tap_pairs(p), &detail::TapPair::i, HW, p.N * p.C, dXp,
                          [&](const detail::TapPair& q, T beta, T* dXi) {
                              detail::gemm_with<Tile>(bl, false, false, p.N, p.C, p.OC, T(1), dYp + q.o * p.N * p.OC,
                                                      p.OC, Wt + q.t * p.OC * p.C, p.C, beta, dXi, p.C);
                          });
    detail::conv_taps_transpose(dXp, p.N, p.C, HW, true, dx);
}

/// dw[OC,C,KH,KW] (overwritten) from x and dy; conv_taps_eligible(p). The bias gradient is
/// conv2d_backward_weight's (a sum over dy).
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_backward_weight_taps(const Conv2dParams& p, const T* x, const T* dy, T* dw) {
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    const std::size_t HW = p.H * p.W, OHW = p.OH() * p.OW(), KK = p.KH * p.KW;
    auto& s = detail::conv_taps_scratch<T>();
    T* Xp = s.a.get(HW * p.N * p.C);
    T* dYp = s.b.get(OHW * p.N * p.OC);
    T* dWt = s.w.get(KK * p.OC * p.C);
    detail::conv_taps_transpose(x, p.N, p.C, HW, false, Xp);
    detail::conv_taps_transpose(dy, p.N, p.OC, OHW, false, dYp);
    detail::conv_taps_sum(detail::conv_tap_pairs(p), &detail::TapPair::t, KK, p.OC * p.C, dWt,
                          [&](const detail::TapPair& q, T beta, T* dWt_t) {
                              detail::gemm_with<Tile>(bl, true, false, p.OC, p.C, p.N, T(1), dYp + q.o * p.N * p.OC,
                                                      p.OC, Xp + q.i * p.N * p.C, p.C, beta, dWt_t, p.C);
                          });
    detail::conv_taps_transpose(dWt, p.OC, p.C, KK, true, dw);
}

}  // namespace salun::kernels::cpu
