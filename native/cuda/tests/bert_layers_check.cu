// synthtune CUDA backend: standalone check of the BERT layer kernels (native/cuda/bert_layers.cu)
// against the CPU layer functions (native/cpu/bert.h), no Node.
//
// Random inputs at odd sizes (B=3, T=7 and 13, C=48, NH=4, F=100, V=37 so ids repeat), padded
// masks (one sequence fully valid, one partly, one fully masked) and mask == nullptr. For each
// layer it prints the max abs and max relative difference (relative to max(|cpu|, 1e-2·max|cpu|))
// and fails when the relative difference exceeds 1e-4 (element-wise, LayerNorm, softmax, pooling,
// Adam) or 1e-3 (GEMM-based: linear layers, attention).
//
// ST_GEMM_PRECISION=tf32 runs the layer GEMMs on the TF32 tensor-core path (DeviceCtx::gemm_precision
// = kTf32, native/cuda/matmul_tc.cu); the GEMM-based outputs are then compared normwise with a
// TF32 tolerance (see kTolTf32Gemm). ST_GEMM_PRECISION=fp32 or unset: the default fp32 SGEMM.
//
// Exit status: 0 all passed, 1 a check failed, 77 skipped (no CUDA device / driver).
//
// Build and run (from the repository root), after `npm run build:cuda`:
//   cmake --build build-cuda --target bert_layers_check && build-cuda/bert_layers_check
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/bert.h"
#include "cuda/bert_layers.cuh"
#include "cuda/tests/check.cuh"
#include "kernels.h"

namespace cb = st::cuda_bert;
namespace bert = st::bert;
using st::cuda_detail::DeviceCtx;

