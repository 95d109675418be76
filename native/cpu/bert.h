// synthtune CPU backend: a BERT encoder that trains (forward, backward, AdamW), llm.c style.
//
// Included by native/bindings_bert.cc and native/cpu/bert*.cc only.
//
// Shape letters:
//   B batch (sequences)   T sequence length (padded)   N = B*T tokens
//   C hidden              NH heads, hs = C/NH head size  F intermediate (FFN) size
//   V vocabulary          P max positions                 TV token-type vocabulary (0: none)
//   L layers              NB relative-position buckets (MPNet)
//
// Architectures (one math, three switches in Config; names are mapped at the TS edges):
//   BERT / DistilBERT   positions 0..T-1; token types (TV 2; DistilBERT TV 0)
//   RoBERTa / XLM-R     padding_idx >= 0: position ids as HF's create_position_ids_from_input_ids,
//                       from the attention mask: a real token gets padding_idx + (number of real
//                       tokens up to and including it), a padded one padding_idx (TV 1)
//   MPNet               padding_idx 1 and rel_buckets 32: every layer's attention scores get
//                       + relbias[h][i][j] = table[bucket(j - i)][h], one (NB, NH) table shared by
//                       all layers (HF's relative_position_bucket, bidirectional); TV 0
//
// Memory: parameters, gradients and the two Adam moments are each ONE flat float buffer, carved by
// one layout table (HF names, HF shapes: linear weights (out, in), so Y = X·Wᵀ). Within a layer the
// query/key/value weights are adjacent (q, k, v) and so are their biases, which makes them one
// (3C, C) matrix and one (3C) vector for a single fused QKV matmul. Activations of a forward pass
// live in one buffer per "slot" sized for (B,T): a student runs a query forward and a document
// forward before the two backwards, so each keeps its own slot. Backward scratch is shared.
//
// Model is not thread-safe: one call at a time (the binding enforces it). Each call is internally
// multi-threaded through the CPU pool (native/cpu/threadpool.h) and st::sgemm.
#pragma once
#include <cstdint>
#include <memory>
#include <chrono>
#include <string>
#include <vector>

