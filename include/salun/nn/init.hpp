// SPDX-License-Identifier: MIT
// salun::nn::init: in-place initialisers with torch.nn.init's formulas (the distributions match
// PyTorch; the random stream is salun's Generator, not PyTorch's).
// Tensors are handles: each function fills the given tensor in place and returns the same handle.
//
//   fan_in  = size(1) * receptive field, fan_out = size(0) * receptive field
//   gain(linear) = 1, gain(relu) = sqrt(2), gain(leaky_relu, a) = sqrt(2 / (1 + a^2))
//   kaiming_uniform_: U(-b, b), b = gain * sqrt(3 / fan)      kaiming_normal_: N(0, gain / sqrt(fan))
// Default layer initialisation (Conv2d, Linear) is kaiming_uniform_(a = sqrt(5)), i.e.
// b = 1/sqrt(fan_in), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
#pragma once

#include <cmath>
#include <utility>

#include "salun/core/random.hpp"
#include "salun/core/tensor.hpp"

namespace salun::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, ReLU, LeakyReLU };

/// torch.nn.init.calculate_gain for the nonlinearities CNNs use (`param` is leaky_relu's slope).
inline double calculate_gain(Nonlinearity nl, double param = 0.01) {
    switch (nl) {
        case Nonlinearity::Linear: return 1.0;
        case Nonlinearity::ReLU: return std::sqrt(2.0);
        case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
    }
    return 1.0;
}

/// (fan_in, fan_out) of a weight [out, in, k...] (torch.nn.init._calculate_fan_in_and_fan_out).
template <class T>
std::pair<std::size_t, std::size_t> calculate_fan_in_and_fan_out(const Tensor<T>& w) {
    SALUN_CHECK(w.dim() >= 2, "init: fan in and fan out need a tensor with at least 2 dims, got ",
                shape_str(w.shape()));
    std::size_t receptive = 1;
    for (std::size_t d = 2; d < w.dim(); ++d) receptive *= w.shape()[d];
    return {w.shape()[1] * receptive, w.shape()[0] * receptive};
}

template <class T>
Tensor<T> uniform_(Tensor<T> t, double lo, double hi, Generator& gen = default_generator()) {
    for (T& v : t) v = static_cast<T>(gen.uniform(lo, hi));
    return t;
}
template <class T>
Tensor<T> normal_(Tensor<T> t, double mean, double std, Generator& gen = default_generator()) {
    for (T& v : t) v = static_cast<T>(gen.normal(mean, std));
    return t;
}
template <class T>
Tensor<T> constant_(Tensor<T> t, double value) {
    std::fill(t.begin(), t.end(), static_cast<T>(value));
    return t;
}
template <class T>
Tensor<T> zeros_(Tensor<T> t) {
    return constant_(t, 0.0);
}
template <class T>
Tensor<T> ones_(Tensor<T> t) {
    return constant_(t, 1.0);
}

namespace detail {
template <class T>
double kaiming_std(const Tensor<T>& w, double a, FanMode mode, Nonlinearity nl) {
    const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(w);
    const std::size_t fan = mode == FanMode::FanIn ? fan_in : fan_out;
    SALUN_CHECK(fan > 0, "init: kaiming initialisation of a tensor with zero fan ", shape_str(w.shape()));
    return calculate_gain(nl, a) / std::sqrt(static_cast<double>(fan));
}
}  // namespace detail

/// torch.nn.init.kaiming_uniform_(w, a, mode, nonlinearity): U(-b, b), b = gain * sqrt(3 / fan).
template <class T>
Tensor<T> kaiming_uniform_(Tensor<T> w, double a = 0.0, FanMode mode = FanMode::FanIn,
                            Nonlinearity nl = Nonlinearity::LeakyReLU, Generator& gen = default_generator()) {
    const double bound = std::sqrt(3.0) * detail::kaiming_std(w, a, mode, nl);
    return uniform_(w, -bound, bound, gen);
}

/// torch.nn.init.kaiming_normal_(w, a, mode, nonlinearity): N(0, gain / sqrt(fan)).
template <class T>
Tensor<T> kaiming_normal_(Tensor<T> w, double a = 0.0, FanMode mode = FanMode::FanIn,
                           Nonlinearity nl = Nonlinearity::LeakyReLU, Generator& gen = default_generator()) {
    return normal_(w, 0.0, detail::kaiming_std(w, a, mode, nl), gen);
}

}  // namespace salun::nn::init
