// SPDX-License-Identifier: MIT
// CPU convolution kernels (NCHW), same contract as reference::conv2d_*. Each pass picks one of
// four paths: one GEMM per connected (output, input) position pair over the batch
// (conv_taps.hpp) for stride-1 layers with outputs of at most 2x2; Winograd (winograd.hpp) for
// 3x3 stride-1 layers with enough channels (F(4x4,3x3) of winograd4.hpp with padding <= 1 on
// maps of 3x3 and more, 4x4 and more for the weight gradient; else F(2x2,3x3)); the
// implicit-GEMM weight gradient (conv_weight_grad.hpp) for the other stride-1 layers on 16x16+
// maps; and otherwise im2col + GEMM, described here. All four are templates on the GEMM tile
// (default NativeTile<T>), so the tests run every path with the tile shape of every ISA.
//
// The batch is cut into groups of G consecutive images; G is 1 for large feature maps and grows
// for small ones so that every GEMM has at least ~256 columns (G*OH*OW), which keeps the
// micro-tile busy on 4x4 and 2x2 maps. Groups are spread over OpenMP threads (dynamically for
// forward/backward_input, whose groups are independent; statically for backward_weight);
// each thread owns thread_local, reused column/scratch buffers and calls the GEMM serially.
// When there are fewer groups than threads (tiny batch) groups run one after another and the
// GEMM itself is threaded instead.
//
//   forward:         Y_g[OC, G*OHW]   = W[OC, CKK] * col_g[CKK, G*OHW]       (+ bias)
//   backward_input:  dcol_g[CKK, G*OHW] = W^T * dY_g[OC, G*OHW], then col2im
//   backward_weight: dW_t[OC, CKK]   += dY_g * col_g^T per thread t, then dW = sum_t dW_t in
//                    thread order (deterministic for a fixed thread count); dbias summed per
//                    channel in image order. Stride-1 convolutions on 16x16+ maps use the
//                    implicit GEMM of conv_weight_grad.hpp instead (no column matrix).
// A 1x1, stride-1, pad-0 convolution with G == 1 uses the image itself as the column matrix.
// When every thread has groups (the usual case), forward and backward_input pack the weights once
// per call into gemm_packed's A slivers (W, or W^T) and write each group's B operand straight into
// its slivers: the im2col rows plane by plane through an L1 scratch (pack_group_columns), or dY /
// a pointwise input plane by plane (pack_group_planes). No column matrix is written and then
// copied again by the GEMM's packing, and the weights are not repacked per group.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "salun/kernels/cpu/conv_taps.hpp"
#include "salun/kernels/cpu/conv_weight_grad.hpp"
#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/im2col.hpp"
#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/cpu/winograd.hpp"
#include "salun/kernels/cpu/winograd4.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu {

