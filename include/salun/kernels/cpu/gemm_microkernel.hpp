// SPDX-License-Identifier: MIT
// The GEMM's register tile ("micro-kernel"), as a type that every GEMM-shaped kernel takes as a
// template parameter, so that packing, blocking and threading are written once for any tile
// shape and can be tested with the tile of any ISA on any machine.
//
// Tile contract (PortableTile and SimdTile below both satisfy it):
//   Tile::value_type, Tile::MR, Tile::NR (compile-time constants),
//   Tile::kernel(kc, a, b, c, ldc, alpha, beta, mr, nr):
//     a: kc steps of MR consecutive values (column k of an MR x kc sliver of op(A)),
//     b: kc steps of NR consecutive values (row k of a kc x NR sliver of op(B)); no alignment is
//        assumed (slivers are kc * NR values apart, and NR need not be a multiple of 16 bytes),
//     C[0:mr, 0:nr] = alpha * (a * b) + beta * C, mr <= MR, nr <= NR; beta == 0 never reads C.
//
// NativeTile<T> is the tile the GEMM uses: SimdTile, MR x (NV * SIMD width), as large as the
// register file holds (MR * NV accumulators + NV B vectors + 1 broadcast A value):
//   AVX-512 (32 zmm):    float 14 x 32, double 14 x 16
//   AVX2 / AVX (16 ymm): float  6 x 16, double  6 x 8
//   SSE (16 xmm):        float  6 x 8,  double  6 x 4
//   NEON (32 q, arm64):  float  8 x 12, double  8 x 6
// The SIMD width is xsimd's default architecture for the compiler flags in use. Without any
// xsimd architecture NativeTile is a PortableTile (plain C++; the compiler may still vectorise).
#pragma once

#include <cstddef>

#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
#include <xsimd/xsimd.hpp>
#endif

