// SPDX-License-Identifier: MIT
// salun::nn::Module<T>: the base of every layer and model, like torch.nn.Module.
//
// A module owns named parameters (trainable leaves), named buffers (running statistics, and int64
// counters such as BatchNorm's num_batches_tracked) and named child modules, all kept in
// registration order. Names are PyTorch's dotted paths ("layer1.0.conv1.weight"), so that
// state_dict() / load_state_dict() exchange checkpoints with PyTorch key for key.
//
// Parameters and buffers are Tensor handles shared with the layer's public members
// (`conv->weight`): load_state_dict() copies values *into* them, so optimisers holding the same
// handles keep working. Do not assign a new tensor to a registered member; copy into it instead.
//
// Forward hooks (PyTorch's register_forward_hook) see a module's output whenever it is called
// through operator(). Composite modules therefore call their children through operator() (and
// nn::bn_relu for a fused BatchNorm2d + ReLU), so that reading an intermediate output by its
// PyTorch name works anywhere in a model, fused paths included.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "salun/core/tensor.hpp"
#include "salun/io/state_dict.hpp"
#include "salun/ops/device.hpp"

namespace salun::nn {

template <class T>
class Module {
public:
    using Ptr = std::shared_ptr<Module<T>>;
    using NamedTensors = std::vector<std::pair<std::string, Tensor<T>>>;

    virtual ~Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    /// The layer's computation; see each layer's contract.
    virtual Tensor<T> forward(const Tensor<T>& x) = 0;
    /// forward(x), then this module's forward hooks with the output (PyTorch's __call__).
    Tensor<T> operator()(const Tensor<T>& x) {
        Tensor<T> y = forward(x);
        run_forward_hooks(y);
        return y;
    }

    // ---- forward hooks ------------------------------------------------------------------------
    /// Sees the module and its output after every call. The input is not passed (unlike
    /// PyTorch's hook) because a fused path (BatchNorm2d + ReLU) never materialises the ReLU's
    /// input. A hook must not change the model; it may keep the output tensor.
    using ForwardHook = std::function<void(Module& module, const Tensor<T>& output)>;

    /// Adds `hook` after the existing ones; returns a handle for remove_forward_hook().
    std::size_t register_forward_hook(ForwardHook hook) {
        SALUN_CHECK(hook, type_name(), ": register_forward_hook got an empty function");
        hooks_.emplace_back(++last_hook_id_, std::move(hook));
        return last_hook_id_;
    }
    /// Removes the hook with this handle; false if there is none (already removed).
    bool remove_forward_hook(std::size_t handle) {
        const auto it = std::find_if(hooks_.begin(), hooks_.end(), [&](const auto& h) { return h.first == handle; });
        if (it == hooks_.end()) return false;
        hooks_.erase(it);
        return true;
    }
    bool has_forward_hooks() const { return !hooks_.empty(); }
    /// Calls every hook with `output`. operator() does this; a fused path calls it for a module
    /// whose forward() it skipped (the ReLU of batch_norm_relu), with the value that module
    /// would have returned.
    void run_forward_hooks(const Tensor<T>& output) {
        if (hooks_.empty()) return;
        // a copy: a hook may remove itself (or others) while we iterate
        const auto hooks = hooks_;
        for (const auto& h : hooks) h.second(*this, output);
    }

    /// PyTorch's class name ("Conv2d", "BatchNorm2d", ...), for messages and printing.
    virtual std::string type_name() const = 0;

