// SPDX-License-Identifier: MIT
// salun-bench-models: whole-model throughput of ResNet-18 and VGG-16-BN (CIFAR-10, 32x32).
//
//   salun-bench-models [--arch resnet18|vgg16_bn|all] [--batch 128] [--threads N]
//                      [--warmup 1] [--reps 5] [--seed 0] [--no-breakdown] [--json OUT]
//
// Per model:
//   forward     eval mode under NoGradGuard, images/s
//   train step  train mode: zero_grad, forward, cross_entropy, backward, SGD step (lr 0.01,
//               momentum 0.9, weight decay 5e-4), images/s, with the time of each phase
//   peak RSS    getrusage(RUSAGE_SELF).ru_maxrss after the model's runs (a process-wide peak:
//               with --arch all the second model's figure includes the first model's peak)
//   breakdown   one extra, untimed-in-the-medians training step whose backward closures are
//               wrapped with timers: backward seconds per op type (conv2d, batch_norm, ...)
// Every figure is the median of --reps timed repetitions after --warmup untimed ones. Inputs are
// N(0,1) images and uniform labels from a seeded salun::Generator.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "salun/core.hpp"
#include "salun/core/threads.hpp"
#include "salun/models.hpp"
#include "salun/nn.hpp"
#include "salun/ops.hpp"
#include "salun/optim.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

double cpu_now_s() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

std::string loadavg() {
    std::ifstream f("/proc/loadavg");
    std::string s;
    f >> s;
    return s.empty() ? "n/a" : s;
}

// Work per 32x32 image (see ../shared/design/anchors.md): forward, training step (GFLOP).
double flops_forward(const std::string& arch) { return arch == "resnet18" ? 1.11 : 0.63; }
double flops_train(const std::string& arch) { return arch == "resnet18" ? 3.3 : 1.9; }

struct Options {
    std::vector<std::string> archs{"resnet18", "vgg16_bn"};
    std::size_t batch = 128;
    int threads = 0;  // 0: the library's default policy
    int warmup = 1;
    int reps = 5;
    std::uint64_t seed = 0;
    bool breakdown = true;
    std::string json;
};

[[noreturn]] void usage(const char* msg) {
    if (msg) std::fprintf(stderr, "salun-bench-models: %s\n", msg);
    std::fprintf(stderr,
                 "usage: salun-bench-models [--arch resnet18|vgg16_bn|all] [--batch 128] [--threads N]\n"
                 "                          [--warmup 1] [--reps 5] [--seed 0] [--no-breakdown] [--json OUT]\n");
    std::exit(msg ? 2 : 0);
}

long parse_int(const char* s, const char* flag, long lo) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (!end || *end || v < lo) {
        std::fprintf(stderr, "salun-bench-models: %s needs an integer >= %ld, got '%s'\n", flag, lo, s);
        std::exit(2);
    }
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "--arch") {
            const std::string v = value();
            if (v == "all")
                o.archs = {"resnet18", "vgg16_bn"};
            else if (v == "resnet18" || v == "vgg16_bn")
                o.archs = {v};
            else
                usage(("unknown --arch '" + v + "'").c_str());
        } else if (a == "--batch") {
            o.batch = std::size_t(parse_int(value(), "--batch", 1));
        } else if (a == "--threads") {
            o.threads = int(parse_int(value(), "--threads", 1));
        } else if (a == "--warmup") {
            o.warmup = int(parse_int(value(), "--warmup", 0));
        } else if (a == "--reps") {
            o.reps = int(parse_int(value(), "--reps", 1));
        } else if (a == "--seed") {
            o.seed = std::uint64_t(parse_int(value(), "--seed", 0));
        } else if (a == "--no-breakdown") {
            o.breakdown = false;
        } else if (a == "--json") {
            o.json = value();
        } else if (a == "-h" || a == "--help") {
            usage(nullptr);
        } else {
            usage(("unknown argument '" + a + "'").c_str());
        }
    }
    return o;
}

struct ModelResult {
    std::string arch;
    std::size_t params = 0;
    double fwd_s = 0, fwd_cpu_s = 0;     // median seconds per batch (wall; process CPU / threads)
    double step_s = 0, step_cpu_s = 0;
    double ph_zero = 0, ph_fwd = 0, ph_loss = 0, ph_bwd = 0, ph_opt = 0;  // median phase seconds
    double rss_mib = 0;
    double loss = 0;
    std::map<std::string, double> bwd_by_op;  // backward seconds per op type (one step)
    std::map<std::string, int> bwd_count;
    double bwd_total = 0;                     // the profiled step's whole backward()
};

