// SPDX-License-Identifier: MIT
// Small helpers shared by the CPU kernels: OpenMP queries that also compile without OpenMP, and
// a grow-only, 64-byte aligned scratch buffer meant to be held thread_local (no allocation once
// warm).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace salun::kernels::cpu::detail {

inline bool in_parallel() {
#if defined(_OPENMP)
    return omp_in_parallel() != 0;
#else
    return false;
#endif
}

inline int max_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int thread_id() {
#if defined(_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/// Threads a top-level kernel may use for `work` units (roughly flops): 1 inside an enclosing
/// parallel region or for small problems, else omp_get_max_threads().
inline int threads_for(double work, double min_work_per_thread = 1 << 16) {
    if (in_parallel()) return 1;
    int nt = max_threads();
    while (nt > 1 && work / nt < min_work_per_thread) --nt;
    return nt < 1 ? 1 : nt;
}

/// out[i] = sum over threads u of partial[u][i] (null partials skipped), added in thread order so
/// the result is deterministic for a fixed thread count. Call from every thread of an enclosing
/// parallel region after a barrier: the loop is shared among them (an orphaned `omp for`).
template <class T>
void sum_partials_in_order(const std::vector<T*>& partial, std::size_t n, T* out) {
#pragma omp for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
        T s = T(0);
        for (T* part : partial)
            if (part) s += part[i];
        out[i] = s;
    }
}

/// Grow-only aligned scratch memory. Contents are not preserved across grow().
template <class T>
class AlignedBuffer {
public:
    static constexpr std::size_t alignment = 64;
    AlignedBuffer() = default;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { std::free(data_); }

    /// Pointer to at least n elements (64-byte aligned).
    T* get(std::size_t n) {
        if (n > cap_) {
            std::free(data_);
            data_ = nullptr;
            cap_ = 0;
            std::size_t bytes = (n * sizeof(T) + alignment - 1) / alignment * alignment;
            data_ = static_cast<T*>(std::aligned_alloc(alignment, bytes));
            if (!data_) throw std::bad_alloc();
            cap_ = n;
        }
        return data_;
    }
    std::size_t capacity() const { return cap_; }

private:
    T* data_ = nullptr;
    std::size_t cap_ = 0;
};

}  // namespace salun::kernels::cpu::detail
