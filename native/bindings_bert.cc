// synthtune Node addon: the trainable BERT encoder of native/cpu/bert.h (and, in CUDA builds, its
// device twin native/cuda/bert_model.cuh) as a JavaScript class.
//
//   const m = new addon.BertModel({ vocabSize, hidden, layers, heads, intermediate, maxPosition,
//                                   typeVocabSize, layerNormEps, paddingIdx, relativeBuckets, relativeMaxDistance,
//                                   pooling: 'mean'|'cls'|'max'|'mean_sqrt_len_tokens'|'weightedmean'|'lasttoken'
//                                            or an array of them (concatenated: outputs modes·hidden wide),
//                                   normalize, threads,
//                                   device: 'cpu'|'cuda', precision: 'fp32'|'tf32' })
//   (or addon.bertCreate(config))
//   m.device                       'cpu' (default) or 'cuda' (CUDA builds only; a CPU-only build throws
//                                  "this build has no CUDA backend (npm run build:cuda)")
//   m.precision; m.setPrecision(p) matmul arithmetic: 'fp32', or 'tf32' (device 'cuda' on a GPU of compute
//                                  capability 8.0+ only; there it is the default, elsewhere fp32 is)
//   m.layout()                     [{ name, shape, offset, size, decay }]   HF names, flat-buffer offsets
//   m.numParams()
//   m.paramsBuffer() / gradsBuffer() / adamMBuffer() / adamVBuffer()
//                                  ArrayBuffers over the flat buffers (they keep the model's memory alive).
//                                  device 'cpu': the model's own buffers (zero copy, always live).
//                                  device 'cuda': a host mirror of the device buffer (the same memory on
//                                  every call), downloaded from the device by each of these calls and by
//                                  m.syncToHost(); writes into it reach the device only through
//                                  m.syncFromHost(). No other method reads or writes the mirror.
//   m.syncToHost(which = 'all') / m.syncFromHost(which = 'all')
//                                  which: 'params' | 'grads' | 'adamM' | 'adamV' | 'all'. Device 'cuda':
//                                  download into / upload from the host mirror (syncFromHost skips mirrors
//                                  never handed out). Device 'cpu': no-ops.
//   m.getTensor(name) → Float32Array copy;  m.setTensor(name, Float32Array)
//   m.getParams() / m.setParams(Float32Array) / m.getGrads()      whole flat buffers, copied
//   m.forwardSync(inputIds, attentionMask|null, tokenTypeIds|null, B, T, slot = 0) → Float32Array (B,D), D = modes·hidden
//   m.forward(...)  → Promise<Float32Array>          (runs on libuv's worker pool)
//   m.infer(inputIds, offsets, tokenTypeIds|null) → Promise<Float32Array> (B,D); m.inferSync(...)
//                                  inference over packed sequences: inputIds (and types) hold B sequences
//                                  back to back, sequence b = [offsets[b], offsets[b+1]) (Int32Array of
//                                  B+1, from 0, each 1..maxPosition tokens); no padding is computed and
//                                  no slot is touched. Device 'cuda': one padded forward in slot 7.
//   m.backwardSync(dPooled (B,D), slot = 0);  m.backward(...) → Promise<void>   (gradients accumulate)
//   m.zeroGrad();  m.adamStep(lr, beta1, beta2, eps, weightDecay, t, decoupled = true);  m.resetOptimizer()
//   m.slotInfo(slot) → { batch, seq, generation, valid };  m.activationBytes(B, T)
//
// Every argument is re-checked here (types, lengths, id ranges, T <= maxPosition, sizes) with a
// TypeError / RangeError, for both devices; nothing touches memory it was not given. While an async
// call runs the model is busy and every other call throws instead of racing it. Device errors
// (CUDA errors, device out of memory) are thrown as Error with the CUDA message.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bind_args.h"
#include "cpu/bert.h"
#ifdef SYNTHTUNE_CUDA
#include "cuda/bert_model.cuh"
#endif

namespace {

using st::bert::TensorInfo;
constexpr int kMaxSlots = st::bert::Model::kMaxSlots;
constexpr int kInferSlot = kMaxSlots - 1;  // the CUDA engine's padded infer() (see CudaEngine::infer)

using st::bind::ArgError;
using st::bind::NumberArg;
using st::bind::Throw;
using st::bind::CheckAvailable;
using st::bind::GiB;
using st::bind::TotalMemory;

int64_t IntArg(const Napi::Value& v, const std::string& name, int64_t lo, int64_t hi) {
  double d = NumberArg(v, name);
  if (d != std::floor(d)) throw ArgError{false, name + " must be an integer"};
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    throw ArgError{true, name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                             std::to_string(static_cast<long long>(d))};
  }
  return static_cast<int64_t>(d);
}

bool Absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

template <typename T, napi_typedarray_type kType>
Napi::TypedArrayOf<T> TypedArg(const Napi::Value& v, const std::string& name, const char* tname, int64_t need) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw ArgError{false, name + " must be a " + tname};
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  int64_t len = static_cast<int64_t>(arr.ElementLength());
  if (need >= 0 && len != need) {
    throw ArgError{true, name + " has length " + std::to_string(len) + ", expected " + std::to_string(need)};
  }
  return arr;
}

Napi::Float32Array F32Arg(const Napi::Value& v, const std::string& name, int64_t need) {
  return TypedArg<float, napi_float32_array>(v, name, "Float32Array", need);
}
Napi::Int32Array I32Arg(const Napi::Value& v, const std::string& name, int64_t need) {
  return TypedArg<int32_t, napi_int32_array>(v, name, "Int32Array", need);
}

