// SPDX-License-Identifier: MIT
// CPU batch-norm kernels, same contract as reference::batch_norm_*. Statistics and gradient
// sums are accumulated in double with a two-pass (mean, then centred squares) scheme. Each
// OpenMP thread owns a contiguous range of channels, cut into blocks of whole channels whose
// planes over the batch fit kBnBlockBytes; both passes run over one block before the next, image
// by image, the block's planes in order. One channel's sum is still its planes' sums added in
// image order, so results do not depend on the thread count (nor on the block size). The
// element-wise passes are simple vectorisable loops over each HW plane.
// Why blocks, image by image: walking one channel through the batch reads one plane, then jumps
// C * HW values to the next image's. On small maps (ResNet-18's 512-channel 4x4: 64-byte planes
// 32 KiB apart) no hardware prefetcher follows that, and batch norm waited on memory for every
// plane (12 ns per value in the backward on an Intel Xeon, 2.8 ns image by image). Walking the
// whole range image by image instead lost the second pass's reuse of the first one's data from
// L2 on large maps (a 32x32 channel is 512 KiB over a batch of 128): the blocks keep both.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>

#include "salun/kernels/cpu/prefetch.hpp"
#include "salun/kernels/cpu/threading.hpp"

namespace salun::kernels::cpu {

namespace detail {
inline int bn_threads(std::size_t C, std::size_t elems) {
    const int nt = threads_for(double(elems), 1 << 14);
    return C < std::size_t(nt) ? int(C > 0 ? C : 1) : nt;
}

/// Bytes of one tensor's planes per block of channels (about a quarter of a 1-2 MiB L2: the
/// backward reads three tensors).
constexpr std::size_t kBnBlockBytes = 256 * 1024;

/// Smallest plane that bn_block_planes prefetches. Measured at batch 128, 1 thread (Intel Xeon,
/// min of 9, paired runs), prefetching in every pass: statistics 13-35% faster on 16x16 and 32x32
/// maps and the backward 13-23% on 16x16 but 6-10% slower on 32x32 (its second pass re-reads the
/// block from L2: now only first passes prefetch); level on 8x8; 4x4 (64-byte planes, whose
/// blocks are contiguous runs of channels) up to 17% slower. The backward's first pass, which
/// reads three tensors, prefetches only planes below kBnBackwardPrefetchBelowBytes: on 32x32 maps
/// it measured 5% faster to 16% slower, 7% slower in the median of three paired runs.
constexpr std::size_t kBnPrefetchPlaneBytes = 1024, kBnBackwardPrefetchBelowBytes = 4096;

/// Channels per block for planes of HW values over a batch of N.
template <class T>
std::size_t bn_block_channels(std::size_t N, std::size_t HW) {
    return std::max<std::size_t>(1, kBnBlockBytes / std::max<std::size_t>(1, N * HW * sizeof(T)));
}

/// Calls f(c, offset of plane (n, c)) for the planes of channels [b0, b1) of x[N, C, HW], image
/// by image (the order every pass of a block takes; see the header comment for why). On planes of
/// kBnPrefetchPlaneBytes and more, the next plane of each tensor in `reads` (nullptr: none) is
/// prefetched before each plane: a block is then one or a few channels, so the next plane is a
/// whole image away, and on 32x32 maps each plane is a page of its own (prefetch.hpp). The first
/// pass over a block names its tensors; the second finds the block in L2 and names none.
template <class T, class F>
void bn_block_planes(std::size_t N, std::size_t C, std::size_t HW, std::size_t b0, std::size_t b1,
                     std::initializer_list<const T*> reads, F f) {
    const bool ahead = HW * sizeof(T) >= kBnPrefetchPlaneBytes;
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t c = b0; c < b1; ++c) {
            const std::size_t next = c + 1 < b1 ? (n * C + c + 1) * HW : ((n + 1) * C + b0) * HW;
            if (ahead)
                for (const T* t : reads)
                    if (t) prefetch_range(t, next * sizeof(T), HW * sizeof(T));
            f(c, (n * C + c) * HW);
        }
}

/// Channels [lo, hi) of thread t of nt: contiguous, balanced ranges.
inline void bn_channel_range(std::size_t C, int nt, int t, std::size_t& lo, std::size_t& hi) {
    lo = C * std::size_t(t) / std::size_t(nt);
    hi = C * std::size_t(t + 1) / std::size_t(nt);
}

/// out[i] = relu_out[i] > 0 ? dy[i] : 0 for one HW row (the ReLU backward of a fused
/// batch_norm_relu, done in an L1-sized buffer so the reductions below stay vectorised).
template <class T>
const T* relu_mask_row(const T* dy, const T* relu_out, std::size_t HW, T* out) {
#pragma omp simd
    for (std::size_t i = 0; i < HW; ++i) {
        const T v = dy[i];
        out[i] = relu_out[i] <= T(0) ? T(0) : v;  // as relu's backward: NaN outputs pass
    }
    return out;
}
}  // namespace detail

