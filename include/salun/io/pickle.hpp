// SPDX-License-Identifier: MIT
// A restricted unpickler: reads the pickle of a PyTorch state dict (`data.pkl` in a .pth file)
// into plain values, and nothing else. It never imports or calls anything.
//
// Python's pickle is a small stack machine whose GLOBAL + REDUCE opcodes call any importable
// function, which is why unpickling an untrusted .pth with Python can run arbitrary code. Here
// GLOBAL only names a fixed allow-list (kAllowedGlobals), REDUCE only "calls" those names, each
// by building a value with fixed meaning (an ordered dict, a tensor reference), and every other
// global or opcode is an error that names it. Accepted: the opcodes torch.save writes (protocol
// 2, plus the protocol 3/4 forms of strings, bytes, memo and globals) for None, bools, ints,
// floats, strings, bytes, tuples, lists, dicts, OrderedDict, tensors (_rebuild_tensor_v2,
// _rebuild_parameter) and their storages (persistent IDs). That covers state dicts and the
// dicts around them ({"state_dict": ..., "epoch": 3, "optimizer": {...}}).
//
// Values live in one arena owned by the Unpickler and refer to each other by index, so a pickle
// that builds a cycle through the memo cannot leak or recurse on destruction; anything that walks
// values bounds its depth.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "salun/core/error.hpp"

namespace salun::io::pickle {

/// The globals a state dict's pickle may name. The storage classes stand for their dtype.
inline const std::vector<std::string>& allowed_globals() {
    static const std::vector<std::string> g{
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
        // dtypes salun has no type for: readable, so a checkpoint holding one (e.g. in optimiser
        // state) still loads; using such a tensor is an error that names it.
        "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage"};
    return g;
}

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

inline const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::Bytes: return "bytes";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

using Ref = std::size_t;  ///< index of a value in the Unpickler's arena

/// One unpickled value. Which fields mean something depends on `kind`.
struct Value {
    Kind kind = Kind::None;
    std::int64_t i = 0;       ///< Bool, Int
    double f = 0;             ///< Float
    std::string s;            ///< String, Bytes, Global ("module.name"), Storage (its key)
    std::vector<Ref> items;   ///< Tuple, List; Dict: key, value, key, value, ...
    // Storage: its class ("torch.FloatStorage") in `type` and its element count in `i`.
    // Tensor: `storage` (a Storage value), element `offset`, `size`, `stride`.
    std::string type;
    Ref storage = 0;
    std::int64_t offset = 0;
    std::vector<std::int64_t> size, stride;
};

/// Runs a pickle and keeps the values it made.
class Unpickler {
public:
    /// Limits against hostile input: values are built from input bytes (one per opcode at most),
    /// so `size` bounds memory; the stack and memo are bounded by the same.
    Unpickler(const std::uint8_t* data, std::size_t size, std::string file) : d_(data), n_(size), file_(std::move(file)) {}

