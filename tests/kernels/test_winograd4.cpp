// SPDX-License-Identifier: MIT
// Winograd F(4x4, 3x3) (winograd4.hpp) against reference::conv2d_* evaluated in double, forward,
// backward_input and backward_weight, float and double: odd map sizes (partial 4x4 edge tiles), padding 0 / 1 /
// 2, channel counts that are not multiples of any tile's MR / NR, batch 1 and several, called
// directly and through conv2d_* (the dispatch rule winograd_use_f4). Every micro-tile shape runs
// the same cases in test_tile_shapes.cpp.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/conv_check.hpp"
#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/cpu/winograd4.hpp"

namespace {

namespace det = salun::kernels::cpu::detail;
using salun::kernels::Conv2dParams;

/// Awkward shapes: odd H / W, maps smaller than one tile plus padding, padding 0 / 1 / 2 (and
/// asymmetric), channel counts off every MR / NR, batch 1 and several (groups of images).
const std::vector<Conv2dParams> kAwkward = {
    {1, 5, 5, 7, 3, 3, 3, 1, 1, 1, 1},     {3, 7, 5, 7, 9, 3, 3, 1, 1, 0, 0},
    {1, 33, 9, 9, 35, 3, 3, 1, 1, 1, 1},   {2, 33, 9, 9, 17, 3, 3, 1, 1, 0, 0},
    {2, 13, 13, 11, 45, 3, 3, 1, 1, 1, 1}, {3, 45, 13, 11, 13, 3, 3, 1, 1, 0, 0},
    {4, 6, 4, 4, 7, 3, 3, 1, 1, 1, 1},     {5, 9, 6, 6, 10, 3, 3, 1, 1, 0, 0},
    {2, 11, 3, 3, 5, 3, 3, 1, 1, 2, 2},    {3, 10, 7, 8, 12, 3, 3, 1, 1, 0, 2},
    {1, 70, 17, 15, 37, 3, 3, 1, 1, 1, 1}, {9, 40, 4, 5, 33, 3, 3, 1, 1, 1, 1},
    // rows of 8 tiles and more (the AVX-512 window columns take 8 tiles per step): 10 tiles, 8
    // tiles ending at the row's last value, 17 tiles with padding on one side only
    {2, 9, 6, 37, 11, 3, 3, 1, 1, 1, 1},   {1, 7, 5, 34, 9, 3, 3, 1, 1, 0, 0},
    {1, 5, 9, 70, 6, 3, 3, 1, 1, 1, 0},
};

}  // namespace

TEST_CASE_TEMPLATE("Winograd F(4x4,3x3) called directly matches the reference (odd maps, padding 0/1/2)", T, float,
                   double) {
    using Tile = det::NativeTile<T>;
    unsigned seed = 9100;
    for (const Conv2dParams& p : kAwkward) CHECK(salun_test::check_winograd_direct<T, Tile, det::WinogradF4>(p, seed++));
    // F(2x2) through the same driver, on the same shapes
    for (const Conv2dParams& p : kAwkward) CHECK(salun_test::check_winograd_direct<T, Tile, det::WinogradF2>(p, seed++));
}

TEST_CASE("Winograd F(4x4,3x3) in double agrees with the reference to 1e-12") {
    using Tile = det::NativeTile<double>;
    unsigned seed = 9300;
    for (const Conv2dParams& p : kAwkward)
        CHECK(salun_test::check_winograd_direct<double, Tile, det::WinogradF4>(p, seed++, 1e-12));
    // a real layer shape (ResNet-18 layer 4): 512 channels on 4x4 maps
    CHECK(salun_test::check_winograd_direct<double, Tile, det::WinogradF4>({2, 512, 4, 4, 512, 3, 3, 1, 1, 1, 1}, seed++,
                                                                           1e-12));
}

