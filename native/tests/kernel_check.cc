// synthtune: standalone correctness check of the CPU kernels (no Node needed).
//
// For every SIMD level this CPU supports (scalar, avx2, avx512 -- called directly through
// st::cpu::sgemm_at / topk_ip_at, so no environment juggling), compares
//   sgemm   against a naive double-precision reference, on awkward shapes (1, 7, 129, K not a
//           multiple of 16, K > KC, N > NC, batches, alpha/beta, beta = 0 over NaN garbage, K = 0)
//   topk_ip against a brute-force double-precision reference (k > N, exclusions incl. invalid
//           and duplicate ids, exact ties from integer-valued data, D = 0 / 1 / odd / > KC)
// with 1, 2, 3 and default threads. Prints the max error per level and exits non-zero on any
// failure. Also exercises the public st:: entry points and concurrent calls from two threads.
//
// Build & run (from the repository root; see also native/tests/Makefile):
//   g++ -O2 -std=c++17 -pthread -o /tmp/kernel_check native/tests/kernel_check.cc
//       native/cpu/threadpool.cc native/cpu/simd.cc native/cpu/matmul.cc native/cpu/topk.cc
//   /tmp/kernel_check            # add -fsanitize=address,undefined -g to the build for ASan/UBSan
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "../cpu/threadpool.h"
#include "../kernels.h"

using st::cpu::SimdLevel;

static int g_failures = 0;
static std::mt19937_64 g_rng(12345);
// SYNTHTUNE_CHECK_QUICK=1 (the sanitizer run of scripts/asan-check.sh): fewer and smaller shapes,
// still one of every edge (odd sizes, K > KC, N > NC, M > MC, batches, exclusions, D = 0).
static const bool g_quick = [] {
  const char* e = std::getenv("SYNTHTUNE_CHECK_QUICK");
  return e && *e && *e != '0';
}();

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      if (++g_failures <= 30) {                           \
        std::printf("FAIL %s:%d: ", __FILE__, __LINE__);  \
        std::printf(__VA_ARGS__);                         \
        std::printf("\n");                                \
      }                                                   \
    }                                                     \
  } while (0)

static std::vector<float> rand_vec(size_t n, bool integer) {
  std::vector<float> v(n);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ui(-2, 2);
  for (auto& x : v) x = integer ? static_cast<float>(ui(g_rng)) : u(g_rng);
  return v;
}

// ---- sgemm ----------------------------------------------------------------------------------
struct GemmErr {
  double max_abs = 0, max_rel = 0;
};

static void check_sgemm(SimdLevel lv, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                        float alpha, float beta, int threads, GemmErr& err, bool trans_a = false) {
  auto A = rand_vec(batch * M * K, false);
  auto B = rand_vec(batch * K * N, false);
  auto C0 = rand_vec(batch * M * N, false);
  // guard zones around C to catch out-of-bounds writes
  const size_t guard = 64;
  std::vector<float> Cbuf(batch * M * N + 2 * guard, 12345.0f);
  float* C = Cbuf.data() + guard;
  if (beta == 0.0f) {
    for (int64_t i = 0; i < batch * M * N; ++i)
      C[i] = (i % 3 == 0) ? std::numeric_limits<float>::quiet_NaN() : 1e30f;
  } else {
    std::copy(C0.begin(), C0.end(), C);
  }
  // exact-size copies of A and B so that ASan sees any over-read
  std::vector<float> Ax(A), Bx(B);
  st::cpu::sgemm_at(lv, trans_b, batch, M, N, K, alpha, Ax.data(), Bx.data(), beta, C, threads, trans_a);
  for (size_t g = 0; g < guard; ++g) {
    CHECK(Cbuf[g] == 12345.0f && Cbuf[guard + batch * M * N + g] == 12345.0f,
          "sgemm wrote outside C (M=%lld N=%lld K=%lld)", (long long)M, (long long)N,
          (long long)K);
  }
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0, mag = 0;
        for (int64_t p = 0; p < K; ++p) {
          double a = trans_a ? A[b * M * K + p * M + i] : A[b * M * K + i * K + p];
          double bb = trans_b ? B[b * N * K + j * K + p] : B[b * K * N + p * N + j];
          s += a * bb;
          mag += std::fabs(a * bb);
        }
        const double c0 = beta == 0.0f ? 0.0 : C0[b * M * N + i * N + j];
        const double ref = alpha * s + (beta == 0.0f ? 0.0 : beta * c0);
        const double tol = 1e-5 * (std::fabs(alpha) * mag + std::fabs(beta * c0)) + 1e-6;
        const double got = C[b * M * N + i * N + j];
        const double d = std::fabs(got - ref);
        err.max_abs = std::max(err.max_abs, std::isnan(d) ? 1e30 : d);
        err.max_rel = std::max(err.max_rel, std::isnan(d) ? 1e30 : d / tol);
        CHECK(d <= tol, "sgemm[%s] tb=%d b=%lld M=%lld N=%lld K=%lld a=%g beta=%g T=%d at (%lld,%lld,%lld): "
              "got %.7g ref %.7g",
              st::cpu::simd_level_name(lv), trans_b, (long long)batch, (long long)M, (long long)N,
              (long long)K, alpha, beta, threads, (long long)b, (long long)i, (long long)j, got,
              ref);
      }
}

