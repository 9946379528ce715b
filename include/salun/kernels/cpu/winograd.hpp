// SPDX-License-Identifier: MIT
// Winograd convolution for 3x3, stride-1 convolutions (forward and, through the
// flipped/transposed kernel, backward_input; and the weight gradient), used by conv.hpp when
// winograd_forward_eligible(), winograd_backward_input_eligible() or
// winograd_backward_weight_eligible() say so. This file holds F(2x2, 3x3) and the drivers shared
// with F(4x4, 3x3) (winograd4.hpp; used on maps of 3x3 and more with padding <= 1, see
// winograd_use_f4): winograd_conv3x3<Tile, F> and winograd_conv3x3_backward_weight<Tile, F> run
// the grouping, the packed buffers and the GEMMs; the variant F (WinogradF2, WinogradF4)
// supplies the tile size, the number of transform points and the transforms.
//
// Every 2x2 output tile is computed from a 4x4 input window d as  Y = A^T [ (G g G^T) . (B^T d B) ] A
// with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Summed over input channels the elementwise product becomes 16 independent GEMMs (one per
// transform point xi):  M_xi[OC, T] = U_xi[OC, C] * V_xi[C, T]  for T tiles, i.e. 16 multiplies
// per 4 outputs instead of 36 (2.25x fewer flops). The transforms only add, subtract and halve,
// so the float error stays within a small multiple of the direct method's.
//
// Layouts (written directly in the GEMM's packed formats, so the GEMM does no packing; 16 planes
// for F(2x2), 36 for F(4x4)):
//   U: per xi, [ceil(M/MR)] slivers of [K][MR]      (M = output channels, K = input channels)
//   V: per xi, [Tp/NR] slivers of [K][NR]           (Tp = tiles rounded up to NR, pad tiles 0)
//   M: per xi, row-major [M][Tp]
// Forward: the batch is cut into groups of images with >= ~128 tiles (at least one group per
// thread); groups run in parallel (dynamic schedule), each with thread_local V / M buffers. Weight
// gradient: the threads go through the groups together and split the output channels
// (winograd_conv3x3_backward_weight).
//
// backward_input of a 3x3 stride-1 convolution with padding P is the forward convolution of dy
// with w'[c][oc][kh][kw] = w[oc][c][2-kh][2-kw] and padding 2-P.
#pragma once

#include <algorithm>
#include <cstddef>

#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/prefetch.hpp"
#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu::detail {

/// Minimum input and output channel counts for the Winograd path. The first layer (C = 3) stays
/// on im2col; so do very narrow layers, where the 16 GEMMs have K < 32 and the transforms dominate
/// (every 3x3 stride-1 layer of ResNet-18 / VGG-16 after the first has >= 64 channels).
constexpr std::size_t kWinogradMinChannels = 32;
/// Target tiles per GEMM group.
constexpr std::size_t kWinogradMinTiles = 128;
/// Transform points per tile (4 x 4): each is one GEMM over the channels.
constexpr std::size_t kWinogradPoints = 16;
/// Rows of U (or of the transformed dY) kept in L2 while the tiles stream past, in bytes.
constexpr std::size_t kWinogradABlockBytes = 128 * 1024;

/// Rows of a packed A operand per row block of gemm_packed with K blocks of kc steps: the block
/// fills kWinogradABlockBytes (a multiple of MR, at least MR). The Winograd GEMMs and the im2col
/// path's pre-packed weights (conv.hpp) use it.
template <std::size_t MR, class T>
constexpr std::size_t packed_a_block_rows(std::size_t kc) {
    return std::max<std::size_t>(MR, kWinogradABlockBytes / sizeof(T) / kc / MR * MR);
}

/// The gathers walk one channel of a group's images: planes a whole image apart (32 KiB for 512
/// channels of 4x4), too far apart for the hardware prefetchers, and on small maps each plane is
/// one to sixteen cache lines that the gather reads at once. Prefetching the plane this many
/// images ahead took the 512-channel 4x4 layer's forward 43.9 -> 42.5 ms and the 256-channel 8x8
/// one 39 -> 36.9 ms (Zen 4, batch 128; 2 and 8 images ahead did no better); planes above 1 KiB
/// (32x32 maps) are left to the prefetchers, as their rows are read in order.
constexpr std::size_t kWinogradPrefetchImages = 4, kWinogradPrefetchPlaneBytes = 1024;

/// Prefetches the `n` values at p when they are a small plane (see kWinogradPrefetchImages).
template <class T>
inline void winograd_prefetch_plane(const T* p, std::size_t n) {
    if (n * sizeof(T) <= kWinogradPrefetchPlaneBytes) prefetch_range(p, 0, n * sizeof(T));
}

