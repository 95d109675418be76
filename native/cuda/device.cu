// synthtune CUDA backend: device discovery and the per-device context (stream + scratch cache).
//
// cuda_device_count() must be safe to call on any machine: the addon links cudart statically, so
// on a machine without the NVIDIA driver (or without a GPU) cudaGetDeviceCount fails with
// cudaErrorInsufficientDriver / cudaErrorNoDevice. That is reported as 0 devices, never as a crash.
#include <initializer_list>
#include <memory>
#include <vector>

#include "../kernels.h"
#include "common.cuh"

namespace st {

int cuda_device_count() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
    return 0;
  }
  return n < 0 ? 0 : n;
}

// Returns the device's name, or "" when the device does not exist or cannot be queried.
std::string cuda_device_name(int device) {
  int n = cuda_device_count();
  if (device < 0 || device >= n) return std::string();
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string();
  }
  return std::string(prop.name);
}

namespace cuda_detail {

namespace {
std::mutex g_ctx_mu;
// Indexed by device ordinal. Never freed (see common.cuh).
std::vector<DeviceCtx*>& ctx_table() {
  static std::vector<DeviceCtx*>* table = new std::vector<DeviceCtx*>();
  return *table;
}

std::string init_ctx(DeviceCtx* ctx, int device) {
  ctx->device = device;
  int sms = 0;
  ST_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  ctx->sm_count = sms > 0 ? sms : 1;
  int optin = 0;
  ST_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  ctx->smem_optin = optin > 0 ? static_cast<size_t>(optin) : 48 * 1024;
  ST_CUDA_TRY(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
  return std::string();
}
}  // namespace

DeviceCtx* current_ctx(std::string* err) {
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) {
    *err = cuda_error_string("cudaGetDevice(&device)", e, __FILE__, __LINE__);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) *err += " (no usable CUDA device)";
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(g_ctx_mu);
  auto& table = ctx_table();
  if (static_cast<size_t>(device) >= table.size()) table.resize(static_cast<size_t>(device) + 1, nullptr);
  if (table[device] == nullptr) {
    std::unique_ptr<DeviceCtx> ctx(new DeviceCtx());
    std::string msg = init_ctx(ctx.get(), device);
    if (!msg.empty()) {
      if (ctx->stream) cudaStreamDestroy(ctx->stream);
      *err = msg;
      return nullptr;
    }
    table[device] = ctx.release();
  }
  return table[device];
}

namespace {
std::string free_slot(DeviceBuffer& buf) {
  if (buf.ptr) ST_CUDA_TRY(cudaFree(buf.ptr));
  buf.ptr = nullptr;
  buf.bytes = 0;
  return std::string();
}
}  // namespace

std::string ensure_scratch(DeviceCtx* ctx, std::initializer_list<ScratchRequest> requests) {
  // Previous work on the stream may still use buffers we are about to free.
  ST_CUDA_TRY(cudaStreamSynchronize(ctx->stream));
  // Round up to 2 MiB so slowly growing shapes do not reallocate on every call. (Not under the CPU
  // emulator: exact sizes there let AddressSanitizer see the true end of every scratch buffer.)
#ifdef SYNTHTUNE_CUDA_EMU
  const size_t granule = 1;
#else
  const size_t granule = size_t(2) << 20;
#endif
  bool failed = false;
  for (const ScratchRequest& r : requests) {
    DeviceBuffer& buf = ctx->slots[r.slot];
    size_t bytes = r.bytes == 0 ? 1 : r.bytes;  // keep pointers valid even for empty problems
    if (buf.bytes >= bytes) continue;
    ST_TRY(free_slot(buf));
    size_t want = (bytes + granule - 1) / granule * granule;
    cudaError_t e = cudaMalloc(&buf.ptr, want);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      buf.ptr = nullptr;
      failed = true;
      break;
    }
    if (e != cudaSuccess) return cuda_error_string("cudaMalloc(scratch)", e, __FILE__, __LINE__);
    buf.bytes = want;
  }
  if (!failed) return std::string();

  // Out of memory: drop the whole cache (other slots may hold large idle buffers) and allocate
  // exactly what this operation needs.
  for (DeviceBuffer& buf : ctx->slots) ST_TRY(free_slot(buf));
  size_t total = 0;
  for (const ScratchRequest& r : requests) {
    DeviceBuffer& buf = ctx->slots[r.slot];
    size_t bytes = r.bytes == 0 ? 1 : r.bytes;
    total += bytes;
    if (buf.bytes >= bytes) continue;  // a slot listed twice
    ST_TRY(free_slot(buf));
    cudaError_t e = cudaMalloc(&buf.ptr, bytes);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      buf.ptr = nullptr;
      return "CUDA out of memory: could not allocate " + std::to_string(total) +
             " bytes of device scratch for this operation";
    }
    if (e != cudaSuccess) return cuda_error_string("cudaMalloc(scratch)", e, __FILE__, __LINE__);
    buf.bytes = bytes;
  }
  return std::string();
}

}  // namespace cuda_detail
}  // namespace st
