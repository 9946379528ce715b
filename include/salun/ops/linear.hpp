// Matrix products: matmul(a[M,K], b[K,N]) and linear(x[N,in], weight[out,in], bias[out]) =
// x weight^T + bias (torch.nn.functional.linear). Both run on the backend GEMM.
#pragma once

#include "salun/core/tensor.hpp"
#include "salun/kernels/backend.hpp"

namespace salun {

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
    SALUN_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape()[1] == b.shape()[0], "matmul: shapes ",
                shape_str(a.shape()), " and ", shape_str(b.shape()), " do not multiply (need [M,K] x [K,N])");
    const std::size_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
    Tensor<T> out = Tensor<T>::empty({M, N});
    kernels::backend::gemm<T>(false, false, M, N, K, T(1), a.data(), K, b.data(), N, T(0), out.data(), N);
    if (autograd::needs_grad(a, b)) {
        const Tensor<T> ad = a.detach(), bd = b.detach();
        const bool ga = a.requires_grad(), gb = b.requires_grad();
        autograd::record<T>(out, "matmul", {a, b}, [ad, bd, ga, gb, M, N, K](const Tensor<T>& g) {
            Tensor<T> da, db;
            if (ga) {  // dA = g B^T
                da = Tensor<T>::empty({M, K});
                kernels::backend::gemm<T>(false, true, M, K, N, T(1), g.data(), N, bd.data(), N, T(0), da.data(), K);
            }
            if (gb) {  // dB = A^T g
                db = Tensor<T>::empty({K, N});
                kernels::backend::gemm<T>(true, false, K, N, M, T(1), ad.data(), K, g.data(), N, T(0), db.data(), N);
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
    Tensor<T> out = Tensor<T>::empty({N, O});
    T* y = out.data();
    if (bias.defined())
        for (std::size_t n = 0; n < N; ++n) std::copy_n(bias.data(), O, y + n * O);
    kernels::backend::gemm<T>(false, true, N, O, I, T(1), x.data(), I, weight.data(), I,
                              bias.defined() ? T(1) : T(0), y, O);
    if (autograd::needs_grad(x, weight, bias)) {
        const Tensor<T> xd = x.detach(), wd = weight.detach();
        const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
        std::vector<Tensor<T>> inputs{x, weight};
        if (bias.defined()) inputs.push_back(bias);
        autograd::record<T>(out, "linear", inputs, [xd, wd, gx, gw, gb, N, I, O, has_bias = bias.defined()](const Tensor<T>& g) {
            std::vector<Tensor<T>> grads(has_bias ? 3 : 2);
            if (gx) {  // dx = g W
                grads[0] = Tensor<T>::empty({N, I});
                kernels::backend::gemm<T>(false, false, N, I, O, T(1), g.data(), O, wd.data(), I, T(0), grads[0].data(), I);
            }
            if (gw) {  // dW = g^T x
                grads[1] = Tensor<T>::empty({O, I});
                kernels::backend::gemm<T>(true, false, O, I, N, T(1), g.data(), O, xd.data(), I, T(0), grads[1].data(), I);
            }
            if (gb) {  // db = column sums of g
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