st::bert::Config ParseConfig(const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray()) throw ArgError{false, "BertModel expects a config object"};
  Napi::Object o = v.As<Napi::Object>();
  const int64_t kMax = int64_t{1} << 30;
  auto req = [&](const char* key, int64_t lo, int64_t hi) {
    Napi::Value x = o.Get(key);
    if (x.IsUndefined()) throw ArgError{false, std::string("config.") + key + " is required"};
    return IntArg(x, std::string("config.") + key, lo, hi);
  };
  st::bert::Config c;
  c.vocab_size = req("vocabSize", 1, kMax);
  c.hidden = req("hidden", 1, kMax);
  c.layers = req("layers", 1, 1024);
  c.heads = req("heads", 1, kMax);
  c.intermediate = req("intermediate", 1, kMax);
  c.max_position = req("maxPosition", 1, kMax);
  Napi::Value tv = o.Get("typeVocabSize");
  c.type_vocab_size = tv.IsUndefined() ? 2 : IntArg(tv, "config.typeVocabSize", 0, kMax);
  Napi::Value eps = o.Get("layerNormEps");
  if (!eps.IsUndefined()) {
    double e = NumberArg(eps, "config.layerNormEps");
    if (!(e > 0) || e > 1) throw ArgError{true, "config.layerNormEps must be in (0, 1]"};
    c.layer_norm_eps = static_cast<float>(e);
  }
  Napi::Value pad = o.Get("paddingIdx");
  if (!Absent(pad)) c.padding_idx = IntArg(pad, "config.paddingIdx", -1, kMax);
  Napi::Value rb = o.Get("relativeBuckets");
  if (!Absent(rb)) c.rel_buckets = IntArg(rb, "config.relativeBuckets", 0, 4096);
  Napi::Value rd = o.Get("relativeMaxDistance");
  if (!Absent(rd)) c.rel_max_distance = IntArg(rd, "config.relativeMaxDistance", 1, kMax);
  Napi::Value pool = o.Get("pooling");
  if (!pool.IsUndefined()) {
    static const char* kModes[st::bert::kPoolModes] = {"mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"};
    const std::string usage = "config.pooling must be 'mean', 'cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean' or 'lasttoken'"
                              " (or an array of 1 to 6 of them)";
    auto mode = [&](const Napi::Value& v) {
      if (!v.IsString()) throw ArgError{false, usage};
      std::string s = v.As<Napi::String>().Utf8Value();
      for (int i = 0; i < st::bert::kPoolModes; i++) {
        if (s == kModes[i]) return i;
      }
      throw ArgError{true, usage + ", got '" + s + "'"};
    };
    if (pool.IsArray()) {
      Napi::Array arr = pool.As<Napi::Array>();
      if (arr.Length() < 1 || arr.Length() > static_cast<uint32_t>(st::bert::kPoolModes)) throw ArgError{true, usage};
      c.pooling.n = static_cast<int>(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) c.pooling.mode[i] = mode(arr.Get(i));
    } else {
      c.pooling = st::bert::PoolModes::one(mode(pool));
    }
  }
  Napi::Value norm = o.Get("normalize");
  if (!norm.IsUndefined()) {
    if (!norm.IsBoolean()) throw ArgError{false, "config.normalize must be a boolean"};
    c.normalize = norm.As<Napi::Boolean>().Value();
  }
  Napi::Value th = o.Get("threads");
  if (!Absent(th)) c.threads = static_cast<int>(IntArg(th, "config.threads", 0, 1024));
  if (c.hidden % c.heads != 0) {
    throw ArgError{true, "config.hidden (" + std::to_string(c.hidden) + ") must be divisible by config.heads (" +
                             std::to_string(c.heads) + ")"};
  }
  std::string err = st::bert::check_config(c);
  if (!err.empty()) throw ArgError{true, "config: " + err};
  return c;
}


// ---- the model behind a BertModel: CPU (st::bert::Model) or CUDA (st::cuda_bert::Model) ----------

enum class Buf : int { kParams = 0, kGrads = 1, kAdamM = 2, kAdamV = 3 };
constexpr Buf kAllBufs[] = {Buf::kParams, Buf::kGrads, Buf::kAdamM, Buf::kAdamV};

struct SlotState {
  int64_t B = 0, T = 0;
  bool valid = false;
  uint64_t generation = 0;
};

