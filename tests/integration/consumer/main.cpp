// SPDX-License-Identifier: MIT
// A tiny program built against the installed package: one conv layer, a loss and a backward pass.
#include <iostream>
#include <string>

#include <salun/ops.hpp>
#include <salun/version.hpp>

int main() {
    using salun::Tensor;
    salun::Generator gen(1);
    auto x = Tensor<float>::normal({2, 3, 8, 8}, 0, 1, gen);
    auto w = Tensor<float>::normal({4, 3, 3, 3}, 0, 0.1, gen, true);
    auto logits = salun::adaptive_avg_pool2d(salun::relu(salun::conv2d(x, w, Tensor<float>(), 1, 1)), 1, 1).flatten();
    auto loss = salun::cross_entropy(logits, {1, 3});
    loss.backward();
    const bool version_ok = std::string(SALUN_VERSION_STRING) == SALUN_PACKAGE_VERSION;
    const bool ok = version_ok && w.grad().defined() && w.grad().shape() == salun::Shape{4, 3, 3, 3};
    std::cout << "consumer: salun " << SALUN_VERSION_STRING << " (package " << SALUN_PACKAGE_VERSION << "), loss "
              << loss.item() << (ok ? " ok" : " FAILED") << "\n";
    return ok ? 0 : 1;
}
