// synthtune CUDA emulator: runtime (memory, streams, device properties, launches, the block
// scheduler with its fibers, barriers and warp-level operations). See cuda_runtime.h for the model.
//
// Fibers. Each thread of a block is a fiber with its own stack (mmap, guard page below, reused by
// every block and launch of the OS thread that launches). On x86-64 the switch is a few
// instructions of assembly (callee-saved registers, MXCSR and the x87 control word); elsewhere
// ucontext. A fiber never returns: it runs the kernel body for whatever thread it is given, then
// reports the thread's exit and switches back to the scheduler, ready for the next block.
//
// Scheduling is deterministic: the scheduler makes passes over the block's threads in order (or
// reverse order with ST_EMU_ORDER=reverse) and runs every ready thread until it blocks (barrier,
// warp-level operation) or exits. The thread that completes a barrier or a warp operation (the
// last one to arrive) releases the others and carries on without switching. A pass in which no
// thread can run while some are still alive is a deadlock, reported with every thread's wait site.
//
// AddressSanitizer: every switch is bracketed by __sanitizer_start_switch_fiber /
// __sanitizer_finish_switch_fiber, so ASan knows which stack is current (stack-buffer-overflow
// reports on fiber stacks, no false positives when switching).
#include "cuda_runtime.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define ST_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ST_EMU_ASAN 1
#endif
#endif
#ifndef ST_EMU_ASAN
#define ST_EMU_ASAN 0
#endif
#if ST_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__) && !defined(ST_EMU_UCONTEXT)
#define ST_EMU_UCONTEXT 1
#endif
#ifdef ST_EMU_UCONTEXT
#include <ucontext.h>
#endif

namespace st_emu {
namespace detail {

Builtins g_builtins;
void* g_dynamic_smem = nullptr;

namespace {

// ---- device description -------------------------------------------------------------------------
constexpr const char* kDeviceName = "CUDA emulator (CPU)";
// Multiprocessor count: 4, or ST_EMU_SM_COUNT (e.g. 132 to take the code paths an H100 would).
int sm_count() {
  static const int n = [] {
    const char* s = std::getenv("ST_EMU_SM_COUNT");
    const long v = s ? std::strtol(s, nullptr, 10) : 0;
    return v >= 1 && v <= 1024 ? int(v) : 4;
  }();
  return n;
}
constexpr size_t kSmemPerBlock = 48 * 1024;
constexpr size_t kSmemOptin = 227 * 1024;  // H100: 232448 bytes
constexpr size_t kSmemPerSM = 228 * 1024;
constexpr size_t kTotalMem = size_t(4) << 30;
constexpr int kMaxThreads = 1024;

thread_local cudaError_t t_last_error = cudaSuccess;

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

// ---- statistics -------------------------------------------------------------------------------
// Updated under g_launch_mu only.
uint64_t g_stat_launches = 0, g_stat_blocks = 0, g_stat_threads = 0, g_stat_switches = 0;

struct StatsPrinter {
  ~StatsPrinter() {
    const char* s = std::getenv("ST_EMU_STATS");
    if (s && *s && *s != '0')
      std::fprintf(stderr, "[cuda-emu] %llu launches, %llu blocks, %llu threads, %llu fiber switches\n",
                   (unsigned long long)g_stat_launches, (unsigned long long)g_stat_blocks,
                   (unsigned long long)g_stat_threads, (unsigned long long)g_stat_switches);
  }
} g_stats_printer;

// ---- memory -----------------------------------------------------------------------------------
std::mutex g_mem_mu;
std::map<uintptr_t, size_t>& allocs() {
  static auto* m = new std::map<uintptr_t, size_t>();
  return *m;
}
size_t g_live_bytes = 0;

// Is [p, p+n) inside one live device allocation? (g_mem_mu held)
bool in_device_range(const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto& m = allocs();
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a - it->first <= it->second && n <= it->second - (a - it->first);
}
bool is_device_ptr(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto& m = allocs();
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a < it->first + std::max<size_t>(it->second, 1);
}

// ---- streams, events, function attributes ------------------------------------------------------
std::mutex g_obj_mu;
std::set<const void*>& streams() {
  static auto* s = new std::set<const void*>();
  return *s;
}
std::map<const void*, int>& func_smem_limits() {
  static auto* m = new std::map<const void*, int>();
  return *m;
}
bool valid_stream(cudaStream_t s) {
  if (s == nullptr) return true;
  std::lock_guard<std::mutex> lock(g_obj_mu);
  return streams().count(s) != 0;
}

}  // namespace
}  // namespace detail
}  // namespace st_emu

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded;
};

using namespace st_emu::detail;

