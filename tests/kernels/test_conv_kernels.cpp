// SPDX-License-Identifier: MIT
// cpu::conv2d_* against reference::conv2d_* (evaluated in double): kernel 1x1/3x3 (and odd
// shapes), stride 1/2, padding 0/1, batch 1 and > 1 (groups of images, threads), float and double.
#include <cmath>
#include <cstddef>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/conv_check.hpp"
#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/reference.hpp"

namespace {

using salun::kernels::Conv2dParams;
using salun_test::all_close;
using salun_test::check_conv;
using salun_test::abs_of;
using salun_test::to_double;
using salun_test::random_vector;
namespace ref = salun::kernels::reference;
namespace cpu = salun::kernels::cpu;

}  // namespace

TEST_CASE_TEMPLATE("cpu::conv2d matches reference over kernel/stride/padding/batch", T, float, double) {
    unsigned seed = 1;
    int failures = 0;
    for (std::size_t N : {1, 3})
        for (std::size_t C : {1, 3, 8})
            for (std::size_t HW : {5, 8})
                for (std::size_t OC : {1, 4, 17})
                    for (std::size_t K : {1, 3})
                        for (std::size_t S : {1, 2})
                            for (std::size_t P : {0, 1}) {
                                if (K == 1 && P == 1 && S == 1 && C != 3) continue;
                                Conv2dParams p{N, C, HW, HW + 1, OC, K, K, S, S, P, P};
                                const bool with_bias = (seed & 1) != 0;
                                if (!check_conv<T>(p, seed++, with_bias)) ++failures;
                                if (failures > 3) return;
                            }
    CHECK(failures == 0);
}

