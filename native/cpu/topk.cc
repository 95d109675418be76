// synthtune CPU backend: fused inner-product top-k search (st::topk_ip).
//
//   for each query q < Q: s_j = <queries[q], corpus[j]> for j < N; keep the k best
//   queries (Q, D), corpus (N, D), row-major float32; out_idx / out_scores (Q, k).
//   Order: larger score first; equal scores -> smaller corpus index first.
//   Excluded ids (CSR excl_offsets / excl_ids; ids outside [0, N) ignored) are never returned.
//   Unfillable slots (k > N minus excluded): index -1, score -inf. NaN scores are never returned.
//
// Why fused: the full score matrix is Q*N floats (1000 x 1M = 4 GB); we never materialise it.
// Scores are computed a few rows at a time with the same register-blocked GEMM micro-kernels as
// sgemm (threadpool.h, matmul.cc) into a tiny scratch tile and immediately filtered into
// bounded per-query min-heaps. Working memory: O(threads * Qg * k + Qg * D + tile).
//
// Roles in GEMM terms: scores^T (corpus rows x queries) = corpus . queries^T, i.e. the corpus is
// the micro-kernel's A operand (MR rows broadcast) and the queries are its packed B operand
// (NR queries per panel, like sgemm with trans_b). Loop nest:
//
//   for each group of Qg queries (packed once; Qg x KC floats sized to stay in L2):
//     parallel over corpus blocks (dynamic; each worker has its own heaps for the group):
//       for each MR corpus rows:            pack rows (MR x KC) -> L1, reused for all queries
//         for each KC chunk of D, each NR query panel:  micro-kernel -> scratch (MR x Qg)
//         for each score in scratch: if s >= heap threshold of its query -> heap push
//     merge the workers' heaps of each query, sort, write out.
//
// The threshold test (vectorised with AVX-512) rejects almost every score once the heaps are
// full, so the cost is GEMM flops plus ~1 compare per score. With very few queries (Q*4 <= NR)
// the micro-kernel would mostly multiply padding, so plain SIMD dot products are used instead.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "../kernels.h"
#include "threadpool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ST_X86 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 PR105593 in AVX-512 headers
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#define ST_X86 0
#endif

namespace st {
namespace cpu {

namespace {

thread_local AlignedBuf tl_corpus_pack;  // MR x KC packed corpus rows (+ scores scratch)
thread_local AlignedBuf tl_query_pack;   // packed query group (calling thread)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// a is a worse result than b: lower score, or same score and larger index.
inline bool worse(float sa, int32_t ia, float sb, int32_t ib) {
  return sa < sb || (sa == sb && ia > ib);
}

// Bounded min-heap (root = worst kept result) over caller-owned arrays of capacity cap.
struct HeapRef {
  float* s;
  int32_t* id;
  int32_t* count;
  float* thr;  // accept-test threshold: -inf while not full, else the root score
  int64_t cap;

