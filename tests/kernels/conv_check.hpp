// SPDX-License-Identifier: MIT
// check_conv: salun::kernels::cpu::conv2d_* (any GEMM tile) against reference::conv2d_* evaluated in double;
// check_winograd_direct: one Winograd variant (F(2x2) or F(4x4)) called directly, all three passes,
// against the same.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/conv.hpp"
#include "salun/kernels/reference.hpp"

namespace salun_test {

using salun::kernels::Conv2dParams;

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
inline std::vector<double> to_double(const std::vector<double>& v) { return v; }
inline std::vector<double> abs_of(const std::vector<double>& v) {
    std::vector<double> a(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::abs(v[i]);
    return a;
}

/// Forward, backward_input and backward_weight (+ bias) of salun::kernels::cpu::conv2d_* with tile `Tile` against
/// the reference evaluated in double, each within rtol of the per-element magnitude sum.
template <class T, class Tile = salun::kernels::cpu::detail::NativeTile<T>>
bool check_conv(const Conv2dParams& p, unsigned seed, bool with_bias = true) {
    const std::size_t OH = p.OH(), OW = p.OW();
    const std::size_t xs = p.N * p.C * p.H * p.W, ws = p.OC * p.C * p.KH * p.KW, ys = p.N * p.OC * OH * OW;
    auto x = random_vector<T>(xs, seed), w = random_vector<T>(ws, seed + 1), dy = random_vector<T>(ys, seed + 2);
    auto b = random_vector<T>(p.OC, seed + 3);
    const auto xd = to_double(x), wd = to_double(w), dyd = to_double(dy), bd = to_double(b);
    const auto xa = abs_of(xd), wa = abs_of(wd), dya = abs_of(dyd), ba = abs_of(bd);
    const double rtol = salun_test::default_rtol<T>();
    INFO("N=" << p.N << " C=" << p.C << " H=" << p.H << " W=" << p.W << " OC=" << p.OC << " K=" << p.KH << "x" << p.KW
              << " S=" << p.SH << "," << p.SW << " P=" << p.PH << "," << p.PW << " bias=" << with_bias);
    bool ok = true;
    {  // forward (output pre-filled with NaN: must be overwritten)
        std::vector<T> y(ys, T(NAN));
        std::vector<double> yr(ys), ya(ys);
        salun::kernels::cpu::conv2d_forward<T, Tile>(p, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data());
        salun::kernels::reference::conv2d_forward(p, xd.data(), wd.data(), with_bias ? bd.data() : nullptr, yr.data());
        salun::kernels::reference::conv2d_forward(p, xa.data(), wa.data(), with_bias ? ba.data() : nullptr, ya.data());
        for (auto& s : ya) s += 1e-3;
        INFO("forward");
        ok = all_close(y, yr, rtol, &ya) && ok;
    }
    {  // backward input
        std::vector<T> dx(xs, T(NAN));
        std::vector<double> dxr(xs), dxa(xs);
        salun::kernels::cpu::conv2d_backward_input<T, Tile>(p, dy.data(), w.data(), dx.data());
        salun::kernels::reference::conv2d_backward_input(p, dyd.data(), wd.data(), dxr.data());
        salun::kernels::reference::conv2d_backward_input(p, dya.data(), wa.data(), dxa.data());
        for (auto& s : dxa) s += 1e-3;
        INFO("backward_input");
        ok = all_close(dx, dxr, rtol, &dxa) && ok;
    }
    {  // backward weight + bias
        std::vector<T> dw(ws, T(NAN)), db(p.OC, T(NAN));
        std::vector<double> dwr(ws), dwa(ws), dbr(p.OC), dba(p.OC);
        salun::kernels::cpu::conv2d_backward_weight<T, Tile>(p, x.data(), dy.data(), dw.data(), with_bias ? db.data() : nullptr);
        salun::kernels::reference::conv2d_backward_weight(p, xd.data(), dyd.data(), dwr.data(), dbr.data());
        salun::kernels::reference::conv2d_backward_weight(p, xa.data(), dya.data(), dwa.data(), dba.data());
        for (auto& s : dwa) s += 1e-3;
        for (auto& s : dba) s += 1e-3;
        INFO("backward_weight");
        ok = all_close(dw, dwr, rtol, &dwa) && ok;
        if (with_bias) ok = all_close(db, dbr, rtol, &dba) && ok;
    }
    return ok;
}

}  // namespace salun_test

namespace salun_test {

/// Forward, backward_input and backward_weight of the Winograd variant F (WinogradF2 /
/// WinogradF4) called directly (no dispatch rule, any batch and thread count; bias on the forward
/// pass), against the reference in double, each within rtol of the per-element magnitude sum. p
/// must be 3x3, stride 1, padding <= 2.
template <class T, class Tile, class F>
bool check_winograd_direct(const Conv2dParams& p, unsigned seed, double rtol = default_rtol<T>()) {
    namespace det = salun::kernels::cpu::detail;
    namespace ref = salun::kernels::reference;
    const std::size_t xs = p.N * p.C * p.H * p.W, ws = p.OC * p.C * 9, ys = p.N * p.OC * p.OH() * p.OW();
    auto x = random_vector<T>(xs, seed), w = random_vector<T>(ws, seed + 1), dy = random_vector<T>(ys, seed + 2);
    auto b = random_vector<T>(p.OC, seed + 3);
    const auto xd = to_double(x), wd = to_double(w), dyd = to_double(dy), bd = to_double(b);
    const auto xa = abs_of(xd), wa = abs_of(wd), dya = abs_of(dyd), ba = abs_of(bd);
    INFO("direct Winograd, " << F::kOut << "x" << F::kOut << " tiles, tile " << Tile::MR << "x" << Tile::NR << ": N="
                             << p.N << " C=" << p.C << " H=" << p.H << " W=" << p.W << " OC=" << p.OC << " P=" << p.PH
                             << "," << p.PW);
    bool ok = true;
    {
        std::vector<T> y(ys, T(NAN));
        std::vector<double> yr(ys), ya(ys);
        det::winograd_conv3x3_packed<Tile, F>(p.N, p.C, p.H, p.W, p.OC, p.PH, p.PW, x.data(), w.data(), false,
                                              b.data(), y.data());
        ref::conv2d_forward(p, xd.data(), wd.data(), bd.data(), yr.data());
        ref::conv2d_forward(p, xa.data(), wa.data(), ba.data(), ya.data());
        for (auto& s : ya) s += 1e-3;
        INFO("forward");
        ok = all_close(y, yr, rtol, &ya) && ok;
    }
    {
        std::vector<T> dx(xs, T(NAN));
        std::vector<double> dxr(xs), dxa(xs);
        det::winograd_conv3x3_packed<Tile, F>(p.N, p.OC, p.OH(), p.OW(), p.C, 2 - p.PH, 2 - p.PW, dy.data(), w.data(),
                                              true, static_cast<const T*>(nullptr), dx.data());
        ref::conv2d_backward_input(p, dyd.data(), wd.data(), dxr.data());
        ref::conv2d_backward_input(p, dya.data(), wa.data(), dxa.data());
        for (auto& s : dxa) s += 1e-3;
        INFO("backward_input");
        ok = all_close(dx, dxr, rtol, &dxa) && ok;
    }
    {
        std::vector<T> dw(ws, T(NAN));
        std::vector<double> dwr(ws), dwa(ws), dbr(p.OC), dba(p.OC);
        det::winograd_conv3x3_backward_weight<Tile, F>(p, x.data(), dy.data(), dw.data());
        ref::conv2d_backward_weight(p, xd.data(), dyd.data(), dwr.data(), dbr.data());
        ref::conv2d_backward_weight(p, xa.data(), dya.data(), dwa.data(), dba.data());
        for (auto& s : dwa) s += 1e-3;
        INFO("backward_weight");
        ok = all_close(dw, dwr, rtol, &dwa) && ok;
    }
    return ok;
}

}  // namespace salun_test
