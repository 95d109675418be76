// synthtune CUDA backend: fused inner-product top-k search (exact, fp32).
//
// For each query q in [0,Q): s_j = <queries_q, corpus_j>, j in [0,N); keep the k best, largest
// score first, equal scores -> smaller index first; ids in the CSR exclusion list of q are never
// returned; slots that cannot be filled get index -1 / score -inf. Same contract as st::topk_ip.
//
// Memory never holds Q*N scores. Data flow, per query chunk (Qc queries resident on the device):
//
//   for each corpus block X[n0 : n0+nb]            (H2D copy, nb*D floats; reused if N fits)
//     for each query tile Qt within the chunk
//       1. score tile S(Qt, nb) = Qtile . Xblock^T with the SGEMM kernel of matmul.cu
//       2. excluded (q, id) pairs inside the block are set to NaN in the tile
//       3. selection: the running top-k list of every query (device "state", Qc x k keys) is
//          merged with the tile's row. With few queries the row is split into S segments, each
//          reduced to a partial top-k by its own CUDA block (floor = current k-th best), then a
//          second pass merges the S partial lists into the state.
//   decode the state into (index, score) and copy out.
//
// Ordering keys. A candidate (score s, index j) is packed into one uint64:
//   high 32 bits: the float's bits mapped to an unsigned integer with the same order
//   low 32 bits : 0xFFFFFFFF - j  (so that at equal score the smaller index is larger)
// so "better" is simply "larger key", and every key is unique. Key 0 means "empty slot" (no real
// key is 0: j < 2^31 makes the low half >= 2^31). -0.0 is folded to +0.0 so that it ties with +0.0
// as it does on the CPU. NaN scores (excluded ids, or NaN data) are never returned.
//
// Selection (one CUDA block, 256 threads, per (query, segment)): a buffer of P keys, P a power of
// two >= k + 512, lives in shared memory (global memory when P*8 bytes exceeds the opt-in shared
// memory limit, i.e. very large k). buf[0,k) is the current top-k, sorted descending; the block
// scans its input 256 elements at a time and appends every key above the threshold (max of the
// k-th best and the floor) into buf[k, P); when the append area could overflow, a bitonic sort
// of the whole buffer "flushes" it, leaving the new top-k in buf[0,k) and raising the threshold.
// Once the list is full almost every candidate fails the threshold test, so the cost is one read
// of the score row plus a few sorts. Works for any k (k is clamped to N internally).
#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "../kernels.h"
#include "common.cuh"

namespace st {
namespace cuda_detail {
namespace {

constexpr int kSelectThreads = 256;
constexpr int64_t kCorpusBlockBytes = int64_t(256) << 20;  // corpus rows per H2D copy
constexpr int64_t kMaxBlockRows = int64_t(1) << 20;
constexpr int64_t kTileFloats = int64_t(64) << 20;          // score tile Qt x nb
constexpr int64_t kChunkBytes = int64_t(1) << 30;           // queries + state + outputs per chunk
constexpr int64_t kGlobalSelectBytes = int64_t(512) << 20;  // large-k selection buffers
constexpr int64_t kMinSegment = 8192;                       // min row elements per segment block

__device__ __forceinline__ uint64_t make_key(float s, uint32_t idx) {
  if (s == 0.0f) s = 0.0f;  // fold -0.0 into +0.0
  const uint32_t u = __float_as_uint(s);
  const uint32_t hi = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t(hi) << 32) | uint64_t(0xFFFFFFFFu - idx);
}

__device__ __forceinline__ void decode_key(uint64_t key, int32_t* idx, float* score) {
  if (key == 0) {
    *idx = -1;
    *score = -INFINITY;
    return;
  }
  const uint32_t hi = uint32_t(key >> 32);
  const uint32_t lo = uint32_t(key);
  const uint32_t u = (hi & 0x80000000u) ? (hi & 0x7FFFFFFFu) : ~hi;
  *score = __uint_as_float(u);
  *idx = int32_t(0xFFFFFFFFu - lo);
}

// Selection inputs: element i of row `row` as a key (0 = skip).
struct ScoreRows {  // a score tile; column i is corpus index idx_base + i
  const float* scores;
  int64_t ld;
  int64_t idx_base;
  __device__ __forceinline__ uint64_t key(int64_t row, int64_t i) const {
    const float s = scores[row * ld + i];
    return isnan(s) ? 0 : make_key(s, uint32_t(idx_base + i));
  }
};
struct KeyRows {  // partial top-k lists, already keys
  const uint64_t* keys;
  int64_t ld;
  __device__ __forceinline__ uint64_t key(int64_t row, int64_t i) const { return keys[row * ld + i]; }
};

// Sort buf[0,P) descending (P a power of two). All threads of the block must call it.
__device__ void bitonic_sort_desc(uint64_t* buf, int P) {
  for (int size = 2; size <= P; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < (P >> 1); t += blockDim.x) {
        const int i = 2 * t - (t & (stride - 1));  // pair (i, i+stride), bit `stride` of i clear
        const int j = i + stride;
        const uint64_t a = buf[i], b = buf[j];
        const bool desc = (i & size) == 0;
        if (desc ? (a < b) : (a > b)) {
          buf[i] = b;
          buf[j] = a;
        }
      }
      __syncthreads();
    }
  }
}

