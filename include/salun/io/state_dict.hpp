// SPDX-License-Identifier: MIT
// salun::io::StateDict: named tensors as stored in checkpoint files, independent of the model.
//
// DType       the element types a checkpoint may hold (safetensors names: "F16", "BF16", ...).
// TensorData  one stored tensor: dtype, shape and its raw little-endian bytes. Converts to and
//             from Tensor<T> (and int64 vectors for buffers such as num_batches_tracked).
// StateDict   name -> TensorData in insertion order, like PyTorch's OrderedDict state_dict.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/core/tensor.hpp"

namespace salun::io {

enum class DType { F16, BF16, F32, F64, I64 };

inline const char* dtype_name(DType d) {
    switch (d) {
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F32: return "F32";
        case DType::F64: return "F64";
        case DType::I64: return "I64";
    }
    return "?";
}

/// Bytes per element.
inline std::size_t dtype_size(DType d) {
    switch (d) {
        case DType::F16:
        case DType::BF16: return 2;
        case DType::F32: return 4;
        case DType::F64:
        case DType::I64: return 8;
    }
    return 0;
}

/// Parses a safetensors dtype name; false for names this library does not support.
inline bool try_parse_dtype(const std::string& name, DType& out) {
    for (DType d : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I64}) {
        if (name == dtype_name(d)) {
            out = d;
            return true;
        }
    }
    return false;
}

/// Parses a dtype name; `context` (e.g. "file.safetensors: tensor 'fc.weight'") goes into the error.
inline DType parse_dtype(const std::string& name, const std::string& context = "parse_dtype") {
    DType d{};
    SALUN_CHECK(try_parse_dtype(name, d), context, ": unsupported dtype '", name,
                "' (supported: F16, BF16, F32, F64, I64)");
    return d;
}

// ---- element conversions (portable: little-endian assembly, IEEE half / bfloat16) -------------
namespace detail {

template <class U>
inline U load_le(const std::uint8_t* p) {
    static_assert(std::is_unsigned_v<U>);
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
    return v;
}

template <class U>
inline void store_le(std::uint8_t* p, U v) {
    static_assert(std::is_unsigned_v<U>);
    for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

inline float bits_to_f32(std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
inline std::uint32_t f32_to_bits(float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}
inline double bits_to_f64(std::uint64_t b) {
    double f;
    std::memcpy(&f, &b, 8);
    return f;
}
inline std::uint64_t f64_to_bits(double f) {
    std::uint64_t b;
    std::memcpy(&b, &f, 8);
    return b;
}

/// IEEE binary16 -> float, exact (subnormals, infinities and NaN included).
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (mant << 13));  // inf / nan
    if (exp == 0) {
        if (mant == 0) return bits_to_f32(sign);  // +-0
        // subnormal: mant * 2^-24
        const float v = static_cast<float>(mant) * 0x1.0p-24f;
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

/// float -> IEEE binary16, round to nearest even (overflow gives inf, NaN stays NaN).
inline std::uint16_t float_to_half(float f) {
    const std::uint32_t x = f32_to_bits(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t abs = x & 0x7FFFFFFFu;
    if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));  // nan
    if (abs >= 0x47800000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65536: inf
    if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
        const float a = bits_to_f32(abs);
        // a * 2^24 rounded to nearest even gives the subnormal mantissa (exact in float).
        const float scaled = a * 0x1.0p24f;
        auto m = static_cast<std::uint32_t>(std::nearbyint(scaled));
        return static_cast<std::uint16_t>(sign | m);  // m == 0x400 rounds up into the first normal
    }
    std::uint32_t e = (abs >> 23) - 112u;
    std::uint32_t m = abs & 0x7FFFFFu;
    std::uint32_t h = (e << 10) | (m >> 13);
    const std::uint32_t rest = m & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into exp (up to inf)
    return static_cast<std::uint16_t>(sign | h);
}

inline float bf16_to_float(std::uint16_t b) { return bits_to_f32(static_cast<std::uint32_t>(b) << 16); }

/// float -> bfloat16, round to nearest even (like PyTorch), NaN stays NaN.
inline std::uint16_t float_to_bf16(float f) {
    const std::uint32_t x = f32_to_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
    const std::uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
    return static_cast<std::uint16_t>((x + rounding) >> 16);
}

/// a * b, or false on overflow.
inline bool mul_overflow(std::size_t a, std::size_t b, std::size_t& out) {
    if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return false;
    out = a * b;
    return true;
}

}  // namespace detail

/// One stored tensor: dtype, shape and raw little-endian bytes (numel * dtype_size of them).
struct TensorData {
    DType dtype = DType::F32;
    Shape shape;
    std::vector<std::uint8_t> bytes;

