// synthtune CUDA backend: the device-resident BERT model (declarations and conventions:
// bert_model.cuh). The forward / backward sequencing mirrors bert::Model (native/cpu/bert_model.cc)
// call for call; the only structural differences are the fused fc1 bias + GELU
// (matmul_forward(b = nullptr) + bias_gelu_forward, and bias_gelu_backward + matmul_backward(db =
// nullptr)), which compute the same h, gelu(h), dh and fc1 bias gradient, and explicit device scratch
// for the layer functions that need it. No kernels of its own: layer functions, cudaMemcpyAsync and
// cudaMemsetAsync only.
#include "bert_model.cuh"

#include <algorithm>
#include <climits>
#include <mutex>
#include <new>
#include <stdexcept>

#include "bert_layers.cuh"
#include "common.cuh"

namespace st {
namespace cuda_bert {

using cuda_detail::cuda_error_string;
using cuda_detail::DeviceCtx;
using cuda_detail::GemmPrecision;

namespace {

// Largest buffer (in elements) this model will ask for; far beyond any device, but it keeps every
// size computation below well inside int64 and size_t.
constexpr double kMaxElems = 1125899906842624.0;  // 2^50

// Frees the context's cached scratch buffers (DeviceCtx::slots: idle between operations, since
// the caller holds ctx->mu, and never relied upon to keep their contents), so that an allocation
// that failed can be retried with that memory back. false when there was nothing to free.
bool release_ctx_cache(DeviceCtx* ctx) {
  if (!ctx) return false;
  bool any = false;
  for (cuda_detail::DeviceBuffer& b : ctx->slots) any = any || b.ptr != nullptr;
  if (!any) return false;
  if (cudaStreamSynchronize(ctx->stream) != cudaSuccess) return false;
  for (cuda_detail::DeviceBuffer& b : ctx->slots) {
    if (b.ptr) (void)cudaFree(b.ptr);
    b.ptr = nullptr;
    b.bytes = 0;
  }
  (void)cudaGetLastError();
  return true;
}

// cudaMalloc of max(elems, 1) elements (ctx->mu held). Out of memory: the context's scratch cache
// is released and the allocation retried once before the error is reported.
std::string dev_alloc(DeviceCtx* ctx, void** p, int64_t elems, size_t elem_bytes, const std::string& what) {
  *p = nullptr;
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(elems, 1)) * elem_bytes;
  cudaError_t e = cudaMalloc(p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    *p = nullptr;
    if (release_ctx_cache(ctx)) e = cudaMalloc(p, bytes);
  }
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    *p = nullptr;
    return "CUDA out of memory: could not allocate " + std::to_string(bytes) + " bytes for " + what;
  }
  if (e != cudaSuccess) {
    *p = nullptr;
    return cuda_error_string("cudaMalloc", e, __FILE__, __LINE__) + " (" + what + ")";
  }
  return std::string();
}

void dev_free(void* p) {
  if (p) (void)cudaFree(p);
}

// Replaces *p (capacity *cap elements, contents dropped) by a buffer of `need` elements (ctx->mu
// held; the caller checked need > *cap). On failure *p is null and *cap 0.
template <class T>
std::string regrow(DeviceCtx* ctx, T** p, int64_t* cap, int64_t need, const std::string& what) {
  ST_CUDA_TRY(cudaStreamSynchronize(ctx->stream));
  dev_free(*p);
  *p = nullptr;
  *cap = 0;
  ST_TRY(dev_alloc(ctx, reinterpret_cast<void**>(p), need, sizeof(T), what));
  *cap = need;
  return std::string();
}

// Carves consecutive pieces out of one float buffer, each starting 128 bytes (32 floats) after a
// 128-byte boundary of the buffer, so that every activation / scratch pointer handed to a kernel is
// as aligned as cudaMalloc's base (vector loads in the GEMMs need 16 bytes). With base == nullptr it
// only measures (used = the floats the buffer needs).
struct Carver {
  static constexpr int64_t kAlign = 32;  // floats
  float* base;
  int64_t used = 0;
  explicit Carver(float* b) : base(b) {}
  float* take(int64_t n) {
    float* r = base ? base + used : nullptr;
    used += (n + kAlign - 1) / kAlign * kAlign;
    return r;
  }
};

}  // namespace

