// synthtune CPU backend: BERT layer functions, each a forward/backward pair (see bert.h for the
// shape letters and conventions). Matmuls go through st::sgemm (packed SIMD, multi-threaded);
// everything else is split over the CPU pool by rows (or by columns where rows would race).
// Every reduction has a fixed order, so results are bit-for-bit deterministic for a given thread
// count and SIMD level.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "bert.h"
#include "kernels.h"
#include "threadpool.h"

namespace st {
namespace bert {

using cpu::parallel_for;

namespace {

// Runs fn(start, end) over [0, n) in contiguous chunks on the pool; serially when the total work
// (n * cost_per_item, in rough flops) is too small to be worth waking threads.
template <typename Fn>
void for_range(int64_t n, double cost_per_item, int threads, Fn&& fn) {
  if (n <= 0) return;
  if (n == 1 || n * cost_per_item < 32768.0) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t tasks = std::min<int64_t>(n, 64);
  const int64_t chunk = (n + tasks - 1) / tasks;
  parallel_for((n + chunk - 1) / chunk, threads, [&](int64_t t, int) {
    const int64_t s = t * chunk;
    fn(s, std::min(n, s + chunk));
  });
}

}  // namespace

// ---- embeddings -----------------------------------------------------------------------------

void position_ids(int32_t* pos, const int32_t* mask, int64_t B, int64_t T, int64_t padding_idx) {
  for (int64_t b = 0; b < B; b++) {
    int64_t seen = 0;
    for (int64_t t = 0; t < T; t++) {
      const int64_t n = b * T + t;
      if (padding_idx < 0) {
        pos[n] = static_cast<int32_t>(t);
      } else if (!mask || mask[n]) {
        seen++;
        pos[n] = static_cast<int32_t>(padding_idx + seen);
      } else {
        pos[n] = static_cast<int32_t>(padding_idx);
      }
    }
  }
}

int32_t relative_bucket(int64_t rel, int64_t NB, int64_t max_distance) {
  // transformers' MPNetEncoder.relative_position_bucket, in its float32 arithmetic.
  const int64_t half = NB / 2;
  int64_t n = -rel;
  int64_t ret = n < 0 ? half : 0;
  n = n < 0 ? -n : n;
  const int64_t max_exact = half / 2;
  if (n < max_exact) return static_cast<int32_t>(ret + n);
  const float num = std::log(static_cast<float>(n) / static_cast<float>(max_exact));
  const float den = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float v = num / den * static_cast<float>(half - max_exact);
  // (v < half also keeps the cast defined for a degenerate den; check_config refuses those)
  const int64_t large = v < static_cast<float>(half) ? max_exact + static_cast<int64_t>(v) : half - 1;
  return static_cast<int32_t>(ret + std::min(large, half - 1));
}

void relative_buckets(int32_t* table, int64_t T, int64_t NB, int64_t max_distance) {
  for (int64_t r = 0; r < 2 * T - 1; r++) table[r] = relative_bucket(r - (T - 1), NB, max_distance);
}

void embeddings_forward(float* out, const int32_t* ids, const int32_t* types, const float* word,
                        const float* pos, const float* type, int64_t B, int64_t T, int64_t C,
                        int threads, const int32_t* positions) {
  for_range(B * T, static_cast<double>(C), threads, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const int64_t t = positions ? positions[n] : n % T;
      const float* w = word + static_cast<int64_t>(ids[n]) * C;
      const float* p = pos + t * C;
      float* o = out + n * C;
      if (type) {
        const float* ty = type + static_cast<int64_t>(types ? types[n] : 0) * C;
        for (int64_t c = 0; c < C; c++) o[c] = w[c] + p[c] + ty[c];
      } else {
        for (int64_t c = 0; c < C; c++) o[c] = w[c] + p[c];
      }
    }
  });
}

void embeddings_backward(float* dword, float* dpos, float* dtype, const float* dout,
                         const int32_t* ids, const int32_t* types, int64_t B, int64_t T, int64_t C,
                         const int32_t* positions) {
  for (int64_t n = 0; n < B * T; n++) {
    const int64_t t = positions ? positions[n] : n % T;
    const float* d = dout + n * C;
    float* dw = dword + static_cast<int64_t>(ids[n]) * C;
    float* dp = dpos + t * C;
    for (int64_t c = 0; c < C; c++) {
      dw[c] += d[c];
      dp[c] += d[c];
    }
    if (dtype) {
      float* dt = dtype + static_cast<int64_t>(types ? types[n] : 0) * C;
      for (int64_t c = 0; c < C; c++) dt[c] += d[c];
    }
  }
}

// ---- LayerNorm --------------------------------------------------------------------------------

// AVX-512 rows (defined with the vector GELU below): the same statistics, summed in double over
// eight lanes (forward) or in float over sixteen (backward) instead of one serial chain.
bool layernorm_rows_fast();
void layernorm_forward_rows(float* out, float* mean, float* rstd, const float* inp, const float* w,
                            const float* b, int64_t n0, int64_t n1, int64_t C, float eps);
void layernorm_backward_rows(float* dinp, const float* dout, const float* inp, const float* mean,
                             const float* rstd, const float* w, int64_t n0, int64_t n1, int64_t C);

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps, int threads) {
  const bool fast = layernorm_rows_fast();
  for_range(N, 6.0 * C, threads, [&](int64_t n0, int64_t n1) {
    if (fast) return layernorm_forward_rows(out, mean, rstd, inp, w, b, n0, n1, C, eps);
    for (int64_t n = n0; n < n1; n++) {
      const float* x = inp + n * C;
      double s = 0;
      for (int64_t c = 0; c < C; c++) s += x[c];
      const double m = s / C;
      double v = 0;
      for (int64_t c = 0; c < C; c++) {
        const double d = x[c] - m;
        v += d * d;
      }
      const float r = static_cast<float>(1.0 / std::sqrt(v / C + eps));
      const float mf = static_cast<float>(m);
      float* o = out + n * C;
      for (int64_t c = 0; c < C; c++) o[c] = (x[c] - mf) * r * w[c] + b[c];
      mean[n] = mf;
      rstd[n] = r;
    }
  });
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* w, int64_t N, int64_t C,
                        int threads) {
  // Input gradient, row by row:
  //   n̂ = (x - μ)·r,  g = w ⊙ dout,  dx = r · (g - mean(g) - n̂ · mean(g ⊙ n̂))
  const bool fast = layernorm_rows_fast();
  for_range(N, 10.0 * C, threads, [&](int64_t n0, int64_t n1) {
    if (fast) return layernorm_backward_rows(dinp, dout, inp, mean, rstd, w, n0, n1, C);
    for (int64_t n = n0; n < n1; n++) {
      const float* x = inp + n * C;
      const float* d = dout + n * C;
      const float m = mean[n], r = rstd[n];
      float gm = 0, gnm = 0;
      for (int64_t c = 0; c < C; c++) {
        const float g = w[c] * d[c];
        gm += g;
        gnm += g * (x[c] - m) * r;
      }
      gm /= static_cast<float>(C);
      gnm /= static_cast<float>(C);
      float* dx = dinp + n * C;
      for (int64_t c = 0; c < C; c++) {
        const float nh = (x[c] - m) * r;
        dx[c] = r * (w[c] * d[c] - gm - nh * gnm);
      }
    }
  });
  // Parameter gradients, by column blocks (no two tasks touch the same column):
  //   dw += Σ_n dout ⊙ n̂,  db += Σ_n dout
  constexpr int64_t kCols = 32;
  const int64_t blocks = (C + kCols - 1) / kCols;
  for_range(blocks, 4.0 * kCols * N, threads, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; blk++) {
      const int64_t c0 = blk * kCols, c1 = std::min(C, c0 + kCols);
      float aw[kCols] = {0}, ab[kCols] = {0};
      for (int64_t n = 0; n < N; n++) {
        const float* x = inp + n * C;
        const float* d = dout + n * C;
        const float m = mean[n], r = rstd[n];
        for (int64_t c = c0; c < c1; c++) {
          aw[c - c0] += d[c] * (x[c] - m) * r;
          ab[c - c0] += d[c];
        }
      }
      for (int64_t c = c0; c < c1; c++) {
        dw[c] += aw[c - c0];
        db[c] += ab[c - c0];
      }
    }
  });
}

