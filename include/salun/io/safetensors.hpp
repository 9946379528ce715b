// SPDX-License-Identifier: MIT
// safetensors read/write (https://github.com/huggingface/safetensors), the checkpoint format.
//
// Layout: 8 bytes little-endian u64 N, then N bytes of JSON header, then the data section.
// Header: {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [..],
//          "data_offsets": [begin, end]}, ...}, offsets relative to the data section.
// Loading validates everything before touching the data (sizes, JSON shape, dtype names, byte
// counts, bounds, overlaps) and reports problems as salun::Error naming the file and tensor.
// Saving writes tensors contiguously in StateDict order, pads the header with spaces to a
// multiple of 8 (like the reference writer) and replaces the file atomically.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core/error.hpp"
#include "salun/io/atomic_file.hpp"
#include "salun/io/state_dict.hpp"

namespace salun::io {

struct Safetensors {
    StateDict tensors;                              ///< ordered by data offset
    std::map<std::string, std::string> metadata;   ///< the header's "__metadata__" (may be empty)
};

/// Largest header accepted (the reference implementation uses the same limit).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

namespace detail {

/// A non-negative integer from a JSON value, or false.
inline bool json_to_size(const nlohmann::ordered_json& v, std::uint64_t& out) {
    if (v.is_number_unsigned()) {
        out = v.get<std::uint64_t>();
        return true;
    }
    if (v.is_number_integer()) {
        const auto s = v.get<std::int64_t>();
        if (s < 0) return false;
        out = static_cast<std::uint64_t>(s);
        return true;
    }
    return false;
}

struct HeaderEntry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
};

}  // namespace detail

/// Header nesting deeper than this is rejected before anything formats it: a valid header nests 3
/// levels (object, tensor entry, shape), and nlohmann's dump() recurses once per level.
inline constexpr int kMaxSafetensorsHeaderDepth = 16;

