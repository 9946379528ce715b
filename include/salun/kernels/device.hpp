// SPDX-License-Identifier: MIT
// The kernels ops call for a tensor that is not on the CPU: one function per kernel of
// cuda/kernels.hpp, taking the op's element type. For float in a build with the CUDA backend
// (SALUN_WITH_CUDA) they forward to salun::cuda; otherwise they throw a clear salun::Error (a
// device tensor cannot exist in a CPU-only build, but the op's device branch must still
// compile). Only float32 runs on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "salun/core/device.hpp"
#include "salun/kernels/elementwise.hpp"
#include "salun/kernels/params.hpp"
#if defined(SALUN_WITH_CUDA)
#include "salun/cuda/kernels.hpp"
#endif

namespace salun::kernels::device {

using index_t = std::int64_t;

/// Why an op cannot run on a device tensor of type T.
template <class T>
[[noreturn]] void unsupported_type(const char* op) {
    detail::throw_error(op, ": the cuda backend computes in float32 only; this tensor holds ",
                        std::is_same_v<T, double> ? "float64" : "another type");
}

/// Marks arguments used on the paths that only throw (no unused-parameter warnings).
template <class... A>
void ignore(const A&...) {}

#if defined(SALUN_WITH_CUDA)
#define SALUN_DEVICE_KERNEL(op, call) call
#else
#define SALUN_DEVICE_KERNEL(op, call) ::salun::detail::backend_not_built(::salun::Device::cuda, op)
#endif

// Each kernel is a template on the element type F: float reaches the backend, any other type is
// a clear error (the discarded branch is never instantiated for double, so it need not compile).
#define SALUN_DEVICE_FN(name, params, args)                          \
    template <class F>                                               \
    void name params {                                               \
        ignore args;                                                 \
        if constexpr (std::is_same_v<F, float>) {                    \
            SALUN_DEVICE_KERNEL(#name, ::salun::cuda::name args);    \
        } else {                                                     \
            unsupported_type<F>(#name);                              \
        }                                                            \
    }

SALUN_DEVICE_FN(fill, (F* y, F v, index_t n), (y, v, n))
SALUN_DEVICE_FN(relu_forward, (const F* x, F* y, index_t n), (x, y, n))
SALUN_DEVICE_FN(relu_backward, (const F* y, const F* g, F* dx, index_t n), (y, g, dx, n))
SALUN_DEVICE_FN(binary, (ew::Binary op, const F* a, const F* b, F* y, index_t n), (op, a, b, y, n))
SALUN_DEVICE_FN(affine, (const F* x, F* y, F s, F t, index_t n), (x, y, s, t, n))
SALUN_DEVICE_FN(add_inplace, (F* y, const F* x, index_t n), (y, x, n))
SALUN_DEVICE_FN(scale_inplace, (F* y, F s, index_t n), (y, s, n))
SALUN_DEVICE_FN(mask_multiply, (F* g, const F* m, index_t n), (g, m, n))
SALUN_DEVICE_FN(abs_accumulate, (F* acc, const F* g, index_t n), (acc, g, n))
SALUN_DEVICE_FN(broadcast_rows, (const F* row, F* y, index_t r, index_t c), (row, y, r, c))
SALUN_DEVICE_FN(sgd_update, (F* w, const F* g, F* buf, const F* mask, index_t n, const ew::SgdStep<F>& s),
                (w, g, buf, mask, n, s))
SALUN_DEVICE_FN(sum, (const F* x, F* out, index_t n, F scale), (x, out, n, scale))
SALUN_DEVICE_FN(expand_scalar, (const F* s, F* y, F scale, index_t n), (s, y, scale, n))
SALUN_DEVICE_FN(column_sums, (const F* x, F* y, index_t r, index_t c), (x, y, r, c))
SALUN_DEVICE_FN(softmax_rows, (const F* x, F* y, index_t N, index_t C), (x, y, N, C))
SALUN_DEVICE_FN(log_softmax_rows, (const F* x, F* y, index_t N, index_t C), (x, y, N, C))
SALUN_DEVICE_FN(softmax_backward_rows, (const F* y, const F* g, F* dx, index_t N, index_t C), (y, g, dx, N, C))
SALUN_DEVICE_FN(log_softmax_backward_rows, (const F* y, const F* g, F* dx, index_t N, index_t C), (y, g, dx, N, C))
SALUN_DEVICE_FN(cross_entropy_forward,
                (const F* x, const std::int64_t* t, F* logp, F* loss, index_t N, index_t C), (x, t, logp, loss, N, C))
SALUN_DEVICE_FN(cross_entropy_backward,
                (const F* logp, const std::int64_t* t, const F* g, F* dx, index_t N, index_t C), (logp, t, g, dx, N, C))
SALUN_DEVICE_FN(gemm, (bool ta, bool tb, index_t M, index_t N, index_t K, F alpha, const F* A, index_t lda, const F* B,
                       index_t ldb, F beta, F* C, index_t ldc),
                (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
SALUN_DEVICE_FN(conv2d_forward, (const F* x, const F* w, const F* b, F* y, const Conv2dParams& p), (x, w, b, y, p))
SALUN_DEVICE_FN(conv2d_backward_data, (const F* w, const F* gy, F* gx, const Conv2dParams& p), (w, gy, gx, p))
SALUN_DEVICE_FN(conv2d_backward_weight, (const F* x, const F* gy, F* gw, F* gb, const Conv2dParams& p),
                (x, gy, gw, gb, p))
SALUN_DEVICE_FN(batch_norm_forward_training,
                (const F* x, const F* g, const F* b, F* y, F* rm, F* rv, F* sm, F* si, index_t N, index_t C, index_t HW,
                 double momentum, double eps),
                (x, g, b, y, rm, rv, sm, si, N, C, HW, momentum, eps))
SALUN_DEVICE_FN(batch_norm_forward_inference,
                (const F* x, const F* g, const F* b, const F* rm, const F* rv, F* y, index_t N, index_t C, index_t HW,
                 double eps),
                (x, g, b, rm, rv, y, N, C, HW, eps))
SALUN_DEVICE_FN(batch_norm_backward_training,
                (const F* x, const F* gy, const F* g, const F* sm, const F* si, F* gx, F* gg, F* gb, index_t N,
                 index_t C, index_t HW, double eps),
                (x, gy, g, sm, si, gx, gg, gb, N, C, HW, eps))
SALUN_DEVICE_FN(batch_norm_backward_eval,
                (const F* x, const F* gy, const F* g, const F* rm, const F* rv, F* gx, F* gg, F* gb, index_t N,
                 index_t C, index_t HW, double eps),
                (x, gy, g, rm, rv, gx, gg, gb, N, C, HW, eps))
SALUN_DEVICE_FN(max_pool2d_forward, (const F* x, F* y, std::int64_t* am, const Pool2dParams& p), (x, y, am, p))
SALUN_DEVICE_FN(max_pool2d_backward, (const F* gy, const std::int64_t* am, F* gx, const Pool2dParams& p),
                (gy, am, gx, p))
SALUN_DEVICE_FN(adaptive_avg_pool2d_forward,
                (const F* x, F* y, index_t NC, index_t H, index_t W, index_t OH, index_t OW), (x, y, NC, H, W, OH, OW))
SALUN_DEVICE_FN(adaptive_avg_pool2d_backward,
                (const F* gy, F* gx, index_t NC, index_t H, index_t W, index_t OH, index_t OW),
                (gy, gx, NC, H, W, OH, OW))
/// Sum of squares over several tensors as a host value (synchronises once): the global gradient norm.
template <class F>
double sum_squares(const F* const* xs, const index_t* ns, index_t count) {
    ignore(xs, ns, count);
    if constexpr (std::is_same_v<F, float>) {
#if defined(SALUN_WITH_CUDA)
        return ::salun::cuda::sum_squares(xs, ns, count);
#else
        ::salun::detail::backend_not_built(::salun::Device::cuda, "sum_squares");
#endif
    } else {
        unsupported_type<F>("sum_squares");
    }
}

#undef SALUN_DEVICE_FN
#undef SALUN_DEVICE_KERNEL

}  // namespace salun::kernels::device