// ---- linear layers ----------------------------------------------------------------------------

void matmul_forward(float* out, const float* inp, const float* w, const float* b,
                    const float* residual, int64_t N, int64_t IC, int64_t OC, int threads) {
  float beta = 0;
  if (b || residual) {
    // out starts as residual + b; the GEMM accumulates onto it (beta = 1).
    for_range(N, static_cast<double>(OC), threads, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; n++) {
        float* o = out + n * OC;
        if (residual) {
          const float* r = residual + n * OC;
          if (b) {
            for (int64_t j = 0; j < OC; j++) o[j] = r[j] + b[j];
          } else {
            std::memcpy(o, r, sizeof(float) * OC);
          }
        } else {
          std::memcpy(o, b, sizeof(float) * OC);
        }
      }
    });
    beta = 1;
  }
  st::sgemm(true, 1, N, OC, IC, 1.0f, inp, w, beta, out, threads);
}

void matmul_backward(float* dinp, bool accumulate, float* dw, float* db, const float* dout,
                     const float* inp, const float* w, int64_t N, int64_t IC, int64_t OC,
                     int threads) {
  // dinp (N,IC) = dout (N,OC) · w (OC,IC)
  if (dinp) st::sgemm(false, 1, N, IC, OC, 1.0f, dout, w, accumulate ? 1.0f : 0.0f, dinp, threads);
  // dw (OC,IC) += doutᵀ (OC,N) · inp (N,IC): dout read in place as the transposed A operand
  st::sgemm_tn(OC, IC, N, 1.0f, dout, inp, 1.0f, dw, threads);
  // db (OC) += column sums of dout, in double, rows in order (deterministic), by column blocks
  if (db) {
    constexpr int64_t kCols = 64;
    for_range((OC + kCols - 1) / kCols, static_cast<double>(N) * kCols, threads, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t o0 = blk * kCols, o1 = std::min(OC, o0 + kCols);
        double acc[kCols] = {0};
        for (int64_t n = 0; n < N; n++) {
          const float* row = dout + n * OC;
          for (int64_t o = o0; o < o1; o++) acc[o - o0] += row[o];
        }
        for (int64_t o = o0; o < o1; o++) db[o] += static_cast<float>(acc[o - o0]);
      }
    });
  }
}

// ---- multi-head self-attention ----------------------------------------------------------------

// Keys at positions ≥ L (L = last unmasked position + 1, per sequence: the trailing padding) are
// skipped entirely: scores, softmax and weighted sums run over the first L keys only, and the
// probabilities of the skipped keys are written as exact 0 (as a masked key's always were). Every
// query row, padded or not, is still computed, so all outputs equal the full-T computation up to
// float rounding.
namespace {
int64_t round_up16(int64_t n) { return (n + 15) / 16 * 16; }

int64_t valid_length(const int32_t* mk, int64_t T) {
  if (!mk) return T;
  int64_t L = T;
  while (L > 0 && mk[L - 1] == 0) L--;
  return L == 0 ? T : L;  // fully masked: keep the uniform-over-T behaviour
}
}  // namespace

// row[0, L) = softmax over the positions j with mk[j] != 0 (mk nullptr: all), masked positions 0
// (defined with the vector exp below; at least one position must be unmasked).
void softmax_masked_row(float* row, const int32_t* mk, int64_t L);

// Fast attention path (defined at the end of this file; attention_rows_layout(hs) says whether it
// runs here):
// att_transpose writes Yᵀ (hs, round_up(L,16)) with zeroed tail columns; att_scores R = alpha·X·Yᵀ
// from that transpose; att_weighted Z = A·Y with A(r, c) = A[r·ar + c·ac].
void att_transpose(float* YT, const float* Y, int64_t ys, int64_t L, int64_t hs);
void att_scores(float* Rm, int64_t rs, const float* X, int64_t xs, const float* YT, int64_t rows,
                int64_t L, int64_t hs, float alpha);
void att_weighted(float* Z, int64_t zs, const float* A, int64_t ar, int64_t ac, const float* Y,
                  int64_t ys, int64_t rows, int64_t K, int64_t hs);

