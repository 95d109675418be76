// Self-test of the CUDA emulator (native/cuda/emu): built by scripts/build-cuda-emu.js into
// build-cuda-emu/emu_selftest, run by test/cuda-emu.test.ts.
//
//   emu_selftest           positive checks: device queries, barrier ordering, shared memory (static
//                          and dynamic), warp shuffles and votes, block reductions, atomics, launch
//                          configuration errors, memory API errors, wmma tf32 / bf16 against host
//                          references. Prints "emu_selftest: all N checks passed" and exits 0.
//   emu_selftest <case>    runs one deliberately broken kernel; the emulator must abort with a
//                          report (the test runs these as child processes and expects failure):
//                          divergent-barrier, shfl-exited, warp-divergence, deadlock, not-in-mask,
//                          wmma-misaligned, oob-global, oob-dynamic-smem (the last two are found
//                          by AddressSanitizer, so only in a sanitized build).
//
// Only compiled for the emulator (it uses st_emu:: helpers); with nvcc it is not built.
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/tests/check.cuh"

namespace wmma = nvcuda::wmma;

namespace {

template <class T>
T* dalloc(size_t n) {
  void* p = nullptr;
  CU(cudaMalloc(&p, n * sizeof(T)));
  return static_cast<T*>(p);
}
template <class T>
std::vector<T> fetch(const T* d, size_t n) {
  std::vector<T> h(n);
  CU(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}
template <class T>
T* upload(const std::vector<T>& h) {
  T* d = dalloc<T>(h.size());
  CU(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

// ---- kernels ------------------------------------------------------------------------------------

// Several barrier-separated phases over a 2-D block: out[block][t] = what thread t saw of its
// neighbour's phase-3 value (written by another thread before the barrier).
__global__ void barrier_phases(int* out) {
  __shared__ int s[256];
  const int n = blockDim.x * blockDim.y;
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  int v = 0;
  for (int phase = 1; phase <= 3; ++phase) {
    s[t] = (t + 1) * phase + int(blockIdx.x) * 1000;
    __syncthreads();
    v = s[(t + 1) % n];
    __syncthreads();  // nobody overwrites s before everybody has read it
  }
  out[blockIdx.x * n + t] = v;
}

// Static and dynamic shared memory: block sums through both, plus the first dynamic word as it
// was before any write (the emulator fills dynamic shared memory with 0xFF bytes per block).
__global__ void shared_sums(const int* in, int* sums, unsigned* first_word) {
  __shared__ int part[128];
  ST_DYNAMIC_SMEM(int, dyn);
  const int t = threadIdx.x;
  if (t == 0) first_word[blockIdx.x] = unsigned(dyn[0]);
  __syncthreads();
  part[t] = in[blockIdx.x * blockDim.x + t];
  dyn[t] = 2 * part[t];
  __syncthreads();
  if (t == 0) {
    int a = 0, b = 0;
    for (int i = 0; i < int(blockDim.x); ++i) {
      a += part[i];
      b += dyn[i];
    }
    sums[2 * blockIdx.x] = a;
    sums[2 * blockIdx.x + 1] = b;
  }
}

// Warp-level operations; out has 16 ints per thread.
__global__ void warp_ops(const float* in, float* fout, int* iout) {
  const int t = threadIdx.x, lane = t & 31;
  const float x = in[t];
  float s = x;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  fout[t * 8 + 0] = s;                                        // warp sum (every lane)
  fout[t * 8 + 1] = __shfl_down_sync(0xffffffffu, x, 3);      // in[t+3] or own
  fout[t * 8 + 2] = __shfl_up_sync(0xffffffffu, x, 2, 16);    // in[t-2] within 16-lane halves
  fout[t * 8 + 3] = __shfl_sync(0xffffffffu, x, 5, 8);        // lane 5 of each 8-lane group
  fout[t * 8 + 4] = __shfl_xor_sync(0xffffffffu, x, 1, 4);    // neighbour within groups of 4
  // divergent halves, each with its own mask (legal on Volta+)
  float h;
  if (lane < 16)
    h = __shfl_xor_sync(0x0000ffffu, x, 8);
  else
    h = __shfl_xor_sync(0xffff0000u, x, 8);
  fout[t * 8 + 5] = h;
  // a source lane outside the mask gives an undefined value: NaN in the emulator
  float u = 0.0f;
  if (lane < 8) u = __shfl_down_sync(0x000000ffu, x, 4);
  fout[t * 8 + 6] = u;
  fout[t * 8 + 7] = __shfl_sync(0xffffffffu, x, 0) + __shfl_sync(0xffffffffu, x, 31);
  iout[t * 8 + 0] = int(__ballot_sync(0xffffffffu, (lane % 3) == 0));
  iout[t * 8 + 1] = __any_sync(0xffffffffu, lane == 7 && (t >> 5) == 1);
  iout[t * 8 + 2] = __all_sync(0xffffffffu, lane < 32);
  iout[t * 8 + 3] = __all_sync(0xffffffffu, lane != 4);
  iout[t * 8 + 4] = __syncthreads_count(t % 5 == 0);
  iout[t * 8 + 5] = __syncthreads_and(t < 1000);
  iout[t * 8 + 6] = __syncthreads_or(t == 63);
  __syncwarp();
  iout[t * 8 + 7] = int(__reduce_add_sync(0xffffffffu, unsigned(lane)));
}

// Whole warps leave early (as warp-per-row kernels do); the others use shuffles and a barrier,
// which waits only for the threads that have not exited.
__global__ void early_exit(int* out, int rows) {
  const int row = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (row >= rows) return;
  int v = lane;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) out[row] = v;
}

__global__ void atomics(int* out) {
  __shared__ int count;
  __shared__ unsigned mx;
  if (threadIdx.x == 0) {
    count = 0;
    mx = 0;
  }
  __syncthreads();
  atomicAdd(&count, 1);
  atomicMax(&mx, threadIdx.x * 7u % 101u);
  __syncthreads();
  if (threadIdx.x == 0) {
    out[0] = count;
    out[1] = int(mx);
    atomicAdd(out + 2, 5);
  }
}

__global__ void noop(int*) {}

// One warp per 16x16 output tile of C (M x N) = A (M x K, row-major) · B (K x N, row-major or,
// with B_COL, stored (N x K) row-major = col_major K x N), tf32 inputs, fp32 accumulation.
template <bool B_COL>
__global__ void wmma_tf32_gemm(const float* A, const float* B, float* C, int M, int N, int K) {
  const int warp = threadIdx.x >> 5;
  const int tiles_n = N / 16;
  const int tm = (blockIdx.x * (blockDim.x >> 5) + warp) / tiles_n;
  const int tn = (blockIdx.x * (blockDim.x >> 5) + warp) % tiles_n;
  if (tm * 16 >= M) return;
  using BL = typename std::conditional<B_COL, wmma::col_major, wmma::row_major>::type;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int k = 0; k < K; k += 8) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, BL> b;
    wmma::load_matrix_sync(a, A + tm * 16 * K + k, K);
    wmma::load_matrix_sync(b, B_COL ? B + tn * 16 * K + k : B + k * N + tn * 16, B_COL ? K : N);
    wmma::mma_sync(acc, a, b, acc);
  }
  wmma::store_matrix_sync(C + tm * 16 * N + tn * 16, acc, N, wmma::mem_row_major);
}

// Rounds A to tf32 with __float_to_tf32 (elementwise over a fragment), one 16x16x8 product, C
// stored column-major.
__global__ void wmma_tf32_round(const float* A, const float* B, float* C) {
  wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::load_matrix_sync(a, A, 16);  // A stored col-major (16 x 8, ld 16)
  for (int i = 0; i < a.num_elements; ++i) a.x[i] = wmma::__float_to_tf32(a.x[i]);
  wmma::load_matrix_sync(b, B, 16);
  wmma::load_matrix_sync(acc, C, 16, wmma::mem_col_major);
  wmma::mma_sync(acc, a, b, acc);
  wmma::store_matrix_sync(C, acc, 16, wmma::mem_col_major);
}

__global__ void wmma_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 1.0f);
  wmma::load_matrix_sync(a, A, 16);
  wmma::load_matrix_sync(b, B, 16);
  wmma::mma_sync(acc, a, b, acc);
  wmma::store_matrix_sync(C, acc, 16, wmma::mem_row_major);
}

