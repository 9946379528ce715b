// SPDX-License-Identifier: MIT
// cpu pooling and batch-norm kernels against the reference (pooling: same operation order, so
// exact; batch norm: double accumulation, ~1e-5 relative in float).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/batch_norm.hpp"
#include "salun/kernels/cpu/pool.hpp"
#include "salun/kernels/reference.hpp"

namespace {

using salun::kernels::Pool2dParams;
using salun_test::all_close;
using salun_test::random_vector;
namespace ref = salun::kernels::reference;
namespace cpu = salun::kernels::cpu;

template <class T>
void check_pool(const Pool2dParams& p, unsigned seed) {
    const std::size_t OH = p.OH(), OW = p.OW(), xs = p.N * p.C * p.H * p.W, ys = p.N * p.C * OH * OW;
    INFO("N=" << p.N << " C=" << p.C << " H=" << p.H << " W=" << p.W << " K=" << p.KH << "x" << p.KW << " S=" << p.SH
              << "," << p.SW << " P=" << p.PH << "," << p.PW);
    auto x = random_vector<T>(xs, seed), dy = random_vector<T>(ys, seed + 1);
    // ties: quantise some values so that the first-maximum rule matters
    for (std::size_t i = 0; i < xs; i += 3) x[i] = std::round(x[i] * T(2)) / T(2);
    std::vector<T> y(ys), yr(ys), dx(xs, T(NAN)), dxr(xs);
    std::vector<std::int64_t> am(ys), amr(ys);
    cpu::max_pool2d_forward(p, x.data(), y.data(), am.data());
    ref::max_pool2d_forward(p, x.data(), yr.data(), amr.data());
    CHECK(y == yr);
    CHECK(am == amr);
    cpu::max_pool2d_backward(p, dy.data(), amr.data(), dx.data());
    ref::max_pool2d_backward(p, dy.data(), amr.data(), dxr.data());
    CHECK(all_close(dx, dxr, salun_test::default_rtol<T>()));
    cpu::avg_pool2d_forward(p, x.data(), y.data());
    ref::avg_pool2d_forward(p, x.data(), yr.data());
    CHECK(all_close(y, yr, salun_test::default_rtol<T>()));
    std::fill(dx.begin(), dx.end(), T(NAN));
    cpu::avg_pool2d_backward(p, dy.data(), dx.data());
    ref::avg_pool2d_backward(p, dy.data(), dxr.data());
    CHECK(all_close(dx, dxr, salun_test::default_rtol<T>()));
}

template <class T>
void check_adaptive(std::size_t NC, std::size_t H, std::size_t W, std::size_t OH, std::size_t OW, unsigned seed) {
    INFO("NC=" << NC << " H=" << H << " W=" << W << " OH=" << OH << " OW=" << OW);
    auto x = random_vector<T>(NC * H * W, seed), dy = random_vector<T>(NC * OH * OW, seed + 1);
    std::vector<T> y(NC * OH * OW), yr(y.size()), dx(x.size(), T(NAN)), dxr(x.size());
    cpu::adaptive_avg_pool2d_forward(NC, H, W, OH, OW, x.data(), y.data());
    ref::adaptive_avg_pool2d_forward(NC, H, W, OH, OW, x.data(), yr.data());
    CHECK(all_close(y, yr, salun_test::default_rtol<T>()));
    cpu::adaptive_avg_pool2d_backward(NC, H, W, OH, OW, dy.data(), dx.data());
    ref::adaptive_avg_pool2d_backward(NC, H, W, OH, OW, dy.data(), dxr.data());
    CHECK(all_close(dx, dxr, salun_test::default_rtol<T>()));
}

template <class T>
void check_bn(std::size_t N, std::size_t C, std::size_t HW, double offset, unsigned seed, bool affine) {
    INFO("N=" << N << " C=" << C << " HW=" << HW << " offset=" << offset << " affine=" << affine);
    const std::size_t n = N * C * HW;
    auto x = random_vector<T>(n, seed, T(offset - 1), T(offset + 1));
    auto dy = random_vector<T>(n, seed + 1);
    auto gamma = random_vector<T>(C, seed + 2, T(0.5), T(1.5)), beta = random_vector<T>(C, seed + 3);
    std::vector<T> mean(C), var(C), meanr(C), varr(C);
    cpu::batch_norm_stats(N, C, HW, x.data(), mean.data(), var.data());
    ref::batch_norm_stats(N, C, HW, x.data(), meanr.data(), varr.data());
    const double rtol = salun_test::default_rtol<T>();
    CHECK(all_close(mean, meanr, rtol));
    CHECK(all_close(var, varr, rtol));
    std::vector<T> invstd(C);
    for (std::size_t c = 0; c < C; ++c) invstd[c] = T(1.0 / std::sqrt(double(varr[c]) + 1e-5));
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;
    std::vector<T> y(n, T(NAN)), yr(n);
    cpu::batch_norm_apply(N, C, HW, x.data(), meanr.data(), invstd.data(), g, b, y.data());
    ref::batch_norm_apply(N, C, HW, x.data(), meanr.data(), invstd.data(), g, b, yr.data());
    CHECK(all_close(y, yr, rtol));
    std::vector<T> dx(n, T(NAN)), dxr(n), dg(C, T(NAN)), dgr(C), db(C, T(NAN)), dbr(C);
    cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), meanr.data(), invstd.data(), g, dx.data(), dg.data(),
                             db.data());
    ref::batch_norm_backward(N, C, HW, dy.data(), x.data(), meanr.data(), invstd.data(), g, dxr.data(), dgr.data(),
                             dbr.data());
    // sums of M terms: compare against the sum of magnitudes
    std::vector<double> sdg(C, 0.0), sdb(C, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t c = (k / HW) % C;
        sdb[c] += std::abs(double(dy[k]));
        sdg[c] += std::abs(double(dy[k]) * (double(x[k]) - double(meanr[c])) * double(invstd[c]));
    }
    CHECK(all_close(dg, dgr, rtol, &sdg));
    CHECK(all_close(db, dbr, rtol, &sdb));
    CHECK(all_close(dx, dxr, 10 * rtol));
    // nullable outputs
    cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), meanr.data(), invstd.data(), g, dx.data(),
                             static_cast<T*>(nullptr), static_cast<T*>(nullptr));
    CHECK(all_close(dx, dxr, 10 * rtol));
}

