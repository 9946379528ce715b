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