// ---- deliberately broken kernels (each must make the emulator abort with a report) ---------------

__global__ void bad_divergent_barrier(int* out) {
  if (threadIdx.x < 16) {
    out[threadIdx.x] = 1;
    __syncthreads();
  } else {
    __syncthreads();
    out[threadIdx.x] = 2;
  }
}
__global__ void bad_shfl_exited(float* out) {
  if ((threadIdx.x & 31) == 31) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}
__global__ void bad_warp_divergence(int* out) {
  const int lane = threadIdx.x & 31;
  if (lane < 16)
    out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
  else
    out[lane] = int(__ballot_sync(0xffffffffu, 1));
}
__global__ void bad_deadlock(int* out) {
  const int lane = threadIdx.x & 31;
  if (lane == 0) __syncwarp();  // waits for lanes 1..31, which wait at the barrier below
  __syncthreads();
  if (lane != 0) __syncwarp();
  out[threadIdx.x] = lane;
}
__global__ void bad_not_in_mask(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 1);  // lanes 16..31 are not in the mask
}
__global__ void bad_wmma_misaligned(const float* A, float* C) {
  wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
  wmma::load_matrix_sync(a, A + 1, 8);
  C[threadIdx.x] = a.x[0];
}
__global__ void bad_oob_global(float* p, int n) {
  if (threadIdx.x == 0) p[n] = 1.0f;  // one past the end of the allocation
}
__global__ void bad_oob_dynamic_smem(float* out) {
  ST_DYNAMIC_SMEM(float, s);
  s[threadIdx.x] = 1.0f;  // launched with room for blockDim.x - 1 floats
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

int run_broken(const std::string& which) {
  float* f = dalloc<float>(1024);
  int* i = dalloc<int>(1024);
  if (which == "divergent-barrier")
    ST_LAUNCH(1, 64, 0, 0, bad_divergent_barrier)(i);
  else if (which == "shfl-exited")
    ST_LAUNCH(1, 64, 0, 0, bad_shfl_exited)(f);
  else if (which == "warp-divergence")
    ST_LAUNCH(1, 32, 0, 0, bad_warp_divergence)(i);
  else if (which == "deadlock")
    ST_LAUNCH(1, 64, 0, 0, bad_deadlock)(i);
  else if (which == "not-in-mask")
    ST_LAUNCH(1, 32, 0, 0, bad_not_in_mask)(f);
  else if (which == "wmma-misaligned")
    ST_LAUNCH(1, 32, 0, 0, bad_wmma_misaligned)(f, f);
  else if (which == "oob-global")
    ST_LAUNCH(1, 32, 0, 0, bad_oob_global)(f, 1024);
  else if (which == "oob-dynamic-smem")
    ST_LAUNCH(1, 32, 31 * sizeof(float), 0, bad_oob_dynamic_smem)(f);
  else {
    std::printf("unknown case %s\n", which.c_str());
    return 2;
  }
  std::printf("emu_selftest: %s was NOT reported (last error %s)\n", which.c_str(), cudaGetErrorName(cudaGetLastError()));
  return 0;
}

// ---- checks ---------------------------------------------------------------------------------------

void check_device() {
  std::printf("device\n");
  int n = 0;
  CU(cudaGetDeviceCount(&n));
  EXPECT(n == 1, "device count %d", n);
  cudaDeviceProp p;
  CU(cudaGetDeviceProperties(&p, 0));
  EXPECT(std::strcmp(p.name, "CUDA emulator (CPU)") == 0, "name %s", p.name);
  EXPECT(p.warpSize == 32 && p.maxThreadsPerBlock == 1024, "warpSize %d maxThreads %d", p.warpSize, p.maxThreadsPerBlock);
  int v = 0;
  CU(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  EXPECT(v == 227 * 1024, "smem opt-in %d", v);
  CU(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0));
  EXPECT(v >= 1, "SMs %d", v);
  EXPECT(cudaSetDevice(1) == cudaErrorInvalidDevice, "cudaSetDevice(1) should fail");
  EXPECT(cudaGetLastError() == cudaErrorInvalidDevice, "last error after cudaSetDevice(1)");
  EXPECT(cudaGetLastError() == cudaSuccess, "cudaGetLastError resets");
}

void check_barriers() {
  std::printf("barrier ordering\n");
  const int blocks = 3, n = 16 * 8;
  int* d = dalloc<int>(blocks * n);
  ST_LAUNCH(blocks, dim3(16, 8), 0, 0, barrier_phases)(d);
  CU(cudaGetLastError());
  auto h = fetch(d, blocks * n);
  bool ok = true;
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < n; ++t) ok = ok && h[b * n + t] == ((t + 1) % n + 1) * 3 + b * 1000;
  EXPECT(ok, "a thread did not see its neighbour's write after __syncthreads");
  CU(cudaFree(d));
}

