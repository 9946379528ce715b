// SPDX-License-Identifier: MIT
// conv2d(x[N,C,H,W], weight[OC,C,KH,KW], bias[OC], stride, padding): PyTorch's
// torch.nn.functional.conv2d with zero padding, groups=1 and dilation=1. The backend kernel does
// the work (im2col + GEMM on the CPU); backward calls the two backward kernels.
#pragma once

#include "salun/core/tensor.hpp"
#include "salun/kernels/backend.hpp"
#include "salun/ops/device.hpp"

namespace salun {

template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = Tensor<T>(),
                 std::size_t stride = 1, std::size_t padding = 0) {
    SALUN_CHECK(x.dim() == 4 && weight.dim() == 4, "conv2d: need input [N,C,H,W] and weight [OC,C,KH,KW], got ",
                shape_str(x.shape()), " and ", shape_str(weight.shape()));
    SALUN_CHECK(x.shape()[1] == weight.shape()[1], "conv2d: input ", shape_str(x.shape()), " has ", x.shape()[1],
                " channels but weight ", shape_str(weight.shape()), " expects ", weight.shape()[1]);
    SALUN_CHECK(stride > 0, "conv2d: stride must be positive");
    kernels::Conv2dParams p{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], weight.shape()[0],
                            weight.shape()[2], weight.shape()[3], stride, stride, padding, padding};
    SALUN_CHECK(p.H + 2 * padding >= p.KH && p.W + 2 * padding >= p.KW, "conv2d: kernel ",
                shape_str(weight.shape()), " larger than padded input ", shape_str(x.shape()));
    SALUN_CHECK(!bias.defined() || bias.shape() == Shape{p.OC}, "conv2d: bias ", shape_str(bias.shape()),
                " does not match ", p.OC, " output channels");
    const Device dev = detail::common_device("conv2d", x, weight, bias);
    Tensor<T> out = Tensor<T>::empty({p.N, p.OC, p.OH(), p.OW()}, dev);
    if (dev != Device::cpu)  // cuDNN
        kernels::device::conv2d_forward<T>(x.device_data(), weight.device_data(),
                                           bias.defined() ? bias.device_data() : nullptr, out.device_data(), p);
    else
        kernels::backend::conv2d_forward<T>(p, x.data(), weight.data(), bias.defined() ? bias.data() : nullptr, out.data());
    if (autograd::needs_grad(x, weight, bias)) {
        const Tensor<T> xd = x.detach(), wd = weight.detach();
        const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
        std::vector<Tensor<T>> inputs{x, weight};
        if (bias.defined()) inputs.push_back(bias);
        autograd::record<T>(out, "conv2d", inputs, [xd, wd, gx, gw, gb, p, has_bias = bias.defined()](const Tensor<T>& g) {
            std::vector<Tensor<T>> grads(has_bias ? 3 : 2);
            const Device d = g.device();
            if (gx) {
                grads[0] = Tensor<T>::empty(xd.shape(), d);
                if (d != Device::cpu)
                    kernels::device::conv2d_backward_data<T>(wd.device_data(), g.device_data(), grads[0].device_data(), p);
                else
                    kernels::backend::conv2d_backward_input<T>(p, g.data(), wd.data(), grads[0].data());
            }
            if (gw || gb) {
                Tensor<T> dw = Tensor<T>::empty(wd.shape(), d);
                Tensor<T> db = has_bias ? Tensor<T>::empty({p.OC}, d) : Tensor<T>();
                if (d != Device::cpu)
                    kernels::device::conv2d_backward_weight<T>(xd.device_data(), g.device_data(), dw.device_data(),
                                                               has_bias ? db.device_data() : nullptr, p);
                else
                    kernels::backend::conv2d_backward_weight<T>(p, xd.data(), g.data(), dw.data(),
                                                                has_bias ? db.data() : nullptr);
                if (gw) grads[1] = dw;
                if (gb) grads[2] = db;
            }
            return grads;
        });
    }
    return out;
}

}  // namespace salun