/// Per-channel mean and biased variance of x[N,C,HW].
template <class T>
void batch_norm_stats(std::size_t N, std::size_t C, std::size_t HW, const T* x, T* mean, T* var) {
    const int nt = detail::bn_threads(C, N * C * HW);
    const double M = double(N * HW);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        std::size_t c0, c1;
        detail::bn_channel_range(C, nt, nt > 1 ? detail::thread_id() : 0, c0, c1);
        const std::size_t k = c1 - c0, cb = detail::bn_block_channels<T>(N, HW);
        thread_local detail::AlignedBuffer<double> accbuf;
        double* s = accbuf.get(2 * k);  // s[c - c0]: sum of channel c, then its mean
        double* ss = s + k;             // centred sums of squares
        std::fill(s, s + 2 * k, 0.0);
        for (std::size_t b0 = c0; b0 < c1; b0 += cb) {
            const std::size_t b1 = std::min(c1, b0 + cb);
            detail::bn_block_planes<T>(N, C, HW, b0, b1, {x}, [&](std::size_t c, std::size_t off) {
                const T* xp = x + off;
                double sn = 0;
#pragma omp simd reduction(+ : sn)
                for (std::size_t i = 0; i < HW; ++i) sn += double(xp[i]);
                s[c - c0] += sn;
            });
            for (std::size_t c = b0; c < b1; ++c) s[c - c0] = M > 0 ? s[c - c0] / M : 0.0;
            detail::bn_block_planes<T>(N, C, HW, b0, b1, {}, [&](std::size_t c, std::size_t off) {
                const T* xp = x + off;
                const double m = s[c - c0];
                double sn = 0;
#pragma omp simd reduction(+ : sn)
                for (std::size_t i = 0; i < HW; ++i) {
                    const double d = double(xp[i]) - m;
                    sn += d * d;
                }
                ss[c - c0] += sn;
            });
        }
        for (std::size_t c = c0; c < c1; ++c) {
            mean[c] = T(s[c - c0]);
            var[c] = M > 0 ? T(ss[c - c0] / M) : T(0);
        }
    }
}

/// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; gamma/beta nullable (1 and 0).
/// residual (nullable): y += residual[same index] before the ReLU (batch_norm_add_relu, ResNet's
/// block output: one pass instead of three).
/// relu: y = max(y, 0) in the same pass (batch_norm_relu: one write instead of two passes).
template <class T>
void batch_norm_apply(std::size_t N, std::size_t C, std::size_t HW, const T* x, const T* mean, const T* invstd,
                      const T* gamma, const T* beta, T* y, bool relu = false, const T* residual = nullptr) {
    const std::size_t planes = N * C;
    const int nt = detail::bn_threads(planes, planes * HW);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (std::size_t nc = 0; nc < planes; ++nc) {
        const std::size_t c = nc % C;
        const T scale = invstd[c] * (gamma ? gamma[c] : T(1));
        const T shift = (beta ? beta[c] : T(0)) - mean[c] * scale;
        const T* xp = x + nc * HW;
        T* yp = y + nc * HW;
        if (residual) {
            const T* rp = residual + nc * HW;
#pragma omp simd
            for (std::size_t i = 0; i < HW; ++i) {
                const T v = xp[i] * scale + shift + rp[i];
                yp[i] = relu && v < T(0) ? T(0) : v;
            }
        } else if (relu) {
#pragma omp simd
            for (std::size_t i = 0; i < HW; ++i) {
                const T v = xp[i] * scale + shift;
                yp[i] = v < T(0) ? T(0) : v;  // NaN passes through, as in PyTorch
            }
        } else {
#pragma omp simd
            for (std::size_t i = 0; i < HW; ++i) yp[i] = xp[i] * scale + shift;
        }
    }
}

