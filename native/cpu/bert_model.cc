// synthtune CPU backend: the BERT Model (layout table, flat buffers, forward/backward drivers,
// AdamW). The layer functions are in bert.cc.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "bert.h"
#include "threadpool.h"

namespace st {
namespace bert {

using cpu::parallel_for;

// ---- FloatBuf ---------------------------------------------------------------------------------

FloatBuf::~FloatBuf() { std::free(p); }

void FloatBuf::reset(int64_t n_floats, bool zero) {
  std::free(p);
  p = nullptr;
  n = 0;
  if (n_floats <= 0) return;
  size_t bytes = static_cast<size_t>(n_floats) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  n = n_floats;
  if (zero) std::memset(p, 0, bytes);
}

void FloatBuf::ensure(int64_t n_floats) {
  if (n_floats > n) reset(n_floats, false);
}

// ---- config and layout ------------------------------------------------------------------------

std::string check_config(const Config& c) {
  auto pos = [](int64_t v) { return v >= 1 && v <= (int64_t{1} << 30); };
  if (!pos(c.vocab_size)) return "vocabSize must be an integer in [1, 2^30]";
  if (!pos(c.hidden)) return "hidden must be an integer in [1, 2^30]";
  if (!pos(c.layers) || c.layers > 1024) return "layers must be an integer in [1, 1024]";
  if (!pos(c.heads)) return "heads must be a positive integer";
  if (!pos(c.intermediate)) return "intermediate must be an integer in [1, 2^30]";
  if (!pos(c.max_position)) return "maxPosition must be an integer in [1, 2^30]";
  if (c.type_vocab_size < 0 || c.type_vocab_size > (int64_t{1} << 30)) return "typeVocabSize must be an integer in [0, 2^30]";
  if (c.hidden % c.heads != 0) return "hidden must be divisible by heads";
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps)) return "layerNormEps must be > 0";
  if (!c.pooling.valid()) return "pooling must be 1 to 6 of 'mean', 'cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'";
  if (c.padding_idx < -1 || c.padding_idx >= c.max_position - 1) return "paddingIdx must be -1 (BERT positions) or in [0, maxPosition - 2]";
  if (c.rel_buckets < 0 || c.rel_buckets > 4096 || (c.rel_buckets > 0 && c.rel_buckets < 4)) return "relativeBuckets must be 0 or in [4, 4096]";
  if (c.rel_max_distance < 1 || c.rel_max_distance > (int64_t{1} << 30)) return "relativeMaxDistance must be in [1, 2^30]";
  if (c.rel_buckets > 0 && c.rel_max_distance <= c.rel_buckets / 4) return "relativeMaxDistance must exceed relativeBuckets / 4 (the exact buckets)";
  // Total parameters must fit a Float32Array (< 2^31 elements) and the layout math.
  const double C = static_cast<double>(c.hidden), F = static_cast<double>(c.intermediate);
  const double total = (static_cast<double>(c.vocab_size) + c.max_position + c.type_vocab_size) * C + 2 * C +
                       static_cast<double>(c.rel_buckets) * static_cast<double>(c.heads) +
                       static_cast<double>(c.layers) * (4 * C * C + 2 * C * F + F + 9 * C);
  if (total >= 2147483647.0) return "the model has too many parameters (>= 2^31)";
  return std::string();
}

int64_t max_seq(const Config& c) { return c.padding_idx >= 0 ? c.max_position - c.padding_idx - 1 : c.max_position; }