    /// Runs the pickle to its STOP opcode; returns the result.
    Ref load() {
        for (;;) {
            const std::size_t at = pos_;
            const std::uint8_t op = byte();
            switch (op) {
                case 0x80: {  // PROTO
                    const std::uint8_t v = byte();
                    check(v >= 2 && v <= 5, at, "pickle protocol ", int(v), " (supported: 2 to 5)");
                    break;
                }
                case 0x95: take(8); break;  // FRAME: a length hint, the data follows inline
                case '.': {                 // STOP
                    check(stack_.size() == 1 && marks_.empty(), at, "STOP with ", stack_.size(), " values on the stack");
                    return stack_.back();
                }
                case '(': marks_.push_back(stack_.size()); break;  // MARK
                case 'N': push(make(Kind::None)); break;
                case 0x88: push(make_int(Kind::Bool, 1)); break;  // NEWTRUE
                case 0x89: push(make_int(Kind::Bool, 0)); break;  // NEWFALSE
                case 'J': push(make_int(Kind::Int, static_cast<std::int32_t>(le(4)))); break;  // BININT
                case 'K': push(make_int(Kind::Int, static_cast<std::int64_t>(le(1)))); break;  // BININT1
                case 'M': push(make_int(Kind::Int, static_cast<std::int64_t>(le(2)))); break;  // BININT2
                case 0x8a: {  // LONG1: n bytes, little-endian two's complement
                    const std::size_t len = le(1);
                    check(len <= 8, at, "integer of ", len, " bytes (at most 8 supported)");
                    std::uint64_t v = le(len);
                    if (len > 0 && len < 8 && (v >> (8 * len - 1)) & 1u) v |= ~std::uint64_t(0) << (8 * len);
                    push(make_int(Kind::Int, static_cast<std::int64_t>(v)));
                    break;
                }
                case 'G': {  // BINFLOAT: big-endian double
                    const std::uint8_t* p = take(8);
                    std::uint64_t b = 0;
                    for (int k = 0; k < 8; ++k) b = (b << 8) | p[k];
                    Value v;
                    v.kind = Kind::Float;
                    std::memcpy(&v.f, &b, 8);
                    push(add(std::move(v)));
                    break;
                }
                case 'X': push(make_str(Kind::String, le(4))); break;     // BINUNICODE
                case 0x8c: push(make_str(Kind::String, le(1))); break;    // SHORT_BINUNICODE
                case 0x8d: push(make_str(Kind::String, le(8))); break;    // BINUNICODE8
                case 'T': push(make_str(Kind::Bytes, le(4))); break;      // BINSTRING (protocol 2 bytes)
                case 'U': push(make_str(Kind::Bytes, le(1))); break;      // SHORT_BINSTRING
                case 'B': push(make_str(Kind::Bytes, le(4))); break;      // BINBYTES
                case 'C': push(make_str(Kind::Bytes, le(1))); break;      // SHORT_BINBYTES
                case ')': push(make(Kind::Tuple)); break;                 // EMPTY_TUPLE
                case ']': push(make(Kind::List)); break;                  // EMPTY_LIST
                case '}': push(make(Kind::Dict)); break;                  // EMPTY_DICT
                case 0x85: tuple_of(1, at); break;                        // TUPLE1
                case 0x86: tuple_of(2, at); break;                        // TUPLE2
                case 0x87: tuple_of(3, at); break;                        // TUPLE3
                case 't': {                                               // TUPLE
                    std::vector<Ref> items = pop_mark(at);
                    Ref t = make(Kind::Tuple);
                    values_[t].items = std::move(items);
                    push(t);
                    break;
                }
                case 'q': memo_put(le(1)); break;  // BINPUT
                case 'r': memo_put(le(4)); break;  // LONG_BINPUT
                case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
                case 'h': memo_get(le(1), at); break;      // BINGET
                case 'j': memo_get(le(4), at); break;      // LONG_BINGET
                case '0': pop(at); break;                  // POP
                case 'c': {                                // GLOBAL "module\nname\n"
                    const std::string module = line(at), name = line(at);
                    push(global(module + "." + name, at));
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    const Ref name = pop(at), module = pop(at);
                    check(values_[module].kind == Kind::String && values_[name].kind == Kind::String, at,
                          "STACK_GLOBAL needs two strings");
                    push(global(values_[module].s + "." + values_[name].s, at));
                    break;
                }
                case 'Q': {  // BINPERSID: a storage, ('storage', type, key, location, numel)
                    push(storage(pop(at), at));
                    break;
                }
                case 'R': {  // REDUCE: callable(*args), for the allowed callables only
                    const Ref args = pop(at), fn = pop(at);
                    push(reduce(fn, args, at));
                    break;
                }
                case 'b': {  // BUILD: obj.__setstate__(state)
                    const Ref state = pop(at);
                    const Ref obj = top(at);
                    // OrderedDict's state is its instance __dict__: a state dict's `_metadata`
                    // (per-module versions), which loading does not need.
                    check(values_[obj].kind == Kind::Dict && values_[state].kind == Kind::Dict, at,
                          "BUILD on a ", kind_name(values_[obj].kind), " (only an OrderedDict's attributes are accepted)");
                    break;
                }
                case 'a': {  // APPEND
                    const Ref v = pop(at);
                    append_to(top(at), {v}, at);
                    break;
                }
                case 'e': {  // APPENDS
                    std::vector<Ref> items = pop_mark(at);
                    append_to(top(at), items, at);
                    break;
                }
                case 's': {  // SETITEM
                    const Ref v = pop(at), k = pop(at);
                    set_items(top(at), {k, v}, at);
                    break;
                }
                case 'u': {  // SETITEMS
                    std::vector<Ref> kv = pop_mark(at);
                    set_items(top(at), kv, at);
                    break;
                }
                default:
                    fail(at, "opcode 0x", hex(op), " is not accepted (a state dict's pickle does not use it)");
            }
        }
    }

    const Value& operator[](Ref r) const { return values_[r]; }

