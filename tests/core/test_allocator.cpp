// SPDX-License-Identifier: MIT
// The tensor block cache (core/allocator.hpp): reuse of freed large blocks (best fit, <= 2x), the
// small-block bypass, the limit (0 = off), empty_cache(), the environment default, and a
// multi-threaded smoke test. The cache is process-wide, so every test starts from an empty cache
// and puts the default limit back when it ends (LimitGuard), whatever it changed in between.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "salun/core/tensor.hpp"

using salun::Tensor;
using salun::detail::kCacheMinBytes;

namespace {

/// Empties the cache and resets its counters on entry; restores the default limit on exit.
class LimitGuard {
public:
    LimitGuard() {
        salun::empty_cache();
        salun::reset_cache_stats();
    }
    ~LimitGuard() { salun::set_cache_limit(salun::detail::default_cache_limit()); }
    LimitGuard(const LimitGuard&) = delete;
    LimitGuard& operator=(const LimitGuard&) = delete;
};

/// Float count of a block of `bytes` (a multiple of 4); odd-looking sizes avoid sharing a free
/// list with buffers other code in this process may have left in the cache.
std::size_t floats(std::size_t bytes) { return bytes / sizeof(float); }

/// Restores (or removes) an environment variable on exit.
class EnvGuard {
public:
    explicit EnvGuard(const char* name) : name_(name) {
        if (const char* v = std::getenv(name)) {
            had_ = true;
            value_ = v;
        }
    }
    ~EnvGuard() {
        if (had_)
            setenv(name_, value_.c_str(), 1);
        else
            unsetenv(name_);
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;

private:
    const char* name_;
    bool had_ = false;
    std::string value_;
};

}  // namespace

TEST_CASE("block cache: a freed large block is handed to the next allocation of the same size") {
    LimitGuard guard;
    salun::set_cache_limit(std::size_t(64) << 20);
    const std::size_t bytes = kCacheMinBytes + 4 * 1031;
    const float* first = nullptr;
    {
        auto t = Tensor<float>::full({floats(bytes)}, 1.5f);
        first = t.data();
        const auto s = salun::cache_stats();
        CHECK(s.misses == 1);
        CHECK(s.hits == 0);
        CHECK(s.cached_bytes == 0);
    }
    auto s = salun::cache_stats();
    CHECK(s.cached_bytes == bytes);
    CHECK(s.cached_blocks == 1);

    auto again = Tensor<float>::empty({floats(bytes)});
    CHECK(again.data() == first);
    s = salun::cache_stats();
    CHECK(s.hits == 1);
    CHECK(s.misses == 1);
    CHECK(s.cached_bytes == 0);
    CHECK(s.cached_blocks == 0);

    // a larger request does not take a smaller block
    {
        auto other = Tensor<float>::empty({floats(bytes) + 16});
        CHECK(other.data() != first);
    }
    s = salun::cache_stats();
    CHECK(s.hits == 1);
    CHECK(s.misses == 2);
    CHECK(s.cached_blocks == 1);  // `other`'s block; `again` is still alive

    // a double tensor of the same byte size shares the free list (keyed by bytes, not type)
    const double* pd = nullptr;
    {
        auto d = Tensor<double>::empty({bytes / sizeof(double)});
        pd = d.data();
    }
    auto d2 = Tensor<double>::empty({bytes / sizeof(double)});
    CHECK(d2.data() == pd);

    // the block comes back 64-byte aligned
    CHECK(reinterpret_cast<std::uintptr_t>(again.data()) % 64 == 0);
}

TEST_CASE("block cache: small blocks bypass it, kCacheMinBytes is the first cached size") {
    LimitGuard guard;
    salun::set_cache_limit(std::size_t(64) << 20);
    {
        auto small = Tensor<float>::ones({floats(kCacheMinBytes) - 1});  // one float short
        auto tiny = Tensor<float>::ones({3, 4});
    }
    auto s = salun::cache_stats();
    CHECK(s.hits == 0);
    CHECK(s.misses == 0);
    CHECK(s.cached_bytes == 0);
    CHECK(s.cached_blocks == 0);

    { auto edge = Tensor<float>::ones({floats(kCacheMinBytes)}); }
    s = salun::cache_stats();
    CHECK(s.misses == 1);
    CHECK(s.cached_bytes == kCacheMinBytes);
    CHECK(s.cached_blocks == 1);
}

TEST_CASE("block cache: the limit bounds the free bytes; 0 turns caching off and frees the cache") {
    LimitGuard guard;
    const std::size_t bytes = std::size_t(1) << 20;  // 1 MiB blocks
    salun::set_cache_limit(bytes + bytes / 2);       // room for one block, not two
    {
        auto a = Tensor<float>::empty({floats(bytes)});
        auto b = Tensor<float>::empty({floats(bytes)});
    }
    auto s = salun::cache_stats();
    CHECK(s.cached_blocks == 1);
    CHECK(s.cached_bytes == bytes);
    CHECK(s.limit_bytes == bytes + bytes / 2);

    salun::set_cache_limit(0);  // below what is cached: everything goes back to the system
    s = salun::cache_stats();
    CHECK(s.limit_bytes == 0);
    CHECK(s.cached_bytes == 0);
    CHECK(s.cached_blocks == 0);

    salun::reset_cache_stats();
    for (int k = 0; k < 3; ++k) {
        auto t = Tensor<float>::full({floats(bytes)}, float(k));
        CHECK(t.data()[floats(bytes) - 1] == float(k));
    }
    s = salun::cache_stats();
    CHECK(s.hits == 0);
    CHECK(s.misses == 3);
    CHECK(s.cached_bytes == 0);
    CHECK(s.cached_blocks == 0);
}

TEST_CASE("block cache: empty_cache returns every free block and leaves live tensors alone") {
    LimitGuard guard;
    salun::set_cache_limit(std::size_t(64) << 20);
    auto live = Tensor<float>::full({floats(kCacheMinBytes) * 2}, 7.0f);
    for (std::size_t k = 1; k <= 4; ++k) auto t = Tensor<float>::empty({floats(kCacheMinBytes) * k + 64});
    auto s = salun::cache_stats();
    CHECK(s.cached_blocks == 4);
    CHECK(s.cached_bytes > 0);

    salun::empty_cache();
    s = salun::cache_stats();
    CHECK(s.cached_bytes == 0);
    CHECK(s.cached_blocks == 0);
    CHECK(s.limit_bytes == std::size_t(64) << 20);  // the limit is untouched
    std::size_t changed = 0;
    for (float v : live) changed += v != 7.0f;
    CHECK(changed == 0);

    // the live block is cached when it dies, as any other
    live = Tensor<float>();
    CHECK(salun::cache_stats().cached_bytes == kCacheMinBytes * 2);
}

TEST_CASE("block cache: SALUN_CACHE_LIMIT_MB sets the default limit (4 GiB without it)") {
    EnvGuard env("SALUN_CACHE_LIMIT_MB");
    using salun::detail::default_cache_limit;
    unsetenv("SALUN_CACHE_LIMIT_MB");
    CHECK(default_cache_limit() == std::size_t(4) << 30);
    setenv("SALUN_CACHE_LIMIT_MB", "512", 1);
    CHECK(default_cache_limit() == std::size_t(512) << 20);
    setenv("SALUN_CACHE_LIMIT_MB", "0", 1);
    CHECK(default_cache_limit() == 0);
    for (const char* bad : {"", "abc", "12x", "1.5", "-1", "+5", " 7", "99999999999999999999999"}) {
        CAPTURE(bad);
        setenv("SALUN_CACHE_LIMIT_MB", bad, 1);
        CHECK(default_cache_limit() == std::size_t(4) << 30);  // not a number: the default
    }
}

TEST_CASE("block cache: allocating and freeing from several OpenMP threads") {
    LimitGuard guard;
    salun::set_cache_limit(std::size_t(16) << 20);  // small: some frees overflow it and go to the system
    const std::size_t sizes[] = {floats(kCacheMinBytes), floats(kCacheMinBytes) + 16, floats(kCacheMinBytes) * 3,
                                 100};  // the last one is below the cache threshold
    constexpr int kThreads = 4, kRounds = 200;
    int corrupted = 0;
#pragma omp parallel for num_threads(kThreads) schedule(static, 1) reduction(+ : corrupted)
    for (int t = 0; t < kThreads; ++t) {
        std::vector<Tensor<float>> held;
        for (int r = 0; r < kRounds; ++r) {
            const std::size_t n = sizes[(t + r) % 4];
            const float tag = float(t * 1000 + r);
            auto x = Tensor<float>::full({n}, tag);
            held.push_back(x);
            if (held.size() > 3) {  // keep a few alive so that blocks are in use by several threads at once
                const Tensor<float>& old = held.front();
                for (float v : old) corrupted += v != old.data()[0];
                held.erase(held.begin());
            }
            for (float v : x) corrupted += v != tag;  // nobody else wrote into our block
        }
    }
    CHECK(corrupted == 0);
    const auto s = salun::cache_stats();
    CHECK(s.hits + s.misses == std::size_t(kThreads * kRounds * 3 / 4));  // every cacheable allocation counted once
    CHECK(s.hits > 0);
    CHECK(s.cached_bytes <= s.limit_bytes);
    CHECK(s.cached_bytes >= s.cached_blocks * kCacheMinBytes);
}

TEST_CASE("block cache: best fit, a smaller request reuses a block at most twice its size") {
    LimitGuard guard;
    salun::empty_cache();
    salun::set_cache_limit(std::size_t(64) << 20);
    const std::size_t big = 4 * kCacheMinBytes;
    const float* p = nullptr;
    {
        auto t = Tensor<float>::empty({floats(big)});
        p = t.data();
    }
    {  // 72/128 of the size (an epoch's last batch): served by the big block
        auto t = Tensor<float>::empty({floats(big) * 72 / 128});
        CHECK(t.data() == p);
        std::fill(t.begin(), t.end(), 2.0f);  // the whole request is usable
    }
    CHECK(salun::cache_stats().cached_bytes == big);  // and the block goes back with its full capacity
    {  // under half the size: not worth the waste, a new block
        auto t = Tensor<float>::empty({floats(big) / 2 - 16});
        CHECK(t.data() != p);
    }
    {  // the smallest fitting block wins: two cached blocks, the request fits both
        auto a = Tensor<float>::empty({floats(big)});
        auto b = Tensor<float>::empty({floats(big) * 3 / 4});
        const float* pb = b.data();
        a = Tensor<float>();
        b = Tensor<float>();
        auto c = Tensor<float>::empty({floats(big) * 5 / 8});
        CHECK(c.data() == pb);
    }
}