/// Scratch rows for winograd_input_tile_row on a tile row of TW tiles: even / odd columns of the 4
/// input rows (E, O) and their row combinations (RE, RO), L = TW + 1 values each; the 16
/// transformed values of each tile (v); one zero-padded input row of 2L values (pad).
template <class T>
struct WinogradRowScratch {
    T *E, *O, *RE, *RO, *v, *pad;
    static std::size_t size(std::size_t TW) { return 18 * (TW + 1) + kWinogradPoints * TW; }
    WinogradRowScratch(T* buf, std::size_t TW) {
        const std::size_t L = TW + 1;
        E = buf, O = buf + 4 * L, RE = buf + 8 * L, RO = buf + 12 * L, v = buf + 16 * L;
        pad = v + kWinogradPoints * TW;
    }
};

/// The layers Winograd takes: 3x3, stride 1, padding <= 2, enough channels on both sides.
inline bool winograd_layer_eligible(const Conv2dParams& p) {
    return p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.PH <= 2 && p.PW <= 2 &&
           p.C >= kWinogradMinChannels && p.OC >= kWinogradMinChannels;
}

/// ... whose padded input map holds a 4x4 window (the forward and the weight gradient).
inline bool winograd_shape_eligible(const Conv2dParams& p) {
    return winograd_layer_eligible(p) && p.H + 2 * p.PH >= 4 && p.W + 2 * p.PW >= 4;
}

/// The forward and backward_input drivers split the images between threads, so they also need
/// a batch of at least the thread count (smaller batches go to im2col, whose GEMM threads).
inline bool winograd_batch_eligible(const Conv2dParams& p) {
    return p.N >= std::size_t(in_parallel() ? 1 : max_threads());
}

inline bool winograd_forward_eligible(const Conv2dParams& p) {
    return winograd_shape_eligible(p) && winograd_batch_eligible(p);
}

inline bool winograd_backward_input_eligible(const Conv2dParams& p) {
    return winograd_layer_eligible(p) && p.H >= 2 && p.W >= 2 && winograd_batch_eligible(p);
}

/// u[16] = G g G^T for a 3x3 kernel g given by g(kh, kw).
template <class T, class Get>
inline void winograd_kernel_transform(Get g, T* u) {
    T t[4][3];
    for (int j = 0; j < 3; ++j) {
        const T g0 = g(0, j), g1 = g(1, j), g2 = g(2, j);
        t[0][j] = g0;
        t[1][j] = T(0.5) * (g0 + g1 + g2);
        t[2][j] = T(0.5) * (g0 - g1 + g2);
        t[3][j] = g2;
    }
    for (int i = 0; i < 4; ++i) {
        u[i * 4 + 0] = t[i][0];
        u[i * 4 + 1] = T(0.5) * (t[i][0] + t[i][1] + t[i][2]);
        u[i * 4 + 2] = T(0.5) * (t[i][0] - t[i][1] + t[i][2]);
        u[i * 4 + 3] = t[i][2];
    }
}

/// The F(2x2) backward_weight additionally needs output maps of at least 4x4: on smaller maps
/// most of each 4x4 window is padding and the transform's cancellation exceeds the float
/// tolerance for the border taps (whose own magnitude sums are tiny); those stay on im2col. Maps
/// above 16x16 also stay on im2col: there (ResNet-18's 64-channel 32x32 layers) the transforms'
/// traffic through the 16 packed planes costs more than the saved multiplies (measured 40-45 vs
/// 57 GFLOP/s). conv.hpp asks winograd4_backward_weight_eligible first, so F(2x2) is left the
/// layers with padding 2. Its threads split the output channels, so any batch size will do.
inline bool winograd_backward_weight_eligible(const Conv2dParams& p) {
    return winograd_shape_eligible(p) && p.OH() >= 4 && p.OW() >= 4 && p.OH() * p.OW() <= 256;
}

/// L doubles in lock step, with the arithmetic the kernel transforms use: the transforms are
/// written once for one value (T = double) and run on the MR kernels of a packed sliver at once
/// (T = WinogradLanes<MR>), as loops over the lanes that the compiler vectorises.
template <std::size_t L>
struct WinogradLanes {
    double v[L];
    WinogradLanes() = default;
    explicit WinogradLanes(double s) { std::fill(v, v + L, s); }
    template <class Op>
    static WinogradLanes zip(const WinogradLanes& a, const WinogradLanes& b, Op op) {
        WinogradLanes r;
        for (std::size_t i = 0; i < L; ++i) r.v[i] = op(a.v[i], b.v[i]);
        return r;
    }
    friend WinogradLanes operator+(const WinogradLanes& a, const WinogradLanes& b) {
        return zip(a, b, [](double x, double y) { return x + y; });
    }
    friend WinogradLanes operator-(const WinogradLanes& a, const WinogradLanes& b) {
        return zip(a, b, [](double x, double y) { return x - y; });
    }
    friend WinogradLanes operator*(const WinogradLanes& a, const WinogradLanes& b) {
        return zip(a, b, [](double x, double y) { return x * y; });
    }
    friend WinogradLanes operator-(const WinogradLanes& a) { return WinogradLanes(0.0) - a; }
};

