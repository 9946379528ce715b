// SPDX-License-Identifier: MIT
// decode_image on the files tests/fuzz/fuzz_image.cpp found stb_image 2.27 mishandling (see
// salun/data/stb_image_guard.hpp): each is now rejected with a salun::Error that says what is
// wrong, or decoded in bounds, quickly and without a huge allocation.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "salun/data/image_folder.hpp"
// after the salun headers: see salun/data/stb_image_impl.hpp
#include "io_data/stb_image_write_impl.hpp"

using namespace salun;

namespace {

std::string error_of_bytes(const std::string& bytes, const std::function<void(const std::uint8_t*, std::size_t)>& f) {
    try {
        f(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const salun::Error& e) {
        return e.what();
    }
    return "";
}

std::string image_error(const std::string& bytes, std::size_t max_pixels = data::kMaxImagePixels) {
    return error_of_bytes(bytes, [&](const std::uint8_t* p, std::size_t n) { data::decode_image(p, n, "img", max_pixels); });
}

std::string le(std::uint64_t v, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

namespace {
/// One table of a JPEG DHT segment: class/id byte, 16 code counts, and that many symbols.
std::string dht_table(char class_id, const std::vector<int>& counts) {
    std::string t(1, class_id);
    int n = 0;
    for (std::size_t i = 0; i < 16; ++i) {
        const int c = i < counts.size() ? counts[i] : 0;
        t += static_cast<char>(c);
        n += c;
    }
    return t + std::string(static_cast<std::size_t>(n), '\x02');
}
/// A DHT segment (marker, big-endian length, tables).
std::string dht_segment(const std::string& tables) {
    const std::size_t len = 2 + tables.size();
    return std::string("\xFF\xC4") + static_cast<char>(len >> 8) + static_cast<char>(len & 0xFF) + tables;
}
}  // namespace

TEST_CASE("JPEG: a Huffman table of more than 256 codes is rejected before stb_image reads it") {
    // stb_image 2.27 copies the code lengths into a 257-byte array: 16 counts of 255 wrote 3.8 KB
    // over its decoder state (fuzz_image: UBSan index 257 out of bounds in stbi__build_huffman).
    const std::string soi = "\xFF\xD8";
    auto msg = image_error(soi + dht_segment(dht_table(0x00, std::vector<int>(16, 255))));
    CHECK(has(msg, "Huffman table declares more than 256 codes"));
    CHECK(has(msg, "'img'"));
    const std::vector<int> codes257{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 255};
    CHECK(has(image_error(soi + "\xFF\xFF" + dht_segment(dht_table(0x10, codes257))), "more than 256 codes"));
    CHECK(has(image_error(soi + dht_segment(dht_table(0x00, {1}) + dht_table(0x11, codes257))), "more than 256 codes"));
    // 256 codes are legal for stb_image: it decides (here: no frame, so an error) itself.
    const std::vector<int> codes256{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 255};
    msg = image_error(soi + dht_segment(dht_table(0x10, codes256)) + "\xFF\xD9");
    CHECK(has(msg, "cannot decode"));
    CHECK_FALSE(has(msg, "256 codes"));
    // Real JPEGs (standard tables, 162 AC codes) decode.
    std::string jpg;
    std::vector<unsigned char> rgb(16 * 8 * 3, 100);
    stbi_write_jpg_to_func([](void* ctx, void* d, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(d), std::size_t(n)); },
                           &jpg, 16, 8, 3, rgb.data(), 90);
    const auto img = data::decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size());
    CHECK(img.width == 16);
    CHECK(img.height == 8);
}

TEST_CASE("JPEG: a scan that uses an undefined Huffman table stays in bounds") {
    // stb_image's decoder state came from malloc, so an undefined table was whatever the heap held
    // and indexed up to 16 MB past its 257-entry arrays (fuzz_image: UBSan index 16777535 out of
    // bounds in stbi__jpeg_huff_decode). salun compiles stb_image with zeroed allocations.
    std::string jpg;
    std::vector<unsigned char> rgb(16 * 16 * 3);
    for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i * 7);
    stbi_write_jpg_to_func([](void* ctx, void* d, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(d), std::size_t(n)); },
                           &jpg, 16, 16, 3, rgb.data(), 90);
    // Keep the frame and the scan header, drop the entropy-coded data and every Huffman table.
    const auto sos = jpg.find("\xFF\xDA");
    REQUIRE(sos != std::string::npos);
    jpg = jpg.substr(0, sos + 14) + "\xFF\xD9";
    const auto dht = jpg.find("\xFF\xC4");
    REQUIRE(dht != std::string::npos);
    jpg.erase(dht, 2 + (std::size_t(static_cast<unsigned char>(jpg[dht + 2])) << 8 | static_cast<unsigned char>(jpg[dht + 3])));
    REQUIRE(jpg.find("\xFF\xC4") == std::string::npos);
    data::DecodedImage img;
    const auto msg = error_of_bytes(jpg, [&](const std::uint8_t* p, std::size_t n) { img = data::decode_image(p, n); });
    REQUIRE_MESSAGE(msg.empty(), msg);
    // Every code reads as symbol 0: all coefficients 0, a flat mid-grey image.
    CHECK(img.width == 16);
    CHECK(img.height == 16);
    std::size_t grey = 0;
    for (auto v : img.pixels) grey += v == 128;
    CHECK(grey == img.pixels.size());
}

