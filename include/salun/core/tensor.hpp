// SPDX-License-Identifier: MIT
// salun::Tensor<T>: an n-dimensional array of float or double with autograd bookkeeping.
//
// A Tensor is a cheap handle (like torch.Tensor): copies share the same TensorImpl. Storage is
// always contiguous row-major (NCHW for images) in an xtensor container (xt::uvector, 64-byte
// aligned); views made by reshape/flatten/slice share the storage with an offset and a new shape.
// `array()` exposes the data as an xtensor expression; hot kernels work on `data()` directly.
// A tensor on another device (Device::cuda, core/device.hpp) keeps its data in a DeviceBuffer
// instead: `data()` refuses it (the host cannot read device memory), `device_data()` is the raw
// device pointer the backend's kernels take, and `to(device)` / `cpu()` copy between devices.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iomanip>
#include <memory>
#include <numeric>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xstorage.hpp>

#include "salun/core/allocator.hpp"
#include "salun/core/device.hpp"
#include "salun/core/error.hpp"
#include "salun/core/random.hpp"

namespace salun {

template <class T>
class Tensor;
template <class T>
struct Node;

inline std::size_t numel_of(const Shape& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>());
}

/// Shared state behind Tensor handles. `grad` is kept only for leaves (parameters and user
/// inputs); `grad_fn` is the node that produced a non-leaf and is cleared after backward().
template <class T>
struct TensorImpl {
    using storage_type = xt::uvector<T, caching_allocator<T>>;

    std::shared_ptr<storage_type> storage;       // CPU data (null on another device)
    std::shared_ptr<DeviceBuffer> device_storage;  // device data (null on the CPU)
    Device device = Device::cpu;
    std::size_t offset = 0;
    Shape shape;
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;
    std::shared_ptr<Node<T>> grad_fn;
};

template <class T>
class Tensor {
    static_assert(std::is_floating_point_v<T>, "salun::Tensor holds float or double");

public:
    using value_type = T;
    using Impl = TensorImpl<T>;

