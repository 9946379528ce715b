// SPDX-License-Identifier: MIT
// Subsets, transforms (normalisation, crop + flip) and the DataLoader.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "salun/data/loader.hpp"

using namespace salun;
using namespace salun::data;

namespace {

/// n images of C x H x W whose bytes encode (image, channel, y, x); labels i % classes.
ImageDataset synthetic(std::size_t n, std::size_t classes = 10, std::size_t C = 3, std::size_t H = 8, std::size_t W = 8) {
    ImageDataset ds;
    ds.channels = C;
    ds.height = H;
    ds.width = W;
    for (std::size_t c = 0; c < classes; ++c) ds.classes.push_back("c" + std::to_string(c));
    ds.pixels.resize(n * C * H * W);
    for (std::size_t i = 0; i < ds.pixels.size(); ++i) ds.pixels[i] = static_cast<std::uint8_t>(1 + (i * 7) % 250);
    for (std::size_t i = 0; i < n; ++i) ds.labels.push_back(static_cast<int>(i % classes));
    return ds;
}

/// Reference: the crop/flip written the obvious way on an explicitly padded image.
std::vector<std::uint8_t> manual_crop_flip(const std::uint8_t* src, std::size_t C, std::size_t H, std::size_t W,
                                           std::size_t pad, const CropFlip& p) {
    const std::size_t PH = H + 2 * pad, PW = W + 2 * pad;
    std::vector<std::uint8_t> padded(C * PH * PW, 0);
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x) padded[(c * PH + y + pad) * PW + x + pad] = src[(c * H + y) * W + x];
    std::vector<std::uint8_t> crop(C * H * W);
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x) crop[(c * H + y) * W + x] = padded[(c * PH + y + p.top) * PW + x + p.left];
    if (p.flip)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < H; ++y) std::reverse(crop.begin() + (c * H + y) * W, crop.begin() + (c * H + y + 1) * W);
    return crop;
}

}  // namespace

TEST_CASE("subset helpers") {
    ImageDataset ds = synthetic(35, 10);
    Subset a = all(ds);
    CHECK(a.size() == 35);
    CHECK(a.indices[34] == 34);
    auto [retain, forget] = split_by_class(ds, 3);
    CHECK(forget.indices == std::vector<std::size_t>{3, 13, 23, 33});
    CHECK(retain.size() == 31);
    CHECK(std::is_sorted(retain.indices.begin(), retain.indices.end()));
    for (std::size_t i : retain.indices) CHECK(ds.labels[i] != 3);
    CHECK(of_class(a, 4).indices == std::vector<std::size_t>{4, 14, 24, 34});
    CHECK(of_class(retain, 3).empty());
    CHECK(without_class(a, 3).indices == retain.indices);
    CHECK(without_class(of_class(a, 4), 4).empty());
    Subset k = first_k_per_class(a, 2);
    CHECK(k.size() == 20);
    CHECK(k.indices[0] == 0);
    CHECK(k.indices[10] == 10);
    CHECK(k.indices[19] == 19);
    Subset rev{&ds, {34, 24, 14, 4, 33}};
    CHECK(first_k_per_class(rev, 1).indices == std::vector<std::size_t>{34, 33});
    CHECK_THROWS_WITH_AS(split_by_class(ds, 10), doctest::Contains("class 10 out of range"), salun::Error);
    CHECK_THROWS_WITH_AS(split_by_class(ds, -1), doctest::Contains("class -1 out of range"), salun::Error);
    CHECK_THROWS_AS(of_class(a, 12), salun::Error);
    CHECK_THROWS_AS(without_class(a, 12), salun::Error);
}

