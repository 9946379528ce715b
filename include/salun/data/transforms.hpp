// SPDX-License-Identifier: MIT
// Per-image transforms on CHW bytes, matching torchvision:
//   RandomCrop(size = H x W, padding p, fill 0) + RandomHorizontalFlip(0.5)   (on pixels)
//   ToTensor + Normalize(mean, std)                                          (to float)
// Padding happens in pixel space, so padded pixels become (0 - mean) / std after normalising.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "salun/core/error.hpp"
#include "salun/core/random.hpp"

namespace salun::data {

struct Normalize {
    std::array<float, 3> mean{0.f, 0.f, 0.f};
    std::array<float, 3> std{1.f, 1.f, 1.f};
};

/// CIFAR-10 statistics used by the checkpoints: mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010).
inline Normalize cifar10_normalize() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}}; }

/// torchvision's ToTensor + Normalize for one byte, in float: (x / 255 - mean) / std.
inline float normalize_pixel(std::uint8_t x, float mean, float std) {
    return (static_cast<float>(x) / 255.0f - mean) / std;
}

/// 256-entry tables per channel: table[c][x] = normalize_pixel(x, mean[c], std[c]) (or x/255
/// without normalisation). Bit-identical to computing each pixel, and much faster.
struct PixelTable {
    std::array<std::array<float, 256>, 3> value{};

    explicit PixelTable(const std::optional<Normalize>& norm = std::nullopt) {
        for (std::size_t c = 0; c < 3; ++c) {
            for (int x = 0; x < 256; ++x) {
                const auto b = static_cast<std::uint8_t>(x);
                value[c][static_cast<std::size_t>(x)] =
                    norm ? normalize_pixel(b, norm->mean[c], norm->std[c]) : static_cast<float>(b) / 255.0f;
                if (norm) SALUN_CHECK(norm->std[c] != 0.0f, "Normalize: std of channel ", c, " is 0");
            }
        }
    }

    /// CHW bytes (channels <= 3) -> CHW values.
    template <class T>
    void apply(const std::uint8_t* src, T* dst, std::size_t channels, std::size_t hw) const {
        SALUN_CHECK(channels <= 3, "PixelTable::apply: ", channels, " channels, at most 3 supported");
        for (std::size_t c = 0; c < channels; ++c) {
            const float* tab = value[c].data();
            const std::uint8_t* s = src + c * hw;
            T* d = dst + c * hw;
            for (std::size_t i = 0; i < hw; ++i) d[i] = static_cast<T>(tab[s[i]]);
        }
    }
};

/// Augmentation switches (torchvision: RandomCrop(32, padding=4), RandomHorizontalFlip()).
struct Augment {
    bool random_crop = false;
    std::size_t padding = 4;
    bool horizontal_flip = false;

    bool any() const { return random_crop || horizontal_flip; }
};

/// The random choice for one image: the crop's top-left corner in the padded image
/// (0 .. 2*padding each) and whether the crop is mirrored.
struct CropFlip {
    std::size_t top = 0, left = 0;
    bool flip = false;
};

/// Draws a CropFlip like torchvision (crop top, then left, then flip with p = 0.5).
/// Without random_crop the corner is (padding, padding), i.e. no shift.
inline CropFlip draw_crop_flip(const Augment& aug, Generator& gen) {
    CropFlip p;
    p.top = p.left = aug.padding;
    if (aug.random_crop) {
        p.top = static_cast<std::size_t>(gen.randint(2 * aug.padding + 1));
        p.left = static_cast<std::size_t>(gen.randint(2 * aug.padding + 1));
    }
    if (aug.horizontal_flip) p.flip = gen.uniform01() < 0.5;
    return p;
}

/// dst = crop (same size as src) of src zero-padded by `padding`, taken at p.top/p.left,
/// then mirrored left-right if p.flip. CHW bytes; dst must not alias src.
inline void apply_crop_flip(const std::uint8_t* src, std::uint8_t* dst, std::size_t channels, std::size_t height,
                            std::size_t width, std::size_t padding, const CropFlip& p) {
    SALUN_CHECK(p.top <= 2 * padding && p.left <= 2 * padding, "apply_crop_flip: corner (", p.top, ", ", p.left,
                ") outside 0..", 2 * padding);
    const auto dy = static_cast<long>(p.top) - static_cast<long>(padding);
    const auto dx = static_cast<long>(p.left) - static_cast<long>(padding);
    const auto H = static_cast<long>(height), W = static_cast<long>(width);
    for (std::size_t c = 0; c < channels; ++c) {
        const std::uint8_t* s = src + c * height * width;
        std::uint8_t* d = dst + c * height * width;
        for (long y = 0; y < H; ++y) {
            const long sy = y + dy;
            std::uint8_t* row = d + y * W;
            if (sy < 0 || sy >= H) {
                for (long x = 0; x < W; ++x) row[x] = 0;
                continue;
            }
            // columns x whose source column lies inside the image: [x0, x1)
            const long lo = std::max(0L, -dx), hi = std::min(W, W - dx);  // un-mirrored crop columns
            const long x0 = std::clamp(p.flip ? W - hi : lo, 0L, W);
            const long x1 = std::clamp(p.flip ? W - lo : hi, x0, W);
            for (long x = 0; x < x0; ++x) row[x] = 0;
            for (long x = x1; x < W; ++x) row[x] = 0;
            const std::uint8_t* srow = s + sy * W;
            if (!p.flip) {
                for (long x = x0; x < x1; ++x) row[x] = srow[x + dx];
            } else {
                for (long x = x0; x < x1; ++x) row[x] = srow[W - 1 - x + dx];
            }
        }
    }
}

/// Draws and applies one crop/flip; returns what was drawn (for tests and logging).
inline CropFlip random_crop_flip(const std::uint8_t* src, std::uint8_t* dst, std::size_t channels,
                                 std::size_t height, std::size_t width, const Augment& aug, Generator& gen) {
    const CropFlip p = draw_crop_flip(aug, gen);
    apply_crop_flip(src, dst, channels, height, width, aug.padding, p);
    return p;
}

}  // namespace salun::data