TEST_CASE("images: a huge or truncated image is rejected before decoding") {
    auto bmp = [](std::uint32_t width, std::uint32_t height) {
        return "BM" + le(60, 4) + le(0, 4) + le(54, 4) + le(40, 4) + le(width, 4) + le(height, 4) + le(1, 2) + le(24, 2) +
               le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) + "\x01\x02\x03\x04\x05\x06";
    };
    const auto t0 = std::chrono::steady_clock::now();
    // A 60-byte BMP claiming 3 x 8,388,610 pixels made stb_image allocate 75 MB and decode zeros
    // for 9 s under the sanitizers (fuzz_image, slow unit).
    CHECK(has(image_error(bmp(3, 8388610)), "truncated BMP"));
    CHECK(has(image_error(bmp(3, std::uint32_t(-8388610))), "truncated BMP"));  // top-down
    // Whatever the format, the size in the header is checked against a limit (2^26 pixels by
    // default). A negative height (a top-down BMP) got past its first version: stb_image reports
    // it negative and decodes its absolute value (fuzz_image: 3 x 9,895,953 decoded).
    CHECK(has(image_error(bmp(3, 40000000)), "is 3x40000000 pixels, more than the limit of 67108864"));
    CHECK(has(image_error(bmp(3, std::uint32_t(-40000000))), "is 3x40000000 pixels, more than the limit"));
    CHECK(has(image_error(bmp(0, 0x80000000u)), "is 0x2147483648 pixels, more than the limit"));
    CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
    // A complete BMP (2 x 1 pixels, one padded row) decodes, also without the last row's padding.
    const std::string one_row = "BM" + le(62, 4) + le(0, 4) + le(54, 4) + le(40, 4) + le(2, 4) + le(1, 4) + le(1, 2) +
                                le(24, 2) + le(0, 4) + le(8, 4) + le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) +
                                "\x01\x02\x03\x04\x05\x06";
    CHECK(image_error(one_row + std::string(2, '\0')).empty());
    CHECK(image_error(one_row).empty());
    CHECK(has(image_error(one_row.substr(0, one_row.size() - 1)), "truncated BMP"));
    // The limit is a parameter: a 5 x 3 PNG needs 15.
    std::string png;
    std::vector<unsigned char> rgb(5 * 3 * 3, 7);
    stbi_write_png_to_func([](void* ctx, void* d, int n) { static_cast<std::string*>(ctx)->append(static_cast<char*>(d), std::size_t(n)); },
                           &png, 5, 3, 3, rgb.data(), 15);
    // A PNG chunk longer than the file: stb_image grew its buffer to the claimed length first
    // (fuzz_image: a 99-byte file made it realloc 2 GB).
    const auto idat = png.find("IDAT");
    REQUIRE(idat != std::string::npos);
    std::string long_idat = png;
    long_idat.replace(idat - 4, 4, std::string("\x7F\xFF\xFF\xF0", 4));
    CHECK(has(image_error(long_idat), "truncated PNG (a chunk claims more bytes than the file has)"));
    CHECK(image_error(png.substr(0, png.size() - 4)).empty());  // IEND's CRC is never read
    CHECK(has(image_error(png, 14), "is 5x3 pixels, more than the limit of 14"));
    CHECK(image_error(png, 15).empty());
}
