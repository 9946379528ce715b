// SPDX-License-Identifier: MIT
// read_image_folder: a torchvision.datasets.ImageFolder-style tree decoded with stb_image.
//
//   root/<class name>/**/*.png|jpg|jpeg|bmp   (extensions case-insensitive, other files ignored)
//
// Classes are the sub-folders of root sorted by name (label = position); files are taken in
// sorted path order. Every image is converted to 3 channels (grey is replicated, alpha dropped,
// like PIL's convert("RGB")) and must have the same height and width as the first one.
#pragma once

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"
#include "salun/data/dataset.hpp"
#include "salun/data/stb_image_guard.hpp"
#include "salun/data/stb_image_impl.hpp"

namespace salun::data {

struct DecodedImage {
    std::size_t channels = 3, height = 0, width = 0;
    std::vector<std::uint8_t> pixels;  ///< CHW
};

namespace detail {
inline bool is_image_file(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}
}  // namespace detail

/// Largest image decoded by default (8192 x 8192; PIL's decompression-bomb limit is of the same
/// order). The header's size is checked before decoding: a 100-byte file can claim a huge image,
/// and stb_image would allocate it and decode zeros into it for seconds.
inline constexpr std::size_t kMaxImagePixels = std::size_t(1) << 26;

/// Decodes a PNG/JPEG/BMP image held in memory (`size` bytes at `data`) into 3-channel CHW bytes;
/// `name` stands for the file in error messages. Images of more than `max_pixels` pixels are
/// rejected before they are decoded.
inline DecodedImage decode_image(const std::uint8_t* data, std::size_t size, const std::string& name = "<memory>",
                                 std::size_t max_pixels = kMaxImagePixels) {
    SALUN_CHECK(size > 0, "read_image: '", name, "' is empty");
    SALUN_CHECK(size <= static_cast<std::size_t>(0x7FFFFFFF), "read_image: '", name, "' is too large");
    SALUN_CHECK(detail::jpeg_huffman_tables_fit(data, size), "read_image: cannot decode '", name,
                "': a JPEG Huffman table declares more than 256 codes (corrupt JPEG)");
    int w = 0, h = 0, c = 0;
    if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c)) {
        // A BMP stored top-down has a negative height, which stb_image reports as is (and flips
        // while decoding): the extent is what gets allocated. One side alone is checked too, so
        // that a zero width cannot hide a huge height.
        const auto extent = [](int v) {
            return v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
        };
        const unsigned long long ew = extent(w), eh = extent(h);
        SALUN_CHECK(ew <= max_pixels && eh <= max_pixels && ew * eh <= max_pixels, "read_image: '", name, "' is ",
                    ew, "x", eh, " pixels, more than the limit of ", max_pixels, " (corrupt, or pass a larger max_pixels)");
    }
    SALUN_CHECK(detail::png_chunks_fit(data, size), "read_image: cannot decode '", name,
                "': truncated PNG (a chunk claims more bytes than the file has)");
    SALUN_CHECK(detail::bmp_pixels_present(data, size), "read_image: cannot decode '", name,
                "': truncated BMP (its pixel rows end past the end of the file)");
    std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
        stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &c, 3), stbi_image_free);
    SALUN_CHECK(pixels != nullptr, "read_image: cannot decode '", name, "': ", stbi_failure_reason(),
                " (corrupt or unsupported image; PNG, JPEG and BMP are supported)");
    SALUN_CHECK(w > 0 && h > 0, "read_image: '", name, "' has size ", w, "x", h);
    DecodedImage img;
    img.height = static_cast<std::size_t>(h);
    img.width = static_cast<std::size_t>(w);
    const std::size_t hw = img.height * img.width;
    img.pixels.resize(3 * hw);
    for (std::size_t i = 0; i < hw; ++i)
        for (std::size_t ch = 0; ch < 3; ++ch) img.pixels[ch * hw + i] = pixels.get()[3 * i + ch];
    return img;
}

/// Decodes one PNG/JPEG/BMP file into 3-channel CHW bytes; a salun::Error names the file otherwise.
inline DecodedImage read_image(const std::string& path, std::size_t max_pixels = kMaxImagePixels) {
    std::ifstream in(path, std::ios::binary);
    SALUN_CHECK(in.is_open(), "read_image: cannot open '", path, "': ", std::strerror(errno));
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

/// Reads root/<class>/... into an ImageDataset (see the file comment for the rules).
inline ImageDataset read_image_folder(const std::string& root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    SALUN_CHECK(fs::is_directory(root, ec), "read_image_folder: '", root, "' is not a folder");
    std::vector<fs::path> class_dirs;
    for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory()) class_dirs.push_back(e.path());
    std::sort(class_dirs.begin(), class_dirs.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    SALUN_CHECK(!class_dirs.empty(), "read_image_folder: '", root, "' has no class sub-folders (expected root/<class>/<images>)");

    ImageDataset ds;
    ds.channels = 3;
    std::string first_file;
    for (std::size_t label = 0; label < class_dirs.size(); ++label) {
        const fs::path& dir = class_dirs[label];
        ds.classes.push_back(dir.filename().string());
        std::vector<fs::path> files;
        for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink))
            if (e.is_regular_file() && detail::is_image_file(e.path())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        SALUN_CHECK(!files.empty(), "read_image_folder: class folder '", dir.string(),
                    "' holds no .png/.jpg/.jpeg/.bmp file");
        for (const auto& f : files) {
            DecodedImage img = read_image(f.string());
            if (first_file.empty()) {
                first_file = f.string();
                ds.height = img.height;
                ds.width = img.width;
            }
            SALUN_CHECK(img.height == ds.height && img.width == ds.width, "read_image_folder: '", f.string(), "' is ",
                        img.width, "x", img.height, " but '", first_file, "' is ", ds.width, "x", ds.height,
                        " (all images must have the same size)");
            ds.pixels.insert(ds.pixels.end(), img.pixels.begin(), img.pixels.end());
            ds.labels.push_back(static_cast<ClassIndex>(label));
        }
    }
    return ds;
}

}  // namespace salun::data
