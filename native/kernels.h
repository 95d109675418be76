// synthtune native kernel interface.
//
// One table of operations, implemented by every backend (cpu: scalar / AVX2+FMA / AVX-512
// chosen at run time; cuda: own kernels, opt-in at build time). addon.cc only binds this
// interface to JavaScript; the TypeScript layer has already validated every argument, but
// each entry point re-checks sizes and returns an error string instead of reading out of
// bounds.
//
// Shape letters used across native/:
//   B  batch count           M, N, K  GEMM dimensions: C(M,N) = A(M,K) . B(K,N)
//   Q  number of queries     N        number of corpus vectors     D  vector dimension
//   k  results kept per query
// All matrices are row-major, float32, densely packed.
#pragma once
#include <cstdint>
#include <string>

namespace st {

// ---- matmul -------------------------------------------------------------------------------
// For b in [0, batch):
//   C_b = alpha * A_b . op(B_b) + beta * C_b
//   A_b is (M, K) at A + b*M*K
//   op(B_b) = B_b (K, N) at B + b*K*N            when trans_b == false
//           = B_b^T, B_b stored (N, K) at B + b*N*K when trans_b == true
//   C_b is (M, N) at C + b*M*N
// beta == 0 means C is write-only (its old contents, even NaN, are ignored).
// threads <= 0 means "use the pool's default" (hardware concurrency).
void sgemm(bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, const float* B, float beta, float* C, int threads);

// ---- top-k inner-product search -------------------------------------------------------------
// For each query q in [0, Q): scores s_j = <Qv_q, X_j> for j in [0, N), keeps the k best
// (largest score first; equal scores: smaller index first). Streams X in blocks so the working
// set is O(Q*k + block), never O(Q*N).
//   queries  (Q, D)      corpus (N, D)
//   excl_offsets: nullptr, or Q+1 offsets into excl_ids (CSR): ids in
//                 excl_ids[excl_offsets[q] .. excl_offsets[q+1]) are never returned for q.
//   out_idx, out_scores: (Q, k). Slots that cannot be filled (k > N minus excluded) get
//                 index -1 and score -inf.
void topk_ip(const float* queries, int64_t Q, const float* corpus, int64_t N, int64_t D,
             int64_t k, const int32_t* excl_offsets, const int32_t* excl_ids,
             int32_t* out_idx, float* out_scores, int threads);

// ---- backend description ------------------------------------------------------------------
// "avx512", "avx2", or "scalar": the SIMD level the CPU kernels dispatch to on this machine.
// Honours the environment variable SYNTHTUNE_SIMD (scalar|avx2|avx512) to force a lower level
// (a higher level than the CPU supports is refused and the detected level is kept).
const char* cpu_simd_level();
// Default thread count of the CPU pool.
int cpu_default_threads();

#ifdef SYNTHTUNE_CUDA
// Same operations on the GPU. Return an empty string on success, else an error message.
// Pointers are host pointers: the CUDA backend copies in/out itself.
int cuda_device_count();
std::string cuda_device_name(int device);
std::string cuda_sgemm(bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, const float* B, float beta, float* C);
std::string cuda_topk_ip(const float* queries, int64_t Q, const float* corpus, int64_t N,
                         int64_t D, int64_t k, const int32_t* excl_offsets,
                         const int32_t* excl_ids, int32_t* out_idx, float* out_scores);
#endif

}  // namespace st