    std::size_t numel() const { return numel_of(shape); }

    /// Converts to Tensor<T> (F16/BF16 widened exactly, F32 <-> F64 converted, I64 cast).
    template <class T>
    Tensor<T> to_tensor() const {
        check_size("TensorData::to_tensor");
        const std::size_t n = numel();
        Tensor<T> t = Tensor<T>::empty(shape);
        T* out = t.data();
        const std::uint8_t* p = bytes.data();
        switch (dtype) {
            case DType::F16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(detail::half_to_float(detail::load_le<std::uint16_t>(p + 2 * i)));
                break;
            case DType::BF16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(detail::bf16_to_float(detail::load_le<std::uint16_t>(p + 2 * i)));
                break;
            case DType::F32:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(detail::bits_to_f32(detail::load_le<std::uint32_t>(p + 4 * i)));
                break;
            case DType::F64:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(detail::bits_to_f64(detail::load_le<std::uint64_t>(p + 8 * i)));
                break;
            case DType::I64:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(static_cast<std::int64_t>(detail::load_le<std::uint64_t>(p + 8 * i)));
                break;
        }
        return t;
    }

    /// Stores a tensor as F32 (float) or F64 (double).
    template <class T>
    static TensorData from_tensor(const Tensor<T>& t) {
        return from_tensor(t, std::is_same_v<T, float> ? DType::F32 : DType::F64);
    }

    /// Stores a tensor converted to a floating dtype (F16/BF16 round to nearest even).
    template <class T>
    static TensorData from_tensor(const Tensor<T>& t, DType dtype) {
        SALUN_CHECK(t.defined(), "TensorData::from_tensor: undefined tensor");
        SALUN_CHECK(dtype != DType::I64, "TensorData::from_tensor: dtype I64 needs from_int64 (tensor shape ",
                    shape_str(t.shape()), ")");
        TensorData d;
        d.dtype = dtype;
        d.shape = t.shape();
        const std::size_t n = t.numel();
        d.bytes.resize(n * dtype_size(dtype));
        const Tensor<T> host = t.detach().cpu();  // a device tensor is saved from a host copy
        const T* src = host.data();
        std::uint8_t* p = d.bytes.data();
        switch (dtype) {
            case DType::F16:
                for (std::size_t i = 0; i < n; ++i)
                    detail::store_le<std::uint16_t>(p + 2 * i, detail::float_to_half(static_cast<float>(src[i])));
                break;
            case DType::BF16:
                for (std::size_t i = 0; i < n; ++i)
                    detail::store_le<std::uint16_t>(p + 2 * i, detail::float_to_bf16(static_cast<float>(src[i])));
                break;
            case DType::F32:
                for (std::size_t i = 0; i < n; ++i)
                    detail::store_le<std::uint32_t>(p + 4 * i, detail::f32_to_bits(static_cast<float>(src[i])));
                break;
            case DType::F64:
                for (std::size_t i = 0; i < n; ++i)
                    detail::store_le<std::uint64_t>(p + 8 * i, detail::f64_to_bits(static_cast<double>(src[i])));
                break;
            case DType::I64: break;
        }
        return d;
    }

    static TensorData from_int64(Shape shape, const std::vector<std::int64_t>& values) {
        SALUN_CHECK(values.size() == numel_of(shape), "TensorData::from_int64: shape ", shape_str(shape), " needs ",
                    numel_of(shape), " values, got ", values.size());
        TensorData d;
        d.dtype = DType::I64;
        d.shape = std::move(shape);
        d.bytes.resize(values.size() * 8);
        for (std::size_t i = 0; i < values.size(); ++i)
            detail::store_le<std::uint64_t>(d.bytes.data() + 8 * i, static_cast<std::uint64_t>(values[i]));
        return d;
    }