namespace st {
namespace bert {

// Pooling of the last hidden states into one vector per sequence (sentence-transformers' modes).
// A sequence without any real token pools to 0 in every mode except cls (x[b,0]).
enum PoolMode : int {
  kPoolMean = 0,         // Σ_valid x / n
  kPoolCls = 1,          // x[b,0]
  kPoolMax = 2,          // max over valid tokens, per channel (gradient to the first argmax)
  kPoolMeanSqrtLen = 3,  // Σ_valid x / √n
  kPoolWeightedMean = 4, // Σ_valid (t+1)·x / Σ_valid (t+1)
  kPoolLastToken = 5,    // x[b, last valid t]
  kPoolModes = 6,
};

// The pooling of a model: n modes (1 .. kPoolModes), their outputs concatenated in this order, as
// sentence-transformers' Pooling with a list of modes does; the embedding is n·C wide (normalised
// as a whole). Plain data: passed by value to CUDA kernels too.
struct PoolModes {
  int n = 1;
  int mode[kPoolModes] = {kPoolMean};
  static PoolModes one(int m) {
    PoolModes p;
    p.mode[0] = m;
    return p;
  }
  bool valid() const {
    if (n < 1 || n > kPoolModes) return false;
    for (int i = 0; i < n; i++) {
      if (mode[i] < 0 || mode[i] >= kPoolModes) return false;
    }
    return true;
  }
};

struct Config {
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t intermediate = 0;
  int64_t max_position = 0;
  int64_t type_vocab_size = 0;  // 0: no token-type embeddings
  float layer_norm_eps = 1e-12f;
  int64_t padding_idx = -1;     // >= 0: RoBERTa-style position ids (see above); -1: 0..T-1
  int64_t rel_buckets = 0;      // > 0: MPNet relative attention bias with this many buckets
  int64_t rel_max_distance = 128;
  PoolModes pooling;            // one PoolMode, or several concatenated (output width modes · C)
  bool normalize = false;       // L2-normalise the pooled embedding
  int threads = 0;              // <= 0: the pool's default
};

// Empty when the config is usable, else what is wrong.
std::string check_config(const Config& c);
// Width of the returned embedding: pooling.n · hidden (D below).
inline int64_t out_dim(const Config& c) { return c.pooling.n * c.hidden; }
// Longest T a forward accepts: max_position, less padding_idx + 1 for offset positions.
int64_t max_seq(const Config& c);

// pos (B,T) = the position id of every token (see the header): t, or for padding_idx >= 0
// padding_idx + cumsum(mask) on real tokens and padding_idx on padded ones (mask nullptr: all real).
void position_ids(int32_t* pos, const int32_t* mask, int64_t B, int64_t T, int64_t padding_idx);
// HF MPNet's relative_position_bucket(j - i, num_buckets = NB, max_distance), bidirectional:
// the bucket of a relative position `rel` = key − query.
int32_t relative_bucket(int64_t rel, int64_t NB, int64_t max_distance);
// table (2T-1) = relative_bucket(r - (T-1)) for r in [0, 2T-1): the buckets of every relative
// position of a length-T sequence.
void relative_buckets(int32_t* table, int64_t T, int64_t NB, int64_t max_distance);

// One entry of the layout table: a named tensor inside every flat buffer.
struct TensorInfo {
  std::string name;            // HF name, e.g. "encoder.layer.0.attention.self.query.weight"
  std::vector<int64_t> shape;  // HF shape
  int64_t offset = 0;          // in floats, into params / grads / adam_m / adam_v
  int64_t size = 0;            // product of shape
  bool decay = true;           // AdamW weight decay applies (false: biases and LayerNorm)
};

// Pointers of one layer's tensors inside a flat buffer (params or grads).
struct LayerPtrs {
  float *qkv_w, *qkv_b;  // (3C, C), (3C)   query | key | value stacked
  float *ao_w, *ao_b;    // (C, C), (C)     attention.output.dense
  float *ln1_w, *ln1_b;  // (C), (C)        attention.output.LayerNorm
  float *fc1_w, *fc1_b;  // (F, C), (F)     intermediate.dense
  float *fc2_w, *fc2_b;  // (C, F), (C)     output.dense
  float *ln2_w, *ln2_b;  // (C), (C)        output.LayerNorm
};
struct ModelPtrs {
  float *word, *pos, *type;  // (V, C), (P, C), (TV, C) or nullptr
  float *ln_w, *ln_b;        // (C), (C)   embeddings.LayerNorm
  float* rel;                // (NB, NH)   encoder.relative_attention_bias.weight, or nullptr
  std::vector<LayerPtrs> layer;
};

// The layout table of a config: HF names and shapes, offsets into the flat buffers, weight-decay
// flags (the order documented above); *n_params (if not null) = floats of one flat buffer. Throws
// std::invalid_argument when check_config fails. Shared by Model and its CUDA twin
// (native/cuda/bert_model.cuh), so both carve their flat buffers the same way.
std::vector<TensorInfo> make_layout(const Config& c, int64_t* n_params);
// Pointers of the tensors of `layout` (= make_layout(c)) inside a flat buffer starting at `base`
// (host or device memory: pointer arithmetic only); type is nullptr without token types.
ModelPtrs carve_layout(const Config& c, const std::vector<TensorInfo>& layout, float* base);

// 64-byte aligned float buffer.
struct FloatBuf {
  float* p = nullptr;
  int64_t n = 0;
  FloatBuf() = default;
  ~FloatBuf();
  FloatBuf(const FloatBuf&) = delete;
  FloatBuf& operator=(const FloatBuf&) = delete;
  void reset(int64_t n_floats, bool zero);  // throws std::bad_alloc
  void ensure(int64_t n_floats);            // grows (contents lost), never shrinks
};

// Activations of one forward pass, kept for its backward.
struct LayerActs {
  float* qkvp;   // (3, B, NH, T, hs)  q, k, v permuted per head; or qkv (N, 3C) as the matmul wrote
                 //                    it, where attention_rows_layout(hs) (read in place)
  float* probs;  // (B, NH, T, T)      softmax(q·kᵀ/√hs + mask)
  float* atty;   // (N, C)             attention output, heads concatenated
  float* res1;   // (N, C)             x_in + atty·Woᵀ + bo   (LayerNorm 1 input)
  float *mean1, *rstd1;  // (N)
  float* x1;     // (N, C)             LayerNorm 1 output
  float* h;      // (N, F)             x1·W1ᵀ + b1 (pre-GELU; GELU is recomputed in backward)
  float* res2;   // (N, C)             x1 + gelu(h)·W2ᵀ + b2  (LayerNorm 2 input)
  float *mean2, *rstd2;  // (N)
  float* x2;     // (N, C)             layer output
};

// Points the activation pieces of a slot for (B,T) (emb, mean0, rstd0, x0, then per layer
// LayerActs' pieces, then relbias when rel_buckets > 0, pooled, norm, out; sizes as documented there) at take(n), which returns
// the next piece of n floats. S: Slot or the CUDA model's device slot (native/cuda/bert_model.cu).
template <class S, class Take>
void carve_acts(S& s, const Config& c, int64_t B, int64_t T, Take&& take) {
  const int64_t N = B * T, C = c.hidden, F = c.intermediate, NH = c.heads;
  s.emb = take(N * C);
  s.mean0 = take(N);
  s.rstd0 = take(N);
  s.x0 = take(N * C);
  s.L.resize(static_cast<size_t>(c.layers));
  for (LayerActs& a : s.L) {
    a.qkvp = take(3 * N * C);
    a.probs = take(B * NH * T * T);
    a.atty = take(N * C);
    a.res1 = take(N * C);
    a.mean1 = take(N);
    a.rstd1 = take(N);
    a.x1 = take(N * C);
    a.h = take(N * F);
    a.res2 = take(N * C);
    a.mean2 = take(N);
    a.rstd2 = take(N);
    a.x2 = take(N * C);
  }
  s.relbias = c.rel_buckets > 0 ? take(NH * T * T) : nullptr;
  s.pooled = take(B * out_dim(c));
  s.norm = take(B);
  s.out = take(B * out_dim(c));
}

struct Slot {
  int64_t B = 0, T = 0;
  bool valid = false;       // a forward ran and its activations are intact
  uint64_t generation = 0;  // bumped by every forward into this slot
  std::vector<int32_t> ids, mask, types, pos;  // (B, T) each; pos: position ids
  std::vector<int32_t> buckets;                // (2T-1) relative buckets (rel_buckets > 0)
  FloatBuf buf;
  float* emb;               // (N, C) embedding sum (LayerNorm 0 input)
  float *mean0, *rstd0;     // (N)
  float* x0;                // (N, C) LayerNorm 0 output
  std::vector<LayerActs> L;
  float* relbias;           // (NH, T, T) relative attention bias (rel_buckets > 0), else nullptr
  float* pooled;            // (B, D) before normalisation (D = out_dim: modes · C)
  float* norm;              // (B)    max(|pooled|, 1e-12)
  float* out;               // (B, D) returned embeddings
};

// Per-operation timing of forward / backward / optimizer (off unless enabled): wall time and the
// op's FLOP count, summed per (phase, layer, op) over the calls since the last reset. Layer -1:
// outside the encoder layers (embeddings, pooling, optimizer).
struct ProfileRow {
  std::string phase, op;
  int64_t layer;
  int64_t calls;
  double ms;
  double flops;
};

class Profiler {
 public:
  void enable(bool on) { on_ = on; rows_.clear(); }
  bool on() const { return on_; }
  const std::vector<ProfileRow>& rows() const { return rows_; }
  // Times the scope it lives in (a no-op when the profiler is off).
  class Scope {
   public:
    Scope(Profiler& p, const char* phase, int64_t layer, const char* op, double flops)
        : p_(p.on_ ? &p : nullptr), phase_(phase), op_(op), layer_(layer), flops_(flops),
          t0_(p.on_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point()) {}
    ~Scope() {
      if (!p_) return;
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
      p_->add(phase_, layer_, op_, ms, flops_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Profiler* p_;
    const char *phase_, *op_;
    int64_t layer_;
    double flops_;
    std::chrono::steady_clock::time_point t0_;
  };

 private:
  void add(const char* phase, int64_t layer, const char* op, double ms, double flops) {
    for (ProfileRow& r : rows_)
      if (r.layer == layer && r.op == op && r.phase == phase) {
        r.calls++, r.ms += ms, r.flops += flops;
        return;
      }
    rows_.push_back({phase, op, layer, 1, ms, flops});
  }
  bool on_ = false;
  std::vector<ProfileRow> rows_;
};

class Model {
 public:
  static constexpr int kMaxSlots = 8;

