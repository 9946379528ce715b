// SPDX-License-Identifier: MIT
// salun-bench-kernels: measured fp32 FMA peak, GEMM and convolution throughput of the CPU
// kernels, each reported as a fraction of the measured peak for the same thread count.
//
//   salun-bench-kernels [--threads N] [--reps R] [--quick] [--no-conv] [--no-gemm]
//
// Every number is the median of R timed repetitions after one warm-up run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <omp.h>
#include <xsimd/xsimd.hpp>

#include "salun/kernels/backend.hpp"

namespace {

namespace kc = salun::kernels::cpu;
using salun::kernels::Conv2dParams;

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu_now_s() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int g_threads = 1;

/// Median wall time and median "busy" time (process CPU time / threads) of `reps` runs of f
/// after one warm-up. On a shared machine the busy time excludes the time the kernel's threads
/// were descheduled in favour of other processes.
struct Timing {
    double wall, busy;
};
Timing time_median(const std::function<void()>& f, int reps, int threads = g_threads) {
    f();
    std::vector<double> tw, tc;
    for (int r = 0; r < reps; ++r) {
        const double c0 = cpu_now_s(), t0 = now_s();
        f();
        tw.push_back(now_s() - t0);
        tc.push_back((cpu_now_s() - c0) / threads);
    }
    std::sort(tw.begin(), tw.end());
    std::sort(tc.begin(), tc.end());
    return {tw[tw.size() / 2], tc[tc.size() / 2]};
}

volatile float g_sink = 0;
volatile float g_start = 0;  // read at run time: keeps the compiler from folding the peak loop

/// The 1-minute load average (other processes sharing the cores skew every number).
std::string loadavg() {
    std::FILE* f = std::fopen("/proc/loadavg", "r");
    if (!f) return "n/a";
    char buf[64] = {0};
    const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
    std::fclose(f);
    if (!ok) return "n/a";
    std::string s(buf);
    return s.substr(0, s.find(' '));
}

struct Rate {
    double wall, busy;  // GFLOP/s by wall time and by busy (CPU) time
};

/// fp32 FMA peak (GFLOP/s) with `nt` threads: 12 independent chains of xsimd FMAs per thread.
Rate fma_peak(int nt, int reps) {
    using V = xsimd::batch<float>;
    const long iters = 20'000'000;
    auto run = [&] {
#pragma omp parallel num_threads(nt)
        {
            // Every chain starts from a run-time value: GCC 12 evaluated chains with constant
            // starts at compile time (4 of 12 on an AVX-512 build), which overstated the peak 1.5x.
            const float s = g_start + 1e-7f * float(omp_get_thread_num() + 1);
            V a0(s + 1.0f), a1(s + 1.1f), a2(s + 1.2f), a3(s + 1.3f), a4(s + 1.4f), a5(s + 1.5f);
            V a6(s + 1.6f), a7(s + 1.7f), a8(s + 1.8f), a9(s + 1.9f), a10(s + 2.0f), a11(s + 2.1f);
            const V m(g_start + 0.9999999f), c(g_start + 1e-7f);
            for (long i = 0; i < iters; ++i) {
                a0 = xsimd::fma(a0, m, c); a1 = xsimd::fma(a1, m, c); a2 = xsimd::fma(a2, m, c);
                a3 = xsimd::fma(a3, m, c); a4 = xsimd::fma(a4, m, c); a5 = xsimd::fma(a5, m, c);
                a6 = xsimd::fma(a6, m, c); a7 = xsimd::fma(a7, m, c); a8 = xsimd::fma(a8, m, c);
                a9 = xsimd::fma(a9, m, c); a10 = xsimd::fma(a10, m, c); a11 = xsimd::fma(a11, m, c);
            }
            const V sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
            const float r = xsimd::hadd(sum);
#pragma omp critical
            g_sink = g_sink + r;
        }
    };
    const Timing t = time_median(run, reps, nt);
    const double flops = double(nt) * double(iters) * 12.0 * double(V::size) * 2.0;
    return {flops / t.wall * 1e-9, flops / t.busy * 1e-9};
}

std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
}

struct Layer {
    const char* name;
    std::size_t C, H, OC, K, S, P;
    Conv2dParams params(std::size_t N) const { return {N, C, H, H, OC, K, K, S, S, P, P}; }
};

// Every distinct convolution layer of ResNet-18 (CIFAR variant) and VGG-16-BN at 32x32 input (the
// first layer 3->64 and 64->64 at 32x32 are shared by both models).
const Layer kLayers[] = {
    {"resnet conv1 3->64 32x32", 3, 32, 64, 3, 1, 1},
    {"resnet l1 64->64 32x32", 64, 32, 64, 3, 1, 1},
    {"resnet l2 64->128 s2 32->16", 64, 32, 128, 3, 2, 1},
    {"resnet l2 128->128 16x16", 128, 16, 128, 3, 1, 1},
    {"resnet l2 down 1x1 s2 64->128", 64, 32, 128, 1, 2, 0},
    {"resnet l3 128->256 s2 16->8", 128, 16, 256, 3, 2, 1},
    {"resnet l3 down 1x1 s2 128->256", 128, 16, 256, 1, 2, 0},
    {"resnet l3 256->256 8x8", 256, 8, 256, 3, 1, 1},
    {"resnet l4 256->512 s2 8->4", 256, 8, 512, 3, 2, 1},
    {"resnet l4 down 1x1 s2 256->512", 256, 8, 512, 1, 2, 0},
    {"resnet l4 512->512 4x4", 512, 4, 512, 3, 1, 1},
    {"vgg 64->128 16x16", 64, 16, 128, 3, 1, 1},
    {"vgg 128->128 16x16", 128, 16, 128, 3, 1, 1},
    {"vgg 128->256 8x8", 128, 8, 256, 3, 1, 1},
    {"vgg 256->256 8x8", 256, 8, 256, 3, 1, 1},
    {"vgg 256->512 4x4", 256, 4, 512, 3, 1, 1},
    {"vgg 512->512 4x4", 512, 4, 512, 3, 1, 1},
    {"vgg 512->512 2x2", 512, 2, 512, 3, 1, 1},
};

