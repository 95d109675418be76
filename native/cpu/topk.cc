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
// The threshold test rejects almost every score once the heaps are full, so the cost is GEMM
// flops plus ~1 compare per score.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../kernels.h"
#include "threadpool.h"

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
  const int64_t Qg = round_up(ceil_div(Q, n_groups), nr);  // padded group width (ldc of scratch)

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

  for (int64_t q0 = 0; q0 < Q; q0 += Qg) {
    const int64_t nq = std::min(Qg, Q - q0);
    // pack the group's queries: for each KC chunk, Qg/nr panels of kc x nr
    float* qpack = tl_query_pack.ensure(static_cast<size_t>(Qg * std::max<int64_t>(D, 1)));
    for (int64_t pc = 0; pc < D; pc += KC) {
      const int64_t kc = std::min(KC, D - pc);
      pack_rows(queries + q0 * D + pc, D, nq, kc, nr, qpack + pc * Qg);
    }
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
    std::fill(h_n.begin(), h_n.end(), 0);
    std::fill(h_thr.begin(), h_thr.end(), neg_inf);

    parallel_for(n_blocks, TW, [&](int64_t blk, int w) {
      float* apack = tl_corpus_pack.ensure(static_cast<size_t>(mr * kc_max + mr * Qg));
      float* scores = apack + mr * kc_max;  // mr x Qg
      float* thr = h_thr.data() + static_cast<size_t>(w) * Qg;
      const size_t hbase = static_cast<size_t>(w) * Qg;
      const int64_t n_end = std::min(N, (blk + 1) * CB);
      for (int64_t n0 = blk * CB; n0 < n_end; n0 += mr) {
        const int64_t mv = std::min<int64_t>(mr, n_end - n0);
        if (D == 0) {
          std::fill(scores, scores + mr * Qg, 0.0f);
        }
        for (int64_t pc = 0; pc < D; pc += KC) {
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
          for (int64_t q = 0; q < nq; ++q) {
            const float s = srow[q];
            if (!(s >= thr[q])) continue;  // also drops NaN
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

void topk_ip(const float* queries, int64_t Q, const float* corpus, int64_t N, int64_t D, int64_t k,
             const int32_t* excl_offsets, const int32_t* excl_ids, int32_t* out_idx,
             float* out_scores, int threads) {
  cpu::topk_ip_at(cpu::simd_level(), queries, Q, corpus, N, D, k, excl_offsets, excl_ids, out_idx,
                  out_scores, threads);
}

}  // namespace st