/// Transformed, packed kernels for the variant F (WinogradF2, WinogradF4). Forward (flip = false):
/// M = OC, K = C, g = w[m][k]. Backward input (flip = true): M = C, K = OC, g = w[k][m] rotated by
/// 180 degrees. U must hold F::kPoints * Mp * K elements (Mp = M rounded up to MR). The kernel
/// transform is evaluated in double and rounded once (F(4x4)'s G has 1/6 and 1/24, which float
/// would round at every step).
/// Why this loop order: U has F::kPoints planes of Mp * K values (36 MiB for a 512 x 512 layer
/// and F(4x4)), and the packed position of (m, k) is MR values from (m, k + 1). Walking sliver
/// by sliver, k by k, the MR kernels of one (sliver, k) fill a whole MR-run of every plane at
/// once; walking m by m instead touched 36 * K cache lines per m and again for m + 1, past L2,
/// and took 40% of a 512-channel 4x4 layer's forward (perf, Zen 4).
/// Why lanes: transforming the MR kernels one at a time in scalar double took 50-70 ns per
/// kernel on an Intel Xeon (4% of a ResNet-18 training step); as WinogradLanes<MR> the
/// compiler vectorises the same formulas across the sliver.
template <std::size_t MR, class F, class T>
void winograd_pack_weights(const T* w, std::size_t OC, std::size_t C, bool flip, T* U) {
    using Lanes = WinogradLanes<MR>;
    constexpr std::size_t P = F::kPoints;
    const std::size_t M = flip ? C : OC, K = flip ? OC : C;
    const std::size_t slivers = (M + MR - 1) / MR, plane = slivers * MR * K;
    const int nt = threads_for(double(M) * double(K) * 4.0 * double(P), 1 << 18);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t s = 0; s < slivers; ++s)
        for (std::size_t k = 0; k < K; ++k) {
            Lanes g[9];  // g[tap].v[mi]: the kernel of row s * MR + mi, rotated for flip; 0 past M
            const std::size_t rows = std::min(MR, M - s * MR);
            for (std::size_t mi = 0; mi < rows; ++mi) {
                const std::size_t m = s * MR + mi;
                const T* src = flip ? w + (k * C + m) * 9 : w + (m * C + k) * 9;
                if (flip)
                    for (std::size_t t = 0; t < 9; ++t) g[t].v[mi] = double(src[8 - t]);
                else
                    for (std::size_t t = 0; t < 9; ++t) g[t].v[mi] = double(src[t]);
            }
            for (std::size_t mi = rows; mi < MR; ++mi)
                for (std::size_t t = 0; t < 9; ++t) g[t].v[mi] = 0.0;
            Lanes u[P];
            F::kernel_transform([&g](int i, int j) { return g[i * 3 + j]; }, u);
            T* dst = U + s * K * MR + k * MR;
            for (std::size_t xi = 0; xi < P; ++xi)
                for (std::size_t mi = 0; mi < MR; ++mi) dst[xi * plane + mi] = T(u[xi].v[mi]);
        }
}

/// Winograd F(2x2,3x3) input transform of one row of tiles: for tile row `th` of the channel
/// plane `xc` (H x W, zero padding PH/PW), writes the 16 transformed values of each of the TW
/// tiles to s.v[xi * TW + tw].
template <class T>
inline void winograd_input_tile_row(const T* xc, std::size_t H, std::size_t W, std::size_t PH, std::size_t PW,
                                    std::size_t th, std::size_t TW, const WinogradRowScratch<T>& s) {
    T *E = s.E, *O = s.O, *RE = s.RE, *RO = s.RO, *v = s.v, *pad = s.pad;
    const std::size_t L = TW + 1;
    for (std::size_t a = 0; a < 4; ++a) {
        const long r = long(2 * th + a) - long(PH);
        T* e = E + a * L;
        T* o = O + a * L;
        if (r < 0 || r >= long(H)) {
            std::fill(e, e + L, T(0));
            std::fill(o, o + L, T(0));
            continue;
        }
        // The zero-padded row in `pad` (2L >= PW + W values), then a branch-free even/odd split
        // that the compiler vectorises (stride-2 loads).
        const T* xr = xc + std::size_t(r) * W;
        const std::size_t lead = std::min(PW, 2 * L), body = std::min(W, 2 * L - lead);
        std::fill(pad, pad + lead, T(0));
        std::copy(xr, xr + body, pad + lead);
        std::fill(pad + lead + body, pad + 2 * L, T(0));
#pragma omp simd
        for (std::size_t u = 0; u < L; ++u) {
            e[u] = pad[2 * u];
            o[u] = pad[2 * u + 1];
        }
    }
#pragma omp simd
    for (std::size_t u = 0; u < L; ++u) {
        const T e0 = E[u], e1 = E[L + u], e2 = E[2 * L + u], e3 = E[3 * L + u];
        const T o0 = O[u], o1 = O[L + u], o2 = O[2 * L + u], o3 = O[3 * L + u];
        RE[u] = e0 - e2, RE[L + u] = e1 + e2, RE[2 * L + u] = e2 - e1, RE[3 * L + u] = e1 - e3;
        RO[u] = o0 - o2, RO[L + u] = o1 + o2, RO[2 * L + u] = o2 - o1, RO[3 * L + u] = o1 - o3;
    }
    for (std::size_t k = 0; k < 4; ++k) {
        const T* re = RE + k * L;
        const T* ro = RO + k * L;
        T* v0 = v + (4 * k + 0) * TW;
        T* v1 = v + (4 * k + 1) * TW;
        T* v2 = v + (4 * k + 2) * TW;
        T* v3 = v + (4 * k + 3) * TW;
#pragma omp simd
        for (std::size_t tw = 0; tw < TW; ++tw) {
            v0[tw] = re[tw] - re[tw + 1];
            v1[tw] = ro[tw] + re[tw + 1];
            v2[tw] = re[tw + 1] - ro[tw];
            v3[tw] = ro[tw] - ro[tw + 1];
        }
    }
}

