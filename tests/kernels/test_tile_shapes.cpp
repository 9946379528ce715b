// SPDX-License-Identifier: MIT
// The tile-shape matrix: the GEMM's packing, blocking and threading, the Winograd convolutions
// (F(2x2) and F(4x4)) and the implicit-GEMM weight gradient run with the register tile of every
// ISA that salun supports, whatever machine the tests run on. PortableTile reproduces the buffer
// arithmetic of a wide ISA (AVX-512's 14 x 32, NEON's 8 x 12, ...) in plain C++, so an overrun
// that only a 16-wide machine would hit is found on a 4- or 8-wide one (and by the sanitizer
// build). SimdTile runs the real xsimd kernel at this machine's width with the other ISAs' row
// and vector counts.
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/conv_check.hpp"
#include "kernels/gemm_check.hpp"
#include "salun/kernels/cpu/blocking.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/cpu/gemm.hpp"

namespace {

namespace cpu = salun::kernels::cpu;
namespace det = salun::kernels::cpu::detail;
using salun::kernels::Conv2dParams;
using salun_test::GemmCase;

template <class T, std::size_t MR, std::size_t NR>
using PT = det::PortableTile<T, MR, NR>;

/// Blockings for one tile: the one derived from default caches, tiny blocks (every loop crosses
/// several blocks on small sizes), and blocks that break the MR / NR multiples on purpose (the
/// packed buffers are sized from the padded extents, so even these must not overrun).
template <class Tile>
std::vector<det::GemmBlocking> blockings_for() {
    using T = typename Tile::value_type;
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    return {det::make_blocking<T, MR, NR>(det::CacheInfo{}), {2 * MR, 5, 3 * NR}, {MR + 1, 7, NR + 3}};
}

template <class Tile>
void check_gemm_with_tile() {
    using T = typename Tile::value_type;
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR;
    const std::vector<GemmCase> cases = {
        {false, false, 1, 1, 1, 1.0, 0.0},
        {false, false, MR > 1 ? MR - 1 : 1, NR + 1, 3, 1.0, 0.0},
        {false, false, 2 * MR + 1, 3 * NR + 5, 17, -0.5, 1.0, 2},
        {false, false, 3 * MR, 2 * NR, 64, 1.0, 0.0},
        {false, false, 70, 140, 110, 1.0, 0.5, 1},  // large enough to be split over 2 threads
    };
    unsigned seed = 7000;
    int failures = 0;
    for (const det::GemmBlocking& bl : blockings_for<Tile>()) {
        auto gemm = [&bl](auto... args) { det::gemm_with<Tile>(bl, args...); };
        for (GemmCase g : cases)
            for (bool ta : {false, true})
                for (bool tb : {false, true}) {
                    g.ta = ta, g.tb = tb;
                    INFO("tile " << MR << "x" << NR << ", blocking MC=" << bl.MC << " KC=" << bl.KC << " NC=" << bl.NC);
                    if (!salun_test::run_gemm_case_with<T>(gemm, g, seed++)) ++failures;
                    if (failures > 3) return;
                }
        // Called from inside a parallel region: serial on each thread, same result.
        INFO("nested, tile " << MR << "x" << NR);
        if (!salun_test::run_gemm_case_with<T>(gemm, {true, false, 2 * MR + 3, 2 * NR + 1, 40, 1.0, 0.0}, seed++, true))
            ++failures;
    }
    CHECK(failures == 0);
}

/// Convolution shapes that reach each path: Winograd forward / backward_input / backward_weight,
/// the implicit-GEMM weight gradient, strided im2col, the pointwise shortcut, grouped small maps,
/// the tap GEMMs of tiny maps.
const Conv2dParams kPathShapes[] = {
    {2, 33, 7, 7, 35, 3, 3, 1, 1, 1, 1},    // Winograd F(4x4), all three passes: C, OC >= 32, 7x7 map
    {2, 32, 5, 6, 40, 3, 3, 1, 1, 0, 2},    // asymmetric padding 0/2: F(2x2) forward and backward_input
    {3, 34, 13, 11, 37, 3, 3, 1, 1, 0, 0},  // padding 0, partial edge tiles: F(4x4) forward / weight, F(2x2) input
    {4, 33, 2, 3, 36, 3, 3, 1, 1, 1, 1},    // F(2x2) forward and backward_input on 2x3 maps
    {20, 33, 8, 8, 34, 3, 3, 1, 1, 2, 2},   // F(2x2) weight gradient (padding 2, 10x10 output)
    {2, 5, 17, 17, 9, 3, 3, 1, 1, 1, 1},    // implicit-GEMM weight gradient (17x17 output)
    {3, 4, 9, 8, 7, 3, 3, 2, 2, 1, 1},      // strided: im2col
    {2, 8, 5, 5, 6, 1, 1, 1, 1, 0, 0},      // pointwise: the image is the column matrix
    {5, 3, 3, 3, 4, 3, 3, 1, 1, 1, 1},      // small maps: groups of images per GEMM
    {6, 9, 2, 2, 11, 3, 3, 1, 1, 1, 1},     // 2x2 output: one GEMM per (output, input) pair (conv_taps.hpp)
    {3, 5, 1, 1, 7, 3, 3, 1, 1, 1, 1},      // 1x1 output from a 1x1 map: the centre tap alone
    {2, 6, 3, 2, 4, 2, 3, 1, 1, 0, 1},      // 2x2 output, 2x3 kernel, asymmetric padding
};

/// Both Winograd variants called directly (whatever the dispatch rule picks), batch 1 and
/// several, channel counts off the tile's MR / NR.
const Conv2dParams kWinogradShapes[] = {
    {1, 9, 9, 9, 11, 3, 3, 1, 1, 1, 1},
    {3, 13, 5, 7, 6, 3, 3, 1, 1, 0, 0},
    {2, 7, 13, 11, 15, 3, 3, 1, 1, 1, 2},
};

template <class Tile>
void check_conv_with_tile() {
    using T = typename Tile::value_type;
    unsigned seed = 8000;
    for (const Conv2dParams& p : kPathShapes) {
        INFO("tile " << Tile::MR << "x" << Tile::NR);
        CHECK(salun_test::check_conv<T, Tile>(p, seed++));
    }
    for (const Conv2dParams& p : kWinogradShapes) {
        CHECK(salun_test::check_winograd_direct<T, Tile, det::WinogradF4>(p, seed++));
        CHECK(salun_test::check_winograd_direct<T, Tile, det::WinogradF2>(p, seed++));
    }
}

}  // namespace