std::vector<TensorInfo> make_layout(const Config& c, int64_t* n_params) {
  std::string err = check_config(c);
  if (!err.empty()) throw std::invalid_argument(err);
  std::vector<TensorInfo> layout;
  const int64_t V = c.vocab_size, C = c.hidden, F = c.intermediate, P = c.max_position,
                TV = c.type_vocab_size;
  int64_t off = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool decay) {
    TensorInfo t;
    t.name = name;
    t.size = 1;
    for (int64_t d : shape) t.size *= d;
    t.shape = std::move(shape);
    t.offset = off;
    t.decay = decay;
    off += t.size;
    layout.push_back(std::move(t));
  };
  // HF names; weight decay as in the usual HF recipe (not on biases and LayerNorm).
  add("embeddings.word_embeddings.weight", {V, C}, true);
  add("embeddings.position_embeddings.weight", {P, C}, true);
  if (TV > 0) add("embeddings.token_type_embeddings.weight", {TV, C}, true);
  add("embeddings.LayerNorm.weight", {C}, false);
  add("embeddings.LayerNorm.bias", {C}, false);
  for (int64_t l = 0; l < c.layers; l++) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    // q, k, v weights adjacent → one (3C, C) matrix; their biases adjacent → one (3C) vector.
    add(p + "attention.self.query.weight", {C, C}, true);
    add(p + "attention.self.key.weight", {C, C}, true);
    add(p + "attention.self.value.weight", {C, C}, true);
    add(p + "attention.self.query.bias", {C}, false);
    add(p + "attention.self.key.bias", {C}, false);
    add(p + "attention.self.value.bias", {C}, false);
    add(p + "attention.output.dense.weight", {C, C}, true);
    add(p + "attention.output.dense.bias", {C}, false);
    add(p + "attention.output.LayerNorm.weight", {C}, false);
    add(p + "attention.output.LayerNorm.bias", {C}, false);
    add(p + "intermediate.dense.weight", {F, C}, true);
    add(p + "intermediate.dense.bias", {F}, false);
    add(p + "output.dense.weight", {C, F}, true);
    add(p + "output.dense.bias", {C}, false);
    add(p + "output.LayerNorm.weight", {C}, false);
    add(p + "output.LayerNorm.bias", {C}, false);
  }
  // MPNet: one relative-position bias table for all layers (an embedding: decayed like the others).
  if (c.rel_buckets > 0) add("encoder.relative_attention_bias.weight", {c.rel_buckets, c.heads}, true);
  if (n_params) *n_params = off;
  return layout;
}

Model::Model(const Config& c) : cfg_(c) {
  layout_ = make_layout(c, &n_params_);
  params_.reset(n_params_, true);
  grads_.reset(n_params_, true);
  m_.reset(n_params_, true);
  v_.reset(n_params_, true);
  // LayerNorm γ = 1 so a fresh model is a well-defined function before weights are loaded.
  for (const TensorInfo& t : layout_) {
    if (t.name.size() >= 16 && t.name.compare(t.name.size() - 16, 16, "LayerNorm.weight") == 0) {
      std::fill(params_.p + t.offset, params_.p + t.offset + t.size, 1.0f);
    }
  }
  P_ = carve(params_.p);
  G_ = carve(grads_.p);
  constexpr int64_t kChunk = int64_t{1} << 15;
  for (const TensorInfo& t : layout_) {
    for (int64_t s = 0; s < t.size; s += kChunk) {
      chunks_.push_back({t.offset + s, t.offset + std::min(t.size, s + kChunk), t.decay});
    }
  }
}

