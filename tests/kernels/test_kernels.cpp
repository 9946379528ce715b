// SPDX-License-Identifier: MIT
// cpu::gemm against reference::gemm: edge tiles, all transposition combos, alpha/beta, leading
// dimensions, block boundaries (MC/KC/NC), threaded and nested-in-parallel calls.
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "kernels/gemm_check.hpp"
#include "kernels/kernel_test_utils.hpp"
#include "salun/kernels/cpu/gemm.hpp"
#include "salun/kernels/reference.hpp"

namespace {

using salun_test::all_close;
using salun_test::random_vector;
using salun_test::GemmCase;
namespace ref = salun::kernels::reference;
namespace cpu = salun::kernels::cpu;

template <class T>
bool run_gemm_case(const GemmCase& g, unsigned seed, bool nested = false) {
    return salun_test::run_gemm_case_with<T>(
        [](auto... args) { cpu::gemm<T>(args...); }, g, seed, nested);
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
