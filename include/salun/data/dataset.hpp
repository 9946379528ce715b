// SPDX-License-Identifier: MIT
// salun::data::ImageDataset: decoded images kept as bytes (N x C x H x W, CHW per image) with
// integer labels and class names. Conversion to float happens per batch in the loader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"

namespace salun::data {

struct ImageDataset {
    std::size_t channels = 0, height = 0, width = 0;
    std::vector<std::uint8_t> pixels;  ///< size() * channels * height * width bytes, CHW per image
    /// One per image, in 0 .. num_classes()-1. ClassIndex (int64), the type of every class index
    /// in the API, rather than the files' one byte: batches and losses take int64 labels as they
    /// are, and 8 bytes per image is little beside its 3,072 pixel bytes.
    std::vector<ClassIndex> labels;
    std::vector<std::string> classes;  ///< class names, indexed by label

    std::size_t size() const { return labels.size(); }
    std::size_t image_bytes() const { return channels * height * width; }
    std::size_t num_classes() const { return classes.size(); }

    /// The CHW bytes of image i.
    const std::uint8_t* image(std::size_t i) const {
        SALUN_CHECK(i < size(), "ImageDataset::image: index ", i, " out of range for ", size(), " images");
        return pixels.data() + i * image_bytes();
    }
    ClassIndex label(std::size_t i) const {
        SALUN_CHECK(i < size(), "ImageDataset::label: index ", i, " out of range for ", size(), " images");
        return labels[i];
    }
};

}  // namespace salun::data
