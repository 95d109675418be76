// synthtune CUDA backend: standalone correctness check (no Node).
//
// Compares st::cuda_sgemm and st::cuda_topk_ip against naive CPU references on awkward shapes:
// sizes 1 / 7 / 129, D not a multiple of 16, k > N, k up to 20000 (shared-memory, opt-in
// shared-memory and global-memory selection paths), CSR exclusions (with out-of-range and
// duplicate ids), many exact ties (integer-valued data), several corpus blocks and query tiles,
// alpha/beta variants (beta == 0 with NaN in C, alpha == 0 with NaN in A/B, K == 0).
//
// Exit status: 0 all passed, 1 a check failed, 77 skipped (no CUDA device / driver).
//
// Build and run (from the repository root):
//   nvcc -std=c++17 -O3 -arch=sm_80 -gencode arch=compute_90,code=sm_90 -Inative \
//        -DSYNTHTUNE_CUDA native/cuda/tests/cuda_check.cu native/cuda/device.cu \
//        native/cuda/matmul.cu native/cuda/topk.cu -o build-cuda/cuda_check && build-cuda/cuda_check
// or, after `npm run build:cuda`:
//   cmake --build build-cuda --target cuda_check && build-cuda/cuda_check
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cuda/tests/check.cuh"
#include "kernels.h"

namespace {

std::mt19937_64 rng(12345);

std::vector<float> random_floats(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
// Small integers: every dot product is exact in fp32, so ties are exact and reproducible.
std::vector<float> random_ints(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = float(d(rng));
  return v;
}

// ---- sgemm ----------------------------------------------------------------------------------
void check_sgemm(bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  std::printf("sgemm trans_b=%d B=%lld M=%lld N=%lld K=%lld alpha=%g beta=%g\n", int(trans_b), (long long)batch,
              (long long)M, (long long)N, (long long)K, alpha, beta);
  std::vector<float> A = random_floats(size_t(batch * M * K));
  std::vector<float> B = random_floats(size_t(batch * K * N));
  std::vector<float> C0 = random_floats(size_t(batch * M * N));
  if (alpha == 0.0f) {  // A and B must not be read
    std::fill(A.begin(), A.end(), NAN);
    std::fill(B.begin(), B.end(), NAN);
  }
  std::vector<float> C = C0;
  if (beta == 0.0f) std::fill(C.begin(), C.end(), NAN);  // must be ignored
  std::string err = st::cuda_sgemm(trans_b, batch, M, N, K, alpha, A.data(), B.data(), beta, C.data());
  CHECK(err.empty(), "cuda_sgemm returned error: %s", err.c_str());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0, mag = 0;
        if (alpha != 0.0f) {
          for (int64_t p = 0; p < K; ++p) {
            const double a = A[size_t(b * M * K + i * K + p)];
            const double bv = trans_b ? B[size_t(b * N * K + j * K + p)] : B[size_t(b * K * N + p * N + j)];
            acc += a * bv;
            mag += std::fabs(a * bv);
          }
        }
        const double c0 = C0[size_t(b * M * N + i * N + j)];
        const double ref = double(alpha) * acc + (beta != 0.0f ? double(beta) * c0 : 0.0);
        const double scale = std::fabs(alpha) * mag + std::fabs(beta) * std::fabs(c0) + 1e-6;
        const double got = C[size_t(b * M * N + i * N + j)];
        CHECK(std::isfinite(got) && std::fabs(got - ref) <= 1e-4 * scale,
              "C[%lld][%lld][%lld] = %.9g, expected %.9g", (long long)b, (long long)i, (long long)j, got, ref);
      }
}

// ---- top-k ----------------------------------------------------------------------------------
struct Excl {
  std::vector<int32_t> off, ids;
};

Excl make_exclusions(int64_t Q, int64_t N, int per_query) {
  Excl e;
  e.off.push_back(0);
  std::uniform_int_distribution<int64_t> d(0, std::max<int64_t>(0, N - 1));
  for (int64_t q = 0; q < Q; ++q) {
    const int n = int(q % (per_query + 1));
    for (int i = 0; i < n; ++i) e.ids.push_back(int32_t(d(rng)));
    if (q % 3 == 0) {  // ignored ids, and a duplicate
      e.ids.push_back(-1);
      e.ids.push_back(int32_t(std::min<int64_t>(N + 5, INT32_MAX)));
      if (n > 0) e.ids.push_back(e.ids[e.ids.size() - 3]);  // the last in-range id again
    }
    e.off.push_back(int32_t(e.ids.size()));
  }
  return e;
}

// exact: data are small integers (scores exact in fp32 on both sides): indices and scores must
// match the reference exactly, ties included. Otherwise: tolerance-based checks.
void check_topk(int64_t Q, int64_t N, int64_t D, int64_t k, bool exact, int excl_per_query) {
  std::printf("topk Q=%lld N=%lld D=%lld k=%lld %s excl=%d\n", (long long)Q, (long long)N, (long long)D,
              (long long)k, exact ? "int-data" : "float-data", excl_per_query);
  std::vector<float> qv = exact ? random_ints(size_t(Q * D), -2, 2) : random_floats(size_t(Q * D));
  std::vector<float> xv = exact ? random_ints(size_t(N * D), -2, 2) : random_floats(size_t(N * D));
  Excl ex;
  if (excl_per_query >= 0) ex = make_exclusions(Q, N, excl_per_query);
  const int32_t* off = excl_per_query >= 0 ? ex.off.data() : nullptr;
  const int32_t* ids = excl_per_query >= 0 ? ex.ids.data() : nullptr;

  std::vector<int32_t> out_idx(size_t(Q * k), 12345);
  std::vector<float> out_s(size_t(Q * k), 12345.0f);
  std::string err = st::cuda_topk_ip(qv.data(), Q, xv.data(), N, D, k, off, ids, out_idx.data(), out_s.data());
  CHECK(err.empty(), "cuda_topk_ip returned error: %s", err.c_str());

  std::vector<double> sc(static_cast<size_t>(N));
  std::vector<int32_t> order(static_cast<size_t>(N));
  std::vector<char> banned(static_cast<size_t>(N));
  for (int64_t q = 0; q < Q; ++q) {
    std::fill(banned.begin(), banned.end(), 0);
    if (off)
      for (int32_t e = off[q]; e < off[q + 1]; ++e)
        if (ids[e] >= 0 && ids[e] < N) banned[size_t(ids[e])] = 1;
    int64_t avail = 0;
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < D; ++p) s += double(qv[size_t(q * D + p)]) * double(xv[size_t(j * D + p)]);
      sc[size_t(j)] = s;
      if (!banned[size_t(j)]) order[size_t(avail++)] = int32_t(j);
    }
    const int64_t kk = std::min(k, avail);
    auto better = [&](int32_t a, int32_t b) { return sc[a] > sc[b] || (sc[a] == sc[b] && a < b); };
    std::partial_sort(order.begin(), order.begin() + kk, order.begin() + avail, better);

