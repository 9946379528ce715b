// Test helpers for the unlearning tests that run real models: a small CIFAR-shaped noise image
// set and a narrow VGG-16-BN (the full layout, 4 channels wide: fast enough for a unit test).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "salun/core/random.hpp"
#include "salun/data/dataset.hpp"
#include "salun/models/vgg.hpp"

namespace salun::testing {

/// `per_class` RGB noise images of `size` x `size` per class (classes interleaved:
/// label = index % 10). VGG needs size 32 (five max-pools).
inline data::ImageDataset noise_images(std::size_t per_class, std::uint64_t seed, std::size_t size = 8) {
    data::ImageDataset ds;
    ds.channels = 3;
    ds.height = ds.width = size;
    for (int c = 0; c < 10; ++c) ds.classes.push_back("c" + std::to_string(c));
    Generator g(seed);
    for (std::size_t i = 0; i < per_class * 10; ++i) {
        for (std::size_t k = 0; k < 3 * size * size; ++k) ds.pixels.push_back(static_cast<std::uint8_t>(g.randint(256)));
        ds.labels.push_back(int(i % 10));
    }
    return ds;
}

/// VGG-16-BN's layout (13 conv + BN + ReLU, 5 max-pools, head.fc) with 4 channels per conv and
/// `last` in the last block (the width of head.fc's input).
inline std::shared_ptr<models::VGG<float>> narrow_vgg16_bn(Generator& g, std::size_t last = 4) {
    using models::kMaxPool;
    return models::vgg16_bn<float>(10, {4, 4, kMaxPool, 4, 4, kMaxPool, 4, 4, 4, kMaxPool, 4, 4, 4, kMaxPool, last, last,
                                        last, kMaxPool},
                                   g);
}

}  // namespace salun::testing