void attention_forward(float* out, float* qkvp, float* probs, const float* qkv, const int32_t* mask,
                       int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, int threads,
                       const float* bias) {
  const int64_t hs = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const int64_t head = T * hs;       // floats of one (b,h) q / k / v block
  const int64_t plane = B * NH * head;  // floats of all q (or k, or v)
  const int64_t per_worker = attention_forward_scratch(T, hs);
  const bool fast = attention_rows_layout(hs);
  // One task per (b,h): gather q,k,v (T,hs); S (T,L) = softmax(scale·q·k[:L]ᵀ, masked);
  // ctx = S·v[:L]; P (T,T) = [S | 0].
  parallel_for(B * NH, threads, [&](int64_t bh, int worker) {
    const int64_t b = bh / NH, h = bh % NH;
    // q, k, v (T,hs) at row stride qs: gathered per head into qkvp, or read in place from qkv
    const float *q, *k, *v;
    int64_t qs = hs;
    if (qkvp) {
      float* qp = qkvp + bh * head;
      for (int64_t t = 0; t < T; t++) {
        const float* src = qkv + (b * T + t) * 3 * C + h * hs;
        std::memcpy(qp + t * hs, src, sizeof(float) * hs);
        std::memcpy(qp + plane + t * hs, src + C, sizeof(float) * hs);
        std::memcpy(qp + 2 * plane + t * hs, src + 2 * C, sizeof(float) * hs);
      }
      q = qp, k = qp + plane, v = qp + 2 * plane;
    } else {
      q = qkv + b * T * 3 * C + h * hs, k = q + C, v = q + 2 * C, qs = 3 * C;
    }
    const int32_t* mk = mask ? mask + b * T : nullptr;
    bool any = !mk;
    if (mk) {
      for (int64_t j = 0; j < T && !any; j++) any = mk[j] != 0;
    }
    const int64_t L = valid_length(mk, T);
    float* ctx = scratch + static_cast<int64_t>(worker) * per_worker;  // (T,hs), or kᵀ when fast
    float* P = probs + bh * T * T;
    // (T,L), compact; with no trailing padding (L == T) it is P itself: no copy
    float* S = L == T ? P : ctx + round_up16(T) * hs;
    if (fast) {
      att_transpose(ctx, k, qs, L, hs);
      att_scores(S, L, q, qs, ctx, T, L, hs, scale);
    } else {
      st::sgemm(true, 1, T, L, hs, scale, q, k, 0.0f, S, 1);  // (T,L) = scale · q·k[:L]ᵀ
    }
    for (int64_t i = 0; i < T; i++) {
      float* row = S + i * L;
      if (bias) {
        const float* br = bias + (h * T + i) * T;
        for (int64_t j = 0; j < L; j++) row[j] += br[j];
      }
      if (!any) {
        for (int64_t j = 0; j < L; j++) row[j] = 1.0f / static_cast<float>(T);
        continue;
      }
      softmax_masked_row(row, mk, L);
    }
    if (S != P) {
      for (int64_t i = 0; i < T; i++) {
        std::memcpy(P + i * T, S + i * L, sizeof(float) * L);
        std::memset(P + i * T + L, 0, sizeof(float) * (T - L));
      }
    }
    if (fast) {  // straight into out's head columns
      att_weighted(out + b * T * C + h * hs, C, S, L, 1, v, qs, T, L, hs);
      return;
    }
    st::sgemm(false, 1, T, hs, L, 1.0f, S, v, 0.0f, ctx, 1);  // (T,hs) = S · v[:L]
    for (int64_t t = 0; t < T; t++) {
      std::memcpy(out + (b * T + t) * C + h * hs, ctx + t * hs, sizeof(float) * hs);
    }
  });
}

int64_t attention_forward_scratch(int64_t T, int64_t hs) { return round_up16(T) * hs + T * T; }

int64_t attention_infer_scratch(int64_t Tmax, int64_t hs) {
  return 3 * Tmax * hs + round_up16(Tmax) * hs + Tmax * Tmax;
}

void attention_infer(float* out, const float* qkv, const int64_t* offsets, int64_t B, int64_t C,
                     int64_t NH, float* scratch, int64_t per_worker, int threads, const float* bias,
                     int64_t Tb) {
  const int64_t hs = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const bool fast = attention_rows_layout(hs);
  // One task per (b,h), handed out dynamically by the pool (unequal lengths balance themselves).
  parallel_for(B * NH, threads, [&](int64_t bh, int worker) {
    const int64_t b = bh / NH, h = bh % NH;
    const int64_t o = offsets[b], L = offsets[b + 1] - offsets[b];
    float* q = scratch + static_cast<int64_t>(worker) * per_worker;  // (L,hs)
    float* k = q + L * hs;
    float* v = k + L * hs;
    float* ctx = v + L * hs;  // (L,hs), or kᵀ (hs, round_up16(L)) when fast
    float* S = ctx + round_up16(L) * hs;  // (L,L)
    // fast: q, k, v read in place from qkv (row stride 3C), ctx written straight to out
    const float* qs = qkv + o * 3 * C + h * hs;
    if (fast) {
      att_transpose(ctx, qs + C, 3 * C, L, hs);
      att_scores(S, L, qs, 3 * C, ctx, L, L, hs, scale);
    } else {
      for (int64_t t = 0; t < L; t++) {
        const float* src = qs + t * 3 * C;
        std::memcpy(q + t * hs, src, sizeof(float) * hs);
        std::memcpy(k + t * hs, src + C, sizeof(float) * hs);
        std::memcpy(v + t * hs, src + 2 * C, sizeof(float) * hs);
      }
      st::sgemm(true, 1, L, L, hs, scale, q, k, 0.0f, S, 1);  // (L,L) = scale · q·kᵀ
    }
    for (int64_t i = 0; i < L; i++) {
      float* row = S + i * L;
      if (bias) {
        const float* br = bias + (h * Tb + i) * Tb;
        for (int64_t j = 0; j < L; j++) row[j] += br[j];
      }
      softmax_masked_row(row, nullptr, L);
    }
    if (fast) {
      att_weighted(out + o * C + h * hs, C, S, L, 1, qs + 2 * C, 3 * C, L, L, hs);
      return;
    }
    st::sgemm(false, 1, L, hs, L, 1.0f, S, v, 0.0f, ctx, 1);  // (L,hs) = S · v
    for (int64_t t = 0; t < L; t++) {
      std::memcpy(out + (o + t) * C + h * hs, ctx + t * hs, sizeof(float) * hs);
    }
  });
}

int64_t attention_backward_scratch(int64_t T, int64_t hs) {
  return T * T + std::max<int64_t>(4 * T, round_up16(T)) * hs;  // fast path: vᵀ where dctx.. sit
}

