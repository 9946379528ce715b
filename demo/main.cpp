// SPDX-License-Identifier: MIT
// salun-demo: the SalUn machine-unlearning experiment on CIFAR-10 from the command line.
//
//   salun-demo eval       --arch A --weights FILE [--split test|train] [--json OUT]
//   salun-demo unlearn    --arch A --weights FILE --forget-class C --out-dir DIR [--name N] [--method M] [...]
//   salun-demo train      --arch A --out FILE [--exclude-class C] [...]
//   salun-demo experiment [--models DIR] [--out-dir DIR] [--name N] [--methods salun,ft,ga,rl]
//   salun-demo convert    IN OUT
//   salun-demo --version
// With no command it prints the usage and exits 2. Checkpoints are .safetensors or .pth (by
// content). Results go to stdout (paths of what was written, tables); progress to stderr.
//
// unlearn, experiment and train write a resume file after every phase / epoch; --resume continues
// from it, bit for bit. Ctrl-C stops between two steps, keeps the resume file, writes nothing
// else and exits 130.
//
// This file only wires the library together, shows progress and prints results; the command line
// is parsed and checked in cli.hpp, the algorithm lives in include/salun (unlearn/experiment.hpp
// and below).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>

#include "cli.hpp"
#include "progress.hpp"
#include "salun/core/threads.hpp"
#include "salun/data/cifar10.hpp"
#include "salun/io/checkpoint.hpp"
#include "salun/models/clone.hpp"
#include "salun/models/registry.hpp"
#include "salun/optim/lr_scheduler.hpp"
#include "salun/optim/train.hpp"
#include "salun/report/html.hpp"
#include "salun/unlearn.hpp"
#include "salun/unlearn/inspection.hpp"

namespace fs = std::filesystem;
using demo::kClasses;
using demo::UsageError;
using Model = salun::nn::Module<float>;

namespace {

// ---- Ctrl-C and resume files --------------------------------------------------------------------
volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) {
    g_interrupted = 1;
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the program at once
}

/// Long commands stop cleanly on Ctrl-C: the flag is checked between steps (check_interrupt).
void install_sigint_handler() { std::signal(SIGINT, on_sigint); }

/// Thrown between two steps after Ctrl-C; main says what was kept and exits 130 (128 + SIGINT).
struct Interrupted {
    std::string resume_file;  ///< the resume file to continue from ("" if none was written yet)
    std::string resume_hint;  ///< what to add to the command line to continue
};

void check_interrupt() {
    if (g_interrupted) throw Interrupted{};
}

long env_long(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::atol(v) : 0;
}

/// Called after every optimiser step. Testing aids for tests/integration/check_resume.cmake:
/// SALUN_TEST_KILL_AT_STEP=N sends this process SIGKILL right after its N-th step (a crash in
/// the middle of an epoch), SALUN_TEST_INTERRUPT_AT_STEP=N sends it SIGINT (Ctrl-C).
void after_step() {
    static const long kill_at = env_long("SALUN_TEST_KILL_AT_STEP"), interrupt_at = env_long("SALUN_TEST_INTERRUPT_AT_STEP");
    static long steps = 0;
    ++steps;
    if (steps == kill_at) std::raise(SIGKILL);
    if (steps == interrupt_at) std::raise(SIGINT);
    check_interrupt();
}

void apply_threads(const demo::CommonOptions& c) {
    if (c.threads > 0)
        salun::set_num_threads(c.threads);
    else
        salun::init_threads_from_env();
    // --device cuda in a CPU-only build or without a GPU: the error (exit status 1) comes before
    // any data is read.
    salun::require_device(c.device, "--device cuda");
#if defined(SALUN_WITH_CUDA)
    if (c.device == salun::Device::cuda && !c.quiet)
        std::fprintf(stderr, "salun-demo: running on cuda: %s\n", salun::cuda::device_status().c_str());
#endif
}

std::string data_dir(const demo::CommonOptions& c) { return salun::data::find_cifar10(c.data); }

struct LoadedModel {
    std::shared_ptr<Model> model;
    std::optional<salun::data::Normalize> normalize;  ///< the run's input normalisation
    bool from_checkpoint = false;                      ///< it came from normalize.mean / normalize.std
};

/// Loads a checkpoint of either format into a new model. DataParallel's "module." prefix is
/// dropped; normalize.mean / normalize.std (official SalUn checkpoints) become the run's input
/// normalisation unless --mean / --std (`override`) say otherwise; else CIFAR-10's. The model ends
/// up on `device`, in eval mode.
LoadedModel load_model(const std::string& arch, const std::string& weights, const demo::NormalizeOverride& override,
                       bool quiet, salun::Device device) {
    if (!fs::exists(weights)) salun::detail::throw_error("weights file '", weights, "' does not exist");
    LoadedModel m;
    m.model = salun::models::make_model<float>(arch, kClasses);
    auto file = salun::io::load_checkpoint(weights);
    salun::io::strip_key_prefix(file.tensors, "module.");
    const auto stored = salun::io::take_normalization(file.tensors);
    try {
        m.model->load_state_dict(file.tensors);
    } catch (const salun::Error& e) {
        salun::detail::throw_error("'", weights, "' does not fit ", arch, ": ", e.what());
    }
    m.model->eval();
    m.model->to(device);
    m.normalize = salun::data::cifar10_normalize();
    if (override) {
        m.normalize = override;
    } else if (stored) {
        SALUN_CHECK(stored->mean.size() == 3, "'", weights, "': normalize.mean has ", stored->mean.size(),
                    " channels, CIFAR-10 images have 3");
        salun::data::Normalize n;
        for (std::size_t c = 0; c < 3; ++c) {
            n.mean[c] = stored->mean[c];
            n.std[c] = stored->std[c];
        }
        m.normalize = n;
        m.from_checkpoint = true;
        if (!quiet)
            std::fprintf(stderr, "%s: input normalisation from the checkpoint: mean (%g, %g, %g), std (%g, %g, %g)\n",
                         weights.c_str(), n.mean[0], n.mean[1], n.mean[2], n.std[0], n.std[1], n.std[2]);
    }
    return m;
}