// Operations throw std::runtime_error (device errors, misuse the checks below let through) or
// std::bad_alloc; argument checks are the binding's, before any of these is called.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual const st::bert::Config& config() const = 0;
  virtual const std::vector<TensorInfo>& layout() const = 0;
  virtual int64_t num_params() const = 0;
  virtual int64_t activation_floats(int64_t B, int64_t T) const = 0;
  virtual SlotState slot(int i) const = 0;
  virtual const char* device() const = 0;
  virtual const char* precision() const = 0;
  // p is 'fp32' or 'tf32' (checked by the caller); throws ArgError if this device cannot do it.
  virtual void set_precision(const std::string& p) = 0;
  virtual void forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B,
                       int64_t T, float* out) = 0;
  virtual void backward(int slot, const float* dout) = 0;
  // Packed inference (see m.infer): offsets (B+1) already validated.
  virtual void infer(const int32_t* ids, const int32_t* types, const int64_t* offsets, int64_t B, float* out) = 0;
  // Floats infer() allocates for N tokens, longest Tmax (size checks before allocating).
  virtual int64_t infer_floats(int64_t N, int64_t Tmax, int64_t B) const = 0;
  virtual void zero_grad() = 0;
  virtual void adam_step(float lr, float b1, float b2, float eps, float wd, int64_t t, bool decoupled) = 0;
  virtual void reset_optimizer() = 0;
  // Copy floats [off, off + n) of a flat buffer out / in (range already checked against num_params()).
  virtual void read(Buf b, int64_t off, int64_t n, float* dst) = 0;
  virtual void write(Buf b, int64_t off, int64_t n, const float* src) = 0;
  // Host memory the *Buffer() ArrayBuffers wrap: CPU the buffer itself; CUDA the host mirror,
  // downloaded now. Never moves for the engine's lifetime.
  virtual float* host_buffer(Buf b) = 0;
  virtual void sync_to_host(Buf b) = 0;
  virtual void sync_from_host(Buf b) = 0;
  // Per-op timing (CPU engine only; nullptr: not available on this device).
  virtual st::bert::Profiler* profiler() { return nullptr; }

  const TensorInfo* find(const std::string& name) const {
    for (const TensorInfo& t : layout()) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

class CpuEngine final : public Engine {
 public:
  explicit CpuEngine(const st::bert::Config& c) : m_(c) {}
  const st::bert::Config& config() const override { return m_.config(); }
  const std::vector<TensorInfo>& layout() const override { return m_.layout(); }
  int64_t num_params() const override { return m_.num_params(); }
  int64_t activation_floats(int64_t B, int64_t T) const override { return m_.activation_floats(B, T); }
  SlotState slot(int i) const override {
    const st::bert::Slot& s = m_.slot(i);
    return SlotState{s.B, s.T, s.valid, s.generation};
  }
  const char* device() const override { return "cpu"; }
  const char* precision() const override { return "fp32"; }
  void set_precision(const std::string& p) override {
    if (p != "fp32") throw ArgError{true, "precision '" + p + "' needs device 'cuda' (the CPU model computes in fp32)"};
  }
  void forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B, int64_t T,
               float* out) override {
    m_.forward(slot, ids, mask, types, B, T, out);
  }
  void backward(int slot, const float* dout) override { m_.backward(slot, dout); }
  void infer(const int32_t* ids, const int32_t* types, const int64_t* offsets, int64_t B, float* out) override {
    m_.infer(ids, types, offsets, B, out);
  }
  int64_t infer_floats(int64_t N, int64_t Tmax, int64_t) const override { return m_.infer_floats(N, Tmax); }
  void zero_grad() override { m_.zero_grad(); }
  void adam_step(float lr, float b1, float b2, float eps, float wd, int64_t t, bool decoupled) override {
    m_.adam_step(lr, b1, b2, eps, wd, t, decoupled);
  }
  void reset_optimizer() override { m_.reset_optimizer(); }
  void read(Buf b, int64_t off, int64_t n, float* dst) override { std::copy(ptr(b) + off, ptr(b) + off + n, dst); }
  void write(Buf b, int64_t off, int64_t n, const float* src) override { std::copy(src, src + n, ptr(b) + off); }
  float* host_buffer(Buf b) override { return ptr(b); }
  void sync_to_host(Buf) override {}
  void sync_from_host(Buf) override {}
  st::bert::Profiler* profiler() override { return &m_.profiler(); }

 private:
  float* ptr(Buf b) {
    switch (b) {
      case Buf::kParams: return m_.params();
      case Buf::kGrads: return m_.grads();
      case Buf::kAdamM: return m_.adam_m();
      case Buf::kAdamV: return m_.adam_v();
    }
    return m_.params();
  }
  st::bert::Model m_;
};

#ifdef SYNTHTUNE_CUDA
class CudaEngine final : public Engine {
 public:
  // Throws std::runtime_error with the CUDA message (no device, out of memory, explicit tf32 on a
  // GPU without TF32 tensor cores, ...). An implicit tf32 (the device default) falls back to fp32
  // on such a GPU (compute capability < 8.0) instead of failing every forward.
  CudaEngine(const st::bert::Config& c, bool tf32, bool explicit_precision) {
    using st::cuda_bert::Precision;
    check(st::cuda_bert::Model::create(c, tf32 && explicit_precision ? Precision::kTf32 : Precision::kFp32, &m_));
    if (tf32 && !explicit_precision && m_->tf32_supported()) check(m_->set_precision(Precision::kTf32));
  }
  const st::bert::Config& config() const override { return m_->config(); }
  const std::vector<TensorInfo>& layout() const override { return m_->layout(); }
  int64_t num_params() const override { return m_->num_params(); }
  int64_t activation_floats(int64_t B, int64_t T) const override { return m_->activation_floats(B, T); }
  SlotState slot(int i) const override {
    st::cuda_bert::SlotInfo s = m_->slot_info(i);
    return SlotState{s.B, s.T, s.valid, s.generation};
  }
  const char* device() const override { return "cuda"; }
  const char* precision() const override { return m_->precision() == st::cuda_bert::Precision::kTf32 ? "tf32" : "fp32"; }
  void set_precision(const std::string& p) override {
    std::string err = m_->set_precision(p == "tf32" ? st::cuda_bert::Precision::kTf32 : st::cuda_bert::Precision::kFp32);
    if (!err.empty()) throw ArgError{true, err};
  }
  void forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B, int64_t T,
               float* out) override {
    check(m_->forward(slot, ids, mask, types, B, T, out));
  }
  void backward(int slot, const float* dout) override { check(m_->backward(slot, dout)); }
  // No packed kernels on the device: the sequences padded to the longest, one masked forward in
  // the last slot (training uses 0..2).
  void infer(const int32_t* ids, const int32_t* types, const int64_t* offsets, int64_t B, float* out) override {
    int64_t T = 0;
    for (int64_t b = 0; b < B; b++) T = std::max(T, offsets[b + 1] - offsets[b]);
    std::vector<int32_t> pid(B * T, 0), mask(B * T, 0), pty(types ? B * T : 0, 0);
    for (int64_t b = 0; b < B; b++) {
      for (int64_t t = 0; t < offsets[b + 1] - offsets[b]; t++) {
        pid[b * T + t] = ids[offsets[b] + t];
        mask[b * T + t] = 1;
        if (types) pty[b * T + t] = types[offsets[b] + t];
      }
    }
    check(m_->forward(kInferSlot, pid.data(), mask.data(), types ? pty.data() : nullptr, B, T, out));
  }
  int64_t infer_floats(int64_t, int64_t Tmax, int64_t B) const override { return m_->activation_floats(B, Tmax); }
  void zero_grad() override { check(m_->zero_grad()); }
  void adam_step(float lr, float b1, float b2, float eps, float wd, int64_t t, bool decoupled) override {
    check(m_->adam_step(lr, b1, b2, eps, wd, t, decoupled));
  }
  void reset_optimizer() override { check(m_->reset_optimizer()); }
  void read(Buf b, int64_t off, int64_t n, float* dst) override { check(m_->download(which(b), off, n, dst)); }
  void write(Buf b, int64_t off, int64_t n, const float* src) override { check(m_->upload(which(b), off, n, src)); }
  float* host_buffer(Buf b) override {
    float* h = mirror(b);
    check(m_->download(which(b), 0, m_->num_params(), h));
    return h;
  }
  void sync_to_host(Buf b) override { (void)host_buffer(b); }
  void sync_from_host(Buf b) override {
    const auto& h = mirrors_[static_cast<int>(b)];
    if (h) check(m_->upload(which(b), 0, m_->num_params(), h.get()));
  }

 private:
  static void check(const std::string& err) {
    if (!err.empty()) throw std::runtime_error(err);
  }
  static st::cuda_bert::Buffer which(Buf b) { return static_cast<st::cuda_bert::Buffer>(static_cast<int>(b)); }
  float* mirror(Buf b) {
    auto& h = mirrors_[static_cast<int>(b)];
    if (!h) h.reset(new float[static_cast<size_t>(std::max<int64_t>(m_->num_params(), 1))]());  // bad_alloc
    return h.get();
  }
  std::unique_ptr<st::cuda_bert::Model> m_;
  std::unique_ptr<float[]> mirrors_[4];
};
#endif

