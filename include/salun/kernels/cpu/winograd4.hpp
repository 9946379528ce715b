// SPDX-License-Identifier: MIT
// Winograd F(4x4, 3x3): the transforms of the variant WinogradF4 for the shared drivers
// winograd_conv3x3 and winograd_conv3x3_backward_weight (winograd.hpp), used by conv.hpp for all
// three passes of 3x3 stride-1 layers whose output maps are large enough (winograd_use_f4,
// winograd4_backward_weight_eligible).
//
// Every 4x4 output tile is computed from a 6x6 input window d as  Y = A^T [ (G g G^T) . (B^T d B) ] A
// with the matrices of Lavin & Gray ("Fast Algorithms for Convolutional Neural Networks", 2016),
// built on the interpolation points 0, 1, -1, 2, -2 and infinity:
//
//   B^T = [ 4  0 -5  0  1  0 ]     G = [  1/4     0     0  ]     A^T = [ 1  1  1  1  1  0 ]
//         [ 0 -4 -4  1  1  0 ]         [ -1/6  -1/6  -1/6  ]           [ 0  1 -1  2 -2  0 ]
//         [ 0  4 -4 -1  1  0 ]         [ -1/6   1/6  -1/6  ]           [ 0  1  1  4  4  0 ]
//         [ 0 -2 -1  2  1  0 ]         [ 1/24  1/12  1/6   ]           [ 0  1 -1  8 -8  1 ]
//         [ 0  2 -1 -2  1  0 ]         [ 1/24 -1/12  1/6   ]
//         [ 0  4  0 -5  0  1 ]         [   0     0     1   ]
//
// 36 transform points (36 GEMMs over the channels) per 16 outputs: 2.25 multiplies per output
// instead of F(2x2)'s 4 and the direct method's 9. The price is rounding: B^T and A^T carry
// factors up to 5 and 8 (the points +-2), so the float error grows by roughly an order of
// magnitude over F(2x2) (measured in docs/performance.md); the points 0, +-1, +-2 are the ones
// that keep it smallest for a 6x6 window.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "salun/kernels/cpu/winograd.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu::detail {

/// Output tile side of F(4x4, 3x3).
constexpr std::size_t kWinograd4Out = 4;
/// Input window side: output tile + kernel - 1.
constexpr std::size_t kWinograd4In = kWinograd4Out + 2;
/// Transform points per tile (6 x 6): each is one GEMM over the channels.
constexpr std::size_t kWinograd4Points = kWinograd4In * kWinograd4In;

/// Smallest output map side (rows and columns) for which F(4x4) replaces F(2x2). Measured on
/// Zen 4 at batch 128, 1 thread (docs/performance.md): F(4x4) takes 0.54-0.69x F(2x2)'s time from
/// 8x8 up, 0.65-0.82x on 4x4 maps and 0.75-0.8x on 3x3 (one tile of 36 points instead of four of
/// 16); on 2x2 maps a 4x4 tile is three quarters padding and F(2x2)'s single 16-point tile is
/// twice as fast.
constexpr std::size_t kWinograd4MinOutput = 3;
/// Largest zero padding for F(4x4). With padding 2 (the backward_input of a padding-0 layer) a
/// corner output has a single tap (its magnitude sum is tiny) while the tile's transforms still
/// carry all 36 values: the float error relative to that sum reached 1.2e-5, above the 1e-5 that
/// the tests allow, against 1e-7 for F(2x2). Padding 0 and 1 (every ResNet / VGG layer) stay
/// near 5e-6 at worst.
constexpr std::size_t kWinograd4MaxPadding = 1;

/// Whether a Winograd convolution producing OH x OW maps with zero padding PH / PW (of the
/// convolution it computes: 2 - P for backward_input) uses F(4x4) rather than F(2x2).
inline bool winograd_use_f4(std::size_t OH, std::size_t OW, std::size_t PH, std::size_t PW) {
    return OH >= kWinograd4MinOutput && OW >= kWinograd4MinOutput && PH <= kWinograd4MaxPadding &&
           PW <= kWinograd4MaxPadding;
}

/// Smallest output map side for F(4x4)'s weight gradient. Measured at batch 128 on Zen 4
/// (docs/performance.md): on 8x8 maps it takes 0.58-0.60x F(2x2)'s time at 1 thread and
/// 0.59-0.70x at 2; on 4x4 maps 0.71x at 1 thread and 0.87x at 2 (it lost at 2 threads, 1.16-1.29x,
/// until winograd4_weight_from_points was vectorised; the threads now also split the output
/// channels instead of the images, see winograd_conv3x3_backward_weight). 3x3 maps keep F(2x2).
constexpr std::size_t kWinograd4MinWeightOutput = 4;

/// Whether the weight gradient of p uses F(4x4): Winograd's shape conditions (3x3, stride 1,
/// enough channels; any batch, as the threads split the output channels), winograd_use_f4 and
/// output maps of at least 4x4. It takes the 4x4 to 8x8
/// maps from F(2x2) and the 16x16 and 32x32 ones from the implicit GEMM (conv_weight_grad.hpp).
inline bool winograd4_backward_weight_eligible(const Conv2dParams& p) {
    return winograd_shape_eligible(p) && winograd_use_f4(p.OH(), p.OW(), p.PH, p.PW) &&
           p.OH() >= kWinograd4MinWeightOutput && p.OW() >= kWinograd4MinWeightOutput;
}

/// The reciprocals in G and G^T (1/4, 1/6, 1/12, 1/24), rounded once in double: the transforms
/// multiply by them. Dividing instead made the kernel transform a third of a 512-channel layer's
/// forward and the point sums' way back a share of its weight gradient; in double the difference
/// is far below float's rounding.
constexpr double kWinograd4R4 = 1.0 / 4, kWinograd4R6 = 1.0 / 6, kWinograd4R12 = 1.0 / 12, kWinograd4R24 = 1.0 / 24;

/// u[36] = G g G^T for a 3x3 kernel g given by g(kh, kw).
template <class T, class Get>
inline void winograd4_kernel_transform(Get g, T* u) {
    // one 3-vector through G: the six rows above
    auto apply_g = [](T g0, T g1, T g2, T* out, std::size_t stride) {
        const T a = g0 * T(kWinograd4R24) + g2 * T(kWinograd4R6), b = g1 * T(kWinograd4R12);
        out[0 * stride] = g0 * T(kWinograd4R4);
        out[1 * stride] = -(g0 + g1 + g2) * T(kWinograd4R6);
        out[2 * stride] = -(g0 - g1 + g2) * T(kWinograd4R6);
        out[3 * stride] = a + b;
        out[4 * stride] = a - b;
        out[5 * stride] = g2;
    };
    T t[kWinograd4In][3];  // G g: 6 x 3
    for (int j = 0; j < 3; ++j) apply_g(g(0, j), g(1, j), g(2, j), &t[0][j], 3);
    for (std::size_t i = 0; i < kWinograd4In; ++i) apply_g(t[i][0], t[i][1], t[i][2], u + i * kWinograd4In, 1);
}