/// Images per GEMM group (at least `min_tiles` tiles per group, at least one group per thread)
/// for N images of `tiles_img` tiles on `avail` threads.
inline std::size_t winograd_group_size(std::size_t N, std::size_t tiles_img, std::size_t min_tiles, int avail) {
    const std::size_t G = std::max<std::size_t>(1, (min_tiles + tiles_img - 1) / tiles_img);
    const std::size_t per_thread = (N + std::size_t(avail) - 1) / std::size_t(avail);
    return std::min(G, std::max<std::size_t>(1, per_thread));
}

/// Forward F(2x2) input transform of images [0, g) of x (K channels of H x W) into V: per
/// transform point xi, the packed-B slivers [Tp / NR][K][NR] of the GEMM M_xi = U_xi * V_xi
/// (tile t of the group is column t; pad tiles Tn..Tp are zero).
template <std::size_t NR, class T>
void winograd_input_to_slivers(const T* x, std::size_t g, std::size_t K, std::size_t H, std::size_t W, std::size_t PH,
                               std::size_t PW, std::size_t TH, std::size_t TW, std::size_t Tp,
                               const WinogradRowScratch<T>& scratch, T* V) {
    constexpr std::size_t P = kWinogradPoints;
    const std::size_t tiles_img = TH * TW, Tn = g * tiles_img, vplane = Tp * K, img_in = K * H * W;
    if (Tp > Tn)
        for (std::size_t xi = 0; xi < P; ++xi)
            for (std::size_t c = 0; c < K; ++c)
                for (std::size_t t = Tn; t < Tp; ++t) V[xi * vplane + (t / NR) * K * NR + c * NR + t % NR] = T(0);
    for (std::size_t i = 0; i < g; ++i)
        for (std::size_t c = 0; c < K; ++c) {
            const T* xc = x + i * img_in + c * H * W;
            for (std::size_t th = 0; th < TH; ++th) {
                winograd_input_tile_row(xc, H, W, PH, PW, th, TW, scratch);
                const T* v = scratch.v;
                // scatter the TW tiles of this row into the slivers, a run per sliver
                const std::size_t t0 = i * tiles_img + th * TW;
                for (std::size_t tw = 0; tw < TW;) {
                    const std::size_t t = t0 + tw, off = t % NR;
                    const std::size_t run = std::min(TW - tw, NR - off);
                    T* dst = V + (t / NR) * K * NR + c * NR + off;
                    for (std::size_t xi = 0; xi < P; ++xi) std::copy_n(v + xi * TW + tw, run, dst + xi * vplane);
                    tw += run;
                }
            }
        }
}