void print_row(const char* what, double flops, const Timing& t, const Rate& peak) {
    const double w = flops / t.wall * 1e-9, b = flops / t.busy * 1e-9;
    std::printf("  %-50s %7.1f GFLOP/s %5.1f%% | busy %7.1f GFLOP/s %5.1f%%\n", what, w, 100.0 * w / peak.wall, b,
                100.0 * b / peak.busy);
}

void bench_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const char* label, const Rate& peak,
                int reps) {
    const std::size_t arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
    auto A = random_floats(arows * acols, 1), B = random_floats(brows * bcols, 2);
    std::vector<float> C(M * N);
    const Timing t = time_median(
        [&] { kc::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), acols, B.data(), bcols, 0.0f, C.data(), N); }, reps);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s %c%c M=%zu N=%zu K=%zu", label, ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K);
    print_row(buf, 2.0 * double(M) * double(N) * double(K), t, peak);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = omp_get_max_threads(), reps = 5;
    bool quick = false, do_conv = true, do_gemm = true;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (a == "--quick") quick = true;
        else if (a == "--no-conv") do_conv = false;
        else if (a == "--no-gemm") do_gemm = false;
        else {
            std::printf("usage: %s [--threads N] [--reps R] [--quick] [--no-conv] [--no-gemm]\n", argv[0]);
            return a == "--help" ? 0 : 2;
        }
    }
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    g_threads = threads;
    std::printf("salun-bench-kernels: xsimd arch %s, float width %zu, %d thread(s), median of %d reps, load %s\n",
                xsimd::default_arch::name(), xsimd::batch<float>::size, threads, reps, loadavg().c_str());

    const Rate peak1 = fma_peak(1, reps), peak = fma_peak(threads, reps);
    std::printf("fp32 FMA peak (12 chains): 1 thread %.1f GFLOP/s (busy %.1f), %d thread(s) %.1f GFLOP/s (busy %.1f)\n",
                peak1.wall, peak1.busy, threads, peak.wall, peak.busy);
    std::printf("columns: wall-clock GFLOP/s and %% of the wall-clock peak | same by busy (CPU) time / threads\n");

    if (do_gemm) {
        std::printf("GEMM (C = A*B, beta = 0), %d thread(s):\n", threads);
        for (std::size_t n : {256, 512, 1024, 2048}) {
            if (quick && n > 1024) break;
            bench_gemm(false, false, n, n, n, "square", peak, reps);
        }
        if (!quick)
            for (bool ta : {false, true})
                for (bool tb : {false, true}) bench_gemm(ta, tb, 1024, 1024, 1024, "square", peak, reps);
        // Convolution GEMM shapes as issued by cpu::conv2d_* at batch 128: per image group of
        // G images, forward M=OC N=G*OH*OW K=C*KH*KW; backward-input (A^T) M=C*KH*KW N=G*OH*OW K=OC;
        // backward-weight (B^T) M=OC N=C*KH*KW K=G*OH*OW.
        std::printf("Convolution GEMM shapes (per call inside conv, serial per thread; %d thread(s) here):\n",
                    threads);
        for (const Layer& L : kLayers) {
            const Conv2dParams p = L.params(128);
            const std::size_t G = kc::detail::conv_group_size(p);
            const std::size_t CK = p.C * p.KH * p.KW, NS = G * p.OH() * p.OW();
            bench_gemm(false, false, p.OC, NS, CK, L.name, peak, reps);
            if (quick) continue;
            bench_gemm(true, false, CK, NS, p.OC, L.name, peak, reps);
            bench_gemm(false, true, p.OC, CK, NS, L.name, peak, reps);
        }
    }

    if (do_conv) {
        std::printf("Convolution kernels at batch %d, %d thread(s):\n", quick ? 32 : 128, threads);
        for (const Layer& L : kLayers) {
            const Conv2dParams p = L.params(quick ? 32 : 128);
            const std::size_t OH = p.OH(), OW = p.OW();
            auto x = random_floats(p.N * p.C * p.H * p.W, 3), w = random_floats(p.OC * p.C * p.KH * p.KW, 4);
            auto dy = random_floats(p.N * p.OC * OH * OW, 5), bias = random_floats(p.OC, 6);
            std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(p.OC);
            const double flops = 2.0 * double(p.N * p.OC * OH * OW) * double(p.C * p.KH * p.KW);
            const Timing tf =
                time_median([&] { kc::conv2d_forward(p, x.data(), w.data(), bias.data(), y.data()); }, reps);
            const Timing ti = time_median([&] { kc::conv2d_backward_input(p, dy.data(), w.data(), dx.data()); }, reps);
            const Timing tw =
                time_median([&] { kc::conv2d_backward_weight(p, x.data(), dy.data(), dw.data(), db.data()); }, reps);
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s fwd", L.name);
            print_row(buf, flops, tf, peak);
            std::snprintf(buf, sizeof buf, "%s bwd-input", L.name);
            print_row(buf, flops, ti, peak);
            std::snprintf(buf, sizeof buf, "%s bwd-weight", L.name);
            print_row(buf, flops, tw, peak);
        }
    }
    std::printf("load at end: %s\n", loadavg().c_str());
    return 0;
}
