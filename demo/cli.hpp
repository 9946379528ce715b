// SPDX-License-Identifier: MIT
// salun-demo's command line: which command runs, its options with their defaults and checks,
// turned into plain structs. Parsing reads no file and starts nothing (only --help writes to
// `out`), so main.cpp runs what it returns and tests/fuzz/fuzz_demo_args.cpp feeds it any argv.
#pragma once

#include <array>
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "args.hpp"
#include "salun/data/transforms.hpp"
#include "salun/io/checkpoint.hpp"
#include "salun/models/registry.hpp"
#include "salun/unlearn/experiment.hpp"
#include "salun/version.hpp"

namespace demo {

inline constexpr std::size_t kClasses = 10;

/// Options every command takes.
struct CommonOptions {
    std::string data;  ///< CIFAR-10 folder; empty: $SALUN_DATA
    int threads = 0;   ///< 0: from the environment (salun::init_threads_from_env)
    bool quiet = false;
    salun::Device device = salun::Device::cpu;  ///< where the model runs (--device)
};

/// --mean / --std: the input normalisation, overriding the checkpoint's and the CIFAR-10 default.
using NormalizeOverride = std::optional<salun::data::Normalize>;

struct EvalCommand {
    std::string arch, weights, split, json;
    std::size_t batch_size = 100;
    NormalizeOverride normalize;
    CommonOptions common;
};

/// Where the retrained reference comes from (the privacy score and the gap to retrain).
struct ReferenceOptions {
    std::string file;       ///< --retrain-reference: a checkpoint retrained without the forget class
    std::string cache_dir;  ///< --cache-dir; empty: beside the checkpoints if writable, else ~/.cache/salun
    bool none = false;      ///< --no-reference
    int retrain_epochs = 0; ///< 0: the checkpoints' recipe for the architecture (6 / 7)
};

struct UnlearnCommand {
    std::string arch, weights, out_dir, name;  ///< name: output stem; empty: a random ID
    std::string save_mask;                     ///< --save-mask FILE.safetensors (SalUn only)
    bool resume = false;                       ///< continue from DIR/NAME.resume.safetensors
    salun::ClassIndex forget_class = 0;
    salun::unlearn::ExperimentOptions options;  ///< options.method: --method
    NormalizeOverride normalize;
    ReferenceOptions reference;
    CommonOptions common;
};

struct ExperimentCommand {
    std::string models, out_dir, name;  ///< name: output stems NAME-<arch>; empty: random IDs
    bool resume = false;                ///< skip finished models, continue the interrupted one
    std::vector<std::string> archs;
    std::vector<salun::unlearn::Method> methods;  ///< --methods, in the given order
    salun::ClassIndex forget_class = 0;
    salun::unlearn::ExperimentOptions options;
    NormalizeOverride normalize;
    ReferenceOptions reference;
    CommonOptions common;
};

/// convert IN OUT: a checkpoint from one format to the other (OUT's extension says which).
struct ConvertCommand {
    std::string in, out;
};

/// report RESULTS_DIR [-o FILE]: one HTML page of every run in a results folder.
struct ReportCommand {
    std::string dir, out;  ///< out empty: RESULTS_DIR/report.html
};

struct TrainCommand {
    std::string arch, out;
    long epochs = 6;
    double lr = 0.1;
    std::size_t batch_size = 128;
    salun::ClassIndex exclude_class = -1;  ///< -1: none
    std::uint64_t seed = 2048;
    std::size_t subset = 0;
    bool resume = false;  ///< continue from the resume file beside --out
    CommonOptions common;
};

/// The usage or a command's --help was printed; nothing to run.
struct HelpShown {};

using Command = std::variant<HelpShown, EvalCommand, UnlearnCommand, ExperimentCommand, TrainCommand, ConvertCommand,
                             ReportCommand>;

/// The command word and the arguments after it.
struct CommandLine {
    std::string command;
    std::vector<std::string> args;
};

/// The command named by the first argument; "" when there is none or it is an option (an error:
/// a bare salun-demo must not start an hours-long experiment).
inline CommandLine split_command(std::vector<std::string> args) {
    CommandLine cl{"", {}};
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        cl.command = "help";
        args.erase(args.begin());
    } else if (!args.empty() && args[0] == "--version") {
        cl.command = "version";
        args.erase(args.begin());
    } else if (!args.empty() && args[0].rfind("--", 0) != 0) {
        cl.command = args[0];
        args.erase(args.begin());
    }
    cl.args = std::move(args);
    return cl;
}

