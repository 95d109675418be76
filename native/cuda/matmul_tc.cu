// synthtune CUDA backend: batched GEMM on tensor cores, TF32 inputs, fp32 accumulation.
//
//   For b in [0, B):  C_b(M,N) = alpha * A_b(M,K) . op(B_b) + beta * C_b     (as launch_sgemm)
//
// Written against the portable nvcuda::wmma API (m16n16k8, precision::tf32, float accumulators),
// not inline PTX, so that the CPU emulator of native/cuda/emu can run it too.
//
// Tiling (llm.c / ggml style, one kernel, two block shapes):
//
//   block tile  BM x BN = 128 x 64 (8 warps) or 64 x 64 (4 warps), K step BK = 32
//   warp tile   32 x 32 = 2 x 2 wmma accumulator fragments of 16 x 16 (fp32)
//
//        BN = 64                  Each warp owns a 32 x 32 sub-tile of C; warps are laid out
//     +-------+-------+           (BM/32) x (BN/32), e.g. 4 x 2 for 128 x 64. Per K step every
//     | w0    | w1    |  32       warp walks kk = 0, 8, 16, 24 and issues 2 x 2 mma_sync on
//     +-------+-------+           16 x 8 slices of As and 8 x 16 slices of Bs.
//     | w2    | w3    |  32
//     +-------+-------+  BM
//     | ...   | ...   |
//
//   Shared memory (one static buffer, reused by the epilogue):
//     As[BM][BK + 4]      A tile, row-major (matrix_a row_major)
//     Bs[BK][BN + 8]      B tile when op(B) = B        (matrix_b row_major)
//     Bs[BN][BK + 4]      B tile when op(B) = B^T      (the stored (N,K) rows: matrix_b col_major)
//     Cs[BM][BN + 4]      epilogue: the block's fp32 accumulators
//   The paddings keep every wmma pointer 32-byte aligned and spread the fragment loads over all
//   32 banks (row strides of 36 and 72 floats: 4 or 8 banks of shift per row).
//
// Main loop: the global tile for step t+1 is fetched into registers while the warps run their
// mma_sync on step t (a register-staged double buffer); storing those registers into shared
// memory rounds them to TF32 with wmma::__float_to_tf32 (round to nearest, ties away), so the
// fragments hold exact TF32 values and the tensor cores see correctly rounded inputs. Every global
// load is bounds-checked (zero fill), so any M, N, K works. Rows are read with 16-byte vector loads
// when the matrix, its leading dimension and its batch stride allow it (K or N a multiple of 4,
// 16-byte aligned pointer), element by element otherwise (e.g. a pointer offset by one float).
//
// Epilogue: each warp stores its accumulator fragments into Cs (store_matrix_sync), then the whole
// block writes the tile out with guards, C = alpha * acc + beta * C per element (beta == 0: C is
// not read), with vector loads/stores when C allows.
//
// alpha == 0 or K == 0: the main loop is skipped, A and B are not read and C = beta * C.
#include "matmul_tc.cuh"

#include <mma.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