/// Forward output transform: y = A^T m A (+ bias) for every tile of images [0, g) from the 16
/// GEMM results Mb (plane xi at Mb + xi * mplane, row = output channel, column = tile), written
/// to y (M channels of OH x OW per image). Y0..Y3 are scratch rows of TW values.
template <class T>
void winograd_output_from_points(const T* Mb, std::size_t mplane, std::size_t Tp, std::size_t g, std::size_t M,
                                 std::size_t OH, std::size_t OW, std::size_t TH, std::size_t TW, const T* bias, T* y,
                                 T* Y0, T* Y1, T* Y2, T* Y3) {
    const std::size_t tiles_img = TH * TW, img_out = M * OH * OW;
    for (std::size_t i = 0; i < g; ++i) {
        T* yimg = y + i * img_out;
        for (std::size_t oc = 0; oc < M; ++oc) {
            const T bv = bias ? bias[oc] : T(0);
            T* yc = yimg + oc * OH * OW;
            for (std::size_t th = 0; th < TH; ++th) {
                const T* m = Mb + oc * Tp + i * tiles_img + th * TW;
#pragma omp simd
                for (std::size_t tw = 0; tw < TW; ++tw) {
                    T s0[4], s1[4];
                    for (std::size_t j = 0; j < 4; ++j) {
                        const T m0 = m[(0 * 4 + j) * mplane + tw], m1 = m[(1 * 4 + j) * mplane + tw];
                        const T m2 = m[(2 * 4 + j) * mplane + tw], m3 = m[(3 * 4 + j) * mplane + tw];
                        s0[j] = m0 + m1 + m2;
                        s1[j] = m1 - m2 - m3;
                    }
                    Y0[tw] = s0[0] + s0[1] + s0[2] + bv;
                    Y1[tw] = s0[1] - s0[2] - s0[3] + bv;
                    Y2[tw] = s1[0] + s1[1] + s1[2] + bv;
                    Y3[tw] = s1[1] - s1[2] - s1[3] + bv;
                }
                // interleave the tiles' two columns into output rows 2th and 2th + 1
                const std::size_t oh = 2 * th, full = OW / 2;
                {
                    T* yr = yc + oh * OW;
#pragma omp simd
                    for (std::size_t tw = 0; tw < full; ++tw) yr[2 * tw] = Y0[tw], yr[2 * tw + 1] = Y1[tw];
                    if (OW & 1) yr[2 * full] = Y0[full];
                }
                if (oh + 1 < OH) {
                    T* yr = yc + (oh + 1) * OW;
#pragma omp simd
                    for (std::size_t tw = 0; tw < full; ++tw) yr[2 * tw] = Y2[tw], yr[2 * tw + 1] = Y3[tw];
                    if (OW & 1) yr[2 * full] = Y2[full];
                }
            }
        }
    }
}

