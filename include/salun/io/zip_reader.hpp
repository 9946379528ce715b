// SPDX-License-Identifier: MIT
// The ZIP container of PyTorch checkpoints (torch.save's format since 1.6): read the entries of a
// zip held in memory, and write one (for `salun-demo convert ... x.pth`).
//
// torch.save stores every entry uncompressed (method 0) and writes ZIP64 end records, so this
// reader supports exactly that: stored entries, ZIP64 sizes and offsets, no encryption, no
// multi-disk archives. Everything is bounds-checked against the buffer and every entry's CRC-32
// is verified on access, so a truncated or corrupted file is an error naming the entry, never a
// read past the end. The writer produces what PyTorch's reader (miniz) accepts: stored entries
// whose data starts at a multiple of 64 bytes, as torch.save aligns them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "salun/core/error.hpp"

namespace salun::io {

namespace detail {

inline const std::array<std::uint32_t, 256>& crc32_table() {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    return table;
}

/// CRC-32 (the zip / zlib polynomial) of `size` bytes, continuing from `crc`.
inline std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc = 0) {
    const auto& t = crc32_table();
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i) crc = t[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

inline std::uint64_t zip_le(const std::uint8_t* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
}

}  // namespace detail

/// The entries of a zip archive in memory. The buffer must outlive the reader.
class ZipReader {
public:
    struct Entry {
        std::uint64_t offset = 0;  ///< of the data in the buffer
        std::uint64_t size = 0;
        std::uint32_t crc = 0;
    };

    /// Parses the central directory of the `size` bytes at `data`; `file` names it in errors.
    /// `check_crc = false` skips the CRC-32 checks (only for the fuzzer, to reach what lies behind them).
    ZipReader(const std::uint8_t* data, std::size_t size, std::string file, bool check_crc = true)
        : data_(data), size_(size), file_(std::move(file)), check_crc_(check_crc) {
        parse();
    }

    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    /// Entry names in alphabetical order.
    std::vector<std::string> names() const {
        std::vector<std::string> n;
        for (const auto& e : entries_) n.push_back(e.first);
        return n;
    }
    std::uint64_t entry_size(const std::string& name) const { return entry(name).size; }

    /// The bytes of entry `name` (pointer into the buffer, `size` bytes), CRC-checked once.
    std::pair<const std::uint8_t*, std::size_t> read(const std::string& name) const {
        const Entry& e = entry(name);
        const std::uint8_t* p = data_ + e.offset;
        const auto n = static_cast<std::size_t>(e.size);
        if (check_crc_ && !verified_.count(name)) {
            SALUN_CHECK(detail::crc32(p, n) == e.crc, file_, ": zip entry '", name,
                        "' is corrupted (CRC-32 mismatch)");
            verified_[name] = true;
        }
        return {p, n};
    }

private:
    const Entry& entry(const std::string& name) const {
        auto it = entries_.find(name);
        SALUN_CHECK(it != entries_.end(), file_, ": the zip archive has no entry '", name, "'");
        return it->second;
    }

    /// `n` bytes at `off` lie inside the buffer.
    bool in_bounds(std::uint64_t off, std::uint64_t n) const { return off <= size_ && n <= size_ - off; }

