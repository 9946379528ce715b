// SPDX-License-Identifier: MIT
// Weight gradient of a convolution as an implicit GEMM: dW[OC, CKK] = sum_n dY_n[OC, P] * col_n[CKK, P]^T
// (P = OH*OW pixels), without materialising col_n.
//
// Why: with im2col, every column value is written once (a 2+ MiB matrix per 64-channel 32x32
// image, past L2), read back and transposed by the GEMM's packing, then used only OC times. Here
// the GEMM's B panels (NR consecutive (c, kh, kw) columns by KC pixels, k-major) are filled
// straight from a zero-padded copy of the image that stays in L2: for a fixed (c, kh, kw) and
// output row, the pixels are a contiguous run of that copy (after splitting its columns into SW
// phases, so strided convolutions read contiguous runs too), and runs of 8 are transposed into
// the panel in registers (transpose_block8: float, NR a multiple of 8, AVX).
// Templates on the tile (gemm_microkernel.hpp), like the GEMM: the tests run them with every
// ISA's tile shape.
//
// Layout of the padded copy: xq[c][r][s][u] = xpad[c][r][u * SW + s], xpad = x with PH/PW zeros.
// Then x value for output (oh, ow) and kernel tap (kh, kw) is xq[c][oh*SH + kh][kw % SW][ow + kw / SW].
//
// Threads take contiguous ranges of images, each accumulating its own dW; the partials are
// summed in thread order (deterministic for a fixed thread count), as in conv.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/params.hpp"

namespace salun::kernels::cpu {

namespace detail {

/// Geometry of the padded, phase-split image copy.
struct PaddedImage {
    std::size_t Hp, Wq, S;  // padded rows, entries per phase row, phases (= SW)
    std::size_t row() const { return S * Wq; }
    std::size_t plane() const { return Hp * S * Wq; }
};

inline PaddedImage padded_image(const Conv2dParams& p) {
    const std::size_t Wp = p.W + 2 * p.PW;
    return {p.H + 2 * p.PH, (Wp + p.SW - 1) / p.SW, p.SW};
}

/// xq (see the header comment) of one image x[C, H, W].
template <class T>
void pad_and_split(const Conv2dParams& p, const PaddedImage& g, const T* x, T* xq) {
    std::fill(xq, xq + p.C * g.plane(), T(0));
    for (std::size_t c = 0; c < p.C; ++c)
        for (std::size_t h = 0; h < p.H; ++h) {
            const T* src = x + (c * p.H + h) * p.W;
            T* dst = xq + c * g.plane() + (h + p.PH) * g.row();
            if (g.S == 1) {
                std::copy(src, src + p.W, dst + p.PW);
            } else {
                for (std::size_t w = 0; w < p.W; ++w) {
                    const std::size_t q = w + p.PW;
                    dst[(q % g.S) * g.Wq + q / g.S] = src[w];
                }
            }
        }
}

/// Packs the B panel for columns [j0, j0 + nr) of CKK and pixels [k0, k0 + kc) (whole output
/// rows oh0.. of OW pixels each, kc = rows * OW): dst[k * NR + j] = col[j0 + j][k0 + k].
template <std::size_t NR, class T>
void pack_col_panel(const Conv2dParams& p, const PaddedImage& g, const T* xq, std::size_t j0, std::size_t nr,
                    std::size_t oh0, std::size_t rows, T* dst) {
    const std::size_t OW = p.OW(), KK = p.KH * p.KW;
    // Source run of column j for output row oh: src[j] + oh * SH * row, OW contiguous values.
    const T* src[NR];
    for (std::size_t j = 0; j < NR; ++j) {
        const std::size_t col = j0 + std::min(j, nr - 1);
        const std::size_t c = col / KK, kh = col % KK / p.KW, kw = col % p.KW;
        src[j] = xq + c * g.plane() + kh * g.row() + (kw % g.S) * g.Wq + kw / g.S;
    }
    const std::size_t rstep = p.SH * g.row();
    for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t off = (oh0 + r) * rstep;
        T* d = dst + r * OW * NR;
        const T* s[NR];
        for (std::size_t j = 0; j < NR; ++j) s[j] = src[j] + off;
        std::size_t ow = 0;
        if (nr == NR)
            while (ow + 8 <= OW && transpose_block8<NR>(s, ow, d + ow * NR)) ow += 8;
        for (; ow < OW; ++ow)
            for (std::size_t j = 0; j < NR; ++j) d[ow * NR + j] = j < nr ? s[j][ow] : T(0);
    }
}

/// out[OC, CKK] (+)= dY_n * col_n^T for one image (beta 0 on the first chunk when `first`).
/// Per chunk of whole output rows (~KC pixels): all of dY's rows are packed once (L2), then each
/// NR-column B panel is packed into one L1-sized buffer and used at once by every A sliver.
template <class Tile, class T>
void weight_grad_image(const Conv2dParams& p, const PaddedImage& g, const T* xq, const T* dyn, bool first, T* out,
                       AlignedBuffer<T>& abuf, AlignedBuffer<T>& bbuf) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::size_t KC = sliver_kc<Tile>();
    const std::size_t OH = p.OH(), OW = p.OW(), P = OH * OW, CKK = p.C * p.KH * p.KW, OC = p.OC;
    const std::size_t rows_per_chunk = std::max<std::size_t>(1, KC / OW);
    const std::size_t kc_max = std::min(P, rows_per_chunk * OW);
    T* Ap = abuf.get(round_up(OC, MR) * kc_max);
    T* bp = bbuf.get(NR * kc_max);
    for (std::size_t oh0 = 0; oh0 < OH; oh0 += rows_per_chunk) {
        const std::size_t rows = std::min(rows_per_chunk, OH - oh0), kc = rows * OW, k0 = oh0 * OW;
        const T beta = first && oh0 == 0 ? T(0) : T(1);
        pack_a<MR>(false, OC, kc, dyn + k0, P, Ap);
        for (std::size_t jr = 0; jr < CKK; jr += NR) {
            const std::size_t nr = std::min(NR, CKK - jr);
            pack_col_panel<NR>(p, g, xq, jr, nr, oh0, rows, bp);
            for (std::size_t ir = 0; ir < OC; ir += MR)
                Tile::kernel(kc, Ap + ir * kc, bp, out + ir * CKK + jr, CKK, T(1), beta, std::min(MR, OC - ir), nr);
        }
    }
}

}  // namespace detail