TEST_CASE_TEMPLATE("cpu::conv2d on CNN-like shapes (image groups, threads, 1x1 fast path)", T, float, double) {
    unsigned seed = 1000;
    // 3x3 pad 1 at small maps: several images per GEMM group, uneven last group.
    CHECK(check_conv<T>({8, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({5, 12, 4, 4, 20, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({7, 9, 2, 2, 11, 3, 3, 1, 1, 1, 1}, seed++));
    // stride-2 3x3 and 1x1 downsample
    CHECK(check_conv<T>({4, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1}, seed++));
    CHECK(check_conv<T>({4, 16, 16, 16, 32, 1, 1, 2, 2, 0, 0}, seed++, false));
    // 1x1 stride 1 pad 0 fast path (G == 1 when the map is large)
    CHECK(check_conv<T>({3, 24, 16, 16, 10, 1, 1, 1, 1, 0, 0}, seed++));
    CHECK(check_conv<T>({6, 24, 4, 4, 10, 1, 1, 1, 1, 0, 0}, seed++));
    // batch 1 (GEMM threads itself), first-layer-like C = 3
    CHECK(check_conv<T>({1, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({1, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1}, seed++));
    // asymmetric kernel / stride / padding, 5x5 and 2x2 kernels
    CHECK(check_conv<T>({2, 5, 9, 7, 6, 3, 2, 2, 1, 1, 0}, seed++));
    CHECK(check_conv<T>({3, 4, 11, 10, 5, 5, 5, 1, 2, 2, 2}, seed++));
    CHECK(check_conv<T>({2, 3, 6, 6, 4, 2, 2, 2, 2, 0, 0}, seed++));
}

TEST_CASE_TEMPLATE("im2col / col2im against their formulas: strides 1-3 on rows below and above the column-phase "
                   "threshold (plane phases below it), vertical strides 1 and S, kernels 1-5, paddings 0-2, odd "
                   "sizes, a leading dimension past the row",
                   T, float, double) {
    namespace d = salun::kernels::cpu::detail;
    int failures = 0;
    unsigned seed = 77;
    for (std::size_t S : {1, 2, 3})
        for (std::size_t SH : {std::size_t(1), S})
            for (std::size_t W : {4, 7, 8, 9, 16, 17, 31, 32, 33, 48, 50})
                for (std::size_t K : {1, 2, 3, 5})
                    for (std::size_t P : {0, 1, 2}) {
                        if (P >= K + 1 || W + 2 * P < K || (SH == 1 && S == 1 && W < 31)) continue;
                        const std::size_t H = SH == 1 ? 5 : 9;
                        if (H + 2 * P < K) continue;
                        const Conv2dParams p{1, 2, H, W, 1, K, K, SH, S, P, P};
                        const std::size_t OH = p.OH(), OW = p.OW(), OHW = OH * OW, R = p.C * K * K, ld = OHW + 3;
                        const auto x = random_vector<T>(p.C * p.H * p.W, seed++);
                        const auto dcol = random_vector<T>(R * ld, seed++);
                        std::vector<T> col(R * ld, T(NAN)), dx(x.size(), T(NAN));
                        d::im2col(p, x.data(), col.data(), ld);
                        d::col2im(p, dcol.data(), ld, dx.data());
                        std::vector<double> want_dx(x.size(), 0.0);
                        bool ok = true;
                        for (std::size_t c = 0; c < p.C; ++c)
                            for (std::size_t kh = 0; kh < K; ++kh)
                                for (std::size_t kw = 0; kw < K; ++kw)
                                    for (std::size_t oh = 0; oh < OH; ++oh)
                                        for (std::size_t ow = 0; ow < OW; ++ow) {
                                            const long h = long(oh * SH + kh) - long(P);
                                            const long w = long(ow * S + kw) - long(P);
                                            const bool in = h >= 0 && h < long(p.H) && w >= 0 && w < long(W);
                                            const std::size_t r = (c * K + kh) * K + kw, at = r * ld + oh * OW + ow;
                                            const std::size_t xi = (c * p.H + std::size_t(in ? h : 0)) * W +
                                                                   std::size_t(in ? w : 0);
                                            const T want = in ? x[xi] : T(0);
                                            if (!(col[at] == want)) ok = false;
                                            if (in) want_dx[xi] += double(dcol[at]);
                                        }
                        for (std::size_t i = 0; i < dx.size(); ++i)
                            if (!(std::abs(double(dx[i]) - want_dx[i]) <= 1e-5 * (1 + std::abs(want_dx[i]))))
                                ok = false;
                        if (!ok) {
                            ++failures;
                            INFO("SH=" << SH << " S=" << S << " W=" << W << " K=" << K << " P=" << P);
                            CHECK(ok);
                        }
                        if (failures > 3) return;
                    }
    CHECK(failures == 0);
}

TEST_CASE_TEMPLATE("cpu::conv2d strided layers whose rows go through column phases (16+ outputs per row)", T, float,
                   double) {
    unsigned seed = 3000;
    CHECK(check_conv<T>({3, 5, 34, 33, 7, 3, 3, 2, 2, 1, 1}, seed++));  // ResNet's 3x3 stride 2, odd width
    CHECK(check_conv<T>({2, 4, 32, 32, 6, 1, 1, 2, 2, 0, 0}, seed++, false));  // the 1x1 downsample
    CHECK(check_conv<T>({2, 3, 12, 50, 5, 5, 5, 1, 3, 2, 2}, seed++));  // stride 3 across, 1 down
    CHECK(check_conv<T>({1, 3, 20, 40, 4, 3, 3, 2, 2, 1, 1}, seed++));  // batch 1: the threaded GEMM
}

TEST_CASE("cpu::conv2d inside an enclosing parallel region") {
    bool ok = false;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        ok = check_conv<float>({6, 8, 8, 8, 16, 3, 3, 1, 1, 1, 1}, 77);
    }
    CHECK(ok);
}

TEST_CASE_TEMPLATE("cpu::conv2d Winograd paths (F(4x4) on 3x3+ maps with padding <= 1, else F(2x2)): odd sizes, paddings 0/1/2, edge tiles", T, float, double) {
    unsigned seed = 5000;
    int failures = 0;
    // C, OC >= kWinogradMinChannels and 3x3 stride 1 take the Winograd path (forward and
    // backward_input; N = 1 with 2 threads stays on im2col).
    const std::size_t k = salun::kernels::cpu::detail::kWinogradMinChannels;
    for (std::size_t N : {1, 2, 5})
        for (std::size_t C : {k, k + 5})
            for (std::size_t OC : {k, k + 11})
                for (std::size_t H : {2, 3, 4, 7})
                    for (std::size_t W : {2, 5, 8})
                        for (std::size_t P : {0, 1, 2}) {
                            Conv2dParams p{N, C, H, W, OC, 3, 3, 1, 1, P, P};
                            if (p.H + 2 * P < 3 || p.W + 2 * P < 3) continue;
                            const bool with_bias = (seed & 1) != 0;
                            if (!check_conv<T>(p, seed++, with_bias)) ++failures;
                            if (failures > 3) return;
                        }
    // asymmetric padding, several tile slivers per group, K blocking (C > 256), many output rows
    CHECK(check_conv<T>({3, k + 1, 6, 9, k + 2, 3, 3, 1, 1, 0, 2}, seed++));
    CHECK(check_conv<T>({4, k, 17, 15, k + 7, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({6, 300, 4, 4, k + 1, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({3, k + 3, 6, 6, 300, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({130, k, 2, 2, k, 3, 3, 1, 1, 1, 1}, seed++));
    // backward_weight with more than KC = 256 tiles per group (K blocking of the tile reduction):
    // F(4x4) on the 32x30 map (8 x 8 tiles per image, 5 images per group), F(2x2) with padding 2.
    // F(4x4) transforms a group in chunks of >= 64 tiles (winograd4_chunk_images): 4 images of
    // 16x15 (4 x 4 tiles) per chunk, so 10 images are chunks of 4, 4 and 2; 1 image of 32x30.
    CHECK(check_conv<T>({10, k, 16, 15, k + 3, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({10, k, 32, 30, k + 3, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({20, k, 12, 11, k + 3, 3, 3, 1, 1, 2, 2}, seed++));
    // large map: all three passes on F(4x4) (the implicit GEMM only with padding 2, next line)
    CHECK(check_conv<T>({2, k, 24, 23, k + 3, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(check_conv<T>({2, k, 20, 19, k + 3, 3, 3, 1, 1, 2, 2}, seed++));
    // below the channel threshold: im2col path
    CHECK(check_conv<T>({4, k - 1, 6, 6, k, 3, 3, 1, 1, 1, 1}, seed++));
    CHECK(failures == 0);
}

TEST_CASE_TEMPLATE("cpu::conv2d implicit-GEMM weight gradient (stride-1, maps of 16x16 and more)", T, float, double) {
    namespace d = salun::kernels::cpu::detail;
    unsigned seed = 7000;
    // Dispatched shapes: odd channel counts (partial MR slivers and NR panels), widths that are not
    // a multiple of 8 (scalar tail of the transposed packing), chunks of whole rows that do not
    // divide KC, a row longer than KC, 1x1 and 5x5 kernels, asymmetric padding, batch 1 and odd.
    const std::vector<Conv2dParams> shapes = {
        {2, 3, 16, 16, 64, 3, 3, 1, 1, 1, 1},  {3, 17, 16, 19, 7, 3, 3, 1, 1, 1, 1},
        {1, 40, 18, 17, 130, 3, 3, 1, 1, 1, 1}, {3, 5, 17, 33, 9, 3, 3, 1, 1, 0, 2},
        {2, 4, 2, 300, 5, 1, 3, 1, 1, 0, 1},    {3, 6, 16, 16, 10, 1, 1, 1, 1, 0, 0},
        {2, 3, 20, 20, 4, 5, 5, 1, 1, 2, 2},
    };
    for (const auto& p : shapes) {
        REQUIRE(d::implicit_weight_grad_eligible(p));
        CHECK(check_conv<T>(p, seed++));
    }
    // The kernel itself also handles strides (phase-split copy) and small maps: call it directly.
    for (const Conv2dParams& p : std::vector<Conv2dParams>{{3, 5, 9, 11, 7, 3, 3, 2, 2, 1, 1},
                                                          {2, 4, 8, 8, 6, 1, 1, 2, 2, 0, 0},
                                                          {2, 3, 7, 10, 5, 3, 2, 2, 3, 1, 0},
                                                          {1, 2, 1, 1, 3, 1, 1, 1, 1, 0, 0}}) {
        const std::size_t xs = p.N * p.C * p.H * p.W, ws = p.OC * p.C * p.KH * p.KW, ys = p.N * p.OC * p.OH() * p.OW();
        auto x = random_vector<T>(xs, seed), dy = random_vector<T>(ys, seed + 1);
        ++seed;
        std::vector<T> dw(ws, T(NAN));
        std::vector<double> dwr(ws), dwa(ws), dbr(p.OC), dba(p.OC);
        cpu::conv2d_weight_grad_implicit(p, x.data(), dy.data(), dw.data());
        ref::conv2d_backward_weight(p, to_double(x).data(), to_double(dy).data(), dwr.data(), dbr.data());
        ref::conv2d_backward_weight(p, abs_of(to_double(x)).data(), abs_of(to_double(dy)).data(), dwa.data(), dba.data());
        for (auto& s : dwa) s += 1e-3;
        INFO("direct call, S=" << p.SH << "," << p.SW << " K=" << p.KH << "x" << p.KW);
        CHECK(all_close(dw, dwr, salun_test::default_rtol<T>(), &dwa));
    }
}

TEST_CASE_TEMPLATE("cpu::conv2d tap GEMMs on outputs of at most 2x2 (conv_taps.hpp): kernels 1x1 to 5x5, paddings 0-2",
                   T, float, double) {
    unsigned seed = 7100;
    for (const Conv2dParams& p : std::vector<Conv2dParams>{
             {4, 16, 2, 2, 24, 3, 3, 1, 1, 1, 1},   // VGG-16's 2x2 layers, narrow
             {1, 5, 2, 2, 3, 3, 3, 1, 1, 1, 1},     // batch 1
             {3, 7, 1, 1, 9, 3, 3, 1, 1, 1, 1},     // 1x1 map: the centre tap alone
             {2, 6, 2, 2, 5, 1, 1, 1, 1, 0, 0},     // pointwise on a 2x2 map
             {3, 4, 4, 4, 6, 3, 3, 1, 1, 0, 0},     // 4x4 map, no padding: 2x2 output, all taps inside
             {2, 3, 1, 2, 4, 5, 5, 1, 1, 2, 2},     // 5x5 kernel, padding 2: 1x2 output
             {2, 5, 3, 1, 4, 3, 1, 1, 1, 0, 0},     // 3x1 kernel: 1x1 output
             {5, 33, 2, 2, 40, 3, 3, 1, 1, 1, 1},   // channels past one tile
             {32, 16, 2, 2, 16, 3, 3, 1, 1, 1, 1},  // the narrow test ResNet's layer3 and layer4
             {32, 32, 1, 1, 32, 3, 3, 1, 1, 1, 1}}) {
        REQUIRE(salun::kernels::cpu::detail::conv_taps_eligible(p));
        CHECK(check_conv<T>(p, seed++));
    }
    // not for strided layers or larger outputs
    CHECK_FALSE(salun::kernels::cpu::detail::conv_taps_eligible({2, 4, 4, 4, 4, 3, 3, 2, 2, 1, 1}));
    CHECK_FALSE(salun::kernels::cpu::detail::conv_taps_eligible({2, 4, 3, 3, 4, 3, 3, 1, 1, 1, 1}));
}
