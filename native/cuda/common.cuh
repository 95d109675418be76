// synthtune CUDA backend: shared plumbing for native/cuda/*.cu.
//
// The CUDA entry points (native/kernels.h, `#ifdef SYNTHTUNE_CUDA`) take HOST pointers and
// return "" on success or an error message. Nothing here throws or aborts: every CUDA call goes
// through ST_CUDA_TRY, which turns a failing cudaError_t into a returned std::string.
//
// Each device gets one lazily created DeviceCtx: a non-blocking stream, a few properties, and a
// small cache of device scratch buffers that only ever grow (so repeated calls with similar
// shapes do not cudaMalloc/cudaFree every time). A call holds the context's mutex for its whole
// duration, so concurrent calls from Node worker threads are serialised per device. Contexts are
// deliberately never destroyed: freeing device memory from a static destructor at process exit
// can run after the driver has shut down.
//
// Shape letters (as in kernels.h): B batch, M/N/K GEMM dims, Q queries, N corpus rows,
// D dimension, k results per query.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>

namespace st {
namespace cuda_detail {

inline std::string cuda_error_string(const char* what, cudaError_t e, const char* file, int line) {
  std::string msg = "CUDA error: ";
  msg += cudaGetErrorName(e);
  msg += " (";
  msg += cudaGetErrorString(e);
  msg += ") in ";
  msg += what;
  msg += " at ";
  const char* base = file;  // basename only: no build-machine paths in error messages
  for (const char* p = file; *p; ++p)
    if (*p == '/' || *p == '\\') base = p + 1;
  msg += base;
  msg += ":";
  msg += std::to_string(line);
  return msg;
}

}  // namespace cuda_detail
}  // namespace st

