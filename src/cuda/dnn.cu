// SPDX-License-Identifier: MIT
// Convolution on cuDNN (legacy API, NCHW float32): forward, backward data, backward filter and
// bias. The algorithm comes from cuDNN's heuristics (cudnnGet*_v7, PyTorch's choice with
// cudnn.benchmark off), cached per shape; the workspace is stream-ordered device memory. The math
// mode is cuDNN's default, which uses TF32 tensor cores on Ampere and later for float32 as
// PyTorch does by default (NVIDIA_TF32_OVERRIDE=0 forces exact FP32, e.g. to compare with the CPU).
#include <map>
#include <mutex>
#include <tuple>

#include "cudnn.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {

cudnnHandle_t cudnn_handle() {
    static cudnnHandle_t h = [] {
        cudnnHandle_t created = nullptr;
        SALUN_CUDNN_CHECK(cudnnCreate(&created));
        SALUN_CUDNN_CHECK(cudnnSetStream(created, stream()));
        return created;
    }();
    return h;
}

namespace {

/// The descriptors of one convolution shape (created per call: cheap next to the convolution).
struct ConvDescs {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;

    explicit ConvDescs(const kernels::Conv2dParams& p) {
        SALUN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
        SALUN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
        SALUN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
        SALUN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
        SALUN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
        SALUN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(p.N), int(p.C), int(p.H), int(p.W)));
        SALUN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(p.N), int(p.OC), int(p.OH()),
                                                     int(p.OW())));
        SALUN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(p.OC), 1, 1));
        SALUN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(p.OC), int(p.C), int(p.KH),
                                                     int(p.KW)));
        // Cross-correlation, as PyTorch (and the CPU kernels) compute "convolution".
        SALUN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(p.PH), int(p.PW), int(p.SH), int(p.SW), 1, 1,
                                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        SALUN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_DEFAULT_MATH));
    }
    ~ConvDescs() {
        cudnnDestroyConvolutionDescriptor(conv);
        cudnnDestroyFilterDescriptor(w);
        cudnnDestroyTensorDescriptor(bias);
        cudnnDestroyTensorDescriptor(y);
        cudnnDestroyTensorDescriptor(x);
    }
    ConvDescs(const ConvDescs&) = delete;
    ConvDescs& operator=(const ConvDescs&) = delete;
};

using ShapeKey = std::tuple<std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, std::size_t,
                            std::size_t, std::size_t, std::size_t, std::size_t>;
ShapeKey key_of(const kernels::Conv2dParams& p) {
    return {p.N, p.C, p.H, p.W, p.OC, p.KH, p.KW, p.SH, p.SW, p.PH, p.PW};
}

/// Heuristic algorithm choice, once per shape and direction.
template <class Algo, class Perf, class Get>
Algo cached_algo(std::map<ShapeKey, Algo>& cache, const kernels::Conv2dParams& p, Get get) {
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    const auto it = cache.find(key_of(p));
    if (it != cache.end()) return it->second;
    Perf perf[8];
    int found = 0;
    get(perf, 8, &found);
    Algo algo = perf[0].algo;
    for (int i = 0; i < found; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS) {
            algo = perf[i].algo;
            break;
        }
    cache.emplace(key_of(p), algo);
    return algo;
}

/// Stream-ordered scratch memory for one cuDNN call.
struct Workspace {
    void* ptr = nullptr;
    explicit Workspace(std::size_t bytes) {
        if (bytes) SALUN_CUDA_CHECK(cudaMallocAsync(&ptr, bytes, stream()));
    }
    ~Workspace() {
        if (ptr) cudaFreeAsync(ptr, stream());
    }
};

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* bias, float* y, const kernels::Conv2dParams& p) {
    ConvDescs d(p);
    static std::map<ShapeKey, cudnnConvolutionFwdAlgo_t> cache;
    const auto algo = cached_algo<cudnnConvolutionFwdAlgo_t, cudnnConvolutionFwdAlgoPerf_t>(
        cache, p, [&](cudnnConvolutionFwdAlgoPerf_t* perf, int n, int* found) {
            SALUN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_handle(), d.x, d.w, d.conv, d.y, n, found, perf));
        });
    std::size_t bytes = 0;
    SALUN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn_handle(), d.x, d.w, d.conv, d.y, algo, &bytes));
    Workspace ws(bytes);
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(cudnnConvolutionForward(cudnn_handle(), &one, d.x, x, d.w, w, d.conv, algo, ws.ptr, bytes, &zero, d.y, y));
    if (bias) SALUN_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(), &one, d.bias, bias, &one, d.y, y));
}

void conv2d_backward_data(const float* w, const float* gy, float* gx, const kernels::Conv2dParams& p) {
    ConvDescs d(p);
    static std::map<ShapeKey, cudnnConvolutionBwdDataAlgo_t> cache;
    const auto algo = cached_algo<cudnnConvolutionBwdDataAlgo_t, cudnnConvolutionBwdDataAlgoPerf_t>(
        cache, p, [&](cudnnConvolutionBwdDataAlgoPerf_t* perf, int n, int* found) {
            SALUN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_handle(), d.w, d.y, d.conv, d.x, n, found, perf));
        });
    std::size_t bytes = 0;
    SALUN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_handle(), d.w, d.y, d.conv, d.x, algo, &bytes));
    Workspace ws(bytes);
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(
        cudnnConvolutionBackwardData(cudnn_handle(), &one, d.w, w, d.y, gy, d.conv, algo, ws.ptr, bytes, &zero, d.x, gx));
}

void conv2d_backward_weight(const float* x, const float* gy, float* gw, float* gbias, const kernels::Conv2dParams& p) {
    ConvDescs d(p);
    static std::map<ShapeKey, cudnnConvolutionBwdFilterAlgo_t> cache;
    const auto algo = cached_algo<cudnnConvolutionBwdFilterAlgo_t, cudnnConvolutionBwdFilterAlgoPerf_t>(
        cache, p, [&](cudnnConvolutionBwdFilterAlgoPerf_t* perf, int n, int* found) {
            SALUN_CUDNN_CHECK(
                cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn_handle(), d.x, d.y, d.conv, d.w, n, found, perf));
        });
    std::size_t bytes = 0;
    SALUN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn_handle(), d.x, d.y, d.conv, d.w, algo, &bytes));
    Workspace ws(bytes);
    const float one = 1.0f, zero = 0.0f;
    SALUN_CUDNN_CHECK(
        cudnnConvolutionBackwardFilter(cudnn_handle(), &one, d.x, x, d.y, gy, d.conv, algo, ws.ptr, bytes, &zero, d.w, gw));
    if (gbias) SALUN_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_handle(), &one, d.y, gy, &zero, d.bias, gbias));
}

}  // namespace salun::cuda