namespace st {
namespace cuda_detail {
namespace {

using namespace nvcuda;

constexpr int kBK = 32;             // K step of a shared-memory tile
constexpr int kWarpM = 32;          // warp tile rows
constexpr int kWarpN = 32;          // warp tile columns
constexpr int kFragM = kWarpM / 16;  // accumulator fragments per warp along M
constexpr int kFragN = kWarpN / 16;  // ... along N
constexpr int kPadK = 4;            // padding of K-contiguous shared rows (As, Bs when trans_b)
constexpr int kPadN = 8;            // padding of N-contiguous shared rows (Bs when !trans_b)
constexpr int kPadC = 4;            // padding of Cs rows

// Bits of the kernel's `vec` argument: which operands may use 16-byte vector accesses.
constexpr int kVecA = 1, kVecB = 2, kVecC = 4;

// Four floats moved as one 16-byte access (a plain aligned struct, no dependency on float4).
struct __align__(16) F4 {
  float x, y, z, w;
};

// A ROWS x COLS tile of a row-major matrix (rows x cols valid, leading dimension ld), staged
// through registers: load() reads it from global memory (zero outside the matrix), store() writes
// it into a row-major shared array with leading dimension LDS, rounded to TF32. Work split: a row
// is G = COLS (scalar) or COLS / 4 (vector) items; thread t takes item t % G of rows t / G,
// t / G + NT / G, ... so a warp reads whole row segments (coalesced), and a thread keeps one
// column and one pointer that steps down the rows (few registers for addressing).
template <int ROWS, int COLS, int NT>
struct TileStage {
  static constexpr int kPerThread = ROWS * COLS / NT;
  static_assert((ROWS * COLS) % (4 * NT) == 0, "tile must split into 4-float groups per thread");
  static_assert(COLS % 4 == 0 && NT % COLS == 0, "a thread keeps one column (group) of the tile");
  float v[kPerThread];

  __device__ __forceinline__ void load(const float* __restrict__ src, int64_t ld, int rows, int cols, int r0,
                                       int c0, bool vec, int tid) {
    if (vec) {  // cols % 4 == 0, ld % 4 == 0, src 16-byte aligned: a group is all in or all out
      constexpr int G = COLS / 4, STEP = NT / G;
      const int r = r0 + tid / G, c = c0 + (tid % G) * 4;
      const float* p = src + (int64_t)r * ld + c;
      const int64_t step = STEP * ld;
#pragma unroll
      for (int i = 0; i < kPerThread / 4; ++i) {
        F4 x = {0.0f, 0.0f, 0.0f, 0.0f};
        if (c < cols && r + i * STEP < rows) x = *reinterpret_cast<const F4*>(p + i * step);
        v[4 * i + 0] = x.x;
        v[4 * i + 1] = x.y;
        v[4 * i + 2] = x.z;
        v[4 * i + 3] = x.w;
      }
    } else {
      constexpr int G = COLS, STEP = NT / G;
      const int r = r0 + tid / G, c = c0 + tid % G;
      const float* p = src + (int64_t)r * ld + c;
      const int64_t step = STEP * ld;
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) v[i] = (c < cols && r + i * STEP < rows) ? p[i * step] : 0.0f;
    }
  }

