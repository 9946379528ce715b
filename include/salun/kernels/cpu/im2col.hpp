// SPDX-License-Identifier: MIT
// im2col / col2im for one NCHW image, writing into (reading from) a column matrix with an
// arbitrary leading dimension so that several images can sit side by side:
//   col[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*SH + kh - PH][ow*SW + kw - PW]  (0 outside).
//
// For a horizontal stride S > 1 the columns x[h][ow*S + kw - PW] of one kernel offset kw are
// every S-th input column. On rows of 16 outputs and more, each input row is first split into S
// column phases, phase[q][j] = x[h][j*S + q] (split_row_phases), and the row for kw is then one
// contiguous copy from phase q = (kw - PW) mod S starting at column ow + floor((kw - PW) / S)
// (phase_offset). col2im accumulates into the phases of every row and interleaves them back once
// per plane (merge_row_phases). The element-wise strided copy took a fifth of ResNet-18's first
// stride-2 layer (32x32 -> 16x16). Shorter rows (and vertical strides) split the whole padded
// plane into its polyphase components instead (plane phases, use_plane_phases), from which each
// tap's rows are contiguous runs; 1x1 strided kernels keep the element-wise copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
#include <xsimd/xsimd.hpp>
#endif

#include "salun/kernels/cpu/prefetch.hpp"
#include "salun/kernels/cpu/threading.hpp"
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

/// Width of one column phase of a W-wide row split with stride S (the phases of q >= W % S are
/// one column shorter; their last column is padding that no valid column reads).
inline std::size_t phase_width(std::size_t W, std::size_t S) { return (W + S - 1) / S; }

/// Where kernel column kw reads from, for horizontal stride S and padding P: input column
/// ow*S + kw - P is column ow + shift of phase q (shift may be negative, never for a valid ow).
struct PhaseOffset {
    std::size_t q;
    std::ptrdiff_t shift;
};
inline PhaseOffset phase_offset(std::size_t kw, std::size_t P, std::size_t S) {
    const std::ptrdiff_t off = std::ptrdiff_t(kw) - std::ptrdiff_t(P), s = std::ptrdiff_t(S);
    const std::ptrdiff_t q = ((off % s) + s) % s;
    return {std::size_t(q), (off - q) / s};
}

/// phase[q][j] = x[j*S + q] for one row of W values (S > 1), phases of phase_width(W, S) values
/// pw apart; the padding column of a short phase is zero.
template <class T>
void split_row_phases(const T* x, std::size_t W, std::size_t S, std::size_t pw, T* phase) {
    if (S == 2) {  // the common case, in a form the compiler vectorises (even / odd lanes)
        T* e = phase;
        T* o = phase + pw;
        const std::size_t half = W / 2;
        for (std::size_t j = 0; j < half; ++j) {
            e[j] = x[2 * j];
            o[j] = x[2 * j + 1];
        }
        if (W % 2) e[half] = x[W - 1], o[half] = T(0);
        return;
    }
    for (std::size_t q = 0; q < S; ++q) {
        T* d = phase + q * pw;
        std::size_t j = 0;
        for (; j * S + q < W; ++j) d[j] = x[j * S + q];
        for (; j < pw; ++j) d[j] = T(0);
    }
}

/// The inverse of split_row_phases: x[j*S + q] = phase[q][j] (overwrites the row).
template <class T>
void merge_row_phases(const T* phase, std::size_t W, std::size_t S, std::size_t pw, T* x) {
    if (S == 2) {
        const T* e = phase;
        const T* o = phase + pw;
        const std::size_t half = W / 2;
        for (std::size_t j = 0; j < half; ++j) {
            x[2 * j] = e[j];
            x[2 * j + 1] = o[j];
        }
        if (W % 2) x[W - 1] = e[half];
        return;
    }
    for (std::size_t q = 0; q < S; ++q)
        for (std::size_t j = 0; j * S + q < W; ++j) x[j * S + q] = phase[q * pw + j];
}

