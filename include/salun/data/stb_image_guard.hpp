// SPDX-License-Identifier: MIT
// Checks run on an encoded image before stb_image sees it, for inputs that the stb_image of
// Debian 12 (v2.27, libstb-dev 0.0~git20220908) mishandles instead of rejecting: a heap overflow,
// a truncated file decoded at length, a huge allocation for a chunk that is not there. Each check
// reads the structure where stb_image would, so it only rejects files stb_image would misread or
// fail on anyway. All were found by tests/fuzz/fuzz_image.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace salun::data::detail {

/// False when a JPEG "define Huffman table" (DHT) segment declares more than 256 codes in one
/// table. stb_image 2.27 copies that many code lengths into a 257-byte array (and that many
/// symbols into a 256-byte one) inside its decoder state: a heap overflow onto the decoder's
/// function pointers (later stb_image versions check this themselves).
///
/// stb_image reads a DHT right after the two bytes FF C4, wherever they are (headers, between
/// scans, or where entropy-coded data ends on a marker), so every FF C4 in the buffer is read here
/// the way stb_image would read it: length, then tables of a class/id byte, 16 counts and the
/// symbols, bytes past the end counting as 0 as they do for stb_image.
/// Other formats pass: stb_image takes a buffer for a JPEG only when it starts with FF (then D8),
/// which no PNG or BMP does.
inline bool jpeg_huffman_tables_fit(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || data[0] != 0xFF) return true;
    auto byte = [&](std::size_t i) -> unsigned { return i < size ? data[i] : 0u; };
    for (std::size_t m = 0; m + 1 < size; ++m) {
        if (data[m] != 0xFF || data[m + 1] != 0xC4) continue;
        std::size_t p = m + 2;
        long remaining = static_cast<long>(byte(p) << 8 | byte(p + 1)) - 2;
        p += 2;
        while (remaining > 0 && p < size) {
            const unsigned q = byte(p++);
            if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb_image rejects the table itself
            long n = 0;
            for (int i = 0; i < 16; ++i) n += byte(p++);
            if (n > 256) return false;
            p += static_cast<std::size_t>(n);
            remaining -= 17 + n;
        }
    }
    return true;
}

/// False when a BMP's pixel rows would end past the end of the buffer. stb_image 2.27 reads
/// missing bytes as zeros, so a 60-byte file claiming 3 x 8,388,610 pixels allocated 75 MB and
/// took seconds to "decode" (PIL rejects such files as truncated; so does this check). Only
/// headers stb_image itself accepts are judged: the pixel data starts at the header's offset,
/// rows are padded to 4 bytes (the last row's padding may be missing).
inline bool bmp_pixels_present(const std::uint8_t* data, std::size_t size) {
    if (size < 2 || data[0] != 'B' || data[1] != 'M') return true;
    auto le = [&](std::size_t at, int bytes) {
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= std::uint64_t(at + std::size_t(i) < size ? data[at + std::size_t(i)] : 0) << (8 * i);
        return v;
    };
    const std::uint64_t offset = le(10, 4), header = le(14, 4);
    std::uint64_t width = 0, height = 0, bpp = 0;
    if (header == 12) {
        width = le(18, 2);
        height = le(20, 2);
        bpp = le(24, 2);
    } else if (header == 40 || header == 56 || header == 108 || header == 124) {
        width = le(18, 4);
        const std::uint64_t h = le(22, 4);  // negative (two's complement): rows stored top-down
        height = h & 0x80000000u ? 0x100000000u - h : h;
        bpp = le(28, 2);
    } else {
        return true;  // stb_image rejects the header itself
    }
    constexpr std::uint64_t kMaxSide = 1u << 24;  // stb_image rejects larger sides itself
    if (width == 0 || height == 0 || width > kMaxSide || height > kMaxSide || bpp == 0 || bpp > 32) return true;
    const std::uint64_t row = (width * bpp + 31) / 32 * 4, last_row = (width * bpp + 7) / 8;
    return offset + row * (height - 1) + last_row <= size;
}

/// False when a PNG chunk before IEND claims more data than the buffer holds. stb_image 2.27 grows
/// its IDAT buffer to the claimed length before reading: a 99-byte file asked for 2 GB (it would
/// fail on the missing data afterwards, as it does for any other overlong chunk). Chunks are
/// walked as stb_image reads them: from byte 8, length, type, data, CRC, up to IEND.
inline bool png_chunks_fit(const std::uint8_t* data, std::size_t size) {
    static const std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size < 8) return true;
    for (int i = 0; i < 8; ++i)
        if (data[i] != signature[i]) return true;
    auto be32 = [&](std::size_t at) {
        return std::uint64_t(data[at]) << 24 | std::uint64_t(data[at + 1]) << 16 | std::uint64_t(data[at + 2]) << 8 |
               data[at + 3];
    };
    for (std::size_t p = 8; p + 8 <= size;) {
        const std::uint64_t length = be32(p), type = be32(p + 4);
        if (type == 0x49454E44u) return true;  // IEND: stb_image stops reading here
        if (length > size - p - 8) return false;
        p += 12 + static_cast<std::size_t>(length);
    }
    return true;  // no IEND: stb_image reports the missing data itself
}

}  // namespace salun::data::detail
