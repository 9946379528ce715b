// SPDX-License-Identifier: MIT
// Max pooling (argmax kept for the backward pass, first maximum wins and NaN propagates, as the
// reference kernel and PyTorch) and adaptive average pooling (PyTorch's window formula). Own
// kernels rather than cuDNN's pooling: cuDNN does not say which of tied maxima it picks, and
// after a ReLU ties (all-zero windows) are common, so gradients would differ from the CPU's.
#include <cmath>

#include "common.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

struct PoolDims {
    std::int64_t NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW;
};

PoolDims dims_of(const kernels::Pool2dParams& p) {
    return {std::int64_t(p.N * p.C), std::int64_t(p.H), std::int64_t(p.W), std::int64_t(p.OH()), std::int64_t(p.OW()),
            std::int64_t(p.KH), std::int64_t(p.KW), std::int64_t(p.SH), std::int64_t(p.SW), std::int64_t(p.PH),
            std::int64_t(p.PW)};
}

#define SALUN_GRID_STRIDE(i, n)                                                                 \
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (n); \
         i += std::int64_t(blockDim.x) * gridDim.x)

__global__ void max_pool_forward_kernel(PoolDims d, const float* x, float* y, std::int64_t* argmax) {
    SALUN_GRID_STRIDE(o, d.NC * d.OH * d.OW) {
        const std::int64_t ow = o % d.OW, oh = (o / d.OW) % d.OH, nc = o / (d.OW * d.OH);
        const float* plane = x + nc * d.H * d.W;
        float best = -INFINITY;
        std::int64_t best_i = -1;
        for (std::int64_t kh = 0; kh < d.KH; ++kh)
            for (std::int64_t kw = 0; kw < d.KW; ++kw) {
                const std::int64_t ih = oh * d.SH + kh - d.PH, iw = ow * d.SW + kw - d.PW;
                if (ih < 0 || iw < 0 || ih >= d.H || iw >= d.W) continue;
                const float v = plane[ih * d.W + iw];
                if (v > best || best_i < 0 || v != v) {
                    best = v;
                    best_i = ih * d.W + iw;
                }
            }
        y[o] = best;
        argmax[o] = best_i;
    }
}

// Windows may overlap (stride < kernel): scatter with atomics into a zeroed dx.
__global__ void max_pool_backward_kernel(PoolDims d, const float* dy, const std::int64_t* argmax, float* dx) {
    SALUN_GRID_STRIDE(o, d.NC * d.OH * d.OW) {
        const std::int64_t nc = o / (d.OW * d.OH);
        if (argmax[o] >= 0) atomicAdd(dx + nc * d.H * d.W + argmax[o], dy[o]);
    }
}

__global__ void adaptive_avg_forward_kernel(std::int64_t NC, std::int64_t H, std::int64_t W, std::int64_t OH,
                                            std::int64_t OW, const float* x, float* y) {
    SALUN_GRID_STRIDE(o, NC * OH * OW) {
        const std::int64_t ow = o % OW, oh = (o / OW) % OH, nc = o / (OW * OH);
        const std::int64_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
        const std::int64_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
        float acc = 0;
        for (std::int64_t h = h0; h < h1; ++h)
            for (std::int64_t w = w0; w < w1; ++w) acc += x[nc * H * W + h * W + w];
        y[o] = acc / float((h1 - h0) * (w1 - w0));
    }
}

// One thread per input element: the sum over the output windows that contain it (no atomics).
__global__ void adaptive_avg_backward_kernel(std::int64_t NC, std::int64_t H, std::int64_t W, std::int64_t OH,
                                             std::int64_t OW, const float* dy, float* dx) {
    SALUN_GRID_STRIDE(i, NC * H * W) {
        const std::int64_t w = i % W, h = (i / W) % H, nc = i / (W * H);
        float acc = 0;
        for (std::int64_t oh = (h * OH) / H; oh < OH; ++oh) {
            const std::int64_t h0 = oh * H / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
            if (h0 > h) break;
            if (h >= h1) continue;
            for (std::int64_t ow = (w * OW) / W; ow < OW; ++ow) {
                const std::int64_t w0 = ow * W / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
                if (w0 > w) break;
                if (w >= w1) continue;
                acc += dy[(nc * OH + oh) * OW + ow] / float((h1 - h0) * (w1 - w0));
            }
        }
        dx[i] = acc;
    }
}

}  // namespace

void max_pool2d_forward(const float* x, float* y, std::int64_t* argmax, const kernels::Pool2dParams& p) {
    const PoolDims d = dims_of(p);
    max_pool_forward_kernel<<<blocks_for(d.NC * d.OH * d.OW), 256, 0, stream()>>>(d, x, y, argmax);
    check_launch("max_pool2d_forward");
}

void max_pool2d_backward(const float* dy, const std::int64_t* argmax, float* dx, const kernels::Pool2dParams& p) {
    const PoolDims d = dims_of(p);
    SALUN_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * std::size_t(d.NC * d.H * d.W), stream()));
    max_pool_backward_kernel<<<blocks_for(d.NC * d.OH * d.OW), 256, 0, stream()>>>(d, dy, argmax, dx);
    check_launch("max_pool2d_backward");
}

void adaptive_avg_pool2d_forward(const float* x, float* y, index_t NC, index_t H, index_t W, index_t OH, index_t OW) {
    adaptive_avg_forward_kernel<<<blocks_for(NC * OH * OW), 256, 0, stream()>>>(NC, H, W, OH, OW, x, y);
    check_launch("adaptive_avg_pool2d_forward");
}

void adaptive_avg_pool2d_backward(const float* dy, float* dx, index_t NC, index_t H, index_t W, index_t OH, index_t OW) {
    adaptive_avg_backward_kernel<<<blocks_for(NC * H * W), 256, 0, stream()>>>(NC, H, W, OH, OW, dy, dx);
    check_launch("adaptive_avg_pool2d_backward");
}

}  // namespace salun::cuda