  explicit Model(const Config& c);  // throws std::invalid_argument / std::bad_alloc

  const Config& config() const { return cfg_; }
  const std::vector<TensorInfo>& layout() const { return layout_; }
  const TensorInfo* find(const std::string& name) const;
  int64_t num_params() const { return n_params_; }
  float* params() { return params_.p; }
  float* grads() { return grads_.p; }
  float* adam_m() { return m_.p; }
  float* adam_v() { return v_.p; }
  const Slot& slot(int i) const { return slots_[i]; }

  // Floats of activations a forward of (B,T) needs in one slot (for size checks before allocating).
  int64_t activation_floats(int64_t B, int64_t T) const;

  // ids, mask (0/1), types: (B,T), already validated (ids < V, types < max(TV,1), T <= P).
  // mask may be nullptr (all ones), types nullptr (all zeros). out: (B,D), D = out_dim(config()).
  void forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B,
               int64_t T, float* out);
  // dout (B,D) = ∂loss/∂out of the last forward into `slot`; ACCUMULATES into grads().
  void backward(int slot, const float* dout);
  // Inference over packed sequences: no padding tokens are computed and nothing is kept for a
  // backward (the slots are untouched). ids / types (types may be nullptr: all zeros) hold the
  // tokens of B sequences back to back, sequence b = [offsets[b], offsets[b+1]), every one of
  // 1..max_seq tokens, all real (no mask); already validated. out: (B,D). Equals forward() on the
  // same sequences padded to a common T (masked), to float rounding.
  void infer(const int32_t* ids, const int32_t* types, const int64_t* offsets, int64_t B, float* out);
  // Floats of scratch an infer() of N tokens, longest sequence Tmax, needs (size checks).
  int64_t infer_floats(int64_t N, int64_t Tmax) const;
  void zero_grad();
  // Adam (decoupled == false: L2 term wd·θ added to g) or AdamW (decoupled: θ -= lr·wd·θ first),
  // bias-corrected with step t >= 1; tensors with decay == false get no weight decay.
  // Same arithmetic as lib/training/optim.ts's adamRange (in float32).
  void adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                 bool decoupled);
  // Clears the Adam moments.
  void reset_optimizer();
  // Per-op timing (bench train --profile); enabling clears what was recorded.
  Profiler& profiler() { return prof_; }

