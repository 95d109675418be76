// synthtune: times st::sgemm exactly like bench/openblas/sgemm_ref.c times OpenBLAS (same
// shapes, warm-up, median of >= 7 runs / >= 1 s, one JSON line per shape), so the numbers can be
// compared side by side. Shapes: C(M,N) = A(M,K) . op(B), see native/kernels.h.
//
// Build (from the repository root):
//   g++ -O3 -std=c++17 -pthread -o /tmp/sgemm_bench native/tests/sgemm_bench.cc
//       native/cpu/threadpool.cc native/cpu/simd.cc native/cpu/matmul.cc native/cpu/topk.cc
// Run:
//   SYNTHTUNE_THREADS=2 /tmp/sgemm_bench                 # default shapes, both trans_b
//   SYNTHTUNE_THREADS=2 /tmp/sgemm_bench 4096 384 1536   # M K N triples
//   SYNTHTUNE_SIMD=avx2 ...                              # force a lower SIMD level
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../cpu/threadpool.h"
#include "../kernels.h"

static double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static void run(int M, int K, int N, bool trans_b, int batch) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> A((size_t)batch * M * K), B((size_t)batch * K * N), C((size_t)batch * M * N);
  for (auto& x : A) x = u(rng);
  for (auto& x : B) x = u(rng);
  auto call = [&] {
    st::sgemm(trans_b, batch, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data(), 0);
  };
  for (int w = 0; w < 2; ++w) call();
  std::vector<double> t;
  double total = 0;
  while (t.size() < 101 && (t.size() < 7 || total < 1000.0)) {
    double t0 = now_ms();
    call();
    t.push_back(now_ms() - t0);
    total += t.back();
  }
  std::sort(t.begin(), t.end());
  double med = t[t.size() / 2];
  std::printf(
      "{\"impl\":\"synthtune-%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"batch\":%d,\"trans_b\":%s,"
      "\"threads\":%d,\"median_ms\":%.3f,\"gflops\":%.1f,\"min_ms\":%.3f,\"gflops_best\":%.1f}\n",
      st::cpu_simd_level(), M, N, K, batch, trans_b ? "true" : "false", st::cpu_default_threads(),
      med, 2.0 * batch * M * N * K / (med * 1e6), t[0], 2.0 * batch * M * N * K / (t[0] * 1e6));
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc >= 4) {
    for (int a = 1; a + 2 < argc; a += 3)
      for (int tb = 0; tb < 2; ++tb)
        run(std::atoi(argv[a]), std::atoi(argv[a + 1]), std::atoi(argv[a + 2]), tb, 1);
    return 0;
  }
  const int shapes[][3] = {{4096, 384, 1536}, {2048, 768, 768}, {512, 384, 384}, {128, 64, 64}};
  for (auto& s : shapes)
    for (int tb = 0; tb < 2; ++tb) run(s[0], s[1], s[2], tb, 1);
  return 0;
}
