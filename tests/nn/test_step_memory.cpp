// SPDX-License-Identifier: MIT
// Workspace reuse in the training loop: once warmed up, a ResNet-18 training step (forward,
// cross-entropy, backward, SGD with momentum) takes every tensor buffer of 256 KiB and more from
// the block cache (core/allocator.hpp) and none from the system, so steady-state training does no
// large allocations and no page faults, and memory stays flat from step to step.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "salun/core/allocator.hpp"
#include "salun/models.hpp"
#include "salun/ops/loss.hpp"
#include "salun/optim/sgd.hpp"

using namespace salun;

TEST_CASE("a warmed-up ResNet-18 training step allocates no new tensor memory") {
    Generator gen(5);
    auto net = models::resnet18<float>(10, 64, gen);
    net->train();
    optim::SGDOptions o;
    o.lr = 0.01;
    o.momentum = 0.9;
    o.weight_decay = 5e-4;
    optim::SGD<float> opt(net->parameters(), o);
    // batch 4: the 64-channel 32x32 activations are 1 MiB, well above the cache's 256 KiB floor
    const auto x = Tensor<float>::normal({4, 3, 32, 32}, 0, 1, gen);
    const std::vector<std::int64_t> y{0, 3, 7, 9};
    auto step = [&] {
        opt.zero_grad();
        Tensor<float> loss = cross_entropy((*net)(x), y);
        loss.backward();
        opt.step();
    };
    step();  // warm-up: fills the cache (and creates the momentum buffers)
    step();
    reset_cache_stats();
    const std::size_t cached_before = cache_stats().cached_bytes;
    step();
    const CacheStats s = cache_stats();
    INFO("hits " << s.hits << ", misses " << s.misses);
    CHECK(s.hits > 50);        // the step did use large buffers ...
    CHECK(s.misses == 0);      // ... and every one of them came from the cache
    CHECK(s.cached_bytes == cached_before);  // and went back to it: no growth from step to step
}