#if defined(__AVX2__)
/// The address of v(at) = xr[at - lead], possibly before xr: only the lanes of a masked load that
/// lie in [lead, end) are read from it.
inline const float* winograd4_row_at(const float* xr, std::size_t lead, std::size_t at) {
    return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(xr) + (at - lead) * sizeof(float));
}

#if defined(__AVX512F__)
/// The masks of winograd4_window_columns_simd on AVX-512 for rows of one geometry (lead, end, TW
/// tiles): per step of 8 tiles, the four loads' lanes inside [lead, end) and the tiles stored.
/// Why once per plane: every row of a plane has the same geometry, and working the masks out for
/// each row (two clamps, two shifts and a branch per load) cost as much as the loads and permutes
/// they guard. Rows of up to kMaxSteps * 8 tiles (256-wide maps) only.
struct Winograd4ColumnMasks {
    static constexpr std::size_t kMaxSteps = 8;
    __mmask16 load[kMaxSteps][4];
    __mmask16 store[kMaxSteps];
    std::size_t TW;

    static bool fits(std::size_t TW) { return TW <= kMaxSteps * 8; }

    Winograd4ColumnMasks(std::size_t lead, std::size_t end, std::size_t TW_) : TW(TW_) {
        auto lanes = [&](std::size_t at) {  // lanes j < 16 with lead <= at + j < end
            const std::size_t lo = std::max(at, lead), hi = std::min(at + 16, end);
            if (lo >= hi) return __mmask16(0);  // a load with no lane reads nothing
            return __mmask16(((1u << (hi - at)) - 1u) & ~((1u << (lo - at)) - 1u));
        };
        for (std::size_t s = 0, tw = 0; tw < TW; ++s, tw += 8) {
            const std::size_t at = kWinograd4Out * tw;
            load[s][0] = lanes(at), load[s][1] = lanes(at + 16);
            load[s][2] = lanes(at + 4), load[s][3] = lanes(at + 20);
            store[s] = __mmask16((1u << std::min<std::size_t>(8, TW - tw)) - 1u);
        }
    }
};

/// winograd4_window_columns for float on AVX-512 (TW >= 4; no `row`). 8 tiles per step: four masked
/// 16-value loads (values 4 tw.. and 4 tw + 4..; the masks supply the padding, the row's end and
/// the last tiles) and one two-source permute per column (lanes b, b + 4, ..., b + 28). Cols = 4
/// writes columns 0-3 only (the weight gradient's dY tiles, winograd4_gather_dy).
template <std::size_t Cols = kWinograd4In>
inline void winograd4_window_columns_simd(const float* xr, std::size_t lead, const Winograd4ColumnMasks& mk, float* d,
                                          std::size_t stride) {
    static_assert(Cols == kWinograd4Out || Cols == kWinograd4In, "columns 0-3 or 0-5");
    const __m512i c0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i c1 = _mm512_add_epi32(c0, _mm512_set1_epi32(1)), c2 = _mm512_add_epi32(c0, _mm512_set1_epi32(2)),
                  c3 = _mm512_add_epi32(c0, _mm512_set1_epi32(3));
    for (std::size_t s = 0, tw = 0; tw < mk.TW; ++s, tw += 8) {
        const std::size_t at = kWinograd4Out * tw;
        const __m512 a0 = _mm512_maskz_loadu_ps(mk.load[s][0], winograd4_row_at(xr, lead, at));
        const __m512 a1 = _mm512_maskz_loadu_ps(mk.load[s][1], winograd4_row_at(xr, lead, at + 16));
        const __mmask16 m = mk.store[s];
        float* o = d + tw;
        _mm512_mask_storeu_ps(o, m, _mm512_permutex2var_ps(a0, c0, a1));
        _mm512_mask_storeu_ps(o + stride, m, _mm512_permutex2var_ps(a0, c1, a1));
        _mm512_mask_storeu_ps(o + 2 * stride, m, _mm512_permutex2var_ps(a0, c2, a1));
        _mm512_mask_storeu_ps(o + 3 * stride, m, _mm512_permutex2var_ps(a0, c3, a1));
        if constexpr (Cols == kWinograd4In) {
            const __m512 b0 = _mm512_maskz_loadu_ps(mk.load[s][2], winograd4_row_at(xr, lead, at + 4));
            const __m512 b1 = _mm512_maskz_loadu_ps(mk.load[s][3], winograd4_row_at(xr, lead, at + 20));
            _mm512_mask_storeu_ps(o + 4 * stride, m, _mm512_permutex2var_ps(b0, c0, b1));
            _mm512_mask_storeu_ps(o + 5 * stride, m, _mm512_permutex2var_ps(b0, c1, b1));
        }
    }
}

