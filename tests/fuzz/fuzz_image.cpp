// SPDX-License-Identifier: MIT
// libFuzzer harness for the image-folder reader's decoder (salun/data/image_folder.hpp:
// decode_image, i.e. stb_image's PNG, JPEG and BMP decoders as the library configures them).
//
// Any bytes either decode into a 3-channel CHW image of consistent size within the pixel limit, or
// throw salun::Error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "salun/data/image_folder.hpp"

// The library's default limit (2^26 pixels) lets a 100-byte file take tens of seconds under the
// sanitizers; the header check is the same code whatever the limit, so a small one keeps the
// fuzzer fast without hiding a path.
constexpr std::size_t kMaxPixels = std::size_t(1) << 18;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    salun::data::DecodedImage img;
    try {
        img = salun::data::decode_image(data, size, "fuzz input", kMaxPixels);
    } catch (const salun::Error&) {
        return 0;
    }
    if (img.channels != 3 || img.height == 0 || img.width == 0 || img.height * img.width > kMaxPixels ||
        img.pixels.size() != 3 * img.height * img.width) {
        std::fprintf(stderr, "fuzz_image: decoded image %zux%zux%zu holds %zu bytes\n", img.channels, img.height,
                     img.width, img.pixels.size());
        std::abort();
    }
    return 0;
}
