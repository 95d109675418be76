// synthtune Node addon: the trainable BERT encoder of native/cpu/bert.h as a JavaScript class.
//
//   const m = new addon.BertModel({ vocabSize, hidden, layers, heads, intermediate, maxPosition,
//                                   typeVocabSize, layerNormEps, pooling: 'mean'|'cls', normalize, threads })
//   (or addon.bertCreate(config))
//   m.layout()                     [{ name, shape, offset, size, decay }]   HF names, flat-buffer offsets
//   m.numParams()
//   m.paramsBuffer() / gradsBuffer() / adamMBuffer() / adamVBuffer()
//                                  ArrayBuffers over the model's own flat buffers (zero copy; they keep
//                                  the model's memory alive)
//   m.getTensor(name) → Float32Array copy;  m.setTensor(name, Float32Array)
//   m.getParams() / m.setParams(Float32Array) / m.getGrads()      whole flat buffers, copied
//   m.forwardSync(inputIds, attentionMask|null, tokenTypeIds|null, B, T, slot = 0) → Float32Array (B,C)
//   m.forward(...)  → Promise<Float32Array>          (runs on libuv's worker pool)
//   m.backwardSync(dPooled (B,C), slot = 0);  m.backward(...) → Promise<void>   (gradients accumulate)
//   m.zeroGrad();  m.adamStep(lr, beta1, beta2, eps, weightDecay, t, decoupled = true);  m.resetOptimizer()
//   m.slotInfo(slot) → { batch, seq, generation, valid };  m.activationBytes(B, T)
//
// Every argument is re-checked here (types, lengths, id ranges, T <= maxPosition, sizes) with a
// TypeError / RangeError; nothing touches memory it was not given. While an async call runs the
// model is busy and every other call throws instead of racing it.
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