static void test_sgemm(SimdLevel lv) {
  GemmErr err;
  const std::vector<int64_t> dims = g_quick ? std::vector<int64_t>{1, 7, 16, 33} : std::vector<int64_t>{1, 2, 7, 13, 16, 31, 33, 129};
  int n = 0;
  for (int64_t M : dims)
    for (int64_t N : dims)
      for (int64_t K : {1, 7, 16, 129})
        for (int tb = 0; tb < 2; ++tb) {
          const int threads = 1 + (n++ % 3);
          if (g_quick && (n % 2) == 0) continue;
          check_sgemm(lv, tb, 1, M, N, K, 1.0f, 0.0f, threads, err);
          if (n % 2) check_sgemm(lv, tb, 1, M, N, K, 1.0f, 0.0f, threads, err, true);  // A stored (K, M)
        }
  // bigger / blocked shapes, alpha & beta, batches, K > KC, N > NC, M > MC
  struct S {
    int64_t b, M, N, K;
    float alpha, beta;
    int threads;
  } shapes[] = {
      {1, 300, 700, 530, 1.0f, 0.0f, 2},  {1, 129, 1029, 1100, 0.5f, 0.25f, 3},
      {3, 57, 65, 333, -1.5f, 1.0f, 2},   {5, 17, 40, 23, 1.0f, -2.0f, 2},
      {2, 200, 96, 64, 2.0f, 0.0f, 0},    {1, 1, 4097, 385, 1.0f, 0.0f, 2},
      {1, 4097, 1, 385, 1.0f, 1.0f, 2},   {4, 8, 8, 8, 1.0f, 0.5f, 2},
      {7, 3, 5, 9, 1.0f, 0.0f, 0},        {1, 190, 513, 2049, 1.0f, 0.0f, 2},
      {2, 160, 300, 600, 1.0f, 0.0f, 1},  {1, 33, 33, 1, 1.0f, 3.0f, 3},
  };
  int si = 0;
  for (auto& s : shapes) {
    ++si;
    for (int tb = 0; tb < 2; ++tb) {
      // quick: one transpose each, and the two largest products (their blocking is seen elsewhere) skipped
      if (g_quick && (tb != si % 2 || s.M * s.N * s.K > 100000000)) continue;
      check_sgemm(lv, tb, s.b, s.M, s.N, s.K, s.alpha, s.beta, s.threads, err);
      if (tb == 0) check_sgemm(lv, false, s.b, s.M, s.N, s.K, s.alpha, s.beta, s.threads, err, true);
    }
  }
  // K == 0 and alpha == 0: C = beta * C
  for (float beta : {0.0f, 0.5f}) {
    std::vector<float> C(12, std::numeric_limits<float>::quiet_NaN());
    if (beta != 0.0f) std::fill(C.begin(), C.end(), 2.0f);
    st::cpu::sgemm_at(lv, false, 1, 3, 4, 0, 1.0f, nullptr, nullptr, beta, C.data(), 2);
    for (float c : C) CHECK(c == 2.0f * beta, "K=0 beta=%g gave %g", beta, c);
  }
  std::printf("sgemm  %-6s  max abs diff %.3g  (max err/tol %.3g)\n", st::cpu::simd_level_name(lv),
              err.max_abs, err.max_rel);
}