/// Backward-weight dY transform of images [0, g) of dy (OC channels of OH x OW) into A: per
/// transform point xi, the packed-A slivers [OCp / MR][Tn][MR] (rows past OC zero) of the GEMM
/// Mw_xi = A_xi * V_xi, where A_xi(oc, t) = (A dY_t A^T)_xi with A dY = [e0, e0 + e1, e0 - e1, -e1]
/// on the tile's two rows (and the same on columns). Only slivers [s0, s1) are written.
template <std::size_t MR, class T>
void winograd_dy_to_slivers(const T* dy, std::size_t g, std::size_t OC, std::size_t OH, std::size_t OW,
                            std::size_t TH, std::size_t TW, T* A, std::size_t s0, std::size_t s1) {
    const std::size_t tiles_img = TH * TW, Tn = g * tiles_img, OCp = round_up(OC, MR), aplane = OCp * Tn;
    const std::size_t img_out = OC * OH * OW;
    for (std::size_t i = 0; i < g; ++i) {
        const T* dyi = dy + i * img_out;
        // th outside the MR channels of one sliver: each packed line is filled while hot
        for (std::size_t ob = s0 * MR; ob < std::min(OCp, s1 * MR); ob += MR)
            for (std::size_t th = 0; th < TH; ++th)
                for (std::size_t oc = ob; oc < ob + MR; ++oc) {
                    T* dst0 = A + (oc / MR) * Tn * MR + oc % MR;
                    const std::size_t t0 = i * tiles_img + th * TW;
                    if (oc >= OC) {
                        for (std::size_t xi = 0; xi < kWinogradPoints; ++xi)
                            for (std::size_t t = t0; t < t0 + TW; ++t) dst0[xi * aplane + t * MR] = T(0);
                        continue;
                    }
                    const T* r0 = dyi + oc * OH * OW + 2 * th * OW;
                    const T* r1 = 2 * th + 1 < OH ? r0 + OW : nullptr;
                    for (std::size_t tw = 0; tw < TW; ++tw) {
                        const std::size_t c0 = 2 * tw;
                        const bool has1 = c0 + 1 < OW;
                        const T e00 = r0[c0], e01 = has1 ? r0[c0 + 1] : T(0);
                        const T e10 = r1 ? r1[c0] : T(0), e11 = (r1 && has1) ? r1[c0 + 1] : T(0);
                        // rows of A e: [e0, e0 + e1, e0 - e1, -e1] (e0, e1: tile rows)
                        const T q[4][2] = {{e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};
                        T* d = dst0 + (t0 + tw) * MR;
                        for (std::size_t a = 0; a < 4; ++a) {
                            d[(4 * a + 0) * aplane] = q[a][0];
                            d[(4 * a + 1) * aplane] = q[a][0] + q[a][1];
                            d[(4 * a + 2) * aplane] = q[a][0] - q[a][1];
                            d[(4 * a + 3) * aplane] = -q[a][1];
                        }
                    }
                }
    }
}

/// Backward-weight input transform of images [0, g) of x (C channels of H x W) into V: per
/// transform point xi, the packed-B slivers [Cp / NR][Tn][NR] (tile t is row t, channel c column
/// c). Pad channels (C..Cp) feed only columns that the kernel's store clips, but are zeroed so
/// that no uninitialised value is ever read. Only slivers [s0, s1) are written.
template <std::size_t NR, class T>
void winograd_input_to_channel_slivers(const T* x, std::size_t g, std::size_t C, std::size_t H, std::size_t W,
                                       std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW,
                                       const WinogradRowScratch<T>& scratch, T* V, std::size_t s0, std::size_t s1) {
    const std::size_t tiles_img = TH * TW, Tn = g * tiles_img, Cp = round_up(C, NR), vplane = Cp * Tn;
    const std::size_t img_in = C * H * W, last = Cp / NR - 1;
    if (Cp > C && s0 <= last && last < s1)
        for (std::size_t xi = 0; xi < kWinogradPoints; ++xi)
            for (std::size_t t = 0; t < Tn; ++t)
                std::fill_n(V + xi * vplane + (C / NR) * Tn * NR + t * NR + C % NR, Cp - C, T(0));
    for (std::size_t i = 0; i < g; ++i) {
        const T* ximg = x + i * img_in;
        // th outside the NR channels of one sliver: each packed line is filled while hot
        for (std::size_t cb = s0 * NR; cb < std::min(C, s1 * NR); cb += NR)
            for (std::size_t th = 0; th < TH; ++th)
                for (std::size_t c = cb; c < std::min(C, cb + NR); ++c) {
                    winograd_input_tile_row(ximg + c * H * W, H, W, PH, PW, th, TW, scratch);
                    T* d = V + (c / NR) * Tn * NR + c % NR + (i * tiles_img + th * TW) * NR;
                    for (std::size_t xi = 0; xi < kWinogradPoints; ++xi) {
                        const T* src = scratch.v + xi * TW;
                        T* dx = d + xi * vplane;
                        for (std::size_t tw = 0; tw < TW; ++tw) dx[tw * NR] = src[tw];
                    }
                }
    }
}

/// dw[j] (3 x 3 each, j = oc * C + c) = G^T m G with m = the 16 transform-point sums
/// Mw[xi * wplane + j]. Shared among the threads of the enclosing parallel region (an orphaned
/// `omp for`).
template <class T>
void winograd_weight_from_points(const T* Mw, std::size_t wplane, T* dw) {
#pragma omp for schedule(static)
    for (std::size_t j = 0; j < wplane; ++j) {
        T m[kWinogradPoints];
        for (std::size_t xi = 0; xi < kWinogradPoints; ++xi) m[xi] = Mw[xi * wplane + j];
        T q[3][4];
        for (std::size_t b = 0; b < 4; ++b) {
            const T m0 = m[b], m1 = m[4 + b], m2 = m[8 + b], m3 = m[12 + b];
            q[0][b] = m0 + T(0.5) * (m1 + m2);
            q[1][b] = T(0.5) * (m1 - m2);
            q[2][b] = T(0.5) * (m1 + m2) + m3;
        }
        T* out = dw + j * 9;
        for (std::size_t a = 0; a < 3; ++a) {
            out[a * 3 + 0] = q[a][0] + T(0.5) * (q[a][1] + q[a][2]);
            out[a * 3 + 1] = T(0.5) * (q[a][1] - q[a][2]);
            out[a * 3 + 2] = T(0.5) * (q[a][1] + q[a][2]) + q[a][3];
        }
    }
}

/// F(2x2, 3x3) for the shared drivers winograd_conv3x3 and winograd_conv3x3_backward_weight: 2x2
/// output tiles from 4x4 input windows, 16 transform points.
struct WinogradF2 {
    static constexpr std::size_t kOut = 2;
    static constexpr std::size_t kPoints = kWinogradPoints;
    /// Target tiles per GEMM group (the GEMMs' column count).
    static constexpr std::size_t kMinTiles = kWinogradMinTiles;

    /// u[16] = G g G^T (g(kh, kw) a double, or WinogradLanes of them).
    template <class V, class Get>
    static void kernel_transform(Get g, V* u) {
        winograd_kernel_transform<V>(g, u);
    }
    /// Scratch values for input / output on rows of TW tiles (Tp tiles per group: unused here).
    template <class T>
    static std::size_t scratch_size(std::size_t TW, std::size_t /*Tp*/) {
        return WinogradRowScratch<T>::size(TW);
    }
    /// Input transform of images [0, g) into the packed slivers V (see winograd_input_to_slivers).
    template <std::size_t NR, class T>
    static void input(const T* x, std::size_t g, std::size_t K, std::size_t H, std::size_t W, std::size_t PH,
                      std::size_t PW, std::size_t TH, std::size_t TW, std::size_t Tp, T* scratch, T* V) {
        winograd_input_to_slivers<NR>(x, g, K, H, W, PH, PW, TH, TW, Tp, WinogradRowScratch<T>(scratch, TW), V);
    }
    /// Output transform of images [0, g) (see winograd_output_from_points).
    template <class T>
    static void output(const T* Mb, std::size_t mplane, std::size_t Tp, std::size_t g, std::size_t M, std::size_t OH,
                       std::size_t OW, std::size_t TH, std::size_t TW, const T* bias, T* y, T* scratch) {
        winograd_output_from_points(Mb, mplane, Tp, g, M, OH, OW, TH, TW, bias, y, scratch, scratch + TW,
                                    scratch + 2 * TW, scratch + 3 * TW);
    }
    /// Weight gradient: scratch values for its transforms (one WinogradRowScratch).
    template <class T>
    static std::size_t weight_scratch_size(std::size_t TW, std::size_t /*tiles_img*/, std::size_t /*G*/,
                                           std::size_t /*MR*/, std::size_t /*NR*/) {
        return WinogradRowScratch<T>::size(TW);
    }
    /// Weight gradient: slivers [s0, s1) of the transformed dY of images [0, g)
    /// (winograd_dy_to_slivers).
    template <std::size_t MR, class T>
    static void dy_to_slivers(const T* dy, std::size_t g, std::size_t OC, std::size_t OH, std::size_t OW,
                              std::size_t TH, std::size_t TW, T* A, T* /*scratch*/, std::size_t s0, std::size_t s1) {
        winograd_dy_to_slivers<MR>(dy, g, OC, OH, OW, TH, TW, A, s0, s1);
    }
    /// Weight gradient: slivers [s0, s1) of the transformed input of images [0, g)
    /// (winograd_input_to_channel_slivers).
    template <std::size_t NR, class T>
    static void input_to_channel_slivers(const T* x, std::size_t g, std::size_t C, std::size_t H, std::size_t W,
                                         std::size_t PH, std::size_t PW, std::size_t TH, std::size_t TW, T* scratch,
                                         T* V, std::size_t s0, std::size_t s1) {
        winograd_input_to_channel_slivers<NR>(x, g, C, H, W, PH, PW, TH, TW, WinogradRowScratch<T>(scratch, TW), V,
                                              s0, s1);
    }
    /// Weight gradient: dw from the point sums Mw (winograd_weight_from_points).
    template <class T>
    static void weight_from_points(const T* Mw, std::size_t wplane, T* dw) {
        winograd_weight_from_points(Mw, wplane, dw);
    }
};

/// y[N, M, OH, OW] (overwritten; OH = H + 2PH - 2) = 3x3 stride-1 convolution of x[N, K, H, W]
/// given the kernels U packed for the variant F (winograd_pack_weights<MR, F>) and an optional
/// bias[M]. F is WinogradF2 or WinogradF4 (winograd4.hpp). Per group of images: input
/// transform -> V, F::kPoints GEMMs M_xi = U_xi * V_xi, output transform.
template <class Tile, class F, class T>
void winograd_conv3x3(std::size_t N, std::size_t K, std::size_t H, std::size_t W, std::size_t M, std::size_t PH,
                      std::size_t PW, const T* x, const T* U, const T* bias, T* y) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR, P = F::kPoints;
    const std::size_t KC = sliver_kc<Tile>();
    const std::size_t OH = H + 2 * PH - 2, OW = W + 2 * PW - 2;
    const std::size_t TH = (OH + F::kOut - 1) / F::kOut, TW = (OW + F::kOut - 1) / F::kOut, tiles_img = TH * TW;
    const std::size_t uplane = round_up(M, MR) * K;
    const std::size_t MCW = packed_a_block_rows<MR, T>(std::min(K, KC));

    const int avail = in_parallel() ? 1 : max_threads();
    const std::size_t G = winograd_group_size(N, tiles_img, F::kMinTiles, avail);
    const std::size_t groups = (N + G - 1) / G;
    const int nt = groups >= std::size_t(avail) ? avail : 1;
    const std::size_t img_in = K * H * W, img_out = M * OH * OW;

#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
    for (std::size_t gi = 0; gi < groups; ++gi) {
        thread_local AlignedBuffer<T> vbuf, mbuf, rowbuf;
        const std::size_t n0 = gi * G, g = std::min(G, N - n0);
        const std::size_t Tp = round_up(g * tiles_img, NR), vplane = Tp * K, mplane = M * Tp;
        T* V = vbuf.get(P * vplane);
        T* Mb = mbuf.get(P * mplane);
        T* scratch = rowbuf.get(F::template scratch_size<T>(TW, Tp));

        F::template input<NR>(x + n0 * img_in, g, K, H, W, PH, PW, TH, TW, Tp, scratch, V);
        for (std::size_t xi = 0; xi < P; ++xi)
            gemm_packed<Tile>(M, Tp, K, U + xi * uplane, V + xi * vplane, T(0), Mb + xi * mplane, Tp, KC, MCW);
        F::output(Mb, mplane, Tp, g, M, OH, OW, TH, TW, bias, y + n0 * img_out, scratch);
    }
}