TEST_CASE_TEMPLATE("F(4x4) window columns: every row length, padding and tile count (each ISA's vector path)", T, float,
                   double) {
    // winograd4_window_columns (and for float on AVX2 / AVX-512 winograd4_window_columns_simd)
    // against the definition d[b][tw] = v(4 tw + b), v(k) = xr[k - lead] for lead <= k < lead +
    // body, else 0. The row sits between NaN guards, so a read past either end shows; d's rows are
    // one tile longer than TW with NaN guards that must stay. Tile counts cover rows of 1-3 tiles,
    // the 4-tile and 8-tile steps and their tails, and rows longer than the AVX-512 path's masks
    // hold at once (64 tiles: it goes in pieces). With 4 columns (the weight gradient's dY tiles,
    // winograd4_gather_dy) rows 4 and 5 must stay untouched.
    const T guard = std::numeric_limits<T>::quiet_NaN();
    std::vector<std::size_t> tile_counts;
    for (std::size_t TW = 1; TW <= 20; ++TW) tile_counts.push_back(TW);
    for (std::size_t TW : {63, 64, 65, 72, 129}) tile_counts.push_back(TW);
    auto check = [&](const char* path, std::size_t cols, auto columns) {
        for (std::size_t TW : tile_counts)
            for (std::size_t lead = 0; lead <= 2; ++lead) {
                const std::size_t L = det::kWinograd4Out * TW + det::kWinograd4Out;
                for (std::size_t body = 1; body + lead <= L; ++body) {
                    std::vector<T> in(body + 64, guard), row(L, T(0)), d(det::kWinograd4In * (TW + 1), guard);
                    const T* xr = in.data() + 32;
                    for (std::size_t u = 0; u < body; ++u) in[32 + u] = T(1 + u);
                    columns(xr, lead, body, TW, row.data(), d.data(), TW + 1);
                    bool ok = true;
                    for (std::size_t b = 0; b < det::kWinograd4In; ++b) {
                        for (std::size_t tw = 0; tw < TW; ++tw) {
                            const std::size_t k = det::kWinograd4Out * tw + b;
                            const T want = k >= lead && k < lead + body ? xr[k - lead] : T(0);
                            ok = ok && (b < cols ? d[b * (TW + 1) + tw] == want : std::isnan(d[b * (TW + 1) + tw]));
                        }
                        ok = ok && std::isnan(d[b * (TW + 1) + TW]);
                    }
                    CHECK_MESSAGE(ok, path << ": TW " << TW << " lead " << lead << " body " << body);
                }
            }
    };
    check("copy", det::kWinograd4In, [](const T* xr, std::size_t lead, std::size_t body, std::size_t TW, T* row, T* d, std::size_t stride) {
        det::winograd4_window_columns(xr, lead, body, TW, row, d, stride);
    });
#if defined(__AVX2__)
    if constexpr (std::is_same<T, float>::value)
    {
        check("simd", det::kWinograd4In,
              [](const float* xr, std::size_t lead, std::size_t body, std::size_t TW, float*, float* d,
                 std::size_t stride) { det::winograd4_window_columns_simd(xr, lead, lead + body, TW, d, stride); });
        check("simd, 4 columns", det::kWinograd4Out,
              [](const float* xr, std::size_t lead, std::size_t body, std::size_t TW, float*, float* d,
                 std::size_t stride) {
                  det::winograd4_window_columns_simd<det::kWinograd4Out>(xr, lead, lead + body, TW, d, stride);
              });
    }
#endif
}

TEST_CASE_TEMPLATE("F(4x4) output rows: tile values interleaved for every tile count (the AVX 8- and 4-tile steps)", T,
                   float, double) {
    // yr[4 tw + c] = src[c * stride + tw] for tw < n; the row ends in NaN guards that must stay, and
    // the source rows are one value longer than n (a NaN that must not be read).
    const T guard = std::numeric_limits<T>::quiet_NaN();
    for (std::size_t n = 0; n <= 21; ++n) {
        const std::size_t stride = n + 1;
        std::vector<T> src(det::kWinograd4Out * stride, guard), yr(det::kWinograd4Out * n + 8, guard);
        for (std::size_t c = 0; c < det::kWinograd4Out; ++c)
            for (std::size_t tw = 0; tw < n; ++tw) src[c * stride + tw] = T(100 * c + tw);
        det::winograd4_interleave_tile_row(src.data(), stride, n, yr.data());
        bool ok = true;
        for (std::size_t tw = 0; tw < n; ++tw)
            for (std::size_t c = 0; c < det::kWinograd4Out; ++c)
                ok = ok && yr[det::kWinograd4Out * tw + c] == T(100 * c + tw);
        for (std::size_t k = det::kWinograd4Out * n; k < yr.size(); ++k) ok = ok && std::isnan(yr[k]);
        CHECK_MESSAGE(ok, "n " << n);
    }
}

