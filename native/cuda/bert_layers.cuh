// synthtune CUDA backend: BERT layer functions on the device, mirroring native/cpu/bert.h.
//
// Same functions, same argument order, same shapes and the same accumulate/overwrite conventions
// as the CPU layer functions in st::bert (see native/cpu/bert.h for the shape letters), with
// these differences:
//   * every pointer (tensors, ids, masks, scratch, Adam tiles) is a DEVICE pointer;
//   * the trailing `int threads` of the CPU function is replaced by `DeviceCtx* ctx`, and work is
//     enqueued on ctx->stream (nothing here synchronises, allocates or takes ctx->mu: the caller
//     holds the context's mutex for the whole model operation and owns all buffers);
//   * where the device needs working memory that the CPU does not, an explicit scratch pointer is
//     added just before ctx, sized by the matching *_scratch() function (scratch contents are not
//     preserved across calls);
//   * embeddings_backward also takes TV (rows of dtype) and int scratch.
// Every function returns "" on success or an error message (launch/configuration errors; device
// execution errors surface at the caller's next synchronising call).
//
// Determinism: no floating-point atomics. Every reduction has a fixed order, so results are
// bit-for-bit reproducible on one device for one build. The embedding gradients are even
// bit-identical to the CPU's (same serial order of additions per element).
//
// Numerics: fp32 everywhere (fp32 statistics in LayerNorm and softmax; matmuls through the fp32
// SGEMM of matmul.cu). There is no tensor-core (tf32/bf16) path yet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common.cuh"
#include "../cpu/bert.h"  // bert::PoolModes

namespace st {
namespace cuda_bert {

using cuda_detail::DeviceCtx;

// ---- embeddings ---------------------------------------------------------------------------------
// out (N,C) = word[ids] + pos[positions] + type[types]   (type may be nullptr; types nullptr: all 0;
// positions (N) nullptr: t)
std::string embeddings_forward(float* out, const int32_t* ids, const int32_t* types, const float* word,
                               const float* pos, const float* type, int64_t B, int64_t T, int64_t C,
                               DeviceCtx* ctx, const int32_t* positions = nullptr);
// int32 scratch of embeddings_backward.
int64_t embeddings_backward_scratch(int64_t B, int64_t T);
// dword (V,C), dpos (P,C), dtype (TV,C) += scatter of dout (N,C). Deterministic, no atomics: each
// distinct id is summed by one block, in ascending token order (bit-identical to the CPU).
// dtype may be nullptr (then TV and types are ignored). positions as in embeddings_forward (the
// position rows are then summed like the word rows, in ascending token order).
std::string embeddings_backward(float* dword, float* dpos, float* dtype, const float* dout,
                                const int32_t* ids, const int32_t* types, int64_t B, int64_t T, int64_t C,
                                int64_t TV, int32_t* scratch, DeviceCtx* ctx, const int32_t* positions = nullptr);

// ---- LayerNorm (one warp per row, fp32 two-pass statistics) ------------------------------------
// out (N,C) = (inp - mean) * rstd * w + b; mean, rstd (N) saved. out may alias inp.
std::string layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                              const float* b, int64_t N, int64_t C, float eps, DeviceCtx* ctx);
// float scratch of layernorm_backward.
int64_t layernorm_backward_scratch(int64_t N, int64_t C);
// dinp (N,C) (overwritten; may alias dout); dw, db (C) += (deterministic two-stage column sums).
std::string layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                               const float* mean, const float* rstd, const float* w, int64_t N, int64_t C,
                               float* scratch, DeviceCtx* ctx);

// ---- linear layers (fp32 SGEMM of matmul.cu, device pointers) -----------------------------------
// out (N,OC) = inp (N,IC) · w (OC,IC)ᵀ + b (OC) [+ residual (N,OC)]   (b, residual may be nullptr)
std::string matmul_forward(float* out, const float* inp, const float* w, const float* b,
                           const float* residual, int64_t N, int64_t IC, int64_t OC, DeviceCtx* ctx);
// dinp (N,IC) = dout·w (accumulate: +=; dinp may be nullptr), dw (OC,IC) += doutᵀ·inp,
// db (OC) += Σ_n dout (db may be nullptr). scratch: matmul_backward_scratch(N, OC) = OC*N floats.
int64_t matmul_backward_scratch(int64_t N, int64_t OC);
std::string matmul_backward(float* dinp, bool accumulate, float* dw, float* db, const float* dout,
                            const float* inp, const float* w, int64_t N, int64_t IC, int64_t OC,
                            float* scratch, DeviceCtx* ctx);

// ---- masked softmax over (B,NH,T,T) rows, fused with the score scale ---------------------------
// probs = softmax(scale · scores) per row, keys with mask[b,j] == 0 get probability 0; a sequence
// with no valid key attends uniformly (1/T). mask may be nullptr. probs may alias scores.
// bias (NH,T,T) (nullptr: none) is added to scale · scores of every sequence.
std::string softmax_forward(float* probs, const float* scores, const int32_t* mask, float scale, int64_t B,
                            int64_t NH, int64_t T, DeviceCtx* ctx, const float* bias = nullptr);
// dscores = scale · P ⊙ (dprobs − Σ_j P⊙dprobs) per row. dscores may alias dprobs.
std::string softmax_backward(float* dscores, const float* dprobs, const float* probs, float scale, int64_t B,
                             int64_t NH, int64_t T, DeviceCtx* ctx);

// ---- multi-head self-attention as batched GEMMs ------------------------------------------------
// qkv (N,3C) → qkvp (3,B,NH,T,hs), probs (B,NH,T,T), out (N,C). Semantics as the CPU function.
// scratch: attention_forward_scratch floats (the per-head context, (B,NH,T,hs)).
int64_t attention_forward_scratch(int64_t B, int64_t T, int64_t C);
// bias (NH,T,T) or nullptr, as the CPU function's.
std::string attention_forward(float* out, float* qkvp, float* probs, const float* qkv, const int32_t* mask,
                              int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, DeviceCtx* ctx,
                              const float* bias = nullptr);