// Activations of one forward on the device (bert::Slot's layout) and the slot's ids / mask / types.
struct Model::DevSlot {
  SlotInfo info;
  float* buf = nullptr;  // activation_floats(B,T) floats for the largest (B,T) so far
  int64_t cap = 0;
  int32_t* ibuf = nullptr;  // 4 * B*T + 2T-1 int32: ids | mask | types | positions | relative buckets
  int64_t icap = 0;
  int32_t *ids = nullptr, *mask = nullptr, *types = nullptr, *pos = nullptr, *buckets = nullptr;
  float *emb = nullptr, *mean0 = nullptr, *rstd0 = nullptr, *x0 = nullptr;
  std::vector<bert::LayerActs> L;
  float* relbias = nullptr;
  float *pooled = nullptr, *norm = nullptr, *out = nullptr;
};

// Shared scratch carved for one (B,T).
struct Model::Scratch {
  float* qkv;    // (N,3C)  fused QKV output in forward, dqkv in backward
  float* g;      // (N,F)   gelu(h)
  float* dx;     // (N,C)
  float* dres;   // (N,C)
  float* datty;  // (N,C)
  float* dF;     // (N,F)
  float* tr;     // matmul_backward scratch, N * max(3C, F)
  float* att;    // max(attention_forward_scratch, attention_backward_scratch)
  float* red;    // max(layernorm_backward_scratch, bias_gelu_backward_scratch)
  float* dout;   // (B,D)   uploaded ∂loss/∂out (D = bert::out_dim)
  float* dbias;  // (NH,T,T) relative-bias gradient (rel_buckets > 0), else nullptr
  int32_t* emb;  // embeddings_backward_scratch
};

SlotInfo Model::slot_info(int slot) const {
  if (slot < 0 || slot >= kMaxSlots || !slots_) return SlotInfo();
  return slots_[slot].info;
}

float* Model::buffer(Buffer which) const {
  switch (which) {
    case Buffer::kParams: return params_;
    case Buffer::kGrads: return grads_;
    case Buffer::kAdamM: return m_;
    case Buffer::kAdamV: return v_;
  }
  return nullptr;
}

template <class F>
std::string Model::op(F&& body) {
  std::lock_guard<std::mutex> lock(ctx_->mu);
  return finish([&]() -> std::string {
    ST_TRY(begin());
    ST_TRY(body());
    ST_CUDA_TRY(cudaStreamSynchronize(ctx_->stream));
    return std::string();
  }());
}

std::string Model::create(const bert::Config& c, Precision precision, std::unique_ptr<Model>* out) {
  if (!out) return "cuda bert: null output pointer";
  out->reset();
  std::unique_ptr<Model> m(new Model());
  ST_TRY(m->init(c, precision));
  *out = std::move(m);
  return std::string();
}

std::string Model::init(const bert::Config& c, Precision precision) {
  cfg_ = c;
  precision_ = precision;
  try {
    layout_ = bert::make_layout(c, &n_params_);  // checks the config
  } catch (const std::invalid_argument& e) {
    return std::string("cuda bert: ") + e.what();
  }
  slots_.reset(new DevSlot[kMaxSlots]);

  std::string err;
  ctx_ = cuda_detail::current_ctx(&err);
  if (!ctx_) {
    (void)cudaGetLastError();
    return err;
  }
  device_ = ctx_->device;
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device_) != cudaSuccess) {
    major = minor = 0;
    (void)cudaGetLastError();
  }
  tf32_supported_ = major >= 8;
  if (precision_ == Precision::kTf32 && !tf32_supported_) {
    return "cuda bert: precision 'tf32' needs a GPU of compute capability 8.0 or newer (this one is " +
           std::to_string(major) + "." + std::to_string(minor) + "); use precision 'fp32'";
  }
  return op([&] { return init_device(); });
}

