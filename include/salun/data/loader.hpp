// SPDX-License-Identifier: MIT
// salun::data::DataLoader: shuffled, normalised (optionally augmented) batches from a Subset.
//
//   DataLoader<float> loader(split.retain, {.batch_size = 128, .shuffle = true, .seed = 2048});
//   for (int e = 0; e < epochs; ++e)
//       for (const Batch<float>& b : loader.epoch()) { ... b.images [B,3,32,32], b.labels ... }
//
// Reproducibility: the loader owns one Generator, seeded once with options.seed. Each call to
// epoch() draws that epoch's permutation (Fisher-Yates) and one 64-bit augmentation seed from it,
// so the sequence of epochs is a pure function of the seed, however much of each epoch is
// consumed. Augmentation for batch b of an epoch uses a Generator seeded from (augmentation seed,
// b), so any batch can be rebuilt on its own (Epoch::batch(b)) and the result does not depend on
// the thread count. The last partial batch is kept unless drop_last.
//
// Buffers: an Epoch reuses its batch tensor when nobody else holds it; keep a copy of
// `b.images` (a handle) and the next batch gets fresh storage instead, so it is never overwritten
// under you. An Epoch refers to its loader: keep the loader alive (and in place) while iterating.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "salun/core/class_index.hpp"
#include "salun/core/error.hpp"
#include "salun/core/random.hpp"
#include "salun/core/tensor.hpp"
#include "salun/data/subset.hpp"
#include "salun/data/transforms.hpp"

namespace salun::data {

/// Where a loader is in its sequence of epochs: enough to continue it exactly (a resumed run).
struct LoaderState {
    std::size_t epochs_started = 0;
    std::string generator;  ///< Generator::get_state()
};

template <class T>
struct Batch {
    Tensor<T> images;                   ///< [B, C, H, W], normalised
    std::vector<ClassIndex> labels;     ///< B labels
    std::vector<std::size_t> indices;   ///< B dataset indices
    std::size_t size() const { return labels.size(); }
};

struct LoaderOptions {
    std::size_t batch_size = 128;
    bool shuffle = false;
    std::uint64_t seed = 0;
    std::optional<Normalize> normalize = cifar10_normalize();  ///< nullopt: pixels / 255 only
    Augment augment{};                                          ///< crop / flip, off by default
    bool drop_last = false;
    /// Where batches are delivered: images are decoded and normalised on the CPU, then copied
    /// to this device once per batch (labels stay on the host: losses take them as a vector).
    Device device = Device::cpu;
};

namespace detail {
/// splitmix64: decorrelates (seed, batch index) pairs into generator seeds.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
}  // namespace detail

/// Builds a batch from dataset indices `idx` into `out` (reusing out.images when it is not shared).
/// `aug_gen` is used only when aug.any(); draws happen in index order, before the parallel part.
template <class T>
void assemble_batch(const ImageDataset& ds, const std::size_t* idx, std::size_t n, const PixelTable& table,
                    const Augment& aug, Generator* aug_gen, Batch<T>& out, std::vector<std::uint8_t>& scratch) {
    const std::size_t C = ds.channels, H = ds.height, W = ds.width, img = ds.image_bytes(), hw = H * W;
    SALUN_CHECK(C >= 1 && C <= 3, "assemble_batch: dataset has ", C, " channels, 1..3 supported");
    const Shape shape{n, C, H, W};
    const auto& impl = out.images.impl_ptr();
    const bool reusable = impl && impl.use_count() == 1 && impl->storage.use_count() == 1 && !impl->requires_grad &&
                          out.images.shape() == shape;
    if (!reusable) out.images = Tensor<T>::empty(shape);
    out.labels.resize(n);
    out.indices.assign(idx, idx + n);
    for (std::size_t i = 0; i < n; ++i) {
        SALUN_CHECK(idx[i] < ds.size(), "assemble_batch: index ", idx[i], " out of range for ", ds.size(), " images");
        out.labels[i] = ds.labels[idx[i]];
    }
    std::vector<CropFlip> params;
    if (aug.any()) {
        SALUN_CHECK(aug_gen, "assemble_batch: augmentation needs a generator");
        params.resize(n);
        for (std::size_t i = 0; i < n; ++i) params[i] = draw_crop_flip(aug, *aug_gen);
        scratch.resize(n * img);
    }
    T* dst = out.images.data();
    const std::uint8_t* pixels = ds.pixels.data();
    const bool augment = aug.any();
    const auto count = static_cast<long>(n);
#pragma omp parallel for schedule(static) if (n * img >= (std::size_t{1} << 16))
    for (long li = 0; li < count; ++li) {
        const auto i = static_cast<std::size_t>(li);
        const std::uint8_t* src = pixels + idx[i] * img;
        if (augment) {
            std::uint8_t* tmp = scratch.data() + i * img;
            apply_crop_flip(src, tmp, C, H, W, aug.padding, params[i]);
            src = tmp;
        }
        table.apply(src, dst + i * img, C, hw);
    }
}

template <class T>
class DataLoader {
public:
    class Epoch;

