// synthtune Node addon: binds the kernel interface of kernels.h to JavaScript. Nothing else.
//
// Every function re-checks its arguments (types, lengths against the dimensions, overflow) and
// throws a TypeError/RangeError instead of touching memory it was not given: the TypeScript layer
// validates first, but the addon must stay safe when called directly.
//
// Async variants run the kernel on libuv's worker pool (Napi::AsyncWorker) and return a Promise;
// they never run on memory JavaScript can free meanwhile (see "async plumbing" below).
#include <napi.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <new>
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
//
// JavaScript can free a typed array's memory while an async call runs on a worker thread: it can
// detach the ArrayBuffer (structuredClone / postMessage with a transfer list, ArrayBuffer.prototype
// .transfer) and let the new owner be collected, or shrink a resizable ArrayBuffer. A reference to
// the array does not prevent either. So an async call never runs a kernel on memory JavaScript
// can free:
//  - an array over a SharedArrayBuffer (never detached, never shrunk) is used in place;
//  - any other input is copied, before the call is queued, into memory the call owns;
//  - any other output is computed into memory the call owns and copied into the caller's array on
//    the JS thread once the kernel is done, if that array is still attached and as long as it was;
//    otherwise the promise rejects with an Error naming the array, and nothing is written.
// The copies are checked against the memory available first (RangeError giving the size needed).

enum class Dir { kIn, kOut, kInOut };

// Memory for a copy. Large copies are 2 MiB aligned and asked to use transparent huge pages on
// Linux: the first touch of a fresh 150 MB copy costs ~4x less than with 4 KiB pages.
struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Copy = std::unique_ptr<uint8_t[], FreeDeleter>;

Copy AllocCopy(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes < 2 * kHuge) return Copy(static_cast<uint8_t*>(std::malloc(bytes)));
  const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  Copy p(static_cast<uint8_t*>(std::aligned_alloc(kHuge, rounded)));
#ifdef __linux__
  if (p) madvise(p.get(), rounded, MADV_HUGEPAGE);  // a hint: failure only costs speed
