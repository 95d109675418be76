// Argument checks shared by the binding files (addon.cc, bindings_train.cc, bindings_bert.cc).
//
// Every binding re-checks what JavaScript passes (types, integer dimensions, lengths against the
// dimensions, size overflow, overlapping buffers) and throws a TypeError or RangeError naming the
// argument, so a direct call with bad arguments never reaches a kernel. Bindings throw ArgError
// while parsing and turn it into the JS error with Throw().
#pragma once
#include <napi.h>
#include <uv.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

namespace st {
namespace bind {

struct ArgError {
  bool range;  // RangeError when true, TypeError otherwise
  std::string msg;
};

[[noreturn]] inline void Throw(Napi::Env env, const ArgError& e) {
  if (e.range) throw Napi::RangeError::New(env, e.msg);
  throw Napi::TypeError::New(env, e.msg);
}

inline void NeedArgs(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() < n) throw ArgError{false, std::string("expected ") + usage};
}

inline double NumberArg(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throw ArgError{false, name + " must be a number"};
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw ArgError{false, name + " must be finite"};
  return d;
}

inline double Num(const Napi::CallbackInfo& info, size_t i, const char* name) { return NumberArg(info[i], name); }

// A positive integer dimension below 2^31.
inline int64_t Dim(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double v = Num(info, i, name);
  if (v != std::floor(v)) throw ArgError{false, std::string(name) + " must be an integer"};
  if (v <= 0) throw ArgError{true, std::string(name) + " must be > 0"};
  if (v > 2147483647.0) throw ArgError{true, std::string(name) + " must be < 2^31"};
  return static_cast<int64_t>(v);
}

// Optional thread count: absent → 0 (the pool's default).
inline int Threads(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsUndefined()) return 0;
  double v = Num(info, i, "threads");
  if (v < 0 || v > 1024 || v != std::floor(v)) throw ArgError{true, "threads must be an integer in [0, 1024]"};
  return static_cast<int>(v);
}

// Size product with overflow check (factors already positive).
inline int64_t Mul(int64_t a, int64_t b, const char* what) {
  if (a > std::numeric_limits<int64_t>::max() / b) throw ArgError{true, std::string(what) + " is too large"};
  return a * b;
}

// A typed array argument: its data, element count and byte range (for overlap checks).
template <typename T>
struct View {
  T* data = nullptr;
  int64_t len = 0;
  const uint8_t* lo() const { return reinterpret_cast<const uint8_t*>(data); }
  const uint8_t* hi() const { return lo() + len * static_cast<int64_t>(sizeof(T)); }
};

// need < 0: any length.
template <typename T, napi_typedarray_type kType>
View<T> Typed(const Napi::CallbackInfo& info, size_t i, const char* name, const char* tname, int64_t need) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw ArgError{false, std::string(name) + " must be a " + tname};
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  View<T> out;
  out.data = arr.Data();
  out.len = static_cast<int64_t>(arr.ElementLength());
  if (need >= 0 && out.len != need) {
    throw ArgError{true, std::string(name) + " has length " + std::to_string(out.len) + ", expected " +
                             std::to_string(need)};
  }
  return out;
}

inline View<float> F32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need = -1) {
  return Typed<float, napi_float32_array>(info, i, name, "Float32Array", need);
}
inline View<int32_t> I32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need = -1) {
  return Typed<int32_t, napi_int32_array>(info, i, name, "Int32Array", need);
}

template <typename A, typename B>
void NoOverlap(const View<A>& a, const char* an, const View<B>& b, const char* bn) {
  if (a.len == 0 || b.len == 0) return;
  if (a.lo() < b.hi() && b.lo() < a.hi()) throw ArgError{true, std::string(an) + " must not share memory with " + bn};
}

// Bytes of memory this process can still get (0 when unknown): libuv's free memory (MemAvailable
// on Linux), or less under a cgroup limit (the limit less the resident set).
inline uint64_t AvailableMemory() {
  uint64_t avail = uv_get_free_memory();
  const uint64_t limit = uv_get_constrained_memory();
  if (limit > 0 && limit < uv_get_total_memory()) {
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) == 0) avail = std::min<uint64_t>(avail, rss < limit ? limit - rss : 0);
  }
  return avail;
}

// Bytes of memory of the machine, or the cgroup limit when lower.
inline uint64_t TotalMemory() {
  const uint64_t total = uv_get_total_memory();
  const uint64_t limit = uv_get_constrained_memory();
  return limit > 0 && limit < total ? limit : total;
}

inline std::string GiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// A RangeError (as ArgError) when `bytes` for `what` do not fit in the memory available now.
inline void CheckAvailable(const std::string& what, double bytes) {
  const uint64_t avail = AvailableMemory();
  if (avail > 0 && bytes > static_cast<double>(avail)) {
    throw ArgError{true, what + " needs " + GiB(static_cast<uint64_t>(bytes)) + " but only " + GiB(avail) +
                             " of memory is available"};
  }
}

}  // namespace bind
}  // namespace st