/// The fused batch_norm_relu kernels: apply(relu = true) and backward(relu_out), cpu against the
/// reference, and each against its unfused form (max(apply, 0); backward of the masked gradient).
template <class T>
void check_bn_relu(std::size_t N, std::size_t C, std::size_t HW, unsigned seed, bool affine) {
    INFO("N=" << N << " C=" << C << " HW=" << HW << " affine=" << affine);
    const std::size_t n = N * C * HW;
    auto x = random_vector<T>(n, seed, T(-1), T(1.5));
    auto dy = random_vector<T>(n, seed + 1);
    auto gamma = random_vector<T>(C, seed + 2, T(0.5), T(1.5)), beta = random_vector<T>(C, seed + 3, T(-0.5), T(0.5));
    std::vector<T> mean(C), var(C);
    ref::batch_norm_stats(N, C, HW, x.data(), mean.data(), var.data());
    std::vector<T> invstd(C);
    for (std::size_t c = 0; c < C; ++c) invstd[c] = T(1.0 / std::sqrt(double(var[c]) + 1e-5));
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;
    const double rtol = salun_test::default_rtol<T>();

    // forward: same expression as the unfused apply, then max(., 0): bitwise equal
    std::vector<T> y(n, T(NAN)), yr(n, T(NAN)), plain(n);
    cpu::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, y.data(), true);
    ref::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, yr.data(), true);
    ref::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, plain.data());
    std::size_t zeros = 0;
    for (std::size_t k = 0; k < n; ++k) {
        plain[k] = plain[k] > T(0) ? plain[k] : T(0);
        zeros += yr[k] == T(0);
    }
    CHECK(all_close(y, yr, rtol));
    CHECK(yr == plain);
    if (n >= 8) CHECK((zeros > 0 && zeros < n));  // both sides of the kink are exercised

    // with a residual (batch_norm_add_relu): max(apply + residual, 0), cpu against the reference
    // and against the unfused sum, and the plain apply + residual without the ReLU
    {
        const auto res = random_vector<T>(n, seed + 4);
        std::vector<T> ya(n, T(NAN)), yar(n, T(NAN)), yn(n, T(NAN)), ynr(n, T(NAN));
        cpu::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, ya.data(), true, res.data());
        ref::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, yar.data(), true, res.data());
        cpu::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, yn.data(), false, res.data());
        ref::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, ynr.data(), false, res.data());
        std::vector<T> unfused(n);
        ref::batch_norm_apply(N, C, HW, x.data(), mean.data(), invstd.data(), g, b, unfused.data());
        std::vector<T> unfused_relu(n);
        for (std::size_t k = 0; k < n; ++k) {
            unfused[k] = unfused[k] + res[k];
            unfused_relu[k] = unfused[k] > T(0) ? unfused[k] : T(0);
        }
        CHECK(all_close(ya, yar, rtol));
        CHECK(all_close(yn, ynr, rtol));
        CHECK(all_close(yar, unfused_relu, rtol));
        CHECK(all_close(ynr, unfused, rtol));
    }

    // backward with the ReLU mask: cpu vs reference, and vs the unfused backward of dy * (y > 0)
    std::vector<T> masked(n);
    for (std::size_t k = 0; k < n; ++k) masked[k] = yr[k] > T(0) ? dy[k] : T(0);
    std::vector<T> dx(n, T(NAN)), dxr(n, T(NAN)), dg(C, T(NAN)), dgr(C, T(NAN)), db(C, T(NAN)), dbr(C, T(NAN));
    cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), mean.data(), invstd.data(), g, dx.data(), dg.data(),
                             db.data(), yr.data());
    ref::batch_norm_backward(N, C, HW, dy.data(), x.data(), mean.data(), invstd.data(), g, dxr.data(), dgr.data(),
                             dbr.data(), yr.data());
    std::vector<T> dxu(n), dgu(C), dbu(C);
    ref::batch_norm_backward(N, C, HW, masked.data(), x.data(), mean.data(), invstd.data(), g, dxu.data(), dgu.data(),
                             dbu.data());
    std::vector<double> sdg(C, 0.0), sdb(C, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t c = (k / HW) % C;
        sdb[c] += std::abs(double(masked[k]));
        sdg[c] += std::abs(double(masked[k]) * (double(x[k]) - double(mean[c])) * double(invstd[c]));
    }
    // The reference masks like an unfused ReLU backward: the same terms in the same order, equal
    // up to where the compiler contracts a multiply-add into an FMA (it may choose differently in
    // the masked and unmasked code paths), so a rounding-level tolerance rather than bitwise.
    CHECK(all_close(dxr, dxu, rtol));
    CHECK(all_close(dgr, dgu, rtol, &sdg));
    CHECK(all_close(dbr, dbu, rtol, &sdb));
    CHECK(all_close(dg, dgr, rtol, &sdg));
    CHECK(all_close(db, dbr, rtol, &sdb));
    CHECK(all_close(dx, dxr, 10 * rtol));
    // cpu fused vs cpu on the masked gradient
    std::vector<T> dxc(n), dgc(C), dbc(C);
    cpu::batch_norm_backward(N, C, HW, masked.data(), x.data(), mean.data(), invstd.data(), g, dxc.data(), dgc.data(),
                             dbc.data());
    CHECK(all_close(dx, dxc, rtol));
    CHECK(all_close(dg, dgc, rtol, &sdg));
    CHECK(all_close(db, dbc, rtol, &sdb));
    // nullable outputs with the mask
    std::fill(dx.begin(), dx.end(), T(NAN));
    cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), mean.data(), invstd.data(), g, dx.data(),
                             static_cast<T*>(nullptr), static_cast<T*>(nullptr), yr.data());
    CHECK(all_close(dx, dxr, 10 * rtol));
    std::fill(dg.begin(), dg.end(), T(NAN));
    cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), mean.data(), invstd.data(), g, static_cast<T*>(nullptr),
                             dg.data(), static_cast<T*>(nullptr), yr.data());
    CHECK(all_close(dg, dgr, rtol, &sdg));
}

}  // namespace