    void parse() {
        const std::uint8_t* d = data_;
        SALUN_CHECK(size_ >= 22, file_, ": too short for a zip archive (", size_, " bytes): truncated?");
        // End of central directory: the last record with its signature, within the comment range.
        std::uint64_t eocd = size_;
        const std::uint64_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
        for (std::uint64_t pos = size_ - 22 + 1; pos-- > lowest;) {
            if (detail::zip_le(d + pos, 4) == 0x06054b50u) {
                eocd = pos;
                break;
            }
        }
        SALUN_CHECK(eocd != size_, file_, ": no zip end-of-central-directory record: truncated or not a zip archive");
        std::uint64_t count = detail::zip_le(d + eocd + 10, 2);
        std::uint64_t cd_size = detail::zip_le(d + eocd + 12, 4);
        std::uint64_t cd_offset = detail::zip_le(d + eocd + 16, 4);
        SALUN_CHECK(detail::zip_le(d + eocd + 4, 2) == 0 && detail::zip_le(d + eocd + 6, 2) == 0, file_,
                    ": multi-disk zip archives are not supported");
        // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
        if (eocd >= 20 && detail::zip_le(d + eocd - 20, 4) == 0x07064b50u) {
            const std::uint64_t z = detail::zip_le(d + eocd - 20 + 8, 8);
            SALUN_CHECK(in_bounds(z, 56) && detail::zip_le(d + z, 4) == 0x06064b50u, file_,
                        ": broken ZIP64 end-of-central-directory record");
            count = detail::zip_le(d + z + 32, 8);
            cd_size = detail::zip_le(d + z + 40, 8);
            cd_offset = detail::zip_le(d + z + 48, 8);
        }
        SALUN_CHECK(in_bounds(cd_offset, cd_size), file_, ": the zip central directory (", cd_size, " bytes at ",
                    cd_offset, ") lies outside the file (", size_, " bytes): truncated?");
        std::uint64_t pos = cd_offset;
        const std::uint64_t cd_end = cd_offset + cd_size;
        for (std::uint64_t i = 0; i < count; ++i) {
            SALUN_CHECK(pos + 46 <= cd_end && detail::zip_le(d + pos, 4) == 0x02014b50u, file_,
                        ": broken zip central directory at entry ", i);
            const auto flags = detail::zip_le(d + pos + 8, 2);
            const auto method = detail::zip_le(d + pos + 10, 2);
            Entry e;
            e.crc = static_cast<std::uint32_t>(detail::zip_le(d + pos + 16, 4));
            std::uint64_t csize = detail::zip_le(d + pos + 20, 4);
            std::uint64_t usize = detail::zip_le(d + pos + 24, 4);
            const auto name_len = detail::zip_le(d + pos + 28, 2);
            const auto extra_len = detail::zip_le(d + pos + 30, 2);
            const auto comment_len = detail::zip_le(d + pos + 32, 2);
            std::uint64_t local = detail::zip_le(d + pos + 42, 4);
            SALUN_CHECK(pos + 46 + name_len + extra_len + comment_len <= cd_end, file_,
                        ": broken zip central directory at entry ", i);
            std::string name(reinterpret_cast<const char*>(d + pos + 46), static_cast<std::size_t>(name_len));
            // ZIP64 extended information: the 8-byte values of the fields that hold 0xFFFFFFFF, in order.
            std::uint64_t x = pos + 46 + name_len;
            const std::uint64_t x_end = x + extra_len;
            while (x + 4 <= x_end) {
                const auto id = detail::zip_le(d + x, 2), len = detail::zip_le(d + x + 2, 2);
                SALUN_CHECK(x + 4 + len <= x_end, file_, ": zip entry '", name, "': broken extra field");
                if (id == 0x0001) {
                    std::uint64_t f = x + 4;
                    for (std::uint64_t* v : {&usize, &csize, &local}) {
                        if (*v != 0xFFFFFFFFu) continue;
                        SALUN_CHECK(f + 8 <= x + 4 + len, file_, ": zip entry '", name, "': broken ZIP64 field");
                        *v = detail::zip_le(d + f, 8);
                        f += 8;
                    }
                }
                x += 4 + len;
            }
            SALUN_CHECK(!(flags & 1u), file_, ": zip entry '", name, "' is encrypted");
            SALUN_CHECK(method == 0 && csize == usize, file_, ": zip entry '", name, "' is compressed (method ",
                        method, "); torch.save stores entries uncompressed: was the file re-zipped?");
            SALUN_CHECK(in_bounds(local, 30) && detail::zip_le(d + local, 4) == 0x04034b50u, file_, ": zip entry '",
                        name, "': no local header at offset ", local, ": truncated?");
            e.offset = local + 30 + detail::zip_le(d + local + 26, 2) + detail::zip_le(d + local + 28, 2);
            e.size = usize;
            SALUN_CHECK(in_bounds(e.offset, e.size), file_, ": zip entry '", name, "' (", e.size, " bytes at ",
                        e.offset, ") runs past the end of the file (", size_, " bytes): truncated?");
            SALUN_CHECK(entries_.emplace(name, e).second, file_, ": zip entry '", name, "' appears twice");
            pos += 46 + name_len + extra_len + comment_len;
        }
    }

