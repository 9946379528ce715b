// SPDX-License-Identifier: MIT
// Elementwise arithmetic with NumPy/PyTorch broadcasting: add, sub, mul, div, neg and the
// scalar forms, plus the C++ operators. Same-shape inputs (the hot case: residual adds) take a
// plain SIMD loop; other shapes go through xtensor's broadcasting expressions. Backward sums the
// gradient over broadcast dimensions (`sum_to`).
#pragma once

#include <functional>

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>

#include "salun/core/tensor.hpp"
#include "salun/kernels/elementwise.hpp"
#include "salun/ops/device.hpp"

namespace salun {

/// The broadcast of two shapes (PyTorch rules: align right, sizes equal or 1).
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    const std::size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const std::size_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        SALUN_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                    " cannot be broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

/// Sums `g` down to `shape` (the reverse of broadcasting `shape` up to g's shape).
template <class T>
Tensor<T> sum_to(const Tensor<T>& g, const Shape& shape) {
    if (g.shape() == shape) return g;
    if (g.device() != Device::cpu) detail::not_on_device("broadcasting backward (sum_to)", g.device());
    const std::size_t lead = g.dim() - shape.size();
    std::vector<std::size_t> axes;
    for (std::size_t i = 0; i < g.dim(); ++i)
        if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
    xt::xarray<T> r = xt::sum(g.array(), axes, xt::evaluation_strategy::immediate);
    Tensor<T> out = Tensor<T>::empty(shape);
    std::copy(r.begin(), r.end(), out.data());
    return out;
}

namespace detail {

/// out = f(a, b) elementwise with broadcasting (`code` names f for a device kernel).
template <class T, class F>
Tensor<T> binary_forward(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f,
                         kernels::ew::Binary code) {
    const Device dev = common_device(op, a, b);
    if (dev != Device::cpu) {
        SALUN_CHECK(a.shape() == b.shape(), op, ": broadcasting ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                    " is not implemented on ", device_name(dev), " (same shapes only)");
        Tensor<T> out = Tensor<T>::empty(a.shape(), dev);
        kernels::device::binary<T>(code, a.device_data(), b.device_data(), out.device_data(), std::int64_t(a.numel()));
        return out;
    }
    if (a.shape() == b.shape()) {
        Tensor<T> out = Tensor<T>::empty(a.shape());
        const T* pa = a.data();
        const T* pb = b.data();
        T* po = out.data();
        const std::size_t n = a.numel();
#pragma omp parallel for simd if (n > (1u << 16))
        for (std::size_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
        return out;
    }
    Tensor<T> out = Tensor<T>::empty(broadcast_shapes(a.shape(), b.shape(), op));
    auto o = out.array();
    o = f(a.array(), b.array());
    return out;
}

}  // namespace detail

template <class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "add", [](const auto& x, const auto& y) { return x + y; }, kernels::ew::Binary::add);
    if (autograd::needs_grad(a, b)) {
        autograd::record<T>(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(g, sb)};
        });
    }
    return out;
}

template <class T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "sub", [](const auto& x, const auto& y) { return x - y; }, kernels::ew::Binary::sub);
    if (autograd::needs_grad(a, b)) {
        autograd::record<T>(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
            Tensor<T> neg = Tensor<T>::empty(g.shape(), g.device());
            if (g.device() != Device::cpu)
                kernels::device::affine<T>(g.device_data(), neg.device_data(), T(-1), T(0), std::int64_t(g.numel()));
            else
                neg.array() = -g.array();
            return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(neg, sb)};
        });
    }
    return out;
}

template <class T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "mul", [](const auto& x, const auto& y) { return x * y; }, kernels::ew::Binary::mul);
    if (autograd::needs_grad(a, b)) {
        const Tensor<T> ad = a.detach(), bd = b.detach();
        autograd::record<T>(out, "mul", {a, b}, [ad, bd](const Tensor<T>& g) {
            auto mulg = [&](const Tensor<T>& other) {
                return detail::binary_forward(g, other, "mul", [](const auto& x, const auto& y) { return x * y; }, kernels::ew::Binary::mul);
            };
            return std::vector<Tensor<T>>{sum_to(mulg(bd), ad.shape()), sum_to(mulg(ad), bd.shape())};
        });
    }
    return out;
}

template <class T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "div", [](const auto& x, const auto& y) { return x / y; }, kernels::ew::Binary::div);
    if (autograd::needs_grad(a, b)) {
        const Tensor<T> ad = a.detach(), bd = b.detach();
        autograd::record<T>(out, "div", {a, b}, [ad, bd](const Tensor<T>& g) {
            Tensor<T> da = detail::binary_forward(g, bd, "div", [](const auto& x, const auto& y) { return x / y; }, kernels::ew::Binary::div);
            // d(a/b)/db = -a / b^2
            Tensor<T> db;
            if (g.device() != Device::cpu) {  // -(g * (a / b) / b), from the device's binary kernels
                const Tensor<T> q = detail::binary_forward(detail::binary_forward(ad, bd, "div", std::divides<>(), kernels::ew::Binary::div),
                                                           bd, "div", std::divides<>(), kernels::ew::Binary::div);
                db = detail::binary_forward(g, q, "div", std::multiplies<>(), kernels::ew::Binary::mul);
                kernels::device::scale_inplace<T>(db.device_data(), T(-1), std::int64_t(db.numel()));
            } else {
                Tensor<T> q = detail::binary_forward(ad, bd, "div", [](const auto& x, const auto& y) { return x / (y * y); },
                                                     kernels::ew::Binary::div);
                db = detail::binary_forward(g, q, "div", [](const auto& x, const auto& y) { return -(x * y); },
                                            kernels::ew::Binary::div);
            }
            return std::vector<Tensor<T>>{sum_to(da, ad.shape()), sum_to(db, bd.shape())};
        });
    }
    return out;
}

/// a * s + t for a scalar s and t: the one primitive behind the scalar operators.
template <class T>
Tensor<T> affine(const Tensor<T>& a, T s, T t) {
    Tensor<T> out = Tensor<T>::empty(a.shape(), a.device());
    const std::size_t n = a.numel();
    if (a.device() != Device::cpu) {
        kernels::device::affine<T>(a.device_data(), out.device_data(), s, t, std::int64_t(n));
    } else {
        const T* pa = a.data();
        T* po = out.data();
#pragma omp parallel for simd if (n > (1u << 16))
        for (std::size_t i = 0; i < n; ++i) po[i] = kernels::ew::affine(pa[i], s, t);
    }
    if (autograd::needs_grad(a)) {
        autograd::record<T>(out, "affine", {a}, [s](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{affine(g.detach(), s, T(0))};
        });
    }
    return out;
}

template <class T>
Tensor<T> neg(const Tensor<T>& a) {
    return affine(a, T(-1), T(0));
}

// Operators, as in PyTorch: tensor (op) tensor broadcasts; tensor (op) scalar applies to each element.
template <class T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <class T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <class T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <class T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator+(const Tensor<T>& a, S s) { return affine(a, T(1), T(s)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator+(S s, const Tensor<T>& a) { return affine(a, T(1), T(s)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator-(const Tensor<T>& a, S s) { return affine(a, T(1), -T(s)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator-(S s, const Tensor<T>& a) { return affine(a, T(-1), T(s)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator*(const Tensor<T>& a, S s) { return affine(a, T(s), T(0)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator*(S s, const Tensor<T>& a) { return affine(a, T(s), T(0)); }
template <class T, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>>
Tensor<T> operator/(const Tensor<T>& a, S s) { return affine(a, T(1) / T(s), T(0)); }

}  // namespace salun