/// dst[0:n] = src[0:n] for the short rows of convolution maps (4 to 32 values, a few hundred
/// thousand per layer): whole vectors inline, as a call to memcpy per row cost more than the copy
/// (a plain loop is turned back into that call by the compiler). Long rows go to memcpy.
template <class T>
inline void copy_row(T* dst, const T* src, std::size_t n) {
    if (n > 64) {
        std::memcpy(dst, src, n * sizeof(T));
        return;
    }
    // rows of 16 or 32 bytes (the 4x4 and 8x8 maps' rows of float) in one move, below the width
    // of an AVX-512 batch that the loop below takes
    if (n * sizeof(T) == 32) {
        std::memcpy(dst, src, 32);
        return;
    }
    if (n * sizeof(T) == 16) {
        std::memcpy(dst, src, 16);
        return;
    }
    std::size_t i = 0;
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
    if constexpr (xsimd::has_simd_register<T>::value) {  // (not double on 32-bit ARM)
        using V = xsimd::batch<T>;
        for (; i + V::size <= n; i += V::size) V::load_unaligned(src + i).store_unaligned(dst + i);
    }
#endif
    for (; i < n; ++i) dst[i] = src[i];
}

/// dst[0:n] = 0 for the padding at a short row's ends (0 to 2 values): inline, for the same reason.
template <class T>
inline void zero_row(T* dst, std::size_t n) {
    if (n > 64) {
        std::fill(dst, dst + n, T(0));
        return;
    }
    for (std::size_t i = 0; i < n; ++i) dst[i] = T(0);
}

/// Strided rows of at least this many outputs go through column phases; shorter ones (8x8 and
/// smaller maps) are copied element by element, where splitting the row first cost more than it
/// saved (measured in docs/performance.md).
constexpr std::size_t kPhaseMinOutputs = 16;

inline bool use_column_phases(const Conv2dParams& p) { return p.SW > 1 && p.OW() >= kPhaseMinOutputs; }

/// The other strided convolutions with kernels of more than one tap (rows of fewer than
/// kPhaseMinOutputs outputs, or a vertical stride only) go through plane phases: each input
/// plane, with its zero padding, is split once into its SH x SW polyphase components,
/// comp[qh][qw][a][b] = padded(a SH + qh, b SW + qw), and the column row of tap (kh, kw) is then
/// OH runs of OW contiguous values of component (kh mod SH, kw mod SW) from row kh / SH, column
/// kw / SW. col2im adds into the components and merges them into the plane once. Why: copied
/// element by element with bounds per row, the strided 8x8 and 4x4 maps of ResNet-18's stride-2
/// layers spent 15-20% of those layers in im2col and col2im (perf, Intel Xeon). 1x1 strided
/// kernels keep the element-wise copy: the split touched four times the values they read.
inline bool use_plane_phases(const Conv2dParams& p) {
    return (p.SH > 1 || p.SW > 1) && p.KH * p.KW > 1 && !use_column_phases(p);
}

/// col2im takes plane phases on rows of at least this many outputs. Measured per value (Intel
/// Xeon, 3x3 stride 2, 1 thread): 8 outputs (16x16 -> 8x8) 0.85 -> 0.49 ns, but on rows of 4 (8x8 ->
/// 4x4) 1.3 -> 2.0 ns: zeroing and merging the components cost more than the strided adds saved.
/// im2col takes them on every row length (8x8 -> 4x4: 1.8 -> 1.2 ns).
constexpr std::size_t kPlanePhaseMinSumOutputs = 8;

/// x / S and x mod S for the plane phases: kS > 0 is a stride known at compile time (2, ResNet's
/// and VGG's, as shifts), 0 a stride read at run time. Why: im2col runs once per input plane
/// (pack_group_columns), and the divisions by a run-time stride in the walk below (about 80 per
/// 8x8 plane) cost as much as the copies themselves.
template <std::size_t kS>
struct StrideMath {
    static std::size_t div(std::size_t x, std::size_t s) { return kS ? x / kS : x / s; }
    static std::size_t mod(std::size_t x, std::size_t s) { return kS ? x % kS : x % s; }
};

