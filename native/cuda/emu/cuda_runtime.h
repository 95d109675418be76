// synthtune CUDA emulator: a CPU stand-in for <cuda_runtime.h>.
//
// Lets the project's .cu sources compile with a plain C++ compiler and run on the host with CUDA
// semantics, so that the kernels can be executed and checked without a GPU:
//
//   g++ -x c++ -std=c++17 -DSYNTHTUNE_CUDA -DSYNTHTUNE_CUDA_EMU -Inative/cuda/emu ... foo.cu
//       native/cuda/emu/emu.cc
//
// (scripts/build-cuda-emu.js does exactly that). This directory is found instead of the real
// CUDA headers through -I; it also provides <mma.h> (nvcuda::wmma, tf32 and bf16) and
// <cuda_bf16.h>.
//
// Execution model (see emu.cc for the details):
//   * Host API calls (cudaMalloc, cudaMemcpyAsync, launches, ...) execute immediately, in order, on
//     the calling thread: every stream is synchronous. Kernel launches are serialised process-wide.
//   * The blocks of a grid run one after another. The threads of a block run as cooperative fibers
//     on the launching thread, in a fixed order (thread 0 first; ST_EMU_ORDER=reverse runs them in
//     reverse order, to shake out missing barriers), each until it reaches a barrier, a warp-level
//     operation or its end.
//   * __syncthreads() waits for all non-exited threads of the block; every thread must reach the
//     same __syncthreads call site (file:line), else the emulator reports a divergent barrier.
//   * Warp-level operations (__shfl*_sync, __any/__all/__ballot_sync, __syncwarp, wmma::*_sync)
//     wait for every lane of their mask; a lane that is not in its own mask, a lane of the mask
//     that exited or does not exist, or lanes of one mask arriving at different operations are
//     reported. A deadlock (every remaining thread waiting, nothing able to proceed) is reported
//     with the wait site of each thread. Reports name the kernel, block and thread and abort().
//   * __shared__ variables are `static`: shared by the threads of a block (blocks never run
//     concurrently). Limitation: static shared memory is zero before the first launch and keeps its
//     contents from block to block (a GPU leaves it undefined). Dynamic shared memory
//     (ST_DYNAMIC_SMEM, see common.cuh) is a heap buffer of exactly the launch's size, filled with
//     0xFF bytes (NaN floats, all-ones integers) before every block, so reads of never-written
//     shared memory and out-of-bounds accesses show up (the latter under AddressSanitizer).
//   * Device memory is ordinary host heap memory (posix_memalign), filled with 0xFF bytes on
//     allocation; live allocations are tracked, and cudaMemcpy/cudaMemset/cudaFree check that
//     device ranges lie inside one. Built with -fsanitize=address, out-of-bounds kernel accesses
//     to device buffers are caught; fiber switches are annotated for ASan.
//   * Not emulated: the memory model (fibers run one at a time, so data races are invisible except
//     through ordering: ST_EMU_ORDER=reverse helps), host pointers passed to kernels (they work
//     here; a GPU would fault), timing, clusters, cooperative groups, dynamic parallelism.
//
// Device: one device, "CUDA emulator (CPU)", compute capability 9.0, 4 SMs, warpSize 32,
// 1024 threads per block, 48 KiB shared memory per block (227 KiB after opt-in with
// cudaFuncSetAttribute(..., cudaFuncAttributeMaxDynamicSharedMemorySize, n)), 4 GiB of memory.
//
// Environment: ST_EMU_ORDER=forward|reverse (thread order within a block), ST_EMU_STACK_KB
// (fiber stack size, default 256), ST_EMU_STATS=1 (print launch/block/switch counts at exit).
#pragma once

#ifndef SYNTHTUNE_CUDA_EMU
#error "native/cuda/emu is the CPU emulator of CUDA: compile with -DSYNTHTUNE_CUDA_EMU (scripts/build-cuda-emu.js)"
#endif

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- keywords -----------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __constant__
#define __managed__
#define __grid_constant__
// __restrict__ is a GNU C++ keyword already. __noinline__ is deliberately not defined (libstdc++
// uses __attribute__((__noinline__)) in its own headers).

#define ST_EMU_HIDDEN __attribute__((visibility("hidden")))

// ---- vector and index types ---------------------------------------------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct float3 { float x, y, z; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