std::string Model::init_device() {
  const std::string np = std::to_string(n_params_);
  ST_TRY(dev_alloc(ctx_, reinterpret_cast<void**>(&params_), n_params_, sizeof(float), "the parameters (" + np + " floats)"));
  ST_TRY(dev_alloc(ctx_, reinterpret_cast<void**>(&grads_), n_params_, sizeof(float), "the gradients (" + np + " floats)"));
  ST_TRY(dev_alloc(ctx_, reinterpret_cast<void**>(&m_), n_params_, sizeof(float), "the Adam moments (" + np + " floats)"));
  ST_TRY(dev_alloc(ctx_, reinterpret_cast<void**>(&v_), n_params_, sizeof(float), "the Adam moments (" + np + " floats)"));
  cudaStream_t s = ctx_->stream;
  const size_t bytes = static_cast<size_t>(n_params_) * sizeof(float);
  for (float* p : {params_, grads_, m_, v_}) ST_CUDA_TRY(cudaMemsetAsync(p, 0, bytes, s));
  // LayerNorm γ = 1, as bert::Model.
  std::vector<float> ones;
  for (const bert::TensorInfo& t : layout_) {
    if (t.name.size() >= 16 && t.name.compare(t.name.size() - 16, 16, "LayerNorm.weight") == 0) {
      ones.assign(static_cast<size_t>(t.size), 1.0f);
      ST_CUDA_TRY(cudaMemcpyAsync(params_ + t.offset, ones.data(), static_cast<size_t>(t.size) * sizeof(float),
                                  cudaMemcpyHostToDevice, s));
      ST_CUDA_TRY(cudaStreamSynchronize(s));  // `ones` is reused
    }
  }
  P_ = bert::carve_layout(cfg_, layout_, params_);
  G_ = bert::carve_layout(cfg_, layout_, grads_);
  // Adam tiles: one range per tensor (its decay flag), split for load balance, uploaded once.
  std::vector<AdamTile> ranges;
  ranges.reserve(layout_.size());
  for (const bert::TensorInfo& t : layout_) ranges.push_back(AdamTile{t.offset, t.offset + t.size, t.decay ? 1 : 0, 0});
  std::vector<AdamTile> tiles = adam_tiles(ranges);
  n_tiles_ = static_cast<int64_t>(tiles.size());
  ST_TRY(dev_alloc(ctx_, reinterpret_cast<void**>(&tiles_), n_tiles_, sizeof(AdamTile), "the Adam tiles"));
  if (n_tiles_ > 0) {
    ST_CUDA_TRY(cudaMemcpyAsync(tiles_, tiles.data(), tiles.size() * sizeof(AdamTile), cudaMemcpyHostToDevice, s));
  }
  return std::string();
}

Model::~Model() {
  if (!ctx_) return;
  // (Every operation synchronised the stream before it returned, so no work still uses these.)
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
  (void)cudaSetDevice(device_);
  if (slots_) {
    for (int i = 0; i < kMaxSlots; i++) {
      dev_free(slots_[i].buf);
      dev_free(slots_[i].ibuf);
    }
  }
  dev_free(sc_);
  dev_free(isc_);
  dev_free(tiles_);
  dev_free(params_);
  dev_free(grads_);
  dev_free(m_);
  dev_free(v_);
  if (prev >= 0 && prev != device_) (void)cudaSetDevice(prev);  // the calling thread's device as it was
  (void)cudaGetLastError();
}

std::string Model::begin() {
  // A launch check (cudaGetLastError) must only see errors of this operation: drop a non-sticky
  // error an earlier call on this thread left behind (it was already reported by that call).
  (void)cudaGetLastError();
  ST_CUDA_TRY(cudaSetDevice(device_));
  ctx_->gemm_precision = precision_ == Precision::kTf32 ? GemmPrecision::kTf32 : GemmPrecision::kFp32;
  return std::string();
}

std::string Model::finish(std::string err) {
  if (!err.empty()) {
    (void)cudaStreamSynchronize(ctx_->stream);
    (void)cudaGetLastError();
  }
  return err;
}

std::string Model::set_precision(Precision p) {
  if (p == Precision::kTf32 && !tf32_supported_) {
    return "cuda bert: precision 'tf32' needs a GPU of compute capability 8.0 or newer; use 'fp32'";
  }
  precision_ = p;
  return std::string();
}

// ---- buffers for one (B,T) ----------------------------------------------------------------------

// Carves one slot's activations (bert::Slot's pieces and order, each 128-byte aligned) from base
// (nullptr: measure only); returns the floats used.
int64_t Model::carve_slot(DevSlot& s, float* base, int64_t B, int64_t T) const {
  Carver cv(base);
  bert::carve_acts(s, cfg_, B, T, [&](int64_t n) { return cv.take(n); });
  return cv.used;
}

