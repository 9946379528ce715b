// SPDX-License-Identifier: MIT
// salun-walkthrough: SalUn step by step, narrated on the terminal, with the library's public API
// only. docs/tutorial.md follows it section by section and quotes the code between the
// "[tutorial:NAME]" markers (a test checks that every block the tutorial shows is in this file).
//
//   salun-walkthrough [--arch resnet18 --weights FILE] [--data DIR] [--subset 100] [--epochs 1]
//                     [--forget-class 0] [--threads N]
//   salun-walkthrough --synthetic     no data set, no checkpoint: seconds, as CI runs it
//
// With CIFAR-10 and a checkpoint it takes minutes on a laptop (1,000 training images by default).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#include "salun/core/threads.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/checkpoint.hpp"
#include "salun/models/registry.hpp"
#include "salun/unlearn.hpp"

using namespace salun;

namespace {

struct Options {
    std::string arch = "resnet18", weights, data;
    std::size_t subset = 100;  // training and test images per class
    std::size_t batch_size = 128;
    int epochs = 1;
    ClassIndex forget_class = 0;  // one type for every class index (core/class_index.hpp)
    bool synthetic = false;
};

void say(const std::string& text) { std::cout << text << std::endl; }
void heading(int step, const std::string& title) { std::printf("\n== Step %d: %s ==\n", step, title.c_str()); }

/// Ten classes of 16x16 colour images that a small network learns in seconds: class c is a disc
/// of its own colour at a random place on a background of random colour, with pixel noise. (Flat
/// images would do for accuracy but not for the saliency: on them whole channels stay dead for
/// every forget image, a quarter of the gradients is exactly 0 and the threshold falls to 0.)
data::ImageDataset synthetic_images(std::size_t per_class, std::uint64_t seed) {
    constexpr std::size_t side = 16;
    data::ImageDataset ds;
    ds.channels = 3;
    ds.height = ds.width = side;
    ds.classes = data::cifar10_class_names();
    Generator gen(seed);
    for (std::size_t i = 0; i < per_class * 10; ++i) {
        const auto c = static_cast<ClassIndex>(i % 10);
        ds.labels.push_back(c);
        const double cx = 4 + 8 * gen.uniform01(), cy = 4 + 8 * gen.uniform01(), r = 3.5 + 2 * gen.uniform01();
        double background[3];
        for (double& b : background) b = 255 * gen.uniform01();
        for (std::size_t ch = 0; ch < 3; ++ch)
            for (std::size_t y = 0; y < side; ++y)
                for (std::size_t x = 0; x < side; ++x) {
                    const bool in_disc = (double(x) - cx) * (double(x) - cx) + (double(y) - cy) * (double(y) - cy) < r * r;
                    const double base = in_disc ? 128 + 110 * std::sin(0.63 * double(c) + 2.1 * double(ch)) : background[ch];
                    const double v = base + 40 * (gen.uniform01() - 0.5);
                    ds.pixels.push_back(static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0)));
                }
    }
    return ds;
}

/// A narrow ResNet-18 trained for five epochs on the synthetic images: the "original" model. A
/// fifth of the training labels are replaced by random ones, so that the model never becomes
/// certain: on a saturated softmax the forget gradients vanish and the saliency has nothing to rank.
std::shared_ptr<nn::Module<float>> synthetic_original(const data::ImageDataset& train) {
    auto model = models::resnet18<float>(10, 8);
    data::LoaderOptions lo;
    lo.batch_size = 32;
    lo.shuffle = true;
    data::DataLoader<float> loader(data::all(train), lo);
    optim::SGDOptions so;
    so.lr = 0.05;
    so.momentum = 0.9;
    optim::SGD<float> sgd(model->parameters(), so);
    Generator noise(3);
    model->train();
    for (int epoch = 0; epoch < 5; ++epoch)
        for (const auto& batch : loader.epoch()) {
            std::vector<ClassIndex> labels = batch.labels;
            for (auto& l : labels)
                if (noise.uniform01() < 0.2) l = static_cast<ClassIndex>(noise.randint(10));
            sgd.zero_grad();
            cross_entropy((*model)(batch.images), labels).backward();
            sgd.step();
        }
    model->eval();
    return model;
}

// [tutorial:evaluate]
/// Accuracy on the forget class and on the other classes, for one split.
struct SplitAccuracy {
    double forget = 0, other = 0;
};

SplitAccuracy evaluate(nn::Module<float>& model, const data::Subset& images, ClassIndex forget_class) {
    data::LoaderOptions lo;
    lo.batch_size = 100;
    data::DataLoader<float> loader(images, lo);
    const unlearn::Predictions p = unlearn::predict(model, loader, 10);
    const unlearn::ClassMetrics m = unlearn::class_metrics(p);
    const auto [forget, other] = unlearn::forget_retain_accuracy(m, forget_class);
    return {forget, other};
}
// [/tutorial:evaluate]

