// SPDX-License-Identifier: MIT
// The element-wise bodies every backend shares (kernels/elementwise.hpp), tested here on the CPU;
// the CUDA kernels call the same functions (tests/cuda compares the results on a GPU).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "salun/kernels/elementwise.hpp"

namespace ew = salun::kernels::ew;

TEST_SUITE("seam") {

TEST_CASE("relu passes NaN and blocks the gradient where the output is <= 0, as PyTorch") {
    CHECK(ew::relu(-1.5f) == 0.0f);
    CHECK(ew::relu(2.0f) == 2.0f);
    CHECK(std::isnan(ew::relu(std::numeric_limits<float>::quiet_NaN())));
    CHECK(ew::relu_backward(0.0f, 3.0f) == 0.0f);
    CHECK(ew::relu_backward(0.5f, 3.0f) == 3.0f);
    CHECK(ew::relu_backward(std::numeric_limits<float>::quiet_NaN(), 3.0f) == 3.0f);
}

TEST_CASE("binary, affine and abs bodies") {
    CHECK(ew::binary(ew::Binary::add, 2.0, 3.0) == 5.0);
    CHECK(ew::binary(ew::Binary::sub, 2.0, 3.0) == -1.0);
    CHECK(ew::binary(ew::Binary::mul, 2.0, 3.0) == 6.0);
    CHECK(ew::binary(ew::Binary::div, 3.0, 2.0) == 1.5);
    CHECK(ew::affine(2.0f, 3.0f, 1.0f) == 7.0f);
    CHECK(ew::abs(-2.5f) == 2.5f);
    CHECK(ew::abs(2.5f) == 2.5f);
}

TEST_CASE("sgd_update follows torch.optim.SGD: weight decay, momentum buffer, nesterov") {
    // Plain SGD with weight decay: w -= lr * (g + wd * w).
    double w = 1.0;
    ew::sgd_update(w, 0.5, static_cast<double*>(nullptr), ew::SgdStep<double>{0.1, 0.0, 1.0, 0.01, false, true});
    CHECK(w == doctest::Approx(1.0 - 0.1 * (0.5 + 0.01)));
    // Momentum: the first step sets buf = d, later steps buf = m * buf + (1 - dampening) * d.
    double w2 = 1.0, buf = 123.0;
    ew::sgd_update(w2, 0.5, &buf, ew::SgdStep<double>{0.1, 0.9, 1.0, 0.0, false, true});
    CHECK(buf == 0.5);
    CHECK(w2 == doctest::Approx(1.0 - 0.05));
    ew::sgd_update(w2, 0.5, &buf, ew::SgdStep<double>{0.1, 0.9, 0.5, 0.0, false, false});
    CHECK(buf == doctest::Approx(0.9 * 0.5 + 0.5 * 0.5));
    CHECK(w2 == doctest::Approx(0.95 - 0.1 * buf));
    // Nesterov: the step is d + m * buf.
    double w3 = 0.0, buf3 = 0.0;
    ew::sgd_update(w3, 1.0, &buf3, ew::SgdStep<double>{1.0, 0.9, 1.0, 0.0, true, true});
    CHECK(buf3 == 1.0);
    CHECK(w3 == doctest::Approx(-(1.0 + 0.9)));
}

}  // TEST_SUITE