// grid = (rows, segments). Block (row, seg) scans in.key(row, i) for i in its segment of
// [0, len) and writes the best k keys, sorted descending, to out[row*out_ld + seg*out_seg_stride].
//   init  (nullable): starting top-k list of the row (init[row*init_ld + 0..k)), sorted desc.
//   floor (nullable): only keys > floor[row*floor_ld + k-1] are considered.
//   gbuf  (nullable): global buffer of rows*segments*P keys used instead of shared memory.
// init may alias out (each block reads its list completely before writing it back).
template <class In>
__global__ void __launch_bounds__(kSelectThreads)
    select_topk(In in, int64_t len, int64_t seg_len, const uint64_t* init, int64_t init_ld,
                const uint64_t* __restrict__ floor, int64_t floor_ld, uint64_t* out, int64_t out_ld,
                int64_t out_seg_stride, int k, int P, uint64_t* __restrict__ gbuf) {
  ST_DYNAMIC_SMEM(uint64_t, smem_keys);
  __shared__ int s_count;  // append position in buf[k, P)

  const int64_t row = blockIdx.x;
  const int seg = blockIdx.y;
  const int tid = threadIdx.x;
  uint64_t* buf = gbuf ? gbuf + (row * gridDim.y + seg) * int64_t(P) : smem_keys;

  for (int i = tid; i < P; i += blockDim.x) buf[i] = (init != nullptr && i < k) ? init[row * init_ld + i] : 0;
  if (tid == 0) s_count = 0;
  const uint64_t floor_key = floor ? floor[row * floor_ld + k - 1] : 0;
  __syncthreads();
  uint64_t thresh = max(floor_key, buf[k - 1]);

  const int cap = P - k;  // >= 2*blockDim by construction
  const int64_t begin = min(len, int64_t(seg) * seg_len);
  const int64_t end = min(len, begin + seg_len);
  int count = 0;  // block-uniform copy of s_count

  auto flush = [&]() {
    bitonic_sort_desc(buf, P);  // ends with __syncthreads
    for (int i = k + tid; i < P; i += blockDim.x) buf[i] = 0;
    if (tid == 0) s_count = 0;
    __syncthreads();
    thresh = max(floor_key, buf[k - 1]);
    count = 0;
  };

  for (int64_t base = begin; base < end; base += blockDim.x) {
    if (count > cap - int(blockDim.x)) flush();  // uniform: count is identical in all threads
    const int64_t i = base + tid;
    int take = 0;
    if (i < end) {
      const uint64_t key = in.key(row, i);
      if (key > thresh) {
        buf[k + atomicAdd(&s_count, 1)] = key;
        take = 1;
      }
    }
    count += __syncthreads_count(take);
  }
  if (count > 0) flush();

  uint64_t* o = out + row * out_ld + int64_t(seg) * out_seg_stride;
  for (int i = tid; i < k; i += blockDim.x) o[i] = buf[i];
}

