// SPDX-License-Identifier: MIT
// Shared fixtures of the unlearning tests: tiny CIFAR-like image sets (8x8 RGB unless asked
// otherwise, ten classes, labels interleaved: image i has label i % 10), a narrow ResNet-18
// (width 4), small enough to train in seconds, and a narrow VGG-16-BN (the full layout, 4 wide).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "salun/data/dataset.hpp"
#include "salun/data/loader.hpp"
#include "salun/models.hpp"
#include "salun/optim.hpp"

namespace salun::testing {

/// An empty `size` x `size` RGB dataset with ten named classes.
inline data::ImageDataset empty_images(std::size_t size = 8) {
    data::ImageDataset ds;
    ds.channels = 3;
    ds.height = ds.width = size;
    for (int c = 0; c < 10; ++c) ds.classes.push_back("class" + std::to_string(c));
    return ds;
}

/// Learnable: each class a colour of its own (10 points on a circle in RGB) and a stripe
/// direction, plus noise.
inline data::ImageDataset striped_images(std::size_t per_class, std::uint64_t seed) {
    data::ImageDataset ds = empty_images();
    Generator g(seed);
    for (std::size_t i = 0; i < per_class; ++i)
        for (int c = 0; c < 10; ++c) {
            for (std::size_t ch = 0; ch < 3; ++ch)
                for (std::size_t y = 0; y < 8; ++y)
                    for (std::size_t x = 0; x < 8; ++x) {
                        const double colour = 128 + 80 * std::sin(0.628 * c + 2.1 * double(ch));
                        const double stripes = 30 * std::sin(0.9 * double(c % 2 == 0 ? x : y) + c);
                        const double v = colour + stripes + 15 * g.normal();
                        ds.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0)));
                    }
            ds.labels.push_back(c);
        }
    return ds;
}

/// Pure noise: labels carry no information (for tests of plumbing, not of learning). VGG needs
/// size 32 (five max-pools).
inline data::ImageDataset noise_images(std::size_t per_class, std::uint64_t seed, std::size_t size = 8) {
    data::ImageDataset ds = empty_images(size);
    Generator g(seed);
    for (std::size_t i = 0; i < per_class * 10; ++i) {
        for (std::size_t k = 0; k < 3 * size * size; ++k) ds.pixels.push_back(static_cast<std::uint8_t>(g.randint(256)));
        ds.labels.push_back(int(i % 10));
    }
    return ds;
}

/// ResNet-18 with 4 channels in its first stage (instead of 64), initialised from `seed`.
inline std::shared_ptr<models::ResNet<float>> narrow_resnet(std::uint64_t seed = 5) {
    Generator init(seed);
    return models::resnet18<float>(10, 4, init);
}

/// A deep copy of a narrow ResNet (parameters, buffers, mode).
inline std::shared_ptr<models::ResNet<float>> copy_of(models::ResNet<float>& m) {
    auto c = narrow_resnet();
    c->copy_from(m);
    return c;
}

/// narrow_resnet() trained on `train` (SGD lr 0.05, momentum 0.9, batch 32; the last third of
/// the epochs at lr 0.005): above 80% test accuracy on striped_images after 12 epochs.
/// Why the last third at a tenth of the rate: at 0.05 throughout, where training ended depended
/// on float rounding (accuracies from 0.69 to 1.0 on the training set as the GEMM blocking or
/// the thread count changed the summation order); annealing makes it land the same way.
inline std::shared_ptr<models::ResNet<float>> trained_narrow_resnet(const data::ImageDataset& train, int epochs = 12) {
    auto model = narrow_resnet();
    data::LoaderOptions lo;
    lo.batch_size = 32;
    lo.shuffle = true;
    lo.seed = 1;
    data::DataLoader<float> loader(data::all(train), lo);
    optim::SGDOptions sgd_options;
    sgd_options.lr = 0.05;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 5e-4;
    optim::SGD<float> sgd(model->parameters(), sgd_options);
    for (int e = 0; e < epochs; ++e) {
        if (e == epochs - epochs / 3) sgd.set_lr(sgd_options.lr / 10);
        optim::train_epoch<float>(*model, loader, sgd);
    }
    return model;
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
