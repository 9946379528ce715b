// SPDX-License-Identifier: MIT
// salun::Generator: the one seeded random source for initialisation, shuffling and labels.
// Built on std::mt19937_64 (bit-exact across standard libraries) with our own distributions,
// because std::uniform_int_distribution and friends differ between implementations.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <utility>

#include "salun/core/error.hpp"

namespace salun {

class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}

    void manual_seed(std::uint64_t seed) {
        engine_.seed(seed);
        has_spare_ = false;
    }

    std::uint64_t next_u64() { return engine_(); }

    /// The whole state as text (torch.Generator.get_state's role): the engine's standard
    /// textual form, then the spare normal. set_state(get_state()) continues the same sequence
    /// bit for bit, on any platform (the text of std::mt19937_64 is fixed by the standard).
    std::string get_state() const {
        std::uint64_t spare_bits = 0;
        std::memcpy(&spare_bits, &spare_, sizeof spare_bits);
        std::ostringstream os;
        os << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ' << spare_bits;
        return os.str();
    }

    /// Restores a state from get_state(); a malformed one is an error and changes nothing.
    void set_state(const std::string& state) {
        std::istringstream is(state);
        std::mt19937_64 engine;
        int has_spare = -1;
        std::uint64_t spare_bits = 0;
        is >> engine >> has_spare >> spare_bits;
        SALUN_CHECK(!is.fail() && (has_spare == 0 || has_spare == 1) && (is >> std::ws).eof(),
                    "Generator::set_state: not a generator state (", state.size(), " characters)");
        engine_ = engine;
        has_spare_ = has_spare == 1;
        std::memcpy(&spare_, &spare_bits, sizeof spare_);
    }

    /// Uniform in [0, 1) with 53 random bits.
    double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }

    /// Standard normal (Box-Muller; the second value is kept for the next call).
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = 0.0;
        while (u1 <= 0.0) u1 = uniform01();
        const double u2 = uniform01();
        const double r = std::sqrt(-2.0 * std::log(u1));
        const double theta = 6.283185307179586476925 * u2;
        spare_ = r * std::sin(theta);
        has_spare_ = true;
        return r * std::cos(theta);
    }

    double normal(double mean, double std) { return mean + std * normal(); }

    /// Unbiased integer in [0, n) (rejection sampling), n > 0.
    std::uint64_t randint(std::uint64_t n) {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        std::uint64_t x;
        do {
            x = next_u64();
        } while (x >= limit);
        return x % n;
    }

    /// Fisher-Yates shuffle of [first, last) with randint, so every platform gives the same order.
    template <class It>
    void shuffle(It first, It last) {
        const auto n = static_cast<std::uint64_t>(last - first);
        for (std::uint64_t i = n; i > 1; --i) {
            const auto j = randint(i);
            using std::swap;
            swap(first[i - 1], first[j]);
        }
    }

private:
    std::mt19937_64 engine_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

/// The process-wide generator used when no generator is passed (like torch.manual_seed).
inline Generator& default_generator() {
    static Generator gen(0);
    return gen;
}

inline void manual_seed(std::uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace salun