#endif
  return p;
}

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* what)
      : Napi::AsyncWorker(env), what_(what), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Stages argument `v` (the typed array info[i], `bytes` long, already checked): returns the
  // memory the kernel must use for it. Call Reserve() first with the sum of the bytes to copy.
  template <typename T>
  T* Stage(const Napi::Value& v, T* data, int64_t count, const char* name, Dir dir) {
    Staged s;
    s.ref = Napi::Persistent(v.As<Napi::Object>());
    s.name = name;
    s.dir = dir;
    s.count = static_cast<size_t>(count);
    s.bytes = static_cast<size_t>(count) * sizeof(T);
    s.in_place = Shared(v);
    if (s.in_place || s.bytes == 0) {
      s.in_place = true;
      s.ptr = data;
    } else {
      s.own = AllocCopy(s.bytes);
      if (!s.own) throw ArgError{true, std::string(what_) + ": out of memory copying " + name + " (" + GiB(s.bytes) + ")"};
      // Outputs too start as the caller's values, so what the kernel leaves unwritten is unchanged.
      std::memcpy(s.own.get(), data, s.bytes);
      s.ptr = s.own.get();
    }
    void* p = s.ptr;
    staged_.push_back(std::move(s));
    return static_cast<T*>(p);
  }

  // Refuses copies that do not fit in the memory available now.
  void Reserve(uint64_t bytes) {
    const uint64_t avail = AvailableMemory();
    if (avail > 0 && bytes > avail) {
      throw ArgError{true, std::string(what_) + ": the async call copies its arguments and needs " + GiB(bytes) +
                               " but only " + GiB(avail) + " of memory is available; use the Sync variant, or" +
                               " arrays over a SharedArrayBuffer (used in place)"};
    }
  }

  // Bytes an argument would copy (0 when it is used in place).
  static uint64_t CopyBytes(const Napi::Value& v, int64_t bytes) { return Shared(v) ? 0 : static_cast<uint64_t>(bytes); }

  void SetJob(std::function<std::string()> job) { job_ = std::move(job); }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::string err = job_();
      if (!err.empty()) SetError(err);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    // All outputs first checked, then all written: a detached output leaves every output untouched.
    for (auto& s : staged_) {
      if (s.in_place || s.dir == Dir::kIn) continue;
      Napi::TypedArray arr = s.ref.Value().As<Napi::TypedArray>();
      if (arr.ArrayBuffer().IsDetached() || arr.ElementLength() != s.count) {
        deferred_.Reject(Napi::Error::New(env, std::string(what_) + ": the output " + s.name +
                                                   " was detached (its ArrayBuffer transferred) or resized while the" +
                                                   " call ran; no result was written")
                             .Value());
        return;
      }
    }
    for (auto& s : staged_) {
      if (s.in_place || s.dir == Dir::kIn) continue;
      Napi::TypedArray arr = s.ref.Value().As<Napi::TypedArray>();
      void* dst = nullptr;
      size_t len = 0;
      napi_typedarray_type type;
      napi_value ab;
      size_t off = 0;
      if (napi_get_typedarray_info(env, arr, &type, &len, &dst, &ab, &off) != napi_ok || dst == nullptr) {
        deferred_.Reject(Napi::Error::New(env, std::string(what_) + ": cannot read the output " + s.name).Value());
        return;
      }
      std::memcpy(dst, s.ptr, s.bytes);
    }
    deferred_.Resolve(env.Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  struct Staged {
    Napi::ObjectReference ref;  // keeps the caller's array alive until the call completes
    const char* name = "";
    Dir dir = Dir::kIn;
    size_t count = 0, bytes = 0;
    bool in_place = false;
    Copy own;
    void* ptr = nullptr;
  };

  // Whether a typed array is over a SharedArrayBuffer: napi_is_arraybuffer is false for those.
  static bool Shared(const Napi::Value& v) {
    Napi::TypedArray arr = v.As<Napi::TypedArray>();
    napi_typedarray_type type;
    size_t len = 0, off = 0;
    void* data = nullptr;
    napi_value ab;
    if (napi_get_typedarray_info(v.Env(), arr, &type, &len, &data, &ab, &off) != napi_ok) return false;
    bool is_ab = true;
    if (napi_is_arraybuffer(v.Env(), ab, &is_ab) != napi_ok) return false;
    return !is_ab;
  }

  const char* what_;
  std::function<std::string()> job_;
  Napi::Promise::Deferred deferred_;
  std::vector<Staged> staged_;
};

// Queues a job whose arguments are staged; on a staging error the job is deleted and the error thrown.
template <class Stager>
Napi::Value QueueStaged(Napi::Env env, const char* what, Stager&& stage) {
  auto* job = new Job(env, what);
  try {
    job->SetJob(stage(*job));
  } catch (const ArgError& e) {
    delete job;
    Throw(env, e);
  }
  Napi::Promise p = job->Promise();
  try {
    job->Queue();
  } catch (...) {
    delete job;  // never queued: nothing will complete (or delete) it
    throw;
  }
  return p;
}

// ---- sgemm(transB, batch, m, n, k, alpha, a, b, beta, c, threads) ---------------------------------
//
// c must not overlap a or b (an overlapping c would be read after it is partly written); a and b
// may overlap each other.

struct GemmArgs {
  bool trans_b;
  int64_t batch, m, n, k;
  float alpha, beta;
  View<float> a, b, c;
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
  g.a = F32(info, 6, "a", Mul(g.batch, Mul(g.m, g.k, "a"), "a"));
  g.b = F32(info, 7, "b", Mul(g.batch, Mul(g.k, g.n, "b"), "b"));
  g.beta = static_cast<float>(Num(info, 8, "beta"));
  g.c = F32(info, 9, "c", Mul(g.batch, Mul(g.m, g.n, "c"), "c"));
  g.threads = Threads(info, 10);
  NoOverlap(g.c, "c", g.a, "a");
  NoOverlap(g.c, "c", g.b, "b");
  return g;
}