    DataLoader(Subset subset, LoaderOptions options)
        : subset_(std::move(subset)), opts_(std::move(options)), table_(opts_.normalize), gen_(opts_.seed) {
        SALUN_CHECK(subset_.dataset, "DataLoader: subset has no dataset");
        SALUN_CHECK(opts_.batch_size > 0, "DataLoader: batch_size must be > 0");
        const ImageDataset& ds = *subset_.dataset;
        SALUN_CHECK(ds.channels >= 1 && ds.channels <= 3, "DataLoader: dataset has ", ds.channels,
                    " channels, 1..3 supported");
        SALUN_CHECK(ds.pixels.size() == ds.size() * ds.image_bytes(), "DataLoader: dataset holds ", ds.pixels.size(),
                    " pixel bytes, expected ", ds.size(), " x ", ds.image_bytes());
        for (std::size_t i : subset_.indices)
            SALUN_CHECK(i < ds.size(), "DataLoader: subset index ", i, " out of range for ", ds.size(), " images");
    }

    /// Number of samples in the subset (one epoch visits size() samples, minus a dropped tail).
    std::size_t size() const { return subset_.size(); }
    std::size_t batch_size() const { return opts_.batch_size; }
    /// Batches per epoch (the partial last batch counts unless drop_last).
    std::size_t num_batches() const {
        const std::size_t n = size(), bs = opts_.batch_size;
        return opts_.drop_last ? n / bs : (n + bs - 1) / bs;
    }
    const Subset& subset() const { return subset_; }
    const LoaderOptions& options() const { return opts_; }
    /// Epochs drawn so far.
    std::size_t epochs_started() const { return epochs_; }

    /// Restarts the sequence of epochs as if freshly constructed with `seed`.
    void manual_seed(std::uint64_t seed) {
        opts_.seed = seed;
        gen_.manual_seed(seed);
        epochs_ = 0;
    }

    /// The position in the sequence of epochs; load_state() continues from it, so the next
    /// epoch() draws the same order and augmentation as it would have here.
    LoaderState state() const { return {epochs_, gen_.get_state()}; }
    void load_state(const LoaderState& s) {
        gen_.set_state(s.generator);
        epochs_ = s.epochs_started;
    }

    /// Draws the next epoch (its order and augmentation seed). Iterate it once or index batches.
    Epoch epoch() {
        std::vector<std::size_t> order = subset_.indices;
        if (opts_.shuffle) gen_.shuffle(order.begin(), order.end());
        const std::uint64_t aug_seed = gen_.next_u64();
        ++epochs_;
        return Epoch(this, std::move(order), aug_seed);
    }

    class Epoch {
    public:
        /// Batches in this epoch.
        std::size_t size() const { return num_batches_; }
        /// Dataset indices in the order this epoch visits them (all of them, before drop_last).
        const std::vector<std::size_t>& order() const { return order_; }

        /// Assembles batch b (deterministic for this epoch: rebuilding it gives the same batch).
        /// The reference stays valid until the next call.
        const Batch<T>& batch(std::size_t b) & {
            SALUN_CHECK(b < num_batches_, "DataLoader::Epoch::batch: batch ", b, " out of range (", num_batches_,
                        " batches)");
            if (built_ && *built_ == b) return batch_;
            built_.reset();
            const LoaderOptions& o = loader_->opts_;
            const std::size_t start = b * o.batch_size;
            const std::size_t n = std::min(o.batch_size, order_.size() - start);
            Generator gen(detail::mix_seed(aug_seed_, b));
            assemble_batch<T>(*loader_->subset_.dataset, order_.data() + start, n, loader_->table_, o.augment,
                              &gen, batch_, scratch_);
            if (o.device != Device::cpu) batch_.images = batch_.images.to(o.device);
            built_ = b;
            return batch_;
        }

        /// On a temporary epoch (`loader.epoch().batch(0)`) the batch is returned by value, so
        /// it cannot dangle.
        Batch<T> batch(std::size_t b) && {
            batch(b);
            Batch<T> out = std::move(batch_);
            built_.reset();
            return out;
        }

        class iterator {
        public:
            using iterator_category = std::input_iterator_tag;
            using value_type = Batch<T>;
            using difference_type = std::ptrdiff_t;
            using pointer = const Batch<T>*;
            using reference = const Batch<T>&;

            iterator(Epoch* e, std::size_t b) : e_(e), b_(b) {}
            reference operator*() const { return e_->batch(b_); }
            pointer operator->() const { return &e_->batch(b_); }
            iterator& operator++() {
                ++b_;
                return *this;
            }
            bool operator==(const iterator& o) const { return b_ == o.b_; }
            bool operator!=(const iterator& o) const { return b_ != o.b_; }
            /// Position of the batch in the epoch.
            std::size_t index() const { return b_; }

        private:
            Epoch* e_;
            std::size_t b_;
        };

        iterator begin() { return iterator(this, 0); }
        iterator end() { return iterator(this, num_batches_); }

    private:
        friend class DataLoader;
        Epoch(const DataLoader* loader, std::vector<std::size_t> order, std::uint64_t aug_seed)
            : loader_(loader), order_(std::move(order)), aug_seed_(aug_seed), num_batches_(loader->num_batches()) {}

        const DataLoader* loader_;
        std::vector<std::size_t> order_;
        std::uint64_t aug_seed_;
        std::size_t num_batches_;
        std::optional<std::size_t> built_;
        Batch<T> batch_;
        std::vector<std::uint8_t> scratch_;
    };

private:
    Subset subset_;
    LoaderOptions opts_;
    PixelTable table_;
    Generator gen_;
    std::size_t epochs_ = 0;
};

}  // namespace salun::data