namespace detail {

/// Minimum number of GEMM columns (G * OH * OW) per group.
constexpr std::size_t kConvMinColumns = 256;

/// Images per group for this convolution and thread count.
inline std::size_t conv_group_size(const Conv2dParams& p, int nthreads = max_threads()) {
    const std::size_t ohw = std::max<std::size_t>(1, p.OH() * p.OW());
    std::size_t g = std::max<std::size_t>(1, (kConvMinColumns + ohw - 1) / ohw);
    // keep at least one group per thread when the batch allows it
    const std::size_t nt = std::size_t(std::max(1, nthreads));
    const std::size_t per_thread = (p.N + nt - 1) / nt;
    g = std::min(g, std::max<std::size_t>(1, per_thread));
    return std::min(g, std::max<std::size_t>(1, p.N));
}

/// Stride-1 convolutions on maps of 16x16 and more: the weight gradient as an implicit GEMM
/// (conv_weight_grad.hpp) beats im2col and Winograd F(2x2) there (measured in bench/); smaller
/// maps keep Winograd, strided ones im2col. The 3x3 layers that F(4x4) takes
/// (winograd4_backward_weight_eligible, checked first) leave it the first layer (C = 3), 1x1 and
/// other kernel sizes.
inline bool implicit_weight_grad_eligible(const Conv2dParams& p) {
    return p.SH == 1 && p.SW == 1 && p.OW() >= 16 && p.OH() * p.OW() >= 256;
}

inline bool conv_is_pointwise(const Conv2dParams& p) {
    return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0;
}

struct ConvPlan {
    std::size_t OHW, CKK, G, groups;
    int nt;           // threads used across groups (1: groups run serially, GEMM may thread)
    bool pointwise;   // 1x1/s1/p0 with G == 1: no im2col
    bool packed;      // every thread has groups: pre-packed weights and gemm_packed per group
                      // (else a tiny batch on several threads: the threaded GEMM per group)
};

inline ConvPlan conv_plan(const Conv2dParams& p) {
    ConvPlan pl;
    pl.OHW = p.OH() * p.OW();
    pl.CKK = p.C * p.KH * p.KW;
    const int avail = in_parallel() ? 1 : max_threads();
    pl.G = conv_group_size(p, avail);
    pl.groups = (p.N + pl.G - 1) / pl.G;
    pl.nt = pl.groups >= std::size_t(avail) ? avail : 1;
    pl.pointwise = conv_is_pointwise(p) && pl.G == 1;
    pl.packed = pl.nt == avail;
    return pl;
}

/// Copies images [n0, n0+g) of t[N, R, OHW] into buf[R, g*OHW] (row stride g*OHW).
template <class T>
void gather_group(const T* t, std::size_t R, std::size_t OHW, std::size_t n0, std::size_t g, T* buf) {
    const std::size_t ld = g * OHW;
    for (std::size_t i = 0; i < g; ++i) {
        const T* src = t + (n0 + i) * R * OHW;
        for (std::size_t r = 0; r < R; ++r) std::copy(src + r * OHW, src + (r + 1) * OHW, buf + r * ld + i * OHW);
    }
}

/// Inverse of gather_group: buf[R, g*OHW] into images [n0, n0+g) of t[N, R, OHW].
template <class T>
void scatter_group(const T* buf, std::size_t R, std::size_t OHW, std::size_t n0, std::size_t g, T* t) {
    const std::size_t ld = g * OHW;
    for (std::size_t i = 0; i < g; ++i) {
        T* dst = t + (n0 + i) * R * OHW;
        for (std::size_t r = 0; r < R; ++r) std::copy(buf + r * ld + i * OHW, buf + r * ld + (i + 1) * OHW, dst + r * OHW);
    }
}

/// Fills col[CKK, g*OHW] with the im2col of images [n0, n0+g).
template <class T>
void im2col_group(const Conv2dParams& p, const T* x, std::size_t n0, std::size_t g, std::size_t OHW, T* col) {
    const std::size_t img = p.C * p.H * p.W;
    for (std::size_t i = 0; i < g; ++i) im2col(p, x + (n0 + i) * img, col + i * OHW, g * OHW);
}

/// The GEMM's B operand for images [n0, n0+g): the input itself for a pointwise convolution,
/// else their im2col columns ([CKK] rows of g*OHW) written into `colbuf`.
template <class T>
const T* group_columns(const Conv2dParams& p, const ConvPlan& pl, const T* x, std::size_t n0, std::size_t g,
                       AlignedBuffer<T>& colbuf) {
    if (pl.pointwise) return x + n0 * p.C * p.H * p.W;
    T* col = colbuf.get(pl.CKK * g * pl.OHW);
    im2col_group(p, x, n0, g, pl.OHW, col);
    return col;
}

/// Copies n values into columns [j0, j0 + n) of row r of a packed B operand (gemm_packed's
/// format: NR-column slivers of [K][NR], `sliver_stride` = K * NR values apart).
template <std::size_t NR, class T>
void segment_to_slivers(const T* src, std::size_t n, std::size_t j0, std::size_t r, T* dst, std::size_t sliver_stride) {
    for (std::size_t j = j0, e = j0 + n; j < e;) {
        const std::size_t jr = j % NR, len = std::min(NR - jr, e - j);
        copy_row(dst + (j / NR) * sliver_stride + r * NR + jr, src, len);
        src += len;
        j += len;
    }
}

/// Zeroes columns [n, round_up(n, NR)) of every row of a packed B operand with K rows: the pad
/// columns of its last sliver, which the micro-kernel reads and the store clips.
template <std::size_t NR, class T>
void zero_sliver_padding(std::size_t K, std::size_t n, T* dst) {
    if (n % NR == 0) return;
    T* last = dst + (n / NR) * K * NR;
    for (std::size_t r = 0; r < K; ++r) std::fill(last + r * NR + n % NR, last + (r + 1) * NR, T(0));
}

/// Images [n0, n0 + g) of t[N, R, OHW] as a packed B operand of R rows and g * OHW columns
/// (image i's plane r is columns [i * OHW, (i + 1) * OHW) of row r).
template <std::size_t NR, class T>
void pack_group_planes(const T* t, std::size_t R, std::size_t OHW, std::size_t n0, std::size_t g, T* Bp) {
    for (std::size_t i = 0; i < g; ++i) {
        const T* img = t + (n0 + i) * R * OHW;
        for (std::size_t r = 0; r < R; ++r) segment_to_slivers<NR>(img + r * OHW, OHW, i * OHW, r, Bp, R * NR);
    }
    zero_sliver_padding<NR>(R, g * OHW, Bp);
}

/// The im2col columns of images [n0, n0 + g) as a packed B operand (CKK rows, g * OHW columns),
/// built one input plane at a time: its KH * KW column rows go through `rows` (L1-sized scratch of
/// KH * KW * OHW values) and straight on into the slivers. No column matrix is written, and the
/// GEMM does not copy it again into its own packing.
template <std::size_t NR, class T>
void pack_group_columns(const Conv2dParams& p, const T* x, std::size_t n0, std::size_t g, std::size_t OHW, T* rows,
                        T* Bp) {
    const std::size_t KK = p.KH * p.KW, CKK = p.C * KK, plane = p.H * p.W;
    Conv2dParams one = p;  // im2col of a single plane
    one.C = 1;
    for (std::size_t i = 0; i < g; ++i) {
        const T* img = x + (n0 + i) * p.C * plane;
        for (std::size_t c = 0; c < p.C; ++c) {
            if (c + 1 < p.C) prefetch_range(img, (c + 1) * plane * sizeof(T), plane * sizeof(T));
            im2col(one, img + c * plane, rows, OHW);
            for (std::size_t kk = 0; kk < KK; ++kk)
                segment_to_slivers<NR>(rows + kk * OHW, OHW, i * OHW, c * KK + kk, Bp, CKK * NR);
        }
    }
    zero_sliver_padding<NR>(CKK, g * OHW, Bp);
}

/// The weights as the packed A operand of gemm_packed, once per call instead of once per group:
/// W[OC, CKK] for the forward, W^T[CKK, OC] for backward_input (`trans`).
template <std::size_t MR, class T>
const T* pack_conv_weights(const Conv2dParams& p, const T* w, bool trans, AlignedBuffer<T>& buf) {
    const std::size_t CKK = p.C * p.KH * p.KW, M = trans ? CKK : p.OC, K = trans ? p.OC : CKK;
    T* Ap = buf.get(round_up(M, MR) * K);
    pack_a<MR>(trans, M, K, w, CKK, Ap);
    return Ap;
}

}  // namespace detail