bool is_default_normalize(const std::optional<salun::data::Normalize>& n) {
    const auto d = salun::data::cifar10_normalize();
    return n && n->mean == d.mean && n->std == d.std;
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
    const auto loaded = load_model(arch, c.weights, c.normalize, c.common.quiet, c.common.device);
    auto& model = loaded.model;
    const auto ds = salun::data::read_cifar10(dir, split == "test" ? salun::data::Split::Test : salun::data::Split::Train);
    const auto t0 = std::chrono::steady_clock::now();
    demo::Progress progress(c.common.quiet);
    progress.start("eval " + arch + " on " + split, double(ds.size()));
    const auto preds = salun::unlearn::predict_subset(*model, salun::data::all(ds), c.batch_size, kClasses,
                                                      [&](std::size_t n) { progress.advance(double(n), "evaluating"); },
                                                      loaded.normalize);
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
using salun::unlearn::Method;
using Reference = salun::unlearn::RetrainReference<float>;

/// A retrained reference with the model that backs it (kept alive beside the reference's pointer).
struct LoadedReference {
    std::shared_ptr<Model> model;
    Reference ref;
    std::optional<salun::unlearn::RunReport> report;  ///< its own run (trained now or read from the cache)
};

struct UnlearnOutcome {
    salun::unlearn::RunReport report;
    std::shared_ptr<Model> model;
    salun::unlearn::SaliencyMask<float> mask;  ///< SalUn's (empty for the other methods)
};

/// Training images that `o`'s pool holds: all, or the first K of every class.
std::size_t pool_size(const salun::data::ImageDataset& train, const salun::unlearn::ExperimentOptions& o) {
    std::size_t n = train.size();
    // The first K images per class, at most all of them (K * classes may not fit a size_t).
    if (o.subset_per_class > 0 && o.subset_per_class <= n / kClasses) n = o.subset_per_class * kClasses;
    return n;
}

/// Images one run of the method trains on (for the progress bar's total).
double method_images(const salun::unlearn::ExperimentOptions& o, std::size_t pool) {
    const double all = double(pool), forget = all / double(kClasses), retain = all - forget;
    const auto ms = salun::unlearn::method_settings(o);
    switch (o.method) {
    case Method::SalUn:
    case Method::RL: return all * ms.epochs;
    case Method::FT:
    case Method::Retrain: return retain * ms.epochs;
    case Method::GA: return forget * ms.epochs;
    }
    return 0;
}

/// DIR/NAME's resume file.
std::string resume_path(const std::string& stem) { return stem + ".resume.safetensors"; }

/// Runs `o.method` on `model` (loaded from `weights`; for retrain a fresh one), evaluates, writes
/// DIR/<ID>.json, DIR/<ID>.safetensors and DIR/<ID>.steps.jsonl. SalUn writes DIR/<ID>.resume.safetensors
/// after the mask and every phase and, with `resume`, continues from it.
UnlearnOutcome unlearn_one(const std::string& arch, const std::string& weights, const std::string& out_dir,
                           const std::string& out_name, const salun::data::ImageDataset& train,
                           const salun::data::ImageDataset& test, salun::unlearn::ExperimentOptions o,
                           const demo::NormalizeOverride& normalize, salun::ClassIndex forget_class, bool quiet,
                           salun::Device device, bool resume, Reference* reference = nullptr) {
    // The original: the model to unlearn, or for retrain the source of the normalisation and of the
    // cka field's "before" (retrain starts from a fresh model).
    const auto loaded = load_model(arch, weights, normalize, quiet, device);
    o.normalize = loaded.normalize;
    std::shared_ptr<Model> model = loaded.model;
    if (o.method == Method::Retrain) {
        salun::Generator init(o.retrain.seed);
        model = salun::models::make_model<float>(arch, kClasses, init);
        model->to(device);
    }
    const std::string id = out_name.empty() ? random_id() : out_name;
    const std::string stem = (fs::path(out_dir) / id).string();
    const bool had_dir = fs::exists(out_dir);
    fs::create_directories(out_dir);  // the resume file goes there from the first phase on
    if (o.method == Method::SalUn) {  // the baselines restart from their beginning (docs/salun.md)
        o.resume.path = resume_path(stem);
        o.resume.resume = resume;
        // The run's inputs beside its options: the same checkpoint (by name and size) and architecture.
        o.resume.fingerprint = {{"arch", arch}, {"weights", fs::path(weights).filename().string()},
                                {"weights_bytes", fs::file_size(weights)}};
        if (!quiet && !resume && fs::exists(o.resume.path))
            std::fprintf(stderr, "%s: note: starting afresh, replacing the resume file of an earlier run (--resume continues it)\n",
                         o.resume.path.c_str());
        if (!quiet && resume && !fs::exists(o.resume.path))
            std::fprintf(stderr, "%s: no resume file, starting afresh\n", o.resume.path.c_str());
    } else if (!quiet && resume) {
        std::fprintf(stderr, "%s: note: only salun runs resume mid-run; this %s run starts from its beginning\n",
                     stem.c_str(), salun::unlearn::method_name(o.method));
    }
    const bool had_resume_file = !o.resume.path.empty() && fs::exists(o.resume.path);
    // the original stays beside the unlearned model for the cka field
    std::shared_ptr<Model> original;
    if (o.cka) original = o.method == Method::Retrain ? loaded.model
                                                      : salun::models::clone_model<float>(arch, *model, kClasses);
    if (original) original->to(device);
    demo::Progress progress(quiet);
    const std::size_t train_images = pool_size(train, o);
    const std::string name = salun::models::display_name(arch);
    const std::string method = salun::unlearn::method_name(o.method);
    const int epochs = salun::unlearn::method_settings(o).epochs;
    double unlearn_done = 0;  // images the unlearning loop went through (its progress total is what is left)
    auto on_stage = [&](salun::unlearn::Stage s) {
        using salun::unlearn::Stage;
        check_interrupt();
        progress.finish();
        switch (s) {
        case Stage::Unlearn:  // again after each --eval-every-epoch evaluation: what is left of the loop
            progress.start(name + " " + method, std::max(0.0, method_images(o, train_images) - unlearn_done));
            break;
        case Stage::EvalTrain: progress.start(name + " " + method + " evaluating train", double(train_images)); break;
        case Stage::EvalTest: progress.start(name + " " + method + " evaluating test", double(test.size())); break;
        case Stage::Points:  // UMAP follows the forwards: no ETA
            progress.start(name + " " + method + " points (subset + UMAP)", 0);
            break;
        case Stage::Cka: progress.start(name + " CKA, both models", 0); break;  // the total depends on the sets: no ETA
        case Stage::Saliency:
        case Stage::Resumed:
        case Stage::Attack:
        case Stage::Privacy:
            if (!quiet) std::fprintf(stderr, "%s %s: %s\n", name.c_str(), method.c_str(), salun::unlearn::stage_name(s));
            break;
        }
    };
    auto on_step = [&](const salun::unlearn::StepInfo& s) {
        unlearn_done += double(s.batch_size);
        std::ostringstream what;
        what << "epoch " << s.epoch + 1 << "/" << epochs << " " << salun::unlearn::phase_name(s.phase) << " "
             << s.batch + 1 << "/" << s.num_batches << " loss " << std::fixed << std::setprecision(4) << s.loss;
        progress.advance(double(s.batch_size), what.str(), s.batch + 1 == s.num_batches);
        after_step();
    };
    auto on_eval = [&](std::size_t n) {
        check_interrupt();
        progress.advance(double(n), "evaluating");
    };
    std::optional<salun::unlearn::ExperimentResult<float>> run;
    try {
        run = salun::unlearn::run_salun_experiment(*model, train, test, forget_class, o, on_step, on_stage, on_eval,
                                                   original.get(), reference);
    } catch (Interrupted& stop) {
        progress.finish();
        if (!o.resume.path.empty() && fs::exists(o.resume.path)) {
            stop.resume_file = o.resume.path;
            stop.resume_hint = out_name.empty() ? "--name " + id + " --resume" : "--resume";
        } else if (!had_dir && fs::is_empty(out_dir)) {
            fs::remove(out_dir);  // nothing to keep: leave no trace
        }
        throw;
    } catch (...) {
        // A failure (a diverging loss, bad data) would come back on resuming: a resume file this
        // run started is removed with the rest, one from an earlier run (a refused --resume) kept.
        progress.finish();
        if (!had_resume_file && !o.resume.path.empty()) fs::remove(o.resume.path);
        if (!had_dir && fs::is_empty(out_dir)) fs::remove(out_dir);
        throw;
    }
    auto& result = *run;
    progress.finish();
    if (!quiet)
        std::fprintf(stderr,
                     "%s %s: training %.1f s, evaluation %.1f s, extra evaluation (points, attack, cka, PS) %.1f s "
                     "(points: forward %.1f s, UMAP %.1f s)\n",
                     name.c_str(), method.c_str(), result.report.seconds, result.eval_seconds, result.extra_seconds,
                     result.points_forward_seconds, result.points_umap_seconds);

    if (!quiet && result.report.extra.contains("per_epoch"))  // --eval-every-epoch
        for (const auto& row : result.report.extra["per_epoch"])
            std::fprintf(stderr, "%s %s: %s UA %.3f RA %.3f TUA %.3f TRA %.3f\n", name.c_str(), method.c_str(),
                         row.at("epoch").get<int>() == 0 ? "before  " : ("epoch " + std::to_string(row.at("epoch").get<int>()) + " ").c_str(),
                         row.at("UA").get<double>(), row.at("RA").get<double>(), row.at("TUA").get<double>(),
                         row.at("TRA").get<double>());
    auto& rep = result.report;
    rep.id = id;
    rep.model = name;
    rep.base = o.method == Method::Retrain ? "-" : fs::path(weights).filename().string();
    result.steps.write(stem + ".steps.jsonl");  // every step, a resumed run's earlier ones included
    rep.extra["step_log"] = rep.id + ".steps.jsonl";
    auto weights_out = model->state_dict();
    if (!is_default_normalize(o.normalize)) {
        // Keep the run's normalisation with the weights, so that they load and evaluate the same way.
        weights_out.insert_or_assign("normalize.mean", salun::io::TensorData::from_tensor(
            salun::Tensor<float>::from_data({3}, o.normalize->mean.data())));
        weights_out.insert_or_assign("normalize.std", salun::io::TensorData::from_tensor(
            salun::Tensor<float>::from_data({3}, o.normalize->std.data())));
    }
    salun::io::save_safetensors(stem + ".safetensors", weights_out,
                                {{"arch", arch}, {"method", method}, {"forget_class", std::to_string(forget_class)},
                                 {"base", rep.base}});
    salun::unlearn::write_report(stem + ".json", rep);
    if (!o.resume.path.empty()) fs::remove(o.resume.path);  // finished: nothing left to resume
    std::printf("wrote %s.json, %s.safetensors and %s.steps.jsonl\n", stem.c_str(), stem.c_str(), stem.c_str());
    std::fflush(stdout);
    return {rep, model, std::move(result.mask)};
}

// ---- the retrained reference --------------------------------------------------------------------
// Cached as <cache>/<arch>_cifar10.retrain-fc<C>-e<E>-lr<LR>-bs<B>-s<seed>[-sub<K>].safetensors
// plus .json beside it (the reference's own results JSON with its unrounded per-class accuracies
// under "reference_metrics"): everything that changes the reference is in the name.

/// Writable for us, and not marked read-only: root passes access(W_OK) on an r-x folder, but a
/// folder without any write bit (such as ../shared/models) is meant to stay as it is.
bool writable_folder(const std::string& dir) {
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    if (ec || !fs::is_directory(st)) return false;
    const auto w = fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write;
    return (st.permissions() & w) != fs::perms::none && access(dir.c_str(), W_OK) == 0;
}

std::string cache_dir(const demo::ReferenceOptions& r, const std::string& models_dir) {
    if (!r.cache_dir.empty()) return r.cache_dir;
    if (!models_dir.empty() && writable_folder(models_dir)) return models_dir;  // beside the checkpoints
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "salun").string();
    if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "salun").string();
    return ".salun-cache";
}

