// SPDX-License-Identifier: MIT
// Reverse-mode autograd, define-by-run like PyTorch and small enough to read in one sitting
// (micrograd, with tensors):
//   * every differentiable op calls `autograd::record(out, name, {inputs...}, backward_fn)`,
//     which hangs a Node on `out`: the inputs and a closure mapping d(loss)/d(out) to
//     d(loss)/d(input) for each input;
//   * `backward(root)` sorts the graph topologically, walks it in reverse, sums the gradients
//     flowing into each tensor, stores them in `.grad` of leaves that require grad, and frees the
//     graph as it goes (intermediate gradients and closures are released once used).
// Closures must not capture their own output tensor (that would be a reference cycle): save
// `out.detach()` instead, which shares the data without the history.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "salun/core/tensor.hpp"
#include "salun/kernels/device.hpp"

namespace salun {

/// One recorded operation: its inputs and how to send a gradient back to them.
template <class T>
struct Node {
    using BackwardFn = std::function<std::vector<Tensor<T>>(const Tensor<T>& grad_out)>;

    std::string name;                                  // op name, for errors and debugging
    std::vector<std::shared_ptr<TensorImpl<T>>> inputs;
    BackwardFn backward;                               // returns one gradient per input (undefined = none)
};

namespace autograd {

inline bool& grad_mode_flag() {
    thread_local bool enabled = true;
    return enabled;
}
inline bool is_grad_enabled() { return grad_mode_flag(); }

/// While alive, ops record no graph (torch.no_grad()).
class NoGradGuard {
public:
    NoGradGuard() : previous_(grad_mode_flag()) { grad_mode_flag() = false; }
    ~NoGradGuard() { grad_mode_flag() = previous_; }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

/// True when an op on these inputs must record a node.
template <class T>
bool needs_grad(std::initializer_list<const Tensor<T>*> inputs) {
    if (!is_grad_enabled()) return false;
    for (const Tensor<T>* t : inputs)
        if (t && t->defined() && t->requires_grad()) return true;
    return false;
}
template <class T, class... Rest>
bool needs_grad(const Tensor<T>& first, const Rest&... rest) {
    return needs_grad<T>({&first, &rest...});
}

/// Makes `out` a non-leaf produced by `name` from `inputs`; `fn` computes the input gradients.
template <class T>
void record(Tensor<T>& out, std::string name, const std::vector<Tensor<T>>& inputs,
            typename Node<T>::BackwardFn fn) {
    auto node = std::make_shared<Node<T>>();
    node->name = std::move(name);
    for (const auto& in : inputs) node->inputs.push_back(in.impl_ptr());
    node->backward = std::move(fn);
    out.impl().requires_grad = true;
    out.impl().grad_fn = std::move(node);
}

namespace detail {

/// True when nothing else can see t's memory: the only handle on the only view of its storage.
template <class T>
bool exclusively_owned(const Tensor<T>& t) {
    const long storage_users = t.impl().storage ? t.impl().storage.use_count() : t.impl().device_storage.use_count();
    return t.impl_ptr().use_count() == 1 && storage_users == 1 && t.impl().offset == 0;
}

/// a + b for two gradients flowing into the same tensor. Written into whichever operand is
/// exclusively owned (a gradient may also be shared, e.g. add's backward hands the same tensor to
/// both inputs), else into a new tensor. Same values either way: float addition commutes.
template <class T>
Tensor<T> sum_gradients(Tensor<T> a, Tensor<T> b) {
    SALUN_CHECK(a.device() == b.device(), "backward: gradients on ", device_name(a.device()), " and ",
                device_name(b.device()), " flow into one tensor");
    if (a.device() != Device::cpu) {
        Tensor<T> out = exclusively_owned(a) ? a : exclusively_owned(b) ? b : a.clone();
        kernels::device::add_inplace<T>(out.device_data(), (out.same(b) ? a : b).device_data(),
                                        static_cast<std::int64_t>(a.numel()));
        return out;
    }
    Tensor<T> out = exclusively_owned(a) ? a : exclusively_owned(b) ? b : Tensor<T>::empty(a.shape());
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    const std::size_t n = a.numel();
#pragma omp parallel for simd if (n > (1u << 16))
    for (std::size_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
    return out;
}

}  // namespace detail

/// Runs the backward pass from `root`. `grad` defaults to 1 for a one-element root.
template <class T>
void backward(const Tensor<T>& root, Tensor<T> grad = Tensor<T>()) {
    using ImplPtr = std::shared_ptr<TensorImpl<T>>;
    SALUN_CHECK(root.defined(), "backward: undefined tensor");
    SALUN_CHECK(root.requires_grad(),
                "backward: the tensor does not require grad (no parameter took part, or it was computed under no_grad)");
    if (!grad.defined()) {
        SALUN_CHECK(root.numel() == 1, "backward: implicit gradient needs a one-element output, shape is ",
                    shape_str(root.shape()));
        grad = Tensor<T>::full(root.shape(), T(1), root.device());
    }
    SALUN_CHECK(grad.shape() == root.shape(), "backward: gradient shape ", shape_str(grad.shape()),
                " does not match output shape ", shape_str(root.shape()));

    // Topological order by iterative depth-first search (no recursion limit on deep graphs).
    std::vector<ImplPtr> order;
    std::unordered_set<TensorImpl<T>*> visited;
    std::vector<std::pair<ImplPtr, std::size_t>> stack{{root.impl_ptr(), 0}};
    visited.insert(root.impl_ptr().get());
    while (!stack.empty()) {
        auto& [impl, next] = stack.back();
        const auto& fn = impl->grad_fn;
        if (fn && next < fn->inputs.size()) {
            ImplPtr child = fn->inputs[next++];
            if (child->requires_grad && visited.insert(child.get()).second) stack.push_back({child, 0});
        } else {
            order.push_back(impl);
            stack.pop_back();
        }
    }

    // Reverse order: every consumer runs before the tensor it consumes.
    std::unordered_map<TensorImpl<T>*, Tensor<T>> grads;
    grads[root.impl_ptr().get()] = grad;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const ImplPtr& impl = *it;
        auto found = grads.find(impl.get());
        if (found == grads.end()) continue;  // nothing flowed here
        Tensor<T> g = std::move(found->second);
        grads.erase(found);

        if (!impl->grad_fn) {  // a leaf: accumulate into .grad, owned by the leaf
            if (!impl->grad) {
                impl->grad = detail::exclusively_owned(g) ? g.impl_ptr() : g.clone().impl_ptr();
            } else if (impl->device != Device::cpu) {
                Tensor<T> acc(impl->grad);
                kernels::device::add_inplace<T>(acc.device_data(), g.device_data(), static_cast<std::int64_t>(g.numel()));
            } else {
                T* dst = impl->grad->storage->data() + impl->grad->offset;
                const T* src = g.data();
                const std::size_t n = g.numel();
#pragma omp simd
                for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
            }
            continue;
        }

        std::shared_ptr<Node<T>> node = std::move(impl->grad_fn);  // frees the graph as we go
        std::vector<Tensor<T>> input_grads = node->backward(g);
        SALUN_CHECK(input_grads.size() == node->inputs.size(), "backward of ", node->name, ": returned ",
                    input_grads.size(), " gradients for ", node->inputs.size(), " inputs");
        for (std::size_t i = 0; i < input_grads.size(); ++i) {
            const ImplPtr& in = node->inputs[i];
            Tensor<T>& gi = input_grads[i];
            if (!in->requires_grad || !gi.defined()) continue;
            SALUN_CHECK(gi.shape() == in->shape, "backward of ", node->name, ": gradient for input ", i,
                        " has shape ", shape_str(gi.shape()), ", input has ", shape_str(in->shape));
            auto slot = grads.find(in.get());
            if (slot == grads.end())
                grads.emplace(in.get(), std::move(gi));
            else
                slot->second = detail::sum_gradients(std::move(slot->second), std::move(gi));
        }
    }
}

}  // namespace autograd

template <class T>
void Tensor<T>::backward(const Tensor& grad) const {
    autograd::backward(*this, grad);
}

using autograd::NoGradGuard;

}  // namespace salun

// The differentiable ops behind Tensor's own member functions (reshape, flatten, slice, to, and
// full on a device): they need autograd::record, and stay in core (core includes nothing of ops).
#include "salun/core/views.hpp"
#include "salun/core/transfer.hpp"