// ---- topk -----------------------------------------------------------------------------------
static double g_topk_max_diff = 0;

// integer: data are small integers, so float scores are exact and ties are exact -> the result
// must match the reference bit for bit. Otherwise scores are compared with a tolerance and the
// selected set is checked up to near-ties.
static void check_topk(SimdLevel lv, int64_t Q, int64_t N, int64_t D, int64_t k, bool with_excl,
                       bool integer, int threads) {
  auto X = rand_vec(N * D, integer);
  auto Qv = rand_vec(Q * D, integer);
  std::vector<int32_t> off, ids;
  if (with_excl) {
    off.push_back(0);
    std::uniform_int_distribution<int> cnt(0, 6);
    std::uniform_int_distribution<int64_t> id(-3, N + 3);
    for (int64_t q = 0; q < Q; ++q) {
      int c = (q % 5 == 0) ? static_cast<int>(std::min<int64_t>(N + 2, 40)) : cnt(g_rng);
      for (int x = 0; x < c; ++x) ids.push_back(static_cast<int32_t>(
          (q % 5 == 0) ? x - 1 : id(g_rng)));  // every 5th query: exclude nearly everything
      if (c > 0 && q % 7 == 0) ids.push_back(ids.back());  // duplicate
      off.push_back(static_cast<int32_t>(ids.size()));
    }
    if (ids.empty()) ids.push_back(0), off.back() = 0;
  }
  std::vector<int32_t> out_i(Q * k + 8, 777);
  std::vector<float> out_s(Q * k + 8, 777.0f);
  st::cpu::topk_ip_at(lv, Qv.data(), Q, X.data(), N, D, k, with_excl ? off.data() : nullptr,
                      with_excl ? ids.data() : nullptr, out_i.data(), out_s.data(), threads);
  for (int x = 0; x < 8; ++x)
    CHECK(out_i[Q * k + x] == 777 && out_s[Q * k + x] == 777.0f, "topk wrote past the output");

  const double tol = integer ? 0.0 : 1e-5 * D + 1e-6;
  for (int64_t q = 0; q < Q; ++q) {
    std::set<int32_t> excl;
    if (with_excl)
      for (int32_t x = off[q]; x < off[q + 1]; ++x) excl.insert(ids[x]);
    std::vector<std::pair<double, int32_t>> ref;  // (score, idx) of allowed items
    std::vector<double> all(N);
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < D; ++p) s += (double)Qv[q * D + p] * X[j * D + p];
      all[j] = s;
      if (!excl.count(static_cast<int32_t>(j))) ref.emplace_back(s, static_cast<int32_t>(j));
    }
    std::sort(ref.begin(), ref.end(), [](auto& a, auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    const int64_t filled = std::min<int64_t>(k, ref.size());
    const int32_t* oi = &out_i[q * k];
    const float* os = &out_s[q * k];
    std::set<int32_t> seen;
    for (int64_t r = 0; r < k; ++r) {
      if (r >= filled) {
        CHECK(oi[r] == -1 && os[r] == -std::numeric_limits<float>::infinity(),
              "topk[%s] Q=%lld N=%lld D=%lld k=%lld q=%lld slot %lld should be empty, got %d %g",
              st::cpu::simd_level_name(lv), (long long)Q, (long long)N, (long long)D, (long long)k,
              (long long)q, (long long)r, oi[r], os[r]);
        continue;
      }
      const int32_t j = oi[r];
      if (!(j >= 0 && j < N)) {
        CHECK(false, "topk[%s] invalid index %d (q=%lld r=%lld)", st::cpu::simd_level_name(lv), j,
              (long long)q, (long long)r);
        continue;
      }
      CHECK(!excl.count(j), "topk returned excluded id %d", j);
      CHECK(seen.insert(j).second, "topk returned id %d twice", j);
      const double d = std::fabs(os[r] - all[j]);
      g_topk_max_diff = std::max(g_topk_max_diff, d);
      CHECK(d <= tol, "topk score of %d: got %.7g ref %.7g", j, os[r], all[j]);
      if (r > 0)
        CHECK(os[r - 1] > os[r] || (os[r - 1] == os[r] && oi[r - 1] < oi[r]),
              "topk order broken at q=%lld r=%lld", (long long)q, (long long)r);
      if (integer) {
        CHECK(j == ref[r].second && os[r] == ref[r].first,
              "topk[%s] Q=%lld N=%lld D=%lld k=%lld T=%d q=%lld r=%lld: got (%d, %g) ref (%d, %g)",
              st::cpu::simd_level_name(lv), (long long)Q, (long long)N, (long long)D, (long long)k,
              threads, (long long)q, (long long)r, j, os[r], ref[r].second, ref[r].first);
      } else {
        // same set up to near-ties: the r-th returned score is close to the r-th best score
        CHECK(std::fabs(all[j] - ref[r].first) <= 2 * tol, "topk rank %lld of q=%lld: %.7g vs %.7g",
              (long long)r, (long long)q, all[j], ref[r].first);
      }
    }
  }
}