int64_t Model::activation_floats(int64_t B, int64_t T) const {
  DevSlot probe;
  return carve_slot(probe, nullptr, B, T);
}

std::string Model::ensure_slot(DevSlot& s, int64_t B, int64_t T) {
  const int64_t N = B * T;
  const int64_t need = carve_slot(s, nullptr, B, T);  // measures (the pointers are set below)
  if (need > s.cap) {
    ST_TRY(regrow(ctx_, &s.buf, &s.cap, need,
                  "the activations of batch " + std::to_string(B) + " x seq " + std::to_string(T)));
  }
  const int64_t ineed = 4 * N + 2 * T - 1;
  if (ineed > s.icap) ST_TRY(regrow(ctx_, &s.ibuf, &s.icap, ineed, "the token ids"));
  carve_slot(s, s.buf, B, T);
  s.ids = s.ibuf;
  s.mask = s.ibuf + N;
  s.types = s.ibuf + 2 * N;
  s.pos = s.ibuf + 3 * N;
  s.buckets = s.ibuf + 4 * N;
  s.info.B = B;
  s.info.T = T;
  return std::string();
}

std::string Model::ensure_scratch(int64_t B, int64_t T, Scratch* sc) {
  const int64_t N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const int64_t wide = std::max({matmul_backward_scratch(N, 3 * C), matmul_backward_scratch(N, C),
                                 matmul_backward_scratch(N, F)});
  const int64_t att = std::max(attention_forward_scratch(B, T, C), attention_backward_scratch(B, T, C, NH));
  const int64_t red = std::max(layernorm_backward_scratch(N, C), bias_gelu_backward_scratch(N, F));
  // Carves the pieces from base (nullptr: measure only); returns the floats used.
  auto carve = [&](float* base) {
    Carver cv(base);
    sc->qkv = cv.take(N * 3 * C);
    sc->g = cv.take(N * F);
    sc->dx = cv.take(N * C);
    sc->dres = cv.take(N * C);
    sc->datty = cv.take(N * C);
    sc->dF = cv.take(N * F);
    sc->tr = cv.take(wide);
    sc->att = cv.take(att);
    sc->red = cv.take(red);
    sc->dout = cv.take(B * bert::out_dim(cfg_));
    sc->dbias = cfg_.rel_buckets > 0 ? cv.take(NH * T * T) : nullptr;
    return cv.used;
  };
  const int64_t total = carve(nullptr);
  const int64_t itotal = embeddings_backward_scratch(B, T);
  if (total > sc_cap_) {
    ST_TRY(regrow(ctx_, &sc_, &sc_cap_, total,
                  "the working memory of batch " + std::to_string(B) + " x seq " + std::to_string(T)));
  }
  if (itotal > isc_cap_) ST_TRY(regrow(ctx_, &isc_, &isc_cap_, itotal, "the embedding-gradient scratch"));
  carve(sc_);
  sc->emb = isc_;
  return std::string();
}

// ---- forward / backward -----------------------------------------------------------------------

