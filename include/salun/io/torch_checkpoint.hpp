// SPDX-License-Identifier: MIT
// PyTorch .pth / .pt checkpoints (torch.save's zip format, the default since PyTorch 1.6):
// read a state dict out of one, and write one that torch.load reads.
//
// Layout: a zip archive (zip_reader.hpp) with `<archive>/data.pkl`, the pickled object, and one
// entry `<archive>/data/<key>` per storage, the raw little-endian elements. The pickle goes
// through the restricted unpickler (pickle.hpp): nothing in the file is ever executed. The state
// dict is the top-level dict when its values are tensors, else the first of "state_dict",
// "model_state_dict", "model", "net" that is a dict (nested checkpoints such as
// {"state_dict": ..., "epoch": 10, "optimizer": {...}} keep their extra entries, which are not
// read). Tensors are copied out of their storage honouring storage offsets and strides, so views,
// non-contiguous tensors and tensors sharing one storage all load; anything out of the storage's
// bounds is an error naming the tensor.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/io/atomic_file.hpp"
#include "salun/io/pickle.hpp"
#include "salun/io/state_dict.hpp"
#include "salun/io/zip_reader.hpp"

namespace salun::io {

/// A state dict read from a .pth file, and where in the pickled object it was found.
struct TorchCheckpoint {
    StateDict tensors;
    std::string found_at;  ///< "" (the top-level dict) or the path, e.g. "state_dict"
};

/// Keys tried, in order, for the state dict inside a top-level dict that is not one itself.
inline const std::vector<std::string>& torch_state_dict_keys() {
    static const std::vector<std::string> k{"state_dict", "model_state_dict", "model", "net"};
    return k;
}

namespace detail {

/// The dtype of a storage class, or false for one salun has no type for (IntStorage, ...).
inline bool storage_dtype(const std::string& type, DType& out) {
    static const std::pair<const char*, DType> table[] = {{"torch.FloatStorage", DType::F32},
                                                          {"torch.DoubleStorage", DType::F64},
                                                          {"torch.HalfStorage", DType::F16},
                                                          {"torch.BFloat16Storage", DType::BF16},
                                                          {"torch.LongStorage", DType::I64}};
    for (const auto& [name, d] : table)
        if (type == name) {
            out = d;
            return true;
        }
    return false;
}

inline const char* storage_type_of(DType d) {
    switch (d) {
        case DType::F16: return "HalfStorage";
        case DType::BF16: return "BFloat16Storage";
        case DType::F32: return "FloatStorage";
        case DType::F64: return "DoubleStorage";
        case DType::I64: return "LongStorage";
    }
    return "?";
}

/// Copies tensor `t` (named `key`) out of its storage entry in `zip`.
inline TensorData tensor_from_storage(const pickle::Unpickler& u, const pickle::Value& t, const ZipReader& zip,
                                      const std::string& prefix, const std::string& key, const std::string& file) {
    const pickle::Value& st = u[t.storage];
    DType dtype{};
    SALUN_CHECK(storage_dtype(st.type, dtype), file, ": tensor '", key, "' has storage type ", st.type,
                ", which salun does not support (supported: float32, float64, float16, bfloat16, int64)");
    const std::size_t es = dtype_size(dtype);
    const std::string entry = prefix + "data/" + st.s;
    SALUN_CHECK(zip.contains(entry), file, ": tensor '", key, "': storage '", st.s, "' is missing (no entry ", entry,
                "): truncated or not written by torch.save?");
    const auto [bytes, nbytes] = zip.read(entry);
    const auto storage_numel = static_cast<std::uint64_t>(st.i);
    SALUN_CHECK(storage_numel <= std::numeric_limits<std::uint64_t>::max() / es && storage_numel * es == nbytes, file,
                ": tensor '", key, "': storage '", st.s, "' holds ", nbytes, " bytes, its header says ", storage_numel,
                " elements of ", es, " bytes");

    TensorData out;
    out.dtype = dtype;
    std::uint64_t numel = 1;
    for (std::size_t k = 0; k < t.size.size(); ++k) {
        SALUN_CHECK(t.size[k] >= 0 && t.stride[k] >= 0, file, ": tensor '", key, "': negative size or stride");
        std::size_t n = 0;
        SALUN_CHECK(detail::mul_overflow(static_cast<std::size_t>(numel), static_cast<std::size_t>(t.size[k]), n), file,
                    ": tensor '", key, "': element count overflows");
        numel = n;
        out.shape.push_back(static_cast<std::size_t>(t.size[k]));
    }
    SALUN_CHECK(t.offset >= 0, file, ": tensor '", key, "': negative storage offset ", t.offset);
    out.bytes.resize(static_cast<std::size_t>(numel) * es);
    if (numel == 0) return out;
    // The last element read: offset + sum (size - 1) * stride, which must lie inside the storage.
    std::uint64_t last = static_cast<std::uint64_t>(t.offset);
    bool contiguous = true;
    std::uint64_t expect = 1;
    for (std::size_t k = t.size.size(); k-- > 0;) {
        const auto size = static_cast<std::uint64_t>(t.size[k]), stride = static_cast<std::uint64_t>(t.stride[k]);
        SALUN_CHECK(stride == 0 || size - 1 <= (std::numeric_limits<std::uint64_t>::max() - last) / stride, file,
                    ": tensor '", key, "': strides overflow");
        last += (size - 1) * stride;
        if (size != 1 && stride != expect) contiguous = false;
        expect *= size;
    }
    SALUN_CHECK(last < storage_numel, file, ": tensor '", key, "' (shape ", shape_str(out.shape), ", offset ", t.offset,
                ") reaches element ", last, " of a storage of ", storage_numel);
    const std::uint8_t* src = bytes + static_cast<std::size_t>(t.offset) * es;
    if (contiguous) {
        std::memcpy(out.bytes.data(), src, out.bytes.size());
        return out;
    }
    // Strided: walk the indices like an odometer, last dimension fastest.
    std::vector<std::uint64_t> idx(t.size.size(), 0);
    std::uint8_t* dst = out.bytes.data();
    for (std::uint64_t n = 0; n < numel; ++n) {
        std::uint64_t e = 0;
        for (std::size_t k = 0; k < idx.size(); ++k) e += idx[k] * static_cast<std::uint64_t>(t.stride[k]);
        std::memcpy(dst + n * es, src + e * es, es);
        for (std::size_t k = idx.size(); k-- > 0;) {
            if (++idx[k] < static_cast<std::uint64_t>(t.size[k])) break;
            idx[k] = 0;
        }
    }
    return out;
}

/// True when `dict` holds at least one tensor and nothing but tensors under string keys.
inline bool is_tensor_dict(const pickle::Unpickler& u, const pickle::Value& dict) {
    if (dict.kind != pickle::Kind::Dict || dict.items.empty()) return false;
    for (std::size_t k = 0; k + 1 < dict.items.size(); k += 2)
        if (u[dict.items[k]].kind != pickle::Kind::String || u[dict.items[k + 1]].kind != pickle::Kind::Tensor)
            return false;
    return true;
}

/// "a, b, c" of a dict's first string keys, for messages.
inline std::string some_keys(const pickle::Unpickler& u, const pickle::Value& dict) {
    std::string s;
    std::size_t shown = 0;
    for (std::size_t k = 0; k + 1 < dict.items.size(); k += 2) {
        if (shown == 8) return s + ", ...";
        const pickle::Value& key = u[dict.items[k]];
        s += (shown++ ? ", " : "") + (key.kind == pickle::Kind::String ? "'" + key.s + "'" : std::string(pickle::kind_name(key.kind)));
    }
    return s.empty() ? "none" : s;
}

}  // namespace detail

/// Reads the state dict out of a whole .pth file in memory; `file` names it in errors.
/// (`check_crc = false` only for the fuzzer: see ZipReader.)
inline TorchCheckpoint parse_torch_checkpoint(const std::uint8_t* data, std::size_t size, const std::string& file,
                                              bool check_crc = true) {
    ZipReader zip(data, size, file, check_crc);
    // The pickle is <archive>/data.pkl; the archive folder is named after the file torch.save wrote.
    std::string pkl;
    for (const auto& name : zip.names()) {
        const auto slash = name.find('/');
        if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            SALUN_CHECK(pkl.empty(), file, ": two pickles in one archive ('", pkl, "', '", name, "')");
            pkl = name;
        }
    }
    if (pkl.empty()) {
        for (const auto& name : zip.names())
            SALUN_CHECK(name.find("constants.pkl") == std::string::npos, file,
                        ": a TorchScript archive (torch.jit.save), not a state dict: save the model's "
                        "state_dict() with torch.save instead");
        ::salun::detail::throw_error(file, ": a zip archive without data.pkl: not a PyTorch checkpoint");
    }
    const std::string prefix = pkl.substr(0, pkl.size() - 8);  // "<archive>/"
    if (zip.contains(prefix + "byteorder")) {
        const auto [p, n] = zip.read(prefix + "byteorder");
        SALUN_CHECK(std::string(reinterpret_cast<const char*>(p), n) == "little", file,
                    ": written on a big-endian machine: only little-endian checkpoints are supported");
    }
    const auto [pdata, psize] = zip.read(pkl);
    pickle::Unpickler u(pdata, psize, file + ": " + pkl);
    const pickle::Ref root = u.load();

