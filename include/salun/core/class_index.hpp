// SPDX-License-Identifier: MIT
// salun::ClassIndex: the one integer type of a class index in the API: a label, a forget class,
// an excluded class. std::int64_t, as PyTorch's class targets (torch.long) and the labels the
// losses take; signed, so that -1 can mean "none" where an API says so. Code that indexes a
// per-class vector with one checks 0 <= c < num_classes first, then casts to std::size_t.
#pragma once

#include <cstdint>

namespace salun {

using ClassIndex = std::int64_t;

}  // namespace salun