  template <int LDS>
  __device__ __forceinline__ void store(float* dst, bool vec, int tid) const {
    static_assert(LDS % 4 == 0, "shared rows must stay 16-byte aligned");
    if (vec) {
      constexpr int G = COLS / 4, STEP = NT / G;
      float* p = dst + (tid / G) * LDS + (tid % G) * 4;
#pragma unroll
      for (int i = 0; i < kPerThread / 4; ++i) {
        F4 x;
        x.x = wmma::__float_to_tf32(v[4 * i + 0]);
        x.y = wmma::__float_to_tf32(v[4 * i + 1]);
        x.z = wmma::__float_to_tf32(v[4 * i + 2]);
        x.w = wmma::__float_to_tf32(v[4 * i + 3]);
        *reinterpret_cast<F4*>(p + i * STEP * LDS) = x;
      }
    } else {
      constexpr int G = COLS, STEP = NT / G;
      float* p = dst + (tid / G) * LDS + tid % G;
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) p[i * STEP * LDS] = wmma::__float_to_tf32(v[i]);
    }
  }
};

template <int BM, int BN, bool TRANS_B>
struct TcConfig {
  static constexpr int kWarpsN = BN / kWarpN;
  static constexpr int kWarps = (BM / kWarpM) * kWarpsN;
  static constexpr int kThreads = 32 * kWarps;
  // Resident blocks per SM asked of the register allocator: 2 x 256 threads (<= 128 registers) or
  // 3 x 128 threads (<= 170 registers); both fit without spills.
  static constexpr int kMinBlocks = kThreads >= 256 ? 2 : 3;
  static constexpr int kLdA = kBK + kPadK;                        // As[BM][kLdA]
  static constexpr int kLdB = TRANS_B ? kBK + kPadK : BN + kPadN;  // Bs[BN][kLdB] or Bs[BK][kLdB]
  static constexpr int kBFloats = TRANS_B ? BN * kLdB : kBK * kLdB;
  static constexpr int kLdC = BN + kPadC;                         // Cs[BM][kLdC]
  static constexpr int kLoopFloats = BM * kLdA + kBFloats;
  static constexpr int kSmemFloats = kLoopFloats > BM * kLdC ? kLoopFloats : BM * kLdC;
  static_assert(BM % kWarpM == 0 && BN % kWarpN == 0, "block tile must be a whole number of warp tiles");
  // wmma pointers must be 32-byte aligned: row offsets of 16 (or 8 in K) rows must be multiples
  // of 8 floats, and so must the start of Bs.
  static_assert((16 * kLdA) % 8 == 0 && (8 * kLdB) % 8 == 0 && (16 * kLdB) % 8 == 0 && (16 * kLdC) % 8 == 0,
                "wmma alignment");
  static_assert((BM * kLdA) % 8 == 0, "Bs must start 32-byte aligned");
  static_assert(kSmemFloats * 4 <= 48 * 1024, "static shared memory limit");
};

template <int BM, int BN, bool TRANS_B>
__global__ void __launch_bounds__(TcConfig<BM, BN, TRANS_B>::kThreads, TcConfig<BM, BN, TRANS_B>::kMinBlocks)
    sgemm_tf32_kernel(int M, int N, int K, float alpha, const float* __restrict__ A, int64_t strideA,
                      const float* __restrict__ B, int64_t strideB, float beta, float* __restrict__ C,
                      int64_t strideC, int vec) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800  // TF32 wmma exists from sm_80 on
  using Cfg = TcConfig<BM, BN, TRANS_B>;
  constexpr int NT = Cfg::kThreads;
  constexpr int LDA = Cfg::kLdA, LDB = Cfg::kLdB, LDC = Cfg::kLdC;
  using BLayout = typename std::conditional<TRANS_B, wmma::col_major, wmma::row_major>::type;

  __shared__ __align__(128) float smem[Cfg::kSmemFloats];
  float* As = smem;
  float* Bs = smem + BM * LDA;
  float* Cs = smem;  // epilogue only (after the main loop's last barrier)

