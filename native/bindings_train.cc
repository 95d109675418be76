// synthtune Node addon: the training kernels of kernels.h (native/cpu/embedding.cc) as
// synchronous functions (they are short calls inside a training step).
//
//   embeddingBagForward(E, V, D, ids, offsets, B, out, threads?)
//   embeddingBagBackward(dOut, ids, offsets, B, D, gradE, V, threads?)
//   adamRows(x, g, m, v, width, rows|null, lr, b1, b2, eps, c1, c2, l2, decoupled, threads?)
//
// E, out, dOut, gradE, x, g, m, v: Float32Array; ids, offsets, rows: Int32Array. Every argument
// is re-checked here (types, lengths against the dimensions, overlapping buffers) and the kernels
// re-check offsets, ids and rows, so a direct call with bad arguments throws a TypeError /
// RangeError (or an Error with the kernel's message) and never reads or writes out of bounds.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels.h"

namespace {

struct ArgError {
  bool range;  // RangeError when true, TypeError otherwise
  std::string msg;
};

[[noreturn]] void Throw(Napi::Env env, const ArgError& e) {
  if (e.range) throw Napi::RangeError::New(env, e.msg);
  throw Napi::TypeError::New(env, e.msg);
}

void NeedArgs(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() < n) throw ArgError{false, std::string("expected ") + usage};
}

double Num(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw ArgError{false, std::string(name) + " must be a number"};
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v)) throw ArgError{false, std::string(name) + " must be finite"};
  return v;
}

int64_t Dim(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double v = Num(info, i, name);
  if (v != std::floor(v)) throw ArgError{false, std::string(name) + " must be an integer"};
  if (v <= 0) throw ArgError{true, std::string(name) + " must be > 0"};
  if (v > 2147483647.0) throw ArgError{true, std::string(name) + " must be < 2^31"};
  return static_cast<int64_t>(v);
}

int Threads(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsUndefined()) return 0;
  double v = Num(info, i, "threads");
  if (v < 0 || v > 1024 || v != std::floor(v)) throw ArgError{true, "threads must be an integer in [0, 1024]"};
  return static_cast<int>(v);
}

int64_t Mul(int64_t a, int64_t b, const char* what) {
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

View<float> F32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need = -1) {
  return Typed<float, napi_float32_array>(info, i, name, "Float32Array", need);
}
View<int32_t> I32(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t need = -1) {
  return Typed<int32_t, napi_int32_array>(info, i, name, "Int32Array", need);
}

template <typename A, typename B>
void NoOverlap(const View<A>& a, const char* an, const View<B>& b, const char* bn) {
  if (a.len == 0 || b.len == 0) return;
  if (a.lo() < b.hi() && b.lo() < a.hi()) {
    throw ArgError{true, std::string(an) + " must not share memory with " + bn};
  }
}

void Check(Napi::Env env, const std::string& err) {
  if (!err.empty()) throw Napi::RangeError::New(env, err);
}

// ---- embeddingBagForward(E, V, D, ids, offsets, B, out, threads?) -----------------------------
Napi::Value EmbeddingBagForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> E, out;
  View<int32_t> ids, offsets;
  int64_t V = 0, D = 0, B = 0;
  int threads = 0;
  try {
    NeedArgs(info, 7, "embeddingBagForward(E, V, D, ids, offsets, B, out, threads?)");
    V = Dim(info, 1, "V");
    D = Dim(info, 2, "D");
    B = Dim(info, 5, "B");
    E = F32(info, 0, "E", Mul(V, D, "E"));
    ids = I32(info, 3, "ids");
    offsets = I32(info, 4, "offsets", B + 1);
    out = F32(info, 6, "out", Mul(B, D, "out"));
    threads = Threads(info, 7);
    NoOverlap(out, "out", E, "E");
    NoOverlap(out, "out", ids, "ids");
    NoOverlap(out, "out", offsets, "offsets");
  } catch (const ArgError& e) {
    Throw(env, e);
  }
  Check(env, st::embedding_bag_forward(E.data, V, D, ids.data, ids.len, offsets.data, B, out.data, threads));
  return env.Undefined();
}