namespace {

using st::bert::Model;

using st::bind::ArgError;
using st::bind::NumberArg;
using st::bind::Throw;

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
  Napi::Value pool = o.Get("pooling");
  if (!pool.IsUndefined()) {
    if (!pool.IsString()) throw ArgError{false, "config.pooling must be 'mean' or 'cls'"};
    std::string s = pool.As<Napi::String>().Utf8Value();
    if (s == "mean") c.pooling = 0;
    else if (s == "cls") c.pooling = 1;
    else throw ArgError{true, "config.pooling must be 'mean' or 'cls', got '" + s + "'"};
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

class BertWrap : public Napi::ObjectWrap<BertWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BertModel", {
      InstanceMethod<&BertWrap::Layout>("layout"),
      InstanceMethod<&BertWrap::NumParams>("numParams"),
      InstanceMethod<&BertWrap::ParamsBuffer>("paramsBuffer"),
      InstanceMethod<&BertWrap::GradsBuffer>("gradsBuffer"),
      InstanceMethod<&BertWrap::AdamMBuffer>("adamMBuffer"),
      InstanceMethod<&BertWrap::AdamVBuffer>("adamVBuffer"),
      InstanceMethod<&BertWrap::GetTensor>("getTensor"),
      InstanceMethod<&BertWrap::SetTensor>("setTensor"),
      InstanceMethod<&BertWrap::GetParams>("getParams"),
      InstanceMethod<&BertWrap::SetParams>("setParams"),
      InstanceMethod<&BertWrap::GetGrads>("getGrads"),
      InstanceMethod<&BertWrap::ForwardSync>("forwardSync"),
      InstanceMethod<&BertWrap::ForwardAsync>("forward"),
      InstanceMethod<&BertWrap::BackwardSync>("backwardSync"),
      InstanceMethod<&BertWrap::BackwardAsync>("backward"),
      InstanceMethod<&BertWrap::ZeroGrad>("zeroGrad"),
      InstanceMethod<&BertWrap::AdamStep>("adamStep"),
      InstanceMethod<&BertWrap::ResetOptimizer>("resetOptimizer"),
      InstanceMethod<&BertWrap::SlotInfo>("slotInfo"),
      InstanceMethod<&BertWrap::ActivationBytes>("activationBytes"),
    });
  }

  BertWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BertWrap>(info) {
    Napi::Env env = info.Env();
    st::bert::Config c;
    try {
      c = ParseConfig(info.Length() > 0 ? info[0] : env.Undefined());
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    try {
      model_ = std::make_shared<Model>(c);
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, "BertModel: out of memory allocating the parameter buffers");
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, std::string("BertModel: ") + e.what());
    }
  }

  std::atomic<bool> busy_{false};

 private:
  std::shared_ptr<Model> model_;

  void NotBusy(Napi::Env env) {
    if (busy_.load()) throw Napi::Error::New(env, "BertModel is busy: an async forward/backward is still running");
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

  // An ArrayBuffer over one of the model's flat buffers; it holds a reference to the model.
  Napi::Value External(Napi::Env env, float* data) {
    auto* hold = new std::shared_ptr<Model>(model_);
    return Napi::ArrayBuffer::New(
        env, data, static_cast<size_t>(model_->num_params()) * sizeof(float),
        [](Napi::Env, void*, std::shared_ptr<Model>* h) { delete h; }, hold);
  }
  Napi::Value ParamsBuffer(const Napi::CallbackInfo& info) { return External(info.Env(), model_->params()); }
  Napi::Value GradsBuffer(const Napi::CallbackInfo& info) { return External(info.Env(), model_->grads()); }
  Napi::Value AdamMBuffer(const Napi::CallbackInfo& info) { return External(info.Env(), model_->adam_m()); }
  Napi::Value AdamVBuffer(const Napi::CallbackInfo& info) { return External(info.Env(), model_->adam_v()); }

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
    try {
      const auto& t = TensorByName(info);
      Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(t.size));
      std::copy(model_->params() + t.offset, model_->params() + t.offset + t.size, out.Data());
      return out;
    } catch (const ArgError& e) {
      Throw(env, e);
    }
  }

  Napi::Value SetTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    try {
      const auto& t = TensorByName(info);
      if (info.Length() < 2) throw ArgError{false, "setTensor expects (name, Float32Array)"};
      Napi::Float32Array a = F32Arg(info[1], "tensor '" + t.name + "'", t.size);
      const float* p = a.Data();
      for (int64_t i = 0; i < t.size; i++) {
        if (!std::isfinite(p[i])) throw ArgError{true, "tensor '" + t.name + "' has a non-finite value at " + std::to_string(i)};
      }
      std::copy(p, p + t.size, model_->params() + t.offset);
      return env.Undefined();
    } catch (const ArgError& e) {
      Throw(env, e);
    }
  }

  Napi::Value CopyOut(Napi::Env env, const float* src) {
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(model_->num_params()));
    std::copy(src, src + model_->num_params(), out.Data());
    return out;
  }
  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    return CopyOut(info.Env(), model_->params());
  }
  Napi::Value GetGrads(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    return CopyOut(info.Env(), model_->grads());
  }
  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NotBusy(env);
    try {
      Napi::Float32Array a = F32Arg(info.Length() ? info[0] : env.Undefined(), "params", model_->num_params());
      std::copy(a.Data(), a.Data() + model_->num_params(), model_->params());
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    return env.Undefined();
  }

  // ---- forward / backward ----

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
    if (a.T > c.max_position) {
      throw ArgError{true, "seq (" + std::to_string(a.T) + ") exceeds maxPosition (" + std::to_string(c.max_position) + ")"};
    }
    if (a.B * a.T > (int64_t{1} << 28)) throw ArgError{true, "batch * seq is too large"};
    if (static_cast<double>(model_->activation_floats(a.B, a.T)) > 8.0 * (1u << 30)) {
      throw ArgError{true, "batch " + std::to_string(a.B) + " x seq " + std::to_string(a.T) +
                               " needs more than 32 GiB of activations"};
    }
    if (info.Length() > 5 && !info[5].IsUndefined()) a.slot = static_cast<int>(IntArg(info[5], "slot", 0, Model::kMaxSlots - 1));
    const int64_t N = a.B * a.T;
    Napi::Int32Array ids = I32Arg(info[0], "inputIds", N);
    a.ids.assign(ids.Data(), ids.Data() + N);
    for (int64_t i = 0; i < N; i++) {
      if (a.ids[i] < 0 || a.ids[i] >= c.vocab_size) {
        throw ArgError{true, "inputIds[" + std::to_string(i) + "] = " + std::to_string(a.ids[i]) + " is outside [0, " +
                                 std::to_string(c.vocab_size) + ")"};
      }
    }
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
      Napi::Int32Array t = I32Arg(info[2], "tokenTypeIds", N);
      a.types.assign(t.Data(), t.Data() + N);
      const int64_t TV = std::max<int64_t>(c.type_vocab_size, 1);
      for (int64_t i = 0; i < N; i++) {
        if (a.types[i] < 0 || a.types[i] >= TV) {
          throw ArgError{true, "tokenTypeIds[" + std::to_string(i) + "] = " + std::to_string(a.types[i]) +
                                   " is outside [0, " + std::to_string(TV) + ")"};
        }
      }
      a.has_types = true;
    }
    return a;
  }

  static void RunForward(Model& m, const ForwardArgs& a, float* out) {
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
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a.B * model_->config().hidden));
    try {
      RunForward(*model_, a, out.Data());
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(env, "BertModel.forward: out of memory for the activations");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("BertModel.forward: ") + e.what());
    }
    return out;
  }

  struct BackwardArgs {
    std::vector<float> dout;
    int slot = 0;
  };

  BackwardArgs ParseBackward(const Napi::CallbackInfo& info) {
    BackwardArgs a;
    if (info.Length() > 1 && !info[1].IsUndefined()) a.slot = static_cast<int>(IntArg(info[1], "slot", 0, Model::kMaxSlots - 1));
    const st::bert::Slot& s = model_->slot(a.slot);
    if (!s.valid) throw ArgError{false, "backward: no forward pass in slot " + std::to_string(a.slot)};
    const int64_t need = s.B * model_->config().hidden;
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
    try {
      model_->backward(a.slot, a.dout.data());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("BertModel.backward: ") + e.what());
    }
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
    busy_ = true;
    auto* job = new Job(env, this, std::move(fn), result);
    Napi::Promise p = job->Promise();
    job->Queue();
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
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(a->B * model_->config().hidden));
    float* dst = out.Data();
    std::shared_ptr<Model> m = model_;
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
    std::shared_ptr<Model> m = model_;
    return Queue(env, [m, a]() { m->backward(a->slot, a->dout.data()); }, env.Undefined());
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    model_->zero_grad();
    return info.Env().Undefined();
  }

  Napi::Value ResetOptimizer(const Napi::CallbackInfo& info) {
    NotBusy(info.Env());
    model_->reset_optimizer();
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
      model_->adam_step(static_cast<float>(lr), static_cast<float>(b1), static_cast<float>(b2),
                        static_cast<float>(eps), static_cast<float>(wd), t, decoupled);
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    return env.Undefined();
  }

  Napi::Value SlotInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int slot = 0;
    try {
      if (info.Length() > 0 && !info[0].IsUndefined()) slot = static_cast<int>(IntArg(info[0], "slot", 0, Model::kMaxSlots - 1));
    } catch (const ArgError& e) {
      Throw(env, e);
    }
    const st::bert::Slot& s = model_->slot(slot);
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