std::string Model::forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B,
                           int64_t T, float* out) {
  if (slot < 0 || slot >= kMaxSlots) return "cuda bert forward: slot out of range";
  if (B < 1 || T < 1) return "cuda bert forward: batch and seq must be >= 1";
  if (T > bert::max_seq(cfg_)) {
    return "cuda bert forward: seq (" + std::to_string(T) + ") exceeds maxPosition (" +
           std::to_string(cfg_.max_position) + ")" + (cfg_.padding_idx >= 0 ? " less paddingIdx + 1" : "");
  }
  const double Bd = static_cast<double>(B), Td = static_cast<double>(T), Nd = Bd * Td;
  const double Cd = static_cast<double>(cfg_.hidden), Fd = static_cast<double>(cfg_.intermediate);
  if (Nd > static_cast<double>(INT_MAX) / 4 ||
      Bd * static_cast<double>(cfg_.heads) * Td * Td * static_cast<double>(cfg_.layers + 2) > kMaxElems ||
      Nd * (Cd + Fd) * static_cast<double>(cfg_.layers + 2) * 8 > kMaxElems) {
    return "cuda bert forward: batch " + std::to_string(B) + " x seq " + std::to_string(T) + " is too large";
  }
  if (!ids) return "cuda bert forward: inputIds is null";
  const int64_t N = B * T;
  const int64_t V = cfg_.vocab_size, TV = std::max<int64_t>(cfg_.type_vocab_size, 1);
  for (int64_t i = 0; i < N; i++) {
    if (ids[i] < 0 || ids[i] >= V) return "cuda bert forward: inputIds[" + std::to_string(i) + "] is outside [0, " + std::to_string(V) + ")";
    if (mask && mask[i] != 0 && mask[i] != 1) return "cuda bert forward: attentionMask[" + std::to_string(i) + "] is not 0 or 1";
    if (types && (types[i] < 0 || types[i] >= TV)) return "cuda bert forward: tokenTypeIds[" + std::to_string(i) + "] is outside [0, " + std::to_string(TV) + ")";
  }
  DevSlot& s = slots_[slot];
  ST_TRY(op([&] {
    s.info.valid = false;
    return forward_impl(s, ids, mask, types, B, T, out);
  }));
  s.info.valid = true;
  return std::string();
}

std::string Model::forward_impl(DevSlot& s, const int32_t* ids, const int32_t* mask, const int32_t* types,
                                int64_t B, int64_t T, float* out) {
  ST_TRY(ensure_slot(s, B, T));
  Scratch sc;
  ST_TRY(ensure_scratch(B, T, &sc));
  s.info.generation++;
  const int64_t N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const float eps = cfg_.layer_norm_eps;
  DeviceCtx* ctx = ctx_;
  cudaStream_t st = ctx->stream;

  // ids | mask (ones when absent) | types (zeros when absent), one upload from the model's staging
  // buffer (which outlives the copy even when a step below fails; see finish).
  std::vector<int32_t>& host = host_ids_;
  // + positions (bert::position_ids) | relative buckets (MPNet), computed here on the host.
  host.resize(static_cast<size_t>(4 * N + 2 * T - 1));
  std::copy(ids, ids + N, host.begin());
  if (mask) std::copy(mask, mask + N, host.begin() + N);
  else std::fill(host.begin() + N, host.begin() + 2 * N, 1);
  if (types) std::copy(types, types + N, host.begin() + 2 * N);
  else std::fill(host.begin() + 2 * N, host.begin() + 3 * N, 0);
  bert::position_ids(host.data() + 3 * N, host.data() + N, B, T, cfg_.padding_idx);
  if (cfg_.rel_buckets > 0) bert::relative_buckets(host.data() + 4 * N, T, cfg_.rel_buckets, cfg_.rel_max_distance);
  else std::fill(host.begin() + 4 * N, host.end(), 0);
  ST_CUDA_TRY(cudaMemcpyAsync(s.ibuf, host.data(), host.size() * sizeof(int32_t), cudaMemcpyHostToDevice, st));

  ST_TRY(embeddings_forward(s.emb, s.ids, s.types, P_.word, P_.pos, P_.type, B, T, C, ctx, s.pos));
  if (cfg_.rel_buckets > 0) ST_TRY(relbias_forward(s.relbias, P_.rel, s.buckets, T, NH, ctx));
  ST_TRY(layernorm_forward(s.x0, s.mean0, s.rstd0, s.emb, P_.ln_w, P_.ln_b, N, C, eps, ctx));
  const float* x = s.x0;
  for (int64_t l = 0; l < cfg_.layers; l++) {
    bert::LayerActs& a = s.L[static_cast<size_t>(l)];
    const bert::LayerPtrs& p = P_.layer[static_cast<size_t>(l)];
    ST_TRY(matmul_forward(sc.qkv, x, p.qkv_w, p.qkv_b, nullptr, N, C, 3 * C, ctx));  // (N,3C)
    ST_TRY(attention_forward(a.atty, a.qkvp, a.probs, sc.qkv, s.mask, B, T, C, NH, sc.att, ctx, s.relbias));
    ST_TRY(matmul_forward(a.res1, a.atty, p.ao_w, p.ao_b, x, N, C, C, ctx));  // x + attn
    ST_TRY(layernorm_forward(a.x1, a.mean1, a.rstd1, a.res1, p.ln1_w, p.ln1_b, N, C, eps, ctx));
    ST_TRY(matmul_forward(a.h, a.x1, p.fc1_w, nullptr, nullptr, N, C, F, ctx));  // (N,F), bias below
    ST_TRY(bias_gelu_forward(a.h, sc.g, p.fc1_b, N, F, ctx));                     // h += b1, g = gelu(h)
    ST_TRY(matmul_forward(a.res2, sc.g, p.fc2_w, p.fc2_b, a.x1, N, F, C, ctx));   // x1 + ffn
    ST_TRY(layernorm_forward(a.x2, a.mean2, a.rstd2, a.res2, p.ln2_w, p.ln2_b, N, C, eps, ctx));
    x = a.x2;
  }
  ST_TRY(pool_forward(s.out, s.pooled, s.norm, x, s.mask, B, T, C, cfg_.pooling, cfg_.normalize, ctx));
  if (out) {
    ST_CUDA_TRY(cudaMemcpyAsync(out, s.out, static_cast<size_t>(B * bert::out_dim(cfg_)) * sizeof(float),
                                cudaMemcpyDeviceToHost, st));
  }
  return std::string();
}