std::string reference_stem(const std::string& dir, const std::string& arch, salun::ClassIndex fc,
                           const salun::unlearn::ExperimentOptions& o) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s_cifar10.retrain-fc%lld-e%d-lr%g-bs%zu-s%llu", arch.c_str(), (long long)fc,
                  o.retrain.epochs, o.retrain.max_lr, o.retrain.batch_size, (unsigned long long)o.retrain.seed);
    std::string s = buf;
    if (o.subset_per_class > 0) s += "-sub" + std::to_string(o.subset_per_class);
    return (fs::path(dir) / s).string();
}

nlohmann::ordered_json metrics_json(const salun::unlearn::ClassMetrics& m) {
    return {{"accs", m.accs}, {"counts", m.counts}};
}

salun::unlearn::ClassMetrics metrics_from_json(const nlohmann::json& j) {
    salun::unlearn::ClassMetrics m;
    m.accs = j.at("accs").get<std::vector<double>>();
    m.counts = j.at("counts").get<std::vector<std::size_t>>();
    SALUN_CHECK(m.accs.size() == kClasses && m.counts.size() == kClasses, "reference metrics: expected ", kClasses,
                " classes");
    return m;
}

/// The reference's metrics from <stem>.json, or nothing when there is none.
bool read_reference_json(const std::string& json_path, LoadedReference& lr, const std::string& arch) {
    if (!fs::exists(json_path)) return false;
    std::ifstream f(json_path);
    const auto j = nlohmann::json::parse(f);
    if (!j.contains("reference_metrics")) return false;
    lr.ref.train = metrics_from_json(j["reference_metrics"]["train"]);
    lr.ref.test = metrics_from_json(j["reference_metrics"]["test"]);
    salun::unlearn::RunReport r;
    r.model = salun::models::display_name(arch);
    r.method = "Retrain";
    r.forget_class = j.value("FC", 0);
    r.train = lr.ref.train;
    r.test = lr.ref.test;
    r.fqs = j.value("FQS", 0.0);
    r.seconds = j.value("RTE", 0.0);
    lr.report = r;
    return true;
}

