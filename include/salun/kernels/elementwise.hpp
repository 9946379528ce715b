// SPDX-License-Identifier: MIT
// Element-wise bodies written once for every backend: the CPU kernels and ops call them in their
// loops, the CUDA kernels (src/cuda/*.cu) in their threads. SALUN_HD marks them
// `__host__ __device__` under nvcc and is empty otherwise, so this header is plain C++17 and the
// bodies are unit-tested on the CPU (tests/core/test_elementwise.cpp).
#pragma once

#if defined(__CUDACC__)
#define SALUN_HD __host__ __device__
#else
#define SALUN_HD
#endif

namespace salun::kernels::ew {

/// relu(x) = x < 0 ? 0 : x: a NaN passes through, as in PyTorch.
template <class T>
SALUN_HD inline T relu(T x) {
    return x < T(0) ? T(0) : x;
}
/// threshold_backward: the gradient is blocked where the output is <= 0 (a NaN output passes it).
template <class T>
SALUN_HD inline T relu_backward(T y, T g) {
    return y <= T(0) ? T(0) : g;
}

enum class Binary { add, sub, mul, div };

template <class T>
SALUN_HD inline T binary(Binary op, T a, T b) {
    switch (op) {
        case Binary::add: return a + b;
        case Binary::sub: return a - b;
        case Binary::mul: return a * b;
        default: return a / b;
    }
}

/// a * s + t: the one primitive behind the scalar operators.
template <class T>
SALUN_HD inline T affine(T a, T s, T t) {
    return a * s + t;
}

/// |g|, accumulated into the saliency map.
template <class T>
SALUN_HD inline T abs(T g) {
    return g < T(0) ? -g : g;
}

/// The SGD hyper-parameters of one step, already in the parameter's type.
template <class T>
struct SgdStep {
    T lr, momentum, dampening_complement /* 1 - dampening */, weight_decay;
    bool nesterov;
    bool first;  ///< the momentum buffer is created by this step (buf = d)
};

/// One weight of torch.optim.SGD (1.13): d = g + wd * w; buf = first ? d : m * buf + (1 - damp) * d;
/// d = nesterov ? d + m * buf : buf; w -= lr * d. `buf` is null without momentum.
template <class T>
SALUN_HD inline void sgd_update(T& w, T g, T* buf, const SgdStep<T>& s) {
    T d = g + s.weight_decay * w;
    if (buf) {
        *buf = s.first ? d : s.momentum * *buf + s.dampening_complement * d;
        d = s.nesterov ? d + s.momentum * *buf : *buf;
    }
    w -= s.lr * d;
}

}  // namespace salun::kernels::ew
