// SPDX-License-Identifier: MIT
// Matrix products: matmul(a[M,K], b[K,N]) and linear(x[N,in], weight[out,in], bias[out]) =
// x weight^T + bias (torch.nn.functional.linear). Both run on the backend GEMM: the CPU's, or
// the tensors' device's (cuBLAS), through `detail::gemm_on`.
#pragma once

#include "salun/core/tensor.hpp"
#include "salun/kernels/backend.hpp"
#include "salun/ops/device.hpp"

namespace salun {

namespace detail {
/// The row-major GEMM of kernels::cpu::gemm on `device` (raw pointers of that device).
template <class T>
void gemm_on(Device device, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
             std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    if (device == Device::cpu)
        kernels::backend::gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        kernels::device::gemm<T>(ta, tb, std::int64_t(M), std::int64_t(N), std::int64_t(K), alpha, A,
                                 std::int64_t(lda), B, std::int64_t(ldb), beta, C, std::int64_t(ldc));
}
}  // namespace detail

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
    SALUN_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape()[1] == b.shape()[0], "matmul: shapes ",
                shape_str(a.shape()), " and ", shape_str(b.shape()), " do not multiply (need [M,K] x [K,N])");
    const std::size_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
    const Device dev = detail::common_device("matmul", a, b);
    Tensor<T> out = Tensor<T>::empty({M, N}, dev);
    detail::gemm_on<T>(dev, false, false, M, N, K, T(1), a.device_data(), K, b.device_data(), N, T(0), out.device_data(), N);
    if (autograd::needs_grad(a, b)) {
        const Tensor<T> ad = a.detach(), bd = b.detach();
        const bool ga = a.requires_grad(), gb = b.requires_grad();
        autograd::record<T>(out, "matmul", {a, b}, [ad, bd, ga, gb, M, N, K](const Tensor<T>& g) {
            Tensor<T> da, db;
            if (ga) {  // dA = g B^T
                da = Tensor<T>::empty({M, K}, g.device());
                detail::gemm_on<T>(g.device(), false, true, M, K, N, T(1), g.device_data(), N, bd.device_data(), N, T(0),
                                   da.device_data(), K);
            }
            if (gb) {  // dB = A^T g
                db = Tensor<T>::empty({K, N}, g.device());
                detail::gemm_on<T>(g.device(), true, false, K, N, M, T(1), ad.device_data(), K, g.device_data(), N, T(0),
                                   db.device_data(), N);
            }
            return std::vector<Tensor<T>>{da, db};
        });
    }
    return out;
}

/// y[N,out] = x[N,in] weight[out,in]^T + bias[out]; bias may be undefined.
template <class T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>()) {
    SALUN_CHECK(x.dim() == 2 && weight.dim() == 2 && x.shape()[1] == weight.shape()[1], "linear: input ",
                shape_str(x.shape()), " does not match weight ", shape_str(weight.shape()), " (need [N,in] and [out,in])");
    const std::size_t N = x.shape()[0], I = x.shape()[1], O = weight.shape()[0];
    SALUN_CHECK(!bias.defined() || bias.shape() == Shape{O}, "linear: bias ", shape_str(bias.shape()),
                " does not match ", O, " outputs");
    const Device dev = detail::common_device("linear", x, weight, bias);
    Tensor<T> out = Tensor<T>::empty({N, O}, dev);
    T* y = out.device_data();
    if (bias.defined() && dev != Device::cpu)
        kernels::device::broadcast_rows<T>(bias.device_data(), y, std::int64_t(N), std::int64_t(O));
    else if (bias.defined())
        for (std::size_t n = 0; n < N; ++n) std::copy_n(bias.data(), O, y + n * O);
    detail::gemm_on<T>(dev, false, true, N, O, I, T(1), x.device_data(), I, weight.device_data(), I,
                       bias.defined() ? T(1) : T(0), y, O);
    if (autograd::needs_grad(x, weight, bias)) {
        const Tensor<T> xd = x.detach(), wd = weight.detach();
        const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
        std::vector<Tensor<T>> inputs{x, weight};
        if (bias.defined()) inputs.push_back(bias);
        autograd::record<T>(out, "linear", inputs, [xd, wd, gx, gw, gb, N, I, O, has_bias = bias.defined()](const Tensor<T>& g) {
            std::vector<Tensor<T>> grads(has_bias ? 3 : 2);
            if (gx) {  // dx = g W
                grads[0] = Tensor<T>::empty({N, I}, g.device());
                detail::gemm_on<T>(g.device(), false, false, N, I, O, T(1), g.device_data(), O, wd.device_data(), I, T(0),
                                   grads[0].device_data(), I);
            }
            if (gw) {  // dW = g^T x
                grads[1] = Tensor<T>::empty({O, I}, g.device());
                detail::gemm_on<T>(g.device(), true, false, O, I, N, T(1), g.device_data(), O, xd.device_data(), I, T(0),
                                   grads[1].device_data(), I);
            }
            if (gb && g.device() != Device::cpu) {
                grads[2] = Tensor<T>::empty({O}, g.device());
                kernels::device::column_sums<T>(g.device_data(), grads[2].device_data(), std::int64_t(N), std::int64_t(O));
            } else if (gb) {  // db = column sums of g
                grads[2] = Tensor<T>::zeros({O});
                T* db = grads[2].data();
                for (std::size_t n = 0; n < N; ++n)
                    for (std::size_t o = 0; o < O; ++o) db[o] += g.data()[n * O + o];
            }
            return grads;
        });
    }
    return out;
}

}  // namespace salun