const TensorInfo* Model::find(const std::string& name) const {
  for (const TensorInfo& t : layout_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

ModelPtrs carve_layout(const Config& c, const std::vector<TensorInfo>& layout, float* base) {
  auto at = [&](const std::string& name) -> float* {
    for (const TensorInfo& t : layout) {
      if (t.name == name) return base + t.offset;
    }
    return nullptr;
  };
  ModelPtrs m;
  m.word = at("embeddings.word_embeddings.weight");
  m.pos = at("embeddings.position_embeddings.weight");
  m.type = at("embeddings.token_type_embeddings.weight");
  m.ln_w = at("embeddings.LayerNorm.weight");
  m.ln_b = at("embeddings.LayerNorm.bias");
  m.rel = at("encoder.relative_attention_bias.weight");
  for (int64_t l = 0; l < c.layers; l++) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    LayerPtrs L;
    L.qkv_w = at(p + "attention.self.query.weight");
    L.qkv_b = at(p + "attention.self.query.bias");
    L.ao_w = at(p + "attention.output.dense.weight");
    L.ao_b = at(p + "attention.output.dense.bias");
    L.ln1_w = at(p + "attention.output.LayerNorm.weight");
    L.ln1_b = at(p + "attention.output.LayerNorm.bias");
    L.fc1_w = at(p + "intermediate.dense.weight");
    L.fc1_b = at(p + "intermediate.dense.bias");
    L.fc2_w = at(p + "output.dense.weight");
    L.fc2_b = at(p + "output.dense.bias");
    L.ln2_w = at(p + "output.LayerNorm.weight");
    L.ln2_b = at(p + "output.LayerNorm.bias");
    m.layer.push_back(L);
  }
  return m;
}

ModelPtrs Model::carve(float* base) const { return carve_layout(cfg_, layout_, base); }

// ---- activations ------------------------------------------------------------------------------

int64_t Model::activation_floats(int64_t B, int64_t T) const {
  const int64_t N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const int64_t per_layer = 3 * N * C + B * NH * T * T + N * C /*atty*/ + N * C /*res1*/ + 2 * N +
                            N * C /*x1*/ + N * F /*h*/ + N * C /*res2*/ + 2 * N + N * C /*x2*/;
  const int64_t relbias = cfg_.rel_buckets > 0 ? NH * T * T : 0;
  return N * C + 2 * N + N * C + cfg_.layers * per_layer + relbias + 2 * B * out_dim(cfg_) + B;
}

void Model::ensure_slot(Slot& s, int64_t B, int64_t T) {
  s.valid = false;
  s.buf.ensure(activation_floats(B, T));
  s.B = B;
  s.T = T;
  float* p = s.buf.p;
  carve_acts(s, cfg_, B, T, [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  });
}

void Model::ensure_scratch(int64_t B, int64_t T) {
  const int64_t N = std::max(B * T, sc_N_), TT = std::max(T, sc_T_);
  if (N == sc_N_ && TT == sc_T_ && sc_.p) return;
  const int64_t C = cfg_.hidden, F = cfg_.intermediate, hs = C / cfg_.heads;
  const int workers = cpu::ThreadPool::global().workers_for(int64_t{1} << 30, cfg_.threads);
  att_per_worker_ = std::max(attention_forward_scratch(TT, hs), attention_backward_scratch(TT, hs));
  // relative-bias gradient: (NH,TT,TT) + (B,NH,T,T) per-sequence part, B·T·T <= N·TT
  const int64_t dbias = cfg_.rel_buckets > 0 ? cfg_.heads * TT * TT + cfg_.heads * N * TT : 0;
  const int64_t total = N * 3 * C /*qkv, dqkv*/ + N * F /*g*/ + 3 * N * C /*dx dres datty*/ +
                        N * F /*dF*/ + workers * att_per_worker_ + dbias;
  sc_.reset(total, false);
  float* p = sc_.p;
  auto take = [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  sc_qkv_ = take(N * 3 * C);
  sc_dqkv_ = sc_qkv_;  // forward-only / backward-only: never live at the same time
  sc_g_ = take(N * F);
  sc_dx_ = take(N * C);
  sc_dres_ = take(N * C);
  sc_datty_ = take(N * C);
  sc_dF_ = take(N * F);
  sc_att_ = take(workers * att_per_worker_);
  sc_dbias_ = dbias ? take(cfg_.heads * TT * TT) : nullptr;
  sc_dbias_bh_ = dbias ? take(dbias - cfg_.heads * TT * TT) : nullptr;
  sc_N_ = N;
  sc_T_ = TT;
}

// ---- forward / backward -----------------------------------------------------------------------

void Model::forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types,
                    int64_t B, int64_t T, float* out) {
  if (slot < 0 || slot >= kMaxSlots) throw std::invalid_argument("slot out of range");
  if (B < 1 || T < 1 || T > max_seq(cfg_)) throw std::invalid_argument("batch / seq out of range");
  Slot& s = slots_[slot];
  ensure_slot(s, B, T);
  ensure_scratch(B, T);
  s.generation++;
  const int64_t N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const int th = cfg_.threads;
  s.ids.assign(ids, ids + N);
  if (mask) s.mask.assign(mask, mask + N); else s.mask.assign(N, 1);
  if (types) s.types.assign(types, types + N); else s.types.assign(N, 0);
  s.pos.resize(N);
  position_ids(s.pos.data(), s.mask.data(), B, T, cfg_.padding_idx);
  if (cfg_.rel_buckets > 0) {
    s.buckets.resize(2 * T - 1);
    relative_buckets(s.buckets.data(), T, cfg_.rel_buckets, cfg_.rel_max_distance);
    relbias_forward(s.relbias, P_.rel, s.buckets.data(), T, NH);
  }

  using Scope = Profiler::Scope;
  const double dN = static_cast<double>(N), attF = 4.0 * B * T * T * C;
  const bool rows = attention_rows_layout(C / NH);  // qkv kept as rows (a.qkvp holds (N,3C))
  {
    Scope _p(prof_, "forward", -1, "embeddings", 0);
    embeddings_forward(s.emb, s.ids.data(), s.types.data(), P_.word, P_.pos, P_.type, B, T, C, th,
                       s.pos.data());
    layernorm_forward(s.x0, s.mean0, s.rstd0, s.emb, P_.ln_w, P_.ln_b, N, C, cfg_.layer_norm_eps, th);
  }
  const float* x = s.x0;
  for (int64_t l = 0; l < cfg_.layers; l++) {
    LayerActs& a = s.L[l];
    const LayerPtrs& p = P_.layer[l];
    {
      Scope _p(prof_, "forward", l, "qkv matmul", 2 * dN * C * 3 * C);
      // (N,3C); kept as it is where attention works on its rows, else gathered per head
      matmul_forward(rows ? a.qkvp : sc_qkv_, x, p.qkv_w, p.qkv_b, nullptr, N, C, 3 * C, th);
    }
    {
      Scope _p(prof_, "forward", l, "attention", attF);
      attention_forward(a.atty, rows ? nullptr : a.qkvp, a.probs, rows ? a.qkvp : sc_qkv_, s.mask.data(), B, T, C, NH, sc_att_, th,
                        s.relbias);
    }
    {
      Scope _p(prof_, "forward", l, "attn-out matmul", 2 * dN * C * C);
      matmul_forward(a.res1, a.atty, p.ao_w, p.ao_b, x, N, C, C, th);                    // x + attn
    }
    {
      Scope _p(prof_, "forward", l, "layernorm", 0);
      layernorm_forward(a.x1, a.mean1, a.rstd1, a.res1, p.ln1_w, p.ln1_b, N, C, cfg_.layer_norm_eps, th);
    }
    {
      Scope _p(prof_, "forward", l, "fc1 matmul", 2 * dN * C * F);
      matmul_forward(a.h, a.x1, p.fc1_w, p.fc1_b, nullptr, N, C, F, th);                // (N,F)
    }
    {
      Scope _p(prof_, "forward", l, "gelu", 0);
      gelu_forward(sc_g_, a.h, N * F, th);
    }
    {
      Scope _p(prof_, "forward", l, "fc2 matmul", 2 * dN * F * C);
      matmul_forward(a.res2, sc_g_, p.fc2_w, p.fc2_b, a.x1, N, F, C, th);                // x1 + ffn
    }
    {
      Scope _p(prof_, "forward", l, "layernorm", 0);
      layernorm_forward(a.x2, a.mean2, a.rstd2, a.res2, p.ln2_w, p.ln2_b, N, C, cfg_.layer_norm_eps, th);
    }
    x = a.x2;
  }
  Scope _pool(prof_, "forward", -1, "pooling", 0);
  pool_forward(s.out, s.pooled, s.norm, x, s.mask.data(), B, T, C, cfg_.pooling, cfg_.normalize);
  if (out) std::memcpy(out, s.out, sizeof(float) * B * out_dim(cfg_));
  s.valid = true;
}

// ---- inference over packed sequences ---------------------------------------------------------

int64_t Model::infer_floats(int64_t N, int64_t Tmax) const {
  const int64_t C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads, hs = C / NH;
  const int workers = cpu::ThreadPool::global().workers_for(int64_t{1} << 30, cfg_.threads);
  const int64_t relbias = cfg_.rel_buckets > 0 ? NH * Tmax * Tmax : 0;
  // x, atty, res (N,C); qkv (N,3C); h (N,F); mean, rstd (N); attention per worker; relbias;
  // pooled (B ≤ N rows of D) and norms
  return 3 * N * C + 3 * N * C + N * F + 2 * N + workers * attention_infer_scratch(Tmax, hs) + relbias +
         N * out_dim(cfg_) + N;
}

void Model::infer(const int32_t* ids, const int32_t* types, const int64_t* offsets, int64_t B, float* out) {
  if (B < 1) throw std::invalid_argument("infer: no sequences");
  int64_t Tmax = 0;
  for (int64_t b = 0; b < B; b++) {
    const int64_t L = offsets[b + 1] - offsets[b];
    if (L < 1 || L > max_seq(cfg_)) throw std::invalid_argument("infer: sequence length out of range");
    Tmax = std::max(Tmax, L);
  }
  const int64_t N = offsets[B], C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads, hs = C / NH;
  const int th = cfg_.threads;
  const int workers = cpu::ThreadPool::global().workers_for(int64_t{1} << 30, th);
  inf_.ensure(infer_floats(N, Tmax));
  float* p = inf_.p;
  auto take = [&](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  float* x = take(N * C);
  float* atty = take(N * C);
  float* res = take(N * C);
  float* qkv = take(N * 3 * C);
  float* h = take(N * F);
  float* mean = take(N);
  float* rstd = take(N);
  const int64_t per_worker = attention_infer_scratch(Tmax, hs);
  float* att = take(workers * per_worker);
  float* relbias = cfg_.rel_buckets > 0 ? take(NH * Tmax * Tmax) : nullptr;
  const int64_t D = out_dim(cfg_);
  float* pooled = take(B * D);
  float* norm = take(B);

  // position ids per sequence, as forward() gives a sequence with no padding
  std::vector<int32_t> pos(N);
  for (int64_t b = 0; b < B; b++) {
    position_ids(pos.data() + offsets[b], nullptr, 1, offsets[b + 1] - offsets[b], cfg_.padding_idx);
  }
  if (relbias) {
    std::vector<int32_t> buckets(2 * Tmax - 1);
    relative_buckets(buckets.data(), Tmax, cfg_.rel_buckets, cfg_.rel_max_distance);
    relbias_forward(relbias, P_.rel, buckets.data(), Tmax, NH);
  }
  embeddings_forward(res, ids, types, P_.word, P_.pos, P_.type, 1, N, C, th, pos.data());
  layernorm_forward(x, mean, rstd, res, P_.ln_w, P_.ln_b, N, C, cfg_.layer_norm_eps, th);
  for (int64_t l = 0; l < cfg_.layers; l++) {
    const LayerPtrs& w = P_.layer[l];
    matmul_forward(qkv, x, w.qkv_w, w.qkv_b, nullptr, N, C, 3 * C, th);                      // (N,3C)
    attention_infer(atty, qkv, offsets, B, C, NH, att, per_worker, th, relbias, Tmax);
    matmul_forward(res, atty, w.ao_w, w.ao_b, x, N, C, C, th);                               // x + attn
    layernorm_forward(x, mean, rstd, res, w.ln1_w, w.ln1_b, N, C, cfg_.layer_norm_eps, th);  // x1
    matmul_forward(h, x, w.fc1_w, w.fc1_b, nullptr, N, C, F, th);                            // (N,F)
    gelu_forward(h, h, N * F, th);
    matmul_forward(res, h, w.fc2_w, w.fc2_b, x, N, F, C, th);                                // x1 + ffn
    layernorm_forward(x, mean, rstd, res, w.ln2_w, w.ln2_b, N, C, cfg_.layer_norm_eps, th);  // x2
  }
  for (int64_t b = 0; b < B; b++) {
    pool_forward(out + b * D, pooled + b * D, norm + b, x + offsets[b] * C, nullptr, 1,
                 offsets[b + 1] - offsets[b], C, cfg_.pooling, cfg_.normalize);
  }
}

void Model::backward(int slot, const float* dout) {
  if (slot < 0 || slot >= kMaxSlots) throw std::invalid_argument("slot out of range");
  Slot& s = slots_[slot];
  if (!s.valid) throw std::logic_error("backward without a forward into this slot");
  const int64_t B = s.B, T = s.T, N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const int th = cfg_.threads;
  const int32_t* mask = s.mask.data();

  const float* last = cfg_.layers > 0 ? s.L.back().x2 : s.x0;
  using Scope = Profiler::Scope;
  const double dN = static_cast<double>(N), attF = 8.0 * B * T * T * C;
  const bool rows = attention_rows_layout(C / NH);
  {
    Scope _p(prof_, "backward", -1, "pooling", 0);
    pool_backward(sc_dx_, dout, s.out, s.norm, last, mask, B, T, C, cfg_.pooling, cfg_.normalize);  // dx (N,C)
  }
  const bool rel = cfg_.rel_buckets > 0;
  if (rel) std::memset(sc_dbias_, 0, sizeof(float) * NH * T * T);
  for (int64_t l = cfg_.layers - 1; l >= 0; l--) {
    const LayerActs& a = s.L[l];
    const LayerPtrs& p = P_.layer[l];
    const LayerPtrs& g = G_.layer[l];
    const float* x_in = l == 0 ? s.x0 : s.L[l - 1].x2;
    // x2 = LN2(res2), res2 = x1 + gelu(h)·W2ᵀ + b2
    {
      Scope _p(prof_, "backward", l, "layernorm", 0);
      layernorm_backward(sc_dres_, g.ln2_w, g.ln2_b, sc_dx_, a.res2, a.mean2, a.rstd2, p.ln2_w, N, C, th);
    }
    {
      Scope _p(prof_, "backward", l, "gelu", 0);
      gelu_forward(sc_g_, a.h, N * F, th);  // recompute gelu(h)
    }
    {
      Scope _p(prof_, "backward", l, "fc2 matmul", 4 * dN * F * C);
      matmul_backward(sc_dF_, false, g.fc2_w, g.fc2_b, sc_dres_, sc_g_, p.fc2_w, N, F, C, th);
    }
    {
      Scope _p(prof_, "backward", l, "gelu", 0);
      gelu_backward(sc_dF_, a.h, N * F, th);
    }
    // dx1 = dres2 (residual) + dh·W1, accumulated in place (dres2's last reader was fc2's backward)
    {
      Scope _p(prof_, "backward", l, "fc1 matmul", 4 * dN * C * F);
      matmul_backward(sc_dres_, true, g.fc1_w, g.fc1_b, sc_dF_, a.x1, p.fc1_w, N, C, F, th);
    }
    // x1 = LN1(res1), res1 = x_in + atty·Woᵀ + bo; dres1 goes to sc_dx_ (the buffers alternate)
    {
      Scope _p(prof_, "backward", l, "layernorm", 0);
      layernorm_backward(sc_dx_, g.ln1_w, g.ln1_b, sc_dres_, a.res1, a.mean1, a.rstd1, p.ln1_w, N, C, th);
    }
    {
      Scope _p(prof_, "backward", l, "attn-out matmul", 4 * dN * C * C);
      matmul_backward(sc_datty_, false, g.ao_w, g.ao_b, sc_dx_, a.atty, p.ao_w, N, C, C, th);
    }
    {
      Scope _p(prof_, "backward", l, "attention", attF);
      attention_backward(sc_dqkv_, sc_datty_, rows ? nullptr : a.qkvp, a.probs, B, T, C, NH, sc_att_, th, mask,
                         rel ? sc_dbias_ : nullptr, sc_dbias_bh_, rows ? a.qkvp : nullptr);
    }
    // dx_in = dres1 (residual) + dqkv·Wqkv, accumulated in place: the next layer's dout
    {
      Scope _p(prof_, "backward", l, "qkv matmul", 4 * dN * C * 3 * C);
      matmul_backward(sc_dx_, true, g.qkv_w, g.qkv_b, sc_dqkv_, x_in, p.qkv_w, N, C, 3 * C, th);
    }
  }
  Scope _p(prof_, "backward", -1, "embeddings", 0);
  layernorm_backward(sc_dres_, G_.ln_w, G_.ln_b, sc_dx_, s.emb, s.mean0, s.rstd0, P_.ln_w, N, C, th);
  embeddings_backward(G_.word, G_.pos, G_.type, sc_dres_, s.ids.data(), s.types.data(), B, T, C, s.pos.data());
  if (rel) relbias_backward(G_.rel, sc_dbias_, s.buckets.data(), T, NH);
}

void Model::zero_grad() {
  Profiler::Scope _p(prof_, "optimizer", -1, "zero grad", 0);
  constexpr int64_t kChunk = int64_t{1} << 18;
  const int64_t n = n_params_;
  parallel_for((n + kChunk - 1) / kChunk, cfg_.threads, [&](int64_t t, int) {
    const int64_t s = t * kChunk;
    std::memset(grads_.p + s, 0, sizeof(float) * (std::min(n, s + kChunk) - s));
  });
}

void Model::reset_optimizer() {
  std::memset(m_.p, 0, sizeof(float) * n_params_);
  std::memset(v_.p, 0, sizeof(float) * n_params_);
}

namespace {
// x, m, v over [i0, i1): the float arithmetic of lib/training/optim.ts's adamRange, one rounding per
// operation in the same order (no FMA contraction: ISO C++ mode), so every SIMD level gives the
// same bits; AVX-512 sixteen elements at a time (division and square root are exact IEEE ops).
struct AdamArgs {
  float lr, beta1, beta2, a1, a2, eps, c1, c2, l2, dec;
};

void adam_range_scalar(float* x, const float* g, float* m, float* v, int64_t i0, int64_t i1,
                       const AdamArgs& k) {
  for (int64_t i = i0; i < i1; i++) {
    const float gi = g[i] + k.l2 * x[i];
    const float mi = k.beta1 * m[i] + k.a1 * gi;
    const float vi = k.beta2 * v[i] + k.a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    x[i] = x[i] - k.dec * x[i] - (k.lr * (mi * k.c1)) / (std::sqrt(vi * k.c2) + k.eps);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// No mul+add fused into an FMA here (GCC contracts across intrinsics under an FMA target): it
// would round once where the formula rounds twice.
#if !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
__attribute__((target("avx512f"))) void adam_range_avx512(float* x, const float* g, float* m, float* v,
                                                           int64_t i0, int64_t i1, const AdamArgs& k) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  const __m512 l2 = _mm512_set1_ps(k.l2), b1 = _mm512_set1_ps(k.beta1), b2 = _mm512_set1_ps(k.beta2);
  const __m512 a1 = _mm512_set1_ps(k.a1), a2 = _mm512_set1_ps(k.a2), c1 = _mm512_set1_ps(k.c1);
  const __m512 c2 = _mm512_set1_ps(k.c2), lr = _mm512_set1_ps(k.lr), eps = _mm512_set1_ps(k.eps);
  const __m512 dec = _mm512_set1_ps(k.dec);
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    const __m512 xi = _mm512_loadu_ps(x + i);
    const __m512 gi = _mm512_add_ps(_mm512_loadu_ps(g + i), _mm512_mul_ps(l2, xi));
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(a1, gi));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)),
                                    _mm512_mul_ps(_mm512_mul_ps(a2, gi), gi));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    const __m512 step = _mm512_div_ps(_mm512_mul_ps(lr, _mm512_mul_ps(mi, c1)),
                                      _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vi, c2)), eps));
    _mm512_storeu_ps(x + i, _mm512_sub_ps(_mm512_sub_ps(xi, _mm512_mul_ps(dec, xi)), step));
  }
  adam_range_scalar(x, g, m, v, i, i1, k);
}
#if !defined(__clang__)
#pragma GCC pop_options
#endif
#endif
}  // namespace

void Model::adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                      bool decoupled) {
  const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t))));
  const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t))));
  const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
  Profiler::Scope _p(prof_, "optimizer", -1, "adam", 0);
  float* x = params_.p;
  const float* g = grads_.p;
  float* m = m_.p;
  float* v = v_.p;
  const bool avx512 = cpu::simd_level() >= cpu::kAvx512;
  parallel_for(static_cast<int64_t>(chunks_.size()), cfg_.threads, [&](int64_t ci, int) {
    const Chunk& ch = chunks_[ci];
    const float wd = ch.decay ? weight_decay : 0.0f;
    const float l2 = decoupled ? 0.0f : wd;
    const float dec = decoupled ? lr * wd : 0.0f;
    const AdamArgs k{lr, beta1, beta2, a1, a2, eps, c1, c2, l2, dec};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (avx512) return adam_range_avx512(x, g, m, v, ch.start, ch.end, k);
#endif
    adam_range_scalar(x, g, m, v, ch.start, ch.end, k);
  });
}

}  // namespace bert
}  // namespace st