/// The same for one row with its masks worked out here, in pieces of what the masks hold: rows of
/// more than 64 tiles (each row pays for its masks) and the tests.
template <std::size_t Cols = kWinograd4In>
inline void winograd4_window_columns_simd(const float* xr, std::size_t lead, std::size_t end, std::size_t TW,
                                          float* d, std::size_t stride) {
    for (std::size_t t0 = 0; t0 < TW; t0 += Winograd4ColumnMasks::kMaxSteps * 8) {
        const std::size_t n = std::min(TW - t0, Winograd4ColumnMasks::kMaxSteps * 8), shift = kWinograd4Out * t0;
        // the row from tile t0 on: values at - shift, with lead and end moved alike
        const std::size_t lead_s = lead > shift ? lead - shift : 0, end_s = end > shift ? end - shift : 0;
        const float* xs = winograd4_row_at(xr, lead, shift + lead_s);
        winograd4_window_columns_simd<Cols>(xs, lead_s, Winograd4ColumnMasks(lead_s, end_s, n), d + t0, stride);
    }
}
#else
/// winograd4_window_columns for float on AVX2 (TW >= 4; no `row`). 8 tiles: their values sit in four
/// 8-value loads (two tiles each), and a 4 x 8 transpose (unpack, shuffle, then one lane permute
/// to put the tiles in order) yields columns 0-3; the same on the loads 4 values on yields
/// columns 4 and 5. 4 tiles: the 4 x 4 transpose of four 4-value loads. Loads that reach into
/// the padding are masked; the last 1-3 tiles go one value at a time. Cols = 4 writes columns 0-3
/// only (the weight gradient's dY tiles, winograd4_gather_dy).
template <std::size_t Cols = kWinograd4In>
inline void winograd4_window_columns_simd(const float* xr, std::size_t lead, std::size_t end, std::size_t TW,
                                          float* d, std::size_t stride) {
    static_assert(Cols == kWinograd4Out || Cols == kWinograd4In, "columns 0-3 or 0-5");
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lo = _mm256_set1_epi32(int(lead) - 1), hi = _mm256_set1_epi32(int(end));
    auto mask = [&](std::size_t at) {  // lanes j with lead <= at + j < end
        const __m256i k = _mm256_add_epi32(_mm256_set1_epi32(int(at)), iota);
        return _mm256_and_si256(_mm256_cmpgt_epi32(k, lo), _mm256_cmpgt_epi32(hi, k));
    };
    auto load8 = [&](std::size_t at) {
        const float* p = winograd4_row_at(xr, lead, at);
        return at >= lead && at + 8 <= end ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask(at));
    };
    auto load4 = [&](std::size_t at) {
        const float* p = winograd4_row_at(xr, lead, at);
        return at >= lead && at + 4 <= end ? _mm_loadu_ps(p) : _mm_maskload_ps(p, _mm256_castsi256_si128(mask(at)));
    };
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);  // tiles 0 2 4 6 1 3 5 7 -> 0..7
    std::size_t tw = 0;
    for (; tw + 8 <= TW; tw += 8) {
        const std::size_t at = kWinograd4Out * tw;
        const __m256 r0 = load8(at), r1 = load8(at + 8), r2 = load8(at + 16), r3 = load8(at + 24);
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        auto put = [&](std::size_t b, __m256 v) {
            _mm256_storeu_ps(d + b * stride + tw, _mm256_permutevar8x32_ps(v, order));
        };
        put(0, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
        put(1, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
        put(2, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
        put(3, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
        if constexpr (Cols == kWinograd4In) {
            const __m256 s0 = load8(at + 4), s1 = load8(at + 12), s2 = load8(at + 20), s3 = load8(at + 28);
            const __m256 e0 = _mm256_unpacklo_ps(s0, s1), e2 = _mm256_unpacklo_ps(s2, s3);
            put(4, _mm256_shuffle_ps(e0, e2, _MM_SHUFFLE(1, 0, 1, 0)));
            put(5, _mm256_shuffle_ps(e0, e2, _MM_SHUFFLE(3, 2, 3, 2)));
        }
    }
    for (; tw + 4 <= TW; tw += 4) {
        const std::size_t at = kWinograd4Out * tw;
        __m128 r0 = load4(at), r1 = load4(at + 4), r2 = load4(at + 8), r3 = load4(at + 12);
        if constexpr (Cols == kWinograd4In) {
            const __m128 r4 = load4(at + 16);
            // columns 4 and 5 of tile i are values 0 and 1 of load i + 1
            const __m128 l12 = _mm_unpacklo_ps(r1, r2), l34 = _mm_unpacklo_ps(r3, r4);
            _mm_storeu_ps(d + 4 * stride + tw, _mm_movelh_ps(l12, l34));
            _mm_storeu_ps(d + 5 * stride + tw, _mm_movehl_ps(l34, l12));
        }
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(d + tw, r0);
        _mm_storeu_ps(d + stride + tw, r1);
        _mm_storeu_ps(d + 2 * stride + tw, r2);
        _mm_storeu_ps(d + 3 * stride + tw, r3);
    }
    for (; tw < TW; ++tw)
        for (std::size_t b = 0; b < Cols; ++b) {
            const std::size_t k = kWinograd4Out * tw + b;
            d[b * stride + tw] = k >= lead && k < end ? xr[k - lead] : 0.0f;
        }
}
#endif
#endif

/// The six window columns of tiles [0, TW) from one input row xr: d[b * stride + tw] = v(4 tw + b),
/// b < 6, where v(k) = xr[k - lead] for lead <= k < lead + body and 0 elsewhere (the row with its
/// zero padding). The padded row is copied into `row` (4 TW + 4 values, whose padding the caller
/// zeroed) and read back with stride 4. winograd4_window_columns_simd is the vector version.
template <class T>
inline void winograd4_window_columns(const T* xr, std::size_t lead, std::size_t body, std::size_t TW, T* row, T* d,
                                     std::size_t stride) {
    for (std::size_t u = 0; u < body; ++u) row[lead + u] = xr[u];
    T *d0 = d, *d1 = d + stride, *d2 = d + 2 * stride, *d3 = d + 3 * stride, *d4 = d + 4 * stride, *d5 = d + 5 * stride;
    for (std::size_t tw = 0; tw < TW; ++tw) {
        const T* q = row + kWinograd4Out * tw;
        d0[tw] = q[0], d1[tw] = q[1], d2[tw] = q[2], d3[tw] = q[3], d4[tw] = q[4], d5[tw] = q[5];
    }
}

/// The row walk of winograd4_gather_windows: columns(xr, d0) for every window row a of every
/// tile row th of every image i that lies in the map (d0 = D + 6 a Tp + tile); rows in the
/// padding and the pad tiles Tn..Tp are zero.
template <class T, class Columns>
void winograd4_gather_rows(const T* xc, std::size_t img_in, std::size_t g, std::size_t H, std::size_t W,
                           std::size_t PH, std::size_t TH, std::size_t TW, std::size_t Tp, T* D, Columns columns) {
    constexpr std::size_t S = kWinograd4Out, P = kWinograd4In;
    const std::size_t tiles_img = TH * TW, Tn = g * tiles_img;
    const bool rows_ahead = H * W * sizeof(T) > kWinogradPrefetchPlaneBytes;
    for (std::size_t i = 0; i < g; ++i) {
        if (i + kWinogradPrefetchImages < g) winograd_prefetch_plane(xc + (i + kWinogradPrefetchImages) * img_in, H * W);
        for (std::size_t th = 0; th < TH; ++th) {
            // Large planes: the rows two tile rows on, past the plane's end into the next
            // channel's plane of this image, which the next call reads.
            if (rows_ahead) prefetch_range(xc, (i * img_in + (S * th + 2 * S) * W) * sizeof(T), S * W * sizeof(T));
            for (std::size_t a = 0; a < P; ++a) {
                T* d0 = D + a * P * Tp + i * tiles_img + th * TW;
                const long r = long(S * th + a) - long(PH);
                if (r < 0 || r >= long(H)) {
                    for (std::size_t b = 0; b < P; ++b) std::fill_n(d0 + b * Tp, TW, T(0));
                    continue;
                }
                columns(xc + i * img_in + std::size_t(r) * W, d0);
            }
        }
    }
    for (std::size_t xi = 0; xi < kWinograd4Points; ++xi) std::fill(D + xi * Tp + Tn, D + (xi + 1) * Tp, T(0));
}

/// Gathers the 6x6 input windows of every tile of images [0, g) of one channel (plane c of each
/// image; planes img_in apart, H x W, zero padding PH / PW) into D: value (a, b) of tile t at
/// D[(6 a + b) Tp + t]; the pad tiles Tn..Tp are zero. `row` is scratch for one zero-padded
/// input row of 4 TW + 4 values (winograd4_window_columns).
/// Why intrinsics for float on AVX2 and AVX-512 from 4 tiles per row up: the maps of ResNet-18
/// and VGG-16-BN have TW <= 8, fewer tiles than one vector has lanes, so the compiler's vectorised
/// copy-and-stride loop never ran and this was scalar loads and stores: 16-22 ns per row of 4 or
/// 8 tiles, 6-10 ns with the permutes (Zen 4, both ISAs). The vector path loads straight from the
/// input, not from the copy: a load that overlaps a just-written vector store cannot take its
/// data from the store and waits for it. Rows of 1-3 tiles keep the copy (7 ns; the masked loads
/// took 8-24).
template <class T>
void winograd4_gather_windows(const T* xc, std::size_t img_in, std::size_t g, std::size_t H, std::size_t W,
                              std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW, std::size_t Tp, T* row,
                              T* D) {
    const std::size_t L = kWinograd4Out * TW + kWinograd4Out;
    const std::size_t lead = std::min(PW, L), body = std::min(W, L - lead);
#if defined(__AVX2__)
    if constexpr (std::is_same<T, float>::value)
        if (TW >= 4) {
#if defined(__AVX512F__)
            if (Winograd4ColumnMasks::fits(TW)) {  // the masks once for the whole plane
                const Winograd4ColumnMasks masks(lead, lead + body, TW);
                return winograd4_gather_rows(xc, img_in, g, H, W, PH, TH, TW, Tp, D, [&](const float* xr, float* d0) {
                    winograd4_window_columns_simd(xr, lead, masks, d0, Tp);
                });
            }
#endif
            return winograd4_gather_rows(xc, img_in, g, H, W, PH, TH, TW, Tp, D, [&](const float* xr, float* d0) {
                winograd4_window_columns_simd(xr, lead, lead + body, TW, d0, Tp);
            });
        }
#endif
    std::fill(row, row + L, T(0));  // the padding stays zero: only [lead, lead + body) is rewritten
    winograd4_gather_rows(xc, img_in, g, H, W, PH, TH, TW, Tp, D,
                          [&](const T* xr, T* d0) { winograd4_window_columns(xr, lead, body, TW, row, d0, Tp); });
}

/// d[0..5] (rows `stride` apart) <- B^T d, the rows of B^T written out; every column t < Tp of
/// the group at once (in place: each t reads its six values before writing them).
template <class T>
inline void winograd4_apply_bt(T* d, std::size_t stride, std::size_t Tp) {
    T *d0 = d, *d1 = d + stride, *d2 = d + 2 * stride, *d3 = d + 3 * stride, *d4 = d + 4 * stride,
      *d5 = d + 5 * stride;
#pragma omp simd
    for (std::size_t t = 0; t < Tp; ++t) {
        const T a0 = d0[t], a1 = d1[t], a2 = d2[t], a3 = d3[t], a4 = d4[t], a5 = d5[t];
        d0[t] = T(4) * a0 - T(5) * a2 + a4;
        d1[t] = (a3 + a4) - T(4) * (a1 + a2);
        d2[t] = (a4 - a3) + T(4) * (a1 - a2);
        d3[t] = (a4 - a2) + T(2) * (a3 - a1);
        d4[t] = (a4 - a2) - T(2) * (a3 - a1);
        d5[t] = T(4) * a1 - T(5) * a3 + a5;
    }
}

/// Forward F(4x4) input transform of images [0, g) of x (K channels of H x W) into V: per
/// transform point xi, the packed-B slivers [Tp / NR][K][NR] of the GEMM M_xi = U_xi * V_xi (tile
/// t of the group is column t; pad tiles Tn..Tp are zero). Per channel, the windows of all the
/// group's tiles are gathered (winograd4_gather_windows) and transformed as rows of Tp values, so
/// the arithmetic is vectorised over tiles whatever the map size (a 4x4 map has one tile per
/// image). `scratch` holds 36 Tp + 4 TW + 4 values.
template <std::size_t NR, class T>
void winograd4_input_to_slivers(const T* x, std::size_t g, std::size_t K, std::size_t H, std::size_t W,
                                std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW, std::size_t Tp,
                                T* scratch, T* V) {
    constexpr std::size_t P = kWinograd4In;
    const std::size_t vplane = Tp * K, img_in = K * H * W;
    T* D = scratch;
    T* row = scratch + kWinograd4Points * Tp;
    for (std::size_t c = 0; c < K; ++c) {
        winograd4_gather_windows(x + c * H * W, img_in, g, H, W, PH, PW, TH, TW, Tp, row, D);
        for (std::size_t b = 0; b < P; ++b) winograd4_apply_bt(D + b * Tp, P * Tp, Tp);  // B^T d: over a
        for (std::size_t a = 0; a < P; ++a) winograd4_apply_bt(D + a * P * Tp, Tp, Tp);  // (B^T d) B: over b
        for (std::size_t xi = 0; xi < kWinograd4Points; ++xi) {
            const T* src = D + xi * Tp;
            T* dst = V + xi * vplane + c * NR;
            for (std::size_t s = 0; s < Tp / NR; ++s) {
#pragma omp simd
                for (std::size_t j = 0; j < NR; ++j) dst[s * K * NR + j] = src[s * NR + j];
            }
        }
    }
}

/// yr[4 tw + c] = src[c * stride + tw] for tw < n, c < 4: one output row of n whole tiles from
/// the four rows of tile values (one per output column c) that the output transform writes.
/// Why intrinsics for float on AVX: the scalar loop (a load and a store per value) was about a
/// fifth of the output transform in ResNet-18's training step (perf, Intel Xeon); 8 tiles take
/// four loads, a 4 x 8 transpose and four stores, 4 tiles an SSE 4 x 4 transpose.
template <class T>
inline void winograd4_interleave_tile_row(const T* src, std::size_t stride, std::size_t n, T* yr) {
    constexpr std::size_t S = kWinograd4Out;
    std::size_t tw = 0;
#if defined(__AVX__)
    if constexpr (std::is_same<T, float>::value) {
        for (; tw + 8 <= n; tw += 8) {
            const float* s = src + tw;
            const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + stride);
            const __m256 r2 = _mm256_loadu_ps(s + 2 * stride), r3 = _mm256_loadu_ps(s + 3 * stride);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            // u_k holds tiles k and k + 4 (four values each)
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
            const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
            const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
            float* d = yr + S * tw;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u1, 0x20));
            _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
            _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
            _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
        }
        for (; tw + 4 <= n; tw += 4) {
            const float* s = src + tw;
            __m128 r0 = _mm_loadu_ps(s), r1 = _mm_loadu_ps(s + stride);
            __m128 r2 = _mm_loadu_ps(s + 2 * stride), r3 = _mm_loadu_ps(s + 3 * stride);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float* d = yr + S * tw;
            _mm_storeu_ps(d, r0);
            _mm_storeu_ps(d + 4, r1);
            _mm_storeu_ps(d + 8, r2);
            _mm_storeu_ps(d + 12, r3);
        }
    }
#endif
    for (; tw < n; ++tw)
        for (std::size_t c = 0; c < S; ++c) yr[S * tw + c] = src[c * stride + tw];
}