    /// The value stored under string key `key` in dict `d`, or nullptr.
    const Value* find(const Value& d, const std::string& key) const {
        if (d.kind != Kind::Dict) return nullptr;
        for (std::size_t k = 0; k + 1 < d.items.size(); k += 2)
            if (values_[d.items[k]].kind == Kind::String && values_[d.items[k]].s == key) return &values_[d.items[k + 1]];
        return nullptr;
    }

private:
    template <class... A>
    [[noreturn]] void fail(std::size_t at, const A&... a) const {
        ::salun::detail::throw_error(file_, ": pickle at byte ", at, ": ", a...);
    }
    template <class... A>
    void check(bool ok, std::size_t at, const A&... a) const {
        if (!ok) fail(at, a...);
    }
    static std::string hex(std::uint8_t b) {
        const char* digits = "0123456789abcdef";
        return {digits[b >> 4], digits[b & 15]};
    }

    const std::uint8_t* take(std::size_t k) {
        check(k <= n_ - pos_, pos_, "truncated (needs ", k, " more bytes, ", n_ - pos_, " left)");
        const std::uint8_t* p = d_ + pos_;
        pos_ += k;
        return p;
    }
    std::uint8_t byte() { return *take(1); }
    std::uint64_t le(std::size_t k) {
        const std::uint8_t* p = take(k);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < k; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        return v;
    }
    std::string line(std::size_t at) {
        const std::size_t start = pos_;
        while (pos_ < n_ && d_[pos_] != '\n') ++pos_;
        check(pos_ < n_, at, "truncated GLOBAL");
        std::string s(reinterpret_cast<const char*>(d_ + start), pos_ - start);
        ++pos_;
        return s;
    }

    Ref add(Value v) {
        values_.push_back(std::move(v));
        return values_.size() - 1;
    }
    Ref make(Kind k) {
        Value v;
        v.kind = k;
        return add(std::move(v));
    }
    Ref make_int(Kind k, std::int64_t i) {
        Value v;
        v.kind = k;
        v.i = i;
        return add(std::move(v));
    }
    Ref make_str(Kind k, std::uint64_t len) {
        const std::size_t at = pos_;
        check(len <= n_ - pos_, at, "string of ", len, " bytes runs past the end (", n_ - pos_, " left): truncated?");
        Value v;
        v.kind = k;
        v.s.assign(reinterpret_cast<const char*>(take(static_cast<std::size_t>(len))), static_cast<std::size_t>(len));
        return add(std::move(v));
    }

    void push(Ref r) { stack_.push_back(r); }
    Ref pop(std::size_t at) {
        check(stack_.size() > (marks_.empty() ? 0 : marks_.back()), at, "stack underflow");
        const Ref r = stack_.back();
        stack_.pop_back();
        return r;
    }
    Ref top(std::size_t at) {
        check(stack_.size() > (marks_.empty() ? 0 : marks_.back()), at, "stack underflow");
        return stack_.back();
    }
    std::vector<Ref> pop_mark(std::size_t at) {
        check(!marks_.empty(), at, "no MARK on the stack");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return items;
    }
    void tuple_of(std::size_t k, std::size_t at) {
        check(stack_.size() >= k + (marks_.empty() ? 0 : marks_.back()), at, "stack underflow");
        Ref t = make(Kind::Tuple);
        values_[t].items.assign(stack_.end() - static_cast<std::ptrdiff_t>(k), stack_.end());
        stack_.resize(stack_.size() - k);
        push(t);
    }
    void memo_put(std::uint64_t key) {
        check(!stack_.empty(), pos_, "memo store with an empty stack");
        memo_[key] = stack_.back();
    }
    void memo_get(std::uint64_t key, std::size_t at) {
        auto it = memo_.find(key);
        check(it != memo_.end(), at, "memo key ", key, " was never stored");
        push(it->second);
    }

    void append_to(Ref list, const std::vector<Ref>& items, std::size_t at) {
        check(values_[list].kind == Kind::List, at, "APPEND to a ", kind_name(values_[list].kind));
        auto& v = values_[list].items;
        v.insert(v.end(), items.begin(), items.end());
    }
    void set_items(Ref dict, const std::vector<Ref>& kv, std::size_t at) {
        check(values_[dict].kind == Kind::Dict, at, "SETITEM on a ", kind_name(values_[dict].kind));
        check(kv.size() % 2 == 0, at, "SETITEMS with an odd number of values");
        auto& index = dict_index_[dict];  // string key -> position, so SETITEMS stays linear
        for (std::size_t k = 0; k < kv.size(); k += 2) {
            auto& items = values_[dict].items;
            const Value& key = values_[kv[k]];
            if (key.kind == Kind::String) {
                // A repeated key replaces the value in place, like a Python dict.
                auto [it, inserted] = index.emplace(key.s, items.size());
                if (!inserted) {
                    items[it->second + 1] = kv[k + 1];
                    continue;
                }
            }
            items.push_back(kv[k]);
            items.push_back(kv[k + 1]);
        }
    }