// Portable tiles: the shapes of every ISA (float: SSE/NEON 4-wide 6x8, AVX2 6x16, AVX-512 14x32 /
// 12x32 / 6x64, NEON 8x12; the no-SIMD fallback 4x4; an odd 5x7 that no ISA uses).
TEST_CASE_TEMPLATE("tile matrix: gemm packing, blocking and threading with every ISA's tile", Tile,
                   PT<float, 6, 8>, PT<float, 6, 16>, PT<float, 14, 32>, PT<float, 12, 32>, PT<float, 6, 64>,
                   PT<float, 8, 12>, PT<float, 4, 4>, PT<float, 5, 7>, PT<double, 6, 4>, PT<double, 6, 8>,
                   PT<double, 14, 16>, PT<double, 8, 6>) {
    check_gemm_with_tile<Tile>();
}

TEST_CASE_TEMPLATE("tile matrix: every convolution path with every ISA's tile", Tile, PT<float, 6, 8>,
                   PT<float, 6, 16>, PT<float, 14, 32>, PT<float, 8, 12>, PT<float, 5, 7>, PT<double, 6, 4>,
                   PT<double, 14, 16>, PT<double, 8, 6>) {
    check_conv_with_tile<Tile>();
}

#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
// The xsimd kernel itself at this machine's width with each ISA's row and vector counts.
TEST_CASE_TEMPLATE("tile matrix: the SIMD kernel with 6x2, 14x2, 8x3 and 6x4 vectors", Tile, det::SimdTile<float, 6, 2>,
                   det::SimdTile<float, 14, 2>, det::SimdTile<float, 8, 3>, det::SimdTile<float, 6, 4>,
                   det::SimdTile<double, 6, 2>, det::SimdTile<double, 14, 2>, det::SimdTile<double, 8, 3>) {
    check_gemm_with_tile<Tile>();
    check_conv_with_tile<Tile>();
}

