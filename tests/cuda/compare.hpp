// SPDX-License-Identifier: MIT
// One routine every op goes through on the GPU (tinygrad's helper_test_op, ggml's test-backend-ops):
// run f on the CPU and on CUDA from the same inputs, backpropagate the same random weighting of
// the output, and compare the outputs and every input gradient.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "salun/ops.hpp"

namespace salun::testing {

using TensorF = Tensor<float>;

/// max |a - b| / max(|b|_max, floor): an error relative to the reference's scale, so one tolerance
/// fits tensors of any magnitude (and entries near zero do not blow it up). The reference b may be
/// a double-precision run of the same computation.
template <class R>
double scaled_error(const std::vector<float>& a, const std::vector<R>& b, double floor = 1e-6) {
    REQUIRE(a.size() == b.size());
    double err = 0, scale = floor;
    for (std::size_t i = 0; i < a.size(); ++i) {
        err = std::max(err, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
        if (std::isnan(double(a[i])) != std::isnan(double(b[i]))) return INFINITY;
    }
    return err / scale;
}

/// ||a - b||_2 / ||b||_2: the error of a whole tensor. Unlike scaled_error it is not dominated by a
/// few entries, which is what a gradient through ReLU and max-pool needs (see test_cuda_training).
template <class R>
double relative_l2(const std::vector<float>& a, const std::vector<R>& b, double floor = 1e-12) {
    REQUIRE(a.size() == b.size());
    double num = 0, den = floor * floor;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = double(a[i]) - double(b[i]);
        num += d * d;
        den += double(b[i]) * double(b[i]);
    }
    return std::isnan(num) ? INFINITY : std::sqrt(num / den);
}

template <class R>
void check_close(const TensorF& gpu, const Tensor<R>& cpu, double tol, const std::string& what) {
    CAPTURE(what);
    REQUIRE(gpu.defined());
    REQUIRE(cpu.defined());
    CHECK(gpu.device() == Device::cuda);
    REQUIRE(gpu.shape() == cpu.shape());
    const double e = scaled_error(gpu.to_vector(), cpu.to_vector());
    CHECK_MESSAGE(e <= tol, what << ": scaled error " << e << " > " << tol);
}

using OpFn = std::function<TensorF(const std::vector<TensorF>&)>;

/// f on CPU and CUDA, forward (tolerance `tol`) and backward (tolerance `grad_tol`, default tol).
inline void check_op(const std::string& what, const OpFn& f, const std::vector<TensorF>& inputs, double tol,
                     double grad_tol = -1) {
    CAPTURE(what);
    if (grad_tol < 0) grad_tol = tol;
    std::vector<TensorF> c, g;
    for (const auto& x : inputs) {
        c.push_back(x.clone().set_requires_grad(true));
        g.push_back(x.to(Device::cuda).set_requires_grad(true));  // a fresh leaf on the GPU
    }
    const TensorF oc = f(c), og = f(g);
    check_close(og, oc, tol, what + " forward");
    Generator gen(99);
    const TensorF w = TensorF::uniform(oc.shape(), -1.0, 1.0, gen);
    oc.backward(w);
    og.backward(w.to(Device::cuda));
    for (std::size_t k = 0; k < inputs.size(); ++k)
        check_close(g[k].grad(), c[k].grad(), grad_tol, what + " grad of input " + std::to_string(k));
}

inline TensorF randn(const Shape& s, std::uint64_t seed, double scale = 1.0) {
    Generator gen(seed);
    return TensorF::normal(s, 0.0, scale, gen);
}

}  // namespace salun::testing