std::string Model::backward(int slot, const float* dout) {
  if (slot < 0 || slot >= kMaxSlots) return "cuda bert backward: slot out of range";
  DevSlot& s = slots_[slot];
  if (!s.info.valid) return "cuda bert backward: no forward pass in slot " + std::to_string(slot);
  if (!dout) return "cuda bert backward: dPooled is null";
  return op([&] { return backward_impl(s, dout); });
}

std::string Model::backward_impl(DevSlot& s, const float* dout) {
  const int64_t B = s.info.B, T = s.info.T, N = B * T, C = cfg_.hidden, F = cfg_.intermediate, NH = cfg_.heads;
  const int64_t TV = cfg_.type_vocab_size;
  Scratch sc;
  ST_TRY(ensure_scratch(B, T, &sc));
  DeviceCtx* ctx = ctx_;
  cudaStream_t st = ctx->stream;
  const size_t nc_bytes = static_cast<size_t>(N * C) * sizeof(float);
  ST_CUDA_TRY(cudaMemcpyAsync(sc.dout, dout, static_cast<size_t>(B * bert::out_dim(cfg_)) * sizeof(float),
                              cudaMemcpyHostToDevice, st));

  const float* last = s.L.empty() ? s.x0 : s.L.back().x2;
  ST_TRY(pool_backward(sc.dx, sc.dout, s.out, s.norm, last, s.mask, B, T, C, cfg_.pooling, cfg_.normalize, ctx));  // dx (N,C)
  if (sc.dbias) ST_CUDA_TRY(cudaMemsetAsync(sc.dbias, 0, static_cast<size_t>(NH * T * T) * sizeof(float), st));
  for (int64_t l = cfg_.layers - 1; l >= 0; l--) {
    const bert::LayerActs& a = s.L[static_cast<size_t>(l)];
    const bert::LayerPtrs& p = P_.layer[static_cast<size_t>(l)];
    const bert::LayerPtrs& g = G_.layer[static_cast<size_t>(l)];
    const float* x_in = l == 0 ? s.x0 : s.L[static_cast<size_t>(l - 1)].x2;
    // x2 = LN2(res2), res2 = x1 + gelu(h)·W2ᵀ + b2
    ST_TRY(layernorm_backward(sc.dres, g.ln2_w, g.ln2_b, sc.dx, a.res2, a.mean2, a.rstd2, p.ln2_w, N, C, sc.red, ctx));
    ST_TRY(gelu_forward(sc.g, a.h, N * F, ctx));  // recompute gelu(h)
    ST_TRY(matmul_backward(sc.dF, false, g.fc2_w, g.fc2_b, sc.dres, sc.g, p.fc2_w, N, F, C, sc.tr, ctx));
    // dh = dF ⊙ gelu'(h) (in place), fc1 bias gradient += Σ_n dh
    ST_TRY(bias_gelu_backward(sc.dF, g.fc1_b, sc.dF, a.h, N, F, sc.red, ctx));
    // dx1 = dres2 (residual) + dh·W1
    ST_CUDA_TRY(cudaMemcpyAsync(sc.dx, sc.dres, nc_bytes, cudaMemcpyDeviceToDevice, st));
    ST_TRY(matmul_backward(sc.dx, true, g.fc1_w, nullptr, sc.dF, a.x1, p.fc1_w, N, C, F, sc.tr, ctx));
    // x1 = LN1(res1), res1 = x_in + atty·Woᵀ + bo
    ST_TRY(layernorm_backward(sc.dres, g.ln1_w, g.ln1_b, sc.dx, a.res1, a.mean1, a.rstd1, p.ln1_w, N, C, sc.red, ctx));
    ST_TRY(matmul_backward(sc.datty, false, g.ao_w, g.ao_b, sc.dres, a.atty, p.ao_w, N, C, C, sc.tr, ctx));
    ST_TRY(attention_backward(sc.qkv, sc.datty, a.qkvp, a.probs, B, T, C, NH, sc.att, ctx, sc.dbias));  // dqkv (N,3C)
    // dx_in = dres1 (residual) + dqkv·Wqkv
    ST_CUDA_TRY(cudaMemcpyAsync(sc.dx, sc.dres, nc_bytes, cudaMemcpyDeviceToDevice, st));
    ST_TRY(matmul_backward(sc.dx, true, g.qkv_w, g.qkv_b, sc.qkv, x_in, p.qkv_w, N, C, 3 * C, sc.tr, ctx));
  }
  ST_TRY(layernorm_backward(sc.dres, G_.ln_w, G_.ln_b, sc.dx, s.emb, s.mean0, s.rstd0, P_.ln_w, N, C, sc.red, ctx));
  ST_TRY(embeddings_backward(G_.word, G_.pos, G_.type, sc.dres, s.ids, s.types, B, T, C, TV, sc.emb, ctx, s.pos));
  if (sc.dbias) ST_TRY(relbias_backward(G_.rel, sc.dbias, s.buckets, T, NH, cfg_.rel_buckets, ctx));
  return std::string();
}