    const int32_t* gi = out_idx.data() + q * k;
    const float* gs = out_s.data() + q * k;
    for (int64_t r = kk; r < k; ++r)
      CHECK(gi[r] == -1 && std::isinf(gs[r]) && gs[r] < 0, "q=%lld slot %lld should be empty, got (%d, %g)",
            (long long)q, (long long)r, gi[r], gs[r]);
    if (exact) {
      for (int64_t r = 0; r < kk; ++r)
        CHECK(gi[r] == order[size_t(r)] && double(gs[r]) == sc[size_t(order[size_t(r)])],
              "q=%lld rank %lld: got (%d, %g), expected (%d, %g)", (long long)q, (long long)r, gi[r], gs[r],
              order[size_t(r)], sc[size_t(order[size_t(r)])]);
    } else {
      std::vector<char> seen(static_cast<size_t>(N), 0);
      for (int64_t r = 0; r < kk; ++r) {
        const int32_t j = gi[r];
        CHECK(j >= 0 && j < N, "q=%lld rank %lld: index %d out of range", (long long)q, (long long)r, j);
        CHECK(!banned[size_t(j)], "q=%lld rank %lld: excluded index %d returned", (long long)q, (long long)r, j);
        CHECK(!seen[size_t(j)], "q=%lld rank %lld: duplicate index %d", (long long)q, (long long)r, j);
        seen[size_t(j)] = 1;
        const double tol = 1e-4 * (1.0 + double(D));
        CHECK(std::fabs(gs[r] - sc[size_t(j)]) <= tol, "q=%lld rank %lld: score %g for %d, true %g", (long long)q,
              (long long)r, gs[r], j, sc[size_t(j)]);
        CHECK(std::fabs(gs[r] - sc[size_t(order[size_t(r)])]) <= tol, "q=%lld rank %lld: score %g, reference %g",
              (long long)q, (long long)r, gs[r], sc[size_t(order[size_t(r)])]);
        if (r > 0) CHECK(gs[r] <= gs[r - 1], "q=%lld rank %lld: scores not descending", (long long)q, (long long)r);
      }
    }
  }
}

}  // namespace