/// Backward of training-mode batch norm: dx, dgamma, dbeta (overwritten, each nullable).
///   dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M).
/// relu_out (nullable): the output of a fused batch_norm_relu; dy is then the gradient of that
/// output and is masked by relu_out > 0 on the fly (no separate ReLU backward pass).
template <class T>
void batch_norm_backward(std::size_t N, std::size_t C, std::size_t HW, const T* dy, const T* x, const T* mean,
                         const T* invstd, const T* gamma, T* dx, T* dgamma, T* dbeta, const T* relu_out = nullptr) {
    const int nt = detail::bn_threads(C, N * C * HW);
    const double M = double(N * HW);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        std::size_t c0, c1;
        detail::bn_channel_range(C, nt, nt > 1 ? detail::thread_id() : 0, c0, c1);
        const std::size_t k = c1 - c0, cb = detail::bn_block_channels<T>(N, HW);
        thread_local detail::AlignedBuffer<double> accbuf;
        thread_local detail::AlignedBuffer<T> maskbuf;
        double* sdy = accbuf.get(3 * k);  // [c - c0]: sum dy, then dbeta / M
        double* sdyx = sdy + k;           // sum dy * (x - mean), then invstd * dgamma / M
        double* g = sdyx + k;             // gamma * invstd
        std::fill(sdy, sdy + 2 * k, 0.0);
        T* masked = relu_out ? maskbuf.get(HW) : nullptr;
        // the first pass's tensors, prefetched below a page per plane (kBnBackwardPrefetchBelowBytes)
        const bool ahead = HW * sizeof(T) < detail::kBnBackwardPrefetchBelowBytes;
        const std::initializer_list<const T*> first_reads = {ahead ? dy : nullptr, ahead ? x : nullptr,
                                                             ahead ? relu_out : nullptr};
        for (std::size_t b0 = c0; b0 < c1; b0 += cb) {
            const std::size_t b1 = std::min(c1, b0 + cb);
            detail::bn_block_planes<T>(N, C, HW, b0, b1, first_reads, [&](std::size_t c, std::size_t off) {
                const T* dyp = relu_out ? detail::relu_mask_row(dy + off, relu_out + off, HW, masked) : dy + off;
                const T* xp = x + off;
                const double m = double(mean[c]);
                double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
                for (std::size_t i = 0; i < HW; ++i) {
                    a += double(dyp[i]);
                    b += double(dyp[i]) * (double(xp[i]) - m);
                }
                sdy[c - c0] += a;
                sdyx[c - c0] += b;
            });
            for (std::size_t c = b0; c < b1; ++c) {
                const double is = double(invstd[c]);
                sdyx[c - c0] *= is;
                if (dgamma) dgamma[c] = T(sdyx[c - c0]);
                if (dbeta) dbeta[c] = T(sdy[c - c0]);
                g[c - c0] = (gamma ? double(gamma[c]) : 1.0) * is;
                sdy[c - c0] = M > 0 ? sdy[c - c0] / M : 0.0;
                sdyx[c - c0] = M > 0 ? is * sdyx[c - c0] / M : 0.0;
            }
            if (!dx || M <= 0) continue;
            detail::bn_block_planes<T>(N, C, HW, b0, b1, {}, [&](std::size_t c, std::size_t off) {
                const T* dyp = relu_out ? detail::relu_mask_row(dy + off, relu_out + off, HW, masked) : dy + off;
                const T* xp = x + off;
                T* dxp = dx + off;
                const double m = double(mean[c]), gc = g[c - c0], mdy = sdy[c - c0], kc = sdyx[c - c0];
#pragma omp simd
                for (std::size_t i = 0; i < HW; ++i)
                    dxp[i] = T(gc * (double(dyp[i]) - mdy - (double(xp[i]) - m) * kc));
            });
        }
    }
}

}  // namespace salun::kernels::cpu
