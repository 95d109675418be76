// synthtune: the CPU kernels at their edges, for the sanitizer build (scripts/asan-check.sh builds
// this with -fsanitize=address,undefined; it also runs plain). No Node needed.
//
// What kernel_check.cc does not reach: NaN / ±Inf inputs (top-k must never return a NaN score nor
// an index out of range; sgemm with beta = 0 ignores NaN in C), exclusion lists with ids outside
// [0, N), every query excluding everything, the training kernels (embedding bag forward/backward,
// row-wise Adam) including the inputs they must refuse with an error message (ids out of range,
// bad offsets, bad rows), and the BERT model's forward/backward/Adam step on tiny configs: every
// pooling mode, RoBERTa positions, MPNet relative buckets, normalisation, sequences with no real
// token, several slots and shapes that grow and shrink the activation buffers.
//
// Exits non-zero on the first sanitizer report (-fno-sanitize-recover) or on any failed check.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../cpu/bert.h"
#include "../cpu/threadpool.h"
#include "../kernels.h"

using st::cpu::SimdLevel;

static int g_failures = 0;
static std::mt19937_64 g_rng(777);

#define CHECK(cond, ...)                                 \
  do {                                                   \
    if (!(cond)) {                                       \
      if (++g_failures <= 30) {                          \
        std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
        std::printf(__VA_ARGS__);                        \
        std::printf("\n");                               \
      }                                                  \
    }                                                    \
  } while (0)

static const float kNaN = std::numeric_limits<float>::quiet_NaN();
static const float kInf = std::numeric_limits<float>::infinity();

static std::vector<float> rand_vec(size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g_rng);
  return v;
}

// Sprinkles NaN, +Inf and -Inf over about 1 in `every` values.
static void poison(std::vector<float>& v, int every) {
  std::uniform_int_distribution<int> pick(0, every * 3 - 1);
  for (auto& x : v) {
    int p = pick(g_rng);
    if (p == 0) x = kNaN;
    else if (p == 1) x = kInf;
    else if (p == 2) x = -kInf;
  }
}

// ---- top-k with NaN / Inf, odd exclusions --------------------------------------------------------
static void test_topk_nonfinite(SimdLevel lv) {
  for (int64_t Q : {1, 5, 40})
    for (int64_t N : {1, 9, 300})
      for (int64_t D : {1, 7, 33})
        for (int64_t k : {1, 4, 9}) {
          if (k > N) continue;
          auto X = rand_vec(N * D), Qv = rand_vec(Q * D);
          poison(X, 7);
          poison(Qv, 11);
          // exclusions: ids outside [0, N), duplicates, and a query that excludes everything
          std::vector<int32_t> off{0}, ids;
          for (int64_t q = 0; q < Q; ++q) {
            if (q % 4 == 1) {
              for (int64_t j = 0; j < N; ++j) ids.push_back(static_cast<int32_t>(j));
            } else {
              ids.push_back(-1);
              ids.push_back(static_cast<int32_t>(N));
              ids.push_back(std::numeric_limits<int32_t>::max());
              ids.push_back(static_cast<int32_t>(q % N));
              ids.push_back(static_cast<int32_t>(q % N));
            }
            off.push_back(static_cast<int32_t>(ids.size()));
          }
          std::vector<int32_t> oi(Q * k + 4, 555);
          std::vector<float> os(Q * k + 4, 555.0f);
          st::cpu::topk_ip_at(lv, Qv.data(), Q, X.data(), N, D, k, off.data(), ids.data(), oi.data(), os.data(),
                              1 + static_cast<int>(Q % 3));
          for (int x = 0; x < 4; ++x) CHECK(oi[Q * k + x] == 555 && os[Q * k + x] == 555.0f, "topk wrote past its output");
          for (int64_t q = 0; q < Q; ++q) {
            for (int64_t r = 0; r < k; ++r) {
              const int32_t i = oi[q * k + r];
              const float s = os[q * k + r];
              CHECK(i >= -1 && i < N, "topk %s Q=%lld N=%lld D=%lld: index %d out of range", st::cpu::simd_level_name(lv),
                    (long long)Q, (long long)N, (long long)D, i);
              CHECK(!std::isnan(s), "topk %s: NaN score returned", st::cpu::simd_level_name(lv));
              if (i == -1) CHECK(s == -kInf, "topk: an unfilled slot has score %g", s);
              if (q % 4 == 1) CHECK(i == -1, "topk: query %lld excludes everything but got %d", (long long)q, i);
              if (r > 0 && i >= 0) CHECK(os[q * k + r - 1] >= s, "topk: scores out of order");
            }
          }
        }
}