/// Writes the 4x4 output tiles Y (Y[(4 r + c) Tp + t]: output (r, c) of tile t) of images
/// [0, g) into their OH x OW maps (map of image i at yc + i * img_out), clipped at the edges.
template <class T>
void winograd4_scatter_tiles(const T* Y, std::size_t Tp, std::size_t g, std::size_t OH, std::size_t OW,
                             std::size_t TH, std::size_t TW, T* yc, std::size_t img_out) {
    constexpr std::size_t S = kWinograd4Out;
    const std::size_t tiles_img = TH * TW, full = OW / S, rest = OW % S;
    for (std::size_t i = 0; i < g; ++i)
        for (std::size_t th = 0; th < TH; ++th)
            for (std::size_t r = 0; r < S && S * th + r < OH; ++r) {
                T* yr = yc + i * img_out + (S * th + r) * OW;
                const T* src = Y + S * r * Tp + i * tiles_img + th * TW;
                winograd4_interleave_tile_row(src, Tp, full, yr);
                for (std::size_t c = 0; c < rest; ++c) yr[S * full + c] = src[c * Tp + full];
            }
}

/// Forward F(4x4) output transform: y = A^T m A (+ bias) for every tile of images [0, g) from
/// the 36 GEMM results Mb (plane xi at Mb + xi * mplane, row = output channel, column = tile),
/// written to y (M channels of OH x OW per image). Per output channel, all the group's tiles are
/// transformed at once into Y (16 rows of Tp values), then scattered to the maps
/// (winograd4_scatter_tiles).
template <class T>
void winograd4_output_from_points(const T* Mb, std::size_t mplane, std::size_t Tp, std::size_t g, std::size_t M,
                                  std::size_t OH, std::size_t OW, std::size_t TH, std::size_t TW, const T* bias,
                                  T* y, T* Y) {
    constexpr std::size_t S = kWinograd4Out, P = kWinograd4In;
    const std::size_t Tn = g * TH * TW, img_out = M * OH * OW;
    for (std::size_t oc = 0; oc < M; ++oc) {
        // The next channel's output planes, for writing. Why: the scatter's stores waited for
        // their lines (a 64-channel 32x32 layer's output is 32 MiB at batch 128); with this the
        // F(4x4) forward of that layer took 2-9% less time and the 512-channel 4x4 one 5% less
        // (Intel Xeon, paired runs).
        if (oc + 1 < M)
            for (std::size_t i = 0; i < g; ++i)
                prefetch_range(y, (i * img_out + (oc + 1) * OH * OW) * sizeof(T), OH * OW * sizeof(T), true);
        const T bv = bias ? bias[oc] : T(0);
        const T* m = Mb + oc * Tp;
#pragma omp simd
        for (std::size_t t = 0; t < Tn; ++t) {
            T s[S][P];  // A^T m: the 6 x 6 points combined over rows
            for (std::size_t j = 0; j < P; ++j) {
                const T m0 = m[(0 * P + j) * mplane + t], m1 = m[(1 * P + j) * mplane + t];
                const T m2 = m[(2 * P + j) * mplane + t], m3 = m[(3 * P + j) * mplane + t];
                const T m4 = m[(4 * P + j) * mplane + t], m5 = m[(5 * P + j) * mplane + t];
                const T p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
                s[0][j] = m0 + p12 + p34;
                s[1][j] = d12 + T(2) * d34;
                s[2][j] = p12 + T(4) * p34;
                s[3][j] = d12 + T(8) * d34 + m5;
            }
            for (std::size_t r = 0; r < S; ++r) {  // (A^T m) A: over columns
                const T p12 = s[r][1] + s[r][2], d12 = s[r][1] - s[r][2];
                const T p34 = s[r][3] + s[r][4], d34 = s[r][3] - s[r][4];
                Y[(S * r + 0) * Tp + t] = s[r][0] + p12 + p34 + bv;
                Y[(S * r + 1) * Tp + t] = d12 + T(2) * d34 + bv;
                Y[(S * r + 2) * Tp + t] = p12 + T(4) * p34 + bv;
                Y[(S * r + 3) * Tp + t] = d12 + T(8) * d34 + s[r][5] + bv;
            }
        }
        winograd4_scatter_tiles(Y, Tp, g, OH, OW, TH, TW, y + oc * OH * OW, img_out);
    }
}