/// Wraps the backward closure of every node reachable from `root` with a timer that adds its
/// wall time to acc[node name] (the wrappers live and die with the graph).
void instrument_graph(const salun::Tensor<float>& root, std::map<std::string, double>& acc,
                      std::map<std::string, int>& count) {
    using Impl = salun::TensorImpl<float>;
    std::vector<Impl*> stack{root.impl_ptr().get()};
    std::unordered_set<Impl*> seen{stack.back()};
    while (!stack.empty()) {
        Impl* impl = stack.back();
        stack.pop_back();
        const auto& node = impl->grad_fn;
        if (!node) continue;
        double* slot = &acc[node->name];
        ++count[node->name];
        auto inner = std::move(node->backward);
        node->backward = [inner = std::move(inner), slot](const salun::Tensor<float>& g) {
            const double t0 = now_s();
            auto r = inner(g);
            *slot += now_s() - t0;
            return r;
        };
        for (const auto& in : node->inputs)
            if (in && seen.insert(in.get()).second) stack.push_back(in.get());
    }
}

ModelResult bench_model(const std::string& arch, const Options& o, int threads) {
    ModelResult r;
    r.arch = arch;
    salun::Generator gen(o.seed);
    auto model = salun::models::make_model<float>(arch, 10, gen);
    const auto params = model->parameters();
    for (const auto& p : params) r.params += p.numel();

    const std::size_t N = o.batch;
    const salun::Tensor<float> x = salun::Tensor<float>::normal({N, 3, 32, 32}, 0.0, 1.0, gen);
    std::vector<std::int64_t> labels(N);
    for (auto& l : labels) l = std::int64_t(gen.randint(10));

    // ---- forward, eval mode, no graph ---------------------------------------------------------
    {
        model->eval();
        salun::NoGradGuard no_grad;
        std::vector<double> tw, tc;
        for (int i = 0; i < o.warmup + o.reps; ++i) {
            const double c0 = cpu_now_s(), t0 = now_s();
            const salun::Tensor<float> y = model->forward(x);
            const double t1 = now_s(), c1 = cpu_now_s();
            if (y.shape() != salun::Shape{N, 10}) throw salun::Error("unexpected logits shape");
            if (i >= o.warmup) {
                tw.push_back(t1 - t0);
                tc.push_back((c1 - c0) / threads);
            }
        }
        r.fwd_s = median(tw);
        r.fwd_cpu_s = median(tc);
    }

    // ---- training step ------------------------------------------------------------------------
    model->train();
    salun::optim::SGDOptions sgd_options;
    sgd_options.lr = 0.01;
    sgd_options.momentum = 0.9;
    sgd_options.weight_decay = 5e-4;
    salun::optim::SGD<float> opt(params, sgd_options);
    std::vector<double> tw, tc, pz, pf, pl, pb, po;
    auto step = [&](bool profile) {
        const double c0 = cpu_now_s(), t0 = now_s();
        opt.zero_grad();
        const double t1 = now_s();
        const salun::Tensor<float> logits = model->forward(x);
        const double t2 = now_s();
        const salun::Tensor<float> loss = salun::cross_entropy(logits, labels);
        const double t3 = now_s();
        if (profile) instrument_graph(loss, r.bwd_by_op, r.bwd_count);
        const double t3b = now_s();
        loss.backward();
        const double t4 = now_s();
        opt.step();
        const double t5 = now_s(), c5 = cpu_now_s();
        r.loss = loss.item();
        if (profile) {
            r.bwd_total = t4 - t3b;
            return;
        }
        tw.push_back(t5 - t0 - (t3b - t3));
        tc.push_back((c5 - c0) / threads);
        pz.push_back(t1 - t0);
        pf.push_back(t2 - t1);
        pl.push_back(t3 - t2);
        pb.push_back(t4 - t3b);
        po.push_back(t5 - t4);
    };
    for (int i = 0; i < o.warmup; ++i) step(false);
    tw.clear(), tc.clear(), pz.clear(), pf.clear(), pl.clear(), pb.clear(), po.clear();
    for (int i = 0; i < o.reps; ++i) step(false);
    r.step_s = median(tw);
    r.step_cpu_s = median(tc);
    r.ph_zero = median(pz);
    r.ph_fwd = median(pf);
    r.ph_loss = median(pl);
    r.ph_bwd = median(pb);
    r.ph_opt = median(po);
    if (o.breakdown) step(true);
    r.rss_mib = peak_rss_mib();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    if (o.threads > 0)
        salun::set_num_threads(o.threads);
    else
        salun::init_threads_from_env();
    const int threads = salun::get_num_threads();

    std::printf("salun-bench-models: batch %zu, %d thread(s), warm-up %d, %d reps (medians), load average %s\n",
                o.batch, threads, o.warmup, o.reps, loadavg().c_str());

    nlohmann::ordered_json js;
    js["tool"] = "salun-bench-models";
    js["batch"] = o.batch;
    js["threads"] = threads;
    js["warmup"] = o.warmup;
    js["reps"] = o.reps;
    js["loadavg_start"] = loadavg();
    js["models"] = nlohmann::ordered_json::array();

    std::vector<ModelResult> results;
    for (const auto& arch : o.archs) {
        ModelResult r;
        try {
            r = bench_model(arch, o, threads);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "salun-bench-models: %s: %s\n", arch.c_str(), e.what());
            return 1;
        }
        results.push_back(r);
        const double N = double(o.batch);
        const double fwd_ips = N / r.fwd_s, step_ips = N / r.step_s;
        std::printf("\n%s (%.2fM parameters, loss %.3f)\n", salun::models::display_name(arch).c_str(),
                    double(r.params) / 1e6, r.loss);
        std::printf("  %-22s %10s %10s %10s %10s\n", "", "s/batch", "img/s", "GFLOP/s", "cpu s/b");
        std::printf("  %-22s %10.3f %10.1f %10.1f %10.3f\n", "forward (eval, no_grad)", r.fwd_s, fwd_ips,
                    fwd_ips * flops_forward(arch), r.fwd_cpu_s);
        std::printf("  %-22s %10.3f %10.1f %10.1f %10.3f\n", "train step", r.step_s, step_ips,
                    step_ips * flops_train(arch), r.step_cpu_s);
        std::printf("  train step phases (median s): zero_grad %.4f, forward %.3f, loss %.4f, backward %.3f, "
                    "sgd %.4f\n",
                    r.ph_zero, r.ph_fwd, r.ph_loss, r.ph_bwd, r.ph_opt);
        std::printf("  peak RSS so far: %.0f MiB\n", r.rss_mib);

        nlohmann::ordered_json m;
        m["arch"] = arch;
        m["params"] = r.params;
        m["forward"] = {{"s_per_batch", r.fwd_s},
                        {"cpu_s_per_batch", r.fwd_cpu_s},
                        {"img_per_s", fwd_ips},
                        {"gflop_per_img", flops_forward(arch)},
                        {"gflop_per_s", fwd_ips * flops_forward(arch)}};
        m["train_step"] = {{"s_per_batch", r.step_s},
                           {"cpu_s_per_batch", r.step_cpu_s},
                           {"img_per_s", step_ips},
                           {"gflop_per_img", flops_train(arch)},
                           {"gflop_per_s", step_ips * flops_train(arch)},
                           {"phases_s", {{"zero_grad", r.ph_zero},
                                         {"forward", r.ph_fwd},
                                         {"loss", r.ph_loss},
                                         {"backward", r.ph_bwd},
                                         {"sgd_step", r.ph_opt}}}};
        m["peak_rss_mib"] = r.rss_mib;
        m["final_loss"] = r.loss;

        if (o.breakdown && !r.bwd_by_op.empty()) {
            std::vector<std::pair<std::string, double>> ops(r.bwd_by_op.begin(), r.bwd_by_op.end());
            std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
            double sum = 0;
            for (const auto& [name, s] : ops) sum += s;
            std::printf("  backward by op (one profiled step, backward() %.3f s):\n", r.bwd_total);
            nlohmann::ordered_json bj = nlohmann::ordered_json::object();
            for (const auto& [name, s] : ops) {
                std::printf("    %-22s %3d nodes %8.3f s %5.1f%%\n", name.c_str(), r.bwd_count[name], s,
                            100.0 * s / r.bwd_total);
                bj[name] = {{"nodes", r.bwd_count[name]}, {"s", s}};
            }
            const double engine = r.bwd_total - sum;
            std::printf("    %-22s %9s %8.3f s %5.1f%%\n", "(engine: sort, sums)", "", engine,
                        100.0 * engine / r.bwd_total);
            m["backward_breakdown"] = {{"backward_s", r.bwd_total}, {"engine_s", engine}, {"ops", bj}};
        }
        js["models"].push_back(m);
    }
    js["loadavg_end"] = loadavg();

    if (!o.json.empty()) {
        std::ofstream f(o.json);
        if (!f) {
            std::fprintf(stderr, "salun-bench-models: cannot write %s\n", o.json.c_str());
            return 1;
        }
        f << js.dump(2) << "\n";
    }
    return 0;
}
