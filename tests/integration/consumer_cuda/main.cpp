// SPDX-License-Identifier: MIT
// Built against an installed CUDA build of salun: SALUN_WITH_CUDA comes with salun::cuda. With a
// GPU, a conv + loss + backward runs there; without one, moving a tensor is the documented error.
#include <iostream>
#include <string>

#include <salun/ops.hpp>

#if !defined(SALUN_WITH_CUDA)
#error "linking salun::cuda must define SALUN_WITH_CUDA"
#endif

int main() {
    using salun::Device;
    using salun::Tensor;
    salun::Generator gen(1);
    auto x = Tensor<float>::normal({2, 3, 8, 8}, 0, 1, gen);
    if (!salun::device_available(Device::cuda)) {
        try {
            x.to(Device::cuda);
        } catch (const salun::Error& e) {
            const bool ok = std::string(e.what()).find("no CUDA device is available") != std::string::npos;
            std::cout << "consumer_cuda: no GPU: " << e.what() << (ok ? " ok" : " FAILED") << "\n";
            return ok ? 0 : 1;
        }
        std::cout << "consumer_cuda: FAILED: no GPU, yet the copy succeeded\n";
        return 1;
    }
    auto w = Tensor<float>::normal({4, 3, 3, 3}, 0, 0.1, gen).to(Device::cuda).set_requires_grad(true);
    auto logits = salun::adaptive_avg_pool2d(salun::relu(salun::conv2d(x.to(Device::cuda), w, Tensor<float>(), 1, 1)), 1, 1)
                      .flatten();
    auto loss = salun::cross_entropy(logits, {1, 3});
    loss.backward();
    const bool ok = w.grad().defined() && w.grad().is_cuda();
    std::cout << "consumer_cuda: loss " << loss.item() << (ok ? " ok" : " FAILED") << "\n";
    return ok ? 0 : 1;
}