/// The row walk of winograd4_gather_dy: columns(row, q0) for every dY row r of every tile row th
/// of every image i that lies in the map (q0 = Q + 6 r Tn + tile); rows past the map are zero.
template <class T, class Columns>
void winograd4_gather_dy_rows(const T* dyc, std::size_t img_out, std::size_t g, std::size_t OH, std::size_t OW,
                              std::size_t TH, std::size_t TW, std::size_t Tn, T* Q, Columns columns) {
    constexpr std::size_t S = kWinograd4Out, P = kWinograd4In;
    const std::size_t tiles_img = TH * TW;
    for (std::size_t i = 0; i < g; ++i) {
        if (i + kWinogradPrefetchImages < g)
            winograd_prefetch_plane(dyc + (i + kWinogradPrefetchImages) * img_out, OH * OW);
        for (std::size_t th = 0; th < TH; ++th)
            for (std::size_t r = 0; r < S; ++r) {
                T* q = Q + P * r * Tn + i * tiles_img + th * TW;
                const std::size_t oh = S * th + r;
                if (oh >= OH) {
                    for (std::size_t c = 0; c < S; ++c) std::fill_n(q + c * Tn, TW, T(0));
                    continue;
                }
                columns(dyc + i * img_out + oh * OW, q);
            }
    }
}