// ---- errors -----------------------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define ST_EMU_ERR(n) \
  case n:             \
    return #n;
    ST_EMU_ERR(cudaSuccess)
    ST_EMU_ERR(cudaErrorInvalidValue)
    ST_EMU_ERR(cudaErrorMemoryAllocation)
    ST_EMU_ERR(cudaErrorInitializationError)
    ST_EMU_ERR(cudaErrorInvalidConfiguration)
    ST_EMU_ERR(cudaErrorInvalidSymbol)
    ST_EMU_ERR(cudaErrorInvalidDevicePointer)
    ST_EMU_ERR(cudaErrorInvalidMemcpyDirection)
    ST_EMU_ERR(cudaErrorInsufficientDriver)
    ST_EMU_ERR(cudaErrorInvalidDeviceFunction)
    ST_EMU_ERR(cudaErrorNoDevice)
    ST_EMU_ERR(cudaErrorInvalidDevice)
    ST_EMU_ERR(cudaErrorInvalidResourceHandle)
    ST_EMU_ERR(cudaErrorNotReady)
    ST_EMU_ERR(cudaErrorIllegalAddress)
    ST_EMU_ERR(cudaErrorLaunchOutOfResources)
    ST_EMU_ERR(cudaErrorLaunchFailure)
    ST_EMU_ERR(cudaErrorNotSupported)
    ST_EMU_ERR(cudaErrorUnknown)
#undef ST_EMU_ERR
  }
  return "cudaErrorUnrecognized";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidSymbol: return "invalid device symbol";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

cudaError_t cudaGetLastError() {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

// ---- device -------------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof(*p));
  std::snprintf(p->name, sizeof(p->name), "%s", kDeviceName);
  p->totalGlobalMem = kTotalMem;
  p->sharedMemPerBlock = kSmemPerBlock;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->memPitch = size_t(1) << 31;
  p->maxThreadsPerBlock = kMaxThreads;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->clockRate = 1000000;
  p->totalConstMem = 65536;
  p->major = 9;
  p->minor = 0;
  p->textureAlignment = 512;
  p->multiProcessorCount = sm_count();
  p->concurrentKernels = 1;
  p->unifiedAddressing = 1;
  p->l2CacheSize = 4 << 20;
  p->maxThreadsPerMultiProcessor = 2048;
  p->sharedMemPerMultiprocessor = kSmemPerSM;
  p->regsPerMultiprocessor = 65536;
  p->sharedMemPerBlockOptin = kSmemOptin;
  p->maxBlocksPerMultiProcessor = 32;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return record(cudaErrorInvalidValue);
  if (device != 0) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = kMaxThreads; break;
    case cudaDevAttrMaxBlockDimX: *value = 1024; break;
    case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY: *value = 65535; break;
    case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = int(kSmemPerBlock); break;
    case cudaDevAttrTotalConstantMemory: *value = 65536; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = 65536; break;
    case cudaDevAttrClockRate: *value = 1000000; break;
    case cudaDevAttrMultiProcessorCount: *value = sm_count(); break;
    case cudaDevAttrL2CacheSize: *value = 4 << 20; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = 2048; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = int(kSmemPerSM); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(kSmemOptin); break;
    default: return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaDeviceReset() { return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return record(cudaErrorInvalidValue);
  *v = 12080;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return record(cudaErrorInvalidValue);
  *v = 12080;
  return cudaSuccess;
}

// ---- memory -------------------------------------------------------------------------------------
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  if (bytes == 0) {
    *ptr = nullptr;
    return cudaSuccess;
  }
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    if (bytes > kTotalMem - g_live_bytes) {
      *ptr = nullptr;
      return record(cudaErrorMemoryAllocation);
    }
  }
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0 || p == nullptr) {
    *ptr = nullptr;
    return record(cudaErrorMemoryAllocation);
  }
  std::memset(p, 0xFF, bytes);  // "uninitialised" device memory: NaN floats, all-ones integers
  std::lock_guard<std::mutex> lock(g_mem_mu);
  allocs()[reinterpret_cast<uintptr_t>(p)] = bytes;
  g_live_bytes += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    auto it = allocs().find(reinterpret_cast<uintptr_t>(ptr));
    if (it == allocs().end()) return record(cudaErrorInvalidValue);
    g_live_bytes -= it->second;
    allocs().erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = std::malloc(bytes ? bytes : 1);
  return *ptr ? cudaSuccess : record(cudaErrorMemoryAllocation);
}
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned) { return cudaMallocHost(ptr, bytes); }
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(g_mem_mu);
  if (free_bytes) *free_bytes = kTotalMem - g_live_bytes;
  if (total_bytes) *total_bytes = kTotalMem;
  return cudaSuccess;
}

static cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(g_mem_mu);
  bool dst_dev = false, src_dev = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_dev = true; break;
    case cudaMemcpyDeviceToHost: src_dev = true; break;
    case cudaMemcpyDeviceToDevice: dst_dev = src_dev = true; break;
    case cudaMemcpyDefault:
      dst_dev = is_device_ptr(dst);
      src_dev = is_device_ptr(src);
      break;
    default: return cudaErrorInvalidMemcpyDirection;
  }
  if (dst_dev && !in_device_range(dst, bytes)) return cudaErrorInvalidValue;
  if (src_dev && !in_device_range(src, bytes)) return cudaErrorInvalidValue;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  cudaError_t e = check_copy(dst, src, bytes, kind);
  if (e != cudaSuccess) return record(e);
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    if (!dst || !in_device_range(dst, bytes)) return record(cudaErrorInvalidValue);
  }
  std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  return cudaMemset(dst, value, bytes);
}

// ---- streams and events -------------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream) return record(cudaErrorInvalidValue);
  auto* s = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(g_obj_mu);
  streams().insert(s);
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_obj_mu);
  if (!stream || streams().erase(stream) == 0) return record(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return valid_stream(stream) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  if (!event) return record(cudaErrorInvalidValue);
  *event = new CUevent_st{std::chrono::steady_clock::now(), false};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return record(cudaErrorInvalidResourceHandle);
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  event->t = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) { return event ? cudaSuccess : record(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return record(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (!event || !valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}

long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace st_emu {

size_t live_allocations() {
  std::lock_guard<std::mutex> lock(detail::g_mem_mu);
  return detail::allocs().size();
}
size_t live_bytes() {
  std::lock_guard<std::mutex> lock(detail::g_mem_mu);
  return detail::g_live_bytes;
}

namespace detail {

cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return record(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > kSmemOptin) return record(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_obj_mu);
    func_smem_limits()[func] = value;
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  return record(cudaErrorInvalidValue);
}

cudaError_t memcpy_symbol(void* symbol, size_t symbol_size, const void* src, size_t bytes, size_t offset, bool to) {
  if (offset > symbol_size || bytes > symbol_size - offset) return record(cudaErrorInvalidValue);
  if (bytes == 0) return cudaSuccess;
  if (to)
    std::memcpy(static_cast<char*>(symbol) + offset, src, bytes);
  else
    std::memcpy(const_cast<void*>(src), static_cast<char*>(symbol) + offset, bytes);
  return cudaSuccess;
}

// ================================= fibers ========================================================
namespace {

#ifndef ST_EMU_UCONTEXT
extern "C" void st_emu_switch_x86_64(void** save_sp, void* load_sp);
// Saves the callee-saved registers on the current stack, stores the stack pointer in *save_sp,
// switches to load_sp and restores the registers from there. (MXCSR and the x87 control word are
// not switched: kernels do not change rounding modes, and all fibers share the thread's.)
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl st_emu_switch_x86_64\n"
    ".hidden st_emu_switch_x86_64\n"
    ".type st_emu_switch_x86_64,@function\n"
    "st_emu_switch_x86_64:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size st_emu_switch_x86_64, .-st_emu_switch_x86_64\n");
#endif

struct Fiber {
  char* map = nullptr;       // mmap base (guard page first)
  size_t map_size = 0;
  char* stack_lo = nullptr;  // usable stack [stack_lo, stack_lo + stack_size)
  size_t stack_size = 0;
  void* asan_fake = nullptr;
#ifdef ST_EMU_UCONTEXT
  ucontext_t uc;
#else
  void* sp = nullptr;
#endif
};

// The scheduler side of the switches (the launching OS thread's own stack). Launches are serialised
// by g_launch_mu, so one set of globals serves every OS thread.
#ifdef ST_EMU_UCONTEXT
ucontext_t g_sched_uc;
#else
void* g_sched_sp = nullptr;
#endif
void* g_sched_fake = nullptr;
const void* g_sched_bottom = nullptr;  // the scheduler's stack (for ASan)
size_t g_sched_size = 0;
Fiber* g_cur_fiber = nullptr;

void fiber_main();

size_t stack_bytes() {
  static const size_t bytes = [] {
    size_t kb = ST_EMU_ASAN ? 1024 : 256;
    if (const char* s = std::getenv("ST_EMU_STACK_KB")) {
      long v = std::strtol(s, nullptr, 10);
      if (v >= 16) kb = size_t(v);
    }
    return kb * 1024;
  }();
  return bytes;
}

void init_fiber(Fiber* f) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t size = (stack_bytes() + page - 1) / page * page;
  void* m = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    std::fprintf(stderr, "CUDA emulator: cannot allocate a %zu KiB fiber stack\n", size / 1024);
    std::abort();
  }
  mprotect(m, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting memory
  f->map = static_cast<char*>(m);
  f->map_size = size + page;
  f->stack_lo = f->map + page;
  f->stack_size = size;
#ifdef ST_EMU_UCONTEXT
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = f->stack_lo;
  f->uc.uc_stack.ss_size = f->stack_size;
  f->uc.uc_link = nullptr;
  makecontext(&f->uc, fiber_main, 0);
#else
  uintptr_t top = (reinterpret_cast<uintptr_t>(f->stack_lo) + f->stack_size) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                         // fiber_main's (never used) return address
  *--sp = reinterpret_cast<uint64_t>(&fiber_main);   // popped by the switch's ret
  for (int i = 0; i < 6; ++i) *--sp = 0;              // rbp rbx r12 r13 r14 r15 (rbp 0 ends backtraces)
  f->sp = sp;
#endif
}

// Per OS thread: the fibers of the blocks it launches (a Node worker thread keeps its own).
struct FiberPool {
  std::vector<std::unique_ptr<Fiber>> fibers;
  ~FiberPool() {
    for (auto& f : fibers) munmap(f->map, f->map_size);
  }
  Fiber* get(size_t i) {
    while (fibers.size() <= i) {
      fibers.emplace_back(new Fiber());
      init_fiber(fibers.back().get());
    }
    return fibers[i].get();
  }
};
thread_local FiberPool t_pool;

// Switch from the running context to another one; nullptr stands for the scheduler (the launching
// thread's own stack). Returns when something switches back to `from`.
void switch_fiber(Fiber* from, Fiber* to) {
  ++g_stat_switches;
#if ST_EMU_ASAN
  __sanitizer_start_switch_fiber(from ? &from->asan_fake : &g_sched_fake, to ? to->stack_lo : g_sched_bottom,
                                 to ? to->stack_size : g_sched_size);
#endif
#ifdef ST_EMU_UCONTEXT
  swapcontext(from ? &from->uc : &g_sched_uc, to ? &to->uc : &g_sched_uc);
#else
  st_emu_switch_x86_64(from ? &from->sp : &g_sched_sp, to ? to->sp : g_sched_sp);
#endif
#if ST_EMU_ASAN
  __sanitizer_finish_switch_fiber(from ? from->asan_fake : g_sched_fake, nullptr, nullptr);
#endif
}

// ================================= blocks ========================================================
enum ThreadState : uint8_t { kReady, kAtBarrier, kAtWarpOp, kExited };

struct ThreadRec {
  uint3 idx;
  ThreadState state;
  const char* file;  // wait site
  int line;
  uint64_t result;   // of the barrier / warp operation that released it
};

struct WarpOpRec {
  int kind;
  unsigned mask;
  unsigned arrived;
  int width;
  const char* file;
  int line;
  uint64_t val[32];
  int param[32];
  void (*collective)(void* const* args);  // wmma: run by the last lane over every lane's argument
};

struct Warp {
  unsigned exists;  // lanes that exist in this block
  unsigned exited;
  std::vector<WarpOpRec> ops;  // pending operations (disjoint masks)
};

struct Barrier {
  int arrived;
  int kind;
  const char* file;
  int line;
  int first;
  int count;
  bool all, any;
};

const char* barrier_name(int kind) {
  switch (kind) {
    case kBarSync: return "__syncthreads";
    case kBarCount: return "__syncthreads_count";
    case kBarAnd: return "__syncthreads_and";
    case kBarOr: return "__syncthreads_or";
  }
  return "barrier";
}
const char* warp_name(int kind) {
  switch (kind) {
    case kWarpSync: return "__syncwarp";
    case kShflIdx: return "__shfl_sync";
    case kShflUp: return "__shfl_up_sync";
    case kShflDown: return "__shfl_down_sync";
    case kShflXor: return "__shfl_xor_sync";
    case kVoteAny: return "__any_sync";
    case kVoteAll: return "__all_sync";
    case kVoteBallot: return "__ballot_sync";
    case kReduceAdd: return "__reduce_add_sync";
    case kReduceMin: return "__reduce_min_sync";
    case kReduceMax: return "__reduce_max_sync";
    case kWmmaLoad: return "wmma::load_matrix_sync";
    case kWmmaStore: return "wmma::store_matrix_sync";
    case kWmmaMma: return "wmma::mma_sync";
    case kWmmaFill: return "wmma::fill_fragment";
  }
  return "warp operation";
}

const char* base_name(const char* file) {
  if (!file) return "?";
  const char* b = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/' || *p == '\\') b = p + 1;
  return b;
}

bool same_site(const char* f1, int l1, const char* f2, int l2) {
  return l1 == l2 && (f1 == f2 || (f1 && f2 && std::strcmp(f1, f2) == 0));
}

struct Runner {
  const LaunchDesc* d = nullptr;
  int nthreads = 0;
  int alive = 0;
  bool reverse = false;
  uint3 block{0, 0, 0};
  std::vector<ThreadRec> th;
  std::vector<Warp> warps;
  Barrier bar{};
  char* dyn = nullptr;
  int cur = -1;  // running thread (linear index), -1 in the scheduler
  int pos = -1;  // position of the running thread in the pass order
  std::vector<Fiber*> fibers;  // fiber of each thread
  int order(int i) const { return reverse ? nthreads - 1 - i : i; }
};

Runner* g_run = nullptr;
std::mutex g_launch_mu;
thread_local bool t_in_launch = false;  // this OS thread is running a grid (its fibers run on it)

std::string describe_launch() {
  char buf[512];
  Runner* r = g_run;
  if (!r) return "outside any kernel";
  const LaunchDesc* d = r->d;
  int n = std::snprintf(buf, sizeof(buf), "kernel %s <<<(%u,%u,%u), (%u,%u,%u), %zu>>>, block (%u,%u,%u)",
                        d->name ? d->name : "?", d->grid.x, d->grid.y, d->grid.z, d->block.x, d->block.y,
                        d->block.z, d->smem, r->block.x, r->block.y, r->block.z);
  if (r->cur >= 0 && n > 0 && size_t(n) < sizeof(buf)) {
    const uint3 t = r->th[size_t(r->cur)].idx;
    std::snprintf(buf + n, sizeof(buf) - size_t(n), ", thread (%u,%u,%u) (warp %d lane %d)", t.x, t.y, t.z,
                  r->cur / 32, r->cur % 32);
  }
  return buf;
}

[[noreturn]] void vfatal(const char* fmt, va_list ap) {
  char msg[2048];
  std::vsnprintf(msg, sizeof(msg), fmt, ap);
  std::fflush(stdout);
  std::fprintf(stderr, "CUDA emulator: %s\n  in %s\n", msg, describe_launch().c_str());
  std::fflush(stderr);
  std::abort();
}

std::string lanes_str(unsigned m) {
  std::string s;
  int shown = 0;
  for (int i = 0; i < 32; ++i)
    if (m >> i & 1u) {
      if (shown == 8) {
        s += ",...";
        break;
      }
      if (shown++) s += ",";
      s += std::to_string(i);
    }
  return s;
}

void release_barrier(Runner& r) {
  Barrier& b = r.bar;
  uint64_t res = 0;
  if (b.kind == kBarCount) res = uint64_t(b.count);
  if (b.kind == kBarAnd) res = b.all ? 1 : 0;
  if (b.kind == kBarOr) res = b.any ? 1 : 0;
  for (ThreadRec& t : r.th)
    if (t.state == kAtBarrier) {
      t.state = kReady;
      t.result = res;
    }
  if (r.cur >= 0) r.th[size_t(r.cur)].result = res;
  b.arrived = 0;
}

// Make thread at pass position i the running one (the caller then switches to its fiber).
Fiber* enter(Runner& r, int i) {
  const int t = r.order(i);
  r.pos = i;
  r.cur = t;
  g_builtins.thread_idx = r.th[size_t(t)].idx;
  g_cur_fiber = r.fibers[size_t(t)];
  return g_cur_fiber;
}

// Position of the first ready thread after pass position `after`, or -1.
int next_ready(const Runner& r, int after) {
  for (int i = after + 1; i < r.nthreads; ++i)
    if (r.th[size_t(r.order(i))].state == kReady) return i;
  return -1;
}

// The running thread waits (or has exited): run the next ready thread of this pass, or go back to
// the scheduler, which starts the next pass. Returns when this thread is resumed.
void yield_thread() {
  Runner& r = *g_run;
  Fiber* self = g_cur_fiber;
  const int next = next_ready(r, r.pos);
  if (next >= 0) {
    switch_fiber(self, enter(r, next));
  } else {
    r.cur = -1;
    r.pos = -1;
    g_cur_fiber = nullptr;
    switch_fiber(self, nullptr);
  }
}

void thread_exited() {
  Runner& r = *g_run;
  const int t = r.cur;
  r.th[size_t(t)].state = kExited;
  --r.alive;
  Warp& w = r.warps[size_t(t / 32)];
  const unsigned bit = 1u << (t % 32);
  w.exited |= bit;
  for (const WarpOpRec& op : w.ops)
    if (op.mask & bit)
      fatal("thread exited while lanes %s of its warp wait for it in %s(mask 0x%08x) at %s:%d",
            lanes_str(op.arrived).c_str(), warp_name(op.kind), op.mask, base_name(op.file), op.line);
  if (r.bar.arrived > 0 && r.bar.arrived == r.alive) release_barrier(r);
}

void fiber_main() {
#if ST_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  for (;;) {
    const LaunchDesc* d = g_run->d;
    d->invoke(d->bound);
    thread_exited();
    yield_thread();
  }
}

[[noreturn]] void report_deadlock(Runner& r) {
  // Lanes of one warp waiting in different warp operations whose masks overlap: divergence.
  for (size_t wi = 0; wi < r.warps.size(); ++wi) {
    const Warp& w = r.warps[wi];
    for (size_t i = 0; i < w.ops.size(); ++i)
      for (size_t j = i + 1; j < w.ops.size(); ++j) {
        const WarpOpRec& a = w.ops[i];
        const WarpOpRec& b = w.ops[j];
        if (!(a.mask & b.mask)) continue;
        r.cur = -1;
        fatal("warp divergence (deadlock) in warp %zu: lanes %s wait in %s(mask 0x%08x) at %s:%d while lanes %s wait in "
              "%s(mask 0x%08x) at %s:%d; every lane of a mask must call the same warp operation",
              wi, lanes_str(a.arrived).c_str(), warp_name(a.kind), a.mask, base_name(a.file), a.line,
              lanes_str(b.arrived).c_str(), warp_name(b.kind), b.mask, base_name(b.file), b.line);
      }
  }
  std::string s = "deadlock: no thread of the block can proceed.";
  int shown = 0;
  for (int t = 0; t < r.nthreads && shown < 12; ++t) {
    const ThreadRec& tr = r.th[size_t(t)];
    if (tr.state == kExited) continue;
    char line[300];
    if (tr.state == kAtBarrier) {
      std::snprintf(line, sizeof(line), "\n    thread %d (%u,%u,%u) waits in %s at %s:%d", t, tr.idx.x, tr.idx.y,
                    tr.idx.z, barrier_name(r.bar.kind), base_name(tr.file), tr.line);
    } else if (tr.state == kAtWarpOp) {
      const Warp& w = r.warps[size_t(t / 32)];
      const WarpOpRec* op = nullptr;
      for (const WarpOpRec& o : w.ops)
        if (o.arrived >> (t % 32) & 1u) op = &o;
      std::snprintf(line, sizeof(line), "\n    thread %d (%u,%u,%u) waits in %s(mask 0x%08x) at %s:%d for lanes %s", t,
                    tr.idx.x, tr.idx.y, tr.idx.z, op ? warp_name(op->kind) : "?", op ? op->mask : 0u,
                    base_name(tr.file), tr.line, op ? lanes_str(op->mask & ~op->arrived).c_str() : "?");
    } else {
      continue;
    }
    s += line;
    ++shown;
  }
  r.cur = -1;
  fatal("%s", s.c_str());
}

void run_block(Runner& r) {
  for (int t = 0; t < r.nthreads; ++t) {
    ThreadRec& tr = r.th[size_t(t)];
    tr.state = kReady;
    tr.file = nullptr;
    tr.line = 0;
    tr.result = 0;
  }
  for (Warp& w : r.warps) {
    w.exited = 0;
    w.ops.clear();
  }
  r.alive = r.nthreads;
  r.bar = Barrier{};
  if (r.dyn && r.d->smem) std::memset(r.dyn, 0xFF, r.d->smem);
  g_builtins.block_idx = r.block;
  // Passes over the threads in order; within a pass the fibers hand over to each other directly
  // (yield_thread) and the last one returns here.
  for (;;) {
    const int first = next_ready(r, -1);
    if (first < 0) {
      if (r.alive == 0) break;
      report_deadlock(r);
    }
    switch_fiber(nullptr, enter(r, first));
    r.cur = -1;
    r.pos = -1;
  }
}

bool reverse_order() {
  static const bool rev = [] {
    const char* s = std::getenv("ST_EMU_ORDER");
    return s && std::strcmp(s, "reverse") == 0;
  }();
  return rev;
}

}  // namespace

[[noreturn]] void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfatal(fmt, ap);
}