  // alpha == 0 or K == 0: A and B are not read (and may be null).
  const int k_tiles = (alpha == 0.0f) ? 0 : (K + kBK - 1) / kBK;
  const int64_t bz = blockIdx.z;
  if (k_tiles > 0) {
    A += bz * strideA;
    B += bz * strideB;
  }
  C += bz * strideC;
  const int m0 = blockIdx.y * BM;
  const int n0 = blockIdx.x * BN;
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int wm = (warp / Cfg::kWarpsN) * kWarpM;  // warp tile origin inside the block tile
  const int wn = (warp % Cfg::kWarpsN) * kWarpN;
  const bool vec_a = (vec & kVecA) != 0, vec_b = (vec & kVecB) != 0, vec_c = (vec & kVecC) != 0;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[kFragM][kFragN];
#pragma unroll
  for (int i = 0; i < kFragM; ++i)
#pragma unroll
    for (int j = 0; j < kFragN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  TileStage<BM, kBK, NT> a_stage;                                       // A rows m0.., cols k0..
  TileStage<TRANS_B ? BN : kBK, TRANS_B ? kBK : BN, NT> b_stage;       // B (N,K) or (K,N) tile
  auto fetch = [&](int k0) {
    a_stage.load(A, K, M, K, m0, k0, vec_a, tid);
    if (TRANS_B)
      b_stage.load(B, K, N, K, n0, k0, vec_b, tid);
    else
      b_stage.load(B, N, K, N, k0, n0, vec_b, tid);
  };

  if (k_tiles > 0) fetch(0);
  for (int t = 0; t < k_tiles; ++t) {
    a_stage.template store<LDA>(As, vec_a, tid);
    b_stage.template store<LDB>(Bs, vec_b, tid);
    __syncthreads();
    if (t + 1 < k_tiles) fetch((t + 1) * kBK);  // in flight while the tensor cores work

    // Not unrolled: with the prefetched registers live, an unrolled kk loop spills on sm_80.
#pragma unroll 1
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a_frag[kFragM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, BLayout> b_frag[kFragN];
#pragma unroll
      for (int i = 0; i < kFragM; ++i) wmma::load_matrix_sync(a_frag[i], As + (wm + 16 * i) * LDA + kk, LDA);
#pragma unroll
      for (int j = 0; j < kFragN; ++j) {
        // element (k, n) of op(B): Bs[n][k] (col_major, trans_b) or Bs[k][n] (row_major)
        const float* p = TRANS_B ? Bs + (wn + 16 * j) * LDB + kk : Bs + kk * LDB + wn + 16 * j;
        wmma::load_matrix_sync(b_frag[j], p, LDB);
      }
#pragma unroll
      for (int i = 0; i < kFragM; ++i)
#pragma unroll
        for (int j = 0; j < kFragN; ++j) wmma::mma_sync(acc[i][j], a_frag[i], b_frag[j], acc[i][j]);
    }
    __syncthreads();  // As/Bs are overwritten by the next step (or by Cs)
  }

  // Epilogue: accumulators -> Cs -> C = alpha * acc + beta * C, guarded.
#pragma unroll
  for (int i = 0; i < kFragM; ++i)
#pragma unroll
    for (int j = 0; j < kFragN; ++j)
      wmma::store_matrix_sync(Cs + (wm + 16 * i) * LDC + wn + 16 * j, acc[i][j], LDC, wmma::mem_row_major);
  __syncthreads();

  if (vec_c) {  // N % 4 == 0, C and its rows 16-byte aligned: a group of 4 is all in or all out
    for (int g = tid; g < BM * BN / 4; g += NT) {
      const int r = g / (BN / 4), c = (g % (BN / 4)) * 4;
      const int gm = m0 + r, gn = n0 + c;
      if (gm >= M || gn >= N) continue;
      const F4 s = *reinterpret_cast<const F4*>(Cs + r * LDC + c);
      F4* dst = reinterpret_cast<F4*>(C + (int64_t)gm * N + gn);
      F4 o = {alpha * s.x, alpha * s.y, alpha * s.z, alpha * s.w};
      if (beta != 0.0f) {
        const F4 old = *dst;
        o.x = fmaf(beta, old.x, o.x);
        o.y = fmaf(beta, old.y, o.y);
        o.z = fmaf(beta, old.z, o.z);
        o.w = fmaf(beta, old.w, o.w);
      }
      *dst = o;
    }
  } else {
    for (int e = tid; e < BM * BN; e += NT) {
      const int r = e / BN, c = e % BN;
      const int gm = m0 + r, gn = n0 + c;
      if (gm >= M || gn >= N) continue;
      float* dst = C + (int64_t)gm * N + gn;
      float o = alpha * Cs[r * LDC + c];
      if (beta != 0.0f) o = fmaf(beta, *dst, o);
      *dst = o;
    }
  }
#endif
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int BM, int BN>
std::string launch_tf32_tiles(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                              float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                              float beta, float* C, int64_t strideC) {
  // Vector access needs 16-byte aligned rows in every batch item and every M chunk below.
  int vec = 0;
  if (K % 4 == 0 && strideA % 4 == 0 && aligned16(A)) vec |= kVecA;
  if ((trans_b ? K : N) % 4 == 0 && strideB % 4 == 0 && aligned16(B)) vec |= kVecB;
  if (N % 4 == 0 && strideC % 4 == 0 && aligned16(C)) vec |= kVecC;

  constexpr int threads = TcConfig<BM, BN, true>::kThreads;  // (the same for both layouts of B)
  static_assert(threads == TcConfig<BM, BN, false>::kThreads, "thread count");
  const int64_t n_tiles = ceil_div(N, BN);  // grid.x: up to 2^31-1
  if (n_tiles > INT_MAX) return "sgemm_tf32: N too large";
  // grid.y and grid.z are limited to 65535: walk M and the batch in chunks.
  return for_each_grid_chunk(batch, M, BM, [&](int64_t b0, int64_t nb, int64_t mr, int64_t mm) -> std::string {
    dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(ceil_div(mm, BM)), static_cast<unsigned>(nb));
    const float* a = A ? A + b0 * strideA + mr * K : A;
    const float* bb = B ? B + b0 * strideB : B;
    float* c = C + b0 * strideC + mr * N;
    if (trans_b)
      ST_LAUNCH(grid, threads, 0, ctx->stream, sgemm_tf32_kernel<BM, BN, true>)(
          (int)mm, (int)N, (int)K, alpha, a, strideA, bb, strideB, beta, c, strideC, vec);
    else
      ST_LAUNCH(grid, threads, 0, ctx->stream, sgemm_tf32_kernel<BM, BN, false>)(
          (int)mm, (int)N, (int)K, alpha, a, strideA, bb, strideB, beta, c, strideC, vec);
    ST_CUDA_CHECK_LAUNCH();
    return std::string();
  });
}

}  // namespace