// dqkv (N,3C) (overwritten) from dout (N,C). scratch: attention_backward_scratch floats
// (= B*NH * the CPU's per-worker attention_backward_scratch(T, hs)).
int64_t attention_backward_scratch(int64_t B, int64_t T, int64_t C, int64_t NH);
// dbias (NH,T,T) (nullptr: skip) += the bias gradient summed over the batch (deterministic).
std::string attention_backward(float* dqkv, const float* dout, const float* qkvp, const float* probs,
                               int64_t B, int64_t T, int64_t C, int64_t NH, float* scratch, DeviceCtx* ctx,
                               float* dbias = nullptr);

// ---- MPNet relative attention bias (as bert::relbias_forward / relbias_backward) ----------------
// bias (NH,T,T) = table (NB,NH)[buckets (2T-1)[j - i + T - 1]][h]; buckets is a device array.
std::string relbias_forward(float* bias, const float* table, const int32_t* buckets, int64_t T, int64_t NH,
                            DeviceCtx* ctx);
// dtable (NB,NH) += per-bucket sums of dbias (NH,T,T) (one block per entry, fixed order).
std::string relbias_backward(float* dtable, const float* dbias, const int32_t* buckets, int64_t T, int64_t NH,
                             int64_t NB, DeviceCtx* ctx);

// ---- GELU (exact, erf) --------------------------------------------------------------------------
// out (n) = x·Φ(x). out may alias inp.
std::string gelu_forward(float* out, const float* inp, int64_t n, DeviceCtx* ctx);
// dinout (n): dout → dout · gelu'(inp)   (in place)
std::string gelu_backward(float* dinout, const float* inp, int64_t n, DeviceCtx* ctx);
// Fused bias + GELU: h (N,F) += bias (F) in place (h is what the CPU keeps as the pre-GELU
// activation), out (N,F) = gelu(h). Use with matmul_forward(b = nullptr).
std::string bias_gelu_forward(float* h, float* out, const float* bias, int64_t N, int64_t F, DeviceCtx* ctx);
// dh (N,F) = dout ⊙ gelu'(h) (dh may alias dout); dbias (F) += Σ_n dh (deterministic; nullptr: skip).
// Use with matmul_backward(db = nullptr). scratch: bias_gelu_backward_scratch floats.
int64_t bias_gelu_backward_scratch(int64_t N, int64_t F);
std::string bias_gelu_backward(float* dh, float* dbias, const float* dout, const float* h, int64_t N, int64_t F,
                               float* scratch, DeviceCtx* ctx);

// ---- residual adds --------------------------------------------------------------------------------
// out (n) = a + b (out may alias a or b).
std::string residual_forward(float* out, const float* a, const float* b, int64_t n, DeviceCtx* ctx);
// Residual backward: dst (n) += src (the gradient flowing into both branches).
std::string accumulate(float* dst, const float* src, int64_t n, DeviceCtx* ctx);

// ---- pooling and L2 normalisation --------------------------------------------------------------
// As the CPU: out, pooled (B,D), norm (B) from x (N,C), D = pooling.n·C (the modes side by side),
// norm = max(|pooled|, 1e-12), out = normalize ? pooled / norm : pooled.
std::string pool_forward(float* out, float* pooled, float* norm, const float* x, const int32_t* mask, int64_t B,
                         int64_t T, int64_t C, const bert::PoolModes& pooling, bool normalize, DeviceCtx* ctx);
// dx (N,C) (overwritten: the modes' gradients summed) from dout (B,D); x: the forward's input.
std::string pool_backward(float* dx, const float* dout, const float* out, const float* norm, const float* x,
                          const int32_t* mask, int64_t B, int64_t T, int64_t C, const bert::PoolModes& pooling,
                          bool normalize, DeviceCtx* ctx);
// out (B,C) = inp / norm, norm (B) = max(|inp|, 1e-12) per row. out may alias inp.
std::string l2norm_forward(float* out, float* norm, const float* inp, int64_t B, int64_t C, DeviceCtx* ctx);
// dinp (B,C) = (dout − out·(out·dout)) / norm (overwritten; may alias dout).
std::string l2norm_backward(float* dinp, const float* dout, const float* out, const float* norm, int64_t B,
                            int64_t C, DeviceCtx* ctx);

// ---- Adam / AdamW over the flat buffers --------------------------------------------------------
// A contiguous range [start, end) of the flat buffers with or without weight decay.
struct AdamTile {
  int64_t start;
  int64_t end;
  int32_t decay;  // 1: weight decay applies (bert::TensorInfo::decay)
  int32_t pad_;
};
// Host helper: split (start, end, decay) ranges (e.g. one per layout-table tensor) into tiles of at
// most `tile` floats, so that one block per tile balances the step over the GPU. Upload the result
// once (it depends only on the layout) and pass it to adam_step.
std::vector<AdamTile> adam_tiles(const std::vector<AdamTile>& ranges, int64_t tile = int64_t(1) << 16);
// Same arithmetic as bert::Model::adam_step (Adam with L2 term, or decoupled AdamW; bias correction
// with step t >= 1; tiles with decay == 0 get no weight decay). tiles: device array of n_tiles.
std::string adam_step(float* params, const float* grads, float* m, float* v, const AdamTile* tiles,
                      int64_t n_tiles, float lr, float beta1, float beta2, float eps, float weight_decay,
                      int64_t t, bool decoupled, DeviceCtx* ctx);

}  // namespace cuda_bert
}  // namespace st