    const std::uint8_t* data_;
    std::size_t size_;
    std::string file_;
    bool check_crc_;
    std::map<std::string, Entry> entries_;
    mutable std::map<std::string, bool> verified_;
};

/// Writes a zip archive of stored (uncompressed) entries, each entry's data aligned to 64 bytes
/// (padding in the local header's extra field, as torch.save does), with ZIP64 end records.
class ZipWriter {
public:
    explicit ZipWriter(std::ostream& out) : out_(out) {}

    void add(const std::string& name, const std::uint8_t* data, std::size_t size) {
        SALUN_CHECK(name.size() < 0xFFFF, "ZipWriter: entry name too long");
        SALUN_CHECK(size < 0xFFFFFFFFull && pos_ < 0xFFFFFFFFull, "ZipWriter: entries of 4 GiB and more are not supported");
        Central c{name, detail::crc32(data, size), size, pos_};
        // Local header, then an extra field (id 0x4250, as torch uses) padding the data to 64 bytes.
        const std::uint64_t header = 30 + name.size() + 4;
        const std::uint64_t pad = (64 - (pos_ + header) % 64) % 64;
        put(0x04034b50u, 4);
        put(20, 2);  // version needed
        put(0, 2);   // flags
        put(0, 2);   // stored
        put(0, 2);   // time
        put(0x21, 2);  // date: 1980-01-01
        put(c.crc, 4);
        put(size, 4);
        put(size, 4);
        put(name.size(), 2);
        put(4 + pad, 2);
        raw(reinterpret_cast<const std::uint8_t*>(name.data()), name.size());
        put(0x4250, 2);
        put(pad, 2);
        for (std::uint64_t i = 0; i < pad; ++i) put(0, 1);
        raw(data, size);
        entries_.push_back(std::move(c));
    }

    /// Writes the central directory and the end records; call once, after the last add().
    void finish() {
        const std::uint64_t cd_offset = pos_;
        for (const Central& c : entries_) {
            put(0x02014b50u, 4);
            put(45, 2);  // made by
            put(20, 2);  // needed
            put(0, 2);
            put(0, 2);
            put(0, 2);
            put(0x21, 2);
            put(c.crc, 4);
            put(c.size, 4);
            put(c.size, 4);
            put(c.name.size(), 2);
            put(0, 2);  // extra
            put(0, 2);  // comment
            put(0, 2);  // disk
            put(0, 2);  // internal attributes
            put(0, 4);  // external attributes
            put(c.offset, 4);
            raw(reinterpret_cast<const std::uint8_t*>(c.name.data()), c.name.size());
        }
        const std::uint64_t cd_size = pos_ - cd_offset, zip64 = pos_;
        put(0x06064b50u, 4);
        put(44, 8);
        put(45, 2);
        put(45, 2);
        put(0, 4);
        put(0, 4);
        put(entries_.size(), 8);
        put(entries_.size(), 8);
        put(cd_size, 8);
        put(cd_offset, 8);
        put(0x07064b50u, 4);  // ZIP64 locator
        put(0, 4);
        put(zip64, 8);
        put(1, 4);
        put(0x06054b50u, 4);
        put(0, 2);
        put(0, 2);
        put(entries_.size(), 2);
        put(entries_.size(), 2);
        put(cd_size, 4);
        put(cd_offset, 4);
        put(0, 2);
    }

private:
    struct Central {
        std::string name;
        std::uint32_t crc;
        std::uint64_t size, offset;
    };
    void put(std::uint64_t v, int bytes) {
        std::uint8_t b[8];
        for (int i = 0; i < bytes; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
        raw(b, static_cast<std::size_t>(bytes));
    }
    void raw(const std::uint8_t* p, std::size_t n) {
        out_.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
        pos_ += n;
    }

    std::ostream& out_;
    std::uint64_t pos_ = 0;
    std::vector<Central> entries_;
};

}  // namespace salun::io
