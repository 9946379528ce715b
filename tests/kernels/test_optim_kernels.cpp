// SPDX-License-Identifier: MIT
// The optimiser's CPU kernels (kernels/cpu/optim.hpp) against the plain per-element loops they
// replace, on both sides of the threading threshold: the same bits for the one-operation loops;
// for SGD the same up to how the compiler fuses multiplies and adds (a few ulps: the vector
// loop and a scalar one may contract m * buf + c * d into different FMAs); sum_squares against a
// long-double sum and the same bits on every thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernel_test_utils.hpp"
#include "salun/kernels/cpu/optim.hpp"

namespace kc = salun::kernels::cpu;
namespace ew = salun::kernels::ew;

namespace {

// below one block, one block, a partial last block, and past the threading threshold
const std::vector<std::size_t> kSizes{0, 1, 31, kc::kSumSquaresBlock, 3 * kc::kSumSquaresBlock + 5,
                                      2 * kc::kParallelValues + 7};

/// a and b equal up to a few roundings of terms of magnitude <= 2 (the SGD inputs are in [-1, 1]).
template <class T>
bool within_contraction(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > 8 * std::numeric_limits<T>::epsilon()) return false;
    return true;
}

}  // namespace

TEST_CASE_TEMPLATE("sum_squares: a long-double sum's value, the same bits on every thread count", T, float, double) {
    for (const std::size_t n : kSizes) {
        CAPTURE(n);
        const std::vector<T> x = salun_test::random_vector<T>(n, unsigned(n) + 1, T(-3), T(3));
        long double ref = 0;
        for (const T v : x) ref += (long double)v * (long double)v;
        const double got = kc::sum_squares(x.data(), n);
        CHECK(got == doctest::Approx(double(ref)).epsilon(1e-12));
#if defined(_OPENMP)
        salun_test::for_thread_counts({1, 2, 3}, [&] { CHECK(kc::sum_squares(x.data(), n) == got); });
#endif
    }
}

TEST_CASE_TEMPLATE("scale_inplace, mask_multiply, abs_accumulate: the per-element loop's bits", T, float, double) {
    for (const std::size_t n : kSizes) {
        CAPTURE(n);
        const std::vector<T> a = salun_test::random_vector<T>(n, 7, T(-2), T(2));
        const std::vector<T> b = salun_test::random_vector<T>(n, 8, T(-2), T(2));
        std::vector<T> mask(n);
        for (std::size_t i = 0; i < n; ++i) mask[i] = T(i % 3 == 0 ? 0 : 1);

        std::vector<T> got = a, want = a;
        kc::scale_inplace(got.data(), 0.3712, n);
        for (std::size_t i = 0; i < n; ++i) want[i] = T(double(want[i]) * 0.3712);
        CHECK(got == want);

        got = a, want = a;
        kc::mask_multiply(got.data(), mask.data(), n);
        for (std::size_t i = 0; i < n; ++i) want[i] *= mask[i];
        CHECK(got == want);

        got = a, want = a;
        kc::abs_accumulate(got.data(), b.data(), n);
        for (std::size_t i = 0; i < n; ++i) want[i] += std::abs(b[i]);
        CHECK(got == want);
    }
}

TEST_CASE_TEMPLATE("sgd_update: ew::sgd_update per element; masked-out weights and buffers do not move", T, float,
                   double) {
    for (const std::size_t n : {std::size_t(37), 2 * kc::kParallelValues + 7}) {
        const std::vector<T> w0 = salun_test::random_vector<T>(n, 11), g = salun_test::random_vector<T>(n, 12);
        const std::vector<T> b0 = salun_test::random_vector<T>(n, 13);
        std::vector<T> mask(n);
        for (std::size_t i = 0; i < n; ++i) mask[i] = T(i % 4 == 1 ? 0 : 1);
        for (const bool momentum : {false, true})
            for (const bool masked : {false, true})
                for (const bool first : {false, true})
                    for (const bool nesterov : {false, true}) {
                        CAPTURE(n);
                        CAPTURE(momentum);
                        CAPTURE(masked);
                        CAPTURE(first);
                        CAPTURE(nesterov);
                        const ew::SgdStep<T> st{T(0.1), momentum ? T(0.9) : T(0), T(0.75), T(5e-4),
                                                momentum && nesterov, first};
                        std::vector<T> w = w0, b = b0, wr = w0, br = b0;
                        kc::sgd_update(w.data(), g.data(), momentum ? b.data() : nullptr,
                                       masked ? mask.data() : nullptr, n, st);
                        for (std::size_t i = 0; i < n; ++i) {
                            if (masked && mask[i] == T(0)) continue;
                            ew::sgd_update(wr[i], g[i], momentum ? &br[i] : nullptr, st);
                        }
                        CHECK(within_contraction(w, wr));
                        CHECK(within_contraction(b, br));
                        bool frozen = true;  // a masked-out weight and its buffer keep their bits
                        for (std::size_t i = 1; masked && i < n; i += 4)
                            frozen = frozen && w[i] == w0[i] && b[i] == b0[i];
                        CHECK(frozen);
                    }
    }
}