unsigned active_mask() {
  Runner* r = g_run;
  if (!r || r->cur < 0) fatal("__activemask() called outside a kernel");
  const Warp& w = r->warps[size_t(r->cur / 32)];
  return w.exists & ~w.exited;
}

int block_barrier(int kind, int pred, const char* file, int line) {
  Runner* rp = g_run;
  if (!rp || rp->cur < 0) fatal("%s called outside a kernel (%s:%d)", barrier_name(kind), base_name(file), line);
  Runner& r = *rp;
  const int t = r.cur;
  Barrier& b = r.bar;
  if (b.arrived == 0) {
    b.kind = kind;
    b.file = file;
    b.line = line;
    b.first = t;
    b.count = 0;
    b.all = true;
    b.any = false;
  } else if (b.kind != kind || !same_site(b.file, b.line, file, line)) {
    const uint3 o = r.th[size_t(b.first)].idx;
    fatal("divergent barrier: this thread reached %s at %s:%d while thread (%u,%u,%u) (and %d other(s)) wait in %s "
          "at %s:%d; all threads of a block must reach the same __syncthreads",
          barrier_name(kind), base_name(file), line, o.x, o.y, o.z, b.arrived - 1, barrier_name(b.kind),
          base_name(b.file), b.line);
  }
  b.count += pred ? 1 : 0;
  b.all = b.all && pred;
  b.any = b.any || pred;
  ++b.arrived;
  ThreadRec& me = r.th[size_t(t)];
  if (b.arrived == r.alive) {
    release_barrier(r);
    return int(me.result);
  }
  me.state = kAtBarrier;
  me.file = file;
  me.line = line;
  yield_thread();
  return int(me.result);
}