  // Push (score, idx) if it beats the worst kept result. s is not NaN.
  void push(float score, int32_t idx) const {
    int64_t n = *count;
    if (n < cap) {  // sift up
      int64_t c = n;
      while (c > 0) {
        int64_t p = (c - 1) / 2;
        if (!worse(score, idx, s[p], id[p])) break;
        s[c] = s[p];
        id[c] = id[p];
        c = p;
      }
      s[c] = score;
      id[c] = idx;
      *count = static_cast<int32_t>(++n);
      if (n == cap) *thr = s[0];
      return;
    }
    if (!worse(s[0], id[0], score, idx)) return;
    int64_t c = 0;  // replace root, sift down
    for (;;) {
      int64_t l = 2 * c + 1;
      if (l >= n) break;
      int64_t r = l + 1;
      int64_t w = (r < n && worse(s[r], id[r], s[l], id[l])) ? r : l;
      if (!worse(s[w], id[w], score, idx)) break;
      s[c] = s[w];
      id[c] = id[w];
      c = w;
    }
    s[c] = score;
    id[c] = idx;
    *thr = s[0];
  }
};

// ---- few-query path ---------------------------------------------------------------------------
// With only a handful of queries the GEMM micro-kernel would mostly multiply zero padding (NR
// queries per panel), so scores are computed as plain dot products instead: S[r][q] =
// <X[r], Qs[q]> for r < rows, q < nq (X, Qs row-major with row length D; S row stride lds).
// This is a memory-bound scan of the corpus anyway.
using DotsFn = void (*)(const float* X, int64_t rows, const float* Qs, int64_t nq, int64_t D,
                        float* S, int64_t lds);

void dots_scalar(const float* X, int64_t rows, const float* Qs, int64_t nq, int64_t D, float* S,
                 int64_t lds) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < nq; ++q) {
      const float* x = X + r * D;
      const float* y = Qs + q * D;
      float acc[8] = {};  // 8 partial sums: lets the compiler vectorise
      int64_t p = 0;
      for (; p + 8 <= D; p += 8)
        for (int t = 0; t < 8; ++t) acc[t] += x[p + t] * y[p + t];
      float s = 0.0f;
      for (; p < D; ++p) s += x[p] * y[p];
      for (int t = 0; t < 8; ++t) s += acc[t];
      S[r * lds + q] = s;
    }
}

#if ST_X86
__attribute__((target("avx2,fma"))) void dots_avx2(const float* X, int64_t rows, const float* Qs,
                                                   int64_t nq, int64_t D, float* S, int64_t lds) {
  auto hsum = [](__m256 v) __attribute__((target("avx2,fma"))) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
  };
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = X + r * D;
    for (int64_t q0 = 0; q0 < nq; q0 += 4) {
      const int64_t nb = std::min<int64_t>(4, nq - q0);
      const float* y[4];
      for (int i = 0; i < 4; ++i) y[i] = Qs + (q0 + std::min<int64_t>(i, nb - 1)) * D;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      int64_t p = 0;
      for (; p + 8 <= D; p += 8) {
        const __m256 xv = _mm256_loadu_ps(x + p);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(y[0] + p), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(y[1] + p), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(y[2] + p), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(y[3] + p), xv, a3);
      }
      float res[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
      for (; p < D; ++p)
        for (int i = 0; i < 4; ++i) res[i] += x[p] * y[i][p];
      for (int64_t i = 0; i < nb; ++i) S[r * lds + q0 + i] = res[i];
    }
  }
}

// horizontal sum through memory (GCC 12's reduce/shuffle/cast intrinsics trip a bogus
// -Wmaybe-uninitialized inside its own headers; this costs a few cycles per row, irrelevant here)
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) inline float hsum512(
    __m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += t[i];
  return s;
}

__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) void dots_avx512(
    const float* X, int64_t rows, const float* Qs, int64_t nq, int64_t D, float* S, int64_t lds) {
  const int64_t tail = D % 16;
  const __mmask16 tmask = static_cast<__mmask16>((1u << tail) - 1u);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = X + r * D;
    for (int64_t q0 = 0; q0 < nq; q0 += 4) {
      const int64_t nb = std::min<int64_t>(4, nq - q0);
      const float* y[4];
      for (int i = 0; i < 4; ++i) y[i] = Qs + (q0 + std::min<int64_t>(i, nb - 1)) * D;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      int64_t p = 0;
      for (; p + 16 <= D; p += 16) {
        const __m512 xv = _mm512_loadu_ps(x + p);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(y[0] + p), xv, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(y[1] + p), xv, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(y[2] + p), xv, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(y[3] + p), xv, a3);
      }
      if (tail) {  // masked loads never touch memory past the row
        const __m512 xv = _mm512_maskz_loadu_ps(tmask, x + p);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tmask, y[0] + p), xv, a0);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tmask, y[1] + p), xv, a1);
        a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tmask, y[2] + p), xv, a2);
        a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tmask, y[3] + p), xv, a3);
      }
      const float res[4] = {hsum512(a0), hsum512(a1), hsum512(a2), hsum512(a3)};
      for (int64_t i = 0; i < nb; ++i) S[r * lds + q0 + i] = res[i];
    }
  }
}
#endif  // ST_X86

// ---- threshold filter ----------------------------------------------------------------------
// Writes the q < nq with s[q] >= thr[q] (NaN never passes) to cand, returns how many. Almost
// every score fails once the heaps are full, so this is one compare per score.
using FilterFn = int64_t (*)(const float* s, const float* thr, int64_t nq, int32_t* cand);

int64_t filter_scalar(const float* s, const float* thr, int64_t nq, int32_t* cand) {
  int64_t n = 0;
  for (int64_t q = 0; q < nq; ++q) {  // branch-free
    cand[n] = static_cast<int32_t>(q);
    n += s[q] >= thr[q];
  }
  return n;
}

