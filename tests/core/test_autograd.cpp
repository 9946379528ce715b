// SPDX-License-Identifier: MIT
// The autograd engine: accumulation, fan-out, no_grad, detach, graph freeing.
#include <doctest/doctest.h>

#include "salun/ops.hpp"

using salun::Shape;
using salun::Tensor;

TEST_CASE("gradients accumulate across backward calls until zeroed") {
    auto x = Tensor<double>::from_data({3}, std::vector<double>{1, 2, 3}, true);
    for (int k = 0; k < 2; ++k) salun::sum(x * x).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{4, 8, 12});  // 2 * 2x
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
    salun::sum(x * 3.0).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{3, 3, 3});
}

TEST_CASE("a tensor used twice receives the sum of both gradients") {
    auto x = Tensor<double>::from_data({2}, std::vector<double>{1, -2}, true);
    auto y = x + x;          // same input on both sides
    auto z = salun::relu(y) * x;  // fan-out through two paths
    salun::sum(z).backward();
    // z = relu(2x) * x: x=1 -> d/dx (2x*x) = 4x = 4; x=-2 -> 0
    CHECK(x.grad().to_vector() == std::vector<double>{4, 0});
}

TEST_CASE("no_grad records nothing and detach cuts history") {
    auto x = Tensor<float>::ones({2}, true);
    {
        salun::NoGradGuard guard;
        auto y = x * 2.0f;
        CHECK_FALSE(y.requires_grad());
        CHECK(salun::autograd::is_grad_enabled() == false);
    }
    CHECK(salun::autograd::is_grad_enabled());
    auto d = (x * 2.0f).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
}

TEST_CASE("backward frees the graph and rejects non-scalar roots without a gradient") {
    auto x = Tensor<float>::ones({2, 2}, true);
    auto y = x * 2.0f;
    CHECK_THROWS_AS(y.backward(), salun::Error);
    auto s = salun::sum(y);
    s.backward();
    CHECK(s.grad_fn() == nullptr);
    CHECK(y.grad_fn() == nullptr);
    auto leaf = Tensor<float>::ones({1});
    CHECK_THROWS_AS(leaf.backward(), salun::Error);
}

TEST_CASE("only leaves keep .grad; intermediate gradients are released") {
    auto x = Tensor<float>::ones({3}, true);
    auto y = x * 2.0f;
    salun::sum(y).backward();
    CHECK(x.grad().defined());
    CHECK_FALSE(y.grad().defined());
}

// Two gradients flowing into one tensor are summed in place into whichever is exclusively owned
// (detail::sum_gradients). The values must not depend on that, and a tensor the caller can still
// see (the gradient passed to backward(), a .grad taken earlier) must never be written.
TEST_CASE("in-place gradient summing: shared paths give the analytic gradient") {
    for (std::size_t n : {std::size_t(5), std::size_t(70001)}) {  // 70001: the OpenMP branch of the sum
        CAPTURE(n);
        std::vector<double> xv(n), av(n), bv(n), gv(n);
        for (std::size_t i = 0; i < n; ++i) {
            xv[i] = 0.5 + double(i % 7) - 3.0;
            av[i] = 1.0 + 0.25 * double(i % 5);
            bv[i] = -2.0 + 0.5 * double(i % 3);
            gv[i] = 1.0 + double(i % 4);
        }
        auto x = Tensor<double>::from_data({n}, xv, true);
        auto a = Tensor<double>::from_data({n}, av, true);
        auto b = Tensor<double>::from_data({n}, bv, true);
        const auto g = Tensor<double>::from_data({n}, gv);
        auto y = x * a + x * b + x;  // x three times; add hands one tensor to both of its inputs
        y.backward(g);
        const auto gx = x.grad().to_vector(), ga = a.grad().to_vector(), gb = b.grad().to_vector();
        std::size_t bad = 0, first_bad = n;
        for (std::size_t i = 0; i < n; ++i)  // exact: each sum has at most three terms of small integers / 4
            if (gx[i] != gv[i] * (av[i] + bv[i] + 1.0) || ga[i] != gv[i] * xv[i] || gb[i] != gv[i] * xv[i])
                if (bad++ == 0) first_bad = i;
        CAPTURE(first_bad);
        CHECK(bad == 0);
        CHECK(g.to_vector() == gv);  // the caller's gradient is untouched
        CHECK_FALSE(x.grad().same(g));
    }
}

TEST_CASE("in-place gradient summing: add of a tensor to itself, repeatedly") {
    auto x = Tensor<double>::from_data({3}, std::vector<double>{1, 2, 3}, true);
    const auto g = Tensor<double>::from_data({3}, std::vector<double>{1, -1, 0.5});
    auto s = x + x;
    auto t = s + s;
    auto u = t + x;  // x: 4 via t, 1 directly
    u.backward(g);
    CHECK(x.grad().to_vector() == std::vector<double>{5, -5, 2.5});
    CHECK(g.to_vector() == std::vector<double>{1, -1, 0.5});
    // through views of the gradient: reshape's backward returns a view sharing the gradient's storage
    auto z = Tensor<double>::from_data({2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6}, true);
    const auto gz = Tensor<double>::from_data({2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
    auto w = z.reshape({3, 2}).reshape({2, 3}) + z.flatten(0).reshape({2, 3}) + z;
    w.backward(gz);
    CHECK(z.grad().to_vector() == std::vector<double>{3, 6, 9, 12, 15, 18});
    CHECK(gz.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("in-place gradient summing never writes a gradient the caller still holds") {
    auto x = Tensor<double>::from_data({4}, std::vector<double>{1, -2, 3, 0.5}, true);
    auto loss = [&] { return salun::sum(x * x + x * 3.0 + x); };  // fan-in of three gradients
    loss().backward();
    const Tensor<double> first = x.grad();  // held by the caller: 2x + 4
    const std::vector<double> expected{6, 0, 10, 5};
    CHECK(first.to_vector() == expected);

    x.zero_grad();
    loss().backward();  // a fresh .grad; the old one must not be reused or written
    CHECK(first.to_vector() == expected);
    CHECK(x.grad().to_vector() == expected);
    CHECK_FALSE(x.grad().same(first));
    CHECK(x.grad().data() != first.data());

    // the only gradient reaching a leaf is a view of the caller's tensor: .grad must be a copy
    // (else the next backward would accumulate into the caller's tensor)
    auto v = Tensor<double>::from_data({2, 2}, std::vector<double>{1, 2, 3, 4}, true);
    const auto gv = Tensor<double>::from_data({4}, std::vector<double>{1, 1, 2, 2});
    v.flatten(0).backward(gv);
    v.flatten(0).backward(gv);
    CHECK(v.grad().to_vector() == std::vector<double>{2, 2, 4, 4});
    CHECK(gv.to_vector() == std::vector<double>{1, 1, 2, 2});

    // x + x: add hands the caller's root gradient to both of its inputs, i.e. twice to x
    const auto root_g = Tensor<double>::ones({4});
    x.zero_grad();
    (x + x).backward(root_g);
    CHECK(x.grad().to_vector() == std::vector<double>(4, 2.0));
    CHECK(root_g.to_vector() == std::vector<double>(4, 1.0));
}