/// Gathers the 4x4 dY tiles of every tile of images [0, g) of one output channel (plane oc of
/// each image; planes img_out apart, OH x OW) into Q: value (r, c) of tile t at Q[(6 r + c) Tn +
/// t] (rows 4, 5 and columns 4, 5 of each 6-block left for the transform); values past the map's
/// edge are zero.
/// Why the window gather's vector code (winograd4_window_columns_simd, columns 0-3, no padding):
/// one value at a time this was the largest transform of the 64-channel 32x32 layer's weight
/// gradient once its chunks stayed in L2 (perf, Intel Xeon).
template <class T>
void winograd4_gather_dy(const T* dyc, std::size_t img_out, std::size_t g, std::size_t OH, std::size_t OW,
                         std::size_t TH, std::size_t TW, std::size_t Tn, T* Q) {
    constexpr std::size_t S = kWinograd4Out;
#if defined(__AVX2__)
    if constexpr (std::is_same<T, float>::value)
        if (TW >= 4) {
#if defined(__AVX512F__)
            if (Winograd4ColumnMasks::fits(TW)) {  // the masks once for the whole plane
                const Winograd4ColumnMasks masks(0, OW, TW);
                return winograd4_gather_dy_rows(dyc, img_out, g, OH, OW, TH, TW, Tn, Q, [&](const float* r, float* q) {
                    winograd4_window_columns_simd<S>(r, 0, masks, q, Tn);
                });
            }
#endif
            return winograd4_gather_dy_rows(dyc, img_out, g, OH, OW, TH, TW, Tn, Q, [&](const float* r, float* q) {
                winograd4_window_columns_simd<S>(r, 0, OW, TW, q, Tn);
            });
        }
#endif
    winograd4_gather_dy_rows(dyc, img_out, g, OH, OW, TH, TW, Tn, Q, [&](const T* row, T* q) {
        for (std::size_t tw = 0; tw < TW; ++tw)
            for (std::size_t c = 0; c < S; ++c) {
                const std::size_t ow = S * tw + c;
                q[c * Tn + tw] = ow < OW ? row[ow] : T(0);
            }
    });
}

/// q[0..5] (rows `stride` apart) <- A e for e = q[0..3], A = (A^T)^T: the six transform points of
/// four values; every column t < Tn at once (in place: each t reads its four values first).
template <class T>
inline void winograd4_apply_a(T* q, std::size_t stride, std::size_t Tn) {
    T *q0 = q, *q1 = q + stride, *q2 = q + 2 * stride, *q3 = q + 3 * stride, *q4 = q + 4 * stride,
      *q5 = q + 5 * stride;
#pragma omp simd
    for (std::size_t t = 0; t < Tn; ++t) {
        const T e0 = q0[t], e1 = q1[t], e2 = q2[t], e3 = q3[t];
        const T p02 = e0 + e2, p13 = e1 + e3, f02 = e0 + T(4) * e2, f13 = T(2) * e1 + T(8) * e3;
        q1[t] = p02 + p13;
        q2[t] = p02 - p13;
        q3[t] = f02 + f13;
        q4[t] = f02 - f13;
        q5[t] = e3;
    }
}

/// out[xi * plane + t * R + j] = Q[j * qsize + xi * Tn + t] for j < R, t < Tn and the 36 points
/// xi: R rows of transformed values (one per channel, each holding 36 runs of Tn) interleaved into
/// the R-wide packed slivers of the weight gradient's GEMMs, one plane per point. For float on
/// AVX, blocks of 8 channels x 8 tiles go through 8x8 register transposes (transpose8x8_store);
/// the scalar loop this replaces read R streams one value at a time and took a third of the
/// 64-channel 32x32 layer's weight gradient (perf, Zen 4). When 8 does not divide R (AVX-512's
/// MR = 14), the last block is channels R - 8 .. R - 1, overlapping the one before it and writing
/// the same values twice. Tiles past the last whole 8 take the scalar loop.
template <std::size_t R, class T>
void winograd4_interleave_slivers(const T* Q, std::size_t qsize, std::size_t Tn, std::size_t plane, T* out) {
    for (std::size_t xi = 0; xi < kWinograd4Points; ++xi) {
        const T* src[R];
        for (std::size_t j = 0; j < R; ++j) src[j] = Q + j * qsize + xi * Tn;
        T* dst = out + xi * plane;
        std::size_t t = 0;
#if defined(__AVX__)
        if constexpr (std::is_same<T, float>::value && R >= 8) {
            for (; t + 8 <= Tn; t += 8)
                for (std::size_t jb = 0; jb < R; jb += 8) {
                    const std::size_t j0 = std::min(jb, R - 8);
                    transpose8x8_store(src + j0, t, dst + t * R + j0, R);
                }
        }
#endif
        for (; t < Tn; ++t)
            for (std::size_t j = 0; j < R; ++j) dst[t * R + j] = src[j][t];
    }
}

/// Tiles per chunk of the weight gradient's transforms (winograd4_dy_to_slivers,
/// winograd4_input_to_channel_slivers): enough for whole vectors in the transforms' loops over
/// tiles, few enough that a sliver's chunk (MR or NR channels x 36 points) stays in L2.
/// Why chunks: a group holds >= 2 KC tiles (512 on AVX-512), and its sliver's 36-point rows
/// (2.4 MiB for 32 channels) were gathered, transformed twice in place and read back for the
/// interleave, four passes over a block larger than L2.
constexpr std::size_t kWinograd4ChunkTiles = 64;

/// Images per transform chunk of a group of g images of tiles_img tiles (at least one).
inline std::size_t winograd4_chunk_images(std::size_t tiles_img, std::size_t g) {
    const std::size_t t = std::max<std::size_t>(1, tiles_img);
    return std::max<std::size_t>(1, std::min((kWinograd4ChunkTiles + t - 1) / t, g));
}

