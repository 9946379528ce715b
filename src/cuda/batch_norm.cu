// SPDX-License-Identifier: MIT
// Batch norm over [N,C,HW] (NCHW, or [N,C] as HW = 1) on cuDNN's spatial batch norm: training
// forward (batch statistics with the biased variance, running statistics updated with the
// unbiased one and `momentum` as exponentialAverageFactor: PyTorch's convention, which PyTorch
// itself gets from cuDNN), inference forward and training backward. The eval-mode backward
// (statistics are constants: a per-channel affine map) is an own kernel, one block per channel.
#include <cmath>

#include "cudnn.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

/// The data descriptor [N,C,HW,1] and the per-channel descriptor [1,C,1,1].
struct BnDescs {
    cudnnTensorDescriptor_t x = nullptr, c = nullptr;
    BnDescs(index_t N, index_t C, index_t HW) {
        SALUN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
        SALUN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&c));
        SALUN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(N), int(C), int(HW), 1));
        SALUN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(c, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(C), 1, 1));
    }
    ~BnDescs() {
        cudnnDestroyTensorDescriptor(c);
        cudnnDestroyTensorDescriptor(x);
    }
    BnDescs(const BnDescs&) = delete;
    BnDescs& operator=(const BnDescs&) = delete;
};

/// gamma = 1 / beta = 0 for a batch norm without affine parameters (cuDNN always wants them).
struct Affine {
    float* gamma = nullptr;
    float* beta = nullptr;
    Affine(const float* g, const float* b, index_t C) {
        if (!g || !b) {
            SALUN_CUDA_CHECK(cudaMallocAsync(&owned, sizeof(float) * std::size_t(2 * C), stream()));
            fill(owned, 1.0f, C);
            fill(owned + C, 0.0f, C);
        }
        gamma = g ? const_cast<float*>(g) : owned;
        beta = b ? const_cast<float*>(b) : owned + C;
    }
    ~Affine() {
        if (owned) cudaFreeAsync(owned, stream());
    }
    float* owned = nullptr;
};

constexpr int kThreads = 256;

// Per channel c: sg = sum g, sgx = sum g * xhat, then dx = g * gamma * invstd (eval mode).
__global__ void bn_eval_backward_kernel(const float* x, const float* gy, const float* gamma, const float* mean,
                                        const float* var, double eps, float* gx, float* ggamma, float* gbeta,
                                        std::int64_t N, std::int64_t C, std::int64_t HW) {
    const std::int64_t c = blockIdx.x;
    const float invstd = float(1.0 / sqrt(double(var[c]) + eps));
    const float scale = invstd * (gamma ? gamma[c] : 1.0f);
    double sg = 0, sgx = 0;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = threadIdx.x; i < HW; i += kThreads) {
            const std::int64_t k = (n * C + c) * HW + i;
            sg += gy[k];
            sgx += double(gy[k]) * (double(x[k]) - mean[c]) * invstd;
            if (gx) gx[k] = gy[k] * scale;
        }
    __shared__ double a[kThreads], b[kThreads];
    a[threadIdx.x] = sg;
    b[threadIdx.x] = sgx;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) {
            a[threadIdx.x] += a[threadIdx.x + s];
            b[threadIdx.x] += b[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        gbeta[c] = float(a[0]);
        ggamma[c] = float(b[0]);
    }
}

}  // namespace

void batch_norm_forward_training(const float* x, const float* gamma, const float* beta, float* y, float* running_mean,
                                 float* running_var, float* save_mean, float* save_invstd, index_t N, index_t C,
                                 index_t HW, double momentum, double eps) {
    BnDescs d(N, C, HW);
    Affine a(gamma, beta, C);
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x, x, d.x,
                                                             y, d.c, a.gamma, a.beta, momentum, running_mean,
                                                             running_var, eps, save_mean, save_invstd));
}

void batch_norm_forward_inference(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float* y, index_t N, index_t C, index_t HW, double eps) {
    BnDescs d(N, C, HW);
    Affine a(gamma, beta, C);
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.x, x, d.x,
                                                              y, d.c, a.gamma, a.beta, running_mean, running_var, eps));
}

void batch_norm_backward_training(const float* x, const float* gy, const float* gamma, const float* save_mean,
                                  const float* save_invstd, float* gx, float* ggamma, float* gbeta, index_t N,
                                  index_t C, index_t HW, double eps) {
    BnDescs d(N, C, HW);
    Affine a(gamma, gamma, C);  // beta plays no part in the backward pass
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, d.x, x,
                                                      d.x, gy, d.x, gx, d.c, a.gamma, ggamma, gbeta, eps, save_mean,
                                                      save_invstd));
}

void batch_norm_backward_eval(const float* x, const float* gy, const float* gamma, const float* running_mean,
                              const float* running_var, float* gx, float* ggamma, float* gbeta, index_t N, index_t C,
                              index_t HW, double eps) {
    bn_eval_backward_kernel<<<unsigned(C), kThreads, 0, stream()>>>(x, gy, gamma, running_mean, running_var, eps, gx,
                                                                    ggamma, gbeta, N, C, HW);
    check_launch("batch_norm_backward_eval");
}

}  // namespace salun::cuda
