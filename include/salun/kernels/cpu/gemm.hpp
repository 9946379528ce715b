// SPDX-License-Identifier: MIT
// CPU matrix multiply: C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, same contract as
// reference::gemm (beta == 0 never reads C).
//
// Goto/BLIS structure:
//   for jc in N step NC:            B block  KC x NC  -> L3   (packed once per (jc, pc))
//     for pc in K step KC:
//       for ic in M step MC:        A block  MC x KC  -> L2   (a last block of <= MC / 4 rows
//                                                               joins the one before it)
//         pack op(A)[ic:+MC, pc:+KC] into MR-tall k-major slivers
//         for jr in NC step NR:     B sliver KC x NR  -> L1 (L2 when KC x NR does not fit)
//           (ic == 0: pack op(B)[pc:+KC, jc+jr:+NR] into the B block just before first use)
//           for ir in MC step MR:   micro-kernel MR x NR in registers
// Transpositions are absorbed by the packing routines; edge tiles are zero-padded in the packed
// panels and clipped at store time. Packing buffers are thread_local, 64-byte aligned, grow-only,
// and sized from the padded extents (whole tiles), never from the block constants alone.
// Outside an OpenMP parallel region a large product is cut along N (or M when M is the larger
// dimension) into one slice of whole micro-tiles per thread; inside a parallel region the call
// runs serially on the calling thread.
//
// Everything below is a template on the tile (gemm_microkernel.hpp) and takes the blocking as a
// value (blocking.hpp), so the tests run it with every ISA's tile shape and with tiny blocks;
// cpu::gemm is the instance for NativeTile and the blocking derived from this machine's caches.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "salun/kernels/cpu/blocking.hpp"
#include "salun/kernels/cpu/gemm_microkernel.hpp"
#include "salun/kernels/cpu/threading.hpp"

