// synthtune CPU backend: training kernels of the static student and the optimizer.
//
//   embedding_bag_forward   out[b] = mean of E[ids[offsets[b] .. offsets[b+1])]    (0 when empty)
//   embedding_bag_backward  gradE[id] += dOut[b] / L_b   for every token of every text
//   adam_rows               lazy row-wise Adam/AdamW (lib/training/optim.ts)
//
// Bit-for-bit the arithmetic of the TypeScript references (lib/kernels/train-reference.ts),
// which do what JavaScript does: float32 loads, double arithmetic, a float32 rounding on every
// store. So:
//   - forward sums rows in float32 (a float32 + float32 in double, rounded to float32, is the
//     float32 sum), in token order, then multiplies by the double 1/L and rounds;
//   - backward computes f32(double(g) + (1/L) * double(d)) per element, b then t;
//   - adam_rows is the whole update in double, m and v rounded when stored, x rounded at the end.
// Hence no FMA contraction anywhere in this file (an FMA rounds once where JavaScript rounds
// twice): the pragma below switches it off for every function, the SIMD ones included (their
// target attributes enable FMA instructions, and GCC would otherwise fuse mul + add).
//
// Parallelism keeps results independent of the thread count: forward splits texts (each output
// row is written by one task); backward splits the columns of D (each element of gradE sees the
// same b-then-t order as a sequential loop); adam_rows splits rows / element ranges, which are
// disjoint (rows must be distinct, checked).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
// GCC 12 false positive in its own _mm512_cvtps_pd / _mm512_cvtpd_ps (PR 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../kernels.h"
#include "threadpool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ST_EMB_X86 1
#define ST_EMB_AVX2 __attribute__((target("avx2")))
#define ST_EMB_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2")))
#endif

namespace st {
namespace cpu {
namespace {

// ---- row primitives ---------------------------------------------------------------------------
// y[0:n) += x[0:n)                                 (float32 adds)
// y[0:n) = f32(double(y) * a)
// y[0:n) = f32(double(y) + a * double(x))
// adam(x, g, m, v, n, k)                           (see AdamConsts)

struct AdamConsts {
  double lr, b1, b2, eps, c1, c2, l2, decoupled, a1, a2;
};

inline void adam_one(float* x, const float* g, float* m, float* v, int64_t i, const AdamConsts& k) {
  const double xi = x[i];
  const double gi = static_cast<double>(g[i]) + k.l2 * xi;
  const double mi = k.b1 * static_cast<double>(m[i]) + k.a1 * gi;
  const double vi = k.b2 * static_cast<double>(v[i]) + k.a2 * gi * gi;
  m[i] = static_cast<float>(mi);
  v[i] = static_cast<float>(vi);
  const double upd = (k.lr * (mi * k.c1)) / (std::sqrt(vi * k.c2) + k.eps);
  x[i] = static_cast<float>((xi - k.decoupled * xi) - upd);
}

void add_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}
void scale_scalar(float* y, double a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) * a);
}
void axpy_scalar(float* y, const float* x, double a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + a * static_cast<double>(x[i]));
}
void adam_scalar(float* x, const float* g, float* m, float* v, int64_t n, const AdamConsts& k) {
  for (int64_t i = 0; i < n; i++) adam_one(x, g, m, v, i, k);
}