// Set tile[row][id - n0] = NaN for every excluded id of query q_base+row inside [n0, n0+nb).
__global__ void mask_excluded(float* tile, int64_t ld, int64_t q_base, int64_t n0, int64_t nb,
                              const int32_t* __restrict__ offs, const int32_t* __restrict__ ids) {
  const int64_t row = blockIdx.x;
  const int64_t q = q_base + row;
  const int64_t b = offs[q], e = offs[q + 1];
  for (int64_t t = b + threadIdx.x; t < e; t += blockDim.x) {
    const int64_t j = int64_t(ids[t]) - n0;
    if (j >= 0 && j < nb) tile[row * ld + j] = __int_as_float(0x7fc00000);  // quiet NaN
  }
}

__global__ void decode_keys(const uint64_t* __restrict__ keys, int64_t n, int32_t* __restrict__ idx,
                            float* __restrict__ score) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    decode_key(keys[i], idx + i, score + i);
}

int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

// Number of segments for a (qt x nbc) tile: enough blocks to fill the GPU, each segment at
// least kMinSegment long. Only used when the selection buffer lives in shared memory.
int64_t plan_segments(int64_t qt, int64_t nbc, int sm_count) {
  const int64_t target = 2 * int64_t(sm_count);
  if (qt >= target) return 1;
  int64_t s = std::min(ceil_div(nbc, kMinSegment), ceil_div(target, qt));
  return std::max<int64_t>(1, std::min<int64_t>(s, 65535));
}

}  // namespace
}  // namespace cuda_detail