namespace {

DeviceCtx* g_ctx = nullptr;
std::vector<void*> g_allocs;
std::mt19937_64 rng(20240607);

constexpr double kTolElem = 1e-4;
constexpr double kTolGemm = 1e-3;

// TF32 GEMMs (ST_GEMM_PRECISION=tf32). Rounding both inputs to TF32 (10-bit mantissa, round to
// nearest) changes each product a*b by at most 2 * 2^-11 |a b|; with the independent random-sign
// data of these checks the errors of a length-K dot product add like a random walk: their standard
// deviation is sqrt(2/3) * 2^-11 * sqrt(sum_k (a_k b_k)^2) ~ 0.82 * 2^-11 * rms(C) (fp32 accumulation
// adds ~1e-7, negligible). Over up to ~10^6 compared elements the largest stays below 6 standard
// deviations, 4.9 * 2^-11 * rms(C) <= 5 * 2^-11 * max|C|. Element-wise relative errors are not
// meaningful at that level (an entry near 0 keeps the absolute error of its row and column), so
// TF32 results are compared normwise, max|gpu - cpu| / max|cpu|, against 5 * 2^-11 (~2.4e-3) per
// GEMM in the chain that produces the tensor: 1 for the linear layers; 2 for the attention
// probabilities (S = q k^T, whose absolute logit error, up to ~1.5 times its relative error for these
// logits of rms ~1.3, becomes the relative error of softmax); 3 for the attention output (P v on
// top of P) and for dqkv (dP = dctx v^T through the softmax backward, then dS k / dS^T q).
constexpr double kTolTf32Gemm = 5.0 / 2048.0;
bool g_tf32 = false;

#define OK(expr)                                                       \
  do {                                                                 \
    std::string m_ = (expr);                                           \
    if (!m_.empty()) {                                                 \
      std::printf("FATAL: %s returned: %s\n", #expr, m_.c_str());      \
      std::exit(1);                                                    \
    }                                                                  \
  } while (0)

std::vector<float> rnd(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<int32_t> rnd_ints(size_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <class T>
T* dev(const std::vector<T>& h) {
  void* p = nullptr;
  CU(cudaMalloc(&p, std::max<size_t>(1, h.size()) * sizeof(T)));
  g_allocs.push_back(p);
  if (!h.empty()) CU(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  CU(cudaDeviceSynchronize());  // the context stream is non-blocking: finish the upload first
  return static_cast<T*>(p);
}
template <class T>
T* dev_zeros(size_t n) {
  return dev(std::vector<T>(n, T(0)));
}
template <class T>
std::vector<T> host(const T* d, size_t n) {
  CU(cudaStreamSynchronize(g_ctx->stream));
  CU(cudaGetLastError());
  std::vector<T> h(n);
  if (n) CU(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// floor_frac: relative errors are taken against max(|cpu|, floor_frac * max|cpu|); 1.0 makes the
// comparison normwise (max_abs / max|cpu|).
void compare(const std::string& name, const std::vector<float>& gpu, const std::vector<float>& cpu, double tol,
             double floor_frac = 1e-2) {
  ++g_checks;
  double ref = 0;
  for (float c : cpu) ref = std::max(ref, (double)std::fabs(c));
  const double floor = std::max(floor_frac * ref, 1e-30);
  double max_abs = 0, max_rel = 0;
  bool bad = gpu.size() != cpu.size();
  for (size_t i = 0; i < cpu.size() && i < gpu.size(); ++i) {
    const double a = std::fabs((double)gpu[i] - (double)cpu[i]);
    if (!std::isfinite(gpu[i]) && std::isfinite(cpu[i])) bad = true;
    max_abs = std::max(max_abs, a);
    max_rel = std::max(max_rel, a / std::max((double)std::fabs(cpu[i]), floor));
  }
  if (max_rel > tol) bad = true;
  std::printf("  %-44s max_abs %.3e  max_rel %.3e  (tol %.1e)%s\n", name.c_str(), max_abs, max_rel, tol,
              bad ? "  FAIL" : "");
  if (bad) ++g_failures;
}

// An output computed by `gemms` chained GEMMs: element-wise kTolGemm in fp32, normwise
// gemms * kTolTf32Gemm under TF32 (see kTolTf32Gemm).
void compare_gemm(const std::string& name, const std::vector<float>& gpu, const std::vector<float>& cpu, int gemms) {
  if (g_tf32)
    compare(name + " [tf32, normwise]", gpu, cpu, gemms * kTolTf32Gemm, 1.0);
  else
    compare(name, gpu, cpu, kTolGemm);
}

std::vector<int32_t> make_mask(int64_t B, int64_t T) {
  // b % 3 == 0: all valid; 1: first ceil(T/2) valid; 2: none valid (uniform attention, empty mean).
  std::vector<int32_t> m(B * T, 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      if (b % 3 == 1 && t >= (T + 1) / 2) m[b * T + t] = 0;
      if (b % 3 == 2) m[b * T + t] = 0;
    }
  return m;
}

// ---- individual layer checks ---------------------------------------------------------------

// with_positions: RoBERTa position ids (padding_idx 1, from the padded mask), as bert::Model makes them.
void check_embeddings(int64_t B, int64_t T, int64_t C, bool with_type, bool with_types, bool with_positions = false) {
  const int64_t V = 37, P = std::max<int64_t>(16, T) + 2, TV = 2, N = B * T;
  std::printf("embeddings B=%lld T=%lld C=%lld type=%d types=%d positions=%d\n", (long long)B, (long long)T,
              (long long)C, with_type, with_types, with_positions);
  std::vector<int32_t> positions(N);
  const auto pmask = make_mask(B, T);
  bert::position_ids(positions.data(), pmask.data(), B, T, 1);
  const int32_t* hp = with_positions ? positions.data() : nullptr;
  const int32_t* dp = with_positions ? dev(positions) : nullptr;
  auto ids = rnd_ints(N, 0, V - 1);
  auto types = rnd_ints(N, 0, TV - 1);
  auto word = rnd(V * C), pos = rnd(P * C), type = rnd(TV * C);
  std::vector<float> out_c(N * C);
  bert::embeddings_forward(out_c.data(), ids.data(), with_types ? types.data() : nullptr, word.data(), pos.data(),
                           with_type ? type.data() : nullptr, B, T, C, 1, hp);
  float* d_out = dev_zeros<float>(N * C);
  OK(cb::embeddings_forward(d_out, dev(ids), with_types ? dev(types) : nullptr, dev(word), dev(pos),
                            with_type ? dev(type) : nullptr, B, T, C, g_ctx, dp));
  compare("embeddings_forward out", host(d_out, N * C), out_c, kTolElem);

  auto dout = rnd(N * C);
  auto dword = rnd(V * C), dpos = rnd(P * C), dtype = rnd(TV * C);  // accumulated into
  float *d_dword = dev(dword), *d_dpos = dev(dpos), *d_dtype = dev(dtype);
  int32_t* scratch = dev_zeros<int32_t>(cb::embeddings_backward_scratch(B, T));
  bert::embeddings_backward(dword.data(), dpos.data(), with_type ? dtype.data() : nullptr, dout.data(), ids.data(),
                            with_types ? types.data() : nullptr, B, T, C, hp);
  OK(cb::embeddings_backward(d_dword, d_dpos, with_type ? d_dtype : nullptr, dev(dout), dev(ids),
                             with_types ? dev(types) : nullptr, B, T, C, TV, scratch, g_ctx, dp));
  compare("embeddings_backward dword", host(d_dword, V * C), dword, kTolElem);
  compare("embeddings_backward dpos", host(d_dpos, P * C), dpos, kTolElem);
  if (with_type) compare("embeddings_backward dtype", host(d_dtype, TV * C), dtype, kTolElem);
}

void check_layernorm(int64_t N, int64_t C) {
  std::printf("layernorm N=%lld C=%lld\n", (long long)N, (long long)C);
  auto inp = rnd(N * C, -2.0f, 3.0f), w = rnd(C, 0.5f, 1.5f), b = rnd(C);
  std::vector<float> out(N * C), mean(N), rstd(N);
  bert::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-12f, 1);
  float *d_out = dev_zeros<float>(N * C), *d_mean = dev_zeros<float>(N), *d_rstd = dev_zeros<float>(N);
  float *d_inp = dev(inp), *d_w = dev(w);
  OK(cb::layernorm_forward(d_out, d_mean, d_rstd, d_inp, d_w, dev(b), N, C, 1e-12f, g_ctx));
  compare("layernorm_forward out", host(d_out, N * C), out, kTolElem);
  compare("layernorm_forward mean", host(d_mean, N), mean, kTolElem);
  compare("layernorm_forward rstd", host(d_rstd, N), rstd, kTolElem);

  auto dout = rnd(N * C), dw = rnd(C), db = rnd(C);
  float *d_dw = dev(dw), *d_db = dev(db), *d_dinp = dev_zeros<float>(N * C);
  std::vector<float> dinp(N * C);
  bert::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), mean.data(), rstd.data(),
                           w.data(), N, C, 1);
  float* scratch = dev_zeros<float>(cb::layernorm_backward_scratch(N, C));
  // Use the CPU's saved statistics so that the backward is compared on identical inputs.
  OK(cb::layernorm_backward(d_dinp, d_dw, d_db, dev(dout), d_inp, dev(mean), dev(rstd), d_w, N, C, scratch, g_ctx));
  compare("layernorm_backward dinp", host(d_dinp, N * C), dinp, kTolElem);
  compare("layernorm_backward dw", host(d_dw, C), dw, kTolElem);
  compare("layernorm_backward db", host(d_db, C), db, kTolElem);
}

void check_matmul(int64_t N, int64_t IC, int64_t OC, bool bias, bool residual, bool accumulate, bool with_dinp) {
  std::printf("matmul N=%lld IC=%lld OC=%lld bias=%d residual=%d accumulate=%d dinp=%d\n", (long long)N,
              (long long)IC, (long long)OC, bias, residual, accumulate, with_dinp);
  auto inp = rnd(N * IC), w = rnd(OC * IC), b = rnd(OC), res = rnd(N * OC);
  std::vector<float> out(N * OC);
  bert::matmul_forward(out.data(), inp.data(), w.data(), bias ? b.data() : nullptr, residual ? res.data() : nullptr,
                       N, IC, OC, 1);
  float* d_out = dev(rnd(N * OC));  // garbage that must be overwritten
  float *d_inp = dev(inp), *d_w = dev(w);
  OK(cb::matmul_forward(d_out, d_inp, d_w, bias ? dev(b) : nullptr, residual ? dev(res) : nullptr, N, IC, OC, g_ctx));
  compare_gemm("matmul_forward out", host(d_out, N * OC), out, 1);

  auto dout = rnd(N * OC), dinp = rnd(N * IC), dw = rnd(OC * IC), db = rnd(OC);
  float *d_dinp = dev(dinp), *d_dw = dev(dw), *d_db = dev(db);
  bert::matmul_backward(with_dinp ? dinp.data() : nullptr, accumulate, dw.data(), bias ? db.data() : nullptr,
                        dout.data(), inp.data(), w.data(), N, IC, OC, 1);
  float* scratch = dev_zeros<float>(cb::matmul_backward_scratch(N, OC));
  OK(cb::matmul_backward(with_dinp ? d_dinp : nullptr, accumulate, d_dw, bias ? d_db : nullptr, dev(dout), d_inp, d_w,
                         N, IC, OC, scratch, g_ctx));
  if (with_dinp) compare_gemm("matmul_backward dinp", host(d_dinp, N * IC), dinp, 1);
  compare_gemm("matmul_backward dw", host(d_dw, OC * IC), dw, 1);
  compare("matmul_backward db", host(d_db, OC), db, kTolGemm);  // row sums, no GEMM: fp32 either way
}

// with_bias: an MPNet relative attention bias (NH,T,T), built from a random (32,NH) table by
// relbias_forward, and its gradient through attention_backward and relbias_backward.
void check_attention(int64_t B, int64_t T, int64_t C, int64_t NH, bool with_mask, bool with_bias = false) {
  std::printf("attention B=%lld T=%lld C=%lld NH=%lld mask=%d bias=%d\n", (long long)B, (long long)T, (long long)C,
              (long long)NH, with_mask, with_bias);
  const int64_t N = B * T, hs = C / NH, NB = 32;
  auto qkv = rnd(N * 3 * C, -2.0f, 2.0f);
  auto mask = make_mask(B, T);
  const int32_t* mk = with_mask ? mask.data() : nullptr;
  std::vector<int32_t> buckets(2 * T - 1);
  bert::relative_buckets(buckets.data(), T, NB, 128);
  auto table = rnd(NB * NH, -2.0f, 2.0f);
  std::vector<float> bias(NH * T * T);
  bert::relbias_forward(bias.data(), table.data(), buckets.data(), T, NH);
  int32_t* d_buckets = dev(buckets);
  float* d_bias = nullptr;
  if (with_bias) {
    d_bias = dev_zeros<float>(NH * T * T);
    OK(cb::relbias_forward(d_bias, dev(table), d_buckets, T, NH, g_ctx));
    compare("relbias_forward", host(d_bias, NH * T * T), bias, kTolElem);
  }
  const float* hb = with_bias ? bias.data() : nullptr;
  std::vector<float> out(N * C), qkvp(3 * N * C), probs(B * NH * T * T), sc(bert::attention_forward_scratch(T, hs));
  bert::attention_forward(out.data(), qkvp.data(), probs.data(), qkv.data(), mk, B, T, C, NH, sc.data(), 1, hb);
  float *d_out = dev_zeros<float>(N * C), *d_qkvp = dev_zeros<float>(3 * N * C),
        *d_probs = dev_zeros<float>(B * NH * T * T);
  float* fsc = dev_zeros<float>(cb::attention_forward_scratch(B, T, C));
  OK(cb::attention_forward(d_out, d_qkvp, d_probs, dev(qkv), with_mask ? dev(mask) : nullptr, B, T, C, NH, fsc,
                           g_ctx, d_bias));
  compare("attention_forward qkvp", host(d_qkvp, 3 * N * C), qkvp, kTolElem);
  compare_gemm("attention_forward probs (softmax)", host(d_probs, B * NH * T * T), probs, 2);
  compare_gemm("attention_forward out", host(d_out, N * C), out, 3);

  // Softmax alone on identical scores (element-wise tolerance): scores = probs-independent random.
  {
    auto scores = rnd(B * NH * T * T, -3.0f, 3.0f);
    const float scale = 1.0f / std::sqrt((float)hs);
    std::vector<float> p(scores.size());
    for (int64_t r = 0; r < B * NH * T; ++r) {  // reference, same algorithm as the CPU attention
      const int64_t b = r / (NH * T);
      const int32_t* m = mk ? mk + b * T : nullptr;
      bool any = !m;
      for (int64_t j = 0; m && j < T; ++j) any = any || m[j] != 0;
      const float* x = scores.data() + r * T;
      float* o = p.data() + r * T;
      if (!any) {
        for (int64_t j = 0; j < T; ++j) o[j] = 1.0f / (float)T;
        continue;
      }
      float mx = -INFINITY;
      for (int64_t j = 0; j < T; ++j)
        if (!m || m[j]) mx = std::max(mx, scale * x[j]);
      float s = 0;
      for (int64_t j = 0; j < T; ++j) {
        o[j] = (!m || m[j]) ? std::exp(scale * x[j] - mx) : 0.0f;
        s += o[j];
      }
      for (int64_t j = 0; j < T; ++j) o[j] *= 1.0f / s;
    }
    float* d_p = dev_zeros<float>(scores.size());
    OK(cb::softmax_forward(d_p, dev(scores), with_mask ? dev(mask) : nullptr, scale, B, NH, T, g_ctx));
    compare("softmax_forward (alone)", host(d_p, scores.size()), p, kTolElem);
    auto dp = rnd(scores.size());
    std::vector<float> ds(scores.size());
    for (int64_t r = 0; r < B * NH * T; ++r) {
      float s = 0;
      for (int64_t j = 0; j < T; ++j) s += p[r * T + j] * dp[r * T + j];
      for (int64_t j = 0; j < T; ++j) ds[r * T + j] = scale * p[r * T + j] * (dp[r * T + j] - s);
    }
    float* d_ds = dev(dp);  // in place
    OK(cb::softmax_backward(d_ds, d_ds, dev(p), scale, B, NH, T, g_ctx));
    compare("softmax_backward (alone, in place)", host(d_ds, scores.size()), ds, kTolElem);
  }

  auto dout = rnd(N * C);
  std::vector<float> dqkv(N * 3 * C), bsc(bert::attention_backward_scratch(T, hs));
  auto dbias = rnd(NH * T * T);  // accumulated into
  std::vector<float> dbias_bh(B * NH * T * T);
  float* d_dbias = with_bias ? dev(dbias) : nullptr;
  bert::attention_backward(dqkv.data(), dout.data(), qkvp.data(), probs.data(), B, T, C, NH, bsc.data(), 1, mk,
                           with_bias ? dbias.data() : nullptr, dbias_bh.data());
  float* d_dqkv = dev(rnd(N * 3 * C));
  float* bscr = dev_zeros<float>(cb::attention_backward_scratch(B, T, C, NH));
  // Backward on the CPU's saved activations, so only the backward itself is compared.
  OK(cb::attention_backward(d_dqkv, dev(dout), dev(qkvp), dev(probs), B, T, C, NH, bscr, g_ctx, d_dbias));
  compare_gemm("attention_backward dqkv", host(d_dqkv, N * 3 * C), dqkv, 3);
  if (with_bias) {
    compare_gemm("attention_backward dbias", host(d_dbias, NH * T * T), dbias, 2);
    auto dtable = rnd(NB * NH);
    float* d_dtable = dev(dtable);
    bert::relbias_backward(dtable.data(), dbias.data(), buckets.data(), T, NH);
    OK(cb::relbias_backward(d_dtable, dev(dbias), d_buckets, T, NH, NB, g_ctx));
    compare("relbias_backward dtable", host(d_dtable, NB * NH), dtable, kTolElem);
  }
}

void check_gelu(int64_t N, int64_t F) {
  std::printf("gelu N=%lld F=%lld\n", (long long)N, (long long)F);
  const int64_t n = N * F;
  auto h = rnd(n, -4.0f, 4.0f), bias = rnd(F);
  std::vector<float> out(n);
  bert::gelu_forward(out.data(), h.data(), n, 1);
  float* d_h = dev(h);
  float* d_out = dev_zeros<float>(n);
  OK(cb::gelu_forward(d_out, d_h, n, g_ctx));
  compare("gelu_forward", host(d_out, n), out, kTolElem);
  auto dout = rnd(n);
  std::vector<float> d = dout;
  bert::gelu_backward(d.data(), h.data(), n, 1);
  float* d_d = dev(dout);
  OK(cb::gelu_backward(d_d, d_h, n, g_ctx));
  compare("gelu_backward", host(d_d, n), d, kTolElem);

  // fused bias + GELU
  std::vector<float> hb(n);
  for (int64_t i = 0; i < n; ++i) hb[i] = h[i] + bias[i % F];
  std::vector<float> gb(n);
  bert::gelu_forward(gb.data(), hb.data(), n, 1);
  float* d_hb = dev(h);
  OK(cb::bias_gelu_forward(d_hb, d_out, dev(bias), N, F, g_ctx));
  compare("bias_gelu_forward h", host(d_hb, n), hb, kTolElem);
  compare("bias_gelu_forward out", host(d_out, n), gb, kTolElem);
  std::vector<float> dh = dout;
  bert::gelu_backward(dh.data(), hb.data(), n, 1);
  auto dbias = rnd(F);
  std::vector<float> dbias_ref = dbias;
  for (int64_t f = 0; f < F; ++f) {
    double s = 0;
    for (int64_t r = 0; r < N; ++r) s += dh[r * F + f];
    dbias_ref[f] += (float)s;
  }
  float* d_dbias = dev(dbias);
  float* d_dh = dev(dout);  // in place: dh aliases dout
  float* scratch = dev_zeros<float>(cb::bias_gelu_backward_scratch(N, F));
  OK(cb::bias_gelu_backward(d_dh, d_dbias, d_dh, dev(hb), N, F, scratch, g_ctx));
  compare("bias_gelu_backward dh (in place)", host(d_dh, n), dh, kTolElem);
  compare("bias_gelu_backward dbias", host(d_dbias, F), dbias_ref, kTolElem);

  // residual add / accumulate
  auto a = rnd(n), b2 = rnd(n);
  std::vector<float> s(n);
  for (int64_t i = 0; i < n; ++i) s[i] = a[i] + b2[i];
  float* d_a = dev(a);
  float* d_s = dev_zeros<float>(n);
  OK(cb::residual_forward(d_s, d_a, dev(b2), n, g_ctx));
  compare("residual_forward", host(d_s, n), s, kTolElem);
  OK(cb::accumulate(d_a, dev(b2), n, g_ctx));
  compare("accumulate (residual backward)", host(d_a, n), s, kTolElem);
}

void check_pool(int64_t B, int64_t T, int64_t C, const bert::PoolModes& pooling, bool normalize, bool with_mask) {
  std::printf("pool B=%lld T=%lld C=%lld pooling=%d", (long long)B, (long long)T, (long long)C, pooling.mode[0]);
  for (int k = 1; k < pooling.n; ++k) std::printf("+%d", pooling.mode[k]);
  std::printf(" normalize=%d mask=%d\n", normalize, with_mask);
  const int64_t N = B * T, D = pooling.n * C;
  auto x = rnd(N * C);
  auto mask = make_mask(B, T);
  const int32_t* mk = with_mask ? mask.data() : nullptr;
  int32_t* d_mask = with_mask ? dev(mask) : nullptr;
  std::vector<float> out(B * D), pooled(B * D), norm(B);
  bert::pool_forward(out.data(), pooled.data(), norm.data(), x.data(), mk, B, T, C, pooling, normalize);
  float *d_out = dev_zeros<float>(B * D), *d_pooled = dev_zeros<float>(B * D), *d_norm = dev_zeros<float>(B);
  OK(cb::pool_forward(d_out, d_pooled, d_norm, dev(x), d_mask, B, T, C, pooling, normalize, g_ctx));
  compare("pool_forward out", host(d_out, B * D), out, kTolElem);
  compare("pool_forward pooled", host(d_pooled, B * D), pooled, kTolElem);
  compare("pool_forward norm", host(d_norm, B), norm, kTolElem);
  auto dout = rnd(B * D);
  std::vector<float> dx(N * C);
  bert::pool_backward(dx.data(), dout.data(), out.data(), norm.data(), x.data(), mk, B, T, C, pooling, normalize);
  float* d_dx = dev(rnd(N * C));  // garbage that must be overwritten
  OK(cb::pool_backward(d_dx, dev(dout), dev(out), dev(norm), dev(x), d_mask, B, T, C, pooling, normalize, g_ctx));
  compare("pool_backward dx", host(d_dx, N * C), dx, kTolElem);
}

void check_l2norm(int64_t B, int64_t C) {
  std::printf("l2norm B=%lld C=%lld\n", (long long)B, (long long)C);
  auto x = rnd(B * C);
  std::fill(x.begin() + C, x.begin() + 2 * C, 0.0f);  // a zero row: norm clamps to 1e-12
  // Reference: CPU pooling of T=1 sequences with CLS pooling is exactly an L2 normalisation.
  std::vector<float> out(B * C), pooled(B * C), norm(B);
  bert::pool_forward(out.data(), pooled.data(), norm.data(), x.data(), nullptr, B, 1, C, bert::PoolModes::one(bert::kPoolCls), true);
  float *d_out = dev_zeros<float>(B * C), *d_norm = dev_zeros<float>(B);
  OK(cb::l2norm_forward(d_out, d_norm, dev(x), B, C, g_ctx));
  compare("l2norm_forward out", host(d_out, B * C), out, kTolElem);
  compare("l2norm_forward norm", host(d_norm, B), norm, kTolElem);
  auto dout = rnd(B * C);
  std::vector<float> dx(B * C);
  bert::pool_backward(dx.data(), dout.data(), out.data(), norm.data(), x.data(), nullptr, B, 1, C, bert::PoolModes::one(bert::kPoolCls), true);
  float* d_dx = dev(dout);  // in place
  OK(cb::l2norm_backward(d_dx, d_dx, dev(out), dev(norm), B, C, g_ctx));
  compare("l2norm_backward dinp (in place)", host(d_dx, B * C), dx, kTolElem);
}

void check_adam(bool decoupled) {
  std::printf("adam decoupled=%d (tiny bert::Model, its layout table)\n", decoupled);
  bert::Config cfg;
  cfg.vocab_size = 37;
  cfg.hidden = 48;
  cfg.layers = 1;
  cfg.heads = 4;
  cfg.intermediate = 100;
  cfg.max_position = 16;
  cfg.type_vocab_size = 2;
  cfg.threads = 1;
  bert::Model model(cfg);
  const int64_t n = model.num_params();
  auto p = rnd(n), g = rnd(n), m = rnd(n, -0.1f, 0.1f), v = rnd(n, 0.0f, 0.1f);
  std::copy(p.begin(), p.end(), model.params());
  std::copy(g.begin(), g.end(), model.grads());
  std::copy(m.begin(), m.end(), model.adam_m());
  std::copy(v.begin(), v.end(), model.adam_v());
  float *d_p = dev(p), *d_g = dev(g), *d_m = dev(m), *d_v = dev(v);
  std::vector<cb::AdamTile> ranges;
  for (const auto& t : model.layout()) ranges.push_back(cb::AdamTile{t.offset, t.offset + t.size, t.decay ? 1 : 0, 0});
  auto tiles = cb::adam_tiles(ranges, 1000);  // small tiles: tensors split across several blocks
  cb::AdamTile* d_tiles = dev(tiles);
  for (int64_t step = 1; step <= 3; ++step) {
    model.adam_step(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step, decoupled);
    OK(cb::adam_step(d_p, d_g, d_m, d_v, d_tiles, (int64_t)tiles.size(), 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step,
                     decoupled, g_ctx));
  }
  compare("adam_step params (3 steps)", host(d_p, n), std::vector<float>(model.params(), model.params() + n), kTolElem);
  compare("adam_step m", host(d_m, n), std::vector<float>(model.adam_m(), model.adam_m() + n), kTolElem);
  compare("adam_step v", host(d_v, n), std::vector<float>(model.adam_v(), model.adam_v() + n), kTolElem);
}

}  // namespace

int main() {
  const int devices = st::cuda_device_count();
  if (devices == 0) {
    std::printf("SKIP: no CUDA device (or no driver); bert_layers_check needs a GPU.\n");
    return 77;
  }
  std::printf("device 0: %s (%d device(s))\n", st::cuda_device_name(0).c_str(), devices);
  std::string err;
  g_ctx = st::cuda_detail::current_ctx(&err);
  if (!g_ctx) {
    std::printf("FATAL: no CUDA context: %s\n", err.c_str());
    return 1;
  }
  const char* precision = std::getenv("ST_GEMM_PRECISION");
  if (precision && std::strcmp(precision, "tf32") == 0) {
    g_tf32 = true;
    g_ctx->gemm_precision = st::cuda_detail::GemmPrecision::kTf32;
  } else if (precision && *precision && std::strcmp(precision, "fp32") != 0) {
    std::printf("FATAL: ST_GEMM_PRECISION must be fp32 or tf32, not '%s'\n", precision);
    return 1;
  }
  std::printf("GEMM precision: %s\n", g_tf32 ? "tf32 (tensor cores, fp32 accumulation)" : "fp32");

  const int64_t B = 3, C = 48, NH = 4, F = 100;
  for (int64_t T : {7, 13}) {
    std::printf("==== T=%lld ====\n", (long long)T);
    const int64_t N = B * T;
    check_embeddings(B, T, C, true, true);
    check_embeddings(B, T, C, true, false);
    check_embeddings(B, T, C, false, false);
    check_embeddings(B, T, C, true, false, true);   // RoBERTa position ids
    check_embeddings(B, T, C, false, false, true);
    check_layernorm(N, C);
    check_matmul(N, C, 3 * C, true, false, false, true);
    check_matmul(N, C, C, true, true, true, true);
    check_matmul(N, F, C, false, true, false, false);
    check_matmul(N, C, F, false, false, true, true);
    check_attention(B, T, C, NH, true);
    check_attention(B, T, C, NH, false);
    check_attention(B, T, C, NH, true, true);  // MPNet relative bias
    check_attention(B, T, C, NH, false, true);
    check_gelu(N, F);
    for (int pooling = 0; pooling < bert::kPoolModes; ++pooling)
      for (int normalize = 0; normalize < 2; ++normalize) {
        check_pool(B, T, C, bert::PoolModes::one(pooling), normalize != 0, true);
        check_pool(B, T, C, bert::PoolModes::one(pooling), normalize != 0, false);
      }
    // several modes, concatenated (sentence-transformers' Pooling with a list of modes)
    bert::PoolModes all;
    all.n = bert::kPoolModes;
    for (int k = 0; k < bert::kPoolModes; ++k) all.mode[k] = (k + 2) % bert::kPoolModes;
    check_pool(B, T, C, all, true, true);
    check_pool(B, T, C, all, false, false);
  }
  check_layernorm(300, 384);  // several column-reduction chunks, C > one warp's stride many times
  check_matmul(300, 384, 1536, true, true, false, true);
  check_attention(4, 128, 384, 12, true);
  check_embeddings(8, 128, 384, true, true);
  check_l2norm(3, 48);
  check_adam(true);
  check_adam(false);

  for (void* p : g_allocs) cudaFree(p);
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
