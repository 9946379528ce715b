// SPDX-License-Identifier: MIT
// run_gemm_case_with: any GEMM with cpu::gemm's signature against reference::gemm.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/reference.hpp"

namespace salun_test {

struct GemmCase {
    bool ta, tb;
    std::size_t M, N, K;
    double alpha, beta;
    std::size_t pad = 0;  // extra leading-dimension padding
};

/// Runs gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) (`gemm`: any callable with
/// cpu::gemm's signature) on random data and compares with reference::gemm: each element within
/// rtol of its magnitude sum, columns past N untouched, beta == 0 never reading C (NaN-filled).
/// `nested`: called from inside an OpenMP parallel region.
template <class T, class Gemm>
bool run_gemm_case_with(Gemm gemm, const GemmCase& g, unsigned seed, bool nested = false) {
    const std::size_t lda = (g.ta ? g.M : g.K) + g.pad, ldb = (g.tb ? g.K : g.N) + g.pad, ldc = g.N + g.pad;
    const std::size_t arows = g.ta ? g.K : g.M, brows = g.tb ? g.N : g.K;
    auto A = random_vector<T>(arows * lda, seed);
    auto B = random_vector<T>(brows * ldb, seed + 1);
    auto C0 = random_vector<T>(g.M * ldc, seed + 2);
    if (g.beta == 0)  // beta == 0 must not read C
        for (auto& c : C0) c = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> C = C0, Cref = C0;
    const T alpha = T(g.alpha), beta = T(g.beta);
    if (nested) {
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        }
    } else {
        gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
    }
    salun::kernels::reference::gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, Cref.data(), ldc);
    // Per-element magnitude: |alpha| * |A||B| + |beta C|.
    std::vector<T> Aa(A.size()), Ba(B.size()), Ca(C0.size(), T(0));
    for (std::size_t i = 0; i < A.size(); ++i) Aa[i] = std::abs(A[i]);
    for (std::size_t i = 0; i < B.size(); ++i) Ba[i] = std::abs(B[i]);
    salun::kernels::reference::gemm(g.ta, g.tb, g.M, g.N, g.K, T(std::abs(g.alpha)), Aa.data(), lda, Ba.data(), ldb, T(0), Ca.data(), ldc);
    std::vector<double> scale(C.size(), 0.0);
    std::vector<T> got, want;
    for (std::size_t i = 0; i < g.M; ++i)
        for (std::size_t j = 0; j < ldc; ++j) {
            const std::size_t k = i * ldc + j;
            if (j >= g.N) {  // padding columns must be untouched
                if (!(C[k] == C0[k] || (C[k] != C[k] && C0[k] != C0[k]))) {
                    CHECK_MESSAGE(false, "gemm wrote outside N at row " << i << " col " << j);
                    return false;
                }
                continue;
            }
            got.push_back(C[k]);
            want.push_back(Cref[k]);
            scale.push_back(double(Ca[k]) + (g.beta == 0 ? 0.0 : std::abs(g.beta * double(C0[k]))) + 1e-3);
        }
    std::vector<double> s(scale.end() - got.size(), scale.end());
    INFO("ta=" << g.ta << " tb=" << g.tb << " M=" << g.M << " N=" << g.N << " K=" << g.K << " alpha=" << g.alpha
               << " beta=" << g.beta << " pad=" << g.pad << " nested=" << nested);
    return all_close(got, want, salun_test::default_rtol<T>(), &s);
}

}  // namespace salun_test