/// Extents of the plane phases: Ha x Wa values per component, covering the padded plane and every
/// tap's reads.
struct PlanePhases {
    std::size_t Ha, Wa;
    std::size_t size(const Conv2dParams& p) const { return p.SH * p.SW * Ha * Wa; }
    /// The start of tap (kh, kw)'s values: row oh of its column row is OW values from here + oh * Wa.
    template <class M>
    std::size_t tap(const Conv2dParams& p, std::size_t kh, std::size_t kw) const {
        return (M::mod(kh, p.SH) * p.SW + M::mod(kw, p.SW)) * Ha * Wa + M::div(kh, p.SH) * Wa + M::div(kw, p.SW);
    }
};
inline PlanePhases plane_phases(const Conv2dParams& p) {
    const std::size_t Hp = std::max((p.OH() - 1) * p.SH + p.KH, p.PH + p.H);
    const std::size_t Wp = std::max((p.OW() - 1) * p.SW + p.KW, p.PW + p.W);
    return {(Hp + p.SH - 1) / p.SH, (Wp + p.SW - 1) / p.SW};
}

/// Calls f(component value, plane value) for every value of the plane xc (H x W) and its place in
/// the components comp: padded position (h + PH, w + PW). Each input row is walked once per
/// starting column w0 < SW, whose column phase and component column follow from w0 + PW.
template <class M, class Cp, class Xp, class F>
void walk_plane_phases(const Conv2dParams& p, const PlanePhases& ph, Cp* comp, Xp* xc, F f) {
    const std::size_t starts = std::min(p.SW, p.W);
    for (std::size_t h = 0; h < p.H; ++h) {
        const std::size_t i = h + p.PH;
        Cp* row = comp + M::mod(i, p.SH) * p.SW * ph.Ha * ph.Wa + M::div(i, p.SH) * ph.Wa;
        Xp* x = xc + h * p.W;
        for (std::size_t w0 = 0; w0 < starts; ++w0) {
            const std::size_t j = w0 + p.PW;
            Cp* c = row + M::mod(j, p.SW) * ph.Ha * ph.Wa + M::div(j, p.SW);
            for (std::size_t w = w0, b = 0; w < p.W; w += p.SW, ++b) f(c[b], x[w]);
        }
    }
}

/// im2col through plane phases (use_plane_phases), with the stride math M.
template <class M, class T>
void im2col_plane_phases(const Conv2dParams& p, const T* x, T* col, std::size_t ld) {
    const std::size_t OH = p.OH(), OW = p.OW();
    const PlanePhases ph = plane_phases(p);
    thread_local AlignedBuffer<T> comp_buf;
    T* comp = comp_buf.get(ph.size(p));
    for (std::size_t c = 0; c < p.C; ++c) {
        if (c + 1 < p.C) prefetch_range(x, (c + 1) * p.H * p.W * sizeof(T), p.H * p.W * sizeof(T));
        std::fill(comp, comp + ph.size(p), T(0));
        walk_plane_phases<M>(p, ph, comp, x + c * p.H * p.W, [](T& v, const T& xv) { v = xv; });
        for (std::size_t kh = 0; kh < p.KH; ++kh)
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                const T* src = comp + ph.tap<M>(p, kh, kw);
                T* r = col + ((c * p.KH + kh) * p.KW + kw) * ld;
                for (std::size_t oh = 0; oh < OH; ++oh) copy_row(r + oh * OW, src + oh * ph.Wa, OW);
            }
    }
}