// ---- runtime API types --------------------------------------------------------------------------
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;
struct CUevent_st;
typedef struct CUevent_st* cudaEvent_t;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrTotalConstantMemory = 9,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMaxRegistersPerBlock = 12,
  cudaDevAttrClockRate = 13,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int clockRate;
  size_t totalConstMem;
  int major;
  int minor;
  size_t textureAlignment;
  int deviceOverlap;
  int multiProcessorCount;
  int kernelExecTimeoutEnabled;
  int integrated;
  int canMapHostMemory;
  int computeMode;
  int concurrentKernels;
  int ECCEnabled;
  int pciBusID;
  int pciDeviceID;
  int asyncEngineCount;
  int unifiedAddressing;
  int memoryClockRate;
  int memoryBusWidth;
  int l2CacheSize;
  int maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor;
  int regsPerMultiprocessor;
  int managedMemory;
  int isMultiGpuBoard;
  size_t sharedMemPerBlockOptin;
  int maxBlocksPerMultiProcessor;
};

// ---- runtime API --------------------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T>
inline cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
template <class T>
inline cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);

namespace st_emu {
namespace detail {
cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value);
cudaError_t memcpy_symbol(void* symbol, size_t symbol_size, const void* src, size_t bytes, size_t offset, bool to);
}  // namespace detail
}  // namespace st_emu

template <class T>
inline cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
  return ::st_emu::detail::func_set_attribute(reinterpret_cast<const void*>(func), attr, value);
}
template <class T>
inline cudaError_t cudaMemcpyToSymbol(T& symbol, const void* src, size_t bytes, size_t offset = 0,
                                      cudaMemcpyKind = cudaMemcpyHostToDevice) {
  return ::st_emu::detail::memcpy_symbol(const_cast<void*>(static_cast<const void*>(&symbol)), sizeof(T),
                                         const_cast<void*>(src), bytes, offset, true);
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, size_t bytes, size_t offset = 0,
                                        cudaMemcpyKind = cudaMemcpyDeviceToHost) {
  return ::st_emu::detail::memcpy_symbol(const_cast<void*>(static_cast<const void*>(&symbol)), sizeof(T), dst,
                                         bytes, offset, false);
}