    TorchCheckpoint out;
    const pickle::Value* dict = &u[root];
    SALUN_CHECK(dict->kind == pickle::Kind::Dict, file, ": holds a ", pickle::kind_name(dict->kind),
                ", not a dict of tensors (a state dict)");
    // Descend through {"state_dict": {...}} and the like, a few levels at most.
    for (int depth = 0; !detail::is_tensor_dict(u, *dict); ++depth) {
        const pickle::Value* next = nullptr;
        for (const auto& k : torch_state_dict_keys()) {
            const pickle::Value* v = u.find(*dict, k);
            if (v && v->kind == pickle::Kind::Dict) {
                next = v;
                out.found_at += (out.found_at.empty() ? "" : ".") + k;
                break;
            }
        }
        if (next && depth < 4) {
            dict = next;
            continue;
        }
        const std::string where = out.found_at.empty() ? "" : " '" + out.found_at + "'";
        // A dict of tensors with something else among them: name the first entry that is not a tensor.
        bool has_tensor = false;
        for (std::size_t i = 1; i < dict->items.size(); i += 2) has_tensor |= u[dict->items[i]].kind == pickle::Kind::Tensor;
        if (has_tensor)
            for (std::size_t i = 0; i + 1 < dict->items.size(); i += 2) {
                const pickle::Value &key = u[dict->items[i]], &val = u[dict->items[i + 1]];
                SALUN_CHECK(key.kind == pickle::Kind::String, file, ": the state dict", where, " has a ",
                            pickle::kind_name(key.kind), " key");
                SALUN_CHECK(val.kind == pickle::Kind::Tensor, file, ": entry '", key.s, "' of the state dict", where,
                            " is a ", pickle::kind_name(val.kind), ", not a tensor");
            }
        ::salun::detail::throw_error(file, ": no state dict found: the dict", where, " has keys ", detail::some_keys(u, *dict),
                            "; expected tensors, or a dict of them under 'state_dict', 'model_state_dict', 'model' or "
                            "'net'");
    }
    for (std::size_t i = 0; i + 1 < dict->items.size(); i += 2) {
        const std::string& key = u[dict->items[i]].s;
        SALUN_CHECK(!out.tensors.contains(key), file, ": tensor '", key, "' appears twice");
        out.tensors.insert_or_assign(key, detail::tensor_from_storage(u, u[dict->items[i + 1]], zip, prefix, key, file));
    }
    return out;
}