void attention_backward(float* dqkv, const float* dout, const float* qkvp, const float* probs,
                        int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, int threads,
                        const int32_t* mask, float* dbias, float* dbias_scratch, const float* qkv) {
  const int64_t hs = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const int64_t head = T * hs;
  const int64_t plane = B * NH * head;
  const int64_t per_worker = attention_backward_scratch(T, hs);
  const bool fast = attention_rows_layout(hs);
  parallel_for(B * NH, threads, [&](int64_t bh, int worker) {
    const int64_t b = bh / NH, h = bh % NH;
    const int64_t L = valid_length(mask ? mask + b * T : nullptr, T);
    // q, k, v (T,hs) at row stride qs: per head in qkvp, or the rows of qkv (qkvp nullptr)
    const float* q = qkvp ? qkvp + bh * head : qkv + b * T * 3 * C + h * hs;
    const float* k = qkvp ? q + plane : q + C;
    const float* v = qkvp ? k + plane : q + 2 * C;
    const int64_t qs = qkvp ? hs : 3 * C;
    const float* P = probs + bh * T * T;  // columns ≥ L are 0
    float* dP = scratch + static_cast<int64_t>(worker) * per_worker;  // (T,L)
    float* dctx = dP + T * T;                                         // (T,hs)
    float* dq = dctx + head;                                          // (T,hs)
    float* dk = dq + head;                                            // (L,hs)
    float* dv = dk + head;                                            // (T,hs): rows ≥ L are 0
    float* dst0 = dqkv + b * T * 3 * C + h * hs;  // this head's dq columns (row stride 3C)
    if (fast) {  // dctx read in place from dout; dv written straight to dqkv
      const float* dc = dout + b * T * C + h * hs;
      att_transpose(dctx, v, qs, L, hs);  // vᵀ (hs, round_up16(L)) in the dctx..dk scratch
      att_scores(dP, L, dc, C, dctx, T, L, hs, 1.0f);  // dP (T,L) = dctx · v[:L]ᵀ
      att_weighted(dst0 + 2 * C, 3 * C, P, 1, T, dc, C, L, T, hs);  // dv (L,hs) = P[:, :L]ᵀ · dctx
    } else {
      for (int64_t t = 0; t < T; t++) {
        std::memcpy(dctx + t * hs, dout + (b * T + t) * C + h * hs, sizeof(float) * hs);
      }
      st::sgemm(true, 1, T, L, hs, 1.0f, dctx, v, 0.0f, dP, 1);  // dP (T,L) = dctx · v[:L]ᵀ
      // dv (T,hs) = Pᵀ · dctx, P read in place as the transposed operand (its columns ≥ L are 0,
      // so rows ≥ L of dv are 0 and only the first L are used)
      st::sgemm_tn(T, hs, T, 1.0f, P, dctx, 0.0f, dv, 1);
    }
    // Softmax backward, scale folded in: dS = scale · P ⊙ (dP − Σ_j P⊙dP). Masked keys have P = 0,
    // so their dS is exactly 0 and nothing reaches padded positions. With a bias, its gradient
    // dZ = P ⊙ (dP − Σ_j P⊙dP) (the unscaled one) is kept per (b,h) first, then dS = scale · dZ.
    float* dz = dbias ? dbias_scratch + bh * T * T : nullptr;
    for (int64_t i = 0; i < T; i++) {
      const float* p = P + i * T;
      float* d = dP + i * L;
      const float s = cpu::dot_f32(p, d, L);
      if (dz) {
        float* zr = dz + i * T;
        for (int64_t j = 0; j < L; j++) {
          zr[j] = p[j] * (d[j] - s);
          d[j] = scale * zr[j];
        }
        for (int64_t j = L; j < T; j++) zr[j] = 0.0f;
      } else {
        for (int64_t j = 0; j < L; j++) d[j] = scale * p[j] * (d[j] - s);
      }
    }
    if (fast) {
      att_weighted(dst0, 3 * C, dP, L, 1, k, qs, T, L, hs);        // dq (T,hs) = dS · k[:L]
      att_weighted(dst0 + C, 3 * C, dP, 1, L, q, qs, L, T, hs);    // dk (L,hs) = dSᵀ · q
      for (int64_t t = L; t < T; t++) {
        std::memset(dst0 + t * 3 * C + C, 0, sizeof(float) * hs);
        std::memset(dst0 + t * 3 * C + 2 * C, 0, sizeof(float) * hs);
      }
      return;
    }
    st::sgemm(false, 1, T, hs, L, 1.0f, dP, k, 0.0f, dq, 1);  // dq (T,hs) = dS · k[:L]
    st::sgemm_tn(L, hs, T, 1.0f, dP, q, 0.0f, dk, 1);  // dk (L,hs) = dSᵀ · q, dS read in place
    for (int64_t t = 0; t < T; t++) {
      float* dst = dqkv + (b * T + t) * 3 * C + h * hs;
      std::memcpy(dst, dq + t * hs, sizeof(float) * hs);
      if (t < L) {
        std::memcpy(dst + C, dk + t * hs, sizeof(float) * hs);
        std::memcpy(dst + 2 * C, dv + t * hs, sizeof(float) * hs);
      } else {
        std::memset(dst + C, 0, sizeof(float) * hs);
        std::memset(dst + 2 * C, 0, sizeof(float) * hs);
      }
    }
  });
  if (dbias) {
    // dbias[h] += Σ_b dZ[b,h], b in order (deterministic), split over the (h, i) rows.
    for_range(NH * T, static_cast<double>(B * T), threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        const int64_t h = r / T, i = r % T;
        float* dst = dbias + r * T;
        for (int64_t b = 0; b < B; b++) {
          const float* src = dbias_scratch + ((b * NH + h) * T + i) * T;
          for (int64_t j = 0; j < T; j++) dst[j] += src[j];
        }
      }
    });
  }
}

// ---- MPNet relative attention bias ------------------------------------------------------------

void relbias_forward(float* bias, const float* table, const int32_t* buckets, int64_t T, int64_t NH) {
  for (int64_t h = 0; h < NH; h++) {
    for (int64_t i = 0; i < T; i++) {
      float* row = bias + (h * T + i) * T;
      for (int64_t j = 0; j < T; j++) row[j] = table[static_cast<int64_t>(buckets[j - i + T - 1]) * NH + h];
    }
  }
}

void relbias_backward(float* dtable, const float* dbias, const int32_t* buckets, int64_t T, int64_t NH) {
  for (int64_t h = 0; h < NH; h++) {
    for (int64_t i = 0; i < T; i++) {
      const float* row = dbias + (h * T + i) * T;
      for (int64_t j = 0; j < T; j++) dtable[static_cast<int64_t>(buckets[j - i + T - 1]) * NH + h] += row[j];
    }
  }
}

// ---- GELU (exact, erf) ------------------------------------------------------------------------
// The AVX2 / AVX-512 paths use a vector erf (two-branch minimax, max abs error ≈ 6e-8 against
// std::erf) and a vector exp; the scalar path keeps std::erf / std::exp. Tails go through a small
// padded buffer so every element sees the same formula regardless of how the range is chunked.

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ST_GELU_X86 1
#define ST_G_AVX2 __attribute__((target("avx2,fma")))
#define ST_G_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

// exp(x), Cephes-style: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial (≈1 ulp); x clamped to
// [-87.3, 88.3] so 2^n stays a normal float.
ST_G_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// erf(a): two-branch minimax (|a| ≤ 0.927734375: odd polynomial; else 1 − exp(poly(|a|))),
// ≈1 ulp against std::erf.
ST_G_AVX2 inline __m256 erf8(__m256 a) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_min_ps(_mm256_andnot_ps(sign, a), _mm256_set1_ps(4.0f));
  const __m256 s = _mm256_mul_ps(a, a);
  // small branch
  __m256 q = _mm256_set1_ps(-5.96761703e-4f);
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(4.99119423e-3f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-2.67681349e-2f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.12819925e-1f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(-3.76125336e-1f));
  q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.28379166e-1f));
  q = _mm256_fmadd_ps(q, a, a);
  // large branch
  const __m256 t2 = _mm256_mul_ps(t, t);
  __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(-1.72853470e-5f), t, _mm256_set1_ps(3.83197126e-4f));
  const __m256 u = _mm256_fmadd_ps(_mm256_set1_ps(-3.88396438e-3f), t, _mm256_set1_ps(2.42546219e-2f));
  r = _mm256_fmadd_ps(r, t2, u);
  r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.06777877e-1f));
  r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-6.34846687e-1f));
  r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(-1.28717512e-1f));
  r = _mm256_fmadd_ps(r, t, _mm256_xor_ps(t, sign));
  r = _mm256_sub_ps(_mm256_set1_ps(1.0f), exp8(r));
  r = _mm256_or_ps(r, _mm256_and_ps(a, sign));  // copysign (r ≥ 0)
  const __m256 big = _mm256_cmp_ps(t, _mm256_set1_ps(0.927734375f), _CMP_GT_OQ);
  return _mm256_blendv_ps(q, r, big);
}