    Tensor() = default;  // undefined tensor (like an empty torch.Tensor() handle)
    explicit Tensor(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

    // ---- creation -------------------------------------------------------------------------
    /// Uninitialised storage: only for outputs that a kernel overwrites completely.
    static Tensor empty(const Shape& shape, bool requires_grad = false) {
        auto impl = std::make_shared<Impl>();
        impl->storage = std::make_shared<typename Impl::storage_type>(numel_of(shape));
        impl->shape = shape;
        impl->requires_grad = requires_grad;
        return Tensor(std::move(impl));
    }
    /// Uninitialised storage on `device` (a clear error if this build or machine lacks it).
    static Tensor empty(const Shape& shape, Device device, bool requires_grad = false) {
        if (device == Device::cpu) return empty(shape, requires_grad);
        require_device(device, "Tensor::empty");
        auto impl = std::make_shared<Impl>();
        impl->device_storage = std::make_shared<DeviceBuffer>(device, numel_of(shape) * sizeof(T));
        impl->device = device;
        impl->shape = shape;
        impl->requires_grad = requires_grad;
        return Tensor(std::move(impl));
    }
    /// `value` everywhere, on `device` (defined in ops/device.hpp, which has the fill kernel).
    static Tensor full(const Shape& shape, T value, Device device, bool requires_grad = false);
    static Tensor zeros(const Shape& shape, Device device, bool requires_grad = false) {
        return full(shape, T(0), device, requires_grad);
    }
    static Tensor full(const Shape& shape, T value, bool requires_grad = false) {
        Tensor t = empty(shape, requires_grad);
        std::fill_n(t.data(), t.numel(), value);
        return t;
    }
    static Tensor zeros(const Shape& shape, bool requires_grad = false) { return full(shape, T(0), requires_grad); }
    static Tensor ones(const Shape& shape, bool requires_grad = false) { return full(shape, T(1), requires_grad); }
    static Tensor scalar(T value, bool requires_grad = false) { return full({}, value, requires_grad); }

    /// Copies `values` (row-major) into a new tensor of `shape`.
    static Tensor from_data(const Shape& shape, const std::vector<T>& values, bool requires_grad = false) {
        SALUN_CHECK(values.size() == numel_of(shape), "Tensor::from_data: shape ", shape_str(shape), " needs ",
                    numel_of(shape), " values, got ", values.size());
        return from_data(shape, values.data(), requires_grad);
    }
    static Tensor from_data(const Shape& shape, const T* values, bool requires_grad = false) {
        Tensor t = empty(shape, requires_grad);
        std::copy_n(values, t.numel(), t.data());
        return t;
    }
    static Tensor uniform(const Shape& shape, double lo, double hi, Generator& gen = default_generator(),
                          bool requires_grad = false) {
        Tensor t = empty(shape, requires_grad);
        for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(gen.uniform(lo, hi));
        return t;
    }
    static Tensor normal(const Shape& shape, double mean, double std, Generator& gen = default_generator(),
                         bool requires_grad = false) {
        Tensor t = empty(shape, requires_grad);
        for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(gen.normal(mean, std));
        return t;
    }

    // ---- shape and data -------------------------------------------------------------------
    bool defined() const { return static_cast<bool>(impl_); }
    const Shape& shape() const { return impl().shape; }
    std::size_t dim() const { return shape().size(); }
    std::size_t size(std::size_t d) const {
        SALUN_CHECK(d < dim(), "Tensor::size: dim ", d, " out of range for shape ", shape_str(shape()));
        return shape()[d];
    }
    std::size_t numel() const { return numel_of(shape()); }
    /// Host pointer to the data; an error for a tensor on another device (use `device_data()`).
    T* data() { return impl().storage ? impl().storage->data() + impl().offset : host_data_error(); }
    const T* data() const { return impl().storage ? impl().storage->data() + impl().offset : host_data_error(); }

    // ---- device -----------------------------------------------------------------------------
    Device device() const { return impl().device; }
    bool is_cuda() const { return device() == Device::cuda; }
    /// The raw pointer the tensor's backend works on: host memory on the CPU, device memory else.
    T* device_data() {
        return impl().device_storage ? static_cast<T*>(impl().device_storage->ptr) + impl().offset : data();
    }
    const T* device_data() const {
        return impl().device_storage ? static_cast<const T*>(impl().device_storage->ptr) + impl().offset : data();
    }
    /// This tensor on `device`: itself if already there, else a copy that autograd sees through
    /// (the gradient is copied back), like torch.Tensor.to (defined in ops/device.hpp).
    Tensor to(Device device) const;
    Tensor cpu() const { return to(Device::cpu); }
    Tensor cuda() const { return to(Device::cuda); }
    T* begin() { return data(); }
    T* end() { return data() + numel(); }
    const T* begin() const { return data(); }
    const T* end() const { return data() + numel(); }

    /// The data as an xtensor expression (no copy): `t.array() * 2`, `xt::sum(t.array())`, ...
    auto array() { return xt::adapt(data(), numel(), xt::no_ownership(), shape()); }
    auto array() const { return xt::adapt(data(), numel(), xt::no_ownership(), shape()); }

    /// The single value of a one-element tensor.
    T item() const {
        SALUN_CHECK(defined() && numel() == 1, "Tensor::item: needs exactly one element, shape is ",
                    defined() ? shape_str(shape()) : std::string("undefined"));
        if (device() == Device::cpu) return data()[0];
        T v;
        device_copy(&v, Device::cpu, device_data(), device(), sizeof(T));  // waits for the value
        return v;
    }

    /// The values, copied to the host whatever the device.
    std::vector<T> to_vector() const {
        if (device() == Device::cpu) return std::vector<T>(begin(), end());
        std::vector<T> v(numel());
        device_copy(v.data(), Device::cpu, device_data(), device(), numel() * sizeof(T));
        return v;
    }

    // ---- autograd state -------------------------------------------------------------------
    bool requires_grad() const { return impl().requires_grad; }
    /// Marks a leaf as trainable (like tensor.requires_grad_()).
    Tensor& set_requires_grad(bool on = true) {
        SALUN_CHECK(!impl().grad_fn, "set_requires_grad: only leaves can change requires_grad");
        impl().requires_grad = on;
        return *this;
    }
    bool is_leaf() const { return !impl().grad_fn; }
    /// Accumulated gradient of a leaf; undefined until a backward pass reaches it.
    Tensor grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }
    void set_grad(const Tensor& g) { impl().grad = g.impl_; }
    /// Drops the gradient (PyTorch's zero_grad(set_to_none=True)); the next backward allocates it.
    void zero_grad() { impl().grad.reset(); }
    const std::shared_ptr<Node<T>>& grad_fn() const { return impl().grad_fn; }

