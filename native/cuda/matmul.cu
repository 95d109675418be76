// synthtune CUDA backend: batched SGEMM, fp32, own kernels (no cuBLAS).
//
//   For b in [0, B):  C_b(M,N) = alpha * A_b(M,K) . op(B_b) + beta * C_b
//   op(B_b) = B_b (K,N) row-major, or B_b^T with B_b stored (N,K) row-major when trans_b.
//   beta == 0: C is write-only (old contents, even NaN, are ignored).
//   alpha == 0 or K == 0: C = beta * C and A, B are not read (BLAS convention).
//
// Kernel: classic shared-memory tiling with register blocking (see e.g. siboehm's SGEMM notes,
// llm.c). A block computes a BM x BN tile of C, marching over K in steps of BK. Each step stages
// the A tile transposed (As[BK][BM]) and the B tile as Bs[BK][BN] in shared memory; each thread
// then accumulates a TM x TN sub-tile in registers with outer products. The thread's rows/columns
// are taken in groups of 4 spread across the tile (row = g*BM/(TM/4) + ty*4 + i) so that the
// float4 reads of As/Bs by consecutive threads hit consecutive shared-memory words (no bank
// conflicts). Every global load is bounds-checked (zero fill), so any M, N, K (1, odd, prime)
// works; no alignment of the host arrays is assumed.
//
// Three tile shapes, chosen from M:
//   big    BM=128 BN=128 BK=8  TM=8 TN=8  256 threads   M > 64 (and enough tiles to fill the GPU)
//   medium BM=32  BN=128 BK=8  TM=4 TN=4  256 threads   8 < M
//   small  BM=8   BN=128 BK=16 TM=1 TN=4  256 threads   M <= 8 (e.g. a handful of queries in top-k)
// Accumulation is plain fp32 FMA in K order, so results match the CPU backend to ~1e-5 relative.
// This fp32 path keeps CPU/GPU results interchangeable; the TF32 tensor-core path is matmul_tc.cu
// (launch_gemm picks one of the two by the context's GemmPrecision).
#include <algorithm>
#include <climits>

#include "../kernels.h"
#include "common.cuh"

