// synthtune CPU backend: internal header shared by native/cpu/*.cc (never included by addon.cc).
//
// What is here and why:
//   1. ThreadPool: a small persistent pool of std::threads with a blocking parallel_for over a
//      range of task ids. Kernels (sgemm, topk_ip) split their work into tasks and call it.
//      Persistent threads because the kernels are called many times per second (one GEMM per
//      layer per step) and spawning threads each time costs tens of microseconds.
//   2. SIMD level enum + the packed-panel GEMM building blocks (packing routines and the
//      register-blocked micro-kernels, one per SIMD level). matmul.cc defines them and uses them
//      for sgemm; topk.cc reuses the very same micro-kernels for its fused score+select scan.
//
// Shape letters: see native/kernels.h (M, N, K for GEMM; Q, N, D, k for top-k).
// Micro-kernel vocabulary (BLIS/GotoBLAS style):
//   MR x NR  register tile of C computed by one micro-kernel call
//   Ap       packed A micro-panel: kc steps of MR consecutive floats (A[i][p] for i < MR)
//   Bp       packed B micro-panel: kc steps of NR consecutive floats (B[p][j] for j < NR)
// Packed panels are zero-padded to full MR / NR, so a micro-kernel never reads past them.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace st {
namespace cpu {

// ---- thread pool ----------------------------------------------------------------------------
class ThreadPool {
 public:
  // fn(task, worker): task in [0, n_tasks), worker in [0, used_threads) -- a dense id the caller
  // can use to index per-thread scratch. The calling thread takes part as worker 0.
  using TaskFn = std::function<void(int64_t task, int worker)>;

  static ThreadPool& global();

  // Threads used by default (SYNTHTUNE_THREADS, else std::thread::hardware_concurrency()).
  int default_threads() const { return default_threads_; }

  // threads <= 0 -> default. Returns how many workers parallel_for(n_tasks, threads) will use,
  // so a caller can size per-worker scratch before the call.
  int workers_for(int64_t n_tasks, int threads) const;

  // Runs fn for every task id, blocks until all are done. Tasks are handed out dynamically
  // (atomic counter), so unequal task costs balance themselves. Safe to call from several
  // threads at once (jobs are serialised by a mutex). A call made from inside a task runs
  // serially on the calling thread (no deadlock, worker id 0). The first exception thrown by a
  // task is rethrown to the caller after all workers have stopped.
  void parallel_for(int64_t n_tasks, int threads, const TaskFn& fn);

  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

 private:
  ThreadPool();
  void grow(int n_workers);  // make sure n_workers background threads exist (job_mu_ held)

  int default_threads_ = 1;
  std::mutex job_mu_;  // one job at a time
  std::mutex mu_;      // guards the fields below
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;  // background workers have ids 1..workers_.size()
  bool stop_ = false;
  uint64_t generation_ = 0;   // bumped for every job
  const TaskFn* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  int active_ = 0;            // workers with id < active_ take part in the current job
  int pending_ = 0;           // background workers still busy with the current job
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
};

// Convenience wrapper around ThreadPool::global().parallel_for.
inline void parallel_for(int64_t n_tasks, int threads, const ThreadPool::TaskFn& fn) {
  ThreadPool::global().parallel_for(n_tasks, threads, fn);
}

// ---- SIMD level -----------------------------------------------------------------------------
enum SimdLevel : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
SimdLevel simd_level();           // detected level, lowered by SYNTHTUNE_SIMD (cached)
SimdLevel simd_level_detected();  // what the CPU supports, ignoring the environment
const char* simd_level_name(SimdLevel level);
bool has_avx512_bf16();           // avx512 level (after SYNTHTUNE_SIMD) and AVX512_BF16

// ---- packed GEMM building blocks (defined in matmul.cc) ---------------------------------------
// C[0:MR, 0:NR] (row stride ldc) = alpha * sum_p Ap[p*MR + i] * Bp[p*NR + j] + beta * C
// beta == 0: C is write-only. Always computes the full MR x NR tile.
using MicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                             float alpha, float beta);
struct GemmKernel {
  SimdLevel level;
  int mr, nr;
  MicroKernel ukr;
};
// Kernel for a level; a level the binary cannot run (non-x86 build) falls back to scalar.
const GemmKernel& gemm_kernel(SimdLevel level);

// Pack rows [0, m) x cols [0, kc) of a row-major matrix X (row stride ldx) into ceil(m/mr)
// micro-panels of kc*mr floats (zero-padded rows). Used for A, and for B when trans_b (B^T's
// columns are B's rows).
void pack_rows(const float* X, int64_t ldx, int64_t m, int64_t kc, int mr, float* dst);
// Pack rows [0, kc) x cols [0, n) of a row-major matrix X (row stride ldx) into ceil(n/nr)
// micro-panels of kc*nr floats (zero-padded columns). Used for B when !trans_b.
void pack_cols(const float* X, int64_t ldx, int64_t kc, int64_t n, int nr, float* dst);

// sgemm at an explicit SIMD level (the public st::sgemm uses simd_level()). For tests/benches.
// trans_a: A stored (K, M) (op(A) = A^T), packed like B's columns; no transposed copy is made.
void sgemm_at(SimdLevel level, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
              float alpha, const float* A, const float* B, float beta, float* C, int threads,
              bool trans_a = false);
// Plain triple loop, float accumulation: the reference path, used for tiny problems.
void sgemm_naive(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, bool trans_a = false);

// sum_i x[i]·y[i], i < n (AVX-512: two vector accumulators; scalar below that level).
float dot_f32(const float* x, const float* y, int64_t n);

// topk_ip at an explicit SIMD level (defined in topk.cc). For tests/benches.
void topk_ip_at(SimdLevel level, const float* queries, int64_t Q, const float* corpus, int64_t N,
                int64_t D, int64_t k, const int32_t* excl_offsets, const int32_t* excl_ids,
                int32_t* out_idx, float* out_scores, int threads);

// ---- 64-byte aligned scratch buffer (grows, never shrinks) ----------------------------------
class AlignedBuf {
 public:
  AlignedBuf() = default;
  ~AlignedBuf();
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  float* ensure(size_t n_floats);  // throws std::bad_alloc
  float* data() { return p_; }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace cpu
}  // namespace st