namespace salun::kernels::cpu::detail {

/// Writes the MR x NR accumulator tile `acc` (row-major, row stride NR) to C[0:mr, 0:nr]: the
/// clipped edge-tile store shared by every tile.
template <class T>
inline void store_tile_clipped(const T* acc, std::size_t NR, T* c, std::size_t ldc, T alpha, T beta, std::size_t mr,
                               std::size_t nr) {
    for (std::size_t i = 0; i < mr; ++i) {
        T* ci = c + i * ldc;
        const T* ti = acc + i * NR;
        if (beta == T(0))
            for (std::size_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
        else
            for (std::size_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
    }
}

/// Any MR x NR tile in plain C++. The reference for the SIMD tiles' buffer arithmetic: tests run
/// the packing, blocking and threading code with the tile shapes of every ISA through it.
template <class T, std::size_t MR_, std::size_t NR_>
struct PortableTile {
    using value_type = T;
    static constexpr std::size_t MR = MR_;
    static constexpr std::size_t NR = NR_;
    static_assert(MR >= 1 && NR >= 1, "a tile has at least one row and one column");

    static void kernel(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, T alpha, T beta, std::size_t mr,
                       std::size_t nr) {
        T acc[MR * NR] = {};
        for (std::size_t k = 0; k < kc; ++k, a += MR, b += NR)
            for (std::size_t i = 0; i < MR; ++i) {
                const T ai = a[i];
                for (std::size_t j = 0; j < NR; ++j) acc[i * NR + j] += ai * b[j];
            }
        store_tile_clipped(acc, NR, c, ldc, alpha, beta, mr, nr);
    }
};

#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)

/// MR x (NV * W) tile in xsimd registers, W = xsimd::batch<T>::size for the default architecture:
/// MR * NV accumulators, NV vectors of B and one broadcast of A per k step.
template <class T, std::size_t MR_, std::size_t NV = 2>
struct SimdTile {
    using value_type = T;
    using V = xsimd::batch<T>;
    static constexpr std::size_t W = V::size;
    static constexpr std::size_t MR = MR_;
    static constexpr std::size_t NR = NV * W;

    /// The tile's contract (see the top of this file). Edge tiles of mr < MR rows run a kernel of
    /// the next even row count R >= mr instead of all MR rows. Why: an M of 64 or 128 (ResNet and
    /// VGG channel counts) leaves a last tile of 8 or 2 rows of AVX-512's 14, and that tile cost
    /// as much as a full one: 9% more multiply-adds than the GEMM needs on the 64- and 128-channel
    /// layers.
    static void kernel(std::size_t kc, const T* __restrict a, const T* __restrict b, T* c, std::size_t ldc, T alpha,
                       T beta, std::size_t mr, std::size_t nr) {
        if (mr >= MR) return rows<MR>(kc, a, b, c, ldc, alpha, beta, mr, nr);
        return edge_rows<2>(kc, a, b, c, ldc, alpha, beta, mr, nr);
    }

private:
    /// Dispatches mr < MR rows to rows<R> for the smallest even R >= mr (R < MR).
    template <std::size_t R>
    static void edge_rows(std::size_t kc, const T* __restrict a, const T* __restrict b, T* c, std::size_t ldc, T alpha,
                          T beta, std::size_t mr, std::size_t nr) {
        if constexpr (R >= MR)
            rows<MR>(kc, a, b, c, ldc, alpha, beta, mr, nr);
        else if (mr <= R)
            rows<R>(kc, a, b, c, ldc, alpha, beta, mr, nr);
        else
            edge_rows<R + 2>(kc, a, b, c, ldc, alpha, beta, mr, nr);
    }

    /// The first R rows of the MR x NR tile (A's slivers stay MR wide); mr <= R.
    template <std::size_t R>
#if defined(__GNUC__)
    __attribute__((hot, noinline))
#endif
    static void rows(std::size_t kc, const T* __restrict a, const T* __restrict b, T* c, std::size_t ldc, T alpha,
                     T beta, std::size_t mr, std::size_t nr) {
#if defined(__GNUC__)
        for (std::size_t i = 0; i < mr; ++i)  // C's lines are wanted at the end: fetch them now
            for (std::size_t j = 0; j < NR; j += 64 / sizeof(T)) __builtin_prefetch(c + i * ldc + j, 1, 3);
#endif
        // Accumulators: arrays that GCC and Clang keep in registers once the loops are unrolled.
        V acc[R][NV];
        for (std::size_t i = 0; i < R; ++i)
            for (std::size_t v = 0; v < NV; ++v) acc[i][v] = V(T(0));

        // One k step per iteration: unrolling k made GCC 12 interleave steps and spill
        // accumulators (half the speed).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
        for (std::size_t k = 0; k < kc; ++k, a += MR, b += NR) {
#if defined(__GNUC__)
            __builtin_prefetch(b + kPrefetchSteps * NR, 0, 3);
#endif
            V bv[NV];
            for (std::size_t v = 0; v < NV; ++v) bv[v] = V::load_unaligned(b + v * W);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 16
#elif defined(__clang__)
#pragma unroll
#endif
            for (std::size_t i = 0; i < R; ++i) {
                const V ai(a[i]);
                for (std::size_t v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
            }
        }

        if (mr == R && nr == NR) {
            const V va(alpha), vb(beta);
            for (std::size_t i = 0; i < R; ++i)
                for (std::size_t v = 0; v < NV; ++v) {
                    T* cv = c + i * ldc + v * W;
                    if (beta == T(0))
                        (va * acc[i][v]).store_unaligned(cv);
                    else
                        xsimd::fma(va, acc[i][v], vb * V::load_unaligned(cv)).store_unaligned(cv);
                }
            return;
        }
        alignas(64) T tmp[R * NR];
        for (std::size_t i = 0; i < R; ++i)
            for (std::size_t v = 0; v < NV; ++v) acc[i][v].store_aligned(tmp + i * NR + v * W);
        store_tile_clipped(tmp, NR, c, ldc, alpha, beta, mr, nr);
    }

    /// B is prefetched this many k steps ahead.
    static constexpr std::size_t kPrefetchSteps = 8;
};

/// The native tile's shape for the target ISA: MR rows of NV vectors, using most of the register
/// file (MR * NV accumulators + NV B vectors + 1 broadcast). SALUN_TILE_MR / SALUN_TILE_NV
/// override it (for benchmarking other shapes; the tests cover every shape through PortableTile).
#if defined(__AVX512F__)
constexpr std::size_t kNativeTileRows = 14, kNativeTileVectors = 2;  // 28 + 2 + 1 of 32 zmm
#elif defined(__aarch64__)
constexpr std::size_t kNativeTileRows = 8, kNativeTileVectors = 3;   // 24 + 3 + 1 of 32 q
#else
constexpr std::size_t kNativeTileRows = 6, kNativeTileVectors = 2;   // 12 + 2 + 1 of 16 ymm / xmm
#endif

template <class T>
#if defined(SALUN_TILE_MR) && defined(SALUN_TILE_NV)
using NativeTile = SimdTile<T, SALUN_TILE_MR, SALUN_TILE_NV>;
#else
using NativeTile = SimdTile<T, kNativeTileRows, kNativeTileVectors>;
#endif

#else

template <class T>
using NativeTile = PortableTile<T, 4, 4>;

#endif  // !XSIMD_NO_SUPPORTED_ARCHITECTURE

}  // namespace salun::kernels::cpu::detail