// config.device / config.precision.
struct DeviceChoice {
  bool cuda = false;
  bool tf32 = false;
  bool explicit_precision = false;  // config.precision was given (else tf32 is the device default)
};

DeviceChoice ParseDevice(const Napi::Value& v) {
  DeviceChoice d;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dev = o.Get("device");
  if (!Absent(dev)) {
    if (!dev.IsString()) throw ArgError{false, "config.device must be 'cpu' or 'cuda'"};
    std::string s = dev.As<Napi::String>().Utf8Value();
    if (s == "cuda") d.cuda = true;
    else if (s != "cpu") throw ArgError{true, "config.device must be 'cpu' or 'cuda', got '" + s + "'"};
  }
  Napi::Value prec = o.Get("precision");
  d.tf32 = d.cuda;  // the device default
  if (!Absent(prec)) {
    if (!prec.IsString()) throw ArgError{false, "config.precision must be 'fp32' or 'tf32'"};
    std::string s = prec.As<Napi::String>().Utf8Value();
    if (s != "fp32" && s != "tf32") throw ArgError{true, "config.precision must be 'fp32' or 'tf32', got '" + s + "'"};
    d.tf32 = s == "tf32";
    d.explicit_precision = true;
    if (d.tf32 && !d.cuda) throw ArgError{true, "config.precision 'tf32' needs device 'cuda' (the CPU model computes in fp32)"};
  }
  return d;
}