/// col2im through plane phases: the taps' sums go into the components, merged into dx per plane.
template <class M, class T>
void col2im_plane_phases(const Conv2dParams& p, const T* dcol, std::size_t ld, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW();
    const PlanePhases ph = plane_phases(p);
    thread_local AlignedBuffer<T> comp_buf;
    T* comp = comp_buf.get(ph.size(p));
    for (std::size_t c = 0; c < p.C; ++c) {
        std::fill(comp, comp + ph.size(p), T(0));
        for (std::size_t kh = 0; kh < p.KH; ++kh)
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                T* dst = comp + ph.tap<M>(p, kh, kw);
                const T* r = dcol + ((c * p.KH + kh) * p.KW + kw) * ld;
                for (std::size_t oh = 0; oh < OH; ++oh) {
                    T* d = dst + oh * ph.Wa;
                    const T* ro = r + oh * OW;
#pragma omp simd
                    for (std::size_t ow = 0; ow < OW; ++ow) d[ow] += ro[ow];
                }
            }
        walk_plane_phases<M>(p, ph, comp, dx + c * p.H * p.W, [](const T& v, T& xv) { xv = v; });
    }
}

/// Per kernel column kw: the valid output columns [lo, hi) and where they read (phase_offset).
/// Worked out once per call: the divisions in them cost more than a short row's copy.
struct KernelColumn {
    std::size_t lo, hi;
    PhaseOffset from;
};
inline const std::vector<KernelColumn>& kernel_columns(const Conv2dParams& p) {
    thread_local std::vector<KernelColumn> cols;
    cols.resize(p.KW);
    for (std::size_t kw = 0; kw < p.KW; ++kw) {
        valid_range(p.OW(), p.W, p.SW, kw, p.PW, cols[kw].lo, cols[kw].hi);
        cols[kw].from = phase_offset(kw, p.PW, p.SW);
    }
    return cols;
}

/// x: one image [C,H,W]; col: [C*KH*KW] rows of OH*OW columns, row stride ld.
template <class T>
void im2col(const Conv2dParams& p, const T* x, T* col, std::size_t ld) {
    const std::size_t OH = p.OH(), OW = p.OW(), S = p.SW;
    if (use_plane_phases(p)) {
        if (p.SH == 2 && p.SW == 2) return im2col_plane_phases<StrideMath<2>>(p, x, col, ld);
        return im2col_plane_phases<StrideMath<0>>(p, x, col, ld);
    }
    const bool phased = use_column_phases(p);
    const std::size_t pw = phase_width(p.W, S);
    thread_local AlignedBuffer<T> phase_buf;
    T* phase = phased ? phase_buf.get(S * pw) : nullptr;
    const std::vector<KernelColumn>& kcols = kernel_columns(p);
    for (std::size_t c = 0; c < p.C; ++c) {
        const T* xc = x + c * p.H * p.W;
        // the next plane, while this one is copied KH x KW times (see prefetch.hpp)
        if (c + 1 < p.C) prefetch_range(x, (c + 1) * p.H * p.W * sizeof(T), p.H * p.W * sizeof(T));
        for (std::size_t kh = 0; kh < p.KH; ++kh) {
            std::size_t oh_lo, oh_hi;
            valid_range(OH, p.H, p.SH, kh, p.PH, oh_lo, oh_hi);
            T* rows = col + (c * p.KH + kh) * p.KW * ld;  // the KW rows of this (c, kh)
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                std::fill(rows + kw * ld, rows + kw * ld + oh_lo * OW, T(0));
                std::fill(rows + kw * ld + oh_hi * OW, rows + kw * ld + OH * OW, T(0));
            }
            // row oh of the column row of kernel column kw, from input row xr (S == 1), its
            // phases (phased) or its every S-th value
            auto put = [&](std::size_t kw, std::size_t oh, const T* xr) {
                const std::size_t ow_lo = kcols[kw].lo, ow_hi = kcols[kw].hi;
                T* r = rows + kw * ld + oh * OW;
                zero_row(r, ow_lo);
                if (S == 1 || phased) {
                    // ow_lo + shift >= 0 by construction of the valid range
                    const PhaseOffset po = kcols[kw].from;
                    const T* src = S == 1 ? xr : phase + po.q * pw;
                    if (ow_hi > ow_lo) copy_row(r + ow_lo, src + std::ptrdiff_t(ow_lo) + po.shift, ow_hi - ow_lo);
                } else {
                    for (std::size_t ow = ow_lo; ow < ow_hi; ++ow) r[ow] = xr[ow * S + kw - p.PW];
                }
                zero_row(r + ow_hi, OW - ow_hi);
            };
            auto input_row = [&](std::size_t oh) { return xc + (oh * p.SH + kh - p.PH) * p.W; };
            if (phased) {  // each input row split once, then copied into the KW rows
                for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
                    split_row_phases(input_row(oh), p.W, S, pw, phase);
                    for (std::size_t kw = 0; kw < p.KW; ++kw) put(kw, oh, input_row(oh));
                }
            } else {  // one column row at a time: rows of 8 values or less are half a cache line
                for (std::size_t kw = 0; kw < p.KW; ++kw)
                    for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) put(kw, oh, input_row(oh));
            }
        }
    }
}

