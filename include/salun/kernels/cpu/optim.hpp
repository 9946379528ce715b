// SPDX-License-Identifier: MIT
// The CPU kernels of an optimiser step and of SalUn's gradient mask: one pass over a
// parameter-sized array each, the CPU twins of kernels/device.hpp's sum_squares, scale_inplace,
// mask_multiply, abs_accumulate and sgd_update. Each element gets the operations of the plain
// loop it replaces (kernels/elementwise.hpp's bodies; where the build fuses multiplies and adds,
// the vector loop may fuse SGD's differently, a few ulps); arrays of more than kParallelValues
// values are shared among the threads, and every loop is written so that the compiler vectorises
// it (no per-element calls or branches).
// Why: a SalUn step on ResNet-18 (11.2M parameters) ends with four global gradient norms, the
// mask, the clip and the SGD update. As scalar loops (a serial double sum, `numel()` evaluated
// per element) they took 214 ms per step on an Intel Xeon at 1 and 2 threads, a tenth to a sixth
// of the whole step (docs/performance.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "salun/kernels/cpu/threading.hpp"
#include "salun/kernels/elementwise.hpp"

namespace salun::kernels::cpu {

/// Arrays of more than this many values are shared among the threads (the threshold the
/// element-wise ops and autograd's gradient sums write as `n > (1u << 16)`).
constexpr std::size_t kParallelValues = std::size_t(1) << 16;

/// Values per block of sum_squares: the unit whose partial sum is the same for every thread count.
constexpr std::size_t kSumSquaresBlock = std::size_t(1) << 14;

namespace detail {

/// sum of x[i]^2 over [i0, i1) in double, in vector lanes.
template <class T>
double sum_squares_range(const T* x, std::size_t i0, std::size_t i1) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (std::size_t i = i0; i < i1; ++i) s += double(x[i]) * double(x[i]);
    return s;
}

}  // namespace detail

/// sum of x[i]^2, accumulated in double. Blocks of kSumSquaresBlock values are summed
/// independently, then the block sums in order: the result does not depend on the thread count,
/// only on the build's vector width.
template <class T>
double sum_squares(const T* x, std::size_t n) {
    const std::size_t blocks = (n + kSumSquaresBlock - 1) / kSumSquaresBlock;
    if (blocks <= 1) return detail::sum_squares_range(x, 0, n);
    std::vector<double> part(blocks);
#pragma omp parallel for schedule(static) if (n > kParallelValues)
    for (std::size_t b = 0; b < blocks; ++b)
        part[b] = detail::sum_squares_range(x, b * kSumSquaresBlock, std::min(n, (b + 1) * kSumSquaresBlock));
    double s = 0;
    for (const double p : part) s += p;
    return s;
}

/// y[i] = T(y[i] * s), the product in double (clip_grad_norm's scaling).
template <class T>
void scale_inplace(T* y, double s, std::size_t n) {
#pragma omp parallel for simd if (n > kParallelValues)
    for (std::size_t i = 0; i < n; ++i) y[i] = T(double(y[i]) * s);
}

/// g[i] *= m[i] (SalUn's masked gradient).
template <class T>
void mask_multiply(T* g, const T* m, std::size_t n) {
#pragma omp parallel for simd if (n > kParallelValues)
    for (std::size_t i = 0; i < n; ++i) g[i] *= m[i];
}

/// acc[i] += |g[i]| (the saliency map's sum).
template <class T>
void abs_accumulate(T* acc, const T* g, std::size_t n) {
#pragma omp parallel for simd if (n > kParallelValues)
    for (std::size_t i = 0; i < n; ++i) acc[i] += ew::abs(g[i]);
}

namespace detail {

/// sgd_update's loop for one combination of momentum buffer and mask, so that neither is a
/// per-element branch. A masked-out element is stored back unchanged.
template <bool kMomentum, bool kMask, class T>
void sgd_loop(T* w, const T* g, T* buf, const T* mask, std::size_t n, const ew::SgdStep<T>& s) {
    const ew::SgdStep<T> st = s;  // a private copy per thread: the stores cannot alias it
#pragma omp parallel for simd firstprivate(st) if (n > kParallelValues)
    for (std::size_t i = 0; i < n; ++i) {
        T wi = w[i];
        T bi = kMomentum ? buf[i] : T(0);
        ew::sgd_update(wi, g[i], kMomentum ? &bi : nullptr, st);
        const bool moves = !kMask || mask[i] != T(0);
        w[i] = moves ? wi : w[i];
        if (kMomentum) buf[i] = moves ? bi : buf[i];
    }
}

}  // namespace detail

/// One SGD step over n weights (ew::sgd_update per element): buf is the momentum buffer (null
/// without momentum), mask null or 0/1, where 0 leaves both the weight and its buffer unchanged.
template <class T>
void sgd_update(T* w, const T* g, T* buf, const T* mask, std::size_t n, const ew::SgdStep<T>& s) {
    if (buf && mask) return detail::sgd_loop<true, true>(w, g, buf, mask, n, s);
    if (buf) return detail::sgd_loop<true, false>(w, g, buf, mask, n, s);
    if (mask) return detail::sgd_loop<false, true>(w, g, buf, mask, n, s);
    detail::sgd_loop<false, false>(w, g, buf, mask, n, s);
}

}  // namespace salun::kernels::cpu
