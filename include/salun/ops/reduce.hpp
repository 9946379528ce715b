// SPDX-License-Identifier: MIT
// Reductions: sum and mean over all elements or along one dimension (keepdim as in PyTorch).
// Backward broadcasts the incoming gradient back over the reduced elements.
#pragma once

#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xreducer.hpp>

#include "salun/core/tensor.hpp"
#include "salun/ops/device.hpp"

namespace salun {

namespace detail {
/// Broadcasts a gradient of shape `kept` (reduced dims kept as 1) to `full`, times `scale`.
template <class T>
Tensor<T> expand_grad(const Tensor<T>& g, const Shape& kept, const Shape& full, T scale) {
    Tensor<T> out = Tensor<T>::empty(full);
    auto gk = xt::adapt(g.data(), g.numel(), xt::no_ownership(), kept);
    auto o = out.array();
    o = xt::broadcast(gk, full) * scale;
    return out;
}

template <class T>
Tensor<T> reduce_all(const Tensor<T>& x, bool mean, const char* name) {
    if (x.device() != Device::cpu) {  // the value stays on the device: no synchronisation
        const std::size_t n = x.numel();
        const T scale = mean ? T(1) / static_cast<T>(n) : T(1);
        Tensor<T> out = Tensor<T>::empty({}, x.device());
        kernels::device::sum<T>(x.device_data(), out.device_data(), std::int64_t(n), scale);
        if (autograd::needs_grad(x)) {
            autograd::record<T>(out, name, {x}, [shape = x.shape(), scale](const Tensor<T>& g) {
                Tensor<T> dx = Tensor<T>::empty(shape, g.device());
                kernels::device::expand_scalar<T>(g.device_data(), dx.device_data(), scale, std::int64_t(dx.numel()));
                return std::vector<Tensor<T>>{dx};
            });
        }
        return out;
    }
    double acc = 0;  // double accumulator: sums of many floats stay close to PyTorch's pairwise sums
    const T* p = x.data();
    const std::size_t n = x.numel();
#pragma omp parallel for reduction(+ : acc) if (n > (1u << 16))
    for (std::size_t i = 0; i < n; ++i) acc += p[i];
    const T scale = mean ? T(1) / static_cast<T>(n) : T(1);
    Tensor<T> out = Tensor<T>::scalar(static_cast<T>(acc * (mean ? 1.0 / double(n) : 1.0)));
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, name, {x}, [shape = x.shape(), scale](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{Tensor<T>::full(shape, g.item() * scale)};
        });
    }
    return out;
}

template <class T>
Tensor<T> reduce_dim(const Tensor<T>& x, std::size_t dim, bool keepdim, bool mean, const char* name) {
    SALUN_CHECK(dim < x.dim(), name, ": dim ", dim, " out of range for shape ", shape_str(x.shape()));
    if (x.device() != Device::cpu) not_on_device(name, x.device());
    Shape kept = x.shape();
    kept[dim] = 1;
    Shape out_shape = x.shape();
    if (keepdim)
        out_shape[dim] = 1;
    else
        out_shape.erase(out_shape.begin() + static_cast<long>(dim));
    const T scale = mean ? T(1) / static_cast<T>(x.shape()[dim]) : T(1);
    xt::xarray<T> r = xt::sum(x.array(), {dim}, xt::evaluation_strategy::immediate);
    Tensor<T> out = Tensor<T>::empty(out_shape);
    std::transform(r.begin(), r.end(), out.data(), [scale](T v) { return v * scale; });
    if (autograd::needs_grad(x)) {
        autograd::record<T>(out, name, {x}, [kept, full = x.shape(), scale](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{expand_grad(g, kept, full, scale)};
        });
    }
    return out;
}
}  // namespace detail

template <class T>
Tensor<T> sum(const Tensor<T>& x) {
    return detail::reduce_all(x, false, "sum");
}
template <class T>
Tensor<T> mean(const Tensor<T>& x) {
    return detail::reduce_all(x, true, "mean");
}
template <class T>
Tensor<T> sum(const Tensor<T>& x, std::size_t dim, bool keepdim = false) {
    return detail::reduce_dim(x, dim, keepdim, false, "sum");
}
template <class T>
Tensor<T> mean(const Tensor<T>& x, std::size_t dim, bool keepdim = false) {
    return detail::reduce_dim(x, dim, keepdim, true, "mean");
}

}  // namespace salun