TEST_CASE("normalisation matches torchvision ToTensor + Normalize") {
    const Normalize n = cifar10_normalize();
    // values computed by torchvision 0.14 (float32) for pixels (0,128,255) and (1,254,77)
    CHECK(normalize_pixel(0, n.mean[0], n.std[0]) == -0x1.36eba0p+1f);
    CHECK(normalize_pixel(128, n.mean[1], n.std[1]) == 0x1.95eb58p-4f);
    CHECK(normalize_pixel(255, n.mean[2], n.std[2]) == 0x1.607a44p+1f);
    CHECK(normalize_pixel(1, n.mean[0], n.std[0]) == -0x1.34706cp+1f);
    CHECK(normalize_pixel(254, n.mean[1], n.std[1]) == 0x1.49df32p+1f);
    CHECK(normalize_pixel(77, n.mean[2], n.std[2]) == -0x1.702df2p-1f);

    ImageDataset ds = synthetic(1, 10, 3, 1, 2);
    ds.pixels = {0, 1, 128, 254, 255, 77};  // CHW: R = (0, 1), G = (128, 254), B = (255, 77)
    DataLoader<float> loader(all(ds), {});
    const Batch<float> b = loader.epoch().batch(0);  // by value from a temporary epoch
    CHECK(b.images.shape() == Shape{1, 3, 1, 2});
    CHECK(b.images.to_vector() ==
          std::vector<float>{-0x1.36eba0p+1f, -0x1.34706cp+1f, 0x1.95eb58p-4f, 0x1.49df32p+1f, 0x1.607a44p+1f,
                             -0x1.702df2p-1f});
    LoaderOptions raw;
    raw.normalize = std::nullopt;
    DataLoader<double> plain(all(ds), raw);
    CHECK(plain.epoch().batch(0).images.data()[4] == 1.0);
}

TEST_CASE("crop + flip geometry equals the manual crop of the padded image") {
    ImageDataset ds = synthetic(1, 1, 3, 6, 5);
    Augment aug{true, 2, true};
    Generator gen(7);
    std::set<std::pair<std::size_t, std::size_t>> corners;
    int flips = 0;
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<std::uint8_t> dst(ds.image_bytes());
        CropFlip p = random_crop_flip(ds.image(0), dst.data(), 3, 6, 5, aug, gen);
        CHECK(p.top <= 4);
        CHECK(p.left <= 4);
        corners.insert({p.top, p.left});
        flips += p.flip;
        REQUIRE(dst == manual_crop_flip(ds.image(0), 3, 6, 5, 2, p));
    }
    CHECK(corners.size() == 25);  // every offset occurs
    // padding larger than the image: many crops are entirely padding
    Augment wide{true, 7, true};
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<std::uint8_t> d(ds.image_bytes(), 99);
        CropFlip p = random_crop_flip(ds.image(0), d.data(), 3, 6, 5, wide, gen);
        REQUIRE(d == manual_crop_flip(ds.image(0), 3, 6, 5, 7, p));
    }
    CHECK(flips > 60);
    CHECK(flips < 140);
    // extreme corner: top-left of the padded image, flipped -> pad zeros on the right and top
    std::vector<std::uint8_t> dst(ds.image_bytes());
    apply_crop_flip(ds.image(0), dst.data(), 3, 6, 5, 2, CropFlip{0, 0, true});
    CHECK(dst[0] == 0);                   // rows 0 and 1 come from the top padding
    CHECK(dst[2 * 5 + 0] == ds.image(0)[2]);  // mirrored: column 0 shows source column 2
    CHECK(dst[2 * 5 + 4] == 0);           // and the last column the left padding
}

TEST_CASE("augmented batches: padded pixels normalise to -mean/std") {
    ImageDataset ds = synthetic(4, 2, 3, 4, 4);
    LoaderOptions o;
    o.batch_size = 2;
    o.augment = Augment{true, 4, true};
    DataLoader<float> loader(all(ds), o);
    auto ep = loader.epoch();
    const Normalize n = cifar10_normalize();
    std::size_t padded = 0;
    std::vector<float> first;
    for (std::size_t bi = 0; bi < 2; ++bi) {
        const Batch<float>& b = ep.batch(bi);
        if (bi == 0) first = b.images.to_vector();
        // synthetic pixels are never 0, so values equal to normalised 0 come from the padding
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t c = 0; c < 3; ++c)
                for (std::size_t k = 0; k < 16; ++k)
                    if (b.images.data()[(i * 3 + c) * 16 + k] == normalize_pixel(0, n.mean[c], n.std[c])) ++padded;
    }
    CHECK(padded > 0);
    // rebuilding a batch gives the same augmentation
    CHECK(ep.batch(0).images.to_vector() == first);
}

