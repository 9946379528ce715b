// SPDX-License-Identifier: MIT
// Helpers shared by the kernel tests: deterministic random fills and tolerance checks.
#pragma once

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace salun_test {

#if defined(_OPENMP)
/// Calls f() once with each OpenMP thread count of `counts` set as the default, then restores
/// the previous default: for kernels that promise the same bits on any thread count.
template <class F>
void for_thread_counts(std::initializer_list<int> counts, F f) {
    const int saved = omp_get_max_threads();
    for (int nt : counts) {
        omp_set_num_threads(nt);
        f();
    }
    omp_set_num_threads(saved);
}
#endif

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, T lo = T(-1), T hi = T(1)) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> dist{double(lo), double(hi)};
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(gen));
    return v;
}

template <class T>
constexpr double default_rtol() {
    return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

/// Checks |got - want| <= rtol * (|scale| + max|want|) element-wise, where scale is an
/// optional per-element magnitude (e.g. sum |a||b| of a dot product). Reports the first failure.
template <class T, class U>
bool all_close(const std::vector<T>& got, const std::vector<U>& want, double rtol, const std::vector<double>* scale = nullptr) {
    REQUIRE(got.size() == want.size());
    double maxabs = 0;
    for (auto w : want) maxabs = std::max(maxabs, std::abs(double(w)));
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double s = scale ? (*scale)[i] : maxabs;
        const double tol = rtol * (s + 1e-30) + 1e-30;
        const double d = std::abs(double(got[i]) - double(want[i]));
        if (!(d <= tol)) {
            INFO("index " << i << ": got " << double(got[i]) << ", want " << double(want[i]) << ", tol " << tol);
            CHECK(d <= tol);
            return false;
        }
    }
    return true;
}

}  // namespace salun_test