namespace {
uint64_t warp_op_impl(int kind, unsigned mask, uint64_t value, int param, int width,
                      void (*collective)(void* const* args), const char* file, int line);
}  // namespace

uint64_t warp_op(int kind, unsigned mask, uint64_t value, int param, int width, const char* file, int line) {
  return warp_op_impl(kind, mask, value, param, width, nullptr, file, line);
}

void warp_collective(int kind, void* arg, void (*fn)(void* const* args), const char* file, int line) {
  warp_op_impl(kind, 0xFFFFFFFFu, reinterpret_cast<uintptr_t>(arg), 0, 32, fn, file, line);
}

namespace {
uint64_t warp_op_impl(int kind, unsigned mask, uint64_t value, int param, int width,
                      void (*collective)(void* const* args), const char* file, int line) {
  Runner* rp = g_run;
  if (!rp || rp->cur < 0) fatal("%s called outside a kernel (%s:%d)", warp_name(kind), base_name(file), line);
  Runner& r = *rp;
  const int t = r.cur;
  const int lane = t % 32;
  const unsigned bit = 1u << lane;
  Warp& w = r.warps[size_t(t / 32)];
  if (!(mask & bit))
    fatal("%s(mask 0x%08x) at %s:%d called by lane %d, which is not in the mask", warp_name(kind), mask,
          base_name(file), line, lane);
  if (mask & ~w.exists)
    fatal("%s(mask 0x%08x) at %s:%d names lanes %s, which do not exist (this warp has %d threads)", warp_name(kind),
          mask, base_name(file), line, lanes_str(mask & ~w.exists).c_str(), __builtin_popcount(w.exists));
  if (mask & w.exited)
    fatal("%s(mask 0x%08x) at %s:%d waits for lanes %s, which have exited", warp_name(kind), mask, base_name(file),
          line, lanes_str(mask & w.exited).c_str());
  if ((kind == kShflIdx || kind == kShflUp || kind == kShflDown || kind == kShflXor) &&
      (width < 1 || width > 32 || (width & (width - 1)) != 0))
    fatal("%s at %s:%d with width %d (must be a power of two in [1, 32])", warp_name(kind), base_name(file), line,
          width);

  // Join the pending operation of the same kind and mask, or open one. (Lanes of one mask may reach
  // it from different call sites, as on Volta and later; lanes of a mask waiting in different
  // operations never complete, which the deadlock report names as warp divergence.)
  WarpOpRec* op = nullptr;
  for (WarpOpRec& o : w.ops)
    if (o.kind == kind && o.mask == mask) {
      op = &o;
      break;
    }
  if (!op) {
    w.ops.emplace_back();
    op = &w.ops.back();
    op->kind = kind;
    op->mask = mask;
    op->arrived = 0;
    op->width = width;
    op->file = file;
    op->line = line;
    op->collective = collective;
  }
  op->val[lane] = value;
  op->param[lane] = param;
  op->arrived |= bit;
  ThreadRec& me = r.th[size_t(t)];
  if (op->arrived != mask) {
    me.state = kAtWarpOp;
    me.file = file;
    me.line = line;
    yield_thread();
    return me.result;
  }

  // Last lane: compute every lane's result, release the others.
  const int base = t - lane;
  if (op->collective) {
    void* args[32];
    for (int j = 0; j < 32; ++j) args[j] = reinterpret_cast<void*>(uintptr_t(op->val[j]));
    op->collective(args);
  }
  uint64_t common = 0;
  switch (kind) {
    case kVoteAny:
    case kVoteAll:
    case kVoteBallot: {
      unsigned ballot = 0;
      for (int j = 0; j < 32; ++j)
        if ((mask >> j & 1u) && op->val[j]) ballot |= 1u << j;
      common = kind == kVoteBallot ? ballot : kind == kVoteAny ? (ballot != 0) : (ballot == mask);
      break;
    }
    case kReduceAdd:
    case kReduceMin:
    case kReduceMax: {
      uint32_t acc = kind == kReduceMin ? 0xFFFFFFFFu : 0u;
      for (int j = 0; j < 32; ++j) {
        if (!(mask >> j & 1u)) continue;
        const uint32_t v = uint32_t(op->val[j]);
        acc = kind == kReduceAdd ? acc + v : kind == kReduceMin ? std::min(acc, v) : std::max(acc, v);
      }
      common = acc;
      break;
    }
    default: break;
  }
  const bool shfl = kind == kShflIdx || kind == kShflUp || kind == kShflDown || kind == kShflXor;
  for (int j = 0; j < 32; ++j) {
    if (!(mask >> j & 1u)) continue;
    uint64_t res = common;
    if (shfl) {
      const int wd = op->width;
      const int p = op->param[j];
      int src = j;
      if (kind == kShflIdx) {
        src = (j & ~(wd - 1)) | (p & (wd - 1));
      } else if (kind == kShflUp) {
        if (unsigned(p) <= unsigned(j & (wd - 1))) src = j - p;
      } else if (kind == kShflDown) {
        if (unsigned(j & (wd - 1)) + unsigned(p) < unsigned(wd)) src = j + p;
      } else {
        const unsigned s = unsigned(j) ^ unsigned(p);
        if (s < unsigned((j / wd + 1) * wd)) src = int(s);
      }
      // Reading a lane that does not take part gives an undefined value on the GPU: all ones here
      // (NaN as a float), so that using it shows up.
      res = (mask >> src & 1u) ? op->val[src] : ~uint64_t(0);
    }
    ThreadRec& tj = r.th[size_t(base + j)];
    tj.result = res;
    if (tj.state == kAtWarpOp) tj.state = kReady;
  }
  const uint64_t mine = me.result;
  *op = w.ops.back();
  w.ops.pop_back();
  return mine;
}
}  // namespace