// ---- sgemm with NaN / Inf ------------------------------------------------------------------------
static void test_sgemm_nonfinite(SimdLevel lv) {
  for (int64_t M : {1, 5, 37})
    for (int64_t N : {1, 6, 41})
      for (int64_t K : {1, 9, 70}) {
        auto A = rand_vec(M * K), B = rand_vec(K * N);
        poison(A, 13);
        poison(B, 13);
        std::vector<float> C(M * N + 4, kNaN);  // beta = 0: NaN garbage in C must be ignored
        for (int x = 0; x < 4; ++x) C[M * N + x] = 123.0f;
        st::cpu::sgemm_at(lv, (M + N) % 2 == 1, 1, M, N, K, 1.0f, A.data(), B.data(), 0.0f, C.data(), 2);
        for (int x = 0; x < 4; ++x) CHECK(C[M * N + x] == 123.0f, "sgemm wrote past C");
        // a row of A and a column of B without non-finite values gives a finite result
        const bool tb = (M + N) % 2 == 1;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            bool finite = true;
            for (int64_t p = 0; p < K; ++p) {
              finite = finite && std::isfinite(A[i * K + p]) && std::isfinite(tb ? B[j * K + p] : B[p * N + j]);
            }
            if (finite) CHECK(std::isfinite(C[i * N + j]), "sgemm %s: finite inputs gave %g", st::cpu::simd_level_name(lv), C[i * N + j]);
          }
      }
}

// ---- training kernels ----------------------------------------------------------------------------
static void test_training_kernels() {
  const int64_t V = 50, D = 7;
  auto E = rand_vec(V * D);
  // texts: empty, one token, several (with repeats)
  std::vector<int32_t> ids{3, 3, 49, 0, 7, 1, 2, 3, 4, 5};
  std::vector<int32_t> off{0, 0, 1, 4, 4, 10};
  const int64_t B = 5, T = static_cast<int64_t>(ids.size());
  std::vector<float> out(B * D + 3, 9.0f);
  CHECK(st::embedding_bag_forward(E.data(), V, D, ids.data(), T, off.data(), B, out.data(), 2).empty(), "forward failed");
  for (int64_t d = 0; d < D; ++d) CHECK(out[d] == 0.0f && out[3 * D + d] == 0.0f, "empty text is not zero");
  for (int x = 0; x < 3; ++x) CHECK(out[B * D + x] == 9.0f, "embedding forward wrote past out");
  std::vector<float> dOut = rand_vec(B * D), gradE(V * D, 0.0f);
  CHECK(st::embedding_bag_backward(dOut.data(), ids.data(), T, off.data(), B, D, gradE.data(), V, 3).empty(), "backward failed");
  // refused inputs: an error message, nothing read out of bounds
  std::vector<int32_t> bad_ids{3, 50};
  std::vector<int32_t> bad_neg{-1, 2};
  std::vector<int32_t> off2{0, 2};
  CHECK(!st::embedding_bag_forward(E.data(), V, D, bad_ids.data(), 2, off2.data(), 1, out.data(), 1).empty(), "id = V accepted");
  CHECK(!st::embedding_bag_forward(E.data(), V, D, bad_neg.data(), 2, off2.data(), 1, out.data(), 1).empty(), "id < 0 accepted");
  CHECK(!st::embedding_bag_backward(dOut.data(), bad_ids.data(), 2, off2.data(), 1, D, gradE.data(), V, 1).empty(), "backward id = V accepted");
  std::vector<int32_t> off_dec{0, 3, 2}, off_end{0, 1, 9}, off_start{1, 2, 2};
  CHECK(!st::embedding_bag_forward(E.data(), V, D, ids.data(), T, off_dec.data(), 2, out.data(), 1).empty(), "decreasing offsets accepted");
  CHECK(!st::embedding_bag_forward(E.data(), V, D, ids.data(), T, off_end.data(), 2, out.data(), 1).empty(), "offsets[B] != T accepted");
  CHECK(!st::embedding_bag_forward(E.data(), V, D, ids.data(), T, off_start.data(), 2, out.data(), 1).empty(), "offsets[0] != 0 accepted");

  // Adam over all rows, some rows, and refused row lists
  const int64_t n = V * D;
  auto x = rand_vec(n), g = rand_vec(n);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  CHECK(st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, D, nullptr, 0, 1e-3, 0.9, 0.999, 1e-8, 10, 1000, 0, 1e-5, 2).empty(),
        "adam all rows failed");
  std::vector<int32_t> rows{0, 49, 17};
  CHECK(st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, D, rows.data(), 3, 1e-3, 0.9, 0.999, 1e-8, 10, 1000, 0.01, 0, 1).empty(),
        "adam some rows failed");
  for (float f : x) CHECK(std::isfinite(f), "adam gave a non-finite parameter");
  std::vector<int32_t> bad_rows{0, 50}, neg_rows{-1}, dup_rows{4, 4};
  CHECK(!st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, D, bad_rows.data(), 2, 1e-3, 0.9, 0.999, 1e-8, 1, 1, 0, 0, 1).empty(),
        "adam row = n/width accepted");
  CHECK(!st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, D, neg_rows.data(), 1, 1e-3, 0.9, 0.999, 1e-8, 1, 1, 0, 0, 1).empty(),
        "adam row < 0 accepted");
  CHECK(!st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, D, dup_rows.data(), 2, 1e-3, 0.9, 0.999, 1e-8, 1, 1, 0, 0, 2).empty(),
        "adam duplicate rows accepted");
  CHECK(!st::adam_rows(x.data(), g.data(), m.data(), v.data(), n, 3, nullptr, 0, 1e-3, 0.9, 0.999, 1e-8, 1, 1, 0, 0, 1).empty(),
        "adam width not dividing n accepted");
}

