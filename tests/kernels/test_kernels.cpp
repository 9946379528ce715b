// cpu::gemm against reference::gemm: edge tiles, all transposition combos, alpha/beta, leading
// dimensions, block boundaries (MC/KC/NC), threaded and nested-in-parallel calls.
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/reference.hpp"

namespace {

using salun_test::all_close;
using salun_test::random_vector;
namespace ref = salun::kernels::reference;
namespace cpu = salun::kernels::cpu;

struct GemmCase {
    bool ta, tb;
    std::size_t M, N, K;
    double alpha, beta;
    std::size_t pad = 0;  // extra leading-dimension padding
};

template <class T>
bool run_gemm_case(const GemmCase& g, unsigned seed, bool nested = false) {
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
            cpu::gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        }
    } else {
        cpu::gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
    }
    ref::gemm(g.ta, g.tb, g.M, g.N, g.K, alpha, A.data(), lda, B.data(), ldb, beta, Cref.data(), ldc);
    // Per-element magnitude: |alpha| * |A||B| + |beta C|.
    std::vector<T> Aa(A.size()), Ba(B.size()), Ca(C0.size(), T(0));
    for (std::size_t i = 0; i < A.size(); ++i) Aa[i] = std::abs(A[i]);
    for (std::size_t i = 0; i < B.size(); ++i) Ba[i] = std::abs(B[i]);
    ref::gemm(g.ta, g.tb, g.M, g.N, g.K, T(std::abs(g.alpha)), Aa.data(), lda, Ba.data(), ldb, T(0), Ca.data(), ldc);
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

const std::size_t kSizes[] = {1, 2, 5, 7, 16, 17, 33, 65, 129};

}  // namespace

TEST_CASE_TEMPLATE("cpu::gemm matches reference on edge sizes, all transposes", T, float, double) {
    unsigned seed = 1;
    int failures = 0;
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (std::size_t M : kSizes)
                for (std::size_t N : {std::size_t(1), std::size_t(7), std::size_t(17), std::size_t(33), std::size_t(130)})
                    for (std::size_t K : {std::size_t(1), std::size_t(3), std::size_t(17), std::size_t(65)}) {
                        GemmCase g{ta, tb, M, N, K, 1.0, 0.0};
                        if (!run_gemm_case<T>(g, seed++)) ++failures;
                        if (failures > 3) return;
                    }
    CHECK(failures == 0);
}

TEST_CASE_TEMPLATE("cpu::gemm alpha, beta and leading dimensions", T, float, double) {
    unsigned seed = 100;
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (double alpha : {1.0, -0.5, 2.0})
                for (double beta : {0.0, 1.0, -0.75}) {
                    CHECK(run_gemm_case<T>({ta, tb, 19, 35, 23, alpha, beta, 0}, seed++));
                    CHECK(run_gemm_case<T>({ta, tb, 13, 9, 70, alpha, beta, 3}, seed++));
                    CHECK(run_gemm_case<T>({ta, tb, 1, 1, 1, alpha, beta, 5}, seed++));
                }
}

TEST_CASE_TEMPLATE("cpu::gemm crosses MC/KC/NC block boundaries and runs threaded", T, float, double) {
    unsigned seed = 500;
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            CHECK(run_gemm_case<T>({ta, tb, 150, 70, 600, 1.0, 0.0}, seed++));   // M > MC, K > 2 KC
            CHECK(run_gemm_case<T>({ta, tb, 7, 4100, 20, 1.0, 0.5}, seed++));    // N > NC
            CHECK(run_gemm_case<T>({ta, tb, 301, 97, 257, -1.0, 1.0, 2}, seed++));  // threaded split over M
            CHECK(run_gemm_case<T>({ta, tb, 64, 515, 130, 1.0, 0.0, 1}, seed++));   // threaded split over N
        }
}

TEST_CASE("cpu::gemm inside an enclosing parallel region runs serially and correctly") {
    CHECK(run_gemm_case<float>({false, true, 100, 200, 90, 1.0, 0.0}, 900, true));
    CHECK(run_gemm_case<float>({true, false, 203, 31, 300, 0.5, 1.0}, 901, true));
}

TEST_CASE("cpu::gemm with K == 0 scales C by beta") {
    std::vector<float> C(6, 2.0f);
    cpu::gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, C.data(), 3);
    for (float c : C) CHECK(c == 1.0f);
    std::vector<float> D(6, std::numeric_limits<float>::quiet_NaN());
    cpu::gemm<float>(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, D.data(), 3);
    for (float d : D) CHECK(d == 0.0f);
}
