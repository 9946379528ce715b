// SPDX-License-Identifier: MIT
// Tensor storage allocation with a block cache (the CPU analogue of PyTorch's CUDA caching
// allocator).
//
// Why: a training step allocates the same few hundred buffers (activations, gradients) every
// time, many of them tens of MiB. glibc serves blocks above 32 MiB with a fresh mmap, so without a
// cache every step pays page faults and the kernel's zeroing of ~1 GiB. Here a freed large block
// is kept in a free list ordered by size and handed back to the next request it fits (best fit, at
// most twice the request, so the last, smaller batch of an epoch or an evaluation batch reuses the
// training blocks instead of adding a second set); after the first step a training loop
// allocates no new memory.
//
// Contract:
//   * Blocks of at least `kCacheMinBytes` go through the cache; smaller ones go straight to the
//     system allocator (malloc already recycles those cheaply). A request takes the smallest
//     cached block of at least its size and at most twice it.
//   * The cache holds at most `cache_limit()` bytes of *free* blocks (default 4 GiB, or
//     $SALUN_CACHE_LIMIT_MB; 0 turns caching off). A block freed beyond the limit is returned to
//     the system.
//   * `empty_cache()` returns every cached block to the system (like torch.cuda.empty_cache).
//   * Thread-safe (one mutex; a step makes a few hundred allocations, so contention is nil).
//   * Memory is 64-byte aligned and uninitialised, as before.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <map>

namespace salun {

/// Counters of the tensor block cache (bytes and calls since the start or reset_cache_stats()).
struct CacheStats {
    std::size_t cached_bytes = 0;  // free blocks held now
    std::size_t cached_blocks = 0;
    std::size_t hits = 0;          // allocations served from the cache
    std::size_t misses = 0;        // cacheable allocations that went to the system
    std::size_t limit_bytes = 0;
};

namespace detail {

constexpr std::size_t kStorageAlignment = 64;
constexpr std::size_t kCacheMinBytes = std::size_t(1) << 18;  // 256 KiB

inline std::size_t default_cache_limit() {
    if (const char* env = std::getenv("SALUN_CACHE_LIMIT_MB")) {
        // digits only (no sign), and small enough not to overflow; anything else: the default
        char* end = nullptr;
        const unsigned long long mb = std::strtoull(env, &end, 10);
        if (env[0] >= '0' && env[0] <= '9' && end != env && *end == '\0' && mb <= (std::size_t(-1) >> 20))
            return std::size_t(mb) << 20;
    }
    return std::size_t(4) << 30;
}

inline void* system_alloc(std::size_t bytes) {
    const std::size_t rounded = (bytes + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
    void* p = std::aligned_alloc(kStorageAlignment, rounded == 0 ? kStorageAlignment : rounded);
    if (!p) throw std::bad_alloc();
    return p;
}

class BlockCache {
public:
    /// The process-wide cache. Never destroyed: tensors in static objects may be freed after
    /// main() returns, and the OS reclaims the blocks at exit anyway.
    static BlockCache& instance() {
        static BlockCache* cache = new BlockCache();
        return *cache;
    }

    /// Cacheable blocks carry a 64-byte header with their capacity (a block may serve a smaller
    /// request than it was made for), so deallocate() need not be told the real size.
    void* allocate(std::size_t bytes) {
        if (bytes < kCacheMinBytes) return system_alloc(bytes);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = free_.lower_bound(bytes);  // smallest cached block that fits
            if (it != free_.end() && it->first / 2 <= bytes) {
                void* block = it->second;
                cached_ -= it->first;
                free_.erase(it);
                ++hits_;
                return static_cast<char*>(block) + kStorageAlignment;
            }
            ++misses_;
        }
        char* block = static_cast<char*>(system_alloc(bytes + kStorageAlignment));
        *reinterpret_cast<std::size_t*>(block) = bytes;
        return block + kStorageAlignment;
    }

    void deallocate(void* p, std::size_t bytes) noexcept {
        if (!p) return;
        if (bytes < kCacheMinBytes) {
            std::free(p);
            return;
        }
        char* block = static_cast<char*>(p) - kStorageAlignment;
        const std::size_t capacity = *reinterpret_cast<const std::size_t*>(block);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (cached_ + capacity <= limit_) {
                try {
                    free_.emplace(capacity, block);
                    cached_ += capacity;
                    return;
                } catch (...) {  // no room for the bookkeeping: just free the block
                }
            }
        }
        std::free(block);
    }

    void empty() {
        std::lock_guard<std::mutex> lock(mutex_);
        release_locked();
    }

    void set_limit(std::size_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        limit_ = bytes;
        if (cached_ > limit_) release_locked();
    }

    CacheStats stats() {
        std::lock_guard<std::mutex> lock(mutex_);
        CacheStats s;
        s.cached_bytes = cached_;
        s.cached_blocks = free_.size();
        s.hits = hits_;
        s.misses = misses_;
        s.limit_bytes = limit_;
        return s;
    }

    void reset_stats() {
        std::lock_guard<std::mutex> lock(mutex_);
        hits_ = misses_ = 0;
    }

private:
    BlockCache() : limit_(default_cache_limit()) {}

    void release_locked() {
        for (auto& [size, block] : free_) std::free(block);
        free_.clear();
        cached_ = 0;
    }

    std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;  // capacity -> block (header included)
    std::size_t cached_ = 0, hits_ = 0, misses_ = 0, limit_;
};

}  // namespace detail

/// Standard allocator for tensor storage, served by the block cache.
template <class T>
struct caching_allocator {
    using value_type = T;
    caching_allocator() noexcept = default;
    template <class U>
    caching_allocator(const caching_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > std::size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(detail::BlockCache::instance().allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { detail::BlockCache::instance().deallocate(p, n * sizeof(T)); }

    template <class U>
    struct rebind {
        using other = caching_allocator<U>;
    };
    template <class U>
    bool operator==(const caching_allocator<U>&) const noexcept {
        return true;
    }
    template <class U>
    bool operator!=(const caching_allocator<U>&) const noexcept {
        return false;
    }
};

/// Returns every cached free block to the system (live tensors are untouched).
inline void empty_cache() { detail::BlockCache::instance().empty(); }

/// Most bytes of free blocks the cache may hold; 0 disables caching. Lowering it frees blocks.
inline void set_cache_limit(std::size_t bytes) { detail::BlockCache::instance().set_limit(bytes); }

inline CacheStats cache_stats() { return detail::BlockCache::instance().stats(); }
inline void reset_cache_stats() { detail::BlockCache::instance().reset_stats(); }

}  // namespace salun