/// Trains the reference (progress bar, measured time), writes its run to `out_dir` and caches it.
LoadedReference train_reference(const std::string& arch, const std::string& weights, const std::string& out_dir,
                                const std::string& stem, const salun::data::ImageDataset& train,
                                const salun::data::ImageDataset& test, salun::unlearn::ExperimentOptions o,
                                salun::ClassIndex fc, bool quiet, salun::Device device) {
    o.method = Method::Retrain;
    const std::string name = salun::models::display_name(arch);
    if (!quiet)
        std::fprintf(stderr, "%s: training the retrained reference (forget class %lld, %d epochs) -> %s.safetensors\n",
                     name.c_str(), (long long)fc, o.retrain.epochs, stem.c_str());
    UnlearnOutcome out = unlearn_one(arch, weights, out_dir, "", train, test, o, demo::NormalizeOverride{}, fc, quiet, device, false);
    if (!quiet)
        std::fprintf(stderr, "%s: retrained reference trained in %s (%.1f s)\n", name.c_str(),
                     demo::Progress::duration(out.report.seconds).c_str(), out.report.seconds);
    fs::create_directories(fs::path(stem).parent_path());
    salun::io::save_safetensors(stem + ".safetensors", out.model->state_dict(),
                                {{"arch", arch}, {"method", "Retrain"}, {"forget_class", std::to_string(fc)}});
    auto j = salun::unlearn::to_json(out.report);
    j["reference_metrics"] = {{"train", metrics_json(out.report.train)}, {"test", metrics_json(out.report.test)}};
    salun::io::write_file_atomic(stem + ".json", j.dump(2) + "\n");
    LoadedReference lr;
    lr.model = out.model;
    lr.ref.model = lr.model.get();
    lr.ref.train = out.report.train;
    lr.ref.test = out.report.test;
    lr.ref.name = fs::path(stem + ".safetensors").filename().string();
    lr.report = out.report;
    return lr;
}

