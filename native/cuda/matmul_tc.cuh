// synthtune CUDA backend: tensor-core GEMM (TF32 inputs, fp32 accumulation) and the precision
// dispatch used by the BERT layer kernels. Implementation and tiling notes: matmul_tc.cu.
#pragma once

#include <cstdint>
#include <string>

#include "common.cuh"

namespace st {
namespace cuda_detail {

// Same signature and semantics as launch_sgemm (common.cuh / matmul.cu):
//   for b in [0, batch): C_b (M,N) = alpha * A_b (M,K) . op(B_b) + beta * C_b
//   row-major, op(B) = B (K,N) or, when trans_b, B^T with B stored (N,K); batch items stride*
//   floats apart; beta == 0: C is write-only; alpha == 0 or K == 0: C = beta * C and A, B are not
//   read; batch, M or N <= 0: nothing to do.
// but the products are formed on tensor cores from A and B rounded to TF32 (10-bit mantissa,
// round to nearest, ties away from zero) and accumulated in fp32. Expect a relative error of
// about 2^-11 per product (vs ~2^-24 for launch_sgemm); results are deterministic for one device
// and build. Needs compute capability 8.0+ (returns an error on older devices). Pointers need no
// particular alignment (16-byte aligned rows are loaded with vector loads, others element-wise).
// Enqueued on ctx->stream; does not synchronise.
std::string launch_sgemm_tf32(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                              float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                              float beta, float* C, int64_t strideC);

// Rows of the C tile per thread block that launch_sgemm_tf32 uses for this problem (128 or 64);
// exposed so that tests can make sure they cover both kernel configurations.
int tf32_tile_rows(const DeviceCtx* ctx, int64_t batch, int64_t M, int64_t N);

// The GEMM of the BERT layer kernels: launch_sgemm or launch_sgemm_tf32 according to
// ctx->gemm_precision (same arguments and semantics).
std::string launch_gemm(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                        float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                        float beta, float* C, int64_t strideC);

}  // namespace cuda_detail
}  // namespace st
