// synthtune Node addon: binds the kernel interface of kernels.h to JavaScript. Nothing else.
//
// Every function re-checks its arguments (types, lengths against the dimensions, overflow) and
// throws a TypeError/RangeError instead of touching memory it was not given: the TypeScript layer
// validates first, but the addon must stay safe when called directly.
//
// Async variants run the kernel on libuv's worker pool (Napi::AsyncWorker) and return a Promise.
// The worker holds references to the typed arrays so they stay alive until the kernel is done.
#include <napi.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "bind_args.h"
#include "kernels.h"

void RegisterBert(Napi::Env, Napi::Object);
void RegisterTrain(Napi::Env, Napi::Object);

namespace {

// ---- argument helpers --------------------------------------------------------------------------

using namespace st::bind;

// ---- async plumbing ----------------------------------------------------------------------------

// Runs `job` on the worker pool; resolves with undefined, or rejects with the error string.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<std::string()> job, const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {
    for (size_t i = 0; i < info.Length(); i++) {
      if (info[i].IsObject()) keep_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      std::string err = job_();
      if (!err.empty()) SetError(err);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::function<std::string()> job_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
};

Napi::Value Run(const Napi::CallbackInfo& info, bool async, std::function<std::string()> job) {
  Napi::Env env = info.Env();
  if (!async) {
    std::string err = job();
    if (!err.empty()) throw Napi::Error::New(env, err);
    return env.Undefined();
  }
  auto* w = new Job(env, std::move(job), info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---- sgemm(transB, batch, m, n, k, alpha, a, b, beta, c, threads) ---------------------------------

struct GemmArgs {
  bool trans_b;
  int64_t batch, m, n, k;
  float alpha, beta;
  const float *a, *b;
  float* c;
  int threads;
};

GemmArgs ParseGemm(const Napi::CallbackInfo& info) {
  if (info.Length() < 10) throw ArgError{false, "sgemm expects (transB, batch, m, n, k, alpha, a, b, beta, c, threads?)"};
  GemmArgs g;
  g.trans_b = info[0].ToBoolean().Value();
  g.batch = Dim(info, 1, "batch");
  g.m = Dim(info, 2, "m");
  g.n = Dim(info, 3, "n");
  g.k = Dim(info, 4, "k");
  g.alpha = static_cast<float>(Num(info, 5, "alpha"));
  g.a = F32(info, 6, "a", Mul(g.batch, Mul(g.m, g.k, "a"), "a")).data;
  g.b = F32(info, 7, "b", Mul(g.batch, Mul(g.k, g.n, "b"), "b")).data;
  g.beta = static_cast<float>(Num(info, 8, "beta"));
  g.c = F32(info, 9, "c", Mul(g.batch, Mul(g.m, g.n, "c"), "c")).data;
  g.threads = Threads(info, 10);
  return g;
}

Napi::Value Sgemm(const Napi::CallbackInfo& info, bool async) {
  GemmArgs g;
  try {
    g = ParseGemm(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  return Run(info, async, [g]() {
    st::sgemm(g.trans_b, g.batch, g.m, g.n, g.k, g.alpha, g.a, g.b, g.beta, g.c, g.threads);
    return std::string();
  });
}

// ---- topk(queries, corpus, q, n, d, k, exclOffsets|null, exclIds|null, outIdx, outScores, threads) --

struct TopkArgs {
  const float *queries, *corpus;
  int64_t q, n, d, k;
  const int32_t *excl_off, *excl_ids;
  int32_t* out_idx;
  float* out_scores;
  int threads;
};

TopkArgs ParseTopk(const Napi::CallbackInfo& info) {
  if (info.Length() < 10) {
    throw ArgError{false, "topk expects (queries, corpus, q, n, d, k, exclOffsets, exclIds, outIdx, outScores, threads?)"};
  }
  TopkArgs t;
  t.q = Dim(info, 2, "q");
  t.n = Dim(info, 3, "n");
  t.d = Dim(info, 4, "d");
  t.k = Dim(info, 5, "k");
  if (t.k > t.n) throw ArgError{true, "k must be <= n (the TypeScript layer clamps it)"};
  t.queries = F32(info, 0, "queries", Mul(t.q, t.d, "queries")).data;
  t.corpus = F32(info, 1, "corpus", Mul(t.n, t.d, "corpus")).data;
  t.excl_off = nullptr;
  t.excl_ids = nullptr;
  bool has_off = !info[6].IsNull() && !info[6].IsUndefined();
  bool has_ids = !info[7].IsNull() && !info[7].IsUndefined();
  if (has_off != has_ids) throw ArgError{false, "exclOffsets and exclIds must both be given or both be null"};
  if (has_off) {
    t.excl_off = I32(info, 6, "exclOffsets", t.q + 1).data;
    // The offsets must be non-decreasing, start at 0 and end at exclIds.length.
    View<int32_t> ids = I32(info, 7, "exclIds");
    int64_t total = ids.len;
    if (t.excl_off[0] != 0) throw ArgError{true, "exclOffsets[0] must be 0"};
    for (int64_t i = 0; i < t.q; i++) {
      if (t.excl_off[i + 1] < t.excl_off[i]) throw ArgError{true, "exclOffsets must be non-decreasing"};
    }
    if (t.excl_off[t.q] != total) throw ArgError{true, "exclOffsets[q] must equal exclIds.length"};
    t.excl_ids = ids.data;
  }
  t.out_idx = I32(info, 8, "outIdx", Mul(t.q, t.k, "outIdx")).data;
  t.out_scores = F32(info, 9, "outScores", Mul(t.q, t.k, "outScores")).data;
  t.threads = Threads(info, 10);
  return t;
}

Napi::Value Topk(const Napi::CallbackInfo& info, bool async) {
  TopkArgs t;
  try {
    t = ParseTopk(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  return Run(info, async, [t]() {
    st::topk_ip(t.queries, t.q, t.corpus, t.n, t.d, t.k, t.excl_off, t.excl_ids, t.out_idx, t.out_scores,
                t.threads);
    return std::string();
  });
}

#ifdef SYNTHTUNE_CUDA
Napi::Value CudaSgemm(const Napi::CallbackInfo& info, bool async) {
  GemmArgs g;
  try {
    g = ParseGemm(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  return Run(info, async, [g]() {
    return st::cuda_sgemm(g.trans_b, g.batch, g.m, g.n, g.k, g.alpha, g.a, g.b, g.beta, g.c);
  });
}

Napi::Value CudaTopk(const Napi::CallbackInfo& info, bool async) {
  TopkArgs t;
  try {
    t = ParseTopk(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  return Run(info, async, [t]() {
    return st::cuda_topk_ip(t.queries, t.q, t.corpus, t.n, t.d, t.k, t.excl_off, t.excl_ids, t.out_idx,
                            t.out_scores);
  });
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("simdLevel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::String::New(info.Env(), st::cpu_simd_level());
              }));
  exports.Set("defaultThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::Number::New(info.Env(), st::cpu_default_threads());
              }));
  exports.Set("sgemmSync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Sgemm(i, false); }));
  exports.Set("sgemm", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Sgemm(i, true); }));
  exports.Set("topkSync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Topk(i, false); }));
  exports.Set("topk", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return Topk(i, true); }));
#ifdef SYNTHTUNE_CUDA
  exports.Set("cudaDeviceCount", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::Number::New(info.Env(), st::cuda_device_count());
              }));
  exports.Set("cudaDeviceName", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                int dev = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
                return Napi::String::New(info.Env(), st::cuda_device_name(dev));
              }));
  exports.Set("cudaSgemmSync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return CudaSgemm(i, false); }));
  exports.Set("cudaSgemm", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return CudaSgemm(i, true); }));
  exports.Set("cudaTopkSync", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return CudaTopk(i, false); }));
  exports.Set("cudaTopk", Napi::Function::New(env, [](const Napi::CallbackInfo& i) { return CudaTopk(i, true); }));
#endif
  RegisterBert(env, exports);
  RegisterTrain(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(synthtune, Init)