/// Loads `file` as the reference; its metrics from <file stem>.json when there, else evaluated now.
LoadedReference load_reference(const std::string& arch, const std::string& file, const salun::data::ImageDataset& train,
                               const salun::data::ImageDataset& test, const salun::unlearn::ExperimentOptions& o,
                               bool quiet, salun::Device device) {
    LoadedReference lr;
    const auto loaded = load_model(arch, file, demo::NormalizeOverride{}, quiet, device);
    lr.model = loaded.model;
    lr.ref.model = lr.model.get();
    lr.ref.name = fs::path(file).filename().string();
    const std::string json = (fs::path(file).parent_path() / fs::path(file).stem()).string() + ".json";
    if (read_reference_json(json, lr, arch)) return lr;
    const std::string name = salun::models::display_name(arch);
    salun::data::Subset pool = salun::data::all(train);
    if (o.subset_per_class > 0) pool = salun::data::first_k_per_class(pool, o.subset_per_class);
    demo::Progress progress(quiet);
    progress.start(name + " evaluating the retrained reference", double(pool.size() + test.size()));
    auto on = [&](std::size_t n) { progress.advance(double(n), "evaluating"); };
    lr.ref.train = salun::unlearn::class_metrics(
        salun::unlearn::predict_subset(*lr.model, pool, o.eval_batch_size, kClasses, on, loaded.normalize));
    lr.ref.test = salun::unlearn::class_metrics(
        salun::unlearn::predict_subset(*lr.model, salun::data::all(test), o.eval_batch_size, kClasses, on, loaded.normalize));
    progress.finish();
    return lr;
}

/// The reference for (arch, forget class): --retrain-reference, else the cache, else trained
/// (when `train_if_missing`) or none.
std::optional<LoadedReference> obtain_reference(const std::string& arch, const std::string& weights,
                                                const std::string& out_dir, const demo::ReferenceOptions& r,
                                                const std::string& models_dir, const salun::data::ImageDataset& train,
                                                const salun::data::ImageDataset& test,
                                                salun::unlearn::ExperimentOptions o, salun::ClassIndex fc, bool quiet,
                                                bool train_if_missing, salun::Device device) {
    if (r.none) return std::nullopt;
    o.retrain.epochs = r.retrain_epochs > 0 ? r.retrain_epochs : salun::unlearn::retrain_epochs_for(arch);
    if (!r.file.empty()) return load_reference(arch, r.file, train, test, o, quiet, device);
    const std::string stem = reference_stem(cache_dir(r, models_dir), arch, fc, o);
    if (fs::exists(stem + ".safetensors")) {
        if (!quiet) std::fprintf(stderr, "%s: retrained reference from the cache: %s.safetensors\n",
                                 salun::models::display_name(arch).c_str(), stem.c_str());
        return load_reference(arch, stem + ".safetensors", train, test, o, quiet, device);
    }
    if (!train_if_missing) {
        if (!quiet) std::fprintf(stderr, "no retrained reference (none cached at %s.safetensors): no PS, no gap\n",
                                 stem.c_str());
        return std::nullopt;
    }
    return train_reference(arch, weights, out_dir, stem, train, test, o, fc, quiet, device);
}

std::string optional_cell(const std::optional<double>& v, int decimals) {
    if (!v) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
    return buf;
}

std::string optional_cell(const nlohmann::ordered_json& r, const char* key, int decimals) {
    return r.contains(key) ? optional_cell(r.at(key).get<double>(), decimals) : "-";
}

/// The table from the results JSON (a run finished by an earlier, resumed experiment has only that).
void print_summary(const std::vector<nlohmann::ordered_json>& results) {
    std::printf("%-12s %-8s %7s %7s %7s %7s %7s %6s %7s %9s\n", "Model", "Method", "UA", "RA", "TUA", "TRA", "FQS", "PS",
                "Gap", "Time");
    for (const auto& r : results)
        std::printf("%-12s %-8s %7.3f %7.3f %7.3f %7.3f %7.4f %6s %7s %8.1fs\n", r.at("Model").get<std::string>().c_str(),
                    r.at("Method").get<std::string>().c_str(), r.at("UA").get<double>(), r.at("RA").get<double>(),
                    r.at("TUA").get<double>(), r.at("TRA").get<double>(), r.at("FQS").get<double>(),
                    optional_cell(r, "PS", 3).c_str(), optional_cell(r, "avg_gap", 4).c_str(), r.at("RTE").get<double>());
}

