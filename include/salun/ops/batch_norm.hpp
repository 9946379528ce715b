// SPDX-License-Identifier: MIT
// batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
// torch.nn.functional.batch_norm for [N,C] or [N,C,H,W] inputs.
//   training: normalise with the batch mean and *biased* variance, and (if the running tensors
//             are defined) update them in place: r = (1-momentum) r + momentum * batch_stat, with
//             the *unbiased* variance for running_var (PyTorch's convention).
//   eval:     normalise with running_mean / running_var; backward treats them as constants.
// batch_norm_relu(...) = relu(batch_norm(...)) fused: one pass writes the activated output, the
// pre-activation tensor is never stored, and the backward masks the gradient inside the batch-norm
// backward (no separate ReLU pass). nn::Sequential and BasicBlock use it for BatchNorm2d -> ReLU.
// batch_norm_add_relu(..., residual, ...) = relu(batch_norm(...) + residual) fused, ResNet's block
// output: the sum and the ReLU are written in the batch-norm pass (one pass over the activations
// instead of three, and one stored tensor less); the residual's gradient is the masked gradient.
#pragma once

#include <cmath>

#include "salun/core/tensor.hpp"
#include "salun/kernels/backend.hpp"
#include "salun/ops/activation.hpp"
#include "salun/ops/device.hpp"