namespace st {
namespace cuda_detail {
namespace {

// Index of the i-th row (or column) owned by thread t along a tile side of length BT, with T
// elements per thread: groups of V=min(T,4) consecutive elements, the groups BT/(T/V) apart.
template <int BT, int T>
__device__ __forceinline__ int owned(int t, int i) {
  constexpr int V = T < 4 ? T : 4;
  constexpr int G = T / V;  // groups per thread
  return (i / V) * (BT / G) + t * V + (i % V);
}

template <int BM, int BN, int BK, int TM, int TN, bool TRANS_B>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    sgemm_tiled(int M, int N, int K, float alpha, const float* __restrict__ A, int64_t strideA,
                const float* __restrict__ B, int64_t strideB, float beta, float* __restrict__ C,
                int64_t strideC) {
  static_assert(BM % TM == 0 && BN % TN == 0, "tile must divide");
  static_assert(TM <= 4 || TM % 4 == 0, "TM: 1,2,4 or a multiple of 4");
  static_assert(TN <= 4 || TN % 4 == 0, "TN: 1,2,4 or a multiple of 4");
  constexpr int TX = BN / TN;  // threads along N
  constexpr int NT = (BM / TM) * TX;
  constexpr int PAD = 4;  // keeps rows 16-byte aligned, breaks the transposed-store bank pattern

  __shared__ __align__(16) float As[BK][BM + PAD];
  __shared__ __align__(16) float Bs[BK][BN + PAD];

  const int64_t bz = blockIdx.z;
  A += bz * strideA;
  B += bz * strideB;
  C += bz * strideC;
  const int m0 = blockIdx.y * BM;
  const int n0 = blockIdx.x * BN;
  const int tid = threadIdx.x;
  const int tx = tid % TX;
  const int ty = tid / TX;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int k0 = 0; k0 < K; k0 += BK) {
    // A tile: rows m0.., cols k0..; consecutive threads read consecutive k of one row.
#pragma unroll
    for (int it = 0; it < (BM * BK + NT - 1) / NT; ++it) {
      const int e = tid + it * NT;
      if ((BM * BK) % NT == 0 || e < BM * BK) {
        const int r = e / BK, c = e % BK;
        const int gm = m0 + r, gk = k0 + c;
        As[c][r] = (gm < M && gk < K) ? A[(int64_t)gm * K + gk] : 0.0f;
      }
    }
    if (TRANS_B) {
      // B stored (N,K): same pattern as A.
#pragma unroll
      for (int it = 0; it < (BN * BK + NT - 1) / NT; ++it) {
        const int e = tid + it * NT;
        if ((BN * BK) % NT == 0 || e < BN * BK) {
          const int r = e / BK, c = e % BK;
          const int gn = n0 + r, gk = k0 + c;
          Bs[c][r] = (gn < N && gk < K) ? B[(int64_t)gn * K + gk] : 0.0f;
        }
      }
    } else {
      // B stored (K,N): consecutive threads read consecutive n of one row (coalesced).
#pragma unroll
      for (int it = 0; it < (BN * BK + NT - 1) / NT; ++it) {
        const int e = tid + it * NT;
        if ((BN * BK) % NT == 0 || e < BN * BK) {
          const int r = e / BN, c = e % BN;
          const int gk = k0 + r, gn = n0 + c;
          Bs[r][c] = (gk < K && gn < N) ? B[(int64_t)gk * N + gn] : 0.0f;
        }
      }
    }
    __syncthreads();

#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[kk][owned<BM, TM>(ty, i)];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[kk][owned<BN, TN>(tx, j)];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int gm = m0 + owned<BM, TM>(ty, i);
    if (gm >= M) continue;
    float* crow = C + (int64_t)gm * N;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int gn = n0 + owned<BN, TN>(tx, j);
      if (gn >= N) continue;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v = fmaf(beta, crow[gn], v);
      crow[gn] = v;
    }
  }
}

// C = beta * C (beta == 0: C = 0, old contents ignored). n = total element count.
__global__ void scale_kernel(float* __restrict__ C, int64_t n, float beta) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    C[i] = beta == 0.0f ? 0.0f : beta * C[i];
}

template <int BM, int BN, int BK, int TM, int TN>
std::string launch_tiles(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                         float beta, float* C, int64_t strideC) {
  constexpr int NT = (BM / TM) * (BN / TN);
  const int64_t n_tiles = ceil_div(N, BN);  // grid.x: up to 2^31-1
  if (n_tiles > INT_MAX) return "sgemm: N too large";
  // grid.y and grid.z are limited to 65535: walk M and the batch in chunks.
  return for_each_grid_chunk(batch, M, BM, [&](int64_t b0, int64_t nb, int64_t mr, int64_t mm) -> std::string {
    dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(ceil_div(mm, BM)), static_cast<unsigned>(nb));
    const float* a = A + b0 * strideA + mr * K;
    const float* bb = B + b0 * strideB;
    float* c = C + b0 * strideC + mr * N;
    if (trans_b)
      ST_LAUNCH(grid, NT, 0, ctx->stream, sgemm_tiled<BM, BN, BK, TM, TN, true>)(
          (int)mm, (int)N, (int)K, alpha, a, strideA, bb, strideB, beta, c, strideC);
    else
      ST_LAUNCH(grid, NT, 0, ctx->stream, sgemm_tiled<BM, BN, BK, TM, TN, false>)(
          (int)mm, (int)N, (int)K, alpha, a, strideA, bb, strideB, beta, c, strideC);
    ST_CUDA_CHECK_LAUNCH();
    return std::string();
  });
}

}  // namespace