// ---- built-in variables -------------------------------------------------------------------------
namespace st_emu {
namespace detail {
struct Builtins {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
// The running thread's indices (kernels run one at a time: launches are serialised).
extern Builtins g_builtins ST_EMU_HIDDEN;
// Dynamic shared memory of the running block.
extern void* g_dynamic_smem ST_EMU_HIDDEN;
}  // namespace detail
}  // namespace st_emu

#define threadIdx (static_cast<const uint3&>(::st_emu::detail::g_builtins.thread_idx))
#define blockIdx (static_cast<const uint3&>(::st_emu::detail::g_builtins.block_idx))
#define blockDim (static_cast<const dim3&>(::st_emu::detail::g_builtins.block_dim))
#define gridDim (static_cast<const dim3&>(::st_emu::detail::g_builtins.grid_dim))
constexpr int warpSize = 32;

// ---- synchronisation and warp-level operations --------------------------------------------------
namespace st_emu {
namespace detail {
enum BarrierKind { kBarSync = 0, kBarCount, kBarAnd, kBarOr };
enum WarpKind {
  kWarpSync = 0,
  kShflIdx,
  kShflUp,
  kShflDown,
  kShflXor,
  kVoteAny,
  kVoteAll,
  kVoteBallot,
  kReduceAdd,
  kReduceMin,
  kReduceMax,
  kWmmaLoad,
  kWmmaStore,
  kWmmaMma,
  kWmmaFill
};
// Block barrier; returns the count / and / or of pred over the block (per kind).
int block_barrier(int kind, int pred, const char* file, int line);
// Warp-level operation of the calling lane; returns the lane's result (raw bits).
uint64_t warp_op(int kind, unsigned mask, uint64_t value, int param, int width, const char* file, int line);
// A warp-collective operation over all 32 lanes (wmma): every lane passes its argument; the last
// lane to arrive calls fn with the 32 arguments (indexed by lane) before any lane continues.
void warp_collective(int kind, void* arg, void (*fn)(void* const* args), const char* file, int line);
// Abort with a message naming the running kernel, block and thread (printf-style).
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned active_mask();

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of a type larger than 8 bytes");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <class T>
inline T from_bits(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}
}  // namespace detail
}  // namespace st_emu

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::st_emu::detail::block_barrier(::st_emu::detail::kBarSync, 0, file, line);
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::st_emu::detail::block_barrier(::st_emu::detail::kBarCount, pred != 0, file, line);
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::st_emu::detail::block_barrier(::st_emu::detail::kBarAnd, pred != 0, file, line);
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::st_emu::detail::block_barrier(::st_emu::detail::kBarOr, pred != 0, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::st_emu::detail::warp_op(::st_emu::detail::kWarpSync, mask, 0, 0, 32, file, line);
}
template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  using namespace ::st_emu::detail;
  return from_bits<T>(warp_op(kShflIdx, mask, to_bits(var), src_lane, width, file, line));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
  using namespace ::st_emu::detail;
  return from_bits<T>(warp_op(kShflUp, mask, to_bits(var), int(delta), width, file, line));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  using namespace ::st_emu::detail;
  return from_bits<T>(warp_op(kShflDown, mask, to_bits(var), int(delta), width, file, line));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char* file = __builtin_FILE(),
                         int line = __builtin_LINE()) {
  using namespace ::st_emu::detail;
  return from_bits<T>(warp_op(kShflXor, mask, to_bits(var), lane_mask, width, file, line));
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(::st_emu::detail::warp_op(::st_emu::detail::kVoteAny, mask, pred != 0, 0, 32, file, line));
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return int(::st_emu::detail::warp_op(::st_emu::detail::kVoteAll, mask, pred != 0, 0, 32, file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  return unsigned(::st_emu::detail::warp_op(::st_emu::detail::kVoteBallot, mask, pred != 0, 0, 32, file, line));
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return unsigned(::st_emu::detail::warp_op(::st_emu::detail::kReduceAdd, mask, v, 0, 32, file, line));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return unsigned(::st_emu::detail::warp_op(::st_emu::detail::kReduceMin, mask, v, 0, 32, file, line));
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return unsigned(::st_emu::detail::warp_op(::st_emu::detail::kReduceMax, mask, v, 0, 32, file, line));
}
// The lanes of the calling warp that have not exited (an approximation: the emulator does not
// track branch divergence).
inline unsigned __activemask() { return ::st_emu::detail::active_mask(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
[[noreturn]] inline void __trap() { ::st_emu::detail::fatal("__trap() called"); }
inline void __nanosleep(unsigned) {}
long long clock64();

// ---- atomics (fibers are cooperative: plain read-modify-write is atomic) --------------------------
namespace st_emu {
namespace detail {
template <class T>
struct ident {
  using type = T;
};
}  // namespace detail
}  // namespace st_emu
template <class T>
inline T atomicAdd(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = T(old + v);
  return old;
}
template <class T>
inline T atomicSub(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = T(old - v);
  return old;
}
template <class T>
inline T atomicExch(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = v;
  return old;
}
template <class T>
inline T atomicMin(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  if (v < old) *a = v;
  return old;
}
template <class T>
inline T atomicMax(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  if (old < v) *a = v;
  return old;
}
template <class T>
inline T atomicAnd(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = old & v;
  return old;
}
template <class T>
inline T atomicOr(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = old | v;
  return old;
}
template <class T>
inline T atomicXor(T* a, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  *a = old ^ v;
  return old;
}
template <class T>
inline T atomicCAS(T* a, typename ::st_emu::detail::ident<T>::type cmp, typename ::st_emu::detail::ident<T>::type v) {
  T old = *a;
  if (old == cmp) *a = v;
  return old;
}
inline unsigned atomicInc(unsigned* a, unsigned v) {
  unsigned old = *a;
  *a = old >= v ? 0u : old + 1u;
  return old;
}
inline unsigned atomicDec(unsigned* a, unsigned v) {
  unsigned old = *a;
  *a = (old == 0u || old > v) ? v : old - 1u;
  return old;
}

// ---- math and bit intrinsics --------------------------------------------------------------------
namespace st_emu {
namespace detail {
// Round a float result to fp32 in a way the optimiser cannot see through, so that __fmul_rn /
// __fadd_rn results are never contracted into an FMA (as on the GPU).
inline float opaque(float r) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("" : "+x"(r));
#elif defined(__aarch64__)
  __asm__ volatile("" : "+w"(r));
#else
  volatile float v = r;
  r = v;
#endif
  return r;
}
}  // namespace detail
}  // namespace st_emu
inline float __fmul_rn(float a, float b) { return ::st_emu::detail::opaque(a * b); }
inline float __fadd_rn(float a, float b) { return ::st_emu::detail::opaque(a + b); }
inline float __fsub_rn(float a, float b) { return ::st_emu::detail::opaque(a - b); }
inline float __fdiv_rn(float a, float b) { return ::st_emu::detail::opaque(a / b); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __frcp_rn(float a) { return ::st_emu::detail::opaque(1.0f / a); }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline float exp10f(float x) { return powf(10.0f, x); }
inline int __float_as_int(float f) { return ::st_emu::detail::from_bits<int>(::st_emu::detail::to_bits(f)); }
inline unsigned __float_as_uint(float f) { return ::st_emu::detail::from_bits<unsigned>(::st_emu::detail::to_bits(f)); }
inline float __int_as_float(int i) { return ::st_emu::detail::from_bits<float>(::st_emu::detail::to_bits(i)); }
inline float __uint_as_float(unsigned u) { return ::st_emu::detail::from_bits<float>(::st_emu::detail::to_bits(u)); }
inline long long __double_as_longlong(double d) {
  return ::st_emu::detail::from_bits<long long>(::st_emu::detail::to_bits(d));
}
inline double __longlong_as_double(long long i) {
  return ::st_emu::detail::from_bits<double>(::st_emu::detail::to_bits(i));
}
inline int __float2int_rn(float x) { return int(nearbyintf(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(floorf(x)); }
inline int __float2int_ru(float x) { return int(ceilf(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(nearbyintf(x)); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned x) { return float(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return int((int64_t(a) * b) >> 32); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline void __stcs(T* p, T v) {
  *p = v;
}

// CUDA's global min/max overloads (integer and floating point, mixed types by the usual
// arithmetic conversions; floating point like fminf/fmaxf).
template <class A, class B>
inline typename std::enable_if<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value,
                               typename std::common_type<A, B>::type>::type
min(A a, B b) {
  using T = typename std::common_type<A, B>::type;
  if (std::is_floating_point<T>::value) return T(std::fmin(T(a), T(b)));
  return T(b) < T(a) ? T(b) : T(a);
}
template <class A, class B>
inline typename std::enable_if<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value,
                               typename std::common_type<A, B>::type>::type
max(A a, B b) {
  using T = typename std::common_type<A, B>::type;
  if (std::is_floating_point<T>::value) return T(std::fmax(T(a), T(b)));
  return T(a) < T(b) ? T(b) : T(a);
}

// ---- kernel launch ------------------------------------------------------------------------------
namespace st_emu {
namespace detail {
struct LaunchDesc {
  const char* name;     // kernel name for messages (the ST_LAUNCH text), may be null
  const void* func;     // kernel identity (for cudaFuncSetAttribute limits)
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  void (*invoke)(void* bound);  // runs the kernel body for the current thread
  void* bound;
};
// Validates the configuration (sets the last error and returns without running on failure), then
// runs the grid to completion.
void run_launch(const LaunchDesc& d);
template <class T>
inline T implicit_arg(T v) {
  return v;
}
}  // namespace detail

// ST_LAUNCH(grid, block, smem, stream, kernel)(args...) under SYNTHTUNE_CUDA_EMU (common.cuh).
template <class... P>
class Launcher {
 public:
  Launcher(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, void (*kernel)(P...))
      : name_(name), grid_(grid), block_(block), smem_(smem), stream_(stream), kernel_(kernel) {}

  template <class... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    // Arguments are converted to the parameter types once (like the GPU's parameter buffer); every
    // thread then gets its own copy of each parameter.
    Bound b{kernel_, std::tuple<P...>(detail::implicit_arg<P>(std::forward<A>(args))...)};
    detail::LaunchDesc d{name_, reinterpret_cast<const void*>(kernel_), grid_, block_, smem_, stream_,
                         &Launcher::invoke, &b};
    detail::run_launch(d);
  }

 private:
  struct Bound {
    void (*kernel)(P...);
    std::tuple<P...> params;
  };
  static void invoke(void* p) {
    Bound* b = static_cast<Bound*>(p);
    std::apply(b->kernel, b->params);  // copies the parameters into this thread's call
  }
  const char* name_;
  dim3 grid_, block_;
  size_t smem_;
  cudaStream_t stream_;
  void (*kernel_)(P...);
};

template <class... P>
inline Launcher<P...> launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, void (*kernel)(P...)) {
  return Launcher<P...>(nullptr, grid, block, smem, stream, kernel);
}
template <class... P>
inline Launcher<P...> launch_named(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                   void (*kernel)(P...)) {
  return Launcher<P...>(name, grid, block, smem, stream, kernel);
}

// Dynamic shared memory of the running block (ST_DYNAMIC_SMEM in common.cuh; 128-byte aligned).
inline void* dynamic_smem() { return detail::g_dynamic_smem; }

// Live device allocations (for leak checks in tests).
size_t live_allocations();
size_t live_bytes();
}  // namespace st_emu