/// The chunk walk shared by the weight gradient's two transforms: for every R-channel sliver in
/// [s0, s1) of `channels` (rounded up to R) and every chunk of images (winograd4_chunk_images of
/// the group's g images of tiles_img tiles), transform(channel, first image, images, chunk tiles,
/// q) fills q with that channel's 36 x Tc transform points (pad channels past `channels` are
/// zero); the sliver's R rows in `scratch` are then interleaved into the packed slivers of `out`
/// (winograd4_interleave_slivers: per point xi a plane of round_up(channels, R) x g * tiles_img
/// values, the sliver's chunk at tile offset i0 * tiles_img).
template <std::size_t R, class T, class Transform>
void winograd4_chunked_slivers(std::size_t g, std::size_t tiles_img, std::size_t channels, std::size_t s0,
                               std::size_t s1, T* scratch, T* out, Transform transform) {
    const std::size_t Tn = g * tiles_img, Cp = round_up(channels, R), plane = Cp * Tn;
    const std::size_t gc = winograd4_chunk_images(tiles_img, g);
    for (std::size_t cb = s0 * R; cb < std::min(Cp, s1 * R); cb += R)
        for (std::size_t i0 = 0; i0 < g; i0 += gc) {
            const std::size_t gn = std::min(gc, g - i0), Tc = gn * tiles_img, qsize = kWinograd4Points * Tc;
            for (std::size_t j = 0; j < R; ++j) {
                T* q = scratch + j * qsize;
                if (cb + j >= channels)
                    std::fill_n(q, qsize, T(0));
                else
                    transform(cb + j, i0, gn, Tc, q);
            }
            winograd4_interleave_slivers<R>(scratch, qsize, Tc, plane, out + (cb / R) * Tn * R + i0 * tiles_img * R);
        }
}

/// Backward-weight dY transform of F(4x4) for images [0, g) of dy (OC channels of OH x OW) into
/// A: per transform point xi, the packed-A slivers [OCp / MR][Tn][MR] (rows past OC zero) of the
/// GEMM Mw_xi = A_xi * V_xi, A_xi(oc, t) = (A dY_t A^T)_xi. Chunk by chunk of images
/// (winograd4_chunked_slivers), the MR channels of one sliver are transformed into Q (MR x 36 x
/// the chunk's tiles) first, then interleaved into the slivers. Only slivers [s0, s1) are
/// written (default: all).
template <std::size_t MR, class T>
void winograd4_dy_to_slivers(const T* dy, std::size_t g, std::size_t OC, std::size_t OH, std::size_t OW,
                             std::size_t TH, std::size_t TW, T* A, T* Q, std::size_t s0 = 0,
                             std::size_t s1 = std::size_t(-1)) {
    constexpr std::size_t P = kWinograd4In;
    const std::size_t img_out = OC * OH * OW;
    winograd4_chunked_slivers<MR>(g, TH * TW, OC, s0, s1, Q, A,
                                  [&](std::size_t oc, std::size_t i0, std::size_t gn, std::size_t Tc, T* q) {
                                      winograd4_gather_dy(dy + i0 * img_out + oc * OH * OW, img_out, gn, OH, OW, TH,
                                                          TW, Tc, q);
                                      for (std::size_t c = 0; c < kWinograd4Out; ++c)
                                          winograd4_apply_a(q + c * Tc, P * Tc, Tc);  // over rows
                                      for (std::size_t k = 0; k < P; ++k)
                                          winograd4_apply_a(q + P * k * Tc, Tc, Tc);  // over columns
                                  });
}

/// Backward-weight input transform of F(4x4) for images [0, g) of x (C channels of H x W) into V:
/// per transform point xi, the packed-B slivers [Cp / NR][Tn][NR] (tile t row t, channel c column
/// c; pad channels zero). Chunk by chunk of images (winograd4_chunked_slivers), the NR channels
/// of one sliver are transformed into D (NR x 36 x the chunk's tiles: winograd4_gather_windows,
/// then B^T d B) first, then interleaved into the slivers; `row` holds 4 TW + 4 values. Only
/// slivers [s0, s1) are written (default: all).
template <std::size_t NR, class T>
void winograd4_input_to_channel_slivers(const T* x, std::size_t g, std::size_t C, std::size_t H, std::size_t W,
                                        std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW, T* row,
                                        T* D, T* V, std::size_t s0 = 0, std::size_t s1 = std::size_t(-1)) {
    constexpr std::size_t P = kWinograd4In;
    const std::size_t img_in = C * H * W;
    winograd4_chunked_slivers<NR>(g, TH * TW, C, s0, s1, D, V,
                                  [&](std::size_t c, std::size_t i0, std::size_t gn, std::size_t Tc, T* d) {
                                      winograd4_gather_windows(x + i0 * img_in + c * H * W, img_in, gn, H, W, PH, PW,
                                                               TH, TW, Tc, row, d);
                                      for (std::size_t b = 0; b < P; ++b)
                                          winograd4_apply_bt(d + b * Tc, P * Tc, Tc);  // B^T d: over a
                                      for (std::size_t a = 0; a < P; ++a)
                                          winograd4_apply_bt(d + a * P * Tc, Tc, Tc);  // (B^T d) B: over b
                                  });
}

/// dw[j] (3 x 3 each, j = oc * C + c) = G^T m G with m = the 36 transform-point sums
/// Mw[xi * wplane + j], in double, G^T written out row by row. Shared among the threads of the
/// enclosing parallel region (an orphaned `omp for`).
/// Why blocks of kLanes weights: each step is then a loop over lanes that the compiler
/// vectorises; one weight at a time (scalar double, 36 strided loads) took a third of the
/// 512-channel 4x4 layer's weight gradient (perf, Zen 4).
template <class T>
void winograd4_weight_from_points(const T* Mw, std::size_t wplane, T* dw) {
    static constexpr std::size_t P = kWinograd4In, kLanes = 16;
    // six lane rows (m[0], m[stride], ...) through G^T (3 x 6)
    auto apply_gt = [](const double (*m)[kLanes], std::size_t stride, double (*out)[kLanes], std::size_t ostride) {
#pragma omp simd
        for (std::size_t l = 0; l < kLanes; ++l) {
            const double m0 = m[0][l], m1 = m[stride][l], m2 = m[2 * stride][l], m3 = m[3 * stride][l],
                         m4 = m[4 * stride][l], m5 = m[5 * stride][l];
            const double p12 = m1 + m2, p34 = m3 + m4;
            out[0][l] = m0 * kWinograd4R4 - p12 * kWinograd4R6 + p34 * kWinograd4R24;
            out[ostride][l] = (m2 - m1) * kWinograd4R6 + (m3 - m4) * kWinograd4R12;
            out[2 * ostride][l] = (p34 - p12) * kWinograd4R6 + m5;
        }
    };
    const std::size_t blocks = (wplane + kLanes - 1) / kLanes;
#pragma omp for schedule(static)
    for (std::size_t jb = 0; jb < blocks; ++jb) {
        const std::size_t j0 = jb * kLanes, nj = std::min(kLanes, wplane - j0);
        double m[kWinograd4Points][kLanes] = {};
        for (std::size_t xi = 0; xi < kWinograd4Points; ++xi)
            for (std::size_t l = 0; l < nj; ++l) m[xi][l] = double(Mw[xi * wplane + j0 + l]);
        double q[3 * P][kLanes];  // G^T m: over rows; q[a * P + b]
        for (std::size_t b = 0; b < P; ++b) apply_gt(m + b, P, q + b, P);
        double out[9][kLanes];  // (G^T m) G: over columns; out[a * 3 + c]
        for (std::size_t a = 0; a < 3; ++a) apply_gt(q + a * P, 1, out + a * 3, 1);
        for (std::size_t l = 0; l < nj; ++l)
            for (std::size_t k = 0; k < 9; ++k) dw[(j0 + l) * 9 + k] = T(out[k][l]);
    }
}

