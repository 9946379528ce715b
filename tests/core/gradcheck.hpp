// SPDX-License-Identifier: MIT
// Finite-difference gradient check (double precision, central differences), in the spirit of
// dlib's test_layer and torch.autograd.gradcheck: one routine every differentiable op goes through.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "salun/ops.hpp"

namespace salun::testing {

using TensorD = Tensor<double>;

/// Checks d(sum(f(inputs) * w))/d(input) for a fixed random weighting w against central differences.
inline void gradcheck(const std::function<TensorD(const std::vector<TensorD>&)>& f, std::vector<TensorD> inputs,
                      const std::string& what, double eps = 1e-6, double tol = 1e-5) {
    CAPTURE(what);
    for (auto& x : inputs) x = x.clone().set_requires_grad(true);  // fresh leaves: no stale .grad
    TensorD out = f(inputs);
    Generator gen(1234);
    const TensorD w = TensorD::uniform(out.shape(), -1.0, 1.0, gen);
    auto objective = [&](const TensorD& y) {
        double s = 0;
        for (std::size_t i = 0; i < y.numel(); ++i) s += y.data()[i] * w.data()[i];
        return s;
    };
    out.backward(w);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        TensorD& x = inputs[k];
        REQUIRE_MESSAGE(x.grad().defined(), what << ": no gradient reached input " << k);
        const TensorD analytic = x.grad().clone();
        for (std::size_t i = 0; i < x.numel(); ++i) {
            const double orig = x.data()[i];
            double plus, minus;
            {
                NoGradGuard ng;
                x.data()[i] = orig + eps;
                plus = objective(f(inputs));
                x.data()[i] = orig - eps;
                minus = objective(f(inputs));
                x.data()[i] = orig;
            }
            const double numeric = (plus - minus) / (2 * eps);
            const double a = analytic.data()[i];
            const double err = std::abs(a - numeric) / std::max(1.0, std::abs(numeric));
            if (err > tol) {
                FAIL_CHECK(what << ": input " << k << " element " << i << " analytic " << a << " numeric " << numeric);
                return;
            }
        }
    }
}

inline TensorD randn(const Shape& s, std::uint64_t seed) {
    Generator gen(seed);
    return TensorD::normal(s, 0.0, 1.0, gen);
}

}  // namespace salun::testing