    /// Reverse-mode differentiation from this scalar (or from `grad` of the same shape).
    void backward(const Tensor& grad = Tensor()) const;

    /// Same data, no history: the result is a leaf that does not require grad.
    Tensor detach() const {
        auto impl = std::make_shared<Impl>();
        impl->storage = this->impl().storage;
        impl->device_storage = this->impl().device_storage;
        impl->device = device();
        impl->offset = this->impl().offset;
        impl->shape = shape();
        return Tensor(std::move(impl));
    }

    /// A deep copy without history, on the same device.
    Tensor clone() const {
        if (device() == Device::cpu) return from_data(shape(), data(), false);
        Tensor t = empty(shape(), device());
        device_copy(t.device_data(), device(), device_data(), device(), numel() * sizeof(T));
        return t;
    }

    // ---- views (defined in ops/shape.hpp so they are differentiable) -----------------------
    /// New shape over the same data; one entry may be -1 and is inferred.
    Tensor reshape(const std::vector<long>& shape) const;
    Tensor view(const std::vector<long>& shape) const { return reshape(shape); }
    /// Collapses dims start_dim..end into one (default: keep the batch dim).
    Tensor flatten(std::size_t start_dim = 1) const;
    /// Rows [start, end) along dim 0, sharing storage.
    Tensor slice(std::size_t start, std::size_t end) const;

    // ---- low level ------------------------------------------------------------------------
    Impl& impl() {
        SALUN_CHECK(impl_, "salun: use of an undefined tensor");
        return *impl_;
    }
    const Impl& impl() const {
        SALUN_CHECK(impl_, "salun: use of an undefined tensor");
        return *impl_;
    }
    const std::shared_ptr<Impl>& impl_ptr() const { return impl_; }
    bool same(const Tensor& other) const { return impl_ == other.impl_; }

private:
    [[noreturn]] T* host_data_error() const {
        detail::throw_error("Tensor::data: the tensor is on ", device_name(device()),
                            "; the host cannot read it (use .cpu() first, or device_data() in a ",
                            device_name(device()), " kernel)");
    }

    std::shared_ptr<Impl> impl_;
};

/// Prints like PyTorch, abbreviated: "tensor([[1, 2], [3, 4]], shape=[2, 2])".
template <class T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
    if (!t.defined()) return os << "tensor(undefined)";
    const std::size_t n = t.numel(), shown = std::min<std::size_t>(n, 16);
    const std::vector<T> v = t.device() == Device::cpu ? std::vector<T>(t.begin(), t.begin() + shown) : t.to_vector();
    os << "tensor([";
    for (std::size_t i = 0; i < shown; ++i) os << (i ? ", " : "") << v[i];
    if (shown < n) os << ", ...";
    os << "], shape=" << shape_str(t.shape());
    if (t.device() != Device::cpu) os << ", device='" << device_name(t.device()) << "'";
    if (t.requires_grad()) os << ", requires_grad=True";
    return os << ")";
}

}  // namespace salun

#include "salun/core/autograd.hpp"