/// dw[OC, C, KH, KW] (overwritten) = sum over the batch of dY_n * im2col(x_n)^T.
template <class T, class Tile = detail::NativeTile<T>>
void conv2d_weight_grad_implicit(const Conv2dParams& p, const T* x, const T* dy, T* dw) {
    const detail::PaddedImage g = detail::padded_image(p);
    const std::size_t CKK = p.C * p.KH * p.KW, wsize = p.OC * CKK;
    const std::size_t img_in = p.C * p.H * p.W, img_out = p.OC * p.OH() * p.OW();
    if (p.N == 0) {
        std::fill(dw, dw + wsize, T(0));
        return;
    }
    const int avail = detail::in_parallel() ? 1 : detail::max_threads();
    const int nt = int(std::min<std::size_t>(p.N, std::size_t(avail)));
    std::vector<T*> partial(std::size_t(nt), nullptr);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        thread_local detail::AlignedBuffer<T> xbuf, abuf, bbuf, dwbuf;
        const int t = nt > 1 ? detail::thread_id() : 0;
        const std::size_t per = (p.N + std::size_t(nt) - 1) / std::size_t(nt);
        const std::size_t n0 = std::size_t(t) * per, n1 = std::min(p.N, n0 + per);
        T* mine = nt == 1 ? dw : (n0 < n1 ? dwbuf.get(wsize) : nullptr);
        T* xq = xbuf.get(p.C * g.plane());
        for (std::size_t n = n0; n < n1; ++n) {
            detail::pad_and_split(p, g, x + n * img_in, xq);
            detail::weight_grad_image<Tile>(p, g, xq, dy + n * img_out, n == n0, mine, abuf, bbuf);
        }
        if (nt > 1) {
            partial[std::size_t(t)] = mine;
#pragma omp barrier
            detail::sum_partials_in_order(partial, wsize, dw);
        } else if (n0 >= n1) {
            std::fill(dw, dw + wsize, T(0));
        }
    }
}

}  // namespace salun::kernels::cpu