std::string launch_sgemm(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                         float beta, float* C, int64_t strideC) {
  if (batch <= 0 || M <= 0 || N <= 0) return std::string();
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX || K < 0) return "sgemm: dimension exceeds 2^31-1";
  // The kernels index in int and form tile origin + (up to BN - 1 = 127) and k0 + BK (BK <= 16):
  // N and K must stay that far below 2^31 (M is walked in chunks).
  if (N > INT_MAX - 128 || K > INT_MAX - 16) return "sgemm: N or K within 128 of 2^31 (int index overflow)";
  const int64_t big_tiles = ceil_div(M, 128) * ceil_div(N, 128) * batch;
  if (M > 64 && big_tiles >= 2 * int64_t(ctx->sm_count))
    return launch_tiles<128, 128, 8, 8, 8>(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB,
                                            beta, C, strideC);
  if (M > 8)
    return launch_tiles<32, 128, 8, 4, 4>(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB,
                                           beta, C, strideC);
  return launch_tiles<8, 128, 16, 1, 4>(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB, beta,
                                         C, strideC);
}

}  // namespace cuda_detail

// Host entry point: copy in, run, copy out. The batch is processed in chunks so that the device
// scratch stays below ~1 GiB (a single item larger than that is still run, as one chunk).
std::string cuda_sgemm(bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, const float* B, float beta, float* C) {
  using namespace cuda_detail;
  if (batch < 0 || M < 0 || N < 0 || K < 0) return "cuda_sgemm: negative dimension";
  if (batch == 0 || M == 0 || N == 0) return std::string();
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX) return "cuda_sgemm: dimension exceeds 2^31-1";
  const bool use_ab = alpha != 0.0f && K > 0;
  if (C == nullptr || (use_ab && (A == nullptr || B == nullptr))) return "cuda_sgemm: null pointer";

  const int64_t a_elems = use_ab ? M * K : 0;
  const int64_t b_elems = use_ab ? K * N : 0;
  const int64_t c_elems = M * N;
  if ((double(a_elems) + double(b_elems) + double(c_elems)) * double(batch) * 4.0 > 9.0e18)
    return "cuda_sgemm: problem too large";
  const int64_t item_bytes = (a_elems + b_elems + c_elems) * int64_t(sizeof(float));
  const int64_t budget = int64_t(1) << 30;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(batch, budget / item_bytes));

  std::string err;
  DeviceCtx* ctx = current_ctx(&err);
  if (!ctx) return err;
  std::lock_guard<std::mutex> lock(ctx->mu);
  ST_TRY(ensure_scratch(ctx, {{kSlotA, size_t(chunk * a_elems) * sizeof(float)},
                              {kSlotB, size_t(chunk * b_elems) * sizeof(float)},
                              {kSlotC, size_t(chunk * c_elems) * sizeof(float)}}));
  float* dA = slot_ptr<float>(ctx, kSlotA);
  float* dB = slot_ptr<float>(ctx, kSlotB);
  float* dC = slot_ptr<float>(ctx, kSlotC);
  cudaStream_t s = ctx->stream;

  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t nb = std::min(chunk, batch - b0);
    const size_t c_bytes = size_t(nb * c_elems) * sizeof(float);
    if (beta != 0.0f)
      ST_CUDA_TRY(cudaMemcpyAsync(dC, C + b0 * c_elems, c_bytes, cudaMemcpyHostToDevice, s));
    if (use_ab) {
      ST_CUDA_TRY(cudaMemcpyAsync(dA, A + b0 * a_elems, size_t(nb * a_elems) * sizeof(float),
                                  cudaMemcpyHostToDevice, s));
      ST_CUDA_TRY(cudaMemcpyAsync(dB, B + b0 * b_elems, size_t(nb * b_elems) * sizeof(float),
                                  cudaMemcpyHostToDevice, s));
      ST_TRY(launch_sgemm(ctx, trans_b, nb, M, N, K, alpha, dA, a_elems, dB, b_elems, beta, dC, c_elems));
    } else {
      const int64_t n = nb * c_elems;
      const int threads = 256;
      const int blocks = static_cast<int>(std::min<int64_t>(ceil_div(n, threads), 65535));
      ST_LAUNCH(blocks, threads, 0, s, scale_kernel)(dC, n, beta);
      ST_CUDA_CHECK_LAUNCH();
    }
    ST_CUDA_TRY(cudaMemcpyAsync(C + b0 * c_elems, dC, c_bytes, cudaMemcpyDeviceToHost, s));
  }
  ST_CUDA_TRY(cudaStreamSynchronize(s));
  return std::string();
}

}  // namespace st