ST_G_AVX512 inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

ST_G_AVX512 inline __m512 erf16(__m512 a) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512 t = _mm512_min_ps(_mm512_andnot_ps(sign, a), _mm512_set1_ps(4.0f));
  const __m512 s = _mm512_mul_ps(a, a);
  __m512 q = _mm512_set1_ps(-5.96761703e-4f);
  q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(4.99119423e-3f));
  q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-2.67681349e-2f));
  q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.12819925e-1f));
  q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(-3.76125336e-1f));
  q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(1.28379166e-1f));
  q = _mm512_fmadd_ps(q, a, a);
  const __m512 t2 = _mm512_mul_ps(t, t);
  __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(-1.72853470e-5f), t, _mm512_set1_ps(3.83197126e-4f));
  const __m512 u = _mm512_fmadd_ps(_mm512_set1_ps(-3.88396438e-3f), t, _mm512_set1_ps(2.42546219e-2f));
  r = _mm512_fmadd_ps(r, t2, u);
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.06777877e-1f));
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-6.34846687e-1f));
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.28717512e-1f));
  r = _mm512_fmadd_ps(r, t, _mm512_xor_ps(t, sign));
  r = _mm512_sub_ps(_mm512_set1_ps(1.0f), exp16(r));
  r = _mm512_or_ps(r, _mm512_and_ps(a, sign));
  const __mmask16 big = _mm512_cmp_ps_mask(t, _mm512_set1_ps(0.927734375f), _CMP_GT_OQ);
  return _mm512_mask_blend_ps(big, q, r);
}
#endif

#ifdef ST_GELU_X86
// mode 0: out = gelu(x);  mode 1: dinout *= gelu'(x)
template <int kMode>
ST_G_AVX2 inline __m256 gelu8(__m256 x, __m256 d) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 cdf = _mm256_fmadd_ps(half, erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f))), half);
  if (kMode == 0) return _mm256_mul_ps(x, cdf);
  const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(0.39894228040143268f),
                                   exp8(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), x), x)));
  return _mm256_mul_ps(d, _mm256_fmadd_ps(x, pdf, cdf));
}

template <int kMode>
ST_G_AVX2 void gelu_avx2(float* dst, const float* inp, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(inp + i);
    const __m256 d = kMode ? _mm256_loadu_ps(dst + i) : x;
    _mm256_storeu_ps(dst + i, gelu8<kMode>(x, d));
  }
  if (i < n) {
    alignas(32) float xb[8] = {0}, db[8] = {0};
    std::memcpy(xb, inp + i, sizeof(float) * (n - i));
    if (kMode) std::memcpy(db, dst + i, sizeof(float) * (n - i));
    _mm256_store_ps(db, gelu8<kMode>(_mm256_load_ps(xb), _mm256_load_ps(db)));
    std::memcpy(dst + i, db, sizeof(float) * (n - i));
  }
}

template <int kMode>
ST_G_AVX512 inline __m512 gelu16(__m512 x, __m512 d) {
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 cdf = _mm512_fmadd_ps(half, erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f))), half);
  if (kMode == 0) return _mm512_mul_ps(x, cdf);
  const __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143268f),
                                   exp16(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), x), x)));
  return _mm512_mul_ps(d, _mm512_fmadd_ps(x, pdf, cdf));
}

template <int kMode>
ST_G_AVX512 void gelu_avx512(float* dst, const float* inp, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(inp + i);
    const __m512 d = kMode ? _mm512_loadu_ps(dst + i) : x;
    _mm512_storeu_ps(dst + i, gelu16<kMode>(x, d));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 x = _mm512_maskz_loadu_ps(m, inp + i);
    const __m512 d = kMode ? _mm512_maskz_loadu_ps(m, dst + i) : x;
    _mm512_mask_storeu_ps(dst + i, m, gelu16<kMode>(x, d));
  }
}
#endif

template <int kMode>
void gelu_range(float* dst, const float* inp, int64_t n) {
#ifdef ST_GELU_X86
  const cpu::SimdLevel lv = cpu::simd_level();
  if (lv == cpu::kAvx512) return gelu_avx512<kMode>(dst, inp, n);
  if (lv == cpu::kAvx2) return gelu_avx2<kMode>(dst, inp, n);
#endif
  const float r2 = 0.70710678118654752f;
  const float inv_sqrt_2pi = 0.39894228040143268f;
  for (int64_t i = 0; i < n; i++) {
    const float x = inp[i];
    const float cdf = 0.5f * (1.0f + std::erf(x * r2));
    if (kMode == 0) {
      dst[i] = x * cdf;
    } else {
      // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
      const float pdf = inv_sqrt_2pi * std::exp(-0.5f * x * x);
      dst[i] *= cdf + x * pdf;
    }
  }
}

}  // namespace

namespace {
void softmax_row_scalar(float* row, const int32_t* mk, int64_t L) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < L; j++) {
    if ((!mk || mk[j]) && row[j] > mx) mx = row[j];
  }
  float sum = 0;
  for (int64_t j = 0; j < L; j++) {
    const float e = (!mk || mk[j]) ? std::exp(row[j] - mx) : 0.0f;
    row[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < L; j++) row[j] *= inv;
}

#ifdef ST_GELU_X86
// The same with exp16 (≈1 ulp) over 16 positions at a time; masked loads for the tail.
ST_G_AVX512 void softmax_row_avx512(float* row, const int32_t* mk, int64_t L) {
  auto keep = [&](int64_t j, __mmask16 lm) ST_G_AVX512 {
    if (!mk) return lm;
    const __m512i m = _mm512_maskz_loadu_epi32(lm, mk + j);
    return _mm512_mask_cmpneq_epi32_mask(lm, m, _mm512_setzero_si512());
  };
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 vmx = ninf;
  for (int64_t j = 0; j < L; j += 16) {
    const __mmask16 lm = L - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (L - j)) - 1u);
    const __mmask16 k = keep(j, lm);
    vmx = _mm512_mask_max_ps(vmx, k, vmx, _mm512_maskz_loadu_ps(lm, row + j));
  }
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmx));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < L; j += 16) {
    const __mmask16 lm = L - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (L - j)) - 1u);
    const __mmask16 k = keep(j, lm);
    const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(lm, row + j), mx)));
    vsum = _mm512_add_ps(vsum, e);
    _mm512_mask_storeu_ps(row + j, lm, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
  for (int64_t j = 0; j < L; j += 16) {
    const __mmask16 lm = L - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (L - j)) - 1u);
    _mm512_mask_storeu_ps(row + j, lm, _mm512_mul_ps(_mm512_maskz_loadu_ps(lm, row + j), inv));
  }
}
#endif
}  // namespace

