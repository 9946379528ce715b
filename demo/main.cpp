// salun-demo: the SalUn machine-unlearning experiment on CIFAR-10 from the command line.
//
//   salun-demo eval       --arch A --weights FILE [--split test|train] [--json OUT]
//   salun-demo unlearn    --arch A --weights FILE --forget-class C --out-dir DIR [...]
//   salun-demo train      --arch A --out FILE [--exclude-class C] [...]
//   salun-demo experiment [--models DIR] [--out-dir DIR]   (also what runs with no command)
//
// This file only parses arguments, wires the library together, shows progress and prints
// results; the algorithm lives in include/salun (unlearn/experiment.hpp and below).
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "args.hpp"
#include "progress.hpp"
#include "salun/core/threads.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/safetensors.hpp"
#include "salun/models/registry.hpp"
#include "salun/optim/lr_scheduler.hpp"
#include "salun/optim/train.hpp"
#include "salun/unlearn.hpp"

namespace fs = std::filesystem;
using demo::Args;
using demo::UsageError;
using Model = salun::nn::Module<float>;

namespace {

constexpr std::size_t kClasses = 10;

// ---- shared option groups ---------------------------------------------------------------------
void add_common(Args& a) {
    a.option("data", "", "CIFAR-10 folder (else $SALUN_DATA); the folder with the .bin files or its parent");
    a.option("threads", "", "worker threads (else $SALUN_NUM_THREADS / $OMP_NUM_THREADS / physical cores)");
    a.flag("quiet", "no progress output");
}

void add_unlearn_options(Args& a) {
    a.option("forget-class", "0", "class to forget, 0..9");
    a.option("epochs", "5", "unlearning epochs");
    a.option("lr", "0.1", "SGD learning rate");
    a.option("batch-size", "128", "unlearning batch size");
    a.option("momentum", "0.9", "SGD momentum");
    a.option("weight-decay", "5e-4", "SGD weight decay");
    a.option("threshold", "0.75", "fraction of weights in the saliency mask, in (0, 1]");
    a.option("saliency-batches", "5", "forget batches used for the saliency mask");
    a.option("grad-clip", "100", "global gradient-norm clip");
    a.option("seed", "2048", "random seed");
    a.option("subset", "0", "keep only the first K training images of every class (0: all)");
    a.flag("freeze-masked", "masked-out weights never move (the seed lets decay/momentum move them)");
}

void apply_threads(const Args& a) {
    if (a.has("threads")) {
        const long n = a.integer("threads");
        if (n <= 0) throw UsageError("--threads must be positive");
        salun::set_num_threads(static_cast<int>(n));
    } else {
        salun::init_threads_from_env();
    }
}

std::string check_arch(const Args& a) {
    const std::string arch = a.required("arch");
    for (const auto& n : salun::models::architectures())
        if (n == arch) return arch;
    throw UsageError("--arch must be resnet18 or vgg16_bn, got '" + arch + "'");
}

std::string data_dir(const Args& a) { return salun::data::find_cifar10(a.has("data") ? a.str("data") : ""); }

std::shared_ptr<Model> load_model(const std::string& arch, const std::string& weights) {
    if (!fs::exists(weights)) salun::detail::throw_error("weights file '", weights, "' does not exist");
    auto model = salun::models::make_model<float>(arch, kClasses);
    const auto file = salun::io::load_safetensors(weights);
    try {
        model->load_state_dict(file.tensors);
    } catch (const salun::Error& e) {
        salun::detail::throw_error("'", weights, "' does not fit ", arch, ": ", e.what());
    }
    model->eval();
    return model;
}

salun::unlearn::ExperimentOptions experiment_options(const Args& a) {
    salun::unlearn::ExperimentOptions o;
    const long fc = a.integer("forget-class"), epochs = a.integer("epochs"), bs = a.integer("batch-size");
    const long sb = a.integer("saliency-batches"), subset = a.integer("subset");
    const double thr = a.real("threshold"), clip = a.real("grad-clip"), lr = a.real("lr");
    if (fc < 0 || fc >= long(kClasses)) throw UsageError("--forget-class must be in 0..9, got " + a.str("forget-class"));
    if (epochs <= 0) throw UsageError("--epochs must be positive, got " + a.str("epochs"));
    if (bs <= 0) throw UsageError("--batch-size must be positive, got " + a.str("batch-size"));
    if (!(thr > 0 && thr <= 1)) throw UsageError("--threshold must be in (0, 1], got " + a.str("threshold"));
    if (!(clip > 0)) throw UsageError("--grad-clip must be positive, got " + a.str("grad-clip"));
    if (!(lr > 0)) throw UsageError("--lr must be positive, got " + a.str("lr"));
    if (sb <= 0) throw UsageError("--saliency-batches must be positive");
    if (subset < 0) throw UsageError("--subset must be >= 0");
    o.salun.epochs = static_cast<int>(epochs);
    o.salun.lr = lr;
    o.salun.momentum = a.real("momentum");
    o.salun.weight_decay = a.real("weight-decay");
    o.salun.grad_clip = clip;
    o.salun.seed = static_cast<std::uint64_t>(a.integer("seed"));
    o.salun.freeze_masked = a.flag_set("freeze-masked");
    o.saliency.threshold = thr;
    o.saliency.max_batches = static_cast<std::size_t>(sb);
    o.batch_size = static_cast<std::size_t>(bs);
    o.subset_per_class = static_cast<std::size_t>(subset);
    return o;
}

std::string random_id() {
    std::random_device rd;
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", rd() & 0xffffu);
    return buf;
}

// ---- eval ---------------------------------------------------------------------------------------
int cmd_eval(const std::vector<std::string>& argv) {
    Args a("eval", "Evaluate a checkpoint on CIFAR-10 (normalised, no augmentation).");
    a.option("arch", "", "resnet18 or vgg16_bn").option("weights", "", "safetensors checkpoint");
    a.option("split", "test", "test or train").option("batch-size", "100", "evaluation batch size");
    a.option("json", "", "write the result as JSON to this file");
    add_common(a);
    if (!a.parse(argv)) return 0;
    const std::string arch = check_arch(a), weights = a.required("weights"), split = a.str("split");
    if (split != "test" && split != "train") throw UsageError("--split must be test or train");
    const long bs = a.integer("batch-size");
    if (bs <= 0) throw UsageError("--batch-size must be positive");
    apply_threads(a);

    const std::string dir = data_dir(a);
    auto model = load_model(arch, weights);
    const auto ds = salun::data::read_cifar10(dir, split == "test" ? salun::data::Split::Test : salun::data::Split::Train);
    const auto t0 = std::chrono::steady_clock::now();
    demo::Progress progress(a.flag_set("quiet"));
    progress.start("eval " + arch + " on " + split, double(ds.size()));
    const auto preds = salun::unlearn::predict_subset(*model, salun::data::all(ds), static_cast<std::size_t>(bs), kClasses,
                                                      [&](std::size_t n) { progress.advance(double(n), "evaluating"); });
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto m = salun::unlearn::class_metrics(preds);

    std::cout << arch << " on CIFAR-10 " << split << ": " << m.correct << "/" << m.total << " correct, accuracy "
              << std::fixed << std::setprecision(4) << m.accuracy() << " (" << std::setprecision(1) << seconds << " s, "
              << std::setprecision(1) << double(m.total) / seconds << " img/s, " << salun::get_num_threads()
              << " threads)\n";
    for (std::size_t c = 0; c < kClasses; ++c)
        std::cout << "  " << std::left << std::setw(11) << ds.classes[c] << std::right << std::setprecision(4)
                  << m.accs[c] << "\n";
    if (a.has("json")) {
        nlohmann::ordered_json j;
        j["arch"] = arch;
        j["weights"] = weights;
        j["split"] = split;
        j["n"] = m.total;
        j["correct"] = m.correct;
        j["accuracy"] = m.accuracy();
        j["per_class"] = m.accs;
        j["seconds"] = salun::unlearn::round_to(seconds, 2);
        salun::io::write_file_atomic(a.str("json"), j.dump(2) + "\n");
    }
    return 0;
}

// ---- unlearn ------------------------------------------------------------------------------------
struct UnlearnOutcome {
    salun::unlearn::RunReport report;
};

UnlearnOutcome unlearn_one(const std::string& arch, const std::string& weights, const std::string& out_dir,
                           const salun::data::ImageDataset& train, const salun::data::ImageDataset& test,
                           const salun::unlearn::ExperimentOptions& o, std::int64_t forget_class, bool quiet) {
    auto model = load_model(arch, weights);
    demo::Progress progress(quiet);
    std::size_t train_images = train.size();
    if (o.subset_per_class) train_images = std::min(train_images, o.subset_per_class * kClasses);
    const std::string name = salun::models::display_name(arch);
    auto on_stage = [&](const std::string& s) {
        progress.finish();
        if (s == "unlearn")
            progress.start(name + " SalUn", double(train_images) * o.salun.epochs);
        else if (s == "eval-train")
            progress.start(name + " evaluating train", double(train_images));
        else if (s == "eval-test")
            progress.start(name + " evaluating test", double(test.size()));
        else if (!quiet)
            std::fprintf(stderr, "%s: %s\n", name.c_str(), s.c_str());
    };
    auto on_step = [&](const salun::unlearn::StepInfo& s) {
        std::ostringstream what;
        what << "epoch " << s.epoch + 1 << "/" << o.salun.epochs << " " << salun::unlearn::phase_name(s.phase) << " "
             << s.batch + 1 << "/" << s.num_batches << " loss " << std::fixed << std::setprecision(4) << s.loss;
        progress.advance(double(s.batch_size), what.str(), s.batch + 1 == s.num_batches);
    };
    auto on_eval = [&](std::size_t n) { progress.advance(double(n), "evaluating"); };
    auto result = salun::unlearn::run_salun_experiment(*model, train, test, forget_class, o, on_step, on_stage, on_eval);
    progress.finish();

    auto& rep = result.report;
    rep.id = random_id();
    rep.model = name;
    rep.base = fs::path(weights).filename().string();
    fs::create_directories(out_dir);
    const std::string stem = (fs::path(out_dir) / rep.id).string();
    salun::io::save_safetensors(stem + ".safetensors", model->state_dict(),
                                {{"arch", arch}, {"method", "SalUn"}, {"forget_class", std::to_string(forget_class)},
                                 {"base", rep.base}});
    salun::unlearn::write_report(stem + ".json", rep);
    if (!quiet) std::fprintf(stderr, "%s: wrote %s.json and %s.safetensors\n", name.c_str(), stem.c_str(), stem.c_str());
    return {rep};
}

void print_summary(const std::vector<salun::unlearn::RunReport>& reports) {
    std::printf("%-16s %8s %8s %8s %8s %8s %8s\n", "Model", "UA", "RA", "TUA", "TRA", "FQS", "Time");
    for (const auto& r : reports) {
        const auto fc = static_cast<std::size_t>(r.forget_class);
        const auto [ua, ra] = salun::unlearn::forget_retain_accuracy(r.train, fc);
        const auto [tua, tra] = salun::unlearn::forget_retain_accuracy(r.test, fc);
        std::printf("%-16s %8.3f %8.3f %8.3f %8.3f %8.4f %7.1fs\n", r.model.c_str(), ua, ra, tua, tra, r.fqs, r.seconds);
    }
}

int cmd_unlearn(const std::vector<std::string>& argv) {
    Args a("unlearn", "Run SalUn on one model: saliency mask, two-phase unlearning, evaluation.\n"
                      "Writes DIR/<ID>.json (results) and DIR/<ID>.safetensors (unlearned weights).");
    a.option("arch", "", "resnet18 or vgg16_bn").option("weights", "", "safetensors checkpoint of the original model");
    a.option("out-dir", "", "output folder");
    add_unlearn_options(a);
    add_common(a);
    if (!a.parse(argv)) return 0;
    const std::string arch = check_arch(a), weights = a.required("weights"), out = a.required("out-dir");
    const auto o = experiment_options(a);
    apply_threads(a);
    const std::string dir = data_dir(a);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    const auto r = unlearn_one(arch, weights, out, train, test, o, a.integer("forget-class"), a.flag_set("quiet"));
    print_summary({r.report});
    return 0;
}

// ---- experiment ---------------------------------------------------------------------------------
int cmd_experiment(const std::vector<std::string>& argv) {
    Args a("experiment", "The seed's experiment: SalUn on ResNet-18 and VGG-16-BN (forget class 0 by default),\n"
                         "a results JSON and unlearned weights per model, and the summary table.");
    a.option("models", "", "folder with resnet18_cifar10.safetensors and vgg16_bn_cifar10.safetensors (else $SALUN_MODELS)");
    a.option("out-dir", "results", "output folder");
    a.option("archs", "resnet18,vgg16_bn", "comma-separated architectures to run");
    add_unlearn_options(a);
    add_common(a);
    if (!a.parse(argv)) return 0;
    const auto o = experiment_options(a);
    std::string models = a.str("models");
    if (models.empty())
        if (const char* env = std::getenv("SALUN_MODELS")) models = env;
    if (models.empty()) throw UsageError("no checkpoints: pass --models DIR or set SALUN_MODELS");
    std::vector<std::string> archs;
    {
        std::stringstream ss(a.str("archs"));
        for (std::string s; std::getline(ss, s, ',');) {
            bool known = false;
            for (const auto& n : salun::models::architectures()) known |= n == s;
            if (!known) throw UsageError("--archs: unknown architecture '" + s + "'");
            archs.push_back(s);
        }
    }
    for (const auto& arch : archs) {
        const auto w = fs::path(models) / (arch + "_cifar10.safetensors");
        if (!fs::exists(w)) salun::detail::throw_error("checkpoint ", w.string(), " not found");
    }
    apply_threads(a);
    const std::string dir = data_dir(a);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<salun::unlearn::RunReport> reports;
    for (const auto& arch : archs) {
        const auto w = (fs::path(models) / (arch + "_cifar10.safetensors")).string();
        reports.push_back(unlearn_one(arch, w, a.str("out-dir"), train, test, o, a.integer("forget-class"),
                                      a.flag_set("quiet")).report);
    }
    print_summary(reports);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\ntotal wall time %s (%d threads)\n", demo::Progress::duration(total).c_str(), salun::get_num_threads());
    return 0;
}

// ---- train --------------------------------------------------------------------------------------
int cmd_train(const std::vector<std::string>& argv) {
    Args a("train", "Train a model from scratch with RandomCrop(32, pad 4) + horizontal flip, SGD (nesterov,\n"
                    "momentum 0.9, weight decay 5e-4) and OneCycleLR; --exclude-class trains the 'retrain'\n"
                    "reference without the forget class. Defaults are the recipe of the shared checkpoints.");
    a.option("arch", "", "resnet18 or vgg16_bn").option("out", "", "output safetensors file");
    a.option("epochs", "6", "training epochs").option("lr", "0.1", "OneCycleLR maximum learning rate");
    a.option("batch-size", "128", "batch size").option("exclude-class", "", "leave this class out (retrain reference)");
    a.option("seed", "2048", "random seed").option("subset", "0", "first K images of every class (0: all)");
    add_common(a);
    if (!a.parse(argv)) return 0;
    const std::string arch = check_arch(a), out = a.required("out");
    const long epochs = a.integer("epochs"), bs = a.integer("batch-size"), subset = a.integer("subset");
    const double lr = a.real("lr");
    if (epochs <= 0) throw UsageError("--epochs must be positive");
    if (bs <= 0) throw UsageError("--batch-size must be positive");
    if (!(lr > 0)) throw UsageError("--lr must be positive");
    if (subset < 0) throw UsageError("--subset must be >= 0");
    long exclude = -1;
    if (a.has("exclude-class")) {
        exclude = a.integer("exclude-class");
        if (exclude < 0 || exclude >= long(kClasses)) throw UsageError("--exclude-class must be in 0..9");
    }
    apply_threads(a);
    const std::string dir = data_dir(a);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);

