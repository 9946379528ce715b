// SPDX-License-Identifier: MIT
// View ops: reshape, flatten and batch slices share storage with their input; their backward
// pass views the gradient back into the input's shape. In core, not ops: Tensor's own member
// functions (reshape, flatten, slice) are these ops, and core includes nothing above it.
// Written as every op is (ops/): check the arguments, compute (here: a view, no kernel), record.
#pragma once

#include "salun/core/tensor.hpp"
#include "salun/core/autograd.hpp"

namespace salun {

namespace detail {
inline Shape infer_shape(const std::vector<long>& spec, std::size_t numel, const Shape& from) {
    Shape out(spec.size());
    long infer_at = -1;
    std::size_t known = 1;
    for (std::size_t i = 0; i < spec.size(); ++i) {
        if (spec[i] == -1) {
            SALUN_CHECK(infer_at < 0, "reshape: only one dimension can be -1");
            infer_at = static_cast<long>(i);
        } else {
            SALUN_CHECK(spec[i] >= 0, "reshape: invalid size ", spec[i]);
            out[i] = static_cast<std::size_t>(spec[i]);
            known *= out[i];
        }
    }
    if (infer_at >= 0) {
        SALUN_CHECK(known > 0 && numel % known == 0, "reshape: cannot infer -1 for input ", shape_str(from));
        out[static_cast<std::size_t>(infer_at)] = numel / known;
    }
    SALUN_CHECK(numel_of(out) == numel, "reshape: shape ", shape_str(out), " is invalid for input of shape ",
                shape_str(from));
    return out;
}

/// A view of `x`'s storage at element `offset` with `shape`; differentiable.
template <class T>
Tensor<T> make_view(const Tensor<T>& x, std::size_t offset, const Shape& shape) {
    auto impl = std::make_shared<TensorImpl<T>>();
    impl->storage = x.impl().storage;
    impl->device_storage = x.impl().device_storage;
    impl->device = x.device();
    impl->offset = x.impl().offset + offset;
    impl->shape = shape;
    return Tensor<T>(std::move(impl));
}
}  // namespace detail

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const std::vector<long>& spec) {
    const Shape shape = detail::infer_shape(spec, x.numel(), x.shape());
    Tensor<T> out = detail::make_view(x, 0, shape);
    if (autograd::needs_grad(x)) {
        const Shape in_shape = x.shape();
        autograd::record<T>(out, "reshape", {x}, [in_shape](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{detail::make_view(g, 0, in_shape)};
        });
    }
    return out;
}

/// Collapses dims [start_dim, end) into one (torch.flatten(x, start_dim)).
template <class T>
Tensor<T> flatten(const Tensor<T>& x, std::size_t start_dim = 1) {
    SALUN_CHECK(start_dim <= x.dim(), "flatten: start_dim ", start_dim, " out of range for shape ", shape_str(x.shape()));
    std::vector<long> spec;
    for (std::size_t i = 0; i < start_dim; ++i) spec.push_back(static_cast<long>(x.shape()[i]));
    std::size_t rest = 1;
    for (std::size_t i = start_dim; i < x.dim(); ++i) rest *= x.shape()[i];
    spec.push_back(static_cast<long>(rest));
    return reshape(x, spec);
}

/// Rows [start, end) along dim 0 (x[start:end]), sharing storage.
template <class T>
Tensor<T> slice(const Tensor<T>& x, std::size_t start, std::size_t end) {
    SALUN_CHECK(x.dim() >= 1 && start <= end && end <= x.shape()[0], "slice: range [", start, ", ", end,
                ") out of bounds for shape ", shape_str(x.shape()));
    Shape shape = x.shape();
    const std::size_t row = shape[0] ? x.numel() / shape[0] : 0;
    shape[0] = end - start;
    Tensor<T> out = detail::make_view(x, start * row, shape);
    if (autograd::needs_grad(x)) {
        const Shape in_shape = x.shape();
        autograd::record<T>(out, "slice", {x}, [in_shape, start, row](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::zeros(in_shape, g.device());
            device_copy(dx.device_data() + start * row, g.device(), g.device_data(), g.device(), g.numel() * sizeof(T));
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

template <class T>
Tensor<T> Tensor<T>::reshape(const std::vector<long>& shape) const {
    return salun::reshape(*this, shape);
}
template <class T>
Tensor<T> Tensor<T>::flatten(std::size_t start_dim) const {
    return salun::flatten(*this, start_dim);
}
template <class T>
Tensor<T> Tensor<T>::slice(std::size_t start, std::size_t end) const {
    return salun::slice(*this, start, end);
}

}  // namespace salun