static void test_topk(SimdLevel lv) {
  g_topk_max_diff = 0;
  int n = 0;
  for (int64_t Q : {1, 7, 33, 129})
    for (int64_t N : {1, 7, 15, 129, 1000})
      for (int64_t D : {1, 7, 16, 129})
        for (int64_t k : {1, 5, 130}) {
          const int threads = 1 + (n % 3);
          const bool excl = (n % 2) == 1, integer = (n % 4) < 2;
          ++n;
          if (g_quick && (n % 3) != 0) continue;
          check_topk(lv, Q, N, D, k, excl, integer, threads);
        }
  // big enough for several query groups / corpus blocks / D chunks
  if (g_quick) {
    check_topk(lv, 40, 3000, 600, 10, true, true, 2);
    check_topk(lv, 20, 5000, 40, 100, true, false, 0);
  } else {
    check_topk(lv, 300, 3000, 600, 10, true, true, 2);
    check_topk(lv, 300, 3000, 600, 10, false, false, 3);
    check_topk(lv, 70, 20000, 40, 100, true, true, 0);
  }
  check_topk(lv, 3, 100, 0, 4, false, true, 2);  // D = 0: all scores 0 -> indices 0..3
  check_topk(lv, 5, 50, 1100, 60, true, false, 2);
  std::printf("topk   %-6s  max abs score diff %.3g\n", st::cpu::simd_level_name(lv),
              g_topk_max_diff);
}

// ---- public entry points, concurrency -------------------------------------------------------
static void test_public_and_concurrency() {
  std::printf("cpu_simd_level() = %s, cpu_default_threads() = %d\n", st::cpu_simd_level(),
              st::cpu_default_threads());
  const int64_t M = 257, N = 300, K = 200;
  auto A = rand_vec(M * K, true), B = rand_vec(K * N, true);
  std::vector<float> ref(M * N);
  st::cpu::sgemm_naive(false, M, N, K, 1.0f, A.data(), B.data(), 0.0f, ref.data());
  auto worker = [&](int id, int* bad) {
    std::vector<float> C(M * N);
    for (int it = 0; it < (g_quick ? 4 : 20); ++it) {
      st::sgemm(false, 1, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data(), id % 2 ? 2 : 0);
      if (C != ref) ++*bad;  // integer data: exact
    }
  };
  int bad[3] = {0, 0, 0};
  std::thread t1(worker, 1, &bad[1]), t2(worker, 2, &bad[2]);
  worker(0, &bad[0]);
  t1.join();
  t2.join();
  CHECK(bad[0] + bad[1] + bad[2] == 0, "concurrent sgemm calls gave wrong results");
  // nested use of the pool from inside a task must not deadlock
  st::cpu::parallel_for(4, 2, [&](int64_t, int) {
    std::vector<float> C(M * N);
    st::sgemm(false, 1, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data(), 2);
    if (C != ref) ++bad[0];
  });
  CHECK(bad[0] == 0, "nested sgemm gave wrong results");
}

int main() {
  const SimdLevel top = st::cpu::simd_level_detected();
  std::printf("detected SIMD level: %s\n", st::cpu::simd_level_name(top));
  for (int l = 0; l <= top; ++l) {
    test_sgemm(static_cast<SimdLevel>(l));
    test_topk(static_cast<SimdLevel>(l));
  }
  test_public_and_concurrency();
  if (g_failures) {
    std::printf("%d check(s) FAILED\n", g_failures);
    return 1;
  }
  std::printf("all kernel checks passed\n");
  return 0;
}
