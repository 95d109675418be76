// synthtune CUDA backend: standalone check of the TF32 tensor-core GEMM (native/cuda/matmul_tc.cu).
//
// launch_sgemm_tf32 is compared, element by element, against an fp64 reference on awkward shapes
// (1x1x1, odd and prime sizes, K = 0, alpha = 0, batches with padded and unaligned strides,
// pointers offset by one float, both layouts of B, both kernel tile configurations). The
// tolerance is an error BOUND computed per element from the data, not a fixed epsilon:
//
//   S   = sum_k |a_ik b_kj|                 (the unrounded inputs)
//   S_r = sum_k |tf32(a_ik) tf32(b_kj)|     (the inputs rounded as the kernel rounds them)
//   u   = 2^-24                              (fp32 unit roundoff)
//
//   |got - exact| <= |alpha| * ((2 * 2^-11 + 2^-22) * S + 4 (K + 2) u S_r)
//                    + 2 u (|alpha| S_r + |beta c|)
//
//   * TF32 input rounding: round-to-nearest to a 10-bit mantissa changes each input by at most
//     2^-11 of its magnitude, so each product by at most (2 * 2^-11 + 2^-22) |a b|.
//   * fp32 accumulation: a product of two TF32 numbers (11 significant bits each) is exact in
//     fp32; summing K of them in fp32 costs at most (K - 1) u S_r with IEEE round-to-nearest
//     additions. Tensor cores add several aligned products at once and truncate instead of
//     rounding (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor cores",
//     PeerJ CS 2021), which costs up to about 2.5 K u S_r; 4 (K + 2) u S_r covers both.
//   * epilogue: alpha * acc and the fma with beta * c round once each: 2 u of the magnitudes.
//
// A second, much tighter bound checks that the inputs are rounded exactly as described (round to
// nearest, ties away from zero, as cvt.rna.tf32.f32 / wmma::__float_to_tf32): against an fp64
// reference built from the TF32-rounded inputs, only the accumulation and epilogue terms remain.
// And the result must NOT be bit-identical to the fp32 SGEMM (launch_sgemm) on random data, which
// proves that the TF32 path is really taken. launch_gemm must match launch_sgemm bit for bit under
// GemmPrecision::kFp32 and launch_sgemm_tf32 bit for bit under kTf32. Padding between batch items
// and before misaligned pointers is filled with NaN in A and B (reading it would poison the
// result) and with a sentinel in C (writing it is detected).
//
// Exit status: 0 all passed, 1 a check failed, 77 skipped (no CUDA device / driver).
//
//   tc_check          the checks above (plus batch > 65535 and M > 65535 x 128 cases, which walk
//                     the grid-dimension limits; on the CPU emulator only with --grid-limits: slow)
//   tc_check --bench  times launch_sgemm (fp32) vs launch_sgemm_tf32 at BERT-sized shapes with CUDA
//                     events and prints GFLOP/s (for a GPU; meaningless under the CPU emulator)
//
// Build and run (from the repository root), after `npm run build:cuda`:
//   cmake --build build-cuda --target tc_check && build-cuda/tc_check
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/matmul_tc.cuh"
#include "cuda/tests/check.cuh"
#include "kernels.h"

namespace cd = st::cuda_detail;
using cd::DeviceCtx;
using cd::GemmPrecision;

namespace {

DeviceCtx* g_ctx = nullptr;
std::mt19937_64 rng(20240611);

// fp32 -> TF32 as cvt.rna.tf32.f32 (wmma::__float_to_tf32): round to nearest on the 13 dropped
// mantissa bits, ties away from zero (add half an ulp to the magnitude, then truncate).
float tf32_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {  // finite (inf / NaN pass through)
    u += 0x1000u;
    u &= 0xffffe000u;
  }
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

struct DevBuf {
  float* p = nullptr;
  explicit DevBuf(size_t n) { CU(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float))); }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