// ---- BERT model ----------------------------------------------------------------------------------
static void run_bert(const st::bert::Config& c, const char* what) {
  std::string err = st::bert::check_config(c);
  CHECK(err.empty(), "%s: config refused: %s", what, err.c_str());
  if (!err.empty()) return;
  st::bert::Model model(c);
  auto init = rand_vec(model.num_params(), 0.05f);
  std::copy(init.begin(), init.end(), model.params());
  const int64_t Tmax = st::bert::max_seq(c);
  const int64_t D = st::bert::out_dim(c);
  int64_t t = 0;
  // (B, T, slot): grow, shrink, T = 1, T = max, two slots
  const int64_t shapes[][3] = {{2, 5, 0}, {1, 1, 1}, {3, std::min<int64_t>(Tmax, 9), 0}, {2, Tmax, 1}, {1, 3, 0}};
  for (const auto& s : shapes) {
    const int64_t B = s[0], T = s[1];
    const int slot = static_cast<int>(s[2]);
    std::vector<int32_t> ids(B * T), mask(B * T, 1), types(B * T, 0);
    std::uniform_int_distribution<int64_t> tok(0, c.vocab_size - 1);
    for (auto& i : ids) i = static_cast<int32_t>(tok(g_rng));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < T; ++p) {
        if (b == 0 && B > 1) mask[b * T + p] = 0;        // a sequence with no real token
        else if (p >= (T + 1) / 2 + b) mask[b * T + p] = 0;  // right padding
        if (c.type_vocab_size > 1) types[b * T + p] = static_cast<int32_t>(p % c.type_vocab_size);
      }
    std::vector<float> out(B * D + 2, 42.0f);
    model.forward(slot, ids.data(), mask.data(), c.type_vocab_size > 0 ? types.data() : nullptr, B, T, out.data());
    CHECK(out[B * D] == 42.0f && out[B * D + 1] == 42.0f, "%s: forward wrote past out", what);
    for (int64_t i = 0; i < B * D; ++i) CHECK(std::isfinite(out[i]), "%s: forward B=%lld T=%lld gave %g", what, (long long)B, (long long)T, out[i]);
    auto dout = rand_vec(B * D);
    model.zero_grad();
    model.backward(slot, dout.data());
    const float* g = model.grads();
    for (int64_t i = 0; i < model.num_params(); ++i) {
      if (!std::isfinite(g[i])) {
        CHECK(false, "%s: backward gave a non-finite gradient at %lld", what, (long long)i);
        break;
      }
    }
    ++t;
    model.adam_step(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t, t % 2 == 0);
  }
  // packed inference: lengths 1..Tmax back to back (scratch grows, then is reused), equal to the
  // masked forward of the same sequences padded to Tmax
  const int64_t lens[][4] = {{3, 1, 0, 0}, {Tmax, 2, 5, 1}, {1, 0, 0, 0}, {std::min<int64_t>(Tmax, 7), Tmax, 0, 0}};
  for (const auto& l : lens) {
    std::vector<int64_t> off{0};
    for (int64_t L : l) if (L > 0) off.push_back(off.back() + L);
    const int64_t B = static_cast<int64_t>(off.size()) - 1, N = off.back();
    std::vector<int32_t> ids(N), types(N, 0);
    std::uniform_int_distribution<int64_t> tok(0, c.vocab_size - 1);
    for (auto& i : ids) i = static_cast<int32_t>(tok(g_rng));
    if (c.type_vocab_size > 1) for (int64_t i = 0; i < N; ++i) types[i] = static_cast<int32_t>(i % c.type_vocab_size);
    std::vector<float> out(B * D + 2, 42.0f);
    model.infer(ids.data(), c.type_vocab_size > 0 ? types.data() : nullptr, off.data(), B, out.data());
    CHECK(out[B * D] == 42.0f && out[B * D + 1] == 42.0f, "%s: infer wrote past out", what);
    std::vector<int32_t> pid(B * Tmax, 0), pmask(B * Tmax, 0), pty(B * Tmax, 0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < off[b + 1] - off[b]; ++p) {
        pid[b * Tmax + p] = ids[off[b] + p];
        pmask[b * Tmax + p] = 1;
        pty[b * Tmax + p] = types[off[b] + p];
      }
    std::vector<float> ref(B * D);
    model.forward(2, pid.data(), pmask.data(), c.type_vocab_size > 0 ? pty.data() : nullptr, B, Tmax, ref.data());
    float worst = 0;
    for (int64_t i = 0; i < B * D; ++i) worst = std::max(worst, std::fabs(out[i] - ref[i]));
    CHECK(worst <= 1e-5f, "%s: infer B=%lld differs from the padded forward by %g", what, (long long)B, worst);
  }
}