#ifdef ST_EMB_X86
ST_EMB_AVX2 void add_avx2(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    _mm256_storeu_ps(y + i + 8, _mm256_add_ps(_mm256_loadu_ps(y + i + 8), _mm256_loadu_ps(x + i + 8)));
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  for (; i < n; i++) y[i] += x[i];
}
ST_EMB_AVX2 void scale_avx2(float* y, double a, int64_t n) {
  const __m256d va = _mm256_set1_pd(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d d = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(y + i)), va);
    _mm_storeu_ps(y + i, _mm256_cvtpd_ps(d));
  }
  for (; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) * a);
}
ST_EMB_AVX2 void axpy_avx2(float* y, const float* x, double a, int64_t n) {
  const __m256d va = _mm256_set1_pd(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d p = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), va);
    __m256d s = _mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(y + i)), p);
    _mm_storeu_ps(y + i, _mm256_cvtpd_ps(s));
  }
  for (; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + a * static_cast<double>(x[i]));
}
ST_EMB_AVX2 void adam_avx2(float* x, const float* g, float* m, float* v, int64_t n, const AdamConsts& k) {
  const __m256d lr = _mm256_set1_pd(k.lr), b1 = _mm256_set1_pd(k.b1), b2 = _mm256_set1_pd(k.b2);
  const __m256d eps = _mm256_set1_pd(k.eps), c1 = _mm256_set1_pd(k.c1), c2 = _mm256_set1_pd(k.c2);
  const __m256d l2 = _mm256_set1_pd(k.l2), dec = _mm256_set1_pd(k.decoupled);
  const __m256d a1 = _mm256_set1_pd(k.a1), a2 = _mm256_set1_pd(k.a2);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256d xi = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    const __m256d gi = _mm256_add_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + i)), _mm256_mul_pd(l2, xi));
    const __m256d mi = _mm256_add_pd(_mm256_mul_pd(b1, _mm256_cvtps_pd(_mm_loadu_ps(m + i))), _mm256_mul_pd(a1, gi));
    const __m256d vi = _mm256_add_pd(_mm256_mul_pd(b2, _mm256_cvtps_pd(_mm_loadu_ps(v + i))),
                                     _mm256_mul_pd(_mm256_mul_pd(a2, gi), gi));
    _mm_storeu_ps(m + i, _mm256_cvtpd_ps(mi));
    _mm_storeu_ps(v + i, _mm256_cvtpd_ps(vi));
    const __m256d upd = _mm256_div_pd(_mm256_mul_pd(lr, _mm256_mul_pd(mi, c1)),
                                      _mm256_add_pd(_mm256_sqrt_pd(_mm256_mul_pd(vi, c2)), eps));
    const __m256d xn = _mm256_sub_pd(_mm256_sub_pd(xi, _mm256_mul_pd(dec, xi)), upd);
    _mm_storeu_ps(x + i, _mm256_cvtpd_ps(xn));
  }
  for (; i < n; i++) adam_one(x, g, m, v, i, k);
}

ST_EMB_AVX512 void add_avx512(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
    _mm512_storeu_ps(y + i + 16, _mm512_add_ps(_mm512_loadu_ps(y + i + 16), _mm512_loadu_ps(x + i + 16)));
  }
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 mk = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, y + i), _mm512_maskz_loadu_ps(mk, x + i)));
  }
}
ST_EMB_AVX512 void scale_avx512(float* y, double a, int64_t n) {
  const __m512d va = _mm512_set1_pd(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d d = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(y + i)), va);
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(d));
  }
  for (; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) * a);
}
ST_EMB_AVX512 void axpy_avx512(float* y, const float* x, double a, int64_t n) {
  const __m512d va = _mm512_set1_pd(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d p = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), va);
    __m512d s = _mm512_add_pd(_mm512_cvtps_pd(_mm256_loadu_ps(y + i)), p);
    _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(s));
  }
  for (; i < n; i++) y[i] = static_cast<float>(static_cast<double>(y[i]) + a * static_cast<double>(x[i]));
}
ST_EMB_AVX512 void adam_avx512(float* x, const float* g, float* m, float* v, int64_t n, const AdamConsts& k) {
  const __m512d lr = _mm512_set1_pd(k.lr), b1 = _mm512_set1_pd(k.b1), b2 = _mm512_set1_pd(k.b2);
  const __m512d eps = _mm512_set1_pd(k.eps), c1 = _mm512_set1_pd(k.c1), c2 = _mm512_set1_pd(k.c2);
  const __m512d l2 = _mm512_set1_pd(k.l2), dec = _mm512_set1_pd(k.decoupled);
  const __m512d a1 = _mm512_set1_pd(k.a1), a2 = _mm512_set1_pd(k.a2);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512d xi = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    const __m512d gi = _mm512_add_pd(_mm512_cvtps_pd(_mm256_loadu_ps(g + i)), _mm512_mul_pd(l2, xi));
    const __m512d mi = _mm512_add_pd(_mm512_mul_pd(b1, _mm512_cvtps_pd(_mm256_loadu_ps(m + i))), _mm512_mul_pd(a1, gi));
    const __m512d vi = _mm512_add_pd(_mm512_mul_pd(b2, _mm512_cvtps_pd(_mm256_loadu_ps(v + i))),
                                     _mm512_mul_pd(_mm512_mul_pd(a2, gi), gi));
    _mm256_storeu_ps(m + i, _mm512_cvtpd_ps(mi));
    _mm256_storeu_ps(v + i, _mm512_cvtpd_ps(vi));
    const __m512d upd = _mm512_div_pd(_mm512_mul_pd(lr, _mm512_mul_pd(mi, c1)),
                                      _mm512_add_pd(_mm512_sqrt_pd(_mm512_mul_pd(vi, c2)), eps));
    const __m512d xn = _mm512_sub_pd(_mm512_sub_pd(xi, _mm512_mul_pd(dec, xi)), upd);
    _mm256_storeu_ps(x + i, _mm512_cvtpd_ps(xn));
  }
  for (; i < n; i++) adam_one(x, g, m, v, i, k);
}
#endif

