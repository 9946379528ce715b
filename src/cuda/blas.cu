// SPDX-License-Identifier: MIT
// GEMM on cuBLAS with the row-major contract of kernels::cpu::gemm. cuBLAS is column-major, and a
// row-major matrix is its transpose seen column-major, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T: the operands swap, the transposition flags stay. FP32 throughout (no
// TF32), as PyTorch's default for matmul.
#include <cublas_v2.h>

#include "common.cuh"
#include "salun/cuda/kernels.hpp"

namespace salun::cuda {
namespace {

cublasHandle_t handle() {
    static cublasHandle_t h = [] {
        cublasHandle_t created = nullptr;
        const cublasStatus_t st = cublasCreate(&created);
        if (st != CUBLAS_STATUS_SUCCESS) detail::throw_error("cuBLAS: cublasCreate failed (status ", int(st), ")");
        cublasSetStream(created, stream());
        cublasSetMathMode(created, CUBLAS_DEFAULT_MATH);
        return created;
    }();
    return h;
}

}  // namespace

void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
          const float* B, index_t ldb, float beta, float* C, index_t ldc) {
    if (M == 0 || N == 0) return;
    const cublasStatus_t st =
        cublasSgemm(handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
                    int(K), &alpha, B, int(ldb), A, int(lda), &beta, C, int(ldc));
    if (st != CUBLAS_STATUS_SUCCESS)
        detail::throw_error("cuBLAS: sgemm ", M, "x", N, "x", K, " failed (status ", int(st), ")");
}

}  // namespace salun::cuda