std::string cuda_topk_ip(const float* queries, int64_t Q, const float* corpus, int64_t N, int64_t D,
                         int64_t k, const int32_t* excl_offsets, const int32_t* excl_ids, int32_t* out_idx,
                         float* out_scores) {
  using namespace cuda_detail;
  if (Q < 0 || N < 0 || D < 0 || k < 0) return "cuda_topk_ip: negative size";
  if (Q == 0 || k == 0) return std::string();
  if (out_idx == nullptr || out_scores == nullptr) return "cuda_topk_ip: null output pointer";
  if (N > INT32_MAX) return "cuda_topk_ip: N exceeds 2^31-1 (indices are int32)";
  if (D > INT_MAX) return "cuda_topk_ip: D exceeds 2^31-1";
  if (double(Q) * double(k) > 9.0e18 / 8) return "cuda_topk_ip: Q*k too large";
  if (D > 0 && ((queries == nullptr) || (N > 0 && corpus == nullptr))) return "cuda_topk_ip: null input pointer";

  int64_t n_excl = 0;
  if (excl_offsets != nullptr) {
    if (excl_offsets[0] < 0) return "cuda_topk_ip: exclusion offsets must start at >= 0";
    for (int64_t q = 0; q < Q; ++q)
      if (excl_offsets[q + 1] < excl_offsets[q]) return "cuda_topk_ip: exclusion offsets must be non-decreasing";
    n_excl = excl_offsets[Q];
    if (n_excl > 0 && excl_ids == nullptr) return "cuda_topk_ip: null exclusion ids";
  }

  // Slots that can never be filled (k > N) are written here once; the GPU fills [0, k_eff).
  const int64_t k_eff = std::min(k, N);
  if (k_eff < k) {
    for (int64_t q = 0; q < Q; ++q)
      for (int64_t j = k_eff; j < k; ++j) {
        out_idx[q * k + j] = -1;
        out_scores[q * k + j] = -INFINITY;
      }
  }
  if (N == 0) return std::string();
  if (k_eff > (int64_t(1) << 29)) return "cuda_topk_ip: k too large";

  std::string err;
  DeviceCtx* ctx = current_ctx(&err);
  if (!ctx) return err;
  std::lock_guard<std::mutex> lock(ctx->mu);
  cudaStream_t s = ctx->stream;

  // ---- plan -------------------------------------------------------------------------------
  const int kk = int(k_eff);
  const int P = int(next_pow2(std::max<int64_t>(k_eff + 2 * kSelectThreads, 1024)));
  const size_t smem_bytes = size_t(P) * sizeof(uint64_t);
  const bool use_smem = smem_bytes + 64 <= ctx->smem_optin;  // + the kernel's static shared memory

  const int64_t row_bytes = std::max<int64_t>(D, 1) * int64_t(sizeof(float));
  const int64_t nb = std::min({N, std::max<int64_t>(1, kCorpusBlockBytes / row_bytes), kMaxBlockRows});
  const int64_t per_query = D * int64_t(sizeof(float)) + k_eff * int64_t(sizeof(uint64_t) + 8);
  const int64_t Qc = std::min(Q, std::max<int64_t>(1, kChunkBytes / per_query));
  int64_t Qt = std::min(Qc, std::max<int64_t>(1, kTileFloats / nb));
  if (!use_smem) Qt = std::min(Qt, std::max<int64_t>(1, kGlobalSelectBytes / int64_t(smem_bytes)));
  // Largest qt*S over all tiles: S > 1 only when qt < target, and then qt*S < 2*target.
  const int64_t max_part_rows = use_smem ? std::max<int64_t>(Qt, 4 * int64_t(ctx->sm_count)) : 0;

  ST_TRY(ensure_scratch(
      ctx, {{kSlotA, size_t(Qc * D) * sizeof(float)},
            {kSlotB, size_t(nb * D) * sizeof(float)},
            {kSlotC, size_t(Qt * nb) * sizeof(float)},
            {kSlotState, size_t(Qc * k_eff) * sizeof(uint64_t)},
            {kSlotPartial, size_t(max_part_rows * k_eff) * sizeof(uint64_t)},
            {kSlotSelect, use_smem ? 0 : size_t(Qt) * smem_bytes},
            {kSlotExclOff, excl_offsets ? size_t(Q + 1) * sizeof(int32_t) : 0},
            {kSlotExclIds, size_t(n_excl) * sizeof(int32_t)},
            {kSlotOutIdx, size_t(Qc * k_eff) * sizeof(int32_t)},
            {kSlotOutScore, size_t(Qc * k_eff) * sizeof(float)}}));
  float* dQ = slot_ptr<float>(ctx, kSlotA);
  float* dX = slot_ptr<float>(ctx, kSlotB);
  float* dTile = slot_ptr<float>(ctx, kSlotC);
  uint64_t* dState = slot_ptr<uint64_t>(ctx, kSlotState);
  uint64_t* dPart = slot_ptr<uint64_t>(ctx, kSlotPartial);
  uint64_t* dSel = use_smem ? nullptr : slot_ptr<uint64_t>(ctx, kSlotSelect);
  int32_t* dOff = excl_offsets ? slot_ptr<int32_t>(ctx, kSlotExclOff) : nullptr;
  int32_t* dIds = slot_ptr<int32_t>(ctx, kSlotExclIds);
  int32_t* dOutIdx = slot_ptr<int32_t>(ctx, kSlotOutIdx);
  float* dOutScore = slot_ptr<float>(ctx, kSlotOutScore);

  const size_t dyn_smem = use_smem ? smem_bytes : 0;
  if (dyn_smem > 48 * 1024) {
    ST_CUDA_TRY(cudaFuncSetAttribute(select_topk<ScoreRows>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(dyn_smem)));
    ST_CUDA_TRY(cudaFuncSetAttribute(select_topk<KeyRows>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     int(dyn_smem)));
  }

  if (excl_offsets) {
    ST_CUDA_TRY(cudaMemcpyAsync(dOff, excl_offsets, size_t(Q + 1) * sizeof(int32_t), cudaMemcpyHostToDevice, s));
    if (n_excl > 0)
      ST_CUDA_TRY(cudaMemcpyAsync(dIds, excl_ids, size_t(n_excl) * sizeof(int32_t), cudaMemcpyHostToDevice, s));
  }

  // ---- run --------------------------------------------------------------------------------
  std::vector<int32_t> tmp_idx;
  std::vector<float> tmp_score;
  int64_t resident_n0 = -1;  // corpus block currently in dX
  for (int64_t q0 = 0; q0 < Q; q0 += Qc) {
    const int64_t qc = std::min(Qc, Q - q0);
    if (D > 0)
      ST_CUDA_TRY(cudaMemcpyAsync(dQ, queries + q0 * D, size_t(qc * D) * sizeof(float), cudaMemcpyHostToDevice, s));
    ST_CUDA_TRY(cudaMemsetAsync(dState, 0, size_t(qc * k_eff) * sizeof(uint64_t), s));

    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t nbc = std::min(nb, N - n0);
      if (resident_n0 != n0) {
        if (D > 0)
          ST_CUDA_TRY(cudaMemcpyAsync(dX, corpus + n0 * D, size_t(nbc * D) * sizeof(float),
                                      cudaMemcpyHostToDevice, s));
        resident_n0 = n0;
      }
      for (int64_t t0 = 0; t0 < qc; t0 += Qt) {
        const int64_t qt = std::min(Qt, qc - t0);
        // 1. scores
        ST_TRY(launch_sgemm(ctx, /*trans_b=*/true, 1, qt, nbc, D, 1.0f, dQ + t0 * D, 0, dX, 0, 0.0f, dTile, 0));
        // 2. exclusions
        if (excl_offsets && n_excl > 0) {
          ST_LAUNCH(unsigned(qt), 128, 0, s, mask_excluded)(dTile, nbc, q0 + t0, n0, nbc, dOff, dIds);
          ST_CUDA_CHECK_LAUNCH();
        }
        // 3. selection into the running state
        uint64_t* state = dState + t0 * k_eff;
        const ScoreRows rows{dTile, nbc, n0};
        const int64_t S = use_smem ? plan_segments(qt, nbc, ctx->sm_count) : 1;
        if (S == 1) {
          ST_LAUNCH(dim3(unsigned(qt), 1), kSelectThreads, dyn_smem, s, select_topk<ScoreRows>)(
              rows, nbc, nbc, state, k_eff, nullptr, 0, state, k_eff, 0, kk, P, dSel);
          ST_CUDA_CHECK_LAUNCH();
        } else {
          const int64_t seg_len = ceil_div(nbc, S);
          ST_LAUNCH(dim3(unsigned(qt), unsigned(S)), kSelectThreads, dyn_smem, s, select_topk<ScoreRows>)(
              rows, nbc, seg_len, nullptr, 0, state, k_eff, dPart, S * k_eff, k_eff, kk, P, nullptr);
          ST_CUDA_CHECK_LAUNCH();
          const KeyRows parts{dPart, S * k_eff};
          ST_LAUNCH(dim3(unsigned(qt), 1), kSelectThreads, dyn_smem, s, select_topk<KeyRows>)(
              parts, S * k_eff, S * k_eff, state, k_eff, nullptr, 0, state, k_eff, 0, kk, P, nullptr);
          ST_CUDA_CHECK_LAUNCH();
        }
      }
    }

    // Decode and copy out this chunk's results.
    const int64_t n_out = qc * k_eff;
    const int dec_blocks = int(std::min<int64_t>(ceil_div(n_out, 256), 65535));
    ST_LAUNCH(dec_blocks, 256, 0, s, decode_keys)(dState, n_out, dOutIdx, dOutScore);
    ST_CUDA_CHECK_LAUNCH();
    if (k_eff == k) {
      ST_CUDA_TRY(cudaMemcpyAsync(out_idx + q0 * k, dOutIdx, size_t(n_out) * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, s));
      ST_CUDA_TRY(cudaMemcpyAsync(out_scores + q0 * k, dOutScore, size_t(n_out) * sizeof(float),
                                  cudaMemcpyDeviceToHost, s));
    } else {
      // Rows are k apart on the host but k_eff apart here: copy, then scatter.
      tmp_idx.resize(size_t(n_out));
      tmp_score.resize(size_t(n_out));
      ST_CUDA_TRY(cudaMemcpyAsync(tmp_idx.data(), dOutIdx, size_t(n_out) * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, s));
      ST_CUDA_TRY(cudaMemcpyAsync(tmp_score.data(), dOutScore, size_t(n_out) * sizeof(float),
                                  cudaMemcpyDeviceToHost, s));
      ST_CUDA_TRY(cudaStreamSynchronize(s));
      for (int64_t q = 0; q < qc; ++q) {
        std::copy_n(tmp_idx.data() + q * k_eff, k_eff, out_idx + (q0 + q) * k);
        std::copy_n(tmp_score.data() + q * k_eff, k_eff, out_scores + (q0 + q) * k);
      }
    }
  }
  ST_CUDA_TRY(cudaStreamSynchronize(s));
  return std::string();
}

}  // namespace st