void run_launch(const LaunchDesc& d) {
  if (t_in_launch)
    fatal("kernel %s launched from device code (dynamic parallelism is not emulated)", d.name ? d.name : "?");
  if (!valid_stream(d.stream)) {
    record(cudaErrorInvalidResourceHandle);
    return;
  }
  const dim3 g = d.grid, b = d.block;
  const uint64_t nthreads = uint64_t(b.x) * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 || nthreads > uint64_t(kMaxThreads) ||
      g.x == 0 || g.y == 0 || g.z == 0 || g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    record(cudaErrorInvalidConfiguration);
    return;
  }
  size_t limit = kSmemPerBlock;
  {
    std::lock_guard<std::mutex> lock(g_obj_mu);
    auto it = func_smem_limits().find(d.func);
    if (it != func_smem_limits().end()) limit = std::max(limit, size_t(it->second));
  }
  if (d.smem > limit) {
    record(cudaErrorInvalidValue);
    return;
  }

  std::lock_guard<std::mutex> lock(g_launch_mu);
  t_in_launch = true;
  ++g_stat_launches;
  Runner r;
  r.d = &d;
  r.nthreads = int(nthreads);
  r.reverse = reverse_order();
  r.th.resize(size_t(nthreads));
  for (unsigned z = 0, t = 0; z < b.z; ++z)
    for (unsigned y = 0; y < b.y; ++y)
      for (unsigned x = 0; x < b.x; ++x, ++t) r.th[t].idx = uint3{x, y, z};
  r.warps.resize((size_t(nthreads) + 31) / 32);
  for (size_t w = 0; w < r.warps.size(); ++w) {
    const size_t lanes = std::min<size_t>(32, size_t(nthreads) - w * 32);
    r.warps[w].exists = lanes == 32 ? 0xFFFFFFFFu : ((1u << lanes) - 1u);
  }
  void* dyn_mem = nullptr;
  if (posix_memalign(&dyn_mem, 128, d.smem ? d.smem : 1) != 0) fatal("out of host memory for shared memory");
  std::unique_ptr<char, void (*)(void*)> dyn(static_cast<char*>(dyn_mem), std::free);
  r.dyn = dyn.get();
  Runner* prev = g_run;
  void* prev_dyn = g_dynamic_smem;
  const Builtins prev_builtins = g_builtins;
  g_run = &r;
  g_dynamic_smem = r.dyn;
  g_builtins.block_dim = b;
  g_builtins.grid_dim = g;
  r.fibers.resize(size_t(nthreads));
  for (size_t t = 0; t < size_t(nthreads); ++t) r.fibers[t] = t_pool.get(t);
#if ST_EMU_ASAN
  {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    g_sched_bottom = addr;
    g_sched_size = size;
  }
#endif
  for (unsigned z = 0; z < g.z; ++z)
    for (unsigned y = 0; y < g.y; ++y)
      for (unsigned x = 0; x < g.x; ++x) {
        r.block = uint3{x, y, z};
        run_block(r);
      }
  g_stat_blocks += uint64_t(g.x) * g.y * g.z;
  g_stat_threads += uint64_t(g.x) * g.y * g.z * nthreads;
  g_run = prev;
  g_dynamic_smem = prev_dyn;
  g_builtins = prev_builtins;
  t_in_launch = false;
}

}  // namespace detail
}  // namespace st_emu