    // ---- parameters, buffers, children --------------------------------------------------------
    /// (dotted name, tensor) of every parameter: this module's own, then each child's, recursively.
    NamedTensors named_parameters(bool recurse = true) const {
        NamedTensors out;
        visit("", recurse, [&](const std::string& prefix, const Module& m) {
            for (const auto& [name, t] : m.params_) out.emplace_back(prefix + name, t);
        });
        return out;
    }
    std::vector<Tensor<T>> parameters(bool recurse = true) const {
        std::vector<Tensor<T>> out;
        for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
        return out;
    }
    /// (dotted name, tensor) of every floating-point buffer (running_mean, running_var, ...).
    NamedTensors named_buffers(bool recurse = true) const {
        NamedTensors out;
        visit("", recurse, [&](const std::string& prefix, const Module& m) {
            for (const auto& b : m.buffers_)
                if (!b.counter) out.emplace_back(prefix + b.name, b.tensor);
        });
        return out;
    }
    /// (dotted name, value) of every int64 scalar buffer (num_batches_tracked).
    std::vector<std::pair<std::string, std::int64_t>> named_int64_buffers(bool recurse = true) const {
        std::vector<std::pair<std::string, std::int64_t>> out;
        visit("", recurse, [&](const std::string& prefix, const Module& m) {
            for (const auto& b : m.buffers_)
                if (b.counter) out.emplace_back(prefix + b.name, *b.counter);
        });
        return out;
    }
    /// Direct children in registration order.
    const std::vector<std::pair<std::string, Ptr>>& named_children() const { return children_; }
    /// This module (name "") and every descendant, depth first, with dotted names (like PyTorch).
    std::vector<std::pair<std::string, Module*>> named_modules() {
        std::vector<std::pair<std::string, Module*>> out;
        collect_modules("", out);
        return out;
    }
    /// The descendant with this dotted name ("" is this module), like PyTorch's get_submodule;
    /// an error naming the missing part if there is none.
    Module& get_submodule(const std::string& name) {
        Module* m = this;
        std::size_t start = 0;
        while (start < name.size()) {
            const std::size_t dot = std::min(name.find('.', start), name.size());
            const std::string part = name.substr(start, dot - start);
            Module* next = nullptr;
            for (auto& [child_name, child] : m->children_)
                if (child_name == part) next = child.get();
            SALUN_CHECK(next, type_name(), " has no submodule '", name, "' (", m->type_name(), " has no child '", part,
                        "')");
            m = next;
            start = dot + 1;
        }
        return *m;
    }

    // ---- mode and gradients -------------------------------------------------------------------
    /// Sets training mode on this module and all descendants (BatchNorm, Dropout depend on it).
    void train(bool on = true) {
        training_ = on;
        for (auto& [name, child] : children_) child->train(on);
    }
    void eval() { train(false); }
    bool is_training() const { return training_; }

    /// Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
    void zero_grad() {
        for (auto& [name, t] : named_parameters()) t.zero_grad();
    }

    // ---- device ---------------------------------------------------------------------------------
    /// Moves every parameter and buffer to `device` in place, like PyTorch's module.to(device):
    /// handles taken earlier (an optimiser's parameter list) see the move. Gradients are dropped;
    /// build an optimiser after the move so its momentum buffers are created on the device.
    Module& to(Device device) {
        require_device(device, "Module::to");
        for (auto& slot : slots())
            if (!slot.counter) salun::detail::move_in_place(slot.tensor, device);
        return *this;
    }
    /// Where the parameters are (the CPU for a module without any).
    Device device() const {
        const auto ps = named_parameters();
        return ps.empty() ? Device::cpu : ps.front().second.device();
    }