#if ST_X86
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) int64_t filter_avx512(
    const float* s, const float* thr, int64_t nq, int32_t* cand) {
  int64_t n = 0;
  for (int64_t q = 0; q < nq; q += 16) {
    const int64_t rem = nq - q;
    const __mmask16 lm = rem >= 16 ? static_cast<__mmask16>(0xFFFF)
                                   : static_cast<__mmask16>((1u << rem) - 1u);
    unsigned m = _mm512_mask_cmp_ps_mask(lm, _mm512_maskz_loadu_ps(lm, s + q),
                                         _mm512_maskz_loadu_ps(lm, thr + q), _CMP_GE_OQ);
    while (m) {
      cand[n++] = static_cast<int32_t>(q + __builtin_ctz(m));
      m &= m - 1;
    }
  }
  return n;
}
#endif

FilterFn filter_for(SimdLevel level) {
#if ST_X86
  if (level >= kAvx512) return &filter_avx512;
#else
  (void)level;
#endif
  return &filter_scalar;
}

DotsFn dots_for(SimdLevel level) {
#if ST_X86
  if (level >= kAvx512) return &dots_avx512;
  if (level == kAvx2) return &dots_avx2;
#else
  (void)level;
#endif
  return &dots_scalar;
}


// ---- bf16 screening (AVX512_BF16) -------------------------------------------------------------
constexpr int kBMR = 12;  // corpus rows per bf16 micro-tile (broadcast operand)
constexpr int kBNR = 32;  // queries per bf16 panel (two zmm of fp32 scores)

thread_local AlignedBuf tl_corpus_pack_b;  // kBMR rows of bf16 pairs + scores scratch
thread_local AlignedBuf tl_query_pack_b;   // the group's queries as bf16 pair panels
thread_local AlignedBuf tl_row_pairs;      // one row as bf16 pairs

#if ST_X86
#define ST_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))

inline __mmask16 low_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1u);
}

// x[0, n) as bf16 pairs, round to nearest even: dst[p] = bf16(x[2p]) | bf16(x[2p+1]) << 16 for
// p < ceil(n/2) (an odd tail's upper half is 0). Masked loads never read past x[n).
ST_BF16 void to_bf16_pairs(const float* x, int64_t n, uint32_t* dst) {
  for (int64_t i = 0; i < n; i += 32) {
    const int64_t rem = n - i;
    const __m512 lo = _mm512_maskz_loadu_ps(low_mask(rem), x + i);
    const __m512 hi = _mm512_maskz_loadu_ps(low_mask(rem - 16), x + i + 16);
    const __m512i v = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // lo -> low words
    _mm512_mask_storeu_epi32(dst + i / 2, low_mask((rem + 1) / 2), v);
  }
}

// acc += VDPBF16PS(a, b): per fp32 lane, the dot product of its two bf16 pairs, accumulated in
// fp32. Inline assembly with the bf16 operands carried in float vectors: clang 16 (zig 0.11, the
// prebuilt binaries' compiler) crashes on the intrinsic's __m512bh values.
ST_BF16 inline __m512 dpbf16(__m512 acc, __m512 a, __m512 b) {
  __asm__("vdpbf16ps %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
  return acc;
}

// C[r*ldc + j] (+)= sum_{p < kp} <A[r*lda + p], B[p*kBNR + j]> (bf16 pairs, fp32 accumulation)
// for r < kBMR, j < kBNR. A's rows are read in place (its pairs are broadcast one at a time).
ST_BF16 void ukr_bf16(int64_t kp, const uint32_t* A, int64_t lda, const uint32_t* B, float* C,
                      int64_t ldc, bool accumulate) {
  __m512 acc[kBMR][2];
#pragma GCC unroll 12
  for (int r = 0; r < kBMR; ++r) {
    acc[r][0] = accumulate ? _mm512_loadu_ps(C + r * ldc) : _mm512_setzero_ps();
    acc[r][1] = accumulate ? _mm512_loadu_ps(C + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kp; ++p) {
    const __m512 b0 = _mm512_castsi512_ps(_mm512_loadu_si512(B + p * kBNR));
    const __m512 b1 = _mm512_castsi512_ps(_mm512_loadu_si512(B + p * kBNR + 16));
#pragma GCC unroll 12
    for (int r = 0; r < kBMR; ++r) {
      const __m512 av = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(A[r * lda + p])));
      acc[r][0] = dpbf16(acc[r][0], av, b0);
      acc[r][1] = dpbf16(acc[r][1], av, b1);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kBMR; ++r) {
    _mm512_storeu_ps(C + r * ldc, acc[r][0]);
    _mm512_storeu_ps(C + r * ldc + 16, acc[r][1]);
  }
}

// |x|^2 and |x - bf16(x)|^2 over n floats (bf16 rounded to nearest even, as the screening pass).
ST_BF16 void norms_bf16(const float* x, int64_t n, float* norm2, float* resid2) {
  __m512 s = _mm512_setzero_ps(), r = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(low_mask(n - i), x + i);
    // bf16 -> fp32 is exact: the bf16 bits in the upper half of a 32-bit lane
    const __m256i h = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
    const __m512 b = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    const __m512 d = _mm512_sub_ps(v, b);
    s = _mm512_fmadd_ps(v, v, s);
    r = _mm512_fmadd_ps(d, d, r);
  }
  *norm2 = hsum512(s);
  *resid2 = hsum512(r);
}
// Packs rows [0, m) (row stride ldx) x dims [d0, d0 + 2*kp) into a kp x kBMR (or kBNR) panel of
// bf16 pairs: dst[p*width + r]. Rows past m and dims past D are 0.
void pack_bf16(const float* X, int64_t ldx, int64_t m, int64_t D, int64_t d0, int64_t kp, int width,
               uint32_t* dst) {
  uint32_t* tmp = reinterpret_cast<uint32_t*>(tl_row_pairs.ensure(static_cast<size_t>(kp) + 16));
  const int64_t n = std::min<int64_t>(2 * kp, D - d0);
  for (int64_t r = 0; r < width; ++r) {
    if (r < m) {
      to_bf16_pairs(X + r * ldx + d0, n, tmp);
      for (int64_t p = (n + 1) / 2; p < kp; ++p) tmp[p] = 0;
      for (int64_t p = 0; p < kp; ++p) dst[p * width + r] = tmp[p];
    } else {
      for (int64_t p = 0; p < kp; ++p) dst[p * width + r] = 0;
    }
  }
}
#endif  // ST_X86