/// y[N,OC,OH,OW] = conv(x, w) + bias (bias nullable), overwritten.
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_forward(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
    const detail::ConvPlan pl = detail::conv_plan(p);
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    if (p.N == 0 || p.OC == 0 || pl.OHW == 0) return;
    if (detail::conv_taps_eligible(p)) return conv2d_forward_taps<T, Tile>(p, x, w, bias, y);
    if (detail::winograd_forward_eligible(p)) {
        if (detail::winograd_use_f4(p.OH(), p.OW(), p.PH, p.PW))
            detail::winograd_conv3x3_packed<Tile, detail::WinogradF4>(p.N, p.C, p.H, p.W, p.OC, p.PH, p.PW, x, w,
                                                                      false, bias, y);
        else
            detail::winograd_conv3x3_packed<Tile, detail::WinogradF2>(p.N, p.C, p.H, p.W, p.OC, p.PH, p.PW, x, w,
                                                                      false, bias, y);
        return;
    }
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::size_t img_out = p.OC * pl.OHW, KK = p.KH * p.KW;
    const std::size_t KC = detail::sliver_kc<Tile>(), MC = detail::packed_a_block_rows<MR, T>(std::min(pl.CKK, KC));
    thread_local detail::AlignedBuffer<T> wbuf;  // owned by the calling thread, read by the team
    const T* Ap = pl.packed ? detail::pack_conv_weights<MR>(p, w, false, wbuf) : nullptr;
#pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1) if (pl.nt > 1)
    for (std::size_t gi = 0; gi < pl.groups; ++gi) {
        thread_local detail::AlignedBuffer<T> colbuf, outbuf, rowbuf;
        const std::size_t n0 = gi * pl.G, g = std::min(pl.G, p.N - n0), ns = g * pl.OHW;
        T* out = g == 1 ? y + n0 * img_out : outbuf.get(p.OC * ns);
        if (pl.packed) {
            T* Bp = colbuf.get(pl.CKK * detail::round_up(ns, NR));
            if (pl.pointwise)
                detail::pack_group_planes<NR>(x, p.C, pl.OHW, n0, g, Bp);
            else
                detail::pack_group_columns<NR>(p, x, n0, g, pl.OHW, rowbuf.get(KK * pl.OHW), Bp);
            detail::gemm_packed<Tile>(p.OC, ns, pl.CKK, Ap, Bp, T(0), out, ns, KC, MC);
        } else {
            const T* B = detail::group_columns(p, pl, x, n0, g, colbuf);
            detail::gemm_with<Tile>(bl, false, false, p.OC, ns, pl.CKK, T(1), w, pl.CKK, B, ns, T(0), out, ns);
        }
        if (bias)
            for (std::size_t oc = 0; oc < p.OC; ++oc) {
                const T b = bias[oc];
                T* row = out + oc * ns;
#pragma omp simd
                for (std::size_t s = 0; s < ns; ++s) row[s] += b;
            }
        if (g > 1) detail::scatter_group(out, p.OC, pl.OHW, n0, g, y);
    }
}