void report(const char* when, nn::Module<float>& model, const data::Subset& train, const data::Subset& test, ClassIndex fc) {
    const SplitAccuracy tr = evaluate(model, train, fc), te = evaluate(model, test, fc);
    std::printf("   %-22s forget class: train %.3f  test %.3f | other classes: train %.3f  test %.3f\n", when,
                tr.forget, te.forget, tr.other, te.other);
}

Options parse(int argc, char** argv) {
    demo::Args a("walkthrough", "SalUn step by step, narrated: saliency mask, forget phase, retain phase, metrics.");
    a.option("arch", "resnet18", "architecture of --weights (resnet18, vgg16_bn, vgg16_bn_timm)");
    a.option("weights", "", "checkpoint to unlearn, .safetensors or .pth (default: $SALUN_MODELS/<arch>_cifar10.safetensors)");
    a.option("data", "", "CIFAR-10 folder (default: $SALUN_DATA, then the usual places)");
    a.option("subset", "100", "training and test images per class");
    a.option("epochs", "1", "SalUn epochs");
    a.option("batch-size", "0", "SalUn batch size (0: 128, the reference's; 32 with --synthetic)");
    a.option("forget-class", "0", "class to forget, 0-9");
    a.option("threads", "0", "OpenMP threads (0: $SALUN_NUM_THREADS or all cores)");
    a.flag("synthetic", "no data set or checkpoint: synthetic images and a small model trained on the spot");
    if (!a.parse(std::vector<std::string>(argv + 1, argv + argc))) std::exit(0);
    Options o;
    o.arch = a.str("arch");
    o.weights = a.str("weights");
    o.data = a.str("data");
    o.synthetic = a.flag_set("synthetic");
    const long subset = a.integer("subset"), epochs = a.integer("epochs"), fc = a.integer("forget-class"),
               threads = a.integer("threads"), batch = a.integer("batch-size");
    if (subset <= 0) throw demo::UsageError("--subset must be positive");
    if (epochs <= 0) throw demo::UsageError("--epochs must be positive");
    if (batch < 0) throw demo::UsageError("--batch-size must be positive");
    o.batch_size = batch > 0 ? std::size_t(batch) : o.synthetic ? 32 : 128;
    if (fc < 0 || fc > 9) throw demo::UsageError("--forget-class must be in 0..9, got " + std::to_string(fc));
    o.subset = static_cast<std::size_t>(subset);
    o.epochs = static_cast<int>(epochs);
    o.forget_class = fc;
    if (threads > 0) set_num_threads(static_cast<int>(threads)); else init_threads_from_env();
    return o;
}

