// SPDX-License-Identifier: MIT
// Tensor basics: creation, views, printing, errors.
#include <doctest/doctest.h>

#include <sstream>

#include "salun/core.hpp"

using salun::Shape;
using salun::Tensor;

TEST_CASE("creation fills shape and values") {
    auto z = Tensor<float>::zeros({2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.numel() == 6);
    CHECK(z.dim() == 2);
    for (float v : z) CHECK(v == 0.0f);
    auto o = Tensor<double>::ones({4});
    CHECK(o.data()[3] == 1.0);
    auto f = Tensor<float>::full({1}, 2.5f);
    CHECK(f.item() == 2.5f);
    auto d = Tensor<float>::from_data({2, 2}, std::vector<float>{1, 2, 3, 4});
    CHECK(d.data()[2] == 3.0f);
    CHECK_THROWS_AS(Tensor<float>::from_data({2, 2}, std::vector<float>{1, 2, 3}), salun::Error);
}

TEST_CASE("storage is 64-byte aligned for SIMD kernels") {
    auto t = Tensor<float>::empty({17, 3});
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
}

TEST_CASE("seeded generators reproduce their draws") {
    salun::Generator a(7), b(7), c(8);
    auto ta = Tensor<float>::normal({100}, 0, 1, a);
    auto tb = Tensor<float>::normal({100}, 0, 1, b);
    auto tc = Tensor<float>::normal({100}, 0, 1, c);
    CHECK(ta.to_vector() == tb.to_vector());
    CHECK(ta.to_vector() != tc.to_vector());
    salun::Generator u(3);
    for (int i = 0; i < 1000; ++i) {
        const auto r = u.randint(9);
        CHECK(r < 9);
        const double x = u.uniform01();
        CHECK((x >= 0.0 && x < 1.0));
    }
}

TEST_CASE("reshape, flatten and slice share storage") {
    auto t = Tensor<float>::from_data({2, 3, 2}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    auto r = t.reshape({3, -1});
    CHECK(r.shape() == Shape{3, 4});
    r.data()[0] = 42;
    CHECK(t.data()[0] == 42);
    CHECK(t.flatten().shape() == Shape{2, 6});
    CHECK(t.flatten(0).shape() == Shape{12});
    auto s = t.slice(1, 2);
    CHECK(s.shape() == Shape{1, 3, 2});
    CHECK(s.data()[0] == 6);
    CHECK_THROWS_AS(t.reshape({5, -1}), salun::Error);
    CHECK_THROWS_AS(t.slice(1, 3), salun::Error);
}

TEST_CASE("item and errors name the problem") {
    auto t = Tensor<float>::zeros({2});
    try {
        (void)t.item();
        FAIL("expected an error");
    } catch (const salun::Error& e) {
        CHECK(std::string(e.what()).find("[2]") != std::string::npos);
    }
    Tensor<float> undefined;
    CHECK_FALSE(undefined.defined());
    CHECK_THROWS_AS((void)undefined.shape(), salun::Error);
}

TEST_CASE("printing shows values and shape") {
    std::ostringstream os;
    os << Tensor<float>::ones({2, 2}, true);
    CHECK(os.str() == "tensor([1, 1, 1, 1], shape=[2, 2], requires_grad=True)");
}
