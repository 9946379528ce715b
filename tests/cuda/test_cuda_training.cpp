// SPDX-License-Identifier: MIT
// Whole models and training on CUDA against the CPU backend from the same weights and inputs:
//   * ResNet-18 and VGG-16-BN: logits, loss, every parameter gradient and the BatchNorm running
//     statistics after one training-mode step (scaled error <= 2e-3: 20 layers of FP32 in
//     another summation order), eval-mode logits too;
//   * the optimiser: five steps of SGD with momentum, weight decay, SalUn's gradient mask,
//     update masks and gradient clipping; parameters after each step (<= 1e-4);
//   * a short SalUn experiment (saliency mask, one epoch of both phases, evaluation) on a small
//     synthetic data set: per-class accuracies within one image, the mask within 1% of its size.
#include <doctest/doctest.h>

#include <cmath>

#include "compare.hpp"
#include "salun/models.hpp"
#include "salun/optim.hpp"
#include "salun/unlearn.hpp"

using namespace salun;
using namespace salun::testing;

namespace {

/// Compares every parameter's gradient (and every buffer) of two copies of one model.
void check_model_state(nn::Module<float>& gpu, nn::Module<float>& cpu, double tol, bool grads) {
    const auto pg = gpu.named_parameters(), pc = cpu.named_parameters();
    REQUIRE(pg.size() == pc.size());
    for (std::size_t i = 0; i < pg.size(); ++i) {
        check_close(pg[i].second, pc[i].second, tol, "parameter " + pc[i].first);
        if (grads) check_close(pg[i].second.grad(), pc[i].second.grad(), tol, "gradient of " + pc[i].first);
    }
    const auto bg = gpu.named_buffers(), bc = cpu.named_buffers();
    for (std::size_t i = 0; i < bg.size(); ++i) check_close(bg[i].second, bc[i].second, tol, "buffer " + bc[i].first);
}

}  // namespace

TEST_CASE("ResNet-18 and VGG-16-BN: logits, gradients and running statistics match the CPU") {
    for (const std::string arch : {"resnet18", "vgg16_bn"}) {
        CAPTURE(arch);
        Generator init(7);
        auto cpu = models::make_model<float>(arch, 10, init);
        auto gpu = models::clone_model(arch, *cpu);
        gpu->to(Device::cuda);
        CHECK(gpu->device() == Device::cuda);
        const TensorF x = randn({4, 3, 32, 32}, 31);
        const std::vector<std::int64_t> y{3, 1, 4, 1};
        cpu->train();
        gpu->train();
        const TensorF lc = (*cpu)(x), lg = (*gpu)(x.to(Device::cuda));
        check_close(lg, lc, 2e-3, arch + " train-mode logits");
        TensorF loss_c = cross_entropy(lc, y), loss_g = cross_entropy(lg, y);
        CHECK(loss_g.item() == doctest::Approx(loss_c.item()).epsilon(1e-3));
        loss_c.backward();
        loss_g.backward();
        check_model_state(*gpu, *cpu, 2e-3, true);
        NoGradGuard no_grad;
        cpu->eval();
        gpu->eval();
        check_close((*gpu)(x.to(Device::cuda)), (*cpu)(x), 2e-3, arch + " eval-mode logits");
    }
}

TEST_CASE("SGD with momentum, weight decay, masks and clipping follows the CPU trajectory") {
    // A two-layer perceptron as raw parameters: the optimiser's path, not the layers', is tested.
    std::vector<TensorF> pc{randn({32, 20}, 41, 0.3), randn({32}, 42), randn({10, 32}, 43, 0.3), randn({10}, 44)};
    std::vector<TensorF> pg;
    for (auto& p : pc) {
        p.set_requires_grad(true);
        pg.push_back(p.detach().to(Device::cuda).set_requires_grad(true));
    }
    // Half of the weights masked out, as SalUn's saliency mask does.
    unlearn::SaliencyMask<float> mc, mg;
    Generator mgen(45);
    for (const auto& p : pc) {
        TensorF m = TensorF::empty(p.shape());
        for (float& v : m) v = mgen.uniform(0, 1) < 0.5 ? 0.0f : 1.0f;
        mc.names.push_back("p");
        mc.masks.push_back(m);
        mg.names.push_back("p");
        mg.masks.push_back(m.to(Device::cuda));
    }
    optim::SGDOptions sgd_options;
    sgd_options.lr = 0.1;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 5e-4;
    optim::SGD<float> oc(pc, sgd_options), og(pg, sgd_options);
    oc.set_update_masks(mc.masks);
    og.set_update_masks(mg.masks);
    const TensorF x = randn({16, 20}, 46);
    const std::vector<std::int64_t> t{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5};
    auto loss_of = [&](const std::vector<TensorF>& p, const TensorF& in) {
        return cross_entropy(linear(relu(linear(in, p[0], p[1])), p[2], p[3]), t);
    };
    for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        unlearn::StepInfo ic, ig;
        TensorF lc = loss_of(pc, x), lg = loss_of(pg, x.to(Device::cuda));
        // a small clip norm, so that clipping really scales the gradients
        unlearn::masked_step(pc, oc, mc, lc, 0.5, ic);
        unlearn::masked_step(pg, og, mg, lg, 0.5, ig);
        CHECK(ig.grad_norm == doctest::Approx(ic.grad_norm).epsilon(1e-5));
        CHECK(ig.masked_grad_norm == doctest::Approx(ic.masked_grad_norm).epsilon(1e-5));
        CHECK(ig.clipped_grad_norm == doctest::Approx(ic.clipped_grad_norm).epsilon(1e-5));
        for (std::size_t i = 0; i < pc.size(); ++i) {
            check_close(pg[i], pc[i], 1e-4, "parameter " + std::to_string(i));
            check_close(og.momentum_buffer(i), oc.momentum_buffer(i), 1e-4, "momentum " + std::to_string(i));
        }
    }
}

