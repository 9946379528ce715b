// SPDX-License-Identifier: MIT
// salun-cuda-step: times salun's training step on the GPU, the measurement of
// scripts/gpu/torch_step.py for PyTorch (same model, batch, optimiser): zero_grad, forward,
// cross_entropy, backward, SGD step (lr 0.01, momentum 0.9, weight decay 5e-4) on random
// CIFAR-sized images already on the GPU; the median over --reps steps after --warmup, each ending
// with a stream synchronisation. Prints one JSON line per model.
//   salun-cuda-step [--arch resnet18|vgg16_bn|all] [--batch 128] [--warmup 5] [--reps 20]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "salun/models.hpp"
#include "salun/optim.hpp"

using namespace salun;

int main(int argc, char** argv) {
    std::string arch = "all";
    long batch = 128, warmup = 5, reps = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--arch") arch = v;
        else if (k == "--batch") batch = std::atol(v.c_str());
        else if (k == "--warmup") warmup = std::atol(v.c_str());
        else if (k == "--reps") reps = std::atol(v.c_str());
        else {
            std::fprintf(stderr, "salun-cuda-step: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    try {
        require_device(Device::cuda, "salun-cuda-step");
        std::fprintf(stderr, "salun-cuda-step: %s\n", cuda::device_status().c_str());
        const std::vector<std::string> archs =
            arch == "all" ? std::vector<std::string>{"resnet18", "vgg16_bn"} : std::vector<std::string>{arch};
        for (const std::string& a : archs) {
            Generator gen(0);
            auto model = models::make_model<float>(a, 10, gen);
            model->to(Device::cuda);
            model->train();
            optim::SGDOptions sgd_options;
            sgd_options.lr = 0.01;
            sgd_options.momentum = 0.9;
            sgd_options.weight_decay = 5e-4;
            optim::SGD<float> opt(model->parameters(), sgd_options);
            const Tensor<float> x = Tensor<float>::normal({std::size_t(batch), 3, 32, 32}, 0, 1, gen).to(Device::cuda);
            std::vector<std::int64_t> y(static_cast<std::size_t>(batch));
            for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int64_t(i % 10);
            std::vector<double> times;
            for (long i = 0; i < warmup + reps; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                opt.zero_grad();
                Tensor<float> loss = cross_entropy((*model)(x), y);
                loss.backward();
                opt.step();
                cuda::synchronize();
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (i >= warmup) times.push_back(s);
            }
            std::sort(times.begin(), times.end());
            const double med = times[times.size() / 2];
            std::printf("{\"library\": \"salun\", \"arch\": \"%s\", \"batch\": %ld, \"step_s\": %.6f, \"images_per_s\": %.1f}\n",
                        a.c_str(), batch, med, double(batch) / med);
            std::fflush(stdout);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "salun-cuda-step: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