void check_shared() {
  std::printf("shared memory (static, dynamic)\n");
  const int blocks = 4, n = 128;
  std::vector<int> in(blocks * n);
  for (int i = 0; i < blocks * n; ++i) in[i] = i % 37 - 11;
  int* din = upload(in);
  int* sums = dalloc<int>(2 * blocks);
  unsigned* first = dalloc<unsigned>(blocks);
  ST_LAUNCH(blocks, n, n * sizeof(int), 0, shared_sums)(din, sums, first);
  CU(cudaGetLastError());
  auto hs = fetch(sums, 2 * blocks);
  auto hf = fetch(first, blocks);
  for (int b = 0; b < blocks; ++b) {
    int ref = 0;
    for (int t = 0; t < n; ++t) ref += in[b * n + t];
    EXPECT(hs[2 * b] == ref && hs[2 * b + 1] == 2 * ref, "block %d sums %d %d, expected %d %d", b, hs[2 * b],
           hs[2 * b + 1], ref, 2 * ref);
    EXPECT(hf[b] == 0xFFFFFFFFu, "block %d: dynamic shared memory not refilled (first word 0x%08x)", b, hf[b]);
  }
  CU(cudaFree(din));
  CU(cudaFree(sums));
  CU(cudaFree(first));
}

void check_warp_ops() {
  std::printf("warp shuffles, votes, block reductions\n");
  const int n = 96;  // 3 warps
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = float(i * 3 % 17) - 4.0f;
  float* din = upload(in);
  float* fo = dalloc<float>(n * 8);
  int* io = dalloc<int>(n * 8);
  ST_LAUNCH(1, n, 0, 0, warp_ops)(din, fo, io);
  CU(cudaGetLastError());
  auto f = fetch(fo, n * 8);
  auto iv = fetch(io, n * 8);
  int bad = 0;
  for (int t = 0; t < n; ++t) {
    const int lane = t & 31, w0 = t - lane;
    float ws = 0;
    for (int l = 0; l < 32; ++l) ws += in[w0 + l];
    const float down = lane + 3 < 32 ? in[t + 3] : in[t];
    const float up = (lane % 16) >= 2 ? in[t - 2] : in[t];
    const float idx = in[w0 + (lane & ~7) + 5];
    const float x4 = in[w0 + (lane ^ 1)];
    const float h = in[w0 + (lane ^ 8)];
    const bool u_nan = lane >= 4 && lane < 8;  // lanes 4..7 read lanes 8..11, outside mask 0xff
    const float u = lane < 4 ? in[t + 4] : 0.0f;
    unsigned ballot = 0;
    for (int l = 0; l < 32; ++l)
      if (l % 3 == 0) ballot |= 1u << l;
    int cnt = 0;
    for (int j = 0; j < n; ++j) cnt += j % 5 == 0;
    bad += f[t * 8 + 0] != ws;
    bad += f[t * 8 + 1] != down;
    bad += f[t * 8 + 2] != up;
    bad += f[t * 8 + 3] != idx;
    bad += f[t * 8 + 4] != x4;
    bad += f[t * 8 + 5] != h;
    bad += u_nan ? !std::isnan(f[t * 8 + 6]) : f[t * 8 + 6] != u;
    bad += f[t * 8 + 7] != in[w0] + in[w0 + 31];
    bad += unsigned(iv[t * 8 + 0]) != ballot;
    bad += iv[t * 8 + 1] != (t >> 5 == 1 ? 1 : 0);
    bad += iv[t * 8 + 2] != 1;
    bad += iv[t * 8 + 3] != 0;
    bad += iv[t * 8 + 4] != cnt;
    bad += iv[t * 8 + 5] != 1;
    bad += iv[t * 8 + 6] != 1;
    bad += iv[t * 8 + 7] != 496;
    if (bad && t < 40) {
      std::printf("  thread %d: %g %g %g %g %g %g %g %g | %d %d %d %d %d %d %d %d\n", t, f[t * 8], f[t * 8 + 1],
                  f[t * 8 + 2], f[t * 8 + 3], f[t * 8 + 4], f[t * 8 + 5], f[t * 8 + 6], f[t * 8 + 7], iv[t * 8],
                  iv[t * 8 + 1], iv[t * 8 + 2], iv[t * 8 + 3], iv[t * 8 + 4], iv[t * 8 + 5], iv[t * 8 + 6],
                  iv[t * 8 + 7]);
      break;
    }
  }
  EXPECT(bad == 0, "%d wrong warp-operation results", bad);
  CU(cudaFree(din));
  CU(cudaFree(fo));
  CU(cudaFree(io));

  int* rows = dalloc<int>(8);
  CU(cudaMemset(rows, 0, 8 * sizeof(int)));
  ST_LAUNCH(1, 256, 0, 0, early_exit)(rows, 5);
  CU(cudaGetLastError());
  auto r = fetch(rows, 8);
  EXPECT(r[0] == 496 && r[4] == 496 && r[5] == 0, "early-exit rows %d %d %d", r[0], r[4], r[5]);
  CU(cudaFree(rows));

  int* a = dalloc<int>(3);
  CU(cudaMemset(a, 0, 3 * sizeof(int)));
  ST_LAUNCH(2, 200, 0, 0, atomics)(a);
  CU(cudaGetLastError());
  auto ha = fetch(a, 3);
  EXPECT(ha[0] == 200 && ha[1] == 100 && ha[2] == 10, "atomics %d %d %d", ha[0], ha[1], ha[2]);
  CU(cudaFree(a));
}