inline void print_usage(std::ostream& out) {
    out << "usage: salun-demo COMMAND [options]   (salun-demo COMMAND --help lists them)\n"
           "       salun-demo --version\n\n"
           "  experiment  SalUn (and --methods ft,ga,rl) on ResNet-18 and VGG-16-BN, results JSON per run, one table\n"
           "  unlearn     SalUn (or --method ft|ga|rl|retrain) on one model\n"
           "  eval        accuracy of a checkpoint on CIFAR-10\n"
           "  train       train a model from scratch (or a retrain reference with --exclude-class)\n"
           "  convert     convert a checkpoint between .pth and .safetensors\n"
           "  report      one self-contained HTML page of every run in a results folder\n\n"
           "Checkpoints may be .safetensors or PyTorch .pth/.pt files (told apart by content).\n"
           "scripts/demo.sh builds salun-demo and runs the whole experiment in one command.\n";
}

namespace detail {

inline bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

/// `v` (option `name`, already checked to be positive) as an int: larger values are an error, not
/// silently cut (2^32 + 1 epochs would have run 1).
inline int to_int(const Args& a, const std::string& name, long v) {
    if (v > std::numeric_limits<int>::max())
        throw UsageError("--" + name + " must be at most " + std::to_string(std::numeric_limits<int>::max()) + ", got " +
                         a.str(name));
    return static_cast<int>(v);
}

inline void add_common(Args& a) {
    a.option("data", "", "CIFAR-10 folder (else $SALUN_DATA); the folder with the .bin files or its parent");
    a.option("threads", "", "worker threads (else $SALUN_NUM_THREADS / $OMP_NUM_THREADS / physical cores)");
    a.flag("quiet", "no progress output");
    a.option("device", "cpu", "cpu or cuda (cuda: a build with -DSALUN_BACKEND=cuda and an NVIDIA GPU)");
}

inline CommonOptions common_options(const Args& a) {
    CommonOptions c;
    c.data = a.str("data");
    if (a.has("threads")) {
        const long n = a.integer("threads");
        if (n <= 0) throw UsageError("--threads must be positive");
        c.threads = to_int(a, "threads", n);
    }
    c.quiet = a.flag_set("quiet");
    const std::string device = a.str("device");
    if (device != "cpu" && device != "cuda") throw UsageError("--device must be cpu or cuda, got '" + device + "'");
    c.device = salun::parse_device(device);
    return c;
}

inline void add_normalize_options(Args& a) {
    a.option("mean", "", "input normalisation mean per channel, R,G,B (else the checkpoint's normalize.mean, else CIFAR-10's)");
    a.option("std", "", "input normalisation std per channel, R,G,B (else the checkpoint's normalize.std, else CIFAR-10's)");
}

inline std::array<float, 3> three_numbers(const Args& a, const std::string& name) {
    std::array<float, 3> v{};
    std::stringstream ss(a.str(name));
    std::string part;
    std::size_t n = 0;
    while (std::getline(ss, part, ',')) {
        std::size_t pos = 0;
        double x = 0;
        try {
            x = std::stod(part, &pos);
        } catch (const std::exception&) {
            pos = 0;
        }
        if (n >= 3 || pos == 0 || pos != part.size() || !std::isfinite(x))
            throw UsageError("--" + name + " expects three numbers R,G,B, got '" + a.str(name) + "'");
        v[n++] = static_cast<float>(x);
    }
    if (n != 3) throw UsageError("--" + name + " expects three numbers R,G,B, got '" + a.str(name) + "'");
    return v;
}

inline NormalizeOverride normalize_override(const Args& a) {
    if (!a.has("mean") && !a.has("std")) return std::nullopt;
    if (!a.has("mean") || !a.has("std")) throw UsageError("--mean and --std go together");
    salun::data::Normalize n;
    n.mean = three_numbers(a, "mean");
    n.std = three_numbers(a, "std");
    for (float x : n.std)
        if (!(x > 0)) throw UsageError("--std values must be positive, got '" + a.str("std") + "'");
    return n;
}

inline std::string check_name(const Args& a) {
    const std::string n = a.str("name");
    if (n.find_first_of("/\\") != std::string::npos || n == "." || n == "..")
        throw UsageError("--name is a file name stem, without folders: got '" + n + "'");
    return n;
}

/// The output checkpoint's format must be known before hours of work, not after.
inline void check_checkpoint_name(const std::string& option, const std::string& path) {
    try {
        salun::io::format_for_path(path);
    } catch (const salun::Error&) {
        throw UsageError(option + " must end in .safetensors, .pth or .pt, got '" + path + "'");
    }
}

inline void add_unlearn_options(Args& a) {
    a.option("forget-class", "0", "class to forget, 0..9");
    a.option("epochs", "", "epochs of every method run (default: the method's: salun 5, ft 10, ga 7, rl 3)");
    a.option("lr", "", "SGD learning rate of every method run (default: salun 0.1, ft 0.01, ga 1e-4, rl 1e-3)");
    a.option("batch-size", "", "batch size of every method run (default: salun 128, ft 128, ga 256, rl 64)");
    for (const char* m : {"ft", "ga", "rl"}) {
        const std::string n = m;
        a.option(n + "-epochs", "", n + " only: epochs (over --epochs)");
        a.option(n + "-lr", "", n + " only: learning rate (over --lr)");
        a.option(n + "-batch-size", "", n + " only: batch size (over --batch-size)");
    }
    a.option("retrain-epochs", "", "retrained reference: epochs (default: the checkpoints' recipe, resnet18 6, vgg16_bn 7)");
    a.option("retrain-lr", "0.1", "retrained reference: OneCycleLR maximum learning rate");
    a.option("retrain-batch-size", "128", "retrained reference: batch size");
    a.option("retrain-reference", "", "checkpoint retrained without the forget class: adds PS and the gap to retrain");
    a.option("cache-dir", "", "where retrained references are cached (default: beside the checkpoints if writable, "
                              "else $XDG_CACHE_HOME/salun or ~/.cache/salun)");
    a.flag("no-reference", "no retrained reference: no PS, no gap (and none is trained)");
    a.option("momentum", "0.9", "SGD momentum (salun)");
    a.option("weight-decay", "5e-4", "SGD weight decay (salun)");
    a.option("threshold", "0.75", "fraction of weights in the saliency mask, in (0, 1]");
    a.option("saliency-batches", "5", "forget batches used for the saliency mask");
    a.option("grad-clip", "100", "global gradient-norm clip");
    a.option("seed", "2048", "random seed");
    a.option("subset", "0", "keep only the first K training images of every class (0: all)");
    a.flag("freeze-masked", "masked-out weights never move (the reference lets decay/momentum move them)");
    a.flag("no-extra-eval", "skip the results' points, attack and cka fields (their extra evaluation passes)");
    a.flag("eval-every-epoch", "evaluate train and test before unlearning and after every epoch too (results' "
                               "original_accs, original_t_accs, per_epoch; not in RTE)");
    add_normalize_options(a);
}

inline void add_resume_flag(Args& a, const std::string& file, const std::string& unit) {
    a.flag("resume", "continue from " + file + " (written after every " + unit + "; kept by Ctrl-C or a crash)");
}

/// --resume finds its file by the run's name, so a random name cannot be resumed.
inline void check_resume_name(const Args& a) {
    if (a.flag_set("resume") && a.str("name").empty())
        throw UsageError("--resume needs --name (the name of the run to continue; an interrupted run prints it)");
}

inline std::string check_arch(const Args& a) {
    const std::string arch = a.required("arch");
    for (const auto& n : salun::models::architectures())
        if (n == arch) return arch;
    std::string known;
    for (const auto& n : salun::models::architectures()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("--arch must be one of " + known + ", got '" + arch + "'");
}

/// A method's epochs / lr / batch size: its own option, else the generic one, else its default.
struct MethodKnobs {
    int* epochs;
    double* lr;
    std::size_t* batch_size;
};

inline void apply_knobs(const Args& a, const std::string& prefix, MethodKnobs k) {
    auto name = [&](const char* n) {
        const std::string own = prefix.empty() ? std::string(n) : prefix + "-" + n;
        return a.has(own) ? own : std::string(n);
    };
    if (const std::string n = name("epochs"); a.has(n)) {
        const long e = a.integer(n);
        if (e <= 0) throw UsageError("--" + n + " must be positive, got " + a.str(n));
        *k.epochs = to_int(a, n, e);
    }
    if (const std::string n = name("lr"); a.has(n)) {
        const double lr = a.real(n);
        if (!(lr > 0)) throw UsageError("--" + n + " must be positive, got " + a.str(n));
        *k.lr = lr;
    }
    if (const std::string n = name("batch-size"); a.has(n)) {
        const long bs = a.integer(n);
        if (bs <= 0) throw UsageError("--" + n + " must be positive, got " + a.str(n));
        *k.batch_size = static_cast<std::size_t>(bs);
    }
}

inline salun::unlearn::Method parse_method(const std::string& s, const char* option) {
    using salun::unlearn::Method;
    if (s == "salun") return Method::SalUn;
    if (s == "ft") return Method::FT;
    if (s == "ga") return Method::GA;
    if (s == "rl") return Method::RL;
    if (s == "retrain") return Method::Retrain;
    throw UsageError(std::string("--") + option + ": unknown method '" + s + "' (salun, ft, ga, rl, retrain)");
}

inline ReferenceOptions reference_options(const Args& a) {
    ReferenceOptions r;
    r.file = a.str("retrain-reference");
    r.cache_dir = a.str("cache-dir");
    r.none = a.flag_set("no-reference");
    if (r.none && !r.file.empty()) throw UsageError("--no-reference and --retrain-reference exclude each other");
    if (a.has("retrain-epochs")) {
        const long e = a.integer("retrain-epochs");
        if (e <= 0) throw UsageError("--retrain-epochs must be positive, got " + a.str("retrain-epochs"));
        r.retrain_epochs = to_int(a, "retrain-epochs", e);
    }
    return r;
}

inline salun::unlearn::ExperimentOptions experiment_options(const Args& a) {
    salun::unlearn::ExperimentOptions o;
    const long fc = a.integer("forget-class");
    const long sb = a.integer("saliency-batches"), subset = a.integer("subset");
    const double thr = a.real("threshold"), clip = a.real("grad-clip");
    const double momentum = a.real("momentum"), weight_decay = a.real("weight-decay");
    if (fc < 0 || fc >= long(kClasses)) throw UsageError("--forget-class must be in 0..9, got " + a.str("forget-class"));
    apply_knobs(a, "", {&o.salun.epochs, &o.salun.lr, &o.batch_size});
    apply_knobs(a, "ft", {&o.ft.epochs, &o.ft.lr, &o.ft.batch_size});
    apply_knobs(a, "ga", {&o.ga.epochs, &o.ga.lr, &o.ga.batch_size});
    apply_knobs(a, "rl", {&o.rl.epochs, &o.rl.lr, &o.rl.batch_size});
    // The reference keeps its recipe whatever --epochs/--lr/--batch-size say; its epochs depend on
    // the architecture (ReferenceOptions::retrain_epochs).
    const double retrain_lr = a.real("retrain-lr");
    if (!(retrain_lr > 0)) throw UsageError("--retrain-lr must be positive, got " + a.str("retrain-lr"));
    o.retrain.max_lr = retrain_lr;
    if (const long rbs = a.integer("retrain-batch-size"); rbs <= 0)
        throw UsageError("--retrain-batch-size must be positive, got " + a.str("retrain-batch-size"));
    else
        o.retrain.batch_size = static_cast<std::size_t>(rbs);
    if (!(thr > 0 && thr <= 1)) throw UsageError("--threshold must be in (0, 1], got " + a.str("threshold"));
    if (!(clip > 0)) throw UsageError("--grad-clip must be positive, got " + a.str("grad-clip"));
    if (sb <= 0) throw UsageError("--saliency-batches must be positive");
    if (subset < 0) throw UsageError("--subset must be >= 0");
    // SGD checks these too, but only once the data and the model are loaded.
    if (momentum < 0) throw UsageError("--momentum must be >= 0, got " + a.str("momentum"));
    if (weight_decay < 0) throw UsageError("--weight-decay must be >= 0, got " + a.str("weight-decay"));
    o.salun.momentum = momentum;
    o.salun.weight_decay = weight_decay;
    o.salun.grad_clip = clip;
    o.salun.seed = static_cast<std::uint64_t>(a.integer("seed"));
    o.salun.freeze_masked = a.flag_set("freeze-masked");
    o.saliency.threshold = thr;
    o.saliency.max_batches = static_cast<std::size_t>(sb);
    o.rl.seed = o.salun.seed;
    o.retrain.seed = o.salun.seed;
    o.subset_per_class = static_cast<std::size_t>(subset);
    o.points = o.attack = o.cka = !a.flag_set("no-extra-eval");
    o.eval_every_epoch = a.flag_set("eval-every-epoch");
    return o;
}

inline Command parse_eval(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("eval", "Evaluate a checkpoint on CIFAR-10 (normalised, no augmentation).");
    a.required_option("arch", "resnet18, vgg16_bn (CIFAR layout) or vgg16_bn_timm (timm's, with pre_logits)").required_option("weights", "checkpoint (.safetensors or .pth)");
    a.option("split", "test", "test or train").option("batch-size", "100", "evaluation batch size");
    a.option("json", "", "write the result as JSON to this file");
    add_normalize_options(a);
    add_common(a);
    if (!a.parse(argv, out)) return HelpShown{};
    EvalCommand c;
    c.arch = check_arch(a);
    c.weights = a.required("weights");
    c.split = a.str("split");
    if (c.split != "test" && c.split != "train") throw UsageError("--split must be test or train");
    const long bs = a.integer("batch-size");
    if (bs <= 0) throw UsageError("--batch-size must be positive");
    c.batch_size = static_cast<std::size_t>(bs);
    c.json = a.str("json");
    c.normalize = normalize_override(a);
    c.common = common_options(a);
    return c;
}

inline Command parse_unlearn(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("unlearn", "Run SalUn (or a baseline) on one model: saliency mask, two-phase unlearning, evaluation.\n"
                      "Writes DIR/NAME.json (results; its path is printed on stdout) and DIR/NAME.safetensors\n"
                      "(unlearned weights); NAME is --name, else a random 4-hex-digit ID. With a retrained\n"
                      "reference (--retrain-reference, or cached by 'experiment') also PS and the gap.");
    a.required_option("arch", "resnet18, vgg16_bn (CIFAR layout) or vgg16_bn_timm (timm's, with pre_logits)").required_option("weights", "checkpoint of the original model (.safetensors or .pth)");
    a.required_option("out-dir", "output folder");
    a.option("name", "", "output file name stem (default: a random ID)");
    a.option("method", "salun", "salun, ft (fine-tune), ga (gradient ascent), rl (random labels), retrain (from scratch)");
    a.option("save-mask", "", "write the saliency mask (0/1 per weight, parameter names) to this .safetensors file");
    add_resume_flag(a, "DIR/NAME.resume.safetensors", "phase");
    add_unlearn_options(a);
    add_common(a);
    if (!a.parse(argv, out)) return HelpShown{};
    UnlearnCommand c;
    c.arch = check_arch(a);
    c.weights = a.required("weights");
    c.out_dir = a.required("out-dir");
    c.name = check_name(a);
    c.save_mask = a.str("save-mask");
    check_resume_name(a);
    c.resume = a.flag_set("resume");
    c.options = experiment_options(a);
    c.options.method = parse_method(a.str("method"), "method");
    if (!c.save_mask.empty() && c.options.method != salun::unlearn::Method::SalUn)
        throw UsageError("--save-mask: only the salun method computes a saliency mask");
    if (!c.save_mask.empty() && !ends_with(c.save_mask, ".safetensors"))
        throw UsageError("--save-mask must name a .safetensors file, got '" + c.save_mask + "'");
    c.reference = reference_options(a);
    c.forget_class = a.integer("forget-class");
    c.normalize = normalize_override(a);
    c.common = common_options(a);
    return c;
}

inline Command parse_experiment(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("experiment", "The reference's experiment (the Machine Unlearning Comparator's SalUn notebook): SalUn (and\n"
                         "the --methods baselines) on ResNet-18 and VGG-16-BN (forget class 0 by default), a results\n"
                         "JSON and weights per run (paths printed on stdout), and one summary table. With --methods\n"
                         "beyond salun every run is judged against a model retrained without the forget class (PS,\n"
                         "Gap), trained once per model and forget class and cached (see --cache-dir).");
    a.option("models", "", "folder with <arch>_cifar10.safetensors (or .pth) per architecture (else $SALUN_MODELS)");
    a.option("out-dir", "results", "output folder");
    a.option("name", "", "output file name stems NAME-<arch> (default: a random ID per model)");
    a.option("archs", "resnet18,vgg16_bn", "comma-separated architectures to run");
    a.option("methods", "salun", "comma-separated methods to run on each: salun, ft, ga, rl, retrain (the reference "
                                 "itself: trained and cached when missing, unless --no-reference)");
    add_resume_flag(a, "DIR/NAME-<arch>[-<method>].resume.safetensors (salun runs), skipping finished runs", "phase");
    add_unlearn_options(a);
    add_common(a);
    if (!a.parse(argv, out)) return HelpShown{};
    ExperimentCommand c;
    c.options = experiment_options(a);
    c.reference = reference_options(a);
    {
        std::stringstream ms(a.str("methods"));
        for (std::string s; std::getline(ms, s, ',');) {
            const auto m = parse_method(s, "methods");
            if (std::find(c.methods.begin(), c.methods.end(), m) != c.methods.end())
                throw UsageError("--methods: '" + s + "' given twice");
            c.methods.push_back(m);
        }
        if (c.methods.empty()) throw UsageError("--methods: no method given");
    }
    c.forget_class = a.integer("forget-class");
    c.models = a.str("models");
    if (c.models.empty())
        if (const char* env = std::getenv("SALUN_MODELS")) c.models = env;
    if (c.models.empty()) throw UsageError("no checkpoints: pass --models DIR or set SALUN_MODELS");
    std::stringstream ss(a.str("archs"));
    for (std::string s; std::getline(ss, s, ',');) {
        bool known = false;
        for (const auto& n : salun::models::architectures()) known |= n == s;
        if (!known) throw UsageError("--archs: unknown architecture '" + s + "'");
        c.archs.push_back(s);
    }
    if (!c.reference.file.empty() && c.archs.size() != 1)
        throw UsageError("--retrain-reference fits one architecture: pass --archs too");
    c.out_dir = a.str("out-dir");
    c.name = check_name(a);
    check_resume_name(a);
    c.resume = a.flag_set("resume");
    c.normalize = normalize_override(a);
    c.common = common_options(a);
    return c;
}

inline Command parse_train(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("train", "Train a model from scratch with RandomCrop(32, pad 4) + horizontal flip, SGD (nesterov,\n"
                    "momentum 0.9, weight decay 5e-4) and OneCycleLR; --exclude-class trains the 'retrain'\n"
                    "reference without the forget class. Defaults are the recipe of the shared checkpoints.");
    a.required_option("arch", "resnet18, vgg16_bn (CIFAR layout) or vgg16_bn_timm (timm's, with pre_logits)").required_option("out", "output checkpoint (.safetensors, .pth or .pt)");
    a.option("epochs", "6", "training epochs").option("lr", "0.1", "OneCycleLR maximum learning rate");
    a.option("batch-size", "128", "batch size").option("exclude-class", "", "leave this class out (retrain reference)");
    a.option("seed", "2048", "random seed").option("subset", "0", "first K images of every class (0: all)");
    add_resume_flag(a, "OUT's stem + .resume.safetensors", "epoch");
    add_common(a);
    if (!a.parse(argv, out)) return HelpShown{};
    TrainCommand c;
    c.arch = check_arch(a);
    c.out = a.required("out");
    check_checkpoint_name("--out", c.out);
    const long epochs = a.integer("epochs"), bs = a.integer("batch-size"), subset = a.integer("subset");
    const double lr = a.real("lr");
    if (epochs <= 0) throw UsageError("--epochs must be positive");
    if (bs <= 0) throw UsageError("--batch-size must be positive");
    if (!(lr > 0)) throw UsageError("--lr must be positive");
    if (subset < 0) throw UsageError("--subset must be >= 0");
    if (a.has("exclude-class")) {
        c.exclude_class = a.integer("exclude-class");
        if (c.exclude_class < 0 || c.exclude_class >= salun::ClassIndex(kClasses)) throw UsageError("--exclude-class must be in 0..9");
    }
    c.epochs = to_int(a, "epochs", epochs);  // times the batches per epoch must fit a long
    c.lr = lr;
    c.batch_size = static_cast<std::size_t>(bs);
    c.subset = static_cast<std::size_t>(subset);
    c.seed = static_cast<std::uint64_t>(a.integer("seed"));
    c.resume = a.flag_set("resume");
    c.common = common_options(a);
    return c;
}

inline Command parse_convert(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("convert", "Convert a checkpoint between PyTorch .pth/.pt and .safetensors: IN is read whatever its\n"
                      "format (by content), OUT is written in the format its extension names. Tensors, names and\n"
                      "dtypes are kept as they are; safetensors metadata does not fit in a .pth and is dropped.");
    a.positional("IN", "checkpoint to read (.safetensors or a PyTorch zip checkpoint)");
    a.positional("OUT", "file to write: .safetensors, .pth or .pt");
    if (!a.parse(argv, out)) return HelpShown{};
    ConvertCommand c;
    c.in = a.str("IN");
    c.out = a.str("OUT");
    check_checkpoint_name("OUT", c.out);
    return c;
}

inline Command parse_report(const std::vector<std::string>& argv, std::ostream& out) {
    Args a("report", "Write one self-contained HTML page (inline SVG, no script, nothing fetched) showing every run\n"
                     "of a results folder: the summary table, per-class accuracy, predicted labels, the mask,\n"
                     "the step log, the embedding, CKA and the attack curves. Its path is printed on stdout.");
    a.positional("RESULTS_DIR", "folder with the results JSON files (and their .steps.jsonl step logs)");
    a.option("out", "", "output file, also -o (default: RESULTS_DIR/report.html)").short_name('o', "out");
    if (!a.parse(argv, out)) return HelpShown{};
    ReportCommand c;
    c.dir = a.str("RESULTS_DIR");
    if (c.dir.empty()) throw UsageError("report: RESULTS_DIR is empty");
    c.out = a.str("out");
    return c;
}

}  // namespace detail

/// The command `cl` asks for, checked; throws UsageError for a bad command line. --help (of the
/// program or of a command) prints to `out` and gives HelpShown.
inline Command parse_command(const CommandLine& cl, std::ostream& out = std::cout) {
    if (cl.command == "experiment") return detail::parse_experiment(cl.args, out);
    if (cl.command == "unlearn") return detail::parse_unlearn(cl.args, out);
    if (cl.command == "eval") return detail::parse_eval(cl.args, out);
    if (cl.command == "train") return detail::parse_train(cl.args, out);
    if (cl.command == "convert") return detail::parse_convert(cl.args, out);
    if (cl.command == "report") return detail::parse_report(cl.args, out);
    if (cl.command.empty())
        throw UsageError(cl.args.empty() ? "no command given" : "the command comes first, got '" + cl.args[0] + "'");
    if (cl.command == "help") {
        print_usage(out);
        return HelpShown{};
    }
    if (cl.command == "version") {
        if (!cl.args.empty()) throw UsageError("--version takes no arguments");
        out << "salun-demo " << SALUN_VERSION_STRING << "\n";
        return HelpShown{};
    }
    throw UsageError("unknown command '" + cl.command + "'");
}

}  // namespace demo