struct ScreenCtx {
  const float* queries;  // the group's first query
  int64_t nq;
  const float* corpus;
  int64_t N, D, kk, k;
  float max_norm;        // max |c| over corpus rows (finite), computed with fp32 error <= gamma
  float max_resid;       // max |c - bf16(c)| over corpus rows
  double gamma;          // relative error bound of an fp32 sum of D products
  const int32_t* ex_off; // per-group sorted exclusions (nullptr: none)
  const int32_t* ex_ids;
  FilterFn filter;
  int threads;
  int32_t* out_idx;      // the group's first output row (stride k)
  float* out_scores;
};

// One query group: bf16 screening, then exact fp32 rescoring of the candidates. Returns false
// (nothing written) when a candidate list outgrew its bound; the caller then runs the fp32 pass.
bool screen_group_bf16(const ScreenCtx& c) {
#if ST_X86
  const int64_t nq = c.nq, D = c.D, kk = c.kk;
  const int64_t Qb = round_up(nq, kBNR);
  const int64_t kp_all = ceil_div(D, 2);
  // pairs per chunk: the kBMR x KCP corpus panel stays in L1 (<= 24 KiB)
  const int64_t KCP = kp_all <= 512 ? kp_all : ceil_div(kp_all, ceil_div(kp_all, 512));
  const float neg_inf = -std::numeric_limits<float>::infinity();

  // per-query screening margin 2 * eps_q, from the exact rounding residuals: with q = q' + dq
  // (q' = bf16(q)) and c = c' + dc, <q, c> - <q', c'> = <q', dc> + <dq, c>, so
  // |s' - s| <= |q'| max|dc| + |dq| max|c|, plus fp32 accumulation (gamma) in both passes and
  // products flushed to zero (2^-126 each).
  std::vector<float> margin(static_cast<size_t>(nq));
  for (int64_t q = 0; q < nq; ++q) {
    float qq = 0.0f, dq = 0.0f;
    norms_bf16(c.queries + q * D, D, &qq, &dq);
    const double g = c.gamma;
    const double qn = std::sqrt(static_cast<double>(qq)) * (1 + g), dn = std::sqrt(static_cast<double>(dq)) * (1 + g);
    const double qh = qn + dn;  // |q'| <= |q| + |dq|
    if (!(qh * (c.max_norm + c.max_resid) < 1e37)) return false;  // non-finite or huge: fp32 pass
    const double eps = qh * c.max_resid + dn * c.max_norm + g * qh * (c.max_norm + c.max_resid) + g * qn * c.max_norm +
                       std::ldexp(1.0, -126) * 2.0 * (D + 1);
    margin[q] = static_cast<float>(2.0 * eps * (1.0 + 1e-5));
  }

  // the group's queries as bf16 pair panels: chunk at pair p0 holds Qb/kBNR panels of kpc x kBNR
  uint32_t* qpack = reinterpret_cast<uint32_t*>(tl_query_pack_b.ensure(static_cast<size_t>(Qb * kp_all)));
  for (int64_t p0 = 0; p0 < kp_all; p0 += KCP) {
    const int64_t kpc = std::min(KCP, kp_all - p0);
    for (int64_t j = 0; j < Qb; j += kBNR)
      pack_bf16(c.queries + j * D, D, std::min<int64_t>(kBNR, nq - j), D, 2 * p0, kpc, kBNR,
                qpack + p0 * Qb + j * kpc);
  }

  const int T = ThreadPool::global().workers_for(1 << 30, c.threads);
  const int64_t CB = std::max<int64_t>(kBMR, std::min<int64_t>(round_up(ceil_div(c.N, 8 * T), kBMR),
                                                               round_up(4096, kBMR)));
  const int64_t n_blocks = ceil_div(c.N, CB);
  const int TW = ThreadPool::global().workers_for(n_blocks, c.threads);
  std::vector<float> h_s(static_cast<size_t>(TW) * nq * kk);
  std::vector<int32_t> h_i(static_cast<size_t>(TW) * nq * kk);
  std::vector<int32_t> h_n(static_cast<size_t>(TW) * nq, 0);
  std::vector<float> h_thr(static_cast<size_t>(TW) * nq, neg_inf);
  std::vector<float> h_lo(static_cast<size_t>(TW) * Qb, neg_inf);  // filter thresholds (padded)
  std::vector<std::vector<std::pair<float, int32_t>>> lists(static_cast<size_t>(TW) * nq);
  const size_t cap = static_cast<size_t>(16 * kk + 4096);  // per worker and query
  std::atomic<bool> overflow{false};

  parallel_for(n_blocks, TW, [&](int64_t blk, int w) {
    if (overflow.load(std::memory_order_relaxed)) return;
    float* buf = tl_corpus_pack_b.ensure(static_cast<size_t>(kBMR * kp_all + kBMR * Qb));
    uint32_t* apack = reinterpret_cast<uint32_t*>(buf);  // kBMR rows of kp_all pairs
    float* scores = buf + kBMR * kp_all;                 // kBMR x Qb
    thread_local std::vector<int32_t> cand_buf;
    if (cand_buf.size() < static_cast<size_t>(Qb)) cand_buf.resize(Qb);
    int32_t* cand = cand_buf.data();
    float* lo = h_lo.data() + static_cast<size_t>(w) * Qb;
    float* thr = h_thr.data() + static_cast<size_t>(w) * nq;
    const size_t hbase = static_cast<size_t>(w) * nq;
    const int64_t n_end = std::min(c.N, (blk + 1) * CB);
    for (int64_t n0 = blk * CB; n0 < n_end; n0 += kBMR) {
      const int64_t mv = std::min<int64_t>(kBMR, n_end - n0);
      // the rows as bf16 pairs, in place (rows past mv: zeros)
      for (int64_t r = 0; r < kBMR; ++r) {
        if (r < mv) {
          to_bf16_pairs(c.corpus + (n0 + r) * D, D, apack + r * kp_all);
        } else {
          std::fill(apack + r * kp_all, apack + (r + 1) * kp_all, 0u);
        }
      }
      for (int64_t p0 = 0; p0 < kp_all; p0 += KCP) {
        const int64_t kpc = std::min(KCP, kp_all - p0);
        for (int64_t j = 0; j < Qb; j += kBNR)
          ukr_bf16(kpc, apack + p0, kp_all, qpack + p0 * Qb + j * kpc, scores + j, Qb, p0 > 0);
      }
      for (int64_t r = 0; r < mv; ++r) {
        const float* srow = scores + r * Qb;
        const int32_t idx = static_cast<int32_t>(n0 + r);
        const int64_t n_cand = c.filter(srow, lo, nq, cand);
        for (int64_t x = 0; x < n_cand; ++x) {
          const int64_t q = cand[x];
          const float s = srow[q];
          if (c.ex_off && std::binary_search(c.ex_ids + c.ex_off[q], c.ex_ids + c.ex_off[q + 1], idx)) continue;
          const size_t h = hbase + q;
          HeapRef{h_s.data() + h * kk, h_i.data() + h * kk, h_n.data() + h, thr + q, kk}.push(s, idx);
          lo[q] = thr[q] - margin[q];  // -inf while the heap is not full
          auto& list = lists[h];
          list.emplace_back(s, idx);
          if (list.size() > cap) {
            overflow.store(true, std::memory_order_relaxed);
            return;
          }
        }
      }
    }
  });
  if (overflow.load()) return false;

  // per query: T = k-th best screened score over all workers; rescore every listed row with
  // s' >= T - 2 eps_q exactly in fp32; keep the k best
  parallel_for(nq, TW, [&](int64_t q, int) {
    thread_local std::vector<float> top;
    thread_local std::vector<std::pair<float, int32_t>> cand;
    top.clear();
    cand.clear();
    for (int w = 0; w < TW; ++w) {
      const size_t h = static_cast<size_t>(w) * nq + q;
      top.insert(top.end(), h_s.begin() + h * kk, h_s.begin() + h * kk + h_n[h]);
    }
    float bound = neg_inf;
    if (static_cast<int64_t>(top.size()) >= kk) {
      std::nth_element(top.begin(), top.begin() + (kk - 1), top.end(), std::greater<float>());
      bound = top[kk - 1] - margin[q];
    }
    const float* qv = c.queries + q * D;
    for (int w = 0; w < TW; ++w)
      for (const auto& e : lists[static_cast<size_t>(w) * nq + q])
        if (e.first >= bound) cand.emplace_back(0.0f, e.second);
    std::sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    size_t kept = 0;
    for (const auto& e : cand) {
      const float s = dot_f32(c.corpus + static_cast<int64_t>(e.second) * D, qv, D);
      if (!std::isnan(s)) cand[kept++] = {s, e.second};
    }
    cand.resize(kept);
    const size_t take = std::min<size_t>(cand.size(), static_cast<size_t>(kk));
    auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
      return worse(b.first, b.second, a.first, a.second);
    };
    std::partial_sort(cand.begin(), cand.begin() + take, cand.end(), better);
    for (size_t x = 0; x < take; ++x) {
      c.out_idx[q * c.k + x] = cand[x].second;
      c.out_scores[q * c.k + x] = cand[x].first;
    }
  });
  return true;
