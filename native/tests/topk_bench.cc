// synthtune: times st::topk_ip (fused inner-product top-k) and prints one JSON line per case.
// Shapes: queries (Q, D), corpus (N, D), k results per query (see native/kernels.h).
// "gflops" counts the 2*Q*N*D score flops.
//
// Build (from the repository root):
//   g++ -O3 -std=c++17 -pthread -o /tmp/topk_bench native/tests/topk_bench.cc
//       native/cpu/threadpool.cc native/cpu/simd.cc native/cpu/matmul.cc native/cpu/topk.cc
// Run:
//   SYNTHTUNE_THREADS=2 /tmp/topk_bench                  # default cases
//   SYNTHTUNE_THREADS=2 /tmp/topk_bench 1000 100000 384 10   # Q N D k quadruples
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../kernels.h"

static double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static void run(long Q, long N, long D, long k) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> X((size_t)N * D), Qv((size_t)Q * D);
  for (auto& x : X) x = g(rng);
  for (auto& x : Qv) x = g(rng);
  std::vector<int32_t> oi((size_t)Q * k);
  std::vector<float> os((size_t)Q * k);
  auto call = [&] {
    st::topk_ip(Qv.data(), Q, X.data(), N, D, k, nullptr, nullptr, oi.data(), os.data(), 0);
  };
  call();
  std::vector<double> t;
  double total = 0;
  while (t.size() < 51 && (t.size() < 5 || total < 2000.0)) {
    double t0 = now_ms();
    call();
    t.push_back(now_ms() - t0);
    total += t.back();
  }
  std::sort(t.begin(), t.end());
  const double med = t[t.size() / 2];
  std::printf(
      "{\"impl\":\"synthtune-%s\",\"op\":\"topk_ip\",\"q\":%ld,\"n\":%ld,\"d\":%ld,\"k\":%ld,"
      "\"threads\":%d,\"median_ms\":%.2f,\"gflops\":%.1f,\"queries_per_s\":%.0f,\"min_ms\":%.2f,"
      "\"gflops_best\":%.1f}\n",
      st::cpu_simd_level(), Q, N, D, k, st::cpu_default_threads(), med,
      2.0 * Q * N * D / (med * 1e6), Q / (med * 1e-3), t[0], 2.0 * Q * N * D / (t[0] * 1e6));
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc >= 5) {
    for (int a = 1; a + 3 < argc; a += 4)
      run(std::atol(argv[a]), std::atol(argv[a + 1]), std::atol(argv[a + 2]),
          std::atol(argv[a + 3]));
    return 0;
  }
  const long cases[][4] = {{1000, 100000, 384, 10}, {1000, 100000, 384, 100},
                           {1000, 100000, 768, 10}, {1, 100000, 384, 10},
                           {16, 100000, 384, 10}};
  for (auto& c : cases) run(c[0], c[1], c[2], c[3]);
  return 0;
}
