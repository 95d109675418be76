// synthtune CUDA backend: the device-resident BERT model, twin of st::bert::Model
// (native/cpu/bert.h, bert_model.cc). Bound to JavaScript by native/bindings_bert.cc
// (`new BertModel({..., device: 'cuda'})`, CUDA builds only).
//
// Same Config, the SAME layout table (bert::make_layout) and so the same flat-buffer offsets as the
// CPU model; parameters, gradients and the two Adam moments are four flat DEVICE buffers
// (cudaMalloc'ed once, freed by the destructor). Activations of a forward live on the device in one
// buffer per slot (bert::Slot's pieces as bert::carve_acts lays them out, each 128-byte aligned,
// + the slot's uploaded ids / mask / types / position ids / relative buckets, the last two computed
// on the host by bert::position_ids and bert::relative_buckets), grown on demand; backward scratch is shared and grown
// on demand. forward/backward/adam_step run the layer functions of bert_layers.cuh in exactly
// bert::Model's order, on the device context's stream, while holding the context's mutex, with
// ctx->gemm_precision set from this model's own precision (fp32, or tf32 tensor cores where
// matmul.cu implements them).
//
// Host interface: every pointer argument of a public method is a HOST pointer (ids, outputs,
// buffers to copy); a method copies what it needs to / from the device and synchronises the stream
// before it returns, so results are on the host and device errors are reported by the call that
// caused them. Every method returns "" or an error message; nothing throws, except std::bad_alloc
// for host staging memory (bindings_bert.cc catches it).
//
// This header deliberately includes no CUDA header (bindings_bert.cc, a plain C++ file, includes
// it); the CUDA types are only forward-declared.
//
// Not thread-safe per model (one call at a time; the binding enforces it). Different models, and
// the other CUDA entry points, share the device context and are serialised by its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/bert.h"

namespace st {
namespace cuda_detail {
struct DeviceCtx;
}
namespace cuda_bert {

struct AdamTile;  // bert_layers.cuh

// Arithmetic of the model's matmuls (copied into DeviceCtx::gemm_precision for each operation).
enum class Precision : int { kFp32 = 0, kTf32 = 1 };

// The four flat buffers (each num_params() floats, carved by the layout table).
enum class Buffer : int { kParams = 0, kGrads = 1, kAdamM = 2, kAdamV = 3 };

// Host-side metadata of an activation slot (as bert::Slot's B, T, valid, generation).
struct SlotInfo {
  int64_t B = 0, T = 0;
  bool valid = false;       // a forward ran and its activations are intact
  uint64_t generation = 0;  // bumped by every forward into this slot
};

class Model {
 public:
  static constexpr int kMaxSlots = bert::Model::kMaxSlots;

  // Builds a model on the calling thread's current CUDA device: checks the config, allocates and
  // initialises the flat buffers like bert::Model (all zero, LayerNorm weights 1), uploads the
  // Adam tiles. "" and *out set, or an error message (bad config, no device, out of memory, tf32
  // asked of a device without TF32 tensor cores).
  static std::string create(const bert::Config& c, Precision precision, std::unique_ptr<Model>* out);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const bert::Config& config() const { return cfg_; }
  const std::vector<bert::TensorInfo>& layout() const { return layout_; }
  int64_t num_params() const { return n_params_; }
  // Floats of one slot's device activations for (B,T): bert::carve_acts's pieces, each padded to
  // 128 bytes (so slightly more than bert::Model::activation_floats).
  int64_t activation_floats(int64_t B, int64_t T) const;
  int device() const { return device_; }
  Precision precision() const { return precision_; }
  // TF32 tensor cores (compute capability 8.0+); without them only kFp32 is accepted.
  bool tf32_supported() const { return tf32_supported_; }
  // Used by the next operation. "" or an error (kTf32 on a device without TF32; precision unchanged).
  std::string set_precision(Precision p);
  // slot in [0, kMaxSlots); an out-of-range slot gives an all-zero SlotInfo.
  SlotInfo slot_info(int slot) const;

  // ids, mask (0/1), types: host (B,T) int32; mask nullptr = all ones, types nullptr = all zeros.
  // They are re-checked here (ids < V, types < max(TV,1), mask 0/1, T <= P) since the device would
  // otherwise read out of bounds. out: host (B,D), D = bert::out_dim(config()) (nullptr: not copied back).
  std::string forward(int slot, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B,
                      int64_t T, float* out);
  // dout: host (B,D) = ∂loss/∂out of the last forward into `slot`; ACCUMULATES into the gradients.
  std::string backward(int slot, const float* dout);
  std::string zero_grad();
  // As bert::Model::adam_step (same arithmetic, cuda_bert::adam_step over the layout's tiles).
  std::string adam_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                        bool decoupled);
  // Clears the Adam moments.
  std::string reset_optimizer();
  // Copies floats [offset, offset + n) of a flat buffer to / from host memory (range-checked).
  std::string download(Buffer which, int64_t offset, int64_t n, float* dst);
  std::string upload(Buffer which, int64_t offset, int64_t n, const float* src);

 private:
  struct DevSlot;
  struct Scratch;
  Model() = default;
  std::string init(const bert::Config& c, Precision precision);
  std::string init_device();  // init's device part (inside op())
  int64_t carve_slot(DevSlot& s, float* base, int64_t B, int64_t T) const;
  std::string ensure_slot(DevSlot& s, int64_t B, int64_t T);
  std::string ensure_scratch(int64_t B, int64_t T, Scratch* sc);
  std::string forward_impl(DevSlot& s, const int32_t* ids, const int32_t* mask, const int32_t* types, int64_t B,
                           int64_t T, float* out);
  std::string backward_impl(DevSlot& s, const float* dout);
  std::string begin();  // selects the device, sets the context's GEMM precision (mu held by the caller)
  // Every public operation ends here (mu held): on error, waits for the stream (so that no copy
  // still reads or writes a host buffer of the call) and clears the thread's last CUDA error (so
  // that a later launch check does not report it again). Returns err.
  std::string finish(std::string err);
  // One public operation's device part: with ctx->mu held, begin(), body() (enqueues work on the
  // stream; "" or an error), then waits for the stream; the result goes through finish().
  // Defined (and used) in bert_model.cu only.
  template <class F>
  std::string op(F&& body);
  float* buffer(Buffer which) const;

  bert::Config cfg_;
  std::vector<bert::TensorInfo> layout_;
  int64_t n_params_ = 0;
  Precision precision_ = Precision::kTf32;
  bool tf32_supported_ = false;
  cuda_detail::DeviceCtx* ctx_ = nullptr;
  int device_ = 0;
  // Device memory.
  float *params_ = nullptr, *grads_ = nullptr, *m_ = nullptr, *v_ = nullptr;
  bert::ModelPtrs P_, G_;  // carved from params_ / grads_ (device pointers)
  AdamTile* tiles_ = nullptr;
  int64_t n_tiles_ = 0;
  std::unique_ptr<DevSlot[]> slots_;
  // Shared scratch, grown on demand (contents never survive a call).
  float* sc_ = nullptr;
  int64_t sc_cap_ = 0;  // floats
  int32_t* isc_ = nullptr;
  int64_t isc_cap_ = 0;  // int32s
  // Host staging of a forward's ids | mask | types (a member: an async host-to-device copy may read
  // it until the stream is synchronised, which every operation does before it returns).
  std::vector<int32_t> host_ids_;
};

}  // namespace cuda_bert
}  // namespace st
