// SPDX-License-Identifier: MIT
// libFuzzer harness for salun-demo's command line (demo/args.hpp, demo/cli.hpp).
//
// The input is an argv: arguments separated by NUL bytes (the corpus files are written that way).
// Parsing either gives a command or throws demo::UsageError. Whatever it accepts must be something
// the command can run with: the library's own checks (SGD, SalUn, the saliency mask, the loaders)
// would accept the options, and no number was cut to fit its type.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "demo/cli.hpp"

namespace {

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_demo_args: property violated: %s\n", what);
        std::abort();
    }
}

bool known_arch(const std::string& arch) {
    for (const auto& a : salun::models::architectures())
        if (a == arch) return true;
    return false;
}

void check(const demo::CommonOptions& c) { require(c.threads >= 0, "--threads is positive (0: not given)"); }

void check(const demo::NormalizeOverride& n) {
    if (!n) return;
    for (int k = 0; k < 3; ++k)
        require(std::isfinite(n->mean[k]) && std::isfinite(n->std[k]) && n->std[k] > 0,
                "--mean is finite, --std positive and finite");
}

void check_name(const std::string& name) {
    require(name.find('/') == std::string::npos && name != "." && name != "..", "--name has no folder in it");
}

void check(const salun::unlearn::ExperimentOptions& o, salun::ClassIndex forget_class) {
    require(forget_class >= 0 && forget_class < salun::ClassIndex(demo::kClasses), "--forget-class is 0..9");
    require(o.salun.epochs > 0, "--epochs is positive");
    require(std::isfinite(o.salun.lr) && o.salun.lr > 0, "--lr is a positive number");
    require(std::isfinite(o.salun.momentum) && o.salun.momentum >= 0, "--momentum is a number >= 0");
    require(std::isfinite(o.salun.weight_decay) && o.salun.weight_decay >= 0, "--weight-decay is a number >= 0");
    require(std::isfinite(o.salun.grad_clip) && o.salun.grad_clip > 0, "--grad-clip is a positive number");
    require(o.saliency.threshold > 0 && o.saliency.threshold <= 1, "--threshold is in (0, 1]");
    require(o.saliency.max_batches > 0, "--saliency-batches is positive");
    require(o.batch_size > 0, "--batch-size is positive");
}

struct Checker {
    void operator()(const demo::HelpShown&) const {}
    void operator()(const demo::EvalCommand& c) const {
        require(known_arch(c.arch), "--arch is known");
        require(!c.weights.empty(), "--weights is given");
        require(c.split == "test" || c.split == "train", "--split is test or train");
        require(c.batch_size > 0, "--batch-size is positive");
        check(c.normalize);
        check(c.common);
    }
    void operator()(const demo::UnlearnCommand& c) const {
        require(known_arch(c.arch), "--arch is known");
        require(!c.weights.empty() && !c.out_dir.empty(), "--weights and --out-dir are given");
        check(c.options, c.forget_class);
        check(c.normalize);
        check_name(c.name);
        check(c.common);
    }
    void operator()(const demo::ExperimentCommand& c) const {
        require(!c.models.empty(), "a checkpoint folder is given");
        for (const auto& a : c.archs) require(known_arch(a), "--archs are known");
        check(c.options, c.forget_class);
        check(c.normalize);
        check_name(c.name);
        check(c.common);
    }
    void operator()(const demo::ConvertCommand& c) const {
        salun::io::format_for_path(c.out);  // throws for an OUT whose format is unknown: parse must have refused it
    }
    void operator()(const demo::ReportCommand& c) const {
        require(!c.dir.empty(), "RESULTS_DIR is given");
    }
    void operator()(const demo::TrainCommand& c) const {
        require(known_arch(c.arch), "--arch is known");
        require(!c.out.empty(), "--out is given");
        salun::io::format_for_path(c.out);  // a known output format
        // train multiplies the epochs by the batches per epoch (at most 50,000) in a long.
        require(c.epochs > 0 && c.epochs <= 2147483647L, "--epochs is positive and fits an int");
        require(std::isfinite(c.lr) && c.lr > 0, "--lr is a positive number");
        require(c.batch_size > 0, "--batch-size is positive");
        require(c.exclude_class >= -1 && c.exclude_class < salun::ClassIndex(demo::kClasses), "--exclude-class is 0..9");
        check(c.common);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> args;
    const char* p = reinterpret_cast<const char*>(data);
    for (std::size_t begin = 0; begin < size;) {
        std::size_t end = begin;
        while (end < size && p[end] != '\0') ++end;
        args.emplace_back(p + begin, end - begin);
        begin = end + 1;
    }
    std::ostringstream help;  // --help text goes here, not to the fuzzer's stdout
    demo::Command command;
    try {
        command = demo::parse_command(demo::split_command(args), help);
    } catch (const demo::UsageError&) {
        return 0;
    }
    std::visit(Checker{}, command);
    return 0;
}