    Ref global(const std::string& name, std::size_t at) {
        bool ok = false;
        for (const auto& g : allowed_globals()) ok |= g == name;
        if (!ok) {
            std::string shown = name.size() > 80 ? name.substr(0, 77) + "..." : name;
            for (char& c : shown)
                if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
            fail(at, "refuses to load global '", shown,
                 "': only tensors, their storages and plain containers may appear in a checkpoint (this looks "
                 "like a pickled Python object or code, not a state dict; it is never executed)");
        }
        Value v;
        v.kind = Kind::Global;
        v.s = name;
        return add(std::move(v));
    }

    std::int64_t as_int(Ref r, std::size_t at, const char* what) const {
        check(values_[r].kind == Kind::Int, at, what, " must be an int, got ", kind_name(values_[r].kind));
        return values_[r].i;
    }
    std::vector<std::int64_t> int_tuple(Ref r, std::size_t at, const char* what) const {
        check(values_[r].kind == Kind::Tuple, at, what, " must be a tuple, got ", kind_name(values_[r].kind));
        std::vector<std::int64_t> out;
        for (Ref x : values_[r].items) out.push_back(as_int(x, at, what));
        return out;
    }

    Ref storage(Ref pid, std::size_t at) {
        const Value& t = values_[pid];
        check(t.kind == Kind::Tuple && t.items.size() == 5 && values_[t.items[0]].kind == Kind::String &&
                  values_[t.items[0]].s == "storage",
              at, "persistent ID is not ('storage', type, key, location, numel)");
        const Value& type = values_[t.items[1]];
        check(type.kind == Kind::Global && type.s.size() > 13 && type.s.compare(type.s.size() - 7, 7, "Storage") == 0,
              at, "persistent ID names no storage type");
        check(values_[t.items[2]].kind == Kind::String, at, "storage key must be a string");
        check(values_[t.items[3]].kind == Kind::String, at, "storage location must be a string");
        const std::int64_t numel = as_int(t.items[4], at, "storage size");
        check(numel >= 0, at, "negative storage size ", numel);
        Value v;
        v.kind = Kind::Storage;
        v.type = type.s;
        v.s = values_[t.items[2]].s;
        v.i = numel;
        return add(std::move(v));
    }

    Ref reduce(Ref fn, Ref args, std::size_t at) {
        check(values_[fn].kind == Kind::Global, at, "REDUCE of a ", kind_name(values_[fn].kind), ", not a callable");
        check(values_[args].kind == Kind::Tuple, at, "REDUCE arguments must be a tuple");
        const std::string name = values_[fn].s;
        const std::vector<Ref> a = values_[args].items;
        if (name == "collections.OrderedDict") {
            check(a.empty(), at, "OrderedDict(...) with arguments");
            return make(Kind::Dict);
        }
        if (name == "torch._utils._rebuild_tensor_v2") {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            check(a.size() == 6 || a.size() == 7, at, "_rebuild_tensor_v2 with ", a.size(), " arguments (expected 6 or 7)");
            check(values_[a[0]].kind == Kind::Storage, at, "_rebuild_tensor_v2: first argument is a ",
                  kind_name(values_[a[0]].kind), ", not a storage");
            Value v;
            v.kind = Kind::Tensor;
            v.storage = a[0];
            v.offset = as_int(a[1], at, "tensor storage offset");
            v.size = int_tuple(a[2], at, "tensor size");
            v.stride = int_tuple(a[3], at, "tensor stride");
            check(v.size.size() == v.stride.size(), at, "tensor size and stride differ in length");
            return add(std::move(v));
        }
        if (name == "torch._utils._rebuild_parameter") {  // (data, requires_grad, backward_hooks): a Parameter
            check(a.size() == 3 && values_[a[0]].kind == Kind::Tensor, at, "_rebuild_parameter without a tensor");
            return a[0];
        }
        fail(at, "'", name, "' cannot be called");
    }

    const std::uint8_t* d_;
    std::size_t n_;
    std::string file_;
    std::size_t pos_ = 0;
    std::deque<Value> values_;
    std::vector<Ref> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, Ref> memo_;
    std::unordered_map<Ref, std::unordered_map<std::string, std::size_t>> dict_index_;
};

}  // namespace salun::io::pickle
