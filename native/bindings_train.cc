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

#include "bind_args.h"
#include "kernels.h"

namespace {

using namespace st::bind;

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