void softmax_masked_row(float* row, const int32_t* mk, int64_t L) {
#ifdef ST_GELU_X86
  if (cpu::simd_level() == cpu::kAvx512) return softmax_row_avx512(row, mk, L);
#endif
  softmax_row_scalar(row, mk, L);
}

void gelu_forward(float* out, const float* inp, int64_t n, int threads) {
  for_range(n, 20.0, threads, [&](int64_t i0, int64_t i1) { gelu_range<0>(out + i0, inp + i0, i1 - i0); });
}

void gelu_backward(float* dinout, const float* inp, int64_t n, int threads) {
  for_range(n, 30.0, threads, [&](int64_t i0, int64_t i1) { gelu_range<1>(dinout + i0, inp + i0, i1 - i0); });
}

// ---- pooling ----------------------------------------------------------------------------------

namespace {
// Weight of token t of sequence b in the sum-type modes (mean, mean_sqrt_len, weightedmean):
// mask · (t+1 for weightedmean, else 1).
inline double pool_weight(int pooling, const int32_t* mk, int64_t t) {
  if (mk && !mk[t]) return 0.0;
  return pooling == kPoolWeightedMean ? static_cast<double>(t + 1) : 1.0;
}
// Divisor of the sum-type modes: n (mean), √n (mean_sqrt_len), Σ (t+1) (weightedmean); 0: none valid.
inline double pool_divisor(int pooling, const int32_t* mk, int64_t T) {
  double s = 0;
  for (int64_t t = 0; t < T; t++) s += pool_weight(pooling, mk, t);
  if (s == 0) return 0;
  return pooling == kPoolMeanSqrtLen ? std::sqrt(s) : s;
}
// Last valid position of a sequence, -1 when none.
inline int64_t last_valid(const int32_t* mk, int64_t T) {
  if (!mk) return T - 1;
  for (int64_t t = T - 1; t >= 0; t--) {
    if (mk[t]) return t;
  }
  return -1;
}
// First valid position holding the max of channel c, -1 when none is valid.
inline int64_t argmax_valid(const float* xb, const int32_t* mk, int64_t T, int64_t C, int64_t c) {
  int64_t best = -1;
  for (int64_t t = 0; t < T; t++) {
    if (mk && !mk[t]) continue;
    if (best < 0 || xb[t * C + c] > xb[best * C + c]) best = t;
  }
  return best;
}
}  // namespace

void pool_forward(float* out, float* pooled, float* norm, const float* x, const int32_t* mask,
                  int64_t B, int64_t T, int64_t C, const PoolModes& pooling, bool normalize) {
  const int64_t D = pooling.n * C;
  std::vector<double> acc(C);
  for (int64_t b = 0; b < B; b++) {
    const int32_t* mk = mask ? mask + b * T : nullptr;
    const float* xb = x + b * T * C;
    for (int k = 0; k < pooling.n; k++) {
      const int mode = pooling.mode[k];
      float* e = pooled + b * D + k * C;
      if (mode == kPoolCls) {
        std::memcpy(e, xb, sizeof(float) * C);
      } else if (mode == kPoolLastToken) {
        const int64_t t = last_valid(mk, T);
        if (t >= 0) std::memcpy(e, xb + t * C, sizeof(float) * C);
        else std::memset(e, 0, sizeof(float) * C);
      } else if (mode == kPoolMax) {
        for (int64_t c = 0; c < C; c++) {
          const int64_t t = argmax_valid(xb, mk, T, C, c);
          e[c] = t >= 0 ? xb[t * C + c] : 0.0f;
        }
      } else {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < T; t++) {
          const double w = pool_weight(mode, mk, t);
          if (w == 0) continue;
          const float* row = xb + t * C;
          for (int64_t c = 0; c < C; c++) acc[c] += w * row[c];
        }
        const double div = pool_divisor(mode, mk, T);
        const double inv = div > 0 ? 1.0 / div : 0.0;
        for (int64_t c = 0; c < C; c++) e[c] = static_cast<float>(acc[c] * inv);
      }
    }
    const float* e = pooled + b * D;
    double s = 0;
    for (int64_t c = 0; c < D; c++) s += static_cast<double>(e[c]) * e[c];
    norm[b] = static_cast<float>(std::max(std::sqrt(s), 1e-12));
    float* o = out + b * D;
    if (normalize) {
      const float inv = 1.0f / norm[b];
      for (int64_t c = 0; c < D; c++) o[c] = e[c] * inv;
    } else {
      std::memcpy(o, e, sizeof(float) * D);
    }
  }
}

void pool_backward(float* dx, const float* dout, const float* out, const float* norm, const float* x,
                   const int32_t* mask, int64_t B, int64_t T, int64_t C, const PoolModes& pooling,
                   bool normalize) {
  const int64_t D = pooling.n * C;
  std::memset(dx, 0, sizeof(float) * B * T * C);
  std::vector<float> dall(D);
  for (int64_t b = 0; b < B; b++) {
    const float* d = dout + b * D;
    const int32_t* mk = mask ? mask + b * T : nullptr;
    float* dxb = dx + b * T * C;
    if (normalize) {
      // y = e/|e|  →  de = (dy − y·(y·dy)) / |e|
      const float* y = out + b * D;
      double yd = 0;
      for (int64_t c = 0; c < D; c++) yd += static_cast<double>(y[c]) * d[c];
      const float inv = 1.0f / norm[b];
      for (int64_t c = 0; c < D; c++) dall[c] = (d[c] - y[c] * static_cast<float>(yd)) * inv;
    } else {
      std::memcpy(dall.data(), d, sizeof(float) * D);
    }
    // every mode adds its part (dx starts at 0, so a single mode's values are exactly its own)
    for (int k = 0; k < pooling.n; k++) {
      const int mode = pooling.mode[k];
      const float* de = dall.data() + k * C;
      if (mode == kPoolCls) {
        for (int64_t c = 0; c < C; c++) dxb[c] += de[c];
      } else if (mode == kPoolLastToken) {
        const int64_t t = last_valid(mk, T);
        if (t >= 0) {
          for (int64_t c = 0; c < C; c++) dxb[t * C + c] += de[c];
        }
      } else if (mode == kPoolMax) {
        const float* xb = x + b * T * C;
        for (int64_t c = 0; c < C; c++) {
          const int64_t t = argmax_valid(xb, mk, T, C, c);
          if (t >= 0) dxb[t * C + c] += de[c];
        }
      } else {
        const double div = pool_divisor(mode, mk, T);
        if (div == 0) continue;
        for (int64_t t = 0; t < T; t++) {
          const double w = pool_weight(mode, mk, t);
          if (w == 0) continue;
          const float f = static_cast<float>(w / div);
          float* row = dxb + t * C;
          for (int64_t c = 0; c < C; c++) row[c] += de[c] * f;
        }
      }
    }
  }
}

}  // namespace bert
}  // namespace st