int tf32_tile_rows(const DeviceCtx* ctx, int64_t batch, int64_t M, int64_t N) {
  // 128 x 64 tiles when they alone fill the GPU twice over, else 64 x 64 (twice as many blocks).
  const int64_t sms = ctx ? ctx->sm_count : 1;
  const int64_t big_tiles = ceil_div(std::max<int64_t>(M, 0), 128) * ceil_div(std::max<int64_t>(N, 0), 64) *
                            std::max<int64_t>(batch, 0);
  return (M > 64 && big_tiles >= 2 * sms) ? 128 : 64;
}

std::string launch_sgemm_tf32(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                              float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                              float beta, float* C, int64_t strideC) {
  if (batch <= 0 || M <= 0 || N <= 0) return std::string();
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX || K < 0) return "sgemm_tf32: dimension exceeds 2^31-1";
  // The kernel indexes in int and forms n0 + (up to BN - 1), k0 + (up to kBK - 1) and K + kBK - 1
  // (tile origin n0 < N, k0 < K): N and K must stay that far below 2^31 (M is walked in chunks).
  if (N > INT_MAX - 64 || K > INT_MAX - kBK) return "sgemm_tf32: N or K within 64 of 2^31 (int index overflow)";
  if (ctx == nullptr) return "sgemm_tf32: null context";
  if (C == nullptr || (alpha != 0.0f && K > 0 && (A == nullptr || B == nullptr))) return "sgemm_tf32: null pointer";
  int major = 0;
  ST_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx->device));
  if (major < 8) return "sgemm_tf32: TF32 tensor cores need a GPU of compute capability 8.0 or newer";
  if (tf32_tile_rows(ctx, batch, M, N) == 128)
    return launch_tf32_tiles<128, 64>(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB, beta, C,
                                      strideC);
  return launch_tf32_tiles<64, 64>(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB, beta, C, strideC);
}

std::string launch_gemm(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                        float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                        float beta, float* C, int64_t strideC) {
  if (ctx == nullptr) return "gemm: null context";
  switch (ctx->gemm_precision) {
    case GemmPrecision::kFp32:
      return launch_sgemm(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB, beta, C, strideC);
    case GemmPrecision::kTf32:
      return launch_sgemm_tf32(ctx, trans_b, batch, M, N, K, alpha, A, strideA, B, strideB, beta, C, strideC);
  }
  return "gemm: unknown precision";
}

}  // namespace cuda_detail
}  // namespace st