#else
  (void)c;
  return false;
#endif
}

// Whether the bf16 screening pass is on for this call (CPU support, SYNTHTUNE_TOPK_SCREEN != 0).
bool screen_enabled() {
  if (!has_avx512_bf16()) return false;
  const char* e = std::getenv("SYNTHTUNE_TOPK_SCREEN");
  return !(e && std::strcmp(e, "0") == 0);
}

// max |c| and max |c - bf16(c)| over the corpus rows with a finite norm; +inf if a row's norm
// overflows (NaN rows are never returned by either pass and are ignored here).
void corpus_norms(const float* corpus, int64_t N, int64_t D, int threads, float* max_norm, float* max_resid) {
#if ST_X86
  const int64_t B = 2048;
  const int64_t nb = ceil_div(N, B);
  const int TW = ThreadPool::global().workers_for(nb, threads);
  std::vector<float> mn(static_cast<size_t>(TW), 0.0f), mr(static_cast<size_t>(TW), 0.0f);
  parallel_for(nb, TW, [&](int64_t b, int w) {
    for (int64_t r = b * B; r < std::min(N, (b + 1) * B); ++r) {
      float n2 = 0.0f, r2 = 0.0f;
      norms_bf16(corpus + r * D, D, &n2, &r2);
      if (n2 > mn[w]) mn[w] = n2;  // NaN never compares greater
      if (r2 > mr[w]) mr[w] = r2;
    }
  });
  *max_norm = std::sqrt(*std::max_element(mn.begin(), mn.end()));
  *max_resid = std::sqrt(*std::max_element(mr.begin(), mr.end()));
#else
  (void)corpus, (void)N, (void)D, (void)threads;
  *max_norm = *max_resid = std::numeric_limits<float>::infinity();
#endif
}

}  // namespace