/// dx[N,C,H,W] (overwritten) from dy[N,OC,OH,OW] and w.
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_backward_input(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
    const detail::ConvPlan pl = detail::conv_plan(p);
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    const std::size_t img_in = p.C * p.H * p.W, img_out = p.OC * pl.OHW;
    if (pl.OHW == 0 || p.OC == 0) {
        std::fill(dx, dx + p.N * img_in, T(0));
        return;
    }
    if (detail::conv_taps_eligible(p)) return conv2d_backward_input_taps<T, Tile>(p, dy, w, dx);
    if (detail::winograd_backward_input_eligible(p)) {
        // the forward convolution of dy (OC channels, OH x OW) with the flipped kernels, padding 2 - P
        if (detail::winograd_use_f4(p.H, p.W, 2 - p.PH, 2 - p.PW))
            detail::winograd_conv3x3_packed<Tile, detail::WinogradF4>(p.N, p.OC, p.OH(), p.OW(), p.C, 2 - p.PH,
                                                                      2 - p.PW, dy, w, true, (const T*)nullptr, dx);
        else
            detail::winograd_conv3x3_packed<Tile, detail::WinogradF2>(p.N, p.OC, p.OH(), p.OW(), p.C, 2 - p.PH,
                                                                      2 - p.PW, dy, w, true, (const T*)nullptr, dx);
        return;
    }
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::size_t KC = detail::sliver_kc<Tile>(), MC = detail::packed_a_block_rows<MR, T>(std::min(p.OC, KC));
    thread_local detail::AlignedBuffer<T> wbuf;  // owned by the calling thread, read by the team
    const T* Ap = pl.packed ? detail::pack_conv_weights<MR>(p, w, true, wbuf) : nullptr;
#pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1) if (pl.nt > 1)
    for (std::size_t gi = 0; gi < pl.groups; ++gi) {
        thread_local detail::AlignedBuffer<T> colbuf, dybuf;
        const std::size_t n0 = gi * pl.G, g = std::min(pl.G, p.N - n0), ns = g * pl.OHW;
        if (pl.packed) {
            T* Bp = dybuf.get(p.OC * detail::round_up(ns, NR));
            detail::pack_group_planes<NR>(dy, p.OC, pl.OHW, n0, g, Bp);
            T* out = pl.pointwise ? dx + n0 * img_in : colbuf.get(pl.CKK * ns);
            detail::gemm_packed<Tile>(pl.CKK, ns, p.OC, Ap, Bp, T(0), out, ns, KC, MC);
            if (!pl.pointwise)
                for (std::size_t i = 0; i < g; ++i) detail::col2im(p, out + i * pl.OHW, ns, dx + (n0 + i) * img_in);
            continue;
        }
        const T* B = dy + n0 * img_out;
        if (g > 1) {
            T* buf = dybuf.get(p.OC * ns);
            detail::gather_group(dy, p.OC, pl.OHW, n0, g, buf);
            B = buf;
        }
        if (pl.pointwise) {
            detail::gemm_with<Tile>(bl, true, false, pl.CKK, ns, p.OC, T(1), w, pl.CKK, B, ns, T(0), dx + n0 * img_in,
                                    ns);
            continue;
        }
        T* dcol = colbuf.get(pl.CKK * ns);
        detail::gemm_with<Tile>(bl, true, false, pl.CKK, ns, p.OC, T(1), w, pl.CKK, B, ns, T(0), dcol, ns);
        for (std::size_t i = 0; i < g; ++i) detail::col2im(p, dcol + i * pl.OHW, ns, dx + (n0 + i) * img_in);
    }
}

