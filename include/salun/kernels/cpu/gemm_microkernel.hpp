// Register-tiled GEMM micro-kernel written with xsimd. The tile is MR x NR = 6 x (2 * SIMD
// width): 6 x 16 for float on AVX2 (12 ymm accumulators + 2 B vectors + 1 broadcast A = 15 of
// the 16 registers), 6 x 8 for float on SSE2 or double on AVX2. The SIMD width is whatever
// xsimd's default architecture is for the compiler flags in use.
//
// Operands are packed panels (see gemm.hpp):
//   a: kc steps of MR consecutive elements (column k of the MR x kc sliver of op(A)),
//   b: kc steps of NR consecutive elements (row k of the kc x NR sliver of op(B)), aligned.
// The kernel computes acc = a * b and writes C[0:mr, 0:nr] = alpha * acc + beta * C
// (beta == 0: C is not read).
#pragma once

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace salun::kernels::cpu::detail {

template <class T>
struct MicroTile {
    using V = xsimd::batch<T>;
    static constexpr std::size_t W = V::size;
    static constexpr std::size_t MR = 6;
    static constexpr std::size_t NR = 2 * W;
};

template <class T>
inline void store_row(T* c, const xsimd::batch<T>& v0, const xsimd::batch<T>& v1, T alpha, T beta) {
    using V = xsimd::batch<T>;
    constexpr std::size_t W = V::size;
    const V va(alpha);
    if (beta == T(0)) {
        (va * v0).store_unaligned(c);
        (va * v1).store_unaligned(c + W);
    } else {
        const V vb(beta);
        xsimd::fma(va, v0, vb * V::load_unaligned(c)).store_unaligned(c);
        xsimd::fma(va, v1, vb * V::load_unaligned(c + W)).store_unaligned(c + W);
    }
}

template <class T>
#if defined(__GNUC__)
__attribute__((hot, noinline))
#endif
inline void micro_kernel(std::size_t kc, const T* __restrict a, const T* __restrict b, T* c, std::size_t ldc,
                         T alpha, T beta, std::size_t mr, std::size_t nr) {
    using V = xsimd::batch<T>;
    constexpr std::size_t W = V::size;
    constexpr std::size_t MR = MicroTile<T>::MR;
    constexpr std::size_t NR = MicroTile<T>::NR;

#if defined(__GNUC__)
    for (std::size_t i = 0; i < mr; ++i) {
        __builtin_prefetch(c + i * ldc, 1, 3);
        __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
    }
#endif
    V c00(T(0)), c01(T(0)), c10(T(0)), c11(T(0)), c20(T(0)), c21(T(0));
    V c30(T(0)), c31(T(0)), c40(T(0)), c41(T(0)), c50(T(0)), c51(T(0));

#define SALUN_GEMM_STEP(AOFF, BOFF)                               \
    {                                                             \
        const V b0 = V::load_aligned(b + (BOFF));                 \
        const V b1 = V::load_aligned(b + (BOFF) + W);             \
        V a0(a[(AOFF) + 0]);                                      \
        c00 = xsimd::fma(a0, b0, c00);                            \
        c01 = xsimd::fma(a0, b1, c01);                            \
        a0 = V(a[(AOFF) + 1]);                                    \
        c10 = xsimd::fma(a0, b0, c10);                            \
        c11 = xsimd::fma(a0, b1, c11);                            \
        a0 = V(a[(AOFF) + 2]);                                    \
        c20 = xsimd::fma(a0, b0, c20);                            \
        c21 = xsimd::fma(a0, b1, c21);                            \
        a0 = V(a[(AOFF) + 3]);                                    \
        c30 = xsimd::fma(a0, b0, c30);                            \
        c31 = xsimd::fma(a0, b1, c31);                            \
        a0 = V(a[(AOFF) + 4]);                                    \
        c40 = xsimd::fma(a0, b0, c40);                            \
        c41 = xsimd::fma(a0, b1, c41);                            \
        a0 = V(a[(AOFF) + 5]);                                    \
        c50 = xsimd::fma(a0, b0, c50);                            \
        c51 = xsimd::fma(a0, b1, c51);                            \
    }

    // One k step per iteration: unrolling lets GCC interleave steps and spill accumulators.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
    for (std::size_t k = 0; k < kc; ++k) {
#if defined(__GNUC__)
        __builtin_prefetch(b + 8 * NR, 0, 3);
#endif
        SALUN_GEMM_STEP(0, 0)
        a += MR;
        b += NR;
    }
#undef SALUN_GEMM_STEP

    if (mr == MR && nr == NR) {
        store_row(c + 0 * ldc, c00, c01, alpha, beta);
        store_row(c + 1 * ldc, c10, c11, alpha, beta);
        store_row(c + 2 * ldc, c20, c21, alpha, beta);
        store_row(c + 3 * ldc, c30, c31, alpha, beta);
        store_row(c + 4 * ldc, c40, c41, alpha, beta);
        store_row(c + 5 * ldc, c50, c51, alpha, beta);
        return;
    }
    alignas(64) T tmp[MR * NR];
    c00.store_aligned(tmp + 0 * NR), c01.store_aligned(tmp + 0 * NR + W);
    c10.store_aligned(tmp + 1 * NR), c11.store_aligned(tmp + 1 * NR + W);
    c20.store_aligned(tmp + 2 * NR), c21.store_aligned(tmp + 2 * NR + W);
    c30.store_aligned(tmp + 3 * NR), c31.store_aligned(tmp + 3 * NR + W);
    c40.store_aligned(tmp + 4 * NR), c41.store_aligned(tmp + 4 * NR + W);
    c50.store_aligned(tmp + 5 * NR), c51.store_aligned(tmp + 5 * NR + W);
    for (std::size_t i = 0; i < mr; ++i) {
        T* ci = c + i * ldc;
        const T* ti = tmp + i * NR;
        if (beta == T(0))
            for (std::size_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j];
        else
            for (std::size_t j = 0; j < nr; ++j) ci[j] = alpha * ti[j] + beta * ci[j];
    }
}

}  // namespace salun::kernels::cpu::detail