TEST_CASE_TEMPLATE("cpu pooling matches reference", T, float, double) {
    unsigned seed = 1;
    for (std::size_t N : {1, 3})
        for (std::size_t C : {1, 5})
            for (std::size_t H : {4, 7, 9}) {
                check_pool<T>({N, C, H, H + 1, 2, 2, 2, 2, 0, 0}, seed++);
                check_pool<T>({N, C, H, H, 3, 3, 2, 2, 1, 1}, seed++);
                check_pool<T>({N, C, H, H + 2, 3, 3, 1, 1, 1, 1}, seed++);
                check_pool<T>({N, C, H, H, 3, 2, 1, 2, 1, 0}, seed++);
            }
    check_pool<T>({32, 64, 32, 32, 2, 2, 2, 2, 0, 0}, seed++);  // VGG-sized, threaded
    for (std::size_t H : {1, 4, 7}) {
        check_adaptive<T>(6, H, H, 1, 1, seed++);
        check_adaptive<T>(6, H, H + 3, 2, 3, seed++);
        check_adaptive<T>(4, H + 5, H, 3, 2, seed++);
    }
    check_adaptive<T>(128 * 512, 4, 4, 1, 1, seed++);  // ResNet head, threaded
}

TEST_CASE("cpu max pooling propagates NaN like the reference") {
    Pool2dParams p{1, 1, 4, 4, 2, 2, 2, 2, 0, 0};
    std::vector<float> x(16, 1.0f);
    x[5] = std::numeric_limits<float>::quiet_NaN();
    x[10] = 3.0f;
    std::vector<float> y(4), yr(4);
    std::vector<std::int64_t> a(4), ar(4);
    cpu::max_pool2d_forward(p, x.data(), y.data(), a.data());
    ref::max_pool2d_forward(p, x.data(), yr.data(), ar.data());
    CHECK(std::isnan(y[0]));
    CHECK(a == ar);
    CHECK(y[3] == 3.0f);
}