namespace salun::kernels::cpu {

namespace detail {

/// Packs op(A)[0:mc, 0:kc] (src points at element (0,0) of the block) into MR-row slivers:
/// dst[(ir/MR) * kc * MR + k * MR + i], round_up(mc, MR) * kc values. Rows past mc are zero.
template <std::size_t MR, class T>
void pack_a(bool trans, std::size_t mc, std::size_t kc, const T* A, std::size_t lda, T* dst) {
    if (!trans) {  // op(A)(i, k) = A[i * lda + k]: MR row streams per sliver
        for (std::size_t ir = 0; ir < mc; ir += MR) {
            const std::size_t mr = std::min(MR, mc - ir);
            T* d = dst + ir * kc;
            const T* rows[MR];
            for (std::size_t i = 0; i < MR; ++i) rows[i] = A + (ir + std::min(i, mr - 1)) * lda;
            if (mr == MR) {
                for (std::size_t k = 0; k < kc; ++k, d += MR)
                    for (std::size_t i = 0; i < MR; ++i) d[i] = rows[i][k];
            } else {
                for (std::size_t k = 0; k < kc; ++k, d += MR)
                    for (std::size_t i = 0; i < MR; ++i) d[i] = i < mr ? rows[i][k] : T(0);
            }
        }
        return;
    }
    // op(A)(i, k) = A[k * lda + i]: walk each source row k once (contiguous), scattering MR-wide
    // pieces to every sliver; avoids re-walking kc rows of stride lda per sliver.
    const std::size_t full = mc / MR * MR;
    for (std::size_t k = 0; k < kc; ++k) {
        const T* s = A + k * lda;
        T* d = dst + k * MR;
        for (std::size_t ir = 0; ir < full; ir += MR)
            for (std::size_t i = 0; i < MR; ++i) d[ir * kc + i] = s[ir + i];
        if (full < mc)
            for (std::size_t i = 0; i < MR; ++i) d[full * kc + i] = full + i < mc ? s[full + i] : T(0);
    }
}

#if defined(__AVX__)
/// d[kk * ldd + j] = rows[j][k + kk] for j, kk < 8 (an 8x8 float transpose in registers).
inline void transpose8x8_store(const float* const* rows, std::size_t k, float* d, std::size_t ldd) {
    __m256 r0 = _mm256_loadu_ps(rows[0] + k), r1 = _mm256_loadu_ps(rows[1] + k);
    __m256 r2 = _mm256_loadu_ps(rows[2] + k), r3 = _mm256_loadu_ps(rows[3] + k);
    __m256 r4 = _mm256_loadu_ps(rows[4] + k), r5 = _mm256_loadu_ps(rows[5] + k);
    __m256 r6 = _mm256_loadu_ps(rows[6] + k), r7 = _mm256_loadu_ps(rows[7] + k);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    // Unaligned stores: no alignment is assumed of the destination (same speed when aligned).
    _mm256_storeu_ps(d + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/// Transposes the 8-step block k..k+7 of NR source streams into an NR-wide panel (d[kk * NR + j]
/// = src[j][k + kk]) with 8x8 register transposes, where the type and tile allow it (float,
/// NR a multiple of 8, AVX). Returns false when the caller must use its scalar loop.
template <std::size_t NR, class T>
inline bool transpose_block8(const T* const* src, std::size_t k, T* d) {
#if defined(__AVX__)
    if constexpr (std::is_same<T, float>::value && NR % 8 == 0) {
        for (std::size_t jb = 0; jb < NR; jb += 8) transpose8x8_store(src + jb, k, d + jb, NR);
        return true;
    }
#endif
    (void)src, (void)k, (void)d;
    return false;
}

/// Packs op(B)[0:kc, 0:nc] into NR-column slivers: dst[(jr/NR) * kc * NR + k * NR + j],
/// kc * round_up(nc, NR) values. Columns past nc are zero.
template <std::size_t NR, class T>
void pack_b(bool trans, std::size_t kc, std::size_t nc, const T* B, std::size_t ldb, T* dst) {
    for (std::size_t jr = 0; jr < nc; jr += NR) {
        const std::size_t nr = std::min(NR, nc - jr);
        T* d = dst + jr * kc;
        if (!trans) {  // op(B)(k, j) = B[k * ldb + j]: rows are contiguous
            const T* s = B + jr;
            if (nr == NR) {
                for (std::size_t k = 0; k < kc; ++k, d += NR, s += ldb) std::memcpy(d, s, NR * sizeof(T));
            } else {
                for (std::size_t k = 0; k < kc; ++k, d += NR, s += ldb) {
                    std::size_t j = 0;
                    for (; j < nr; ++j) d[j] = s[j];
                    for (; j < NR; ++j) d[j] = T(0);
                }
            }
        } else {  // op(B)(k, j) = B[j * ldb + k]: NR streams along k
            const T* cols[NR];
            for (std::size_t j = 0; j < NR; ++j) cols[j] = B + (jr + std::min(j, nr - 1)) * ldb;
            if (nr == NR) {
                std::size_t k = 0;
                while (k + 8 <= kc && transpose_block8<NR>(cols, k, d)) k += 8, d += 8 * NR;
                for (; k < kc; ++k, d += NR)
                    for (std::size_t j = 0; j < NR; ++j) d[j] = cols[j][k];
            } else {
                for (std::size_t k = 0; k < kc; ++k, d += NR)
                    for (std::size_t j = 0; j < NR; ++j) d[j] = j < nr ? cols[j][k] : T(0);
            }
        }
    }
}

/// Single-threaded blocked GEMM (K >= 1, M, N >= 1) with tile `Tile` and blocking `bl`.
template <class Tile, class T>
void gemm_serial(const GemmBlocking& bl, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K,
                 T alpha, const T* A, std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    static_assert(std::is_same<typename Tile::value_type, T>::value, "the tile's type is the GEMM's");
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::size_t MC = bl.MC, KC = bl.KC, NC = bl.NC;

    // A last block of at most a quarter of MC rows joins the one before it: alone it would stream
    // every B sliver past one or two micro-tiles (M = 256 with MC = 252 ran as 252 + 4 rows).
    const std::size_t mc_max = std::min(M, MC + MC / 4);
    auto block_rows = [&](std::size_t ic) { return M - ic <= mc_max ? M - ic : MC; };

    thread_local AlignedBuffer<T> abuf, bbuf;
    // Sized from the padded extents that pack_a / pack_b write (whole slivers of MR rows and NR
    // columns), so no blocking value can make the packing overrun.
    const std::size_t kc_max = std::min(KC, K);
    T* Ap = abuf.get(round_up(mc_max, MR) * kc_max);
    T* Bp = bbuf.get(round_up(std::min(NC, N), NR) * kc_max);

    for (std::size_t jc = 0; jc < N; jc += NC) {
        const std::size_t nc = std::min(NC, N - jc);
        for (std::size_t pc = 0; pc < K; pc += KC) {
            const std::size_t kc = std::min(KC, K - pc);
            const T beta_eff = pc == 0 ? beta : T(1);
            for (std::size_t ic = 0, mc = 0; ic < M; ic += mc) {
                mc = block_rows(ic);
                const T* Ablk = trans_a ? A + pc * lda + ic : A + ic * lda + pc;
                pack_a<MR>(trans_a, mc, kc, Ablk, lda, Ap);
                for (std::size_t jr = 0; jr < nc; jr += NR) {
                    const std::size_t nr = std::min(NR, nc - jr);
                    T* bp = Bp + jr * kc;
                    if (ic == 0) {
                        // Pack each B sliver just before its first use: it is then hot in L1 for
                        // the first ir sweep, and reused from L2/L3 by later ic blocks.
                        const std::size_t j = jc + jr;
                        pack_b<NR>(trans_b, kc, nr, trans_b ? B + j * ldb + pc : B + pc * ldb + j, ldb, bp);
                    }
                    for (std::size_t ir = 0; ir < mc; ir += MR) {
                        const std::size_t mr = std::min(MR, mc - ir);
                        Tile::kernel(kc, Ap + ir * kc, bp, C + (ic + ir) * ldc + jc + jr, ldc, alpha, beta_eff, mr, nr);
                    }
                }
            }
        }
    }
}

/// C[0:M, 0:N] = A * B + beta * C for operands that are already packed: A as ceil(M / MR)
/// slivers of [K][MR] (sliver stride K * MR), B as ceil(N / NR) slivers of [K][NR]. K is cut into
/// blocks of kc_block (beta applies to the first, later blocks accumulate) and the rows of A into
/// blocks of mc_block (a multiple of MR, kept in L2 while the B slivers stream past). Used by the
/// Winograd convolution, whose transforms write the packed formats directly.
template <class Tile, class T>
void gemm_packed(std::size_t M, std::size_t N, std::size_t K, const T* Ap, const T* Bp, T beta, T* C, std::size_t ldc,
                 std::size_t kc_block, std::size_t mc_block) {
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    for (std::size_t pc = 0; pc < K; pc += kc_block) {
        const std::size_t kc = std::min(kc_block, K - pc);
        const T beta_eff = pc == 0 ? beta : T(1);
        for (std::size_t ic = 0; ic < M; ic += mc_block) {
            const std::size_t ie = std::min(M, ic + mc_block);
            for (std::size_t jr = 0; jr < N; jr += NR) {
                const T* b = Bp + jr * K + pc * NR;
                const std::size_t nr = std::min(NR, N - jr);
                for (std::size_t ir = ic; ir < ie; ir += MR)
                    Tile::kernel(kc, Ap + ir * K + pc * MR, b, C + ir * ldc + jr, ldc, T(1), beta_eff,
                                 std::min(MR, M - ir), nr);
            }
        }
    }
}

/// C = beta * C for K == 0 (beta == 0 writes zeros without reading C).
template <class T>
void gemm_scale(std::size_t M, std::size_t N, T beta, T* C, std::size_t ldc) {
    for (std::size_t i = 0; i < M; ++i)
        for (std::size_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

/// The threaded GEMM for any tile and blocking (cpu::gemm is its native instance).
template <class Tile, class T>
void gemm_with(const GemmBlocking& bl, bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K,
               T alpha, const T* A, std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) return gemm_scale(M, N, beta, C, ldc);
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const int nt = threads_for(2.0 * double(M) * double(N) * double(K), 1 << 20);
    if (nt <= 1) {
        gemm_serial<Tile>(bl, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // Split the larger of N and M into nt slices of whole micro-tiles; each thread runs the serial
    // algorithm on its slice with its own packing buffers (A, or B, is packed once per thread).
    // More, smaller slices would balance better on a shared machine but repack A per slice.
    const bool split_n = N >= M || M < std::size_t(nt) * MR;
    const std::size_t unit = split_n ? NR : MR;
    const std::size_t total = split_n ? N : M;
    const std::size_t units = (total + unit - 1) / unit;
    const std::size_t per = (units + std::size_t(nt) - 1) / std::size_t(nt) * unit;
    const long chunks = long((total + per - 1) / per);
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (long t = 0; t < chunks; ++t) {
        const std::size_t lo = std::size_t(t) * per;
        const std::size_t len = std::min(per, total - lo);
        if (split_n) {
            const T* Bs = trans_b ? B + lo * ldb : B + lo;
            gemm_serial<Tile>(bl, trans_a, trans_b, M, len, K, alpha, A, lda, Bs, ldb, beta, C + lo, ldc);
        } else {
            const T* As = trans_a ? A + lo : A + lo * lda;
            gemm_serial<Tile>(bl, trans_a, trans_b, len, N, K, alpha, As, lda, B, ldb, beta, C + lo * ldc, ldc);
        }
    }
}

}  // namespace detail

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C (see reference::gemm).
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    using Tile = detail::NativeTile<T>;
    detail::gemm_with<Tile>(detail::gemm_blocking<Tile>(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C,
                            ldc);
}

}  // namespace salun::kernels::cpu