// The kernel on its own, every edge tile: mr = 1..MR rows (the kernel runs mr < MR on a narrower
// row count, the next even one) and nr = 1, NR - 1, NR columns, beta 0 (C is NaN and must not be
// read) and beta 0.5, against PortableTile of the same shape. C's rows and columns outside the
// tile (NaN guards) must stay untouched. Odd MR (7) checks the dispatch past the last even count.
TEST_CASE_TEMPLATE("tile matrix: the SIMD kernel's edge tiles (every row count, clipped columns)", Tile,
                   det::SimdTile<float, 6, 2>, det::SimdTile<float, 14, 2>, det::SimdTile<float, 8, 3>,
                   det::SimdTile<float, 7, 1>, det::SimdTile<double, 14, 2>, det::SimdTile<double, 8, 3>) {
    using T = typename Tile::value_type;
    constexpr std::size_t MR = Tile::MR, NR = Tile::NR, kc = 37, ldc = NR + 3;
    using Ref = det::PortableTile<T, MR, NR>;
    const auto a = salun_test::random_vector<T>(kc * MR, 31), b = salun_test::random_vector<T>(kc * NR, 32);
    const auto c0 = salun_test::random_vector<T>((MR + 1) * ldc, 33);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (std::size_t mr = 1; mr <= MR; ++mr)
        for (std::size_t nr : {std::size_t(1), NR - 1, NR})
            for (T beta : {T(0), T(0.5)}) {
                std::vector<T> got(c0), want(c0);
                for (std::size_t i = 0; i <= MR; ++i)
                    for (std::size_t j = 0; j < ldc; ++j)
                        if (i >= mr || j >= nr || beta == T(0)) got[i * ldc + j] = want[i * ldc + j] = nan;
                for (std::size_t i = 0; i < mr; ++i)  // beta 0: the tile itself is NaN, never read
                    for (std::size_t j = 0; j < nr; ++j)
                        if (beta != T(0)) got[i * ldc + j] = want[i * ldc + j] = c0[i * ldc + j];
                Tile::kernel(kc, a.data(), b.data(), got.data(), ldc, T(1.5), beta, mr, nr);
                Ref::kernel(kc, a.data(), b.data(), want.data(), ldc, T(1.5), beta, mr, nr);
                bool ok = true;
                for (std::size_t k = 0; k < got.size(); ++k) {
                    const std::size_t i = k / ldc, j = k % ldc;
                    if (i < mr && j < nr)
                        ok = ok && std::abs(got[k] - want[k]) <= T(1e-4) * (T(1) + std::abs(want[k]));
                    else
                        ok = ok && std::isnan(got[k]);
                }
                CHECK_MESSAGE(ok, "MR " << MR << " NR " << NR << ": mr " << mr << " nr " << nr << " beta " << beta);
            }
}
#endif

