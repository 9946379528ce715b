// salun-demo: the SalUn machine-unlearning experiment on CIFAR-10 from the command line.
//
//   salun-demo eval       --arch A --weights FILE [--split test|train] [--json OUT]
//   salun-demo unlearn    --arch A --weights FILE --forget-class C --out-dir DIR [...]
//   salun-demo train      --arch A --out FILE [--exclude-class C] [...]
//   salun-demo experiment [--models DIR] [--out-dir DIR]   (also what runs with no command)
//
// This file only wires the library together, shows progress and prints results; the command line
// is parsed and checked in cli.hpp, the algorithm lives in include/salun (unlearn/experiment.hpp
// and below).
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "cli.hpp"
#include "progress.hpp"
#include "salun/core/threads.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/safetensors.hpp"
#include "salun/models/clone.hpp"
#include "salun/models/registry.hpp"
#include "salun/optim/lr_scheduler.hpp"
#include "salun/optim/train.hpp"
#include "salun/unlearn.hpp"

namespace fs = std::filesystem;
using demo::kClasses;
using demo::UsageError;
using Model = salun::nn::Module<float>;

namespace {

void apply_threads(const demo::CommonOptions& c) {
    if (c.threads > 0)
        salun::set_num_threads(c.threads);
    else
        salun::init_threads_from_env();
}

std::string data_dir(const demo::CommonOptions& c) { return salun::data::find_cifar10(c.data); }

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

std::string random_id() {
    std::random_device rd;
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", rd() & 0xffffu);
    return buf;
}

// ---- eval ---------------------------------------------------------------------------------------
int run_eval(const demo::EvalCommand& c) {
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const std::string& arch = c.arch;
    const std::string& split = c.split;
    auto model = load_model(arch, c.weights);
    const auto ds = salun::data::read_cifar10(dir, split == "test" ? salun::data::Split::Test : salun::data::Split::Train);
    const auto t0 = std::chrono::steady_clock::now();
    demo::Progress progress(c.common.quiet);
    progress.start("eval " + arch + " on " + split, double(ds.size()));
    const auto preds = salun::unlearn::predict_subset(*model, salun::data::all(ds), c.batch_size, kClasses,
                                                      [&](std::size_t n) { progress.advance(double(n), "evaluating"); });
    progress.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto m = salun::unlearn::class_metrics(preds);

    std::cout << arch << " on CIFAR-10 " << split << ": " << m.correct << "/" << m.total << " correct, accuracy "
              << std::fixed << std::setprecision(4) << m.accuracy() << " (" << std::setprecision(1) << seconds << " s, "
              << std::setprecision(1) << double(m.total) / seconds << " img/s, " << salun::get_num_threads()
              << " threads)\n";
    for (std::size_t k = 0; k < kClasses; ++k)
        std::cout << "  " << std::left << std::setw(11) << ds.classes[k] << std::right << std::setprecision(4)
                  << m.accs[k] << "\n";
    if (!c.json.empty()) {
        nlohmann::ordered_json j;
        j["arch"] = arch;
        j["weights"] = c.weights;
        j["split"] = split;
        j["n"] = m.total;
        j["correct"] = m.correct;
        j["accuracy"] = m.accuracy();
        j["per_class"] = m.accs;
        j["seconds"] = salun::unlearn::round_to(seconds, 2);
        salun::io::write_file_atomic(c.json, j.dump(2) + "\n");
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
    // the original stays beside the unlearned model for the cka field
    auto original = o.cka ? salun::models::clone_model<float>(arch, *model, kClasses) : nullptr;
    demo::Progress progress(quiet);
    std::size_t train_images = train.size();
    // The first K images per class, at most all of them (K * classes may not fit a size_t).
    if (o.subset_per_class > 0 && o.subset_per_class <= train_images / kClasses) train_images = o.subset_per_class * kClasses;
    const std::string name = salun::models::display_name(arch);
    auto on_stage = [&](const std::string& s) {
        progress.finish();
        if (s == "unlearn")
            progress.start(name + " SalUn", double(train_images) * o.salun.epochs);
        else if (s == "eval-train")
            progress.start(name + " evaluating train", double(train_images));
        else if (s == "eval-test")
            progress.start(name + " evaluating test", double(test.size()));
        else if (s == "points")
            progress.start(name + " points (subset + UMAP)", 0);  // UMAP follows the forwards: no ETA
        else if (s == "cka")
            progress.start(name + " CKA, both models", 0);  // the total depends on the sets: no ETA
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
    auto result = salun::unlearn::run_salun_experiment(*model, train, test, forget_class, o, on_step, on_stage, on_eval,
                                                       original.get());
    progress.finish();
    if (!quiet)
        std::fprintf(stderr,
                     "%s: unlearning %.1f s, evaluation %.1f s, extra evaluation (points, attack, cka) %.1f s "
                     "(points: forward %.1f s, UMAP %.1f s)\n",
                     name.c_str(), result.report.seconds, result.eval_seconds, result.extra_seconds,
                     result.points_forward_seconds, result.points_umap_seconds);

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

int run_unlearn(const demo::UnlearnCommand& c) {
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    const auto r = unlearn_one(c.arch, c.weights, c.out_dir, train, test, c.options, c.forget_class, c.common.quiet);
    print_summary({r.report});
    return 0;
}

// ---- experiment ---------------------------------------------------------------------------------
int run_experiment(const demo::ExperimentCommand& c) {
    const auto& archs = c.archs;
    const auto& models = c.models;
    for (const auto& arch : archs) {
        const auto w = fs::path(models) / (arch + "_cifar10.safetensors");
        if (!fs::exists(w)) salun::detail::throw_error("checkpoint ", w.string(), " not found");
    }
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<salun::unlearn::RunReport> reports;
    for (const auto& arch : archs) {
        const auto w = (fs::path(models) / (arch + "_cifar10.safetensors")).string();
        reports.push_back(unlearn_one(arch, w, c.out_dir, train, test, c.options, c.forget_class, c.common.quiet).report);
    }
    print_summary(reports);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\ntotal wall time %s (%d threads)\n", demo::Progress::duration(total).c_str(), salun::get_num_threads());
    return 0;
}

// ---- train --------------------------------------------------------------------------------------
int run_train(const demo::TrainCommand& c) {
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);

    const std::string& arch = c.arch;
    const long epochs = c.epochs, exclude = c.exclude_class;
    const double lr = c.lr;
    const std::uint64_t seed = c.seed;
    salun::Generator init(seed);
    auto model = salun::models::make_model<float>(arch, kClasses, init);
    salun::data::Subset pool = salun::data::all(train);
    if (c.subset > 0) pool = salun::data::first_k_per_class(pool, c.subset);
    const salun::data::Subset used = exclude >= 0 ? salun::data::without_class(pool, static_cast<int>(exclude)) : pool;
    salun::data::LoaderOptions lo;
    lo.batch_size = c.batch_size;
    lo.shuffle = true;
    lo.seed = seed;
    lo.augment.random_crop = true;
    lo.augment.horizontal_flip = true;
    salun::data::DataLoader<float> loader(used, lo);
    salun::optim::SGD<float> sgd(model->parameters(), {lr, 0.9, 0.0, 5e-4, true});
    salun::optim::OneCycleLR<float>::Options oc;
    oc.pct_start = 0.25;
    salun::optim::OneCycleLR<float> sched(sgd, lr, epochs * long(loader.num_batches()), oc);

    demo::Progress progress(c.common.quiet);
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
    salun::io::save_safetensors(c.out, model->state_dict(), meta);
    std::printf("wrote %s\n", c.out.c_str());
    return 0;
}

struct Runner {
    int operator()(const demo::HelpShown&) const { return 0; }
    int operator()(const demo::EvalCommand& c) const { return run_eval(c); }
    int operator()(const demo::UnlearnCommand& c) const { return run_unlearn(c); }
    int operator()(const demo::ExperimentCommand& c) const { return run_experiment(c); }
    int operator()(const demo::TrainCommand& c) const { return run_train(c); }
};

}  // namespace

int main(int argc, char** argv) {
    const demo::CommandLine cl = demo::split_command(std::vector<std::string>(argv + 1, argv + argc));
    const std::string& cmd = cl.command;
    try {
        return std::visit(Runner{}, demo::parse_command(cl));
    } catch (const UsageError& e) {
        std::cerr << "salun-demo: " << e.what() << "\n(run 'salun-demo " << (cmd == "help" ? "" : cmd) << " --help' for the options)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "\nsalun-demo: error: " << e.what() << "\n";
        return 1;
    }
}