// ---- optimizer and buffers ------------------------------------------------------------------------

std::string Model::zero_grad() {
  return op([&]() -> std::string {
    ST_CUDA_TRY(cudaMemsetAsync(grads_, 0, static_cast<size_t>(n_params_) * sizeof(float), ctx_->stream));
    return std::string();
  });
}

std::string Model::reset_optimizer() {
  return op([&]() -> std::string {
    const size_t bytes = static_cast<size_t>(n_params_) * sizeof(float);
    ST_CUDA_TRY(cudaMemsetAsync(m_, 0, bytes, ctx_->stream));
    ST_CUDA_TRY(cudaMemsetAsync(v_, 0, bytes, ctx_->stream));
    return std::string();
  });
}

std::string Model::adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                             bool decoupled) {
  if (t < 1) return "cuda bert adam_step: step t must be >= 1";
  return op([&] {
    return cuda_bert::adam_step(params_, grads_, m_, v_, tiles_, n_tiles_, lr, beta1, beta2, eps, weight_decay, t,
                                decoupled, ctx_);
  });
}

std::string Model::download(Buffer which, int64_t offset, int64_t n, float* dst) {
  float* src = buffer(which);
  if (!src) return "cuda bert download: unknown buffer";
  if (offset < 0 || n < 0 || offset > n_params_ || n > n_params_ - offset) return "cuda bert download: range out of bounds";
  if (n == 0) return std::string();
  if (!dst) return "cuda bert download: null destination";
  return op([&]() -> std::string {
    ST_CUDA_TRY(cudaMemcpyAsync(dst, src + offset, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost,
                                ctx_->stream));
    return std::string();
  });
}

std::string Model::upload(Buffer which, int64_t offset, int64_t n, const float* src) {
  float* dst = buffer(which);
  if (!dst) return "cuda bert upload: unknown buffer";
  if (offset < 0 || n < 0 || offset > n_params_ || n > n_params_ - offset) return "cuda bert upload: range out of bounds";
  if (n == 0) return std::string();
  if (!src) return "cuda bert upload: null source";
  return op([&]() -> std::string {
    ST_CUDA_TRY(cudaMemcpyAsync(dst + offset, src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice,
                                ctx_->stream));
    return std::string();
  });
}

}  // namespace cuda_bert
}  // namespace st