TEST_CASE("blocking: derived values keep MC a multiple of MR and NC of NR on any caches") {
    const det::CacheInfo caches[] = {
        {},                                            // the defaults
        {48 * 1024, 2 * 1024 * 1024, 105 * 1024 * 1024, 56},  // a server part
        {16 * 1024, 256 * 1024, 0, 1},              // small caches, no L3
        {128 * 1024, 16 * 1024 * 1024, 16 * 1024 * 1024, 1},  // huge caches
        {4 * 1024, 1024, 1024, 0},                  // degenerate values
    };
    auto check = [](const det::GemmBlocking& b, std::size_t MR, std::size_t NR) {
        INFO("MR=" << MR << " NR=" << NR << " -> MC=" << b.MC << " KC=" << b.KC << " NC=" << b.NC);
        CHECK(b.MC % MR == 0);
        CHECK(b.NC % NR == 0);
        CHECK(b.MC >= MR);
        CHECK(b.NC >= NR);
        CHECK(b.KC >= 1);
    };
    for (const det::CacheInfo& c : caches) {
        check(det::make_blocking<float, 6, 16>(c), 6, 16);
        check(det::make_blocking<float, 14, 32>(c), 14, 32);
        check(det::make_blocking<float, 8, 12>(c), 8, 12);
        check(det::make_blocking<double, 14, 16>(c), 14, 16);
        check(det::make_blocking<float, 5, 7>(c), 5, 7);
    }
    // The old constant NC = 4080 was a multiple of 16 but not of AVX-512's 32: derived NCs never
    // are off the tile (here on a 32 MiB L3 shared by 2 cores).
    const det::GemmBlocking zen4 = det::make_blocking<float, 14, 32>({32 * 1024, 1024 * 1024, 32 * 1024 * 1024, 2});
    CHECK(zen4.NC % 32 == 0);
    CHECK(zen4.MC % 14 == 0);
}

TEST_CASE("blocking: the rules give the measured values on the Intel Xeon's caches") {
    const det::CacheInfo xeon{48 * 1024, 2 * 1024 * 1024, 300 * 1024 * 1024, 2};
    // general GEMM: KC 512, the A block a quarter of L2 (512 KiB / 2 KiB = 256 rows, cut to the tile)
    const det::GemmBlocking f14 = det::make_blocking<float, 14, 32>(xeon);
    CHECK(f14.KC == 512);
    CHECK(f14.MC == 252);
    CHECK(f14.NC == 8192);
    CHECK(det::make_blocking<float, 6, 16>(xeon).MC == 252);
    CHECK(det::make_blocking<double, 14, 16>(xeon).MC == 126);
    // the convolutions' packed GEMMs: the B sliver fills the L1 (384 steps), capped at 256
    CHECK(det::l1_sliver_kc<float, 32>(xeon) == 256);
    CHECK(det::l1_sliver_kc<float, 32>({32 * 1024, 1024 * 1024, 32 * 1024 * 1024, 2}) == 256);
    CHECK(det::l1_sliver_kc<float, 16>({16 * 1024, 256 * 1024, 0, 1}) == 256);
    CHECK(det::l1_sliver_kc<double, 16>({16 * 1024, 256 * 1024, 0, 1}) == 128);
    CHECK(det::l1_sliver_kc<float, 32>({4 * 1024, 1024, 1024, 0}) == 64);
}

TEST_CASE("blocking: SALUN_GEMM_BLOCKING parsing and the detected caches") {
    det::GemmBlocking b{};
    CHECK(det::parse_blocking_override("144,256,4080", b));
    CHECK(b.MC == 144);
    CHECK(b.KC == 256);
    CHECK(b.NC == 4080);
    for (const char* bad : {"", "144,256", "144,256,4080,1", "0,256,4080", "-1,2,3", "a,b,c", "144, 256,4080",
                            "144,256,99999999999"})
        CHECK_MESSAGE(!det::parse_blocking_override(bad, b), bad);
    CHECK(!det::parse_blocking_override(nullptr, b));

    const det::CacheInfo c = det::detect_caches();
    MESSAGE("detected caches: L1 " << c.l1 / 1024 << " KiB, L2 " << c.l2 / 1024
                                   << " KiB, L3 " << c.l3 / 1024 << " KiB shared by " << c.cores << " cores");
    CHECK(c.l1 >= 1024);
    CHECK(c.l2 >= 1024);
    using Tile = det::NativeTile<float>;
    const det::GemmBlocking& nb = det::gemm_blocking<Tile>();
    MESSAGE("native float tile " << Tile::MR << "x" << Tile::NR << ", blocking MC=" << nb.MC << " KC=" << nb.KC
                                 << " NC=" << nb.NC);
    CHECK(nb.MC % Tile::MR == 0);
    CHECK(nb.NC % Tile::NR == 0);
}