TEST_CASE("DataLoader order: every sample once, reproducible, new order each epoch") {
    ImageDataset ds = synthetic(103, 10, 3, 2, 2);
    auto [retain, forget] = split_by_class(ds, 0);
    LoaderOptions o;
    o.batch_size = 16;
    o.shuffle = true;
    o.seed = 2048;
    DataLoader<float> a(retain, o), b(retain, o);
    CHECK(a.size() == 92);
    CHECK(a.num_batches() == 6);
    std::vector<std::vector<std::size_t>> orders;
    for (int e = 0; e < 3; ++e) {
        std::vector<std::size_t> seen, seen_b;
        std::vector<std::size_t> sizes;
        for (const Batch<float>& batch : a.epoch()) {
            sizes.push_back(batch.size());
            CHECK(batch.images.shape() == Shape{batch.size(), 3, 2, 2});
            for (std::size_t i = 0; i < batch.size(); ++i) {
                CHECK(batch.labels[i] == ds.labels[batch.indices[i]]);
                CHECK(batch.images.data()[i * 12] == normalize_pixel(ds.image(batch.indices[i])[0], 0.4914f, 0.2023f));
            }
            seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
        }
        for (const Batch<float>& batch : b.epoch()) seen_b.insert(seen_b.end(), batch.indices.begin(), batch.indices.end());
        CHECK(sizes == std::vector<std::size_t>{16, 16, 16, 16, 16, 12});  // partial batch kept
        CHECK(seen == seen_b);                                             // same seed, same order
        std::vector<std::size_t> sorted = seen;
        std::sort(sorted.begin(), sorted.end());
        CHECK(sorted == retain.indices);  // every sample exactly once
        orders.push_back(seen);
    }
    CHECK(orders[0] != orders[1]);
    CHECK(orders[1] != orders[2]);
    CHECK(orders[0] != retain.indices);

    // abandoning an epoch early does not change later epochs
    DataLoader<float> c(retain, o);
    { auto ep = c.epoch(); ep.batch(0); }
    auto ep1 = c.epoch();
    CHECK(ep1.order() == orders[1]);
    c.manual_seed(2048);
    CHECK(c.epoch().order() == orders[0]);

    // another seed, another order; no shuffle keeps index order
    o.seed = 1;
    CHECK(DataLoader<float>(retain, o).epoch().order() != orders[0]);
    o.shuffle = false;
    DataLoader<float> seq(retain, o);
    CHECK(seq.epoch().order() == retain.indices);
    CHECK(seq.epoch().order() == retain.indices);
}

TEST_CASE("DataLoader: drop_last, buffer reuse, errors") {
    ImageDataset ds = synthetic(10, 2, 3, 2, 2);
    LoaderOptions o;
    o.batch_size = 4;
    o.drop_last = true;
    DataLoader<float> dl(all(ds), o);
    CHECK(dl.num_batches() == 2);
    std::size_t count = 0;
    for (const auto& b : dl.epoch()) count += b.size();
    CHECK(count == 8);

    o.drop_last = false;
    DataLoader<float> keep(all(ds), o);
    auto ep = keep.epoch();
    CHECK(ep.size() == 3);
    const float* p0 = ep.batch(0).images.data();
    CHECK(ep.batch(1).images.data() == p0);  // same shape, not shared: storage reused
    Tensor<float> held = ep.batch(1).images;
    const std::vector<float> held_values = held.to_vector();
    ep.batch(0);
    CHECK(held.to_vector() == held_values);  // a held batch is never overwritten
    CHECK(ep.batch(2).size() == 2);
    CHECK_THROWS_WITH_AS(ep.batch(3), doctest::Contains("out of range"), salun::Error);

    o.batch_size = 0;
    CHECK_THROWS_WITH_AS(DataLoader<float>(all(ds), o), doctest::Contains("batch_size"), salun::Error);
    o.batch_size = 2;
    CHECK_THROWS_WITH_AS(DataLoader<float>(Subset{&ds, {0, 10}}, o), doctest::Contains("index 10"), salun::Error);
    Subset empty{&ds, {}};
    DataLoader<float> none(empty, o);
    CHECK(none.num_batches() == 0);
    for (const auto& b : none.epoch()) CHECK(b.size() == 0);
}

TEST_CASE("DataLoader on CIFAR-sized batches is reasonably fast") {
    ImageDataset ds = synthetic(2000, 10, 3, 32, 32);
    LoaderOptions o;
    o.batch_size = 128;
    o.shuffle = true;
    o.augment = Augment{true, 4, true};
    DataLoader<float> dl(all(ds), o);
    double sum = 0;
    for (const auto& b : dl.epoch()) sum += b.images.data()[0];
    CHECK(sum == sum);  // no NaN
}