/// dw[OC,C,KH,KW] and dbias[OC] (nullable), overwritten.
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_backward_weight(const Conv2dParams& p, const T* x, const T* dy, T* dw, T* dbias) {
    const detail::ConvPlan pl = detail::conv_plan(p);
    const detail::GemmBlocking& bl = detail::gemm_blocking<Tile>();
    const std::size_t img_out = p.OC * pl.OHW, wsize = p.OC * pl.CKK;
    const int nt = pl.nt;

    if (dbias) {
#pragma omp parallel for schedule(static) if (!detail::in_parallel() && p.OC > 1)
        for (std::size_t oc = 0; oc < p.OC; ++oc) {
            double s = 0;
            for (std::size_t n = 0; n < p.N; ++n) {
                const T* r = dy + n * img_out + oc * pl.OHW;
                double sn = 0;
#pragma omp simd reduction(+ : sn)
                for (std::size_t i = 0; i < pl.OHW; ++i) sn += double(r[i]);
                s += sn;
            }
            dbias[oc] = T(s);
        }
    }
    if (p.N == 0 || pl.OHW == 0) {
        std::fill(dw, dw + wsize, T(0));
        return;
    }
    if (detail::conv_taps_eligible(p)) return conv2d_backward_weight_taps<T, Tile>(p, x, dy, dw);
    if (detail::winograd4_backward_weight_eligible(p)) {
        detail::winograd_conv3x3_backward_weight<Tile, detail::WinogradF4>(p, x, dy, dw);
        return;
    }
    if (detail::implicit_weight_grad_eligible(p)) {
        conv2d_weight_grad_implicit<T, Tile>(p, x, dy, dw);
        return;
    }
    if (detail::winograd_backward_weight_eligible(p)) {
        detail::winograd_conv3x3_backward_weight<Tile, detail::WinogradF2>(p, x, dy, dw);
        return;
    }

    // One group's contribution: C_out = dY_g * col_g^T (+ beta * C_out).
    auto accumulate = [&](std::size_t gi, T beta, T* out, detail::AlignedBuffer<T>& colbuf,
                          detail::AlignedBuffer<T>& dybuf) {
        const std::size_t n0 = gi * pl.G, g = std::min(pl.G, p.N - n0), ns = g * pl.OHW;
        const T* A = dy + n0 * img_out;
        if (g > 1) {
            T* buf = dybuf.get(p.OC * ns);
            detail::gather_group(dy, p.OC, pl.OHW, n0, g, buf);
            A = buf;
        }
        const T* B = detail::group_columns(p, pl, x, n0, g, colbuf);
        detail::gemm_with<Tile>(bl, false, true, p.OC, pl.CKK, ns, T(1), A, ns, B, ns, beta, out, pl.CKK);
    };

    if (nt <= 1) {
        thread_local detail::AlignedBuffer<T> colbuf, dybuf;
        for (std::size_t gi = 0; gi < pl.groups; ++gi) accumulate(gi, gi == 0 ? T(0) : T(1), dw, colbuf, dybuf);
        return;
    }

    // Per-thread partial dW over a contiguous range of groups, then an ordered reduction.
    std::vector<T*> partial(std::size_t(nt), nullptr);
#pragma omp parallel num_threads(nt)
    {
        thread_local detail::AlignedBuffer<T> colbuf, dybuf, dwbuf;
        const int t = detail::thread_id();
        const std::size_t per = (pl.groups + std::size_t(nt) - 1) / std::size_t(nt);
        const std::size_t g0 = std::size_t(t) * per, g1 = std::min(pl.groups, g0 + per);
        if (g0 < g1) {
            T* mine = dwbuf.get(wsize);
            for (std::size_t gi = g0; gi < g1; ++gi) accumulate(gi, gi == g0 ? T(0) : T(1), mine, colbuf, dybuf);
            partial[std::size_t(t)] = mine;
        }
#pragma omp barrier
        detail::sum_partials_in_order(partial, wsize, dw);
    }
}

}  // namespace salun::kernels::cpu