// Stages a, b and c for an async call (c is read too when beta != 0) and returns the kernel's args.
GemmArgs StageGemm(const Napi::CallbackInfo& info, Job& job, GemmArgs g) {
  job.Reserve(Job::CopyBytes(info[6], g.a.len * 4) + Job::CopyBytes(info[7], g.b.len * 4) +
              Job::CopyBytes(info[9], g.c.len * 4));
  g.a.data = job.Stage(info[6], g.a.data, g.a.len, "a", Dir::kIn);
  g.b.data = job.Stage(info[7], g.b.data, g.b.len, "b", Dir::kIn);
  g.c.data = job.Stage(info[9], g.c.data, g.c.len, "c", g.beta != 0.0f ? Dir::kInOut : Dir::kOut);
  return g;
}

Napi::Value Sgemm(const Napi::CallbackInfo& info, bool async) {
  GemmArgs g;
  try {
    g = ParseGemm(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  if (!async) {
    st::sgemm(g.trans_b, g.batch, g.m, g.n, g.k, g.alpha, g.a.data, g.b.data, g.beta, g.c.data, g.threads);
    return info.Env().Undefined();
  }
  return QueueStaged(info.Env(), "sgemm", [&](Job& job) -> std::function<std::string()> {
    GemmArgs s = StageGemm(info, job, g);
    return [s]() {
      st::sgemm(s.trans_b, s.batch, s.m, s.n, s.k, s.alpha, s.a.data, s.b.data, s.beta, s.c.data, s.threads);
      return std::string();
    };
  });
}

// ---- topk(queries, corpus, q, n, d, k, exclOffsets|null, exclIds|null, outIdx, outScores, threads) --
//
// The outputs must not overlap each other or any input.

struct TopkArgs {
  View<float> queries, corpus;
  int64_t q, n, d, k;
  View<int32_t> excl_off, excl_ids;
  View<int32_t> out_idx;
  View<float> out_scores;
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
  t.queries = F32(info, 0, "queries", Mul(t.q, t.d, "queries"));
  t.corpus = F32(info, 1, "corpus", Mul(t.n, t.d, "corpus"));
  bool has_off = !info[6].IsNull() && !info[6].IsUndefined();
  bool has_ids = !info[7].IsNull() && !info[7].IsUndefined();
  if (has_off != has_ids) throw ArgError{false, "exclOffsets and exclIds must both be given or both be null"};
  if (has_off) {
    t.excl_off = I32(info, 6, "exclOffsets", t.q + 1);
    // The offsets must be non-decreasing, start at 0 and end at exclIds.length.
    t.excl_ids = I32(info, 7, "exclIds");
    const int32_t* off = t.excl_off.data;
    if (off[0] != 0) throw ArgError{true, "exclOffsets[0] must be 0"};
    for (int64_t i = 0; i < t.q; i++) {
      if (off[i + 1] < off[i]) throw ArgError{true, "exclOffsets must be non-decreasing"};
    }
    if (off[t.q] != t.excl_ids.len) throw ArgError{true, "exclOffsets[q] must equal exclIds.length"};
  }
  t.out_idx = I32(info, 8, "outIdx", Mul(t.q, t.k, "outIdx"));
  t.out_scores = F32(info, 9, "outScores", Mul(t.q, t.k, "outScores"));
  t.threads = Threads(info, 10);
  NoOverlap(t.out_idx, "outIdx", t.queries, "queries");
  NoOverlap(t.out_idx, "outIdx", t.corpus, "corpus");
  NoOverlap(t.out_idx, "outIdx", t.excl_off, "exclOffsets");
  NoOverlap(t.out_idx, "outIdx", t.excl_ids, "exclIds");
  NoOverlap(t.out_scores, "outScores", t.queries, "queries");
  NoOverlap(t.out_scores, "outScores", t.corpus, "corpus");
  NoOverlap(t.out_scores, "outScores", t.excl_off, "exclOffsets");
  NoOverlap(t.out_scores, "outScores", t.excl_ids, "exclIds");
  NoOverlap(t.out_scores, "outScores", t.out_idx, "outIdx");
  return t;
}

TopkArgs StageTopk(const Napi::CallbackInfo& info, Job& job, TopkArgs t) {
  const bool excl = t.excl_off.data != nullptr;
  job.Reserve(Job::CopyBytes(info[0], t.queries.len * 4) + Job::CopyBytes(info[1], t.corpus.len * 4) +
              (excl ? Job::CopyBytes(info[6], t.excl_off.len * 4) + Job::CopyBytes(info[7], t.excl_ids.len * 4) : 0) +
              Job::CopyBytes(info[8], t.out_idx.len * 4) + Job::CopyBytes(info[9], t.out_scores.len * 4));
  t.queries.data = job.Stage(info[0], t.queries.data, t.queries.len, "queries", Dir::kIn);
  t.corpus.data = job.Stage(info[1], t.corpus.data, t.corpus.len, "corpus", Dir::kIn);
  if (excl) {
    t.excl_off.data = job.Stage(info[6], t.excl_off.data, t.excl_off.len, "exclOffsets", Dir::kIn);
    t.excl_ids.data = job.Stage(info[7], t.excl_ids.data, t.excl_ids.len, "exclIds", Dir::kIn);
  }
  t.out_idx.data = job.Stage(info[8], t.out_idx.data, t.out_idx.len, "outIdx", Dir::kOut);
  t.out_scores.data = job.Stage(info[9], t.out_scores.data, t.out_scores.len, "outScores", Dir::kOut);
  return t;
}

void RunTopk(const TopkArgs& t) {
  st::topk_ip(t.queries.data, t.q, t.corpus.data, t.n, t.d, t.k, t.excl_off.data, t.excl_ids.data, t.out_idx.data,
              t.out_scores.data, t.threads);
}

Napi::Value Topk(const Napi::CallbackInfo& info, bool async) {
  TopkArgs t;
  try {
    t = ParseTopk(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  if (!async) {
    RunTopk(t);
    return info.Env().Undefined();
  }
  return QueueStaged(info.Env(), "topk", [&](Job& job) -> std::function<std::string()> {
    TopkArgs s = StageTopk(info, job, t);
    return [s]() {
      RunTopk(s);
      return std::string();
    };
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
  auto run = [](const GemmArgs& s) {
    return st::cuda_sgemm(s.trans_b, s.batch, s.m, s.n, s.k, s.alpha, s.a.data, s.b.data, s.beta, s.c.data);
  };
  if (!async) {
    std::string err = run(g);
    if (!err.empty()) throw Napi::Error::New(info.Env(), err);
    return info.Env().Undefined();
  }
  return QueueStaged(info.Env(), "cudaSgemm", [&](Job& job) -> std::function<std::string()> {
    GemmArgs s = StageGemm(info, job, g);
    return [s, run]() { return run(s); };
  });
}

Napi::Value CudaTopk(const Napi::CallbackInfo& info, bool async) {
  TopkArgs t;
  try {
    t = ParseTopk(info);
  } catch (const ArgError& e) {
    Throw(info.Env(), e);
  }
  auto run = [](const TopkArgs& s) {
    return st::cuda_topk_ip(s.queries.data, s.q, s.corpus.data, s.n, s.d, s.k, s.excl_off.data, s.excl_ids.data,
                            s.out_idx.data, s.out_scores.data);
  };
  if (!async) {
    std::string err = run(t);
    if (!err.empty()) throw Napi::Error::New(info.Env(), err);
    return info.Env().Undefined();
  }
  return QueueStaged(info.Env(), "cudaTopk", [&](Job& job) -> std::function<std::string()> {
    TopkArgs s = StageTopk(info, job, t);
    return [s, run]() { return run(s); };
  });
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("simdLevel", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::String::New(info.Env(), st::cpu_simd_level());
              }));
  exports.Set("topkScreen", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::Boolean::New(info.Env(), st::cpu_topk_bf16_screen());
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