TEST_CASE_TEMPLATE("cpu batch norm matches reference", T, float, double) {
    unsigned seed = 10;
    for (bool affine : {true, false}) {
        check_bn<T>(1, 1, 1, 0.0, seed++, affine);
        check_bn<T>(2, 3, 5, 0.0, seed++, affine);
        check_bn<T>(7, 4, 17, 0.5, seed++, affine);
        check_bn<T>(16, 64, 64, 0.0, seed++, affine);  // threaded over channels
        check_bn<T>(8, 16, 32, 100.0, seed++, affine);  // large mean: variance must stay accurate
        // planes over the batch of 128 KiB (float) or 256 KiB (double): blocks of 2 or 1 channels
        // (kBnBlockBytes), the last one partial
        check_bn<T>(8, 5, 4096, 0.5, seed++, affine);
    }
}

TEST_CASE_TEMPLATE("cpu fused batch norm + ReLU matches reference", T, float, double) {
    unsigned seed = 200;
    for (bool affine : {true, false})
        for (std::size_t N : {2, 5})
            for (std::size_t HW : {1, 7, 33}) check_bn_relu<T>(N, 3, HW, seed += 4, affine);
    check_bn_relu<T>(16, 64, 64, seed += 4, true);   // threaded over channels (one mask buffer per thread)
    check_bn_relu<T>(4, 8, 4099, seed += 4, false);  // a larger plane: the mask buffers grow
    check_bn_relu<T>(8, 5, 4096, seed += 4, true);   // several channel blocks, the last one partial
}

TEST_CASE("cpu batch norm: the same bits on 1, 2 and 3 threads (each thread owns whole channels)") {
#if defined(_OPENMP)
    // 4x4 maps (many channels per block) and 64x64 maps (one channel per block), 7 channels that
    // 2 and 3 threads split unevenly; enough values that bn_threads uses 3 threads
    for (std::size_t HW : {16, 4096}) {
        const std::size_t N = HW == 16 ? 512 : 9, C = 7, n = N * C * HW;
        const auto x = random_vector<float>(n, 300 + unsigned(HW), -1.0f, 3.0f);
        const auto dy = random_vector<float>(n, 301 + unsigned(HW));
        const auto relu_out = random_vector<float>(n, 302 + unsigned(HW));
        const auto gamma = random_vector<float>(C, 303);
        std::vector<std::vector<float>> out;
        salun_test::for_thread_counts({1, 2, 3}, [&] {
            std::vector<float> mean(C), var(C), invstd(C), dx(n), dg(C), db(C);
            cpu::batch_norm_stats(N, C, HW, x.data(), mean.data(), var.data());
            for (std::size_t c = 0; c < C; ++c) invstd[c] = 1.0f / std::sqrt(var[c] + 1e-5f);
            cpu::batch_norm_backward(N, C, HW, dy.data(), x.data(), mean.data(), invstd.data(), gamma.data(),
                                     dx.data(), dg.data(), db.data(), relu_out.data());
            std::vector<float> all = mean;
            for (const auto* v : {&var, &dx, &dg, &db}) all.insert(all.end(), v->begin(), v->end());
            out.push_back(all);
        });
        CHECK(out[0] == out[1]);
        CHECK(out[0] == out[2]);
    }
#else
    MESSAGE("built without OpenMP: one thread only");
#endif
}