namespace detail {

/// `v` as JSON text for an error message, cut to `limit` characters.
inline std::string json_brief(const nlohmann::ordered_json& v, std::size_t limit = 120) {
    std::string s = v.dump();
    if (s.size() > limit) s = s.substr(0, limit - 3) + "...";
    return s;
}

/// The bytes of a safetensors file on disk: the header, then each tensor read straight into its
/// own buffer, so the whole file is never held twice.
class StreamSource {
public:
    StreamSource(std::istream& in, std::uint64_t size) : in_(in), size_(size) {}
    std::uint64_t size() const { return size_; }
    bool read(std::uint64_t offset, void* dst, std::size_t n) {
        in_.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
        in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
        return in_.good();
    }

private:
    std::istream& in_;
    std::uint64_t size_;
};

/// The bytes of a safetensors file already in memory.
class MemorySource {
public:
    MemorySource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint64_t size() const { return size_; }
    bool read(std::uint64_t offset, void* dst, std::size_t n) {
        if (offset > size_ || n > size_ - offset) return false;
        if (n) std::memcpy(dst, data_ + offset, n);
        return true;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
};

/// Parses and validates a whole safetensors file from `src`; `file` names it in every message.
template <class Source>
Safetensors parse_safetensors(Source& src, const std::string& file) {
    const std::uint64_t file_size = src.size();
    SALUN_CHECK(file_size >= 8, "load_safetensors: '", file, "' is ", file_size,
                " bytes, too short for the 8-byte header length (truncated or not a safetensors file)");

    std::uint8_t len_bytes[8];
    SALUN_CHECK(src.read(0, len_bytes, 8), "load_safetensors: cannot read the header length of '", file, "'");
    const std::uint64_t header_len = load_le<std::uint64_t>(len_bytes);
    SALUN_CHECK(header_len <= kMaxSafetensorsHeader, "load_safetensors: '", file, "': header length ", header_len,
                " is absurd (limit ", kMaxSafetensorsHeader, " bytes; not a safetensors file?)");
    SALUN_CHECK(header_len <= file_size - 8, "load_safetensors: '", file, "': header length ", header_len,
                " exceeds the file size ", file_size, " (truncated header or not a safetensors file)");

    std::string header(static_cast<std::size_t>(header_len), '\0');
    SALUN_CHECK(src.read(8, header.data(), header.size()), "load_safetensors: cannot read the ", header_len,
                "-byte header of '", file, "'");
    const std::uint64_t data_size = file_size - 8 - header_len;

    nlohmann::ordered_json j;
    try {
        j = nlohmann::ordered_json::parse(
            header, [&](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
                SALUN_CHECK(depth <= kMaxSafetensorsHeaderDepth, "load_safetensors: '", file,
                            "': header nests deeper than ", kMaxSafetensorsHeaderDepth,
                            " levels (a safetensors header has 3; not a safetensors file?)");
                return true;
            });
    } catch (const nlohmann::json::exception& e) {
        ::salun::detail::throw_error("load_safetensors: '", file, "': header is not valid JSON (", e.what(), ")");
    }
    SALUN_CHECK(j.is_object(), "load_safetensors: '", file, "': header must be a JSON object, got ", j.type_name());

    Safetensors result;
    std::vector<HeaderEntry> entries;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        const auto& v = it.value();
        if (key == "__metadata__") {
            SALUN_CHECK(v.is_object(), "load_safetensors: '", file, "': __metadata__ must be an object, got ",
                        v.type_name());
            for (auto m = v.begin(); m != v.end(); ++m) {
                SALUN_CHECK(m.value().is_string(), "load_safetensors: '", file, "': __metadata__ value of '", m.key(),
                            "' must be a string, got ", m.value().type_name());
                result.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "load_safetensors: '" + file + "': tensor '" + key + "'";
        SALUN_CHECK(v.is_object(), where, ": entry must be an object, got ", v.type_name());
        for (const char* field : {"dtype", "shape", "data_offsets"})
            SALUN_CHECK(v.contains(field), where, ": missing field '", field, "'");
        SALUN_CHECK(v["dtype"].is_string(), where, ": 'dtype' must be a string, got ", v["dtype"].type_name());
        HeaderEntry e;
        e.name = key;
        e.dtype = parse_dtype(v["dtype"].get<std::string>(), where);

        const auto& shape = v["shape"];
        SALUN_CHECK(shape.is_array(), where, ": 'shape' must be an array, got ", shape.type_name());
        std::size_t numel = 1;
        for (const auto& s : shape) {
            std::uint64_t d = 0;
            SALUN_CHECK(json_to_size(s, d), where, ": shape entries must be non-negative integers, got ",
                        json_brief(s));
            e.shape.push_back(static_cast<std::size_t>(d));
            SALUN_CHECK(mul_overflow(numel, static_cast<std::size_t>(d), numel), where, ": shape ",
                        json_brief(shape), " overflows");
        }
        std::size_t nbytes = 0;
        SALUN_CHECK(mul_overflow(numel, dtype_size(e.dtype), nbytes), where, ": shape ", json_brief(shape),
                    " overflows");

        const auto& off = v["data_offsets"];
        SALUN_CHECK(off.is_array() && off.size() == 2, where, ": 'data_offsets' must be [begin, end], got ",
                    json_brief(off));
        SALUN_CHECK(json_to_size(off[0], e.begin) && json_to_size(off[1], e.end), where,
                    ": data_offsets must be non-negative integers, got ", json_brief(off));
        SALUN_CHECK(e.begin <= e.end, where, ": data_offsets ", json_brief(off), " has begin > end");
        SALUN_CHECK(e.end <= data_size, where, ": data_offsets ", json_brief(off),
                    " lie outside the data section of ", data_size, " bytes (file truncated?)");
        SALUN_CHECK(e.end - e.begin == nbytes, where, ": shape ", shape_str(e.shape), " of ", dtype_name(e.dtype),
                    " needs ", nbytes, " bytes but data_offsets ", json_brief(off), " hold ", e.end - e.begin,
                    " (shape/byte count mismatch)");
        entries.push_back(std::move(e));
    }

    std::stable_sort(entries.begin(), entries.end(),
                     [](const HeaderEntry& a, const HeaderEntry& b) { return a.begin < b.begin; });
    const HeaderEntry* furthest = nullptr;  // the non-empty range reaching furthest so far
    for (const auto& b : entries) {
        if (b.begin == b.end) continue;
        if (furthest)
            SALUN_CHECK(b.begin >= furthest->end, "load_safetensors: '", file, "': tensor '", b.name, "' [", b.begin,
                        ", ", b.end, ") overlaps tensor '", furthest->name, "' [", furthest->begin, ", ",
                        furthest->end, ") (overlapping data_offsets)");
        if (!furthest || b.end > furthest->end) furthest = &b;
    }

    const std::uint64_t data_start = 8 + header_len;
    for (auto& e : entries) {
        TensorData d;
        d.dtype = e.dtype;
        d.shape = std::move(e.shape);
        d.bytes.resize(static_cast<std::size_t>(e.end - e.begin));
        if (!d.bytes.empty())
            SALUN_CHECK(src.read(data_start + e.begin, d.bytes.data(), d.bytes.size()), "load_safetensors: '", file,
                        "': tensor '", e.name, "': read of ", d.bytes.size(), " bytes failed");
        result.tensors.insert_or_assign(e.name, std::move(d));
    }
    return result;
}

}  // namespace detail

/// Reads and validates the safetensors file at `path` (see the file comment).
inline Safetensors load_safetensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SALUN_CHECK(in.is_open(), "load_safetensors: cannot open '", path, "': ", std::strerror(errno));
    in.seekg(0, std::ios::end);
    const std::streamoff end_pos = in.tellg();
    SALUN_CHECK(end_pos >= 0, "load_safetensors: cannot determine the size of '", path, "'");
    detail::StreamSource src(in, static_cast<std::uint64_t>(end_pos));
    return detail::parse_safetensors(src, path);
}

/// The same for a whole safetensors file already in memory (`size` bytes at `data`); `name`
/// stands for the file in error messages.
inline Safetensors parse_safetensors(const std::uint8_t* data, std::size_t size,
                                     const std::string& name = "<memory>") {
    detail::MemorySource src(data, size);
    return detail::parse_safetensors(src, name);
}

namespace detail {
/// The JSON header for `tensors`, padded with spaces to a multiple of 8 bytes.
inline std::string safetensors_header(const StateDict& tensors, const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata) meta[k] = v;
        header["__metadata__"] = std::move(meta);
    }
    std::uint64_t offset = 0;
    for (const auto& [name, d] : tensors) {
        SALUN_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
        SALUN_CHECK(d.bytes.size() == d.numel() * dtype_size(d.dtype), "save_safetensors: tensor '", name, "': ",
                    dtype_name(d.dtype), " shape ", shape_str(d.shape), " needs ", d.numel() * dtype_size(d.dtype),
                    " bytes, holds ", d.bytes.size());
        nlohmann::ordered_json e = nlohmann::ordered_json::object();
        e["dtype"] = dtype_name(d.dtype);
        e["shape"] = d.shape;
        e["data_offsets"] = {offset, offset + d.bytes.size()};
        header[name] = std::move(e);
        offset += d.bytes.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
}
}  // namespace detail

/// Writes the complete safetensors content (header length, padded header, data) to `out`.
inline void write_safetensors(std::ostream& out, const StateDict& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    const std::string text = detail::safetensors_header(tensors, metadata);
    std::uint8_t len[8];
    detail::store_le<std::uint64_t>(len, text.size());
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& entry : tensors)
        out.write(reinterpret_cast<const char*>(entry.second.bytes.data()),
                  static_cast<std::streamsize>(entry.second.bytes.size()));
}

/// Writes `tensors` (in their order) and `metadata` to `path`, atomically: on failure the old file,
/// if any, is left untouched and no temporary file remains.
inline void save_safetensors(const std::string& path, const StateDict& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
    detail::safetensors_header(tensors, metadata);  // validate before creating any file
    write_file_atomic(path, [&](std::ostream& out) { write_safetensors(out, tensors, metadata); });
}

}  // namespace salun::io