    // ---- copies ---------------------------------------------------------------------------------
    /// Copies every parameter, buffer and counter of `src`, and its training mode, into this
    /// module, which must have the same entries (names and shapes; checked before anything is
    /// copied). The tensors stay this module's own: afterwards the two are independent. With a
    /// freshly built module of the same architecture this is a deep copy (models::clone_model).
    /// Hooks are not copied.
    void copy_from(const Module& src) {
        const auto dst_slots = slots(), src_slots = src.slots();
        SALUN_CHECK(dst_slots.size() == src_slots.size(), type_name(), ": copy_from a ", src.type_name(), " with ",
                    src_slots.size(), " parameters and buffers, this module has ", dst_slots.size());
        for (std::size_t i = 0; i < dst_slots.size(); ++i) {
            const Slot &d = dst_slots[i], &s = src_slots[i];
            SALUN_CHECK(d.name == s.name && bool(d.counter) == bool(s.counter) &&
                            (d.counter || d.tensor.shape() == s.tensor.shape()),
                        type_name(), ": copy_from: entry ", i, " is ", d.name,
                        d.counter ? std::string() : " " + shape_str(d.tensor.shape()), " here but ", s.name,
                        s.counter ? std::string() : " " + shape_str(s.tensor.shape()), " in the source");
        }
        for (std::size_t i = 0; i < dst_slots.size(); ++i) {
            Slot d = dst_slots[i], s = src_slots[i];
            if (d.counter)
                *d.counter = *s.counter;
            else if (d.tensor.device_data() != s.tensor.device_data())  // across devices too
                device_copy(d.tensor.device_data(), d.tensor.device(), s.tensor.device_data(), s.tensor.device(),
                            s.tensor.numel() * sizeof(T));
        }
        copy_training_mode(src);
    }

    // ---- checkpoints --------------------------------------------------------------------------
    /// Every parameter and buffer under its dotted name, in PyTorch's order (per module: its
    /// parameters, then its buffers, then its children). Floating tensors are stored as F32
    /// (float) or F64 (double), counters as I64 scalars.
    io::StateDict state_dict() const {
        io::StateDict sd;
        visit("", true, [&](const std::string& prefix, const Module& m) {
            for (const auto& [name, t] : m.params_) sd.insert_or_assign(prefix + name, io::TensorData::from_tensor(t));
            for (const auto& b : m.buffers_)
                sd.insert_or_assign(prefix + b.name, b.counter ? io::TensorData::from_int64({}, {*b.counter})
                                                               : io::TensorData::from_tensor(b.tensor));
        });
        return sd;
    }

    /// Copies `sd` into the existing parameters and buffers (in place). Floating tensors accept
    /// F16, BF16, F32 and F64 (converted to T); counters accept I64 scalars. Everything is checked
    /// before anything is copied. strict: a missing or unexpected key is an error; with or
    /// without strict, a shape mismatch or an unconvertible dtype is an error naming the key and
    /// both shapes.
    void load_state_dict(const io::StateDict& sd, bool strict = true) {
        std::vector<Slot> slots = this->slots();

        std::vector<std::string> missing, unexpected, bad;
        std::unordered_set<std::string> own;
        for (const Slot& s : slots) {
            own.insert(s.name);
            auto it = sd.find(s.name);
            if (it == sd.end()) {
                missing.push_back(s.name);
                continue;
            }
            const io::TensorData& d = it->second;
            const Shape want = s.counter ? Shape{} : s.tensor.shape();
            if (d.shape != want) {
                bad.push_back("size mismatch for " + s.name + ": copying a param with shape " + shape_str(d.shape) +
                              " from checkpoint, the shape in current model is " + shape_str(want));
            } else if (s.counter ? d.dtype != io::DType::I64 : d.dtype == io::DType::I64) {
                bad.push_back("dtype mismatch for " + s.name + ": checkpoint has " + io::dtype_name(d.dtype) +
                              " shape " + shape_str(d.shape) + ", the model expects " +
                              (s.counter ? "I64" : "a floating dtype (F16, BF16, F32, F64)") + " shape " +
                              shape_str(want));
            }
        }
        for (const auto& entry : sd)
            if (!own.count(entry.first)) unexpected.push_back(entry.first);
        if (!bad.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
            std::ostringstream msg;
            msg << "Error(s) in loading state_dict for " << type_name() << ":";
            if (strict && !missing.empty()) msg << "\n\tMissing key(s) in state_dict: " << join(missing) << ".";
            if (strict && !unexpected.empty()) msg << "\n\tUnexpected key(s) in state_dict: " << join(unexpected) << ".";
            for (const auto& b : bad) msg << "\n\t" << b << ".";
            throw Error(msg.str());
        }

        for (Slot& s : slots) {
            auto it = sd.find(s.name);
            if (it == sd.end()) continue;
            if (s.counter) {
                *s.counter = it->second.to_int64()[0];
            } else {
                const Tensor<T> src = it->second.template to_tensor<T>();
                device_copy(s.tensor.device_data(), s.tensor.device(), src.data(), Device::cpu, src.numel() * sizeof(T));
            }
        }
    }

protected:
    Module() = default;