/// Reads the state dict out of the .pth file at `path` (see the file comment).
inline TorchCheckpoint load_torch_checkpoint(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SALUN_CHECK(in.is_open(), "load_torch_checkpoint: cannot open '", path, "': ", std::strerror(errno));
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SALUN_CHECK(!in.bad(), "load_torch_checkpoint: cannot read '", path, "'");
    return parse_torch_checkpoint(bytes.data(), bytes.size(), path);
}

namespace detail {

/// Pickle writer for exactly what save_torch_checkpoint needs (protocol 2, no memo).
struct PickleOut {
    std::string b;
    void op(char c) { b.push_back(c); }
    void str(const std::string& s) {
        op('X');
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xFF));
        b += s;
    }
    void integer(std::int64_t v) {
        if (v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max()) {
            op('J');
            for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((static_cast<std::uint32_t>(v) >> (8 * i)) & 0xFF));
        } else {
            op(static_cast<char>(0x8a));
            b.push_back(8);
            for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xFF));
        }
    }
    void global(const char* module, const char* name) { b += std::string("c") + module + "\n" + name + "\n"; }
    void int_tuple(const std::vector<std::int64_t>& v) {
        op('(');
        for (auto x : v) integer(x);
        op('t');
    }
};

}  // namespace detail

/// Writes the complete .pth content of `tensors` (an OrderedDict of contiguous tensors, one
/// storage each, as model.state_dict() gives) to `out`; `archive` names the folder inside.
inline void write_torch_checkpoint(std::ostream& out, const StateDict& tensors, const std::string& archive = "archive") {
    detail::PickleOut p;
    p.b = "\x80\x02";
    p.global("collections", "OrderedDict");
    p.op(')');
    p.op('R');
    p.op('(');
    std::size_t key = 0;
    for (const auto& [name, d] : tensors) {
        p.str(name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op('(');
        p.op('(');  // persistent ID: ('storage', type, key, location, numel)
        p.str("storage");
        p.global("torch", detail::storage_type_of(d.dtype));
        p.str(std::to_string(key++));
        p.str("cpu");
        p.integer(static_cast<std::int64_t>(d.numel()));
        p.op('t');
        p.op('Q');
        p.integer(0);
        std::vector<std::int64_t> size, stride(d.shape.size());
        std::int64_t s = 1;
        for (std::size_t k = d.shape.size(); k-- > 0;) {
            stride[k] = s;
            s *= static_cast<std::int64_t>(d.shape[k]);
        }
        for (auto x : d.shape) size.push_back(static_cast<std::int64_t>(x));
        p.int_tuple(size);
        p.int_tuple(stride);
        p.op(static_cast<char>(0x89));  // requires_grad = False
        p.global("collections", "OrderedDict");
        p.op(')');
        p.op('R');  // backward hooks: OrderedDict()
        p.op('t');
        p.op('R');
    }
    p.op('u');
    p.op('.');
    ZipWriter zip(out);
    zip.add(archive + "/data.pkl", reinterpret_cast<const std::uint8_t*>(p.b.data()), p.b.size());
    const std::string order = "little";
    zip.add(archive + "/byteorder", reinterpret_cast<const std::uint8_t*>(order.data()), order.size());
    key = 0;
    for (const auto& entry : tensors) {
        const auto& bytes = entry.second.bytes;
        zip.add(archive + "/data/" + std::to_string(key++), bytes.data(), bytes.size());
    }
    const std::string version = "3\n";
    zip.add(archive + "/version", reinterpret_cast<const std::uint8_t*>(version.data()), version.size());
    zip.finish();
}

/// Writes `tensors` to `path` as a .pth that torch.load reads, atomically.
inline void save_torch_checkpoint(const std::string& path, const StateDict& tensors) {
    for (const auto& [name, d] : tensors)
        SALUN_CHECK(d.bytes.size() == d.numel() * dtype_size(d.dtype), "save_torch_checkpoint: tensor '", name, "': ",
                    dtype_name(d.dtype), " shape ", shape_str(d.shape), " needs ", d.numel() * dtype_size(d.dtype),
                    " bytes, holds ", d.bytes.size());
    write_file_atomic(path, [&](std::ostream& out) { write_torch_checkpoint(out, tensors); });
}

}  // namespace salun::io