int main() {
  const int devices = st::cuda_device_count();
  if (devices == 0) {
    std::printf("SKIP: no CUDA device (or no driver); cuda_check needs a GPU.\n");
    return 77;
  }
  std::printf("device 0: %s (%d device(s))\n", st::cuda_device_name(0).c_str(), devices);

  // sgemm: tiny, odd, prime and tile-straddling shapes; every tile config (M <= 8, <= 64, big).
  const int64_t shapes[][4] = {{1, 1, 1, 1},    {1, 7, 129, 1},   {1, 1, 129, 7},  {3, 7, 7, 7},
                               {2, 129, 7, 33}, {1, 9, 130, 17},  {2, 65, 129, 3}, {1, 200, 300, 70},
                               {1, 257, 129, 129}, {4, 128, 128, 128}, {1, 1, 1000, 300}, {1, 600, 520, 48}};
  for (const auto& s : shapes)
    for (int tb = 0; tb < 2; ++tb) check_sgemm(tb != 0, s[0], s[1], s[2], s[3], 1.0f, 0.0f);
  check_sgemm(false, 2, 33, 17, 9, 0.5f, -2.0f);
  check_sgemm(true, 2, 129, 65, 31, -1.5f, 0.25f);
  check_sgemm(true, 1, 300, 300, 64, 2.0f, 1.0f);
  check_sgemm(false, 2, 7, 9, 5, 0.0f, 3.0f);   // alpha == 0: C = beta*C, A/B (NaN) unread
  check_sgemm(true, 1, 7, 9, 5, 0.0f, 0.0f);    // alpha == 0, beta == 0: zeros
  check_sgemm(false, 2, 7, 9, 0, 1.0f, 0.5f);   // K == 0
  {
    std::printf("sgemm empty shapes\n");
    std::string e = st::cuda_sgemm(false, 0, 5, 5, 5, 1.0f, nullptr, nullptr, 0.0f, nullptr);
    if (!e.empty()) { ++g_failures; std::printf("  FAIL batch=0: %s\n", e.c_str()); }
  }

  // top-k
  check_topk(1, 1, 1, 1, true, -1);
  check_topk(1, 1, 1, 5, true, -1);          // k > N
  check_topk(7, 7, 7, 10, true, 2);          // k > N with exclusions
  check_topk(7, 129, 33, 7, true, 5);
  check_topk(129, 129, 7, 129, true, 3);     // k == N
  check_topk(129, 1000, 17, 1024, true, 4);  // k up to 1024
  check_topk(3, 5000, 100, 2000, true, 10);  // P = 4096 (32 KiB shared)
  check_topk(2, 9000, 5, 5000, true, 20);    // P = 8192 (64 KiB opt-in shared)
  check_topk(2, 30000, 3, 20000, true, 50);  // P = 32768: global-memory selection
  check_topk(1, 300000, 19, 10, true, 7);    // one query, many segments (+ merge pass)
  check_topk(129, 100000, 3, 100, true, 5);  // segments with several queries
  check_topk(129, 1100007, 3, 7, true, 3);   // 2 corpus blocks, several query tiles
  check_topk(5, 20000, 0, 3, true, 1);       // D == 0: every score is 0, ties by index
  check_topk(33, 4099, 129, 16, false, 4);   // float data
  check_topk(1, 70000, 768, 100, false, -1); // realistic embedding size
  {
    std::printf("topk Q=0 / k=0\n");
    std::string e = st::cuda_topk_ip(nullptr, 0, nullptr, 0, 4, 3, nullptr, nullptr, nullptr, nullptr);
    if (!e.empty()) { ++g_failures; std::printf("  FAIL Q=0: %s\n", e.c_str()); }
  }

  std::printf("%s: %d failure(s) in %d checks\n", g_failures ? "FAILED" : "OK", g_failures, g_checks);
  return g_failures ? 1 : 0;
}