namespace salun {

namespace detail {
inline const char* batch_norm_op_name(bool relu, bool residual) {
    return residual ? "batch_norm_add_relu" : relu ? "batch_norm_relu" : "batch_norm";
}

/// batch_norm(_relu) of checked inputs on a device (cuDNN's batch norm; the ReLU as a separate
/// pass over the output, and its mask applied to the gradient before the batch-norm backward).
/// residual (undefined: none) is added to the output before the ReLU, and gets the masked gradient.
template <class T>
Tensor<T> batch_norm_on_device(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                               const Tensor<T>& bias, bool training, double momentum, double eps, bool relu,
                               const Tensor<T>& residual) {
    using I = std::int64_t;
    const Device dev = x.device();
    const std::size_t N = x.shape()[0], C = x.shape()[1], HW = x.dim() == 4 ? x.shape()[2] * x.shape()[3] : 1;
    const bool running = running_mean.defined() && running_var.defined();
    auto ptr = [](const Tensor<T>& t) { return t.defined() ? t.device_data() : nullptr; };
    Tensor<T> out = Tensor<T>::empty(x.shape(), dev);
    Tensor<T> save_mean, save_invstd, stat_mean, stat_var;
    if (training) {
        save_mean = Tensor<T>::empty({C}, dev);
        save_invstd = Tensor<T>::empty({C}, dev);
        kernels::device::batch_norm_forward_training<T>(x.device_data(), ptr(weight), ptr(bias), out.device_data(),
                                                        running ? running_mean.device_data() : nullptr,
                                                        running ? running_var.device_data() : nullptr,
                                                        save_mean.device_data(), save_invstd.device_data(), I(N), I(C),
                                                        I(HW), momentum, eps);
    } else {
        kernels::device::batch_norm_forward_inference<T>(x.device_data(), ptr(weight), ptr(bias),
                                                         running_mean.device_data(), running_var.device_data(),
                                                         out.device_data(), I(N), I(C), I(HW), eps);
        if (autograd::needs_grad(x, weight, bias)) {
            stat_mean = running_mean.clone();  // constants of this forward pass, whatever happens later
            stat_var = running_var.clone();
        }
    }
    const bool has_r = residual.defined();
    if (has_r) kernels::device::add_inplace<T>(out.device_data(), residual.device_data(), I(out.numel()));
    if (relu) kernels::device::relu_forward<T>(out.device_data(), out.device_data(), I(out.numel()));
    if (autograd::needs_grad(x, weight, bias) || (has_r && residual.requires_grad())) {
        const Tensor<T> xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor<T>();
        const Tensor<T> yd = relu ? out.detach() : Tensor<T>();
        const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
                   gb = bias.defined() && bias.requires_grad(), gr = has_r && residual.requires_grad();
        std::vector<Tensor<T>> inputs{x};
        if (weight.defined()) inputs.push_back(weight);
        if (bias.defined()) inputs.push_back(bias);
        if (has_r) inputs.push_back(residual);
        autograd::record<T>(out, batch_norm_op_name(relu, has_r), inputs,
                            [=, has_w = weight.defined(), has_b = bias.defined()](const Tensor<T>& g) {
            const Tensor<T> gin = relu ? relu_grad(yd, g) : g;
            Tensor<T> dx = Tensor<T>::empty(xd.shape(), g.device());  // cuDNN always writes it
            Tensor<T> dw = Tensor<T>::empty({C}, g.device()), db = Tensor<T>::empty({C}, g.device());
            const T* gamma = has_w ? wd.device_data() : nullptr;
            if (training)
                kernels::device::batch_norm_backward_training<T>(xd.device_data(), gin.device_data(), gamma,
                                                                 save_mean.device_data(), save_invstd.device_data(),
                                                                 dx.device_data(), dw.device_data(), db.device_data(),
                                                                 I(N), I(C), I(HW), eps);
            else
                kernels::device::batch_norm_backward_eval<T>(xd.device_data(), gin.device_data(), gamma,
                                                             stat_mean.device_data(), stat_var.device_data(),
                                                             gx ? dx.device_data() : nullptr, dw.device_data(),
                                                             db.device_data(), I(N), I(C), I(HW), eps);
            std::vector<Tensor<T>> grads{gx ? dx : Tensor<T>()};
            if (has_w) grads.push_back(gw ? dw : Tensor<T>());
            if (has_b) grads.push_back(gb ? db : Tensor<T>());
            if (has_r) grads.push_back(gr ? gin : Tensor<T>());  // d(residual) = the masked gradient
            return grads;
        });
    }
    return out;
}

/// residual (undefined: none): added before the ReLU (batch_norm_add_relu; relu is then true).
template <class T>
Tensor<T> batch_norm_impl(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                          const Tensor<T>& bias, bool training, double momentum, double eps, bool relu,
                          const Tensor<T>& residual = Tensor<T>()) {
    SALUN_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: need input [N,C] or [N,C,H,W], got ", shape_str(x.shape()));
    const bool has_r = residual.defined();
    SALUN_CHECK(!has_r || residual.shape() == x.shape(), "batch_norm_add_relu: residual ", shape_str(residual.shape()),
                " does not match input ", shape_str(x.shape()));
    const Device dev = common_device<T>(batch_norm_op_name(relu, has_r),
                                        {&x, &running_mean, &running_var, &weight, &bias, &residual});
    const std::size_t N = x.shape()[0], C = x.shape()[1], HW = x.dim() == 4 ? x.shape()[2] * x.shape()[3] : 1;
    for (const Tensor<T>* t : std::initializer_list<const Tensor<T>*>{&running_mean, &running_var, &weight, &bias})
        SALUN_CHECK(!t->defined() || t->shape() == Shape{C}, "batch_norm: per-channel tensor ", shape_str(t->shape()),
                    " does not match ", C, " channels of input ", shape_str(x.shape()));
    SALUN_CHECK(training || (running_mean.defined() && running_var.defined()),
                "batch_norm: eval mode needs running_mean and running_var");
    const std::size_t M = N * HW;
    SALUN_CHECK(!training || M > 1, "batch_norm: training needs more than one value per channel, input ",
                shape_str(x.shape()));
    if (dev != Device::cpu)
        return batch_norm_on_device(x, running_mean, running_var, weight, bias, training, momentum, eps, relu, residual);

    Tensor<T> mean = Tensor<T>::empty({C}), invstd = Tensor<T>::empty({C});
    if (training) {
        Tensor<T> var = Tensor<T>::empty({C});
        kernels::backend::batch_norm_stats<T>(N, C, HW, x.data(), mean.data(), var.data());
        for (std::size_t c = 0; c < C; ++c) invstd.data()[c] = T(1) / std::sqrt(var.data()[c] + T(eps));
        if (running_mean.defined() && running_var.defined()) {
            T* rm = running_mean.data();
            T* rv = running_var.data();
            const double unbias = double(M) / double(M - 1);
            for (std::size_t c = 0; c < C; ++c) {
                rm[c] = T((1 - momentum) * rm[c] + momentum * mean.data()[c]);
                rv[c] = T((1 - momentum) * rv[c] + momentum * var.data()[c] * unbias);
            }
        }
    } else {
        std::copy_n(running_mean.data(), C, mean.data());
        for (std::size_t c = 0; c < C; ++c) invstd.data()[c] = T(1) / std::sqrt(running_var.data()[c] + T(eps));
    }

    Tensor<T> out = Tensor<T>::empty(x.shape());
    kernels::backend::batch_norm_apply<T>(N, C, HW, x.data(), mean.data(), invstd.data(),
                                          weight.defined() ? weight.data() : nullptr,
                                          bias.defined() ? bias.data() : nullptr, out.data(), relu,
                                          has_r ? residual.data() : nullptr);

    if (autograd::needs_grad(x, weight, bias) || (has_r && residual.requires_grad())) {
        const Tensor<T> xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor<T>();
        const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
                   gb = bias.defined() && bias.requires_grad(), gr = has_r && residual.requires_grad();
        std::vector<Tensor<T>> inputs{x};
        if (weight.defined()) inputs.push_back(weight);
        if (bias.defined()) inputs.push_back(bias);
        if (has_r) inputs.push_back(residual);
        // The fused form needs its own output for the ReLU mask (detached: no reference cycle).
        const Tensor<T> yd = relu ? out.detach() : Tensor<T>();
        autograd::record<T>(out, batch_norm_op_name(relu, has_r), inputs,
                            [=, has_w = weight.defined(), has_b = bias.defined()](const Tensor<T>& g) {
            Tensor<T> dx = gx ? Tensor<T>::empty(xd.shape()) : Tensor<T>();
            Tensor<T> dw = Tensor<T>::empty({C}), db = Tensor<T>::empty({C});
            const T* gamma = has_w ? wd.data() : nullptr;
            const T* mask = relu ? yd.data() : nullptr;
            // With a residual the masked gradient is the residual's own gradient: made once here
            // and read by the batch-norm backward unmasked (8 passes of traffic over the tensor,
            // as unfused; masking inside the kernel as well would read the mask twice more).
            Tensor<T> gm;
            if (has_r) {
                gm = relu_grad(yd, g);
                mask = nullptr;
            }
            const Tensor<T>& g_bn = has_r ? gm : g;  // the gradient the batch norm's backward sees
            if (training) {
                kernels::backend::batch_norm_backward<T>(N, C, HW, g_bn.data(), xd.data(), mean.data(),
                                                         invstd.data(), gamma, gx ? dx.data() : nullptr, dw.data(),
                                                         db.data(), mask);
            } else {  // statistics are constants: an affine map per channel
                for (std::size_t c = 0; c < C; ++c) {
                    double sg = 0, sgx = 0;
                    const T scale = invstd.data()[c] * (gamma ? gamma[c] : T(1));
                    for (std::size_t n = 0; n < N; ++n) {
                        const T* gp = g_bn.data() + (n * C + c) * HW;
                        const T* xp = xd.data() + (n * C + c) * HW;
                        const T* mp = mask ? mask + (n * C + c) * HW : nullptr;
                        for (std::size_t i = 0; i < HW; ++i) {
                            const T gi = mp && mp[i] <= T(0) ? T(0) : gp[i];
                            sg += gi;
                            sgx += double(gi) * (double(xp[i]) - mean.data()[c]) * invstd.data()[c];
                        }
                        if (gx) {
                            T* dp = dx.data() + (n * C + c) * HW;
                            for (std::size_t i = 0; i < HW; ++i) dp[i] = (mp && mp[i] <= T(0) ? T(0) : gp[i]) * scale;
                        }
                    }
                    dw.data()[c] = T(sgx);
                    db.data()[c] = T(sg);
                }
            }
            std::vector<Tensor<T>> grads{dx};
            if (has_w) grads.push_back(gw ? dw : Tensor<T>());
            if (has_b) grads.push_back(gb ? db : Tensor<T>());
            if (has_r) grads.push_back(gr ? gm : Tensor<T>());  // d(residual) = the masked gradient
            return grads;
        });
    }
    return out;
}
}  // namespace detail

template <class T>
Tensor<T> batch_norm(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                     const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
    return detail::batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps, false);
}

/// relu(batch_norm(...) + residual) in one op (residual: the shape of x; ResNet's block output).
template <class T>
Tensor<T> batch_norm_add_relu(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var,
                              const Tensor<T>& weight, const Tensor<T>& bias, const Tensor<T>& residual, bool training,
                              double momentum = 0.1, double eps = 1e-5) {
    SALUN_CHECK(residual.defined(), "batch_norm_add_relu: the residual is undefined");
    return detail::batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps, true, residual);
}

/// relu(batch_norm(...)) in one op (same arguments and results, less memory and traffic).
template <class T>
Tensor<T> batch_norm_relu(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                          const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
    return detail::batch_norm_impl(x, running_mean, running_var, weight, bias, training, momentum, eps, true);
}

}  // namespace salun