struct RowOps {
  void (*add)(float*, const float*, int64_t);
  void (*scale)(float*, double, int64_t);
  void (*axpy)(float*, const float*, double, int64_t);
  void (*adam)(float*, const float*, float*, float*, int64_t, const AdamConsts&);
};

const RowOps& row_ops() {
  static const RowOps ops = [] {
#ifdef ST_EMB_X86
    switch (simd_level()) {
      case kAvx512: return RowOps{add_avx512, scale_avx512, axpy_avx512, adam_avx512};
      case kAvx2: return RowOps{add_avx2, scale_avx2, axpy_avx2, adam_avx2};
      default: break;
    }
#endif
    return RowOps{add_scalar, scale_scalar, axpy_scalar, adam_scalar};
  }();
  return ops;
}

// Work below this many float operations runs on the calling thread (the pool's hand-off costs
// a few microseconds).
constexpr int64_t kSerialWork = 1 << 15;

int workers(int threads) {
  return threads > 0 ? threads : ThreadPool::global().default_threads();
}

// Checks the CSR layout and every id; "" when fine.
std::string check_csr(const int32_t* ids, int64_t T, const int32_t* offsets, int64_t B, int64_t V) {
  if (B < 1) return "embedding bag: B must be >= 1";
  if (T < 0) return "embedding bag: T must be >= 0";
  if (T > 0 && ids == nullptr) return "embedding bag: ids is null";
  if (offsets == nullptr) return "embedding bag: offsets is null";
  if (offsets[0] != 0) return "offsets[0] must be 0";
  for (int64_t b = 0; b < B; b++) {
    if (offsets[b + 1] < offsets[b]) return "offsets must be non-decreasing (offsets[" + std::to_string(b + 1) + "] < offsets[" + std::to_string(b) + "])";
  }
  if (static_cast<int64_t>(offsets[B]) != T) return "offsets[B] must equal ids.length (" + std::to_string(T) + ")";
  for (int64_t t = 0; t < T; t++) {
    const int32_t id = ids[t];
    if (id < 0 || static_cast<int64_t>(id) >= V) {
      return "ids[" + std::to_string(t) + "] = " + std::to_string(id) + " is outside [0, V=" + std::to_string(V) + ")";
    }
  }
  return std::string();
}

}  // namespace
}  // namespace cpu

std::string embedding_bag_forward(const float* E, int64_t V, int64_t D, const int32_t* ids, int64_t T,
                                  const int32_t* offsets, int64_t B, float* out, int threads) {
  using namespace cpu;
  if (V < 1 || D < 1) return "embedding bag: V and D must be >= 1";
  if (!E || !out) return "embedding bag: null buffer";
  std::string err = check_csr(ids, T, offsets, B, V);
  if (!err.empty()) return err;
  const RowOps& ops = row_ops();
  auto text = [&](int64_t b) {
    float* o = out + b * D;
    std::memset(o, 0, static_cast<size_t>(D) * sizeof(float));
    const int64_t t0 = offsets[b], t1 = offsets[b + 1];
    if (t1 == t0) return;
    for (int64_t t = t0; t < t1; t++) ops.add(o, E + static_cast<int64_t>(ids[t]) * D, D);
    ops.scale(o, 1.0 / static_cast<double>(t1 - t0), D);
  };
  const int nw = workers(threads);
  if (nw <= 1 || B == 1 || (T + B) * D < kSerialWork) {
    for (int64_t b = 0; b < B; b++) text(b);
    return std::string();
  }
  // Tasks of consecutive texts; dynamic hand-out balances unequal lengths.
  const int64_t n_tasks = std::min<int64_t>(B, static_cast<int64_t>(nw) * 8);
  parallel_for(n_tasks, threads, [&](int64_t task, int) {
    const int64_t b0 = B * task / n_tasks, b1 = B * (task + 1) / n_tasks;
    for (int64_t b = b0; b < b1; b++) text(b);
  });
  return std::string();
}