void upload(float* d, const std::vector<float>& h) {
  CU(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
  CU(cudaDeviceSynchronize());  // ctx->stream is non-blocking: finish the copy before launching
}
std::vector<float> download(const float* d, size_t n) {
  CU(cudaStreamSynchronize(g_ctx->stream));
  CU(cudaGetLastError());
  std::vector<float> h(n);
  CU(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

using GemmFn = std::string (*)(DeviceCtx*, bool, int64_t, int64_t, int64_t, int64_t, float, const float*, int64_t,
                               const float*, int64_t, float, float*, int64_t);

std::string gemm_with_precision(GemmPrecision p, DeviceCtx* ctx, bool tb, int64_t batch, int64_t M, int64_t N,
                                int64_t K, float alpha, const float* A, int64_t sA, const float* B, int64_t sB,
                                float beta, float* C, int64_t sC) {
  const GemmPrecision saved = ctx->gemm_precision;
  ctx->gemm_precision = p;
  std::string err = cd::launch_gemm(ctx, tb, batch, M, N, K, alpha, A, sA, B, sB, beta, C, sC);
  ctx->gemm_precision = saved;
  return err;
}

struct Case {
  const char* name;
  bool trans_b;
  int64_t batch, M, N, K;
  float alpha, beta;
  int64_t padA, padB, padC;  // extra floats after each batch item (stride = item size + pad)
  int64_t offA, offB, offC;  // pointer offset in floats from a cudaMalloc'd base (1: misaligned)
};

int g_seen_rows[2] = {0, 0};  // cases run with 64-row / 128-row tiles

void run_case(const Case& c) {
  const int rows = cd::tf32_tile_rows(g_ctx, c.batch, c.M, c.N);
  std::printf("%-22s trans_b=%d batch=%lld M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld/%lld/%lld "
              "off=%lld/%lld/%lld tile=%dx64\n",
              c.name, int(c.trans_b), (long long)c.batch, (long long)c.M, (long long)c.N, (long long)c.K,
              c.alpha, c.beta, (long long)c.padA, (long long)c.padB, (long long)c.padC, (long long)c.offA,
              (long long)c.offB, (long long)c.offC, rows);
  ++g_seen_rows[rows == 128 ? 1 : 0];
  const int64_t M = c.M, N = c.N, K = c.K;
  const int64_t sA = M * K + c.padA, sB = K * N + c.padB, sC = M * N + c.padC;
  const size_t nA = size_t(c.offA + c.batch * sA), nB = size_t(c.offB + c.batch * sB),
               nC = size_t(c.offC + c.batch * sC);

  // A, B: NaN everywhere outside the items (and inside too when alpha == 0: must not be read).
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::vector<float> hA(nA, NAN), hB(nB, NAN), hC(nC, -12345.0f);
  const bool reads_ab = c.alpha != 0.0f && K > 0;
  for (int64_t b = 0; b < c.batch; ++b) {
    if (c.alpha != 0.0f) {
      for (int64_t i = 0; i < M * K; ++i) hA[size_t(c.offA + b * sA + i)] = uni(rng);
      for (int64_t i = 0; i < K * N; ++i) hB[size_t(c.offB + b * sB + i)] = uni(rng);
    }
    for (int64_t i = 0; i < M * N; ++i) hC[size_t(c.offC + b * sC + i)] = c.beta != 0.0f ? uni(rng) : NAN;
  }

  DevBuf dA(nA), dB(nB), dC(nC);
  upload(dA.p, hA);
  upload(dB.p, hB);
  const float* pA = dA.p + c.offA;
  const float* pB = dB.p + c.offB;
  float* pC = dC.p + c.offC;
  auto run = [&](GemmFn fn) {
    upload(dC.p, hC);
    std::string err = fn(g_ctx, c.trans_b, c.batch, M, N, K, c.alpha, pA, sA, pB, sB, c.beta, pC, sC);
    expect(err.empty(), "%s: returned error: %s", c.name, err.c_str());
    return download(dC.p, nC);
  };
  const std::vector<float> tc = run(cd::launch_sgemm_tf32);
  const std::vector<float> fp = run(cd::launch_sgemm);
  const std::vector<float> g32 = run([](DeviceCtx* x, bool tb, int64_t bt, int64_t m, int64_t n, int64_t k, float al,
                                        const float* a, int64_t sa, const float* bb, int64_t sb, float be, float* cc,
                                        int64_t sc) {
    return gemm_with_precision(GemmPrecision::kFp32, x, tb, bt, m, n, k, al, a, sa, bb, sb, be, cc, sc);
  });
  const std::vector<float> g19 = run([](DeviceCtx* x, bool tb, int64_t bt, int64_t m, int64_t n, int64_t k, float al,
                                        const float* a, int64_t sa, const float* bb, int64_t sb, float be, float* cc,
                                        int64_t sc) {
    return gemm_with_precision(GemmPrecision::kTf32, x, tb, bt, m, n, k, al, a, sa, bb, sb, be, cc, sc);
  });
  expect(same_bits(g32, fp), "%s: launch_gemm(kFp32) differs from launch_sgemm", c.name);
  expect(same_bits(g19, tc), "%s: launch_gemm(kTf32) differs from launch_sgemm_tf32 (not deterministic?)", c.name);

  const double u = std::ldexp(1.0, -24);
  const double in_rel = 2.0 * std::ldexp(1.0, -11) + std::ldexp(1.0, -22);
  const double alpha = c.alpha, beta = c.beta;
  double worst_full = 0, worst_r = 0, max_err = 0;
  int64_t differ = 0, bad = 0;
  std::vector<bool> inside(nC, false);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const size_t ci = size_t(c.offC + b * sC + i * N + j);
        inside[ci] = true;
        double s = 0, sr = 0, mag = 0, magr = 0;
        if (reads_ab) {
          for (int64_t p = 0; p < K; ++p) {
            const float a = hA[size_t(c.offA + b * sA + i * K + p)];
            const float bv = c.trans_b ? hB[size_t(c.offB + b * sB + j * K + p)] : hB[size_t(c.offB + b * sB + p * N + j)];
            const double ar = tf32_round(a), br = tf32_round(bv);
            s += double(a) * bv;
            sr += ar * br;
            mag += std::fabs(double(a) * bv);
            magr += std::fabs(ar * br);
          }
        }
        const double c0 = beta != 0.0 ? double(hC[ci]) : 0.0;
        const double exact = alpha * s + beta * c0;
        const double exact_r = alpha * sr + beta * c0;
        const double epi = 2 * u * (std::fabs(alpha) * magr + std::fabs(beta * c0));
        const double acc = std::fabs(alpha) * 4.0 * double(K + 2) * u * magr;
        const double bound_full = std::fabs(alpha) * in_rel * mag + acc + epi;
        const double bound_r = acc + epi;
        const double got = tc[ci];
        const double e_full = std::fabs(got - exact), e_r = std::fabs(got - exact_r);
        const bool ok = std::isfinite(got) && e_full <= bound_full && e_r <= bound_r;
        if (!ok && bad++ < 5)
          std::printf("  FAIL: %s: C[%lld][%lld][%lld] = %.9g, exact %.9g (err %.3g, bound %.3g), "
                      "tf32-input exact %.9g (err %.3g, bound %.3g)\n",
                      c.name, (long long)b, (long long)i, (long long)j, got, exact, e_full, bound_full, exact_r, e_r,
                      bound_r);
        max_err = std::max(max_err, e_full);
        if (bound_full > 0) worst_full = std::max(worst_full, e_full / bound_full);
        if (bound_r > 0) worst_r = std::max(worst_r, e_r / bound_r);
        if (std::memcmp(&tc[ci], &fp[ci], sizeof(float)) != 0) ++differ;
      }
  ++g_checks;
  if (bad) ++g_failures;
  // Nothing outside the items was written.
  int64_t clobbered = 0;
  for (size_t i = 0; i < nC; ++i)
    if (!inside[i] && std::memcmp(&tc[i], &hC[i], sizeof(float)) != 0) ++clobbered;
  expect(clobbered == 0, "%s: %lld elements outside the C items were written", c.name, (long long)clobbered);
  const int64_t total = c.batch * M * N;
  std::printf("  max |err| %.3e   max err/bound %.3f   max err/bound(tf32 inputs) %.3f   differs from fp32: "
              "%lld/%lld%s\n",
              max_err, worst_full, worst_r, (long long)differ, (long long)total, bad ? "   FAIL" : "");
  if (reads_ab)
    expect(differ > 0, "%s: bit-identical to the fp32 SGEMM: the TF32 path was not used", c.name);
}

// Argument validation: errors are returned (never a crash), empty problems do nothing.
void check_errors() {
  std::printf("argument validation\n");
  DevBuf d(64);
  const float* A = d.p;
  float* C = d.p + 32;
  expect(!cd::launch_sgemm_tf32(g_ctx, false, 1, 2, 2, -1, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(), "K < 0 accepted");
  expect(!cd::launch_sgemm_tf32(g_ctx, false, 1, int64_t(INT_MAX) + 1, 2, 2, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "M > INT_MAX accepted");
  // N or K within 64 of 2^31 would overflow the kernel's int tile indices (wrong results, not
  // detectable on the emulator for lack of memory): refused up front.
  expect(!cd::launch_sgemm_tf32(g_ctx, false, 1, 1, 1, int64_t(INT_MAX) - 1, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "K = 2^31 - 2 accepted");
  expect(!cd::launch_sgemm_tf32(g_ctx, true, 1, 1, int64_t(INT_MAX) - 1, 1, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "N = 2^31 - 2 accepted");
  // The same limits for the fp32 SIMT path (its tiles reach 128 columns, 16 of K).
  expect(!cd::launch_sgemm(g_ctx, false, 1, 1, 1, int64_t(INT_MAX) - 1, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "fp32: K = 2^31 - 2 accepted");
  expect(!cd::launch_sgemm(g_ctx, true, 1, 1, int64_t(INT_MAX) - 100, 1, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "fp32: N = 2^31 - 101 accepted");
  expect(!cd::launch_sgemm_tf32(nullptr, false, 1, 2, 2, 2, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(), "null ctx accepted");
  expect(!cd::launch_gemm(nullptr, false, 1, 2, 2, 2, 1.0f, A, 0, A, 0, 0.0f, C, 0).empty(),
         "launch_gemm: null ctx accepted");
  expect(!cd::launch_sgemm_tf32(g_ctx, false, 1, 2, 2, 2, 1.0f, A, 0, A, 0, 0.0f, nullptr, 0).empty(),
         "null C accepted");
  expect(!cd::launch_sgemm_tf32(g_ctx, true, 1, 2, 2, 2, 1.0f, nullptr, 0, A, 0, 0.0f, C, 0).empty(),
         "null A accepted");
  // Nothing to do: success, nothing touched (null pointers are fine then).
  expect(cd::launch_sgemm_tf32(g_ctx, false, 1, 0, 5, 5, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0).empty(),
         "M == 0 rejected");
  expect(cd::launch_sgemm_tf32(g_ctx, false, 0, 5, 5, 5, 1.0f, nullptr, 0, nullptr, 0, 0.0f, nullptr, 0).empty(),
         "batch == 0 rejected");
  expect(cd::launch_sgemm_tf32(g_ctx, false, 1, 3, 3, 0, 1.0f, nullptr, 0, nullptr, 0, 0.0f, C, 0).empty(),
         "K == 0 with null A/B rejected");
  CU(cudaStreamSynchronize(g_ctx->stream));
}

// ---- --bench ----------------------------------------------------------------------------------
int bench() {
  struct Shape {
    int64_t M, N, K;
  };
  const Shape shapes[] = {{4096, 384, 1536}, {2048, 768, 768}};
  const int warmup = 3, reps = 20;
  std::printf("GEMM timing on device 0 (%d warm-up + %d timed launches each; C = A . op(B))\n", warmup, reps);
  for (const Shape& s : shapes) {
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    std::vector<float> hA(size_t(s.M * s.K)), hB(size_t(s.K * s.N));
    for (auto& x : hA) x = uni(rng);
    for (auto& x : hB) x = uni(rng);
    DevBuf dA(hA.size()), dB(hB.size()), dC32(size_t(s.M * s.N)), dC19(size_t(s.M * s.N));
    upload(dA.p, hA);
    upload(dB.p, hB);
    for (int tb = 1; tb >= 0; --tb) {
      double ms[2] = {0, 0};
      for (int which = 0; which < 2; ++which) {
        GemmFn fn = which == 0 ? GemmFn(cd::launch_sgemm) : GemmFn(cd::launch_sgemm_tf32);
        float* C = which == 0 ? dC32.p : dC19.p;
        auto launch = [&] {
          std::string err = fn(g_ctx, tb != 0, 1, s.M, s.N, s.K, 1.0f, dA.p, 0, dB.p, 0, 0.0f, C, 0);
          if (!err.empty()) {
            std::printf("FATAL: %s\n", err.c_str());
            std::exit(1);
          }
        };
        for (int i = 0; i < warmup; ++i) launch();
        cudaEvent_t t0, t1;
        CU(cudaEventCreate(&t0));
        CU(cudaEventCreate(&t1));
        CU(cudaEventRecord(t0, g_ctx->stream));
        for (int i = 0; i < reps; ++i) launch();
        CU(cudaEventRecord(t1, g_ctx->stream));
        CU(cudaEventSynchronize(t1));
        float elapsed = 0;
        CU(cudaEventElapsedTime(&elapsed, t0, t1));
        CU(cudaEventDestroy(t0));
        CU(cudaEventDestroy(t1));
        ms[which] = elapsed / reps;
      }
      const double flop = 2.0 * double(s.M) * double(s.N) * double(s.K);
      std::vector<float> c32 = download(dC32.p, size_t(s.M * s.N)), c19 = download(dC19.p, size_t(s.M * s.N));
      double max_diff = 0, max_ref = 0;
      for (size_t i = 0; i < c32.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(double(c19[i]) - c32[i]));
        max_ref = std::max(max_ref, std::fabs(double(c32[i])));
      }
      std::printf("  M=%lld N=%lld K=%lld trans_b=%d:  fp32 %.3f ms %.0f GFLOP/s   tf32 %.3f ms %.0f GFLOP/s   "
                  "speed-up %.2fx   max|tf32-fp32|/max|fp32| %.2e\n",
                  (long long)s.M, (long long)s.N, (long long)s.K, tb, ms[0], flop / ms[0] * 1e-6, ms[1],
                  flop / ms[1] * 1e-6, ms[0] / ms[1], max_diff / std::max(max_ref, 1e-30));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool bench_mode = false, force_grid_limits = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--bench") == 0) {
      bench_mode = true;
    } else if (std::strcmp(argv[i], "--grid-limits") == 0) {
      force_grid_limits = true;
    } else {
      std::printf("usage: %s [--bench] [--grid-limits]\n", argv[0]);
      return 1;
    }
  }
  const int devices = st::cuda_device_count();
  if (devices == 0) {
    std::printf("SKIP: no CUDA device (or no driver); tc_check needs a GPU (or the CPU emulator build).\n");
    return 77;
  }
  const std::string device_name = st::cuda_device_name(0);
  std::printf("device 0: %s (%d device(s))\n", device_name.c_str(), devices);
  const bool grid_limits = force_grid_limits || device_name.find("emulator") == std::string::npos;
  std::string err;
  g_ctx = cd::current_ctx(&err);
  if (!g_ctx) {
    std::printf("FATAL: no CUDA context: %s\n", err.c_str());
    return 1;
  }
  int major = 0;
  CU(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, g_ctx->device));
  if (major < 8) {
    std::printf("SKIP: device has compute capability %d.x; TF32 tensor cores need 8.0+.\n", major);
    return 77;
  }
  if (bench_mode) return bench();

  // 128-row tiles need M > 64 and at least 2 x SM count tiles of 128 x 64: pick the batch for that.
  const int64_t big_batch = cd::ceil_div(2 * int64_t(g_ctx->sm_count), cd::ceil_div(256, 128) * cd::ceil_div(192, 64));
  for (int tb = 0; tb < 2; ++tb) {
    const bool t = tb != 0;
    const Case cases[] = {
        //  name                 trans  batch  M    N    K    alpha  beta   padA/B/C  offA/B/C
        {"1x1x1", t, 1, 1, 1, 1, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"17x33x9", t, 1, 17, 33, 9, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"64x64x32 (vector)", t, 1, 64, 64, 32, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"129x257x100 a/b", t, 1, 129, 257, 100, 0.75f, -0.5f, 0, 0, 0, 0, 0, 0},
        {"K=0 beta", t, 1, 19, 23, 0, 1.0f, 0.5f, 0, 0, 0, 0, 0, 0},
        {"K=0 beta=0", t, 1, 19, 23, 0, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"alpha=0 (A,B NaN)", t, 2, 33, 40, 16, 0.0f, 2.0f, 0, 0, 0, 0, 0, 0},
        {"batch3 odd strides", t, 3, 33, 41, 20, 1.25f, 0.0f, 7, 3, 5, 0, 0, 0},
        {"batch3 aligned strides", t, 3, 36, 40, 20, 1.0f, 1.0f, 4, 8, 12, 0, 0, 0},
        {"misaligned ptrs", t, 1, 64, 64, 32, 1.5f, 0.25f, 0, 0, 0, 1, 1, 1},
        {"misaligned batch", t, 2, 70, 68, 44, -1.0f, 0.5f, 4, 4, 4, 1, 3, 2},
        {"attention-like", t, 12, 40, 40, 32, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"attention P.v-like", t, 12, 40, 32, 40, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0},
        {"128-row tiles", t, big_batch, 256, 192, 40, 1.0f, 0.5f, 0, 0, 0, 0, 0, 0},
        {"128-row tiles edges", t, big_batch, 200, 130, 37, 0.5f, 0.0f, 0, 0, 0, 0, 0, 0},
    };
    for (const Case& c : cases) run_case(c);
  }
  // Grid limits: gridDim.y and gridDim.z are at most 65535, so the launcher walks the batch and M in
  // chunks (batch > 65535; M > 65535 tiles of 128 rows). Cheap on a GPU, minutes on the CPU
  // emulator: there they run only with --grid-limits.
  if (grid_limits) {
    run_case({"batch > 65535", false, 65537, 1, 3, 2, 1.0f, 0.5f, 1, 0, 1, 0, 0, 0});
    run_case({"M > 65535 tiles", true, 1, int64_t(65535) * 128 + 3, 1, 2, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0});
  } else {
    std::printf("grid-limit cases (batch > 65535, M > 65535 x 128) skipped on the emulator; --grid-limits runs them\n");
  }
  expect(g_seen_rows[0] > 0 && g_seen_rows[1] > 0, "both tile configurations covered (64-row: %d, 128-row: %d)",
         g_seen_rows[0], g_seen_rows[1]);
  check_errors();

  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
