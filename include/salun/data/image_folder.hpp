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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "salun/core/error.hpp"
#include "salun/data/dataset.hpp"
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

/// Decodes one PNG/JPEG/BMP file into 3-channel CHW bytes; a salun::Error names the file otherwise.
inline DecodedImage read_image(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    SALUN_CHECK(in.is_open(), "read_image: cannot open '", path, "': ", std::strerror(errno));
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SALUN_CHECK(!bytes.empty(), "read_image: '", path, "' is empty");
    SALUN_CHECK(bytes.size() <= static_cast<std::size_t>(0x7FFFFFFF), "read_image: '", path, "' is too large");
    int w = 0, h = 0, c = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> data(
        stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 3), stbi_image_free);
    SALUN_CHECK(data != nullptr, "read_image: cannot decode '", path, "': ", stbi_failure_reason(),
                " (corrupt or unsupported image; PNG, JPEG and BMP are supported)");
    SALUN_CHECK(w > 0 && h > 0, "read_image: '", path, "' has size ", w, "x", h);
    DecodedImage img;
    img.height = static_cast<std::size_t>(h);
    img.width = static_cast<std::size_t>(w);
    const std::size_t hw = img.height * img.width;
    img.pixels.resize(3 * hw);
    for (std::size_t i = 0; i < hw; ++i)
        for (std::size_t ch = 0; ch < 3; ++ch) img.pixels[ch * hw + i] = data.get()[3 * i + ch];
    return img;
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
            ds.labels.push_back(static_cast<int>(label));
        }
    }
    return ds;
}

}  // namespace salun::data
