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
// C (M, N) = alpha * A^T . B + beta * C with A stored (K, M) and B stored (K, N): a weight
// gradient (dW = dout^T . inp) without materialising dout^T.
void sgemm_tn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
              float beta, float* C, int threads);

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
// Whether topk_ip screens with bf16 dot products before its exact fp32 rescoring (CPUs with
// AVX512_BF16; SYNTHTUNE_TOPK_SCREEN=0 turns it off). The result is the same either way.
bool cpu_topk_bf16_screen();

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

// ---- training kernels (native/cpu/embedding.cc) --------------------------------------------
// Shape letters: V vocabulary rows, D row width, B texts, T tokens of all texts together.
// Texts are CSR: text b is ids[offsets[b] .. offsets[b+1]); offsets has B+1 entries, starts at
// 0, never decreases and ends at T. Every id must be in [0, V). Each function checks all of
// that (and every row index) before touching memory, and returns an error message ("" on
// success). Arithmetic is bit-for-bit that of the TypeScript references in
// lib/kernels/train-reference.ts (double arithmetic on float32 values, no FMA contraction), and
// results do not depend on the thread count. threads <= 0: the pool's default.
//
// out (B,D) = per text, the mean of the rows E[id] (V,D) of its ids; an empty text gets zeros.
// out is write-only.
std::string embedding_bag_forward(const float* E, int64_t V, int64_t D, const int32_t* ids, int64_t T,
                                  const int32_t* offsets, int64_t B, float* out, int threads);
// gradE (V,D) += for every text b and token t of it: row ids[t] gets dOut[b] (B,D) / L_b, with
// L_b the length of text b. Deterministic: each element is accumulated in b-then-t order.
std::string embedding_bag_backward(const float* dOut, const int32_t* ids, int64_t T, const int32_t* offsets,
                                   int64_t B, int64_t D, float* gradE, int64_t V, int threads);
// Adam/AdamW over rows of width `width` of a parameter of n elements (width divides n):
// rows == nullptr updates all of them, else the n_rows listed rows (distinct, in [0, n/width)).
// Per element (the arithmetic of lib/training/optim.ts):
//   g' = g + l2*x;  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;
//   x = x - decoupled*x - lr*(m*c1) / (sqrt(v*c2) + eps)
// (c1 = 1/(1-b1^t), c2 = 1/(1-b2^t); l2 = wd for Adam, decoupled = lr*wd for AdamW.)
std::string adam_rows(float* x, const float* g, float* m, float* v, int64_t n, int64_t width,
                      const int32_t* rows, int64_t n_rows, double lr, double b1, double b2, double eps,
                      double c1, double c2, double l2, double decoupled, int threads);

}  // namespace st