std::string embedding_bag_backward(const float* dOut, const int32_t* ids, int64_t T, const int32_t* offsets,
                                   int64_t B, int64_t D, float* gradE, int64_t V, int threads) {
  using namespace cpu;
  if (V < 1 || D < 1) return "embedding bag: V and D must be >= 1";
  if (!dOut || !gradE) return "embedding bag: null buffer";
  std::string err = check_csr(ids, T, offsets, B, V);
  if (!err.empty()) return err;
  const RowOps& ops = row_ops();
  // Columns [c0, c1) of every update, in b-then-t order: per element, the sequential order.
  auto columns = [&](int64_t c0, int64_t c1) {
    for (int64_t b = 0; b < B; b++) {
      const int64_t t0 = offsets[b], t1 = offsets[b + 1];
      if (t1 == t0) continue;
      const double s = 1.0 / static_cast<double>(t1 - t0);
      const float* d = dOut + b * D + c0;
      for (int64_t t = t0; t < t1; t++) ops.axpy(gradE + static_cast<int64_t>(ids[t]) * D + c0, d, s, c1 - c0);
    }
  };
  const int nw = workers(threads);
  const int64_t blocks16 = (D + 15) / 16;
  if (nw <= 1 || blocks16 < 2 || T * D < kSerialWork) {
    columns(0, D);
    return std::string();
  }
  // Column ranges in multiples of 16 floats (64 bytes: no two tasks share a cache line of a row).
  const int64_t n_tasks = std::min<int64_t>(blocks16, nw);
  parallel_for(n_tasks, threads, [&](int64_t task, int) {
    const int64_t c0 = std::min(D, blocks16 * task / n_tasks * 16);
    const int64_t c1 = std::min(D, blocks16 * (task + 1) / n_tasks * 16);
    if (c1 > c0) columns(c0, c1);
  });
  return std::string();
}

std::string adam_rows(float* x, const float* g, float* m, float* v, int64_t n, int64_t width,
                      const int32_t* rows, int64_t n_rows, double lr, double b1, double b2, double eps,
                      double c1, double c2, double l2, double decoupled, int threads) {
  using namespace cpu;
  if (n < 1 || width < 1) return "adam: n and width must be >= 1";
  if (n % width != 0) return "adam: width must divide the parameter length";
  if (!x || !g || !m || !v) return "adam: null buffer";
  const int64_t total_rows = n / width;
  if (rows) {
    if (n_rows < 0) return "adam: n_rows must be >= 0";
    // Every row in range and distinct (parallel tasks must not share a row).
    std::vector<uint8_t> seen(static_cast<size_t>(total_rows), 0);
    for (int64_t i = 0; i < n_rows; i++) {
      const int32_t r = rows[i];
      if (r < 0 || static_cast<int64_t>(r) >= total_rows) {
        return "rows[" + std::to_string(i) + "] = " + std::to_string(r) + " is outside [0, " + std::to_string(total_rows) + ")";
      }
      if (seen[r]) return "rows[" + std::to_string(i) + "] = " + std::to_string(r) + " is repeated (rows must be distinct)";
      seen[r] = 1;
    }
  }
  const AdamConsts k{lr, b1, b2, eps, c1, c2, l2, decoupled, 1.0 - b1, 1.0 - b2};
  const RowOps& ops = row_ops();
  const int nw = workers(threads);
  if (!rows) {
    // The whole tensor: element chunks (multiples of 16).
    const int64_t chunk = 16384;
    const int64_t n_tasks = (n + chunk - 1) / chunk;
    if (nw <= 1 || n_tasks == 1) {
      ops.adam(x, g, m, v, n, k);
      return std::string();
    }
    parallel_for(n_tasks, threads, [&](int64_t task, int) {
      const int64_t s = task * chunk, e = std::min(n, s + chunk);
      ops.adam(x + s, g + s, m + s, v + s, e - s, k);
    });
    return std::string();
  }
  auto row_range = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const int64_t s = static_cast<int64_t>(rows[i]) * width;
      ops.adam(x + s, g + s, m + s, v + s, width, k);
    }
  };
  if (nw <= 1 || n_rows * width < kSerialWork) {
    row_range(0, n_rows);
    return std::string();
  }
  const int64_t rows_per_task = std::max<int64_t>(1, 16384 / width);
  const int64_t n_tasks = (n_rows + rows_per_task - 1) / rows_per_task;
  parallel_for(n_tasks, threads, [&](int64_t task, int) {
    row_range(task * rows_per_task, std::min(n_rows, (task + 1) * rows_per_task));
  });
  return std::string();
}

}  // namespace st