static st::bert::Config c_fast(int64_t hidden, int64_t heads, int64_t rel_buckets) {
  st::bert::Config c;
  c.vocab_size = 31;
  c.hidden = hidden;
  c.layers = 1;
  c.heads = heads;
  c.intermediate = 20;
  c.max_position = 16;
  c.type_vocab_size = rel_buckets ? 0 : 2;
  c.padding_idx = rel_buckets ? 1 : -1;
  c.rel_buckets = rel_buckets;
  if (rel_buckets) c.rel_max_distance = 6;
  c.pooling = st::bert::PoolModes::one(st::bert::kPoolMean);
  c.threads = 2;
  return c;
}

static void test_bert() {
  using namespace st::bert;
  for (int mode = 0; mode < kPoolModes; ++mode) {
    Config c;
    c.vocab_size = 31;
    c.hidden = 8;
    c.layers = 2;
    c.heads = 2;
    c.intermediate = 12;
    c.max_position = 16;
    c.type_vocab_size = 2;
    c.pooling = PoolModes::one(mode);
    c.normalize = mode % 2 == 0;
    c.threads = 2;
    char what[64];
    std::snprintf(what, sizeof what, "bert pooling %d", mode);
    run_bert(c, what);
  }
  Config r;  // RoBERTa positions, no token types, all pooling modes concatenated
  r.vocab_size = 20;
  r.hidden = 12;
  r.layers = 1;
  r.heads = 3;
  r.intermediate = 7;
  r.max_position = 14;
  r.type_vocab_size = 0;
  r.padding_idx = 1;
  r.pooling.n = kPoolModes;
  for (int i = 0; i < kPoolModes; ++i) r.pooling.mode[i] = i;
  r.normalize = true;
  run_bert(r, "bert roberta positions, every pooling");
  Config p = r;  // MPNet relative attention buckets
  p.rel_buckets = 8;
  p.rel_max_distance = 6;
  p.pooling = PoolModes::one(kPoolMean);
  run_bert(p, "bert mpnet relative buckets");
  // Head sizes 16 and 32 take the AVX-512 attention path (transposed keys, no packing) where the
  // CPU has it: its scratch and strided reads / writes under the sanitizer.
  Config f = c_fast(32, 2, 0);
  run_bert(f, "bert head size 16 (fast attention)");
  Config g = c_fast(32, 1, 8);
  run_bert(g, "bert mpnet head size 32 (fast attention)");
}

int main() {
  const SimdLevel top = st::cpu::simd_level_detected();
  std::printf("boundary checks, SIMD levels up to %s\n", st::cpu::simd_level_name(top));
  for (int l = 0; l <= top; ++l) {
    test_topk_nonfinite(static_cast<SimdLevel>(l));
    test_sgemm_nonfinite(static_cast<SimdLevel>(l));
  }
  test_training_kernels();
  test_bert();
  if (g_failures) {
    std::printf("%d boundary check(s) FAILED\n", g_failures);
    return 1;
  }
  std::printf("all boundary checks passed\n");
  return 0;
}