int run_unlearn(const demo::UnlearnCommand& c) {
    install_sigint_handler();
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    auto o = c.options;
    if (o.method == Method::Retrain) {  // trains the reference itself, and caches it
        o.retrain.epochs = c.reference.retrain_epochs > 0 ? c.reference.retrain_epochs
                                                          : salun::unlearn::retrain_epochs_for(c.arch);
        const std::string models_dir = fs::path(c.weights).parent_path().string();
        const std::string stem = reference_stem(cache_dir(c.reference, models_dir), c.arch, c.forget_class, o);
        const auto lr = train_reference(c.arch, c.weights, c.out_dir, stem, train, test, o, c.forget_class, c.common.quiet,
                                        c.common.device);
        print_summary({salun::unlearn::to_json(*lr.report)});
        return 0;
    }
    auto ref = obtain_reference(c.arch, c.weights, c.out_dir, c.reference, fs::path(c.weights).parent_path().string(),
                                train, test, o, c.forget_class, c.common.quiet, false, c.common.device);
    const auto r = unlearn_one(c.arch, c.weights, c.out_dir, c.name, train, test, o, c.normalize, c.forget_class,
                               c.common.quiet, c.common.device, c.resume, ref ? &ref->ref : nullptr);
    if (!c.save_mask.empty()) {
        SALUN_CHECK(!r.mask.masks.empty(), "--save-mask: the ", salun::unlearn::method_name(o.method),
                    " method computes no saliency mask");
        salun::io::save_safetensors(c.save_mask, salun::unlearn::mask_state_dict(r.mask),
                                    {{"threshold", std::to_string(o.saliency.threshold)},
                                     {"selected", std::to_string(r.mask.selected)},
                                     {"total", std::to_string(r.mask.total)}});
        std::printf("wrote %s (the saliency mask)\n", c.save_mask.c_str());
    }
    print_summary({salun::unlearn::to_json(r.report)});
    return 0;
}

// ---- experiment ---------------------------------------------------------------------------------
/// DIR/<arch>_cifar10.safetensors, else DIR/<arch>_cifar10.pth.
std::string experiment_checkpoint(const std::string& models, const std::string& arch) {
    for (const char* ext : {".safetensors", ".pth"}) {
        const auto w = fs::path(models) / (arch + "_cifar10" + ext);
        if (fs::exists(w)) return w.string();
    }
    salun::detail::throw_error("checkpoint ", (fs::path(models) / (arch + "_cifar10.safetensors")).string(),
                               " (or .pth) not found; scripts/download_models.sh fetches the reference's ResNet-18,",
                               " salun-demo train makes either model");
}

int run_experiment(const demo::ExperimentCommand& c) {
    apply_threads(c.common);  // first: an unusable --device is reported before anything else
    const auto& archs = c.archs;
    const auto& models = c.models;
    for (const auto& arch : archs) experiment_checkpoint(models, arch);
    if (!c.reference.file.empty() && !fs::exists(c.reference.file))
        salun::detail::throw_error("retrained reference ", c.reference.file, " not found");
    install_sigint_handler();
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<nlohmann::ordered_json> reports;
    const bool with_retrain_row = std::find(c.methods.begin(), c.methods.end(), Method::Retrain) != c.methods.end();
    const bool train_reference_if_missing = c.methods.size() > 1 || c.methods.front() != Method::SalUn;
    for (const auto& arch : archs) {
        const auto w = experiment_checkpoint(models, arch);
        // A comparison (--methods beyond salun) trains the reference once per model and forget class
        // (then cached); SalUn alone uses a cached or given reference but does not train one.
        auto ref = obtain_reference(arch, w, c.out_dir, c.reference, models, train, test, c.options, c.forget_class,
                                    c.common.quiet, train_reference_if_missing, c.common.device);
        if (with_retrain_row && ref && ref->report) reports.push_back(salun::unlearn::to_json(*ref->report));
        for (const Method m : c.methods) {
            if (m == Method::Retrain) continue;  // the reference's own row, above
            auto o = c.options;
            o.method = m;
            std::string name;
            if (!c.name.empty())
                name = c.name + "-" + arch + (c.methods.size() > 1 ? std::string("-") + salun::unlearn::method_name(m) : std::string());
            const std::string stem = (fs::path(c.out_dir) / name).string();
            if (c.resume && !name.empty() && fs::exists(stem + ".json") && !fs::exists(resume_path(stem))) {
                // Finished by an earlier run: its results stand (its resume file went when they were written).
                std::ifstream in(stem + ".json");
                reports.push_back(nlohmann::ordered_json::parse(in));
                std::printf("kept %s.json (finished earlier)\n", stem.c_str());
                continue;
            }
            try {
                reports.push_back(salun::unlearn::to_json(unlearn_one(arch, w, c.out_dir, name, train, test, o, c.normalize,
                                                                      c.forget_class, c.common.quiet, c.common.device,
                                                                      c.resume, ref ? &ref->ref : nullptr)
                                                              .report));
            } catch (Interrupted& stop) {
                if (c.name.empty() && !stop.resume_file.empty()) {
                    // Random names cannot be found again: the file would only be litter.
                    fs::remove(stop.resume_file);
                    stop.resume_file.clear();
                    stop.resume_hint = "--name NAME (an experiment is resumable only with one)";
                } else if (!stop.resume_file.empty()) {
                    stop.resume_hint = "--resume";
                }
                throw;
            }
        }
    }
    print_summary(reports);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\ntotal wall time %s (%d threads)\n", demo::Progress::duration(total).c_str(), salun::get_num_threads());
    std::printf("report: %s\n", salun::report::write_report(c.out_dir).c_str());
    return 0;
}