int run(const Options& o) {
    const auto t0 = std::chrono::steady_clock::now();
    // ---------------------------------------------------------------------------------------
    heading(1, "load the model and evaluate it");
    data::ImageDataset train_set, test_set;
    std::shared_ptr<nn::Module<float>> model;
    if (o.synthetic) {
        say("   --synthetic: ten classes of 16x16 images (a coloured disc per class), a ResNet-18 of width 8 trained for 5 epochs.");
        train_set = synthetic_images(o.subset, 1);
        test_set = synthetic_images(o.subset, 2);
        model = synthetic_original(train_set);
    } else {
        const std::string dir = data::find_cifar10(o.data);
        train_set = data::read_cifar10(dir, data::Split::Train);
        test_set = data::read_cifar10(dir, data::Split::Test);
        std::string weights = o.weights;
        if (weights.empty()) {
            const char* models_dir = std::getenv("SALUN_MODELS");
            SALUN_CHECK(models_dir, "walkthrough: pass --weights FILE, set SALUN_MODELS, or use --synthetic");
            weights = (std::filesystem::path(models_dir) / (o.arch + "_cifar10.safetensors")).string();
        }
        // [tutorial:load]
        model = models::make_model<float>(o.arch, 10);
        io::Checkpoint checkpoint = io::load_checkpoint(weights);  // .safetensors or PyTorch's .pth, by content
        io::strip_key_prefix(checkpoint.tensors, "module.");         // saved from nn.DataParallel
        model->load_state_dict(checkpoint.tensors);                  // PyTorch names, strict
        // [/tutorial:load]
        say("   " + models::display_name(o.arch) + " from " + weights + ", CIFAR-10 from " + dir);
    }
    // [tutorial:split]
    const data::Subset train = data::first_k_per_class(data::all(train_set), o.subset);
    const data::Subset test = data::first_k_per_class(data::all(test_set), o.subset);
    const data::Subset forget = data::of_class(train, o.forget_class);       // what must be forgotten
    const data::Subset retain = data::without_class(train, o.forget_class);  // what must be kept
    // [/tutorial:split]
    std::printf("   %zu training images (%zu to forget: class %lld, '%s'), %zu test images\n", train.size(), forget.size(),
                static_cast<long long>(o.forget_class), train_set.classes[std::size_t(o.forget_class)].c_str(), test.size());
    report("before unlearning:", *model, train, test, o.forget_class);

    // ---------------------------------------------------------------------------------------
    heading(2, "the saliency mask");
    say("   The gradient of the *negative* cross-entropy on forget batches says which weights matter most for\n"
        "   the forget class; only the top 75% of all weights (one global threshold) will be allowed to move.");
    // [tutorial:saliency]
    data::LoaderOptions lo;
    lo.batch_size = o.batch_size;  // 128 in the reference
    lo.shuffle = true;
    lo.seed = 2048;
    data::DataLoader<float> mask_loader(forget, lo);
    unlearn::SaliencyOptions so;
    so.threshold = 0.75;  // share of all weights kept
    so.max_batches = 5;   // forget batches averaged
    const unlearn::SaliencyMask<float> mask = unlearn::compute_saliency_mask(*model, mask_loader, so);
    // [/tutorial:saliency]
    std::printf("   %zu of %zu weights selected (%.1f%%) from %zu batches; threshold |grad| >= %.3g\n", mask.selected,
                mask.total, 100.0 * mask.selected_fraction(), mask.batches, mask.threshold_value);
    say("   per parameter tensor (the first and last three, and the least selected):");
    std::size_t least = 0;
    for (std::size_t i = 0; i < mask.layers.size(); ++i)
        if (mask.layers[i].selected_fraction < mask.layers[least].selected_fraction) least = i;
    for (std::size_t i = 0; i < mask.layers.size(); ++i) {
        if (!(i < 3 || i + 3 >= mask.layers.size() || i == least)) continue;
        const auto& l = mask.layers[i];
        std::printf("     %-28s %9zu weights, %5.1f%% selected, mean saliency %.3g\n", l.name.c_str(), l.numel,
                    100.0 * l.selected_fraction, l.grad_mean);
    }

    // ---------------------------------------------------------------------------------------
    // [tutorial:trainer]
    unlearn::SalUnOptions opt;
    opt.epochs = o.epochs;
    opt.lr = 0.1;
    opt.momentum = 0.9;
    opt.weight_decay = 5e-4;
    opt.grad_clip = 100.0;
    unlearn::SalUn<float> salun(*model, mask, o.forget_class, opt);
    salun.on_phase_end = [](const unlearn::PhaseInfo& p) {
        std::printf("   %s phase: %zu steps, %zu images, mean loss %.3f, %.1f s\n", unlearn::phase_name(p.phase), p.steps,
                    p.images, p.mean_loss, p.seconds);
    };
    lo.seed = 2049;
    data::DataLoader<float> forget_loader(forget, lo);
    lo.seed = 2050;
    data::DataLoader<float> retain_loader(retain, lo);
    // [/tutorial:trainer]
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        heading(3 + 2 * epoch, "phase 1 (forget), epoch " + std::to_string(epoch + 1));
        say("   Forget images with labels drawn uniformly from the *other* classes; gradients masked, norm clipped at 100.");
        // [tutorial:forget]
        salun.forget_phase(forget_loader, epoch);
        // [/tutorial:forget]
        report("after the forget phase:", *model, train, test, o.forget_class);

        heading(4 + 2 * epoch, "phase 2 (retain), epoch " + std::to_string(epoch + 1));
        say("   Retain images with their true labels: repair what phase 1 damaged in the other classes.");
        // [tutorial:retain]
        salun.retain_phase(retain_loader, epoch);
        // [/tutorial:retain]
        report("after the retain phase:", *model, train, test, o.forget_class);
    }
    salun.finish();

    // ---------------------------------------------------------------------------------------
    heading(3 + 2 * o.epochs, "the metrics");
    // [tutorial:metrics]
    data::LoaderOptions eval;
    eval.batch_size = 100;
    data::DataLoader<float> train_eval(train, eval), test_eval(test, eval);
    const unlearn::Predictions on_train = unlearn::predict(*model, train_eval, 10);
    const unlearn::Predictions on_test = unlearn::predict(*model, test_eval, 10);
    const auto [ua, ra] = unlearn::forget_retain_accuracy(unlearn::class_metrics(on_train), o.forget_class);
    const auto [tua, tra] = unlearn::forget_retain_accuracy(unlearn::class_metrics(on_test), o.forget_class);
    const double fqs = unlearn::forgetting_quality(on_train, o.forget_class);
    // [/tutorial:metrics]
    std::printf("   UA %.3f  RA %.3f  TUA %.3f  TRA %.3f  FQS %.4f\n", ua, ra, tua, tra, fqs);
    say("   UA / TUA: accuracy on the forget class (train / test): low means forgotten.\n"
        "   RA / TRA: accuracy on the other classes: high means kept. FQS: the comparison tool's forgetting quality.");
    std::printf("\nwalkthrough done in %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const demo::UsageError& e) {
        std::cerr << "salun-walkthrough: " << e.what() << " (see --help)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "salun-walkthrough: error: " << e.what() << "\n";
        return 1;
    }
}