class BertWrap : public Napi::ObjectWrap<BertWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BertModel", {
      InstanceMethod<&BertWrap::Layout>("layout"),
      InstanceMethod<&BertWrap::NumParams>("numParams"),
      InstanceAccessor<&BertWrap::Device>("device"),
      InstanceAccessor<&BertWrap::Precision>("precision"),
      InstanceMethod<&BertWrap::SetPrecision>("setPrecision"),
      InstanceMethod<&BertWrap::ParamsBuffer>("paramsBuffer"),
      InstanceMethod<&BertWrap::GradsBuffer>("gradsBuffer"),
      InstanceMethod<&BertWrap::AdamMBuffer>("adamMBuffer"),
      InstanceMethod<&BertWrap::AdamVBuffer>("adamVBuffer"),
      InstanceMethod<&BertWrap::SyncToHost>("syncToHost"),
      InstanceMethod<&BertWrap::SyncFromHost>("syncFromHost"),
      InstanceMethod<&BertWrap::GetTensor>("getTensor"),
      InstanceMethod<&BertWrap::SetTensor>("setTensor"),
      InstanceMethod<&BertWrap::GetParams>("getParams"),
      InstanceMethod<&BertWrap::SetParams>("setParams"),
      InstanceMethod<&BertWrap::GetGrads>("getGrads"),
      InstanceMethod<&BertWrap::ForwardSync>("forwardSync"),
      InstanceMethod<&BertWrap::ForwardAsync>("forward"),
      InstanceMethod<&BertWrap::InferSync>("inferSync"),
      InstanceMethod<&BertWrap::InferAsync>("infer"),
      InstanceMethod<&BertWrap::BackwardSync>("backwardSync"),
      InstanceMethod<&BertWrap::BackwardAsync>("backward"),
      InstanceMethod<&BertWrap::ZeroGrad>("zeroGrad"),
      InstanceMethod<&BertWrap::AdamStep>("adamStep"),
      InstanceMethod<&BertWrap::ResetOptimizer>("resetOptimizer"),
      InstanceMethod<&BertWrap::SlotInfo>("slotInfo"),
      InstanceMethod<&BertWrap::ActivationBytes>("activationBytes"),
      InstanceMethod<&BertWrap::Profile>("profile"),
      InstanceMethod<&BertWrap::ProfileReport>("profileReport"),
    });
  }

  BertWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BertWrap>(info) {
    Napi::Env env = info.Env();
    st::bert::Config c;
    DeviceChoice dev;
    try {
      Napi::Value cfg = info.Length() > 0 ? info[0] : env.Undefined();
      c = ParseConfig(cfg);
      dev = ParseDevice(cfg);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    if (dev.cuda) {
#ifdef SYNTHTUNE_CUDA
      try {
        model_ = std::make_shared<CudaEngine>(c, dev.tf32, dev.explicit_precision);
      } catch (const std::bad_alloc&) {
        throw Napi::RangeError::New(env, "BertModel: out of host memory creating the CUDA model");
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, std::string("BertModel (device 'cuda'): ") + e.what());
      }
      return;
#else
      throw Napi::Error::New(env, "BertModel: device 'cuda' requested, but this build has no CUDA backend (npm run build:cuda)");
#endif
    }
    try {
      // Four flat buffers (parameters, gradients, Adam m and v), allocated and zeroed now.
      int64_t n_params = 0;
      st::bert::make_layout(c, &n_params);
      CheckAvailable("BertModel: " + std::to_string(n_params) + " parameters (weights, gradients and Adam moments)",
                     16.0 * static_cast<double>(n_params));
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    try {
      model_ = std::make_shared<CpuEngine>(c);
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, "BertModel: out of memory allocating the parameter buffers");
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, std::string("BertModel: ") + e.what());
    }
  }

  std::atomic<bool> busy_{false};

 private:
  std::shared_ptr<Engine> model_;

  void NotBusy(Napi::Env env) {
    if (busy_.load()) throw Napi::Error::New(env, "BertModel is busy: an async forward/backward is still running");
  }
  bool OnDevice() const { return std::string(model_->device()) == "cuda"; }

  // Runs a model operation that may fail on the device: its error becomes a JS Error.
  template <class F>
  void Guard(Napi::Env env, const char* what, F&& fn) {
    try {
      fn();
    } catch (const ArgError& e) {
      Throw(env, e);
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, std::string("BertModel.") + what + ": out of memory");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("BertModel.") + what + ": " + e.what());
    }
  }

  Napi::Value Layout(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& lay = model_->layout();
    Napi::Array arr = Napi::Array::New(env, lay.size());
    for (size_t i = 0; i < lay.size(); i++) {
      const auto& t = lay[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      Napi::Array shape = Napi::Array::New(env, t.shape.size());
      for (size_t d = 0; d < t.shape.size(); d++) shape.Set(d, Napi::Number::New(env, static_cast<double>(t.shape[d])));
      o.Set("shape", shape);
      o.Set("offset", Napi::Number::New(env, static_cast<double>(t.offset)));
      o.Set("size", Napi::Number::New(env, static_cast<double>(t.size)));
      o.Set("decay", Napi::Boolean::New(env, t.decay));
      arr.Set(i, o);
    }
    return arr;
  }

  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(model_->num_params()));
  }

  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_->device()); }
  Napi::Value Precision(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_->precision()); }

  Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    try {
      if (info.Length() < 1 || !info[0].IsString()) throw ArgError{false, "setPrecision expects 'fp32' or 'tf32'"};
      std::string p = info[0].As<Napi::String>().Utf8Value();
      if (p != "fp32" && p != "tf32") throw ArgError{true, "precision must be 'fp32' or 'tf32', got '" + p + "'"};
      model_->set_precision(p);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    return env.Undefined();
  }

  // An ArrayBuffer over one of the model's flat buffers (device 'cuda': its host mirror, downloaded
  // now); it holds a reference to the model.
  Napi::Value External(const Napi::CallbackInfo& info, Buf b) {
    Napi::Env env = info.Env();
    if (OnDevice()) NotBusy(env);  // the download must not race an async call (the CPU buffers are plain memory)
    float* data = nullptr;
    Guard(env, "buffer", [&] { data = model_->host_buffer(b); });
    auto* hold = new std::shared_ptr<Engine>(model_);
    return Napi::ArrayBuffer::New(
        env, data, static_cast<size_t>(model_->num_params()) * sizeof(float),
        [](Napi::Env, void*, std::shared_ptr<Engine>* h) { delete h; }, hold);
  }
  Napi::Value ParamsBuffer(const Napi::CallbackInfo& info) { return External(info, Buf::kParams); }
  Napi::Value GradsBuffer(const Napi::CallbackInfo& info) { return External(info, Buf::kGrads); }
  Napi::Value AdamMBuffer(const Napi::CallbackInfo& info) { return External(info, Buf::kAdamM); }
  Napi::Value AdamVBuffer(const Napi::CallbackInfo& info) { return External(info, Buf::kAdamV); }

  std::vector<Buf> WhichArg(const Napi::CallbackInfo& info) {
    const char* usage = "which must be 'params', 'grads', 'adamM', 'adamV' or 'all'";
    if (info.Length() < 1 || Absent(info[0])) return std::vector<Buf>(std::begin(kAllBufs), std::end(kAllBufs));
    if (!info[0].IsString()) throw ArgError{false, usage};
    std::string w = info[0].As<Napi::String>().Utf8Value();
    if (w == "all") return std::vector<Buf>(std::begin(kAllBufs), std::end(kAllBufs));
    if (w == "params") return {Buf::kParams};
    if (w == "grads") return {Buf::kGrads};
    if (w == "adamM") return {Buf::kAdamM};
    if (w == "adamV") return {Buf::kAdamV};
    throw ArgError{true, std::string(usage) + ", got '" + w + "'"};
  }

  Napi::Value SyncToHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    Guard(env, "syncToHost", [&] {
      for (Buf b : WhichArg(info)) model_->sync_to_host(b);
    });
    return env.Undefined();
  }

  Napi::Value SyncFromHost(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    Guard(env, "syncFromHost", [&] {
      for (Buf b : WhichArg(info)) model_->sync_from_host(b);
    });
    return env.Undefined();
  }

  const st::bert::TensorInfo& TensorByName(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw ArgError{false, "tensor name must be a string"};
    std::string name = info[0].As<Napi::String>().Utf8Value();
    const st::bert::TensorInfo* t = model_->find(name);
    if (!t) throw ArgError{true, "unknown tensor '" + name + "'"};
    return *t;
  }

  Napi::Value GetTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    const TensorInfo* t = nullptr;
    try {
      t = &TensorByName(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(t->size));
    Guard(env, "getTensor", [&] { model_->read(Buf::kParams, t->offset, t->size, out.Data()); });
    return out;
  }

  Napi::Value SetTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    const TensorInfo* t = nullptr;
    Napi::Float32Array a;
    try {
      t = &TensorByName(info);
      if (info.Length() < 2) throw ArgError{false, "setTensor expects (name, Float32Array)"};
      a = F32Arg(info[1], "tensor '" + t->name + "'", t->size);
      const float* p = a.Data();
      for (int64_t i = 0; i < t->size; i++) {
        if (!std::isfinite(p[i])) throw ArgError{true, "tensor '" + t->name + "' has a non-finite value at " + std::to_string(i)};
      }
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Guard(env, "setTensor", [&] { model_->write(Buf::kParams, t->offset, t->size, a.Data()); });
    return env.Undefined();
  }

  Napi::Value CopyOut(Napi::Env env, Buf b, const char* what) {
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(model_->num_params()));
    Guard(env, what, [&] { model_->read(b, 0, model_->num_params(), out.Data()); });
    return out;
  }
  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    return CopyOut(info.Env(), Buf::kParams, "getParams");
  }
  Napi::Value GetGrads(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    return CopyOut(info.Env(), Buf::kGrads, "getGrads");
  }
  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    Napi::Float32Array a;
    try {
      a = F32Arg(info.Length() ? info[0] : env.Undefined(), "params", model_->num_params());
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Guard(env, "setParams", [&] { model_->write(Buf::kParams, 0, model_->num_params(), a.Data()); });
    return env.Undefined();
  }

  // ---- forward / backward ----

  // A copy of an Int32Array of n ids, each checked to lie in [0, bound) (named in the error).
  static std::vector<int32_t> CheckedIds(const Napi::Value& v, const char* name, int64_t n, int64_t bound) {
    Napi::Int32Array arr = I32Arg(v, name, n);
    std::vector<int32_t> out(arr.Data(), arr.Data() + n);
    for (int64_t i = 0; i < n; i++) {
      if (out[i] < 0 || out[i] >= bound) {
        throw ArgError{true, std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(out[i]) + " is outside [0, " +
                                 std::to_string(bound) + ")"};
      }
    }
    return out;
  }

  struct ForwardArgs {
    std::vector<int32_t> ids, mask, types;
    bool has_mask = false, has_types = false;
    int64_t B = 0, T = 0;
    int slot = 0;
  };

  ForwardArgs ParseForward(const Napi::CallbackInfo& info) {
    if (info.Length() < 5) {
      throw ArgError{false, "forward expects (inputIds, attentionMask|null, tokenTypeIds|null, batch, seq, slot?)"};
    }
    const auto& c = model_->config();
    ForwardArgs a;
    a.B = IntArg(info[3], "batch", 1, int64_t{1} << 24);
    a.T = IntArg(info[4], "seq", 1, int64_t{1} << 24);
    if (a.T > st::bert::max_seq(c)) {
      throw ArgError{true, "seq (" + std::to_string(a.T) + ") exceeds maxPosition (" + std::to_string(c.max_position) + ")" +
                               (c.padding_idx >= 0 ? " less paddingIdx + 1 (" + std::to_string(c.padding_idx + 1) + ")" : std::string())};
    }
    if (a.B * a.T > (int64_t{1} << 28)) throw ArgError{true, "batch * seq is too large"};
    // The attention probabilities alone (B·NH·T² per layer) are estimated in double first, so that
    // activation_floats' int64 arithmetic cannot overflow.
    const double probs = static_cast<double>(a.B) * static_cast<double>(c.heads) * static_cast<double>(a.T) *
                         static_cast<double>(a.T) * static_cast<double>(c.layers);
    if (probs > 8.0 * (1u << 30) || static_cast<double>(model_->activation_floats(a.B, a.T)) > 8.0 * (1u << 30)) {
      throw ArgError{true, "batch " + std::to_string(a.B) + " x seq " + std::to_string(a.T) +
                               " needs more than 32 GiB of activations"};
    }
    // A slot's activations are kept between calls, so the check is against the machine's memory
    // (a repeated call reuses what the slot holds), not the memory free now.
    const double act = 4.0 * static_cast<double>(model_->activation_floats(a.B, a.T));
    if (act > static_cast<double>(TotalMemory())) {
      throw ArgError{true, "batch " + std::to_string(a.B) + " x seq " + std::to_string(a.T) + " needs " +
                               GiB(static_cast<uint64_t>(act)) + " of activations but this machine has " +
                               GiB(TotalMemory())};
    }
    if (info.Length() > 5 && !info[5].IsUndefined()) a.slot = static_cast<int>(IntArg(info[5], "slot", 0, kMaxSlots - 1));
    const int64_t N = a.B * a.T;
    a.ids = CheckedIds(info[0], "inputIds", N, c.vocab_size);
    if (!Absent(info[1])) {
      Napi::Int32Array m = I32Arg(info[1], "attentionMask", N);
      a.mask.assign(m.Data(), m.Data() + N);
      for (int64_t i = 0; i < N; i++) {
        if (a.mask[i] != 0 && a.mask[i] != 1) {
          throw ArgError{true, "attentionMask[" + std::to_string(i) + "] = " + std::to_string(a.mask[i]) + " is not 0 or 1"};
        }
      }
      a.has_mask = true;
    }
    if (!Absent(info[2])) {
      a.types = CheckedIds(info[2], "tokenTypeIds", N, std::max<int64_t>(c.type_vocab_size, 1));
      a.has_types = true;
    }
    return a;
  }

  static void RunForward(Engine& m, const ForwardArgs& a, float* out) {
    m.forward(a.slot, a.ids.data(), a.has_mask ? a.mask.data() : nullptr, a.has_types ? a.types.data() : nullptr,
              a.B, a.T, out);
  }

  Napi::Value ForwardSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    ForwardArgs a;
    try {
      a = ParseForward(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a.B * st::bert::out_dim(model_->config())));
    try {
      RunForward(*model_, a, out.Data());
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, "BertModel.forward: out of memory for the activations");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("BertModel.forward: ") + e.what());
    }
    return out;
  }

  struct InferArgs {
    std::vector<int32_t> ids, types;
    std::vector<int64_t> offsets;
    bool has_types = false;
    int64_t B = 0;
  };

  InferArgs ParseInfer(const Napi::CallbackInfo& info) {
    if (info.Length() < 2) throw ArgError{false, "infer expects (inputIds, offsets, tokenTypeIds|null)"};
    const auto& c = model_->config();
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw ArgError{false, "offsets must be an Int32Array"};
    }
    Napi::Int32Array off = info[1].As<Napi::Int32Array>();
    if (off.ElementLength() < 2) throw ArgError{true, "offsets must hold at least 2 values (B+1 for B >= 1 sequences)"};
    InferArgs a;
    a.B = static_cast<int64_t>(off.ElementLength()) - 1;
    a.offsets.assign(off.Data(), off.Data() + off.ElementLength());
    if (a.offsets[0] != 0) throw ArgError{true, "offsets[0] must be 0, got " + std::to_string(a.offsets[0])};
    int64_t Tmax = 0;
    for (int64_t b = 0; b < a.B; b++) {
      const int64_t L = a.offsets[b + 1] - a.offsets[b];
      if (L < 1 || L > st::bert::max_seq(c)) {
        throw ArgError{true, "sequence " + std::to_string(b) + " has " + std::to_string(L) + " tokens (offsets " +
                                 std::to_string(a.offsets[b]) + " to " + std::to_string(a.offsets[b + 1]) + "); each needs 1 to " +
                                 std::to_string(st::bert::max_seq(c))};
      }
      Tmax = std::max(Tmax, L);
    }
    const int64_t N = a.offsets[a.B];
    if (N > (int64_t{1} << 28)) throw ArgError{true, "too many tokens (" + std::to_string(N) + ")"};
    const double need = 4.0 * static_cast<double>(model_->infer_floats(N, Tmax, a.B));
    if (need > static_cast<double>(TotalMemory())) {
      throw ArgError{true, std::to_string(N) + " tokens (longest " + std::to_string(Tmax) + ") need " +
                               GiB(static_cast<uint64_t>(need)) + " of scratch but this machine has " + GiB(TotalMemory())};
    }
    a.ids = CheckedIds(info[0], "inputIds", N, c.vocab_size);
    if (info.Length() > 2 && !Absent(info[2])) {
      a.types = CheckedIds(info[2], "tokenTypeIds", N, std::max<int64_t>(c.type_vocab_size, 1));
      a.has_types = true;
    }
    return a;
  }

  static void RunInfer(Engine& m, const InferArgs& a, float* out) {
    m.infer(a.ids.data(), a.has_types ? a.types.data() : nullptr, a.offsets.data(), a.B, out);
  }

  Napi::Value InferSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    InferArgs a;
    try {
      a = ParseInfer(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a.B * st::bert::out_dim(model_->config())));
    try {
      RunInfer(*model_, a, out.Data());
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, "BertModel.infer: out of memory for the scratch");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("BertModel.infer: ") + e.what());
    }
    return out;
  }

  Napi::Value InferAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    auto a = std::make_shared<InferArgs>();
    try {
      *a = ParseInfer(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a->B * st::bert::out_dim(model_->config())));
    float* dst = out.Data();
    std::shared_ptr<Engine> m = model_;
    return Queue(env, [m, a, dst]() { RunInfer(*m, *a, dst); }, out);
  }

  struct BackwardArgs {
    std::vector<float> dout;
    int slot = 0;
  };

  BackwardArgs ParseBackward(const Napi::CallbackInfo& info) {
    BackwardArgs a;
    if (info.Length() > 1 && !info[1].IsUndefined()) a.slot = static_cast<int>(IntArg(info[1], "slot", 0, kMaxSlots - 1));
    const SlotState s = model_->slot(a.slot);
    if (!s.valid) throw ArgError{false, "backward: no forward pass in slot " + std::to_string(a.slot)};
    const int64_t need = s.B * st::bert::out_dim(model_->config());
    Napi::Float32Array d = F32Arg(info.Length() ? info[0] : info.Env().Undefined(), "dPooled", need);
    a.dout.assign(d.Data(), d.Data() + need);
    for (int64_t i = 0; i < need; i++) {
      if (!std::isfinite(a.dout[i])) throw ArgError{true, "dPooled[" + std::to_string(i) + "] is not finite"};
    }
    return a;
  }

  Napi::Value BackwardSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    BackwardArgs a;
    try {
      a = ParseBackward(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Guard(env, "backward", [&] { model_->backward(a.slot, a.dout.data()); });
    return env.Undefined();
  }

  class Job : public Napi::AsyncWorker {
   public:
    Job(Napi::Env env, BertWrap* owner, std::function<void()> fn, Napi::Value result)
        : Napi::AsyncWorker(env), owner_(owner), fn_(std::move(fn)), deferred_(Napi::Promise::Deferred::New(env)) {
      self_ = Napi::Persistent(owner->Value());
      if (result.IsObject()) result_ = Napi::Persistent(result.As<Napi::Object>());
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        fn_();
      } catch (const std::bad_alloc&) {
        SetError("BertModel: out of memory");
      } catch (const std::exception& e) {
        SetError(std::string("BertModel: ") + e.what());
      }
    }
    void OnOK() override {
      owner_->busy_ = false;
      deferred_.Resolve(result_.IsEmpty() ? Env().Undefined() : result_.Value());
    }
    void OnError(const Napi::Error& e) override {
      owner_->busy_ = false;
      deferred_.Reject(e.Value());
    }

   private:
    BertWrap* owner_;
    std::function<void()> fn_;
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_, result_;
  };

  Napi::Value Queue(Napi::Env env, std::function<void()> fn, Napi::Value result) {
    auto* job = new Job(env, this, std::move(fn), result);
    Napi::Promise p = job->Promise();
    try {
      job->Queue();
    } catch (...) {
      delete job;  // never queued: nothing will complete (or delete) it
      throw;
    }
    // Busy only once queued (a failed Queue must not leave the model busy forever). The job cannot
    // complete before this returns: OnOK / OnError run on this (the JS) thread.
    busy_ = true;
    return p;
  }

  Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    auto a = std::make_shared<ForwardArgs>();
    try {
      *a = ParseForward(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a->B * st::bert::out_dim(model_->config())));
    float* dst = out.Data();
    std::shared_ptr<Engine> m = model_;
    return Queue(env, [m, a, dst]() { RunForward(*m, *a, dst); }, out);
  }

  Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    auto a = std::make_shared<BackwardArgs>();
    try {
      *a = ParseBackward(info);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    std::shared_ptr<Engine> m = model_;
    return Queue(env, [m, a]() { m->backward(a->slot, a->dout.data()); }, env.Undefined());
  }

  // profile(on): per-op timing on (cleared) or off; false when the device has no profiler.
  Napi::Value Profile(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    st::bert::Profiler* p = model_->profiler();
    if (p) p->enable(info.Length() > 0 && info[0].ToBoolean().Value());
    return Napi::Boolean::New(info.Env(), p != nullptr);
  }

  // profileReport(): [{phase, layer, op, calls, ms, flops}] summed since profile(true).
  Napi::Value ProfileReport(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    Napi::Array out = Napi::Array::New(env);
    st::bert::Profiler* p = model_->profiler();
    if (!p) return out;
    uint32_t i = 0;
    for (const st::bert::ProfileRow& r : p->rows()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("phase", r.phase);
      o.Set("layer", Napi::Number::New(env, static_cast<double>(r.layer)));
      o.Set("op", r.op);
      o.Set("calls", Napi::Number::New(env, static_cast<double>(r.calls)));
      o.Set("ms", Napi::Number::New(env, r.ms));
      o.Set("flops", Napi::Number::New(env, r.flops));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    Guard(info.Env(), "zeroGrad", [&] { model_->zero_grad(); });
    return info.Env().Undefined();
  }

  Napi::Value ResetOptimizer(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    Guard(info.Env(), "resetOptimizer", [&] { model_->reset_optimizer(); });
    return info.Env().Undefined();
  }

  Napi::Value AdamStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    try {
      if (info.Length() < 6) throw ArgError{false, "adamStep expects (lr, beta1, beta2, eps, weightDecay, t, decoupled?)"};
      double lr = NumberArg(info[0], "lr");
      double b1 = NumberArg(info[1], "beta1");
      double b2 = NumberArg(info[2], "beta2");
      double eps = NumberArg(info[3], "eps");
      double wd = NumberArg(info[4], "weightDecay");
      int64_t t = IntArg(info[5], "t", 1, int64_t{1} << 52);
      bool decoupled = info.Length() < 7 || info[6].IsUndefined() ? true : info[6].ToBoolean().Value();
      if (lr < 0) throw ArgError{true, "lr must be >= 0"};
      if (!(b1 >= 0 && b1 < 1)) throw ArgError{true, "beta1 must be in [0, 1)"};
      if (!(b2 >= 0 && b2 < 1)) throw ArgError{true, "beta2 must be in [0, 1)"};
      if (!(eps > 0)) throw ArgError{true, "eps must be > 0"};
      if (wd < 0) throw ArgError{true, "weightDecay must be >= 0"};
      Guard(env, "adamStep", [&] {
        model_->adam_step(static_cast<float>(lr), static_cast<float>(b1), static_cast<float>(b2),
                          static_cast<float>(eps), static_cast<float>(wd), t, decoupled);
      });
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    return env.Undefined();
  }

  Napi::Value SlotInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);  // the running forward writes the slot state on a worker thread
    int slot = 0;
    try {
      if (info.Length() > 0 && !info[0].IsUndefined()) slot = static_cast<int>(IntArg(info[0], "slot", 0, kMaxSlots - 1));
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    const SlotState s = model_->slot(slot);
    Napi::Object o = Napi::Object::New(env);
    o.Set("batch", Napi::Number::New(env, static_cast<double>(s.B)));
    o.Set("seq", Napi::Number::New(env, static_cast<double>(s.T)));
    o.Set("generation", Napi::Number::New(env, static_cast<double>(s.generation)));
    o.Set("valid", Napi::Boolean::New(env, s.valid));
    return o;
  }

  Napi::Value ActivationBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      if (info.Length() < 2) throw ArgError{false, "activationBytes expects (batch, seq)"};
      int64_t B = IntArg(info[0], "batch", 1, int64_t{1} << 24);
      int64_t T = IntArg(info[1], "seq", 1, int64_t{1} << 24);
      const auto& c = model_->config();
      const double est = static_cast<double>(B) * static_cast<double>(T) *
                         (static_cast<double>(T) * static_cast<double>(c.heads) + 8.0 * static_cast<double>(c.hidden) +
                          static_cast<double>(c.intermediate)) * static_cast<double>(c.layers + 1);
      if (est > 1e18) throw ArgError{true, "batch x seq is too large"};
      return Napi::Number::New(env, 4.0 * static_cast<double>(model_->activation_floats(B, T)));
    } catch (const ArgError& e) {
      Throw(env, e);
    }
  }
};

}  // namespace

// Called from addon.cc's Init.
void RegisterBert(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = BertWrap::Define(env);
  // One reference per environment (main thread, each worker), leaked with it on purpose.
  auto* ref = new Napi::FunctionReference(Napi::Persistent(cls));
  exports.Set("BertModel", cls);
  exports.Set("bertCreate", Napi::Function::New(
                                env,
                                [](const Napi::CallbackInfo& info) -> Napi::Value {
                                  auto* r = static_cast<Napi::FunctionReference*>(info.Data());
                                  return r->New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
                                },
                                "bertCreate", ref));
}