/// F(4x4, 3x3) for the shared drivers winograd_conv3x3 and winograd_conv3x3_backward_weight: 4x4
/// output tiles from 6x6 input windows, 36 transform points.
struct WinogradF4 {
    static constexpr std::size_t kOut = kWinograd4Out;
    static constexpr std::size_t kPoints = kWinograd4Points;
    /// Target tiles per GEMM group (the GEMMs' column count): 64, half of F(2x2)'s. Why: a group's
    /// transformed input and GEMM results are 36 points per tile per channel; at 128 tiles a
    /// 64-channel group (two 32x32 images) held 2.4 MiB of them, past a 2 MiB L2, and the output
    /// transform read its points back from L3. One such image per group took that layer's forward
    /// and backward_input 10% less time (Intel Xeon, 1 and 2 threads); the 128- to 512-channel
    /// layers measured the same either way (their groups outgrow L2 at both sizes).
    static constexpr std::size_t kMinTiles = 64;

    /// u[36] = G g G^T (g(kh, kw) a double, or WinogradLanes of them).
    template <class V, class Get>
    static void kernel_transform(Get g, V* u) {
        winograd4_kernel_transform<V>(g, u);
    }
    /// Scratch values for input and output with rows of TW tiles and Tp tiles per group.
    template <class T>
    static std::size_t scratch_size(std::size_t TW, std::size_t Tp) {
        return kWinograd4Points * Tp + kWinograd4Out * TW + kWinograd4Out;
    }
    /// Input transform of images [0, g) into the packed slivers V (winograd4_input_to_slivers).
    template <std::size_t NR, class T>
    static void input(const T* x, std::size_t g, std::size_t K, std::size_t H, std::size_t W, std::size_t PH,
                      std::size_t PW, std::size_t TH, std::size_t TW, std::size_t Tp, T* scratch, T* V) {
        winograd4_input_to_slivers<NR>(x, g, K, H, W, PH, PW, TH, TW, Tp, scratch, V);
    }
    /// Scratch values for the weight gradient's transforms (groups of up to G images of tiles_img
    /// tiles, transformed in chunks of winograd4_chunk_images).
    template <class T>
    static std::size_t weight_scratch_size(std::size_t TW, std::size_t tiles_img, std::size_t G, std::size_t MR,
                                           std::size_t NR) {
        const std::size_t Tc = winograd4_chunk_images(tiles_img, G) * tiles_img;
        return std::max(MR, NR) * kWinograd4Points * Tc + kWinograd4Out * TW + kWinograd4Out;
    }
    /// Weight gradient: slivers [s0, s1) of the transformed dY of images [0, g)
    /// (winograd4_dy_to_slivers).
    template <std::size_t MR, class T>
    static void dy_to_slivers(const T* dy, std::size_t g, std::size_t OC, std::size_t OH, std::size_t OW,
                              std::size_t TH, std::size_t TW, T* A, T* scratch, std::size_t s0, std::size_t s1) {
        winograd4_dy_to_slivers<MR>(dy, g, OC, OH, OW, TH, TW, A, scratch, s0, s1);
    }
    /// Weight gradient: slivers [s0, s1) of the transformed input of images [0, g)
    /// (winograd4_input_to_channel_slivers).
    template <std::size_t NR, class T>
    static void input_to_channel_slivers(const T* x, std::size_t g, std::size_t C, std::size_t H, std::size_t W,
                                         std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW, T* scratch,
                                         T* V, std::size_t s0, std::size_t s1) {
        const std::size_t Tc = winograd4_chunk_images(TH * TW, g) * TH * TW;
        winograd4_input_to_channel_slivers<NR>(x, g, C, H, W, PH, PW, TH, TW, scratch + NR * kWinograd4Points * Tc,
                                               scratch, V, s0, s1);
    }
    /// Weight gradient: dw from the point sums Mw (winograd4_weight_from_points).
    template <class T>
    static void weight_from_points(const T* Mw, std::size_t wplane, T* dw) {
        winograd4_weight_from_points(Mw, wplane, dw);
    }
    /// Output transform of images [0, g) (winograd4_output_from_points; scratch: 16 Tp values).
    template <class T>
    static void output(const T* Mb, std::size_t mplane, std::size_t Tp, std::size_t g, std::size_t M, std::size_t OH,
                       std::size_t OW, std::size_t TH, std::size_t TW, const T* bias, T* y, T* scratch) {
        winograd4_output_from_points(Mb, mplane, Tp, g, M, OH, OW, TH, TW, bias, y, scratch);
    }
};

/// winograd_conv3x3 with the variant F from the raw weights w[OC, C, 3, 3]: packs them first
/// (winograd_pack_weights; flip = true for backward_input, where M = C and K = OC) into a
/// thread_local buffer sized from F::kPoints and the tile's MR.
template <class Tile, class F, class T>
void winograd_conv3x3_packed(std::size_t N, std::size_t K, std::size_t H, std::size_t W, std::size_t M,
                             std::size_t PH, std::size_t PW, const T* x, const T* w, bool flip, const T* bias, T* y) {
    thread_local AlignedBuffer<T> ubuf;
    T* U = ubuf.get(F::kPoints * round_up(M, Tile::MR) * K);
    winograd_pack_weights<Tile::MR, F>(w, flip ? K : M, flip ? M : K, flip, U);
    winograd_conv3x3<Tile, F>(N, K, H, W, M, PH, PW, x, U, bias, y);
}

}  // namespace salun::kernels::cpu::detail