/// dx (one image [C,H,W], overwritten) = col2im of dcol ([C*KH*KW] rows, stride ld).
template <class T>
void col2im(const Conv2dParams& p, const T* dcol, std::size_t ld, T* dx) {
    const std::size_t OH = p.OH(), OW = p.OW(), S = p.SW;
    if (use_plane_phases(p) && p.OW() >= kPlanePhaseMinSumOutputs) {
        if (p.SH == 2 && p.SW == 2) return col2im_plane_phases<StrideMath<2>>(p, dcol, ld, dx);
        return col2im_plane_phases<StrideMath<0>>(p, dcol, ld, dx);
    }
    // with column phases the sums go into the phases of every row ([H][S][pw]), merged into dx
    // once per plane
    // (only where kernel columns overlap: a 1x1 stride-2 layer's sums touch each input once, and
    // zeroing and merging the phases measured a third slower than its strided adds)
    const bool phased = use_column_phases(p) && p.KW > 1;
    const std::size_t pw = phase_width(p.W, S), prow = S * pw;
    thread_local AlignedBuffer<T> phase_buf;
    T* phases = phased ? phase_buf.get(p.H * prow) : nullptr;
    const std::vector<KernelColumn>& kcols = kernel_columns(p);
    if (!phased) std::fill(dx, dx + p.C * p.H * p.W, T(0));
    for (std::size_t c = 0; c < p.C; ++c) {
        T* dxc = dx + c * p.H * p.W;
        if (phased) std::fill(phases, phases + p.H * prow, T(0));
        for (std::size_t kh = 0; kh < p.KH; ++kh) {
            std::size_t oh_lo, oh_hi;
            valid_range(OH, p.H, p.SH, kh, p.PH, oh_lo, oh_hi);
            for (std::size_t kw = 0; kw < p.KW; ++kw) {
                const std::size_t ow_lo = kcols[kw].lo, ow_hi = kcols[kw].hi;
                const PhaseOffset po = kcols[kw].from;
                const T* row = dcol + ((c * p.KH + kh) * p.KW + kw) * ld;
                const std::size_t len = ow_hi > ow_lo ? ow_hi - ow_lo : 0;
                for (std::size_t oh = oh_lo; oh < oh_hi; ++oh) {
                    const std::size_t h = oh * p.SH + kh - p.PH;
                    const T* ro = row + oh * OW + ow_lo;
                    if (S > 1 && !phased) {
                        T* xr = dxc + h * p.W;
                        for (std::size_t ow = ow_lo; ow < ow_hi; ++ow) xr[ow * S + kw - p.PW] += row[oh * OW + ow];
                        continue;
                    }
                    T* xo = (phased ? phases + h * prow + po.q * pw : dxc + h * p.W) + std::ptrdiff_t(ow_lo) + po.shift;
#pragma omp simd
                    for (std::size_t i = 0; i < len; ++i) xo[i] += ro[i];
                }
            }
        }
        if (phased)
            for (std::size_t h = 0; h < p.H; ++h) merge_row_phases(phases + h * prow, p.W, S, pw, dxc + h * p.W);
    }
}

}  // namespace salun::kernels::cpu::detail