TEST_CASE("a short SalUn run on CUDA matches the CPU run") {
    // 10 classes x 8 images of 3x16x16 (train), 10 x 4 (test), pixels from a seeded generator
    // with a class-dependent mean so that there is something to learn and to forget.
    auto make = [](std::size_t per_class, std::uint64_t seed) {
        data::ImageDataset ds;
        ds.channels = 3;
        ds.height = ds.width = 16;
        Generator gen(seed);
        for (int c = 0; c < 10; ++c) {
            ds.classes.push_back("class" + std::to_string(c));
            for (std::size_t i = 0; i < per_class; ++i) {
                ds.labels.push_back(c);
                for (std::size_t k = 0; k < ds.image_bytes(); ++k)
                    ds.pixels.push_back(std::uint8_t(std::min(255.0, std::max(0.0, gen.normal(20.0 * c + 30, 40)))));
            }
        }
        return ds;
    };
    const data::ImageDataset train = make(8, 51), test = make(4, 52);
    unlearn::ExperimentOptions o;
    o.salun.epochs = 1;
    o.salun.lr = 0.01;
    o.batch_size = 16;
    o.eval_batch_size = 20;
    o.saliency.threshold = 0.5;
    o.cka = false;
    Generator init(53);
    auto cpu = models::make_model<float>("resnet18", 10, init);
    auto gpu = models::clone_model("resnet18", *cpu);
    gpu->to(Device::cuda);
    std::vector<double> loss_cpu, loss_gpu;
    const auto rc = unlearn::run_salun_experiment(*cpu, train, test, 2, o,
                                                  [&](const unlearn::StepInfo& s) { loss_cpu.push_back(s.loss); });
    const auto rg = unlearn::run_salun_experiment(*gpu, train, test, 2, o,
                                                  [&](const unlearn::StepInfo& s) { loss_gpu.push_back(s.loss); });
    CHECK(gpu->device() == Device::cuda);
    CHECK(std::abs(double(rg.mask.selected) - double(rc.mask.selected)) <= 0.01 * double(rc.mask.total));
    // The same training: the first step's loss (one forward through the whole network) agrees to
    // float rounding; later steps drift apart as rounding differences (the host stand-in's own
    // elementwise and batch-norm code against the CPU backend's fused kernels) grow through the
    // updates, to 0.3% by the sixth step here. A wrong op shows at once, far beyond either bound.
    REQUIRE(loss_gpu.size() == loss_cpu.size());
    REQUIRE(!loss_cpu.empty());
    CHECK(loss_gpu[0] == doctest::Approx(loss_cpu[0]).epsilon(1e-5));
    for (std::size_t i = 1; i < loss_cpu.size(); ++i) {
        CAPTURE(i);
        CHECK(loss_gpu[i] == doctest::Approx(loss_cpu[i]).epsilon(1e-2));
    }
    // The same predictions but for near-ties: after one epoch from a random start many logits are
    // nearly equal, and rounding differences (F(4x4) Winograd's are ~1e-5) flip a few of them. At
    // most 3 images of a split (80 train, 40 test) may change from right to wrong or back.
    auto nearly_same = [](const unlearn::ClassMetrics& g, const unlearn::ClassMetrics& c, const char* split) {
        CAPTURE(split);
        REQUIRE(g.accs.size() == c.accs.size());
        double changed = 0;
        for (std::size_t k = 0; k < c.accs.size(); ++k) changed += std::abs(g.accs[k] - c.accs[k]) * double(c.counts[k]);
        CHECK(changed <= 3.0 + 1e-9);
    };
    nearly_same(rg.report.train, rc.report.train, "train");
    nearly_same(rg.report.test, rc.report.test, "test");
}