    /// The values of an I64 tensor.
    std::vector<std::int64_t> to_int64() const {
        SALUN_CHECK(dtype == DType::I64, "TensorData::to_int64: dtype is ", dtype_name(dtype), ", not I64 (shape ",
                    shape_str(shape), ")");
        check_size("TensorData::to_int64");
        std::vector<std::int64_t> out(numel());
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<std::int64_t>(detail::load_le<std::uint64_t>(bytes.data() + 8 * i));
        return out;
    }

    bool operator==(const TensorData& o) const { return dtype == o.dtype && shape == o.shape && bytes == o.bytes; }
    bool operator!=(const TensorData& o) const { return !(*this == o); }

private:
    void check_size(const char* op) const {
        SALUN_CHECK(bytes.size() == numel() * dtype_size(dtype), op, ": ", dtype_name(dtype), " shape ",
                    shape_str(shape), " needs ", numel() * dtype_size(dtype), " bytes, holds ", bytes.size());
    }
};

/// name -> TensorData in insertion order (re-assigning a name keeps its position).
class StateDict {
public:
    using value_type = std::pair<std::string, TensorData>;
    using const_iterator = std::vector<value_type>::const_iterator;

    /// Inserts at the end, or replaces the data of an existing name in place. Returns true if inserted.
    bool insert_or_assign(const std::string& name, TensorData data) {
        auto it = index_.find(name);
        if (it != index_.end()) {
            entries_[it->second].second = std::move(data);
            return false;
        }
        index_.emplace(name, entries_.size());
        entries_.emplace_back(name, std::move(data));
        return true;
    }
    /// Shorthand for insert_or_assign(name, TensorData::from_tensor(t)).
    template <class T>
    bool insert_or_assign(const std::string& name, const Tensor<T>& t) {
        return insert_or_assign(name, TensorData::from_tensor(t));
    }

    bool contains(const std::string& name) const { return index_.count(name) != 0; }

    const TensorData& at(const std::string& name) const { return entries_[position(name)].second; }
    TensorData& at(const std::string& name) { return entries_[position(name)].second; }

    /// Iterator to the (name, data) entry, or end().
    const_iterator find(const std::string& name) const {
        auto it = index_.find(name);
        return it == index_.end() ? entries_.end() : entries_.begin() + static_cast<std::ptrdiff_t>(it->second);
    }

    /// Removes `name`; false if it was absent.
    bool erase(const std::string& name) {
        auto it = index_.find(name);
        if (it == index_.end()) return false;
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
        index_.clear();
        for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
        return true;
    }

    std::vector<std::string> keys() const {
        std::vector<std::string> k;
        k.reserve(entries_.size());
        for (const auto& e : entries_) k.push_back(e.first);
        return k;
    }
    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    void clear() {
        entries_.clear();
        index_.clear();
    }

    const_iterator begin() const { return entries_.begin(); }
    const_iterator end() const { return entries_.end(); }

    bool operator==(const StateDict& o) const { return entries_ == o.entries_; }
    bool operator!=(const StateDict& o) const { return !(*this == o); }

private:
    std::size_t position(const std::string& name) const {
        auto it = index_.find(name);
        if (it == index_.end()) {
            std::string some;
            for (std::size_t i = 0; i < entries_.size() && i < 5; ++i) some += (i ? ", " : "") + entries_[i].first;
            if (entries_.size() > 5) some += ", ...";
            detail_missing(name, some);
        }
        return it->second;
    }
    [[noreturn]] void detail_missing(const std::string& name, const std::string& some) const {
        ::salun::detail::throw_error("StateDict::at: no tensor named '", name, "' (", entries_.size(),
                                     " entries: ", some.empty() ? std::string("none") : some, ")");
    }

    std::vector<value_type> entries_;
    std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace salun::io
