// SPDX-License-Identifier: MIT
// Software prefetch of a range of memory, for the kernels that walk planes in an order the
// hardware prefetchers do not follow: a plane per 4 KiB page (32x32 floats), or planes a whole
// image apart. The hardware streamers stop at page boundaries, so the first lines of each new
// plane were read at the full latency of L3 or memory (measured in docs/performance.md).
//
// The address is computed as an integer (base + offset bytes): a prefetch may point past the end
// of the tensor (the plane after the last one), which is harmless for a prefetch but would be
// undefined behaviour as pointer arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>

namespace salun::kernels::cpu::detail {

/// Prefetches `bytes` bytes starting `offset` bytes after `base`, one hint per 64-byte line; for
/// writing when `write` (the line is fetched for ownership, ready for the stores).
inline void prefetch_range(const void* base, std::size_t offset, std::size_t bytes, bool write = false) {
#if defined(__GNUC__)
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(base) + offset;
    for (std::size_t o = 0; o < bytes; o += 64) {
        const void* p = reinterpret_cast<const void*>(a + o);
        if (write)
            __builtin_prefetch(p, 1, 3);
        else
            __builtin_prefetch(p, 0, 3);
    }
#else
    (void)base, (void)offset, (void)bytes, (void)write;
#endif
}

}  // namespace salun::kernels::cpu::detail