 private:
  ModelPtrs carve(float* base) const;
  void ensure_slot(Slot& s, int64_t B, int64_t T);
  void ensure_scratch(int64_t B, int64_t T);

  Config cfg_;
  std::vector<TensorInfo> layout_;
  int64_t n_params_ = 0;
  FloatBuf params_, grads_, m_, v_;
  ModelPtrs P_, G_;
  Slot slots_[kMaxSlots];
  // Shared scratch (sized for the largest (B,T) seen).
  FloatBuf sc_;
  int64_t sc_N_ = 0, sc_T_ = 0;
  float *sc_qkv_, *sc_g_, *sc_dx_, *sc_dres_, *sc_dF_, *sc_dqkv_, *sc_datty_, *sc_att_;
  float *sc_dbias_, *sc_dbias_bh_;  // (NH,T,T), (B,NH,T,T): relative-bias gradient (rel_buckets > 0)
  FloatBuf inf_;                    // infer()'s own scratch (grows, never shrinks)
  int64_t att_per_worker_ = 0;
  // Adam work split: (start, end, decay) chunks of the flat buffer.
  struct Chunk { int64_t start, end; bool decay; };
  std::vector<Chunk> chunks_;
  Profiler prof_;
};

// ---- layer functions (bert.cc) ------------------------------------------------------------------
// Every *_backward ACCUMULATES into parameter gradients (dw, db) and writes (or, when stated,
// accumulates into) the input gradient. `threads` <= 0: pool default.

// out (N,C) = word[ids] + pos[positions] + type[types]   (type may be nullptr; positions (N),
// already validated < P, nullptr: t)
void embeddings_forward(float* out, const int32_t* ids, const int32_t* types, const float* word,
                        const float* pos, const float* type, int64_t B, int64_t T, int64_t C,
                        int threads, const int32_t* positions = nullptr);
// dword (V,C), dpos (P,C), dtype (TV,C) += scatter of dout (N,C). Serial (deterministic).
void embeddings_backward(float* dword, float* dpos, float* dtype, const float* dout,
                         const int32_t* ids, const int32_t* types, int64_t B, int64_t T, int64_t C,
                         const int32_t* positions = nullptr);

// out (N,C) = (inp - mean) * rstd * w + b; mean, rstd (N) saved.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps, int threads);
// dinp (N,C) = (overwritten); dw, db (C) +=.
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* w, int64_t N, int64_t C,
                        int threads);

// out (N,OC) = inp (N,IC) · w (OC,IC)ᵀ + b (OC) [+ residual (N,OC)]
void matmul_forward(float* out, const float* inp, const float* w, const float* b,
                    const float* residual, int64_t N, int64_t IC, int64_t OC, int threads);
// dinp (N,IC) = dout·w (accumulate: +=), dw (OC,IC) += doutᵀ·inp, db (OC) += Σ_n dout.
void matmul_backward(float* dinp, bool accumulate, float* dw, float* db, const float* dout,
                     const float* inp, const float* w, int64_t N, int64_t IC, int64_t OC,
                     int threads);

// qkv (N,3C) → qkvp (3,B,NH,T,hs), probs (B,NH,T,T), out (N,C). qkvp nullptr (only where
// attention_rows_layout(hs)): nothing is gathered; the caller keeps qkv itself for the backward. Keys with mask 0 get probability
// 0 (a row with no valid key attends uniformly, like an additive -1e9 mask). mask may be nullptr.
// Trailing padded keys (after the last mask-1 position) are skipped, not just zeroed.
// scratch: workers * attention_forward_scratch(T,hs) floats.
// bias (NH,T,T) (may be nullptr: BERT): added to every sequence's scaled scores before the softmax.
void attention_forward(float* out, float* qkvp, float* probs, const float* qkv, const int32_t* mask,
                       int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, int threads,
                       const float* bias = nullptr);
int64_t attention_forward_scratch(int64_t T, int64_t hs);
// Inference attention over packed sequences (Model::infer): out (N,C) from qkv (N,3C), sequence
// b = rows [offsets[b], offsets[b+1]), every key valid; nothing kept. bias (NH,Tb,Tb) (nullptr:
// BERT), Tb ≥ the longest sequence: a relative bias, so entry (h,i,j) serves every length.
// scratch: workers * attention_infer_scratch(Tmax,hs) floats.
void attention_infer(float* out, const float* qkv, const int64_t* offsets, int64_t B, int64_t C,
                     int64_t NH, float* scratch, int64_t per_worker, int threads,
                     const float* bias = nullptr, int64_t Tb = 0);
int64_t attention_infer_scratch(int64_t Tmax, int64_t hs);
// dqkv (N,3C) (overwritten) from dout (N,C). scratch: workers * attention_backward_scratch(T,hs).
// q, k, v from qkvp, or (qkvp nullptr) from the rows of qkv (N,3C), as the forward had them.
// mask (the forward's; may be nullptr) only lets it skip the trailing padded keys, whose dk/dv are
// exactly 0 either way.
// dbias (NH,T,T) (nullptr: skip): += ∂loss/∂bias summed over the batch (the gradient of the
// forward's bias); needs dbias_scratch (B,NH,T,T), overwritten.
void attention_backward(float* dqkv, const float* dout, const float* qkvp, const float* probs,
                        int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, int threads,
                        const int32_t* mask = nullptr, float* dbias = nullptr,
                        float* dbias_scratch = nullptr, const float* qkv = nullptr);
// Whether attention_forward / attention_backward can work on the rows of qkv (N,3C) in place
// (qkvp nullptr, qkv passed to the backward): the AVX-512 path for head sizes 16..64.
bool attention_rows_layout(int64_t hs);

// MPNet relative attention bias. bias (NH,T,T) = table[buckets[j - i + T - 1]][h], table (NB,NH),
// buckets (2T-1) from relative_buckets (values < NB).
void relbias_forward(float* bias, const float* table, const int32_t* buckets, int64_t T, int64_t NH);
// dtable (NB,NH) += Σ over (i,j) of bucket b of dbias[h][i][j] (serial, fixed order).
void relbias_backward(float* dtable, const float* dbias, const int32_t* buckets, int64_t T, int64_t NH);
int64_t attention_backward_scratch(int64_t T, int64_t hs);

// out (n) = x·Φ(x) = 0.5·x·(1 + erf(x/√2))
void gelu_forward(float* out, const float* inp, int64_t n, int threads);
// dinout (n): dout → dout · gelu'(inp)   (in place)
void gelu_backward(float* dinout, const float* inp, int64_t n, int threads);

// out, pooled (B,D), norm (B) from x (N,C), D = pooling.n·C: each mode's (B,C) block side by side
// (mask nullptr: all valid), then optionally out = pooled / max(|pooled|, 1e-12) over all D.
void pool_forward(float* out, float* pooled, float* norm, const float* x, const int32_t* mask,
                  int64_t B, int64_t T, int64_t C, const PoolModes& pooling, bool normalize);
// dx (N,C) (overwritten: the modes' gradients summed) from dout (B,D); x is the forward's input
// (max pooling finds its argmax).
void pool_backward(float* dx, const float* dout, const float* out, const float* norm, const float* x,
                   const int32_t* mask, int64_t B, int64_t T, int64_t C, const PoolModes& pooling,
                   bool normalize);

}  // namespace bert
}  // namespace st