void topk_ip_at(SimdLevel level, const float* queries, int64_t Q, const float* corpus, int64_t N,
                int64_t D, int64_t k, const int32_t* excl_offsets, const int32_t* excl_ids,
                int32_t* out_idx, float* out_scores, int threads) {
  if (Q <= 0 || k <= 0 || !out_idx || !out_scores) return;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::fill(out_idx, out_idx + Q * k, -1);
  std::fill(out_scores, out_scores + Q * k, neg_inf);
  if (N <= 0 || D < 0 || (D > 0 && (!queries || !corpus))) return;
  if (N > std::numeric_limits<int32_t>::max()) return;  // indices are int32

  const GemmKernel& kern = gemm_kernel(level);
  const int mr = kern.mr, nr = kern.nr;
  const int64_t kk = std::min(k, N);  // heap capacity

  // K (= D) chunking: the MR x KC corpus micro-panel must stay in L1 (<= ~24 KiB).
  const int64_t KC = std::max<int64_t>(1, D <= 512 ? D : ceil_div(D, ceil_div(D, 384)));
  const int64_t kc_max = std::max<int64_t>(KC, 1);
  // Query group: Qg x KC packed floats should stay in L2 (~384 KiB); the workers' heaps
  // (T x Qg x kk) are bounded to ~256 MiB for absurd k.
  const int T = ThreadPool::global().workers_for(1 << 30, threads);
  int64_t qg_max = (96 * 1024) / kc_max;
  qg_max = std::min<int64_t>(qg_max, (32ll << 20) / (std::max<int64_t>(T, 1) * kk));
  qg_max = std::max<int64_t>(nr, qg_max / nr * nr);
  const int64_t n_groups = ceil_div(Q, qg_max);
  int64_t Qg = round_up(ceil_div(Q, n_groups), nr);  // padded group width (ldc of scratch)
  // few queries: dot products instead of the (mostly padding) GEMM micro-kernel
  const bool few_q = Q * 4 <= nr;
  const DotsFn dots = dots_for(level);
  const FilterFn filter = filter_for(level);
  if (few_q) Qg = Q;

  // Corpus blocks per task: enough tasks to balance ~8 per thread, at least MR rows.
  const int64_t CB = std::max<int64_t>(mr, std::min<int64_t>(round_up(ceil_div(N, 8 * T), mr),
                                                             round_up(4096, mr)));
  const int64_t n_blocks = ceil_div(N, CB);
  const int TW = ThreadPool::global().workers_for(n_blocks, threads);

  // Per-worker heaps for one group.
  std::vector<float> h_s(static_cast<size_t>(TW) * Qg * kk);
  std::vector<int32_t> h_i(static_cast<size_t>(TW) * Qg * kk);
  std::vector<int32_t> h_n(static_cast<size_t>(TW) * Qg);
  std::vector<float> h_thr(static_cast<size_t>(TW) * Qg);
  std::vector<int32_t> ex_off, ex_ids;  // sorted exclusions of the group's queries

  // bf16 screening: worth it when the GEMM dominates (not few queries) and candidate lists stay
  // short (N well above k); off without AVX512_BF16. e bounds a bf16 dot product's relative error.
  bool screen = !few_q && Q >= 16 && D >= 32 && N >= 32 * kk && D < (1 << 20) && screen_enabled();
  float max_norm = 0.0f, max_resid = 0.0f;
  const double g = (D + 2) * std::ldexp(1.0, -24), gamma = g / (1.0 - g);
  if (screen) {
    corpus_norms(corpus, N, D, threads, &max_norm, &max_resid);
    max_norm = static_cast<float>(max_norm * (1 + gamma));
    max_resid = static_cast<float>(max_resid * (1 + gamma));
    screen = std::isfinite(max_norm) && std::isfinite(max_resid);
  }

  for (int64_t q0 = 0; q0 < Q; q0 += Qg) {
    const int64_t nq = std::min(Qg, Q - q0);
    // exclusions of this group, sorted per query for binary search
    const bool has_excl = excl_offsets && excl_ids;
    if (has_excl) {
      ex_off.assign(static_cast<size_t>(nq + 1), 0);
      ex_ids.clear();
      for (int64_t q = 0; q < nq; ++q) {
        const int32_t b = excl_offsets[q0 + q], e = excl_offsets[q0 + q + 1];
        for (int32_t x = b; x < e; ++x)
          if (excl_ids[x] >= 0 && excl_ids[x] < N) ex_ids.push_back(excl_ids[x]);
        std::sort(ex_ids.begin() + ex_off[q], ex_ids.end());
        ex_off[q + 1] = static_cast<int32_t>(ex_ids.size());
      }
    }
    if (screen) {
      const ScreenCtx ctx{queries + q0 * D, nq, corpus, N, D, kk, k, max_norm, max_resid, gamma,
                          has_excl ? ex_off.data() : nullptr, has_excl ? ex_ids.data() : nullptr,
                          filter, threads, out_idx + q0 * k, out_scores + q0 * k};
      if (screen_group_bf16(ctx)) continue;
    }
    // pack the group's queries: for each KC chunk, Qg/nr panels of kc x nr
    float* qpack = tl_query_pack.ensure(static_cast<size_t>(Qg * std::max<int64_t>(D, 1)));
    for (int64_t pc = 0; pc < D && !few_q; pc += KC) {
      const int64_t kc = std::min(KC, D - pc);
      pack_rows(queries + q0 * D + pc, D, nq, kc, nr, qpack + pc * Qg);
    }
    std::fill(h_n.begin(), h_n.end(), 0);
    std::fill(h_thr.begin(), h_thr.end(), neg_inf);

    parallel_for(n_blocks, TW, [&](int64_t blk, int w) {
      float* apack = tl_corpus_pack.ensure(static_cast<size_t>(mr * kc_max + mr * Qg));
      float* scores = apack + mr * kc_max;  // mr x Qg
      thread_local std::vector<int32_t> cand_buf;
      if (cand_buf.size() < static_cast<size_t>(Qg)) cand_buf.resize(Qg);
      int32_t* cand = cand_buf.data();  // filter output: query slots that pass
      float* thr = h_thr.data() + static_cast<size_t>(w) * Qg;
      const size_t hbase = static_cast<size_t>(w) * Qg;
      const int64_t n_end = std::min(N, (blk + 1) * CB);
      for (int64_t n0 = blk * CB; n0 < n_end; n0 += mr) {
        const int64_t mv = std::min<int64_t>(mr, n_end - n0);
        if (D == 0) {
          std::fill(scores, scores + mr * Qg, 0.0f);
        } else if (few_q) {
          dots(corpus + n0 * D, mv, queries + q0 * D, nq, D, scores, Qg);
        }
        for (int64_t pc = 0; pc < D && !few_q; pc += KC) {
          const int64_t kc = std::min(KC, D - pc);
          pack_rows(corpus + n0 * D + pc, D, mv, kc, mr, apack);
          const float* qp = qpack + pc * Qg;
          for (int64_t j = 0; j < nq; j += nr)
            kern.ukr(kc, apack, qp + j * kc, scores + j, Qg, 1.0f, pc == 0 ? 0.0f : 1.0f);
        }
        // filter: one compare per score; pushes are rare once the heaps are full
        for (int64_t r = 0; r < mv; ++r) {
          const float* srow = scores + r * Qg;
          const int32_t idx = static_cast<int32_t>(n0 + r);
          const int64_t n_cand = filter(srow, thr, nq, cand);
          for (int64_t c = 0; c < n_cand; ++c) {
            const int64_t q = cand[c];
            const float s = srow[q];
            if (has_excl &&
                std::binary_search(ex_ids.begin() + ex_off[q], ex_ids.begin() + ex_off[q + 1], idx))
              continue;
            const size_t h = hbase + q;
            HeapRef{h_s.data() + h * kk, h_i.data() + h * kk, h_n.data() + h, thr + q, kk}.push(
                s, idx);
          }
        }
      }
    });

    // merge the workers' heaps per query
    parallel_for(nq, TW, [&](int64_t q, int) {
      thread_local std::vector<std::pair<float, int32_t>> cand;
      cand.clear();
      for (int w = 0; w < TW; ++w) {
        const size_t h = static_cast<size_t>(w) * Qg + q;
        for (int32_t x = 0; x < h_n[h]; ++x) cand.emplace_back(h_s[h * kk + x], h_i[h * kk + x]);
      }
      const size_t take = std::min<size_t>(cand.size(), static_cast<size_t>(kk));
      auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
        return worse(b.first, b.second, a.first, a.second);
      };
      std::partial_sort(cand.begin(), cand.begin() + take, cand.end(), better);
      int32_t* oi = out_idx + (q0 + q) * k;
      float* os = out_scores + (q0 + q) * k;
      for (size_t x = 0; x < take; ++x) {
        oi[x] = cand[x].second;
        os[x] = cand[x].first;
      }
    });
  }
}

}  // namespace cpu

bool cpu_topk_bf16_screen() { return cpu::screen_enabled(); }

void topk_ip(const float* queries, int64_t Q, const float* corpus, int64_t N, int64_t D, int64_t k,
             const int32_t* excl_offsets, const int32_t* excl_ids, int32_t* out_idx,
             float* out_scores, int threads) {
  cpu::topk_ip_at(cpu::simd_level(), queries, Q, corpus, N, D, k, excl_offsets, excl_ids, out_idx,
                  out_scores, threads);
}

}  // namespace st