    const auto seed = static_cast<std::uint64_t>(a.integer("seed"));
    salun::Generator init(seed);
    auto model = salun::models::make_model<float>(arch, kClasses, init);
    salun::data::Subset pool = salun::data::all(train);
    if (subset > 0) pool = salun::data::first_k_per_class(pool, static_cast<std::size_t>(subset));
    const salun::data::Subset used = exclude >= 0 ? salun::data::without_class(pool, static_cast<int>(exclude)) : pool;
    salun::data::LoaderOptions lo;
    lo.batch_size = static_cast<std::size_t>(bs);
    lo.shuffle = true;
    lo.seed = seed;
    lo.augment.random_crop = true;
    lo.augment.horizontal_flip = true;
    salun::data::DataLoader<float> loader(used, lo);
    salun::optim::SGD<float> sgd(model->parameters(), {lr, 0.9, 0.0, 5e-4, true});
    salun::optim::OneCycleLR<float>::Options oc;
    oc.pct_start = 0.25;
    salun::optim::OneCycleLR<float> sched(sgd, lr, epochs * long(loader.num_batches()), oc);

    demo::Progress progress(a.flag_set("quiet"));
    for (long e = 0; e < epochs; ++e) {
        progress.start("train " + arch + " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs), double(used.size()));
        const auto stats = salun::optim::train_epoch<float>(*model, loader, sgd, [&](const salun::optim::TrainStep& s) {
            std::ostringstream w;
            w << "batch " << s.batch + 1 << "/" << s.num_batches << " loss " << std::fixed << std::setprecision(4) << s.loss
              << " lr " << std::setprecision(5) << s.lr;
            progress.advance(double(s.batch_size), w.str(), s.batch + 1 == s.num_batches);
        }, [&] { sched.step(); });
        progress.finish();
        const auto m = salun::unlearn::class_metrics(salun::unlearn::predict_subset(*model, salun::data::all(test), 100, kClasses));
        std::printf("epoch %ld: train loss %.4f, train acc %.4f, test acc %.4f\n", e + 1, stats.loss, stats.accuracy, m.accuracy());
        std::fflush(stdout);
    }
    std::map<std::string, std::string> meta{{"arch", arch}, {"epochs", std::to_string(epochs)}, {"seed", std::to_string(seed)}};
    if (exclude >= 0) meta["exclude_class"] = std::to_string(exclude);
    salun::io::save_safetensors(out, model->state_dict(), meta);
    std::printf("wrote %s\n", out.c_str());
    return 0;
}

void print_usage() {
    std::cout << "usage: salun-demo [experiment|unlearn|eval|train] [options]   (--help after a command lists them)\n\n"
                 "  experiment  SalUn on ResNet-18 and VGG-16-BN, results JSON per model and the summary table\n"
                 "  unlearn     SalUn on one model\n"
                 "  eval        accuracy of a checkpoint on CIFAR-10\n"
                 "  train       train a model from scratch (or a retrain reference with --exclude-class)\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string cmd = "experiment";
    if (!args.empty() && args[0].rfind("--", 0) != 0) {
        cmd = args[0];
        args.erase(args.begin());
    } else if (!args.empty() && (args[0] == "--help" || args[0] == "-h") ) {
        print_usage();
        return 0;
    }
    try {
        if (cmd == "experiment") return cmd_experiment(args);
        if (cmd == "unlearn") return cmd_unlearn(args);
        if (cmd == "eval") return cmd_eval(args);
        if (cmd == "train") return cmd_train(args);
        if (cmd == "help") {
            print_usage();
            return 0;
        }
        throw UsageError("unknown command '" + cmd + "'");
    } catch (const UsageError& e) {
        std::cerr << "salun-demo: " << e.what() << "\n(run 'salun-demo " << (cmd == "help" ? "" : cmd) << " --help' for the options)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "\nsalun-demo: error: " << e.what() << "\n";
        return 1;
    }
}