// ---- embeddingBagBackward(dOut, ids, offsets, B, D, gradE, V, threads?) -----------------------
Napi::Value EmbeddingBagBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> dOut, gradE;
  View<int32_t> ids, offsets;
  int64_t V = 0, D = 0, B = 0;
  int threads = 0;
  try {
    NeedArgs(info, 7, "embeddingBagBackward(dOut, ids, offsets, B, D, gradE, V, threads?)");
    B = Dim(info, 3, "B");
    D = Dim(info, 4, "D");
    V = Dim(info, 6, "V");
    dOut = F32(info, 0, "dOut", Mul(B, D, "dOut"));
    ids = I32(info, 1, "ids");
    offsets = I32(info, 2, "offsets", B + 1);
    gradE = F32(info, 5, "gradE", Mul(V, D, "gradE"));
    threads = Threads(info, 7);
    NoOverlap(gradE, "gradE", dOut, "dOut");
    NoOverlap(gradE, "gradE", ids, "ids");
    NoOverlap(gradE, "gradE", offsets, "offsets");
  } catch (const ArgError& e) {
    Throw(env, e);
  }
  Check(env, st::embedding_bag_backward(dOut.data, ids.data, ids.len, offsets.data, B, D, gradE.data, V, threads));
  return env.Undefined();
}

// ---- adamRows(x, g, m, v, width, rows|null, lr, b1, b2, eps, c1, c2, l2, decoupled, threads?) --
Napi::Value AdamRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> x, g, m, v;
  View<int32_t> rows;
  bool has_rows = false;
  int64_t width = 0;
  double k[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int threads = 0;
  try {
    NeedArgs(info, 14, "adamRows(x, g, m, v, width, rows|null, lr, b1, b2, eps, c1, c2, l2, decoupled, threads?)");
    x = F32(info, 0, "x");
    if (x.len == 0) throw ArgError{true, "x is empty"};
    g = F32(info, 1, "g", x.len);
    m = F32(info, 2, "m", x.len);
    v = F32(info, 3, "v", x.len);
    width = Dim(info, 4, "width");
    if (x.len % width != 0) {
      throw ArgError{true, "width " + std::to_string(width) + " does not divide x.length " + std::to_string(x.len)};
    }
    has_rows = !info[5].IsNull() && !info[5].IsUndefined();
    if (has_rows) rows = I32(info, 5, "rows");
    const char* names[8] = {"lr", "b1", "b2", "eps", "c1", "c2", "l2", "decoupled"};
    for (int i = 0; i < 8; i++) k[i] = Num(info, 6 + i, names[i]);
    threads = Threads(info, 14);
    NoOverlap(x, "x", g, "g");
    NoOverlap(x, "x", m, "m");
    NoOverlap(x, "x", v, "v");
    NoOverlap(g, "g", m, "m");
    NoOverlap(g, "g", v, "v");
    NoOverlap(m, "m", v, "v");
    if (has_rows) {
      NoOverlap(rows, "rows", x, "x");
      NoOverlap(rows, "rows", m, "m");
      NoOverlap(rows, "rows", v, "v");
    }
  } catch (const ArgError& e) {
    Throw(env, e);
  }
  // An empty list updates nothing (and its data pointer may be null, which means "all rows").
  if (has_rows && rows.len == 0) return env.Undefined();
  Check(env, st::adam_rows(x.data, g.data, m.data, v.data, x.len, width, has_rows ? rows.data : nullptr,
                           has_rows ? rows.len : 0, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], threads));
  return env.Undefined();
}

}  // namespace

void RegisterTrain(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingBagForward", Napi::Function::New(env, EmbeddingBagForward));
  exports.Set("embeddingBagBackward", Napi::Function::New(env, EmbeddingBagBackward));
  exports.Set("adamRows", Napi::Function::New(env, AdamRows));
}