namespace st {
namespace bert {

// ---- attention per (sequence, head), AVX-512 --------------------------------------------------
// The fast path of attention_forward / attention_infer / attention_backward when the CPU has
// AVX-512 and hs is a multiple of 16 up to 64. Same arithmetic as the st::sgemm calls it replaces
// (one accumulator per output, the reduction index in order, alpha applied last), so results are
// bit-identical to them, but no packing: q, k, v, dout and dqkv are read and written at their
// strides, and the only copy is one (hs, L) transpose per head.

namespace {
#ifdef ST_GELU_X86
inline __mmask16 tail_mask(int64_t n) {  // the first min(n, 16) lanes, n ≥ 1
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Rows i0 .. i0+R of R (row stride rs), columns j0 .. j0+16·NCH (the last chunk masked to L):
// alpha · Σ_d X[i, d] · YT[d, j].
template <int R, int NCH>
ST_G_AVX512 void att_xyt_tile(float* Rm, int64_t rs, const float* X, int64_t xs, const float* YT,
                              int64_t ldy, int64_t i0, int64_t j0, int64_t L, int64_t hs, float alpha) {
  __m512 acc[R][NCH];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++) acc[r][c] = _mm512_setzero_ps();
  for (int64_t d = 0; d < hs; d++) {
    const float* y = YT + d * ldy + j0;
    __m512 yv[NCH];
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++) yv[c] = _mm512_loadu_ps(y + 16 * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const __m512 xb = _mm512_set1_ps(X[(i0 + r) * xs + d]);
#pragma GCC unroll 8
      for (int c = 0; c < NCH; c++) acc[r][c] = _mm512_fmadd_ps(xb, yv[c], acc[r][c]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++)
      _mm512_mask_storeu_ps(Rm + (i0 + r) * rs + j0 + 16 * c, tail_mask(L - j0 - 16 * c),
                            _mm512_mul_ps(va, acc[r][c]));
}

template <int R>
ST_G_AVX512 void att_xyt_rows(float* Rm, int64_t rs, const float* X, int64_t xs, const float* YT,
                              int64_t ldy, int64_t i0, int64_t L, int64_t hs, float alpha) {
  for (int64_t j0 = 0; j0 < L; j0 += 64) {
    switch ((std::min<int64_t>(64, L - j0) + 15) / 16) {
      case 1: att_xyt_tile<R, 1>(Rm, rs, X, xs, YT, ldy, i0, j0, L, hs, alpha); break;
      case 2: att_xyt_tile<R, 2>(Rm, rs, X, xs, YT, ldy, i0, j0, L, hs, alpha); break;
      case 3: att_xyt_tile<R, 3>(Rm, rs, X, xs, YT, ldy, i0, j0, L, hs, alpha); break;
      default: att_xyt_tile<R, 4>(Rm, rs, X, xs, YT, ldy, i0, j0, L, hs, alpha); break;
    }
  }
}

// R (rows, L; row stride rs) = alpha · X (rows, hs; stride xs) · Yᵀ, YT = Yᵀ (hs, ldy) with
// ldy ≥ round_up(L, 16) (columns ≥ L are read, never stored).
ST_G_AVX512 void att_xyt(float* Rm, int64_t rs, const float* X, int64_t xs, const float* YT,
                         int64_t ldy, int64_t rows, int64_t L, int64_t hs, float alpha) {
  int64_t i = 0;
  for (; i + 6 <= rows; i += 6) att_xyt_rows<6>(Rm, rs, X, xs, YT, ldy, i, L, hs, alpha);
  for (; i < rows; i++) att_xyt_rows<1>(Rm, rs, X, xs, YT, ldy, i, L, hs, alpha);
}

// Z[r, 0..16·NCH) (row stride zs) = Σ_{c<K} A[r·ar + c·ac] · Y[c·ys + 0..16·NCH), rows r0..r0+R.
// kAdjacent: ar == 1 (A stored transposed: the R values of one k step side by side).
template <int R, int NCH, bool kAdjacent>
ST_G_AVX512 void att_ay_tile(float* Z, int64_t zs, const float* A, int64_t ar, int64_t ac,
                             const float* Y, int64_t ys, int64_t r0, int64_t K) {
  __m512 acc[R][NCH];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++) acc[r][c] = _mm512_setzero_ps();
  const float* a = A + r0 * ar;
  for (int64_t k = 0; k < K; k++) {
    const float* y = Y + k * ys;
    __m512 yv[NCH];
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++) yv[c] = _mm512_loadu_ps(y + 16 * c);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const __m512 ab = _mm512_set1_ps(kAdjacent ? a[k * ac + r] : a[r * ar + k * ac]);
#pragma GCC unroll 8
      for (int c = 0; c < NCH; c++) acc[r][c] = _mm512_fmadd_ps(ab, yv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int c = 0; c < NCH; c++) _mm512_storeu_ps(Z + (r0 + r) * zs + 16 * c, acc[r][c]);
}

// Rows in tiles: with A's rows adjacent, RB·NCH accumulators + NCH loads of Y fill the 32 zmm
// (as the GEMM's 14 x 32); with A row-major, 6 rows (one pointer each); then single rows.
template <int NCH>
ST_G_AVX512 void att_ay_n(float* Z, int64_t zs, const float* A, int64_t ar, int64_t ac,
                          const float* Y, int64_t ys, int64_t rows, int64_t K) {
  int64_t r = 0;
  if (ar == 1) {
    constexpr int RB = NCH <= 2 ? 14 : NCH == 3 ? 9 : 7;
    for (; r + RB <= rows; r += RB) att_ay_tile<RB, NCH, true>(Z, zs, A, 1, ac, Y, ys, r, K);
    for (; r + 4 <= rows; r += 4) att_ay_tile<4, NCH, true>(Z, zs, A, 1, ac, Y, ys, r, K);
    for (; r < rows; r++) att_ay_tile<1, NCH, true>(Z, zs, A, 1, ac, Y, ys, r, K);
    return;
  }
  for (; r + 6 <= rows; r += 6) att_ay_tile<6, NCH, false>(Z, zs, A, ar, ac, Y, ys, r, K);
  for (; r < rows; r++) att_ay_tile<1, NCH, false>(Z, zs, A, ar, ac, Y, ys, r, K);
}

// Z (rows, hs; row stride zs) = A · Y with A(r, c) = A[r·ar + c·ac] (c < K), Y (K, hs; stride ys).
ST_G_AVX512 void att_ay(float* Z, int64_t zs, const float* A, int64_t ar, int64_t ac, const float* Y,
                        int64_t ys, int64_t rows, int64_t K, int64_t hs) {
  switch (hs / 16) {
    case 1: att_ay_n<1>(Z, zs, A, ar, ac, Y, ys, rows, K); break;
    case 2: att_ay_n<2>(Z, zs, A, ar, ac, Y, ys, rows, K); break;
    case 3: att_ay_n<3>(Z, zs, A, ar, ac, Y, ys, rows, K); break;
    default: att_ay_n<4>(Z, zs, A, ar, ac, Y, ys, rows, K); break;
  }
}
#endif
}  // namespace

#ifdef ST_GELU_X86
ST_G_AVX512 static void ln_forward_avx512(float* out, float* mean, float* rstd, const float* inp,
                                          const float* w, const float* b, int64_t n0, int64_t n1,
                                          int64_t C, float eps) {
  for (int64_t n = n0; n < n1; n++) {
    const float* x = inp + n * C;
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t c = 0; c < C; c += 16) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail_mask(C - c), x + c);  // masked lanes add 0
      s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(xv)));
      s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xv), 1))));
    }
    const double m = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / static_cast<double>(C);
    const __m512d md = _mm512_set1_pd(m);
    __m512d v0 = _mm512_setzero_pd(), v1 = _mm512_setzero_pd();
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = tail_mask(C - c);
      const __m512 xv = _mm512_maskz_loadu_ps(k, x + c);
      const __m512d d0 = _mm512_maskz_sub_pd(static_cast<__mmask8>(k), _mm512_cvtps_pd(_mm512_castps512_ps256(xv)), md);
      const __m512d d1 = _mm512_maskz_sub_pd(static_cast<__mmask8>(k >> 8),
                                             _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xv), 1))), md);
      v0 = _mm512_fmadd_pd(d0, d0, v0);
      v1 = _mm512_fmadd_pd(d1, d1, v1);
    }
    const double var = _mm512_reduce_add_pd(_mm512_add_pd(v0, v1)) / static_cast<double>(C);
    const float r = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float mf = static_cast<float>(m);
    const __m512 mv = _mm512_set1_ps(mf), rv = _mm512_set1_ps(r);
    float* o = out + n * C;
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = tail_mask(C - c);
      const __m512 nh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), mv), rv);
      _mm512_mask_storeu_ps(o + c, k, _mm512_fmadd_ps(nh, _mm512_maskz_loadu_ps(k, w + c), _mm512_maskz_loadu_ps(k, b + c)));
    }
    mean[n] = mf;
    rstd[n] = r;
  }
}