/// dw[OC, C, 3, 3] (overwritten) of a 3x3 stride-1 convolution (winograd_forward_eligible) from
/// x[N, C, H, W] and dy[N, OC, OH, OW] with the variant F (WinogradF2, WinogradF4):
/// dw = G^T [ sum_tiles (A dY A^T) . (B^T d B) ] G, i.e. F::kPoints GEMMs
/// Mw_xi[OC, C] += DY_xi[OC, tiles] * V_xi[tiles, C] over the batch's groups of tiles.
/// The threads split the output channels, not the images: they go through the groups together;
/// per group they share out the input channels' transform (V, which every thread reads), and
/// each transforms the dY of its own MR-row slivers and runs the GEMMs for those rows only,
/// straight into the one Mw; then Mw goes back through G^T. No per-thread partial sums, so the
/// result does not depend on the thread count.
/// Why: splitting the images gave each thread its own F::kPoints OC x C point sums to add up at
/// the end (two 38 MiB sets for a 512-channel layer with F(4x4) on 2 threads, past L3): a third
/// of the 512-channel 4x4 layer's weight gradient at 2 threads, 37 -> 23 ms with the split by
/// rows (batch 128, Zen 4), and no slower elsewhere (docs/kernels.md).
template <class Tile, class F, class T>
void winograd_conv3x3_backward_weight(const Conv2dParams& p, const T* x, const T* dy, T* dw) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR, P = F::kPoints;
    const std::size_t KC = sliver_kc<Tile>();
    const std::size_t N = p.N, C = p.C, H = p.H, W = p.W, OC = p.OC, OH = p.OH(), OW = p.OW();
    const std::size_t TH = (OH + F::kOut - 1) / F::kOut, TW = (OW + F::kOut - 1) / F::kOut, tiles_img = TH * TW;
    const std::size_t OCp = round_up(OC, MR), Cp = round_up(C, NR), wplane = OC * C;
    const std::size_t MCW = packed_a_block_rows<MR, T>(KC);
    // groups of >= 2 KC tiles: the tile reduction runs over at least two K blocks per GEMM
    const std::size_t G = winograd_group_size(N, tiles_img, 2 * KC, 1), groups = (N + G - 1) / G;
    const std::size_t img_in = C * H * W, img_out = OC * OH * OW, slivers = OCp / MR, cslivers = Cp / NR;
    const int nt = in_parallel() ? 1 : int(std::min<std::size_t>(slivers, std::size_t(max_threads())));

    // shared by the team, owned by the calling thread
    thread_local AlignedBuffer<T> abuf, vbuf, mwbuf;
    T* A = abuf.get(P * OCp * G * tiles_img);
    T* V = vbuf.get(P * Cp * G * tiles_img);
    T* Mw = mwbuf.get(P * wplane);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        thread_local AlignedBuffer<T> rowbuf;
        T* scratch = rowbuf.get(F::template weight_scratch_size<T>(TW, tiles_img, G, MR, NR));
        const std::size_t t = std::size_t(nt > 1 ? thread_id() : 0);
        const std::size_t s0 = slivers * t / std::size_t(nt), s1 = slivers * (t + 1) / std::size_t(nt);
        const std::size_t r0 = s0 * MR, r1 = std::min(OC, s1 * MR);  // this thread's rows of Mw
        for (std::size_t gi = 0; gi < groups; ++gi) {
            const std::size_t n0 = gi * G, g = std::min(G, N - n0), Tn = g * tiles_img;
            const std::size_t aplane = OCp * Tn, vplane = Cp * Tn;
            F::template dy_to_slivers<MR>(dy + n0 * img_out, g, OC, OH, OW, TH, TW, A, scratch, s0, s1);
#pragma omp for schedule(static)
            for (std::size_t cs = 0; cs < cslivers; ++cs)
                F::template input_to_channel_slivers<NR>(x + n0 * img_in, g, C, H, W, p.PH, p.PW, TH, TW, scratch, V,
                                                         cs, cs + 1);
            // (the loop's barrier: V is complete)
            if (r0 < r1)
                for (std::size_t xi = 0; xi < P; ++xi)
                    gemm_packed<Tile>(r1 - r0, C, Tn, A + xi * aplane + s0 * Tn * MR, V + xi * vplane,
                                      gi == 0 ? T(0) : T(1), Mw + xi * wplane + r0 * C, C, KC, MCW);
#pragma omp barrier
            // (every thread is done with this group's V before the next group overwrites it)
        }
        F::weight_from_points(Mw, wplane, dw);
    }
}

}  // namespace salun::kernels::cpu::detail