    /// Registers a trainable leaf under `name` (sets requires_grad) and returns the same handle.
    Tensor<T> register_parameter(const std::string& name, Tensor<T> t) {
        check_new_name(name);
        t.set_requires_grad(true);
        params_.emplace_back(name, t);
        return t;
    }
    /// Registers a floating-point buffer (saved in the state dict, never trained).
    Tensor<T> register_buffer(const std::string& name, Tensor<T> t) {
        check_new_name(name);
        buffers_.push_back({name, t, nullptr});
        return t;
    }
    /// Registers an int64 scalar buffer; the module keeps the returned pointer to update it.
    std::shared_ptr<std::int64_t> register_int64_buffer(const std::string& name, std::int64_t value = 0) {
        check_new_name(name);
        auto p = std::make_shared<std::int64_t>(value);
        buffers_.push_back({name, Tensor<T>(), p});
        return p;
    }
    /// Registers a child module; its entries are named "<name>.<entry>".
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        SALUN_CHECK(m, type_name(), ": register_module('", name, "') got a null module");
        check_new_name(name);
        m->train(training_);
        children_.emplace_back(name, m);
        return m;
    }

private:
    struct Slot {
        std::string name;
        Tensor<T> tensor;                        // floating parameter or buffer
        std::shared_ptr<std::int64_t> counter;   // or int64 counter
    };
    /// Every parameter and buffer in state-dict order.
    std::vector<Slot> slots() const {
        std::vector<Slot> out;
        visit("", true, [&](const std::string& prefix, const Module& m) {
            for (const auto& [name, t] : m.params_) out.push_back({prefix + name, t, nullptr});
            for (const auto& b : m.buffers_) out.push_back({prefix + b.name, b.tensor, b.counter});
        });
        return out;
    }
    void copy_training_mode(const Module& src) {
        training_ = src.training_;
        for (std::size_t i = 0; i < children_.size() && i < src.children_.size(); ++i)
            children_[i].second->copy_training_mode(*src.children_[i].second);
    }

    struct Buffer {
        std::string name;
        Tensor<T> tensor;
        std::shared_ptr<std::int64_t> counter;
    };

    template <class F>
    void visit(const std::string& prefix, bool recurse, F&& f) const {
        f(prefix, *this);
        if (!recurse) return;
        for (const auto& [name, child] : children_) child->visit(prefix + name + ".", true, f);
    }
    void collect_modules(const std::string& name, std::vector<std::pair<std::string, Module*>>& out) {
        out.emplace_back(name, this);
        for (auto& [child_name, child] : children_)
            child->collect_modules(name.empty() ? child_name : name + "." + child_name, out);
    }
    void check_new_name(const std::string& name) const {
        SALUN_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": invalid entry name '",
                    name, "' (must be non-empty and contain no '.')");
        bool taken = false;
        for (const auto& p : params_) taken = taken || p.first == name;
        for (const auto& b : buffers_) taken = taken || b.name == name;
        for (const auto& c : children_) taken = taken || c.first == name;
        SALUN_CHECK(!taken, type_name(), ": an entry named '", name, "' is already registered");
    }
    static std::string join(const std::vector<std::string>& names) {
        std::string s;
        for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
        return s;
    }

    NamedTensors params_;
    std::vector<Buffer> buffers_;
    std::vector<std::pair<std::string, Ptr>> children_;
    bool training_ = true;
    std::vector<std::pair<std::size_t, ForwardHook>> hooks_;
    std::size_t last_hook_id_ = 0;
};

}  // namespace salun::nn
