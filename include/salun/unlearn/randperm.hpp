// SPDX-License-Identifier: MIT
// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU, index for index,
// so that the sample sets the seed draws with PyTorch (the CKA "other classes" sets) are the
// same images here. Checked against PyTorch 1.13 in tests/unlearn/test_cka.cpp.
//
// PyTorch seeds its CPU generator's MT19937 with the low 32 bits of the seed (the standard
// MT19937 initialisation, as std::mt19937), and for n below 2^32 / 20 its randperm is a forward
// Fisher-Yates: for i = 0 .. n-2, z = (next 32-bit output) mod (n - i), swap(r[i], r[i + z]).
#pragma once

#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "salun/core/error.hpp"

namespace salun::unlearn {

/// The permutation torch.randperm(n, generator=g) returns, drawing from `gen` (which goes on
/// from where it is, as a torch.Generator does across calls).
inline std::vector<std::int64_t> torch_randperm(std::int64_t n, std::mt19937& gen) {
    SALUN_CHECK(n >= 0 && n < std::int64_t(0xFFFFFFFFu / 20), "torch_randperm: n = ", n,
                " outside the 32-bit path of PyTorch's CPU randperm");
    std::vector<std::int64_t> r(static_cast<std::size_t>(n));
    std::iota(r.begin(), r.end(), std::int64_t(0));
    for (std::int64_t i = 0; i + 1 < n; ++i) {
        const auto z = static_cast<std::int64_t>(gen() % static_cast<std::uint32_t>(n - i));
        std::swap(r[static_cast<std::size_t>(i)], r[static_cast<std::size_t>(i + z)]);
    }
    return r;
}

/// torch.randperm(n, generator=torch.Generator().manual_seed(seed)).
inline std::vector<std::int64_t> torch_randperm(std::int64_t n, std::uint64_t seed) {
    std::mt19937 gen(static_cast<std::uint32_t>(seed & 0xFFFFFFFFu));
    return torch_randperm(n, gen);
}

}  // namespace salun::unlearn