void check_launch_errors() {
  std::printf("launch configuration errors\n");
  int* d = dalloc<int>(4);
  CU(cudaGetLastError());
  ST_LAUNCH(1, 1025, 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "1025 threads per block accepted");
  ST_LAUNCH(1, dim3(512, 4), 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads per block accepted");
  ST_LAUNCH(1, dim3(1, 1, 65), 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "blockDim.z 65 accepted");
  ST_LAUNCH(dim3(1, 65536), 32, 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "gridDim.y 65536 accepted");
  ST_LAUNCH(0, 32, 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "empty grid accepted");
  ST_LAUNCH(1, 32, 48 * 1024 + 1, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidValue, "48 KiB + 1 of dynamic shared memory accepted without opt-in");
  ST_LAUNCH(1, 32, 48 * 1024, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaSuccess, "48 KiB of dynamic shared memory refused");
  EXPECT(cudaFuncSetAttribute(noop, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024 + 1) == cudaErrorInvalidValue,
         "opt-in above 227 KiB accepted");
  (void)cudaGetLastError();
  CU(cudaFuncSetAttribute(noop, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024));
  ST_LAUNCH(1, 32, 100 * 1024, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaSuccess, "100 KiB refused after opt-in");
  ST_LAUNCH(1, 32, 100 * 1024 + 1, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaErrorInvalidValue, "more than the opt-in accepted");
  ST_LAUNCH(dim3(2, 2, 2), dim3(4, 4, 4), 0, 0, noop)(d);
  EXPECT(cudaGetLastError() == cudaSuccess, "a 3-D launch failed");
  cudaStream_t s;
  CU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ST_LAUNCH(1, 32, 0, s, noop)(d);
  EXPECT(cudaGetLastError() == cudaSuccess, "launch on a stream failed");
  CU(cudaStreamDestroy(s));
  CU(cudaFree(d));
}

void check_memory_api() {
  std::printf("memory API\n");
  const size_t base = st_emu::live_allocations();
  float* d = dalloc<float>(10);
  auto h = fetch(d, 10);
  uint32_t bits;
  std::memcpy(&bits, &h[3], 4);
  EXPECT(bits == 0xFFFFFFFFu, "fresh device memory is 0x%08x, expected the 0xFF fill", bits);
  std::vector<float> big(11);
  EXPECT(cudaMemcpy(d, big.data(), 11 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
         "copy past the end of an allocation accepted");
  EXPECT(cudaMemcpy(big.data(), d + 5, 6 * sizeof(float), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
         "copy from past the end accepted");
  EXPECT(cudaMemset(d + 1, 0, 10 * sizeof(float)) == cudaErrorInvalidValue, "memset past the end accepted");
  EXPECT(cudaFree(d + 1) == cudaErrorInvalidValue, "cudaFree of an interior pointer accepted");
  (void)cudaGetLastError();
  CU(cudaMemcpy(d + 2, big.data(), 8 * sizeof(float), cudaMemcpyHostToDevice));
  CU(cudaMemsetAsync(d, 0, 10 * sizeof(float), 0));
  EXPECT(st_emu::live_allocations() == base + 1, "live allocations %zu", st_emu::live_allocations());
  CU(cudaFree(d));
  EXPECT(st_emu::live_allocations() == base, "allocation not released");
  void* p = reinterpret_cast<void*>(1);
  EXPECT(cudaMalloc(&p, size_t(64) << 30) == cudaErrorMemoryAllocation && p == nullptr, "64 GiB allocation accepted");
  (void)cudaGetLastError();
}

float tf32_trunc(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u &= 0xFFFFE000u;
  std::memcpy(&v, &u, 4);
  return v;
}

void check_wmma() {
  std::printf("wmma tf32 / bf16\n");
  // __float_to_tf32: nearest, ties away from zero, 10 mantissa bits.
  EXPECT(wmma::__float_to_tf32(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f, "tie not rounded away from zero");
  EXPECT(wmma::__float_to_tf32(-(1.0f + 0x1p-11f)) == -(1.0f + 0x1p-10f), "negative tie");
  EXPECT(wmma::__float_to_tf32(1.0f + 0x1p-12f) == 1.0f, "below half an ulp not rounded down");
  EXPECT(wmma::__float_to_tf32(1.0f + 0x1p-11f + 0x1p-20f) == 1.0f + 0x1p-10f, "above half an ulp");
  EXPECT(std::isinf(wmma::__float_to_tf32(INFINITY)), "inf");

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int b_col = 0; b_col < 2; ++b_col) {
    const int M = 48, N = 32, K = 40;
    std::vector<float> A(M * K), B(K * N), Bt(N * K);
    for (auto& x : A) x = dist(rng);
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) Bt[n * K + k] = B[k * N + n] = dist(rng);
    float* dA = upload(A);
    float* dB = upload(b_col ? Bt : B);
    float* dC = dalloc<float>(M * N);
    const int warps = (M / 16) * (N / 16);
    if (b_col)
      ST_LAUNCH(warps / 2, 64, 0, 0, wmma_tf32_gemm<true>)(dA, dB, dC, M, N, K);
    else
      ST_LAUNCH(warps / 2, 64, 0, 0, wmma_tf32_gemm<false>)(dA, dB, dC, M, N, K);
    CU(cudaGetLastError());
    auto C = fetch(dC, M * N);
    double max_err_trunc = 0, max_err_exact = 0, max_ref = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double t = 0, e = 0;  // tf32-truncated inputs / exact inputs, double accumulation
        for (int k = 0; k < K; ++k) {
          t += double(tf32_trunc(A[i * K + k])) * double(tf32_trunc(B[k * N + j]));
          e += double(A[i * K + k]) * double(B[k * N + j]);
        }
        max_err_trunc = std::max(max_err_trunc, std::fabs(C[i * N + j] - t));
        max_err_exact = std::max(max_err_exact, std::fabs(C[i * N + j] - e));
        max_ref = std::max(max_ref, std::fabs(e));
      }
    // fp32 accumulation of exact tf32 products: ~K ulps of the sums at most.
    EXPECT(max_err_trunc <= 1e-5 * max_ref, "tf32 GEMM (B %s) vs truncated-input reference: %g",
           b_col ? "col_major" : "row_major", max_err_trunc);
    // ...and the inputs really were truncated: the error against exact inputs is tf32-sized.
    EXPECT(max_err_exact > 1e-5 * max_ref && max_err_exact < 5e-3 * max_ref,
           "tf32 GEMM vs exact-input reference: %g (max %g): inputs not treated as tf32?", max_err_exact, max_ref);
    CU(cudaFree(dA));
    CU(cudaFree(dB));
    CU(cudaFree(dC));
  }

  {  // elementwise __float_to_tf32 over a fragment, col-major A and C; exact expectations
    std::vector<float> A(16 * 8), B(8 * 16), C(16 * 16);
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < 8; ++k) A[k * 16 + r] = 1.0f + float(r + k) * 0x1p-11f;  // col-major
    for (int k = 0; k < 8; ++k)
      for (int n = 0; n < 16; ++n) B[k * 16 + n] = float((k + n) % 3);
    for (int i = 0; i < 256; ++i) C[i] = float(i % 7);
    float* dA = upload(A);
    float* dB = upload(B);
    float* dC = upload(C);
    ST_LAUNCH(1, 32, 0, 0, wmma_tf32_round)(dA, dB, dC);
    CU(cudaGetLastError());
    auto R = fetch(dC, 256);
    int bad = 0;
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n) {
        float acc = C[n * 16 + m];
        for (int k = 0; k < 8; ++k) acc += wmma::__float_to_tf32(A[k * 16 + m]) * B[k * 16 + n];
        bad += R[n * 16 + m] != acc;
      }
    EXPECT(bad == 0, "%d elements differ in the rounded tf32 product", bad);
    CU(cudaFree(dA));
    CU(cudaFree(dB));
    CU(cudaFree(dC));
  }

  {  // bf16 m16n16k16, exactly representable data
    std::vector<__nv_bfloat16> A(256), Bt(256);
    for (int i = 0; i < 256; ++i) {
      A[i] = __float2bfloat16(float(i % 9) - 4.0f);
      Bt[i] = __float2bfloat16(float(i % 5) * 0.5f);
    }
    __nv_bfloat16* dA = upload(A);
    __nv_bfloat16* dB = upload(Bt);
    float* dC = dalloc<float>(256);
    ST_LAUNCH(1, 32, 0, 0, wmma_bf16)(dA, dB, dC);
    CU(cudaGetLastError());
    auto R = fetch(dC, 256);
    int bad = 0;
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n) {
        float acc = 1.0f;
        for (int k = 0; k < 16; ++k) acc += float(A[m * 16 + k]) * float(Bt[n * 16 + k]);
        bad += R[m * 16 + n] != acc;
      }
    EXPECT(bad == 0, "%d elements differ in the bf16 product", bad);
    EXPECT(float(__float2bfloat16(1.0f + 0x1p-8f)) == 1.0f && float(__float2bfloat16(1.0f + 0x1p-8f + 0x1p-12f)) ==
                                                                     1.0f + 0x1p-7f,
           "bf16 rounding");
    CU(cudaFree(dA));
    CU(cudaFree(dB));
    CU(cudaFree(dC));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) return run_broken(argv[1]);
  check_device();
  check_barriers();
  check_shared();
  check_warp_ops();
  check_launch_errors();
  check_memory_api();
  check_wmma();
  if (g_failures) {
    std::printf("emu_selftest: %d of %d checks FAILED\n", g_failures, g_checks);
    return 1;
  }
  std::printf("emu_selftest: all %d checks passed\n", g_checks);
  return 0;
}