// Evaluate a CUDA runtime call; on failure return (from the enclosing function, which must return
// std::string) a message naming the call, the error and the source location.
#define ST_CUDA_TRY(expr)                                                                   \
  do {                                                                                      \
    cudaError_t st_err_ = (expr);                                                           \
    if (st_err_ != cudaSuccess)                                                             \
      return ::st::cuda_detail::cuda_error_string(#expr, st_err_, __FILE__, __LINE__);      \
  } while (0)

// Check a kernel launch (configuration errors are reported here; execution errors surface at the
// next synchronising call, which is itself checked).
#define ST_CUDA_CHECK_LAUNCH() ST_CUDA_TRY(cudaGetLastError())

// Kernel launch: ST_LAUNCH(grid, block, smem, stream, kernel)(args...). The kernel comes last so
// that template arguments with commas need no extra parentheses. Under SYNTHTUNE_CUDA_EMU (the CPU
// emulator of native/cuda/emu, which compiles these sources with a C++ compiler) the same line runs
// the kernel on the host; with nvcc it is the usual triple-chevron launch.
// (The emulator also gets the kernel's spelling, to name it in its reports.)
#ifdef SYNTHTUNE_CUDA_EMU
#define ST_LAUNCH(grid, block, smem, stream, ...) \
  ::st_emu::launch_named(#__VA_ARGS__, (grid), (block), (smem), (stream), __VA_ARGS__)
#else
#define ST_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>
#endif

// Dynamic shared memory inside a kernel: ST_DYNAMIC_SMEM(T, name); declares `T* name` pointing at
// the block's dynamic shared memory (the launch's smem bytes, 16-byte aligned). Replaces
// `extern __shared__ T name[];`, which the emulator cannot express; with nvcc it is one untyped
// extern array, so kernels using different element types do not clash.
#ifdef SYNTHTUNE_CUDA_EMU
#define ST_DYNAMIC_SMEM(T, name) T* name = reinterpret_cast<T*>(::st_emu::dynamic_smem())
#else
#define ST_DYNAMIC_SMEM(T, name)                                  \
  extern __shared__ __align__(16) unsigned char st_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(st_dynamic_smem_)
#endif

// Propagate an error string from a helper that returns std::string.
#define ST_TRY(expr)                       \
  do {                                     \
    std::string st_msg_ = (expr);          \
    if (!st_msg_.empty()) return st_msg_;  \
  } while (0)

namespace st {
namespace cuda_detail {

// A device allocation that only grows. ensure() keeps the old contents only if no growth is
// needed (callers never rely on contents surviving a call).
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
};

// Scratch slots; each operation uses its own fixed set of slots.
enum ScratchSlot {
  kSlotA = 0,      // sgemm: A chunk          topk: queries chunk (Qc, D)
  kSlotB,          // sgemm: B chunk          topk: corpus block (nb, D)
  kSlotC,          // sgemm: C chunk          topk: score tile (Qt, nb)
  kSlotState,      //                         topk: running top-k keys (Qc, k)
  kSlotPartial,    //                         topk: per-segment partial keys (Qt, S, k)
  kSlotSelect,     //                         topk: global-memory selection buffers (large k)
  kSlotExclOff,    //                         topk: exclusion offsets (Q+1)
  kSlotExclIds,    //                         topk: exclusion ids
  kSlotOutIdx,     //                         topk: decoded indices (Qc, k)
  kSlotOutScore,   //                         topk: decoded scores (Qc, k)
  kNumSlots
};

// Arithmetic of the matmuls inside the BERT layer functions (native/cuda/bert_layers.cu):
// plain fp32 SGEMM, or tensor cores with tf32 inputs and fp32 accumulation.
enum class GemmPrecision : int { kFp32 = 0, kTf32 = 1 };

struct DeviceCtx {
  std::mutex mu;  // held for the duration of one operation on this device
  // Set by the holder of mu for the operation it runs (a model sets its own before each call).
  GemmPrecision gemm_precision = GemmPrecision::kFp32;
  int device = 0;
  cudaStream_t stream = nullptr;
  int sm_count = 1;
  size_t smem_optin = 48 * 1024;  // max dynamic shared memory per block after opt-in
  DeviceBuffer slots[kNumSlots];
};

// Context of the calling thread's current CUDA device (created on first use). On failure returns
// nullptr and sets *err.
DeviceCtx* current_ctx(std::string* err);

// Make every requested slot at least `bytes` large (all at once, so that pointers fetched with
// slot_ptr afterwards are all valid). Synchronises ctx->stream first. On cudaMalloc failure it
// frees every cached buffer of the context and retries once with exact sizes before reporting
// out-of-memory.
struct ScratchRequest {
  ScratchSlot slot;
  size_t bytes;
};
std::string ensure_scratch(DeviceCtx* ctx, std::initializer_list<ScratchRequest> requests);

template <class T>
inline T* slot_ptr(DeviceCtx* ctx, ScratchSlot s) {
  return static_cast<T*>(ctx->slots[s].ptr);
}

// Device-pointer SGEMM used by cuda_sgemm and by the top-k score tiles (defined in matmul.cu).
// Same semantics as st::sgemm (K == 0 gives C = beta*C), all pointers on the device, batch items
// `stride*` floats apart. Enqueued on ctx->stream; does not synchronise.
std::string launch_sgemm(DeviceCtx* ctx, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
                         float alpha, const float* A, int64_t strideA, const float* B, int64_t strideB,
                         float beta, float* C, int64_t strideC);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// gridDim.y and gridDim.z are at most 65535 (gridDim.x up to 2^31-1). A launcher whose grid is
// (column tiles, ceil_div(M, BM) row tiles, batch items) walks the batch in chunks of up to 65535
// items and M in chunks of up to 65535 * BM rows: launch(b0, nb, mr, mm) is called for batch items
// [b0, b0 + nb) and rows [mr, mr + mm) (all int64_t), launches over that chunk (offsetting its
// pointers itself) and returns "" or an error message. Stops at, and returns, the first error.
constexpr int64_t kMaxGridYZ = 65535;
template <class Launch>
std::string for_each_grid_chunk(int64_t batch, int64_t M, int64_t BM, Launch&& launch) {
  const int64_t max_m_rows = kMaxGridYZ * BM;
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ) {
    const int64_t nb = std::min<int64_t>(kMaxGridYZ, batch - b0);
    for (int64_t mr = 0; mr < M; mr += max_m_rows) {
      const int64_t mm = std::min<int64_t>(max_m_rows, M - mr);
      ST_TRY(launch(b0, nb, mr, mm));
    }
  }
  return std::string();
}

}  // namespace cuda_detail
}  // namespace st