TEST_CASE_TEMPLATE("conv2d dispatch: F(4x4) on maps of 3x3 and more with padding <= 1, else F(2x2)", T, float, double) {
    // forward output / backward_input output sizes decide
    CHECK(det::winograd_use_f4(4, 4, 1, 1));
    CHECK(det::winograd_use_f4(9, 13, 0, 1));
    CHECK_FALSE(det::winograd_use_f4(2, 2, 1, 1));
    CHECK(det::winograd_use_f4(3, 3, 1, 1));
    CHECK_FALSE(det::winograd_use_f4(2, 8, 1, 1));
    CHECK_FALSE(det::winograd_use_f4(8, 2, 1, 1));
    CHECK_FALSE(det::winograd_use_f4(8, 8, 2, 1));  // padding 2: F(2x2) (rounding at the corners)
    // the weight gradient: F(4x4) on maps from 4x4 up to 32x32 (ahead of the implicit GEMM)
    CHECK(det::winograd4_backward_weight_eligible({4, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1}));
    CHECK(det::winograd4_backward_weight_eligible({4, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1}));
    CHECK(det::winograd4_backward_weight_eligible({4, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1}));
    CHECK_FALSE(det::winograd4_backward_weight_eligible({4, 64, 3, 3, 64, 3, 3, 1, 1, 1, 1}));
    CHECK_FALSE(det::winograd4_backward_weight_eligible({4, 64, 2, 2, 64, 3, 3, 1, 1, 1, 1}));
    CHECK_FALSE(det::winograd4_backward_weight_eligible({4, 64, 8, 8, 64, 3, 3, 1, 1, 2, 2}));
    CHECK_FALSE(det::winograd4_backward_weight_eligible({4, 64, 8, 8, 64, 3, 3, 2, 2, 1, 1}));
    // through conv2d_* (all three passes; >= kWinogradMinChannels channels). Winograd splits the
    // batch between threads, so each shape's batch is raised to the thread count where it is less.
    const std::size_t k = det::kWinogradMinChannels;
    unsigned seed = 9500;
    for (Conv2dParams p : std::vector<Conv2dParams>{{3, k + 1, 9, 9, k + 5, 3, 3, 1, 1, 1, 1},
                                                           {2, k, 13, 11, k + 3, 3, 3, 1, 1, 0, 0},
                                                           {4, k + 7, 5, 7, k, 3, 3, 1, 1, 1, 1},
                                                           {4, k, 4, 4, k + 1, 3, 3, 1, 1, 1, 1},
                                                           {6, k + 3, 3, 3, k, 3, 3, 1, 1, 1, 1},
                                                           {5, k + 2, 6, 5, k + 9, 3, 3, 1, 1, 0, 2}}) {
        p.N = std::max<std::size_t>(p.N, std::size_t(det::max_threads()));
        REQUIRE(det::winograd_forward_eligible(p));
        CHECK(salun_test::check_conv<T>(p, seed++));
    }
    // batch 1 on any thread count: the forward goes to im2col, the weight gradient stays on
    // F(4x4) (its threads split the output channels, not the images)
    const Conv2dParams one{1, k + 1, 8, 8, k + 2 * det::NativeTile<T>::MR + 3, 3, 3, 1, 1, 1, 1};
    REQUIRE(det::winograd4_backward_weight_eligible(one));
    CHECK(salun_test::check_conv<T>(one, seed++));
}

TEST_CASE_TEMPLATE("Winograd weight gradient: the same bits on 1, 2 and 3 threads (the threads split the output channels)",
                   F, det::WinogradF2, det::WinogradF4) {
#if defined(_OPENMP)
    using Tile = det::NativeTile<float>;
    // several groups of tiles (batch 40 of 16x16 maps; a group holds >= 2 KC <= 512 tiles),
    // output channels over several MR slivers that 2 and 3 threads split unevenly, input
    // channels off NR
    const Conv2dParams p{40, 37, 16, 16, 3 * Tile::MR + 5, 3, 3, 1, 1, 1, 1};
    const auto x = salun_test::random_vector<float>(p.N * p.C * p.H * p.W, 9700);
    const auto dy = salun_test::random_vector<float>(p.N * p.OC * p.OH() * p.OW(), 9701);
    std::vector<std::vector<float>> dw;
    salun_test::for_thread_counts({1, 2, 3}, [&] {
        dw.emplace_back(p.OC * p.C * 9);
        det::winograd_conv3x3_backward_weight<Tile, F>(p, x.data(), dy.data(), dw.back().data());
    });
    CHECK(dw[0] == dw[1]);
    CHECK(dw[0] == dw[2]);
#else
    MESSAGE("built without OpenMP: one thread only");
#endif
}