// ---- report -------------------------------------------------------------------------------------
int run_report(const demo::ReportCommand& c) {
    const auto runs = salun::report::load_runs(c.dir);
    SALUN_CHECK(!runs.empty(), "report: no results JSON in ", c.dir);
    const std::string out = c.out.empty() ? (fs::path(c.dir) / "report.html").string() : c.out;
    salun::io::write_file_atomic(out, salun::report::render_html(runs));
    std::printf("%s\n", out.c_str());
    return 0;
}

// ---- train --------------------------------------------------------------------------------------
int run_train(const demo::TrainCommand& c) {
    install_sigint_handler();
    apply_threads(c.common);
    const std::string dir = data_dir(c.common);
    const auto train = salun::data::read_cifar10(dir, salun::data::Split::Train);
    const auto test = salun::data::read_cifar10(dir, salun::data::Split::Test);

    const std::string& arch = c.arch;
    const long epochs = c.epochs;
    const salun::ClassIndex exclude = c.exclude_class;
    const double lr = c.lr;
    const std::uint64_t seed = c.seed;
    salun::Generator init(seed);
    auto model = salun::models::make_model<float>(arch, kClasses, init);
    model->to(c.common.device);  // before the optimiser, whose momentum buffers follow the parameters
    salun::data::Subset pool = salun::data::all(train);
    if (c.subset > 0) pool = salun::data::first_k_per_class(pool, c.subset);
    const salun::data::Subset used = exclude >= 0 ? salun::data::without_class(pool, exclude) : pool;
    salun::data::LoaderOptions lo;
    lo.batch_size = c.batch_size;
    lo.shuffle = true;
    lo.seed = seed;
    lo.augment.random_crop = true;
    lo.augment.horizontal_flip = true;
    lo.device = c.common.device;
    salun::data::DataLoader<float> loader(used, lo);
    salun::optim::SGDOptions sgd_options;
    sgd_options.lr = lr;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 5e-4;
    sgd_options.nesterov = true;
    salun::optim::SGD<float> sgd(model->parameters(), sgd_options);
    salun::optim::OneCycleLR<float>::Options oc;
    oc.pct_start = 0.25;
    salun::optim::OneCycleLR<float> sched(sgd, lr, epochs * long(loader.num_batches()), oc);

    // The resume file beside --out: model, momentum, loader and schedule after every epoch.
    const std::string resume_file = (fs::path(c.out).parent_path() / fs::path(c.out).stem()).string() + ".resume.safetensors";
    nlohmann::ordered_json fingerprint{{"arch", arch}, {"epochs", epochs}, {"lr", lr}, {"batch_size", c.batch_size},
                                       {"exclude_class", exclude}, {"seed", seed}, {"subset", c.subset}};
    long first_epoch = 0;
    const bool had_resume_file = fs::exists(resume_file);
    if (c.resume && had_resume_file) {
        const auto st = salun::io::load_safetensors(resume_file);
        auto meta = [&](const char* k) -> const std::string& {
            auto it = st.metadata.find(k);
            auto format = st.metadata.find("format");
            if (it == st.metadata.end() || format == st.metadata.end() || format->second != "salun-train-resume/1")
                salun::detail::throw_error("'", resume_file, "' is not a train resume file");
            return it->second;
        };
        const std::string diff = salun::unlearn::fingerprint_diff(nlohmann::ordered_json::parse(meta("options")), fingerprint);
        if (!diff.empty())
            salun::detail::throw_error("'", resume_file, "' was written by a run with other options (", diff,
                                       "): run with the same options to resume it, or delete it to start afresh");
        salun::io::StateDict weights, optimizer;
        for (const auto& [k, v] : st.tensors)
            (k.rfind("optimizer.", 0) == 0 ? optimizer : weights).insert_or_assign(k.substr(k.find('.') + 1), v);
        model->load_state_dict(weights);
        sgd.load_state_dict(optimizer);
        const auto p = nlohmann::ordered_json::parse(meta("progress"));
        loader.load_state({p.at("loader_epochs").get<std::size_t>(), p.at("loader_generator").get<std::string>()});
        sched.set_last_epoch(p.at("scheduler_last_epoch").get<long>());
        first_epoch = p.at("epochs_done").get<long>();
        if (!c.common.quiet)
            std::fprintf(stderr, "%s: resuming after epoch %ld of %ld\n", resume_file.c_str(), first_epoch, epochs);
    } else if (!c.common.quiet && c.resume) {
        std::fprintf(stderr, "%s: no resume file, starting afresh\n", resume_file.c_str());
    }
    auto save_resume = [&](long epochs_done) {
        salun::io::StateDict sd;
        for (const auto& [k, v] : model->state_dict()) sd.insert_or_assign("model." + k, v);
        for (const auto& [k, v] : sgd.state_dict()) sd.insert_or_assign("optimizer." + k, v);
        const auto ls = loader.state();
        const nlohmann::ordered_json progress{{"epochs_done", epochs_done}, {"loader_epochs", ls.epochs_started},
                                              {"loader_generator", ls.generator},
                                              {"scheduler_last_epoch", sched.last_epoch()}};
        salun::io::save_safetensors(resume_file, sd,
                                    {{"format", "salun-train-resume/1"},
                                     {"options", fingerprint.dump()}, {"progress", progress.dump()}});
    };

    demo::Progress progress(c.common.quiet);
    try {
        for (long e = first_epoch; e < epochs; ++e) {
            progress.start("train " + arch + " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs), double(used.size()));
            const auto stats = salun::optim::train_epoch<float>(*model, loader, sgd, [&](const salun::optim::TrainStep& s) {
                std::ostringstream w;
                w << "batch " << s.batch + 1 << "/" << s.num_batches << " loss " << std::fixed << std::setprecision(4) << s.loss
                  << " lr " << std::setprecision(5) << s.lr;
                progress.advance(double(s.batch_size), w.str(), s.batch + 1 == s.num_batches);
                try {
                    after_step();
                } catch (Interrupted& stop) {
                    progress.finish();
                    if (fs::exists(resume_file)) {
                        stop.resume_file = resume_file;
                        stop.resume_hint = "--resume";
                    }
                    throw;
                }
            }, [&] { sched.step(); });
            progress.finish();
            save_resume(e + 1);
            const auto m = salun::unlearn::class_metrics(salun::unlearn::predict_subset(*model, salun::data::all(test), 100, kClasses));
            if (!c.common.quiet)
                std::fprintf(stderr, "epoch %ld: train loss %.4f, train acc %.4f, test acc %.4f\n", e + 1, stats.loss,
                             stats.accuracy, m.accuracy());
        }
    } catch (const Interrupted&) {
        throw;
    } catch (...) {
        if (!had_resume_file) fs::remove(resume_file);  // as in unlearn_one: a failure would come back
        throw;
    }
    std::map<std::string, std::string> meta{{"arch", arch}, {"epochs", std::to_string(epochs)}, {"seed", std::to_string(seed)}};
    if (exclude >= 0) meta["exclude_class"] = std::to_string(exclude);
    salun::io::save_checkpoint(c.out, model->state_dict(), meta);  // .pth has no room for meta
    fs::remove(resume_file);
    std::printf("wrote %s\n", c.out.c_str());
    return 0;
}

// ---- convert ------------------------------------------------------------------------------------
int run_convert(const demo::ConvertCommand& c) {
    const auto ck = salun::io::load_checkpoint(c.in);
    salun::io::save_checkpoint(c.out, ck.tensors, ck.metadata);
    const auto to = salun::io::format_for_path(c.out);
    std::printf("wrote %s: %zu tensors, %s -> %s%s\n", c.out.c_str(), ck.tensors.size(), salun::io::format_name(ck.format),
                salun::io::format_name(to),
                ck.found_at.empty() ? "" : (" (the state dict under '" + ck.found_at + "')").c_str());
    if (to == salun::io::CheckpointFormat::TorchZip && !ck.metadata.empty())
        std::fprintf(stderr, "salun-demo: note: %zu metadata entries dropped (a .pth has no place for them)\n",
                     ck.metadata.size());
    return 0;
}

struct Runner {
    int operator()(const demo::HelpShown&) const { return 0; }
    int operator()(const demo::EvalCommand& c) const { return run_eval(c); }
    int operator()(const demo::UnlearnCommand& c) const { return run_unlearn(c); }
    int operator()(const demo::ExperimentCommand& c) const { return run_experiment(c); }
    int operator()(const demo::TrainCommand& c) const { return run_train(c); }
    int operator()(const demo::ConvertCommand& c) const { return run_convert(c); }
    int operator()(const demo::ReportCommand& c) const { return run_report(c); }
};

}  // namespace

int main(int argc, char** argv) {
    const demo::CommandLine cl = demo::split_command(std::vector<std::string>(argv + 1, argv + argc));
    const std::string& cmd = cl.command;
    try {
        return std::visit(Runner{}, demo::parse_command(cl));
    } catch (const Interrupted& stop) {
        std::cerr << "\nsalun-demo: interrupted; the unfinished run wrote no results";
        if (!stop.resume_file.empty())
            std::cerr << ". Kept " << stop.resume_file << ": run the same command with " << stop.resume_hint
                      << " to continue\n";
        else
            std::cerr << (stop.resume_hint.empty() ? "" : "; to make it resumable, run with " + stop.resume_hint) << "\n";
        return 130;
    } catch (const UsageError& e) {
        std::cerr << "salun-demo: " << e.what() << "\n";
        if (cmd.empty())
            demo::print_usage(std::cerr);
        else
            std::cerr << "(run 'salun-demo " << (cmd == "help" || cmd == "version" ? "" : cmd + " ") << "--help' for the options)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "\nsalun-demo: error: " << e.what() << "\n";
        return 1;
    }
}