ST_G_AVX512 static void ln_backward_avx512(float* dinp, const float* dout, const float* inp,
                                           const float* mean, const float* rstd, const float* w,
                                           int64_t n0, int64_t n1, int64_t C) {
  for (int64_t n = n0; n < n1; n++) {
    const float* x = inp + n * C;
    const float* d = dout + n * C;
    const __m512 mv = _mm512_set1_ps(mean[n]), rv = _mm512_set1_ps(rstd[n]);
    __m512 gs = _mm512_setzero_ps(), gns = _mm512_setzero_ps();
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = tail_mask(C - c);
      const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + c), _mm512_maskz_loadu_ps(k, d + c));
      const __m512 nh = _mm512_mul_ps(_mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + c), mv), rv);
      gs = _mm512_add_ps(gs, g);
      gns = _mm512_fmadd_ps(g, nh, gns);
    }
    const __m512 gm = _mm512_set1_ps(_mm512_reduce_add_ps(gs) / static_cast<float>(C));
    const __m512 gnm = _mm512_set1_ps(_mm512_reduce_add_ps(gns) / static_cast<float>(C));
    float* dx = dinp + n * C;
    for (int64_t c = 0; c < C; c += 16) {
      const __mmask16 k = tail_mask(C - c);
      const __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w + c), _mm512_maskz_loadu_ps(k, d + c));
      const __m512 nh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), mv), rv);
      _mm512_mask_storeu_ps(dx + c, k, _mm512_mul_ps(rv, _mm512_fnmadd_ps(nh, gnm, _mm512_sub_ps(g, gm))));
    }
  }
}
#endif

bool layernorm_rows_fast() {
#ifdef ST_GELU_X86
  return cpu::simd_level() == cpu::kAvx512;
#else
  return false;
#endif
}

void layernorm_forward_rows(float* out, float* mean, float* rstd, const float* inp, const float* w,
                            const float* b, int64_t n0, int64_t n1, int64_t C, float eps) {
#ifdef ST_GELU_X86
  ln_forward_avx512(out, mean, rstd, inp, w, b, n0, n1, C, eps);
#else
  (void)out, (void)mean, (void)rstd, (void)inp, (void)w, (void)b, (void)n0, (void)n1, (void)C, (void)eps;
#endif
}

void layernorm_backward_rows(float* dinp, const float* dout, const float* inp, const float* mean,
                             const float* rstd, const float* w, int64_t n0, int64_t n1, int64_t C) {
#ifdef ST_GELU_X86
  ln_backward_avx512(dinp, dout, inp, mean, rstd, w, n0, n1, C);
#else
  (void)dinp, (void)dout, (void)inp, (void)mean, (void)rstd, (void)w, (void)n0, (void)n1, (void)C;
#endif
}

bool attention_rows_layout(int64_t hs) {
#ifdef ST_GELU_X86
  return cpu::simd_level() == cpu::kAvx512 && hs % 16 == 0 && hs >= 16 && hs <= 64;
#else
  (void)hs;
  return false;
#endif
}

// YT (hs, ldy) = Yᵀ for Y (L, hs; row stride ys), ldy = round_up(L, 16), columns L..ldy zeroed.
void att_transpose(float* YT, const float* Y, int64_t ys, int64_t L, int64_t hs) {
  const int64_t ldy = round_up16(L);
  for (int64_t d = 0; d < hs; d++) {
    float* dst = YT + d * ldy;
    for (int64_t j = 0; j < L; j++) dst[j] = Y[j * ys + d];
    for (int64_t j = L; j < ldy; j++) dst[j] = 0.0f;
  }
}

void att_scores(float* Rm, int64_t rs, const float* X, int64_t xs, const float* YT, int64_t rows,
                int64_t L, int64_t hs, float alpha) {
#ifdef ST_GELU_X86
  att_xyt(Rm, rs, X, xs, YT, round_up16(L), rows, L, hs, alpha);
#else
  (void)Rm, (void)rs, (void)X, (void)xs, (void)YT, (void)rows, (void)L, (void)hs, (void)alpha;
#endif
}

void att_weighted(float* Z, int64_t zs, const float* A, int64_t ar, int64_t ac, const float* Y,
                  int64_t ys, int64_t rows, int64_t K, int64_t hs) {
#ifdef ST_GELU_X86
  att_ay(Z, zs, A, ar, ac, Y, ys, rows, K, hs);
#else
  (void)Z, (void)zs, (void)A, (void)ar, (void)ac, (void)Y, (void)ys, (void)rows, (void)K, (void)hs;
#endif
}

}  // namespace bert
}  // namespace st
