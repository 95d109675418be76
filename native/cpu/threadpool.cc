// synthtune CPU backend: persistent thread pool (see threadpool.h) and the aligned scratch
// buffer used by the kernels.
//
// Design: one job at a time (job_mu_). A job is "run fn(task, worker) for task in
// [0, n_tasks)"; participating threads pull task ids from an atomic counter until it runs out.
// The caller is worker 0 and works too, so a pool of T threads has T-1 background workers.
// Background threads sleep on a condition variable between jobs. The pool is created on first
// use and intentionally never destroyed (no static-destruction-order problems when the Node
// process exits while a background AsyncWorker is still inside a kernel).
#include "threadpool.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace st {
namespace cpu {

namespace {
thread_local bool t_in_pool_job = false;  // true inside a task (or on a pool worker thread)

int threads_from_env() {
  const char* s = std::getenv("SYNTHTUNE_THREADS");
  if (s && *s) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end && *end == '\0' && v > 0) return static_cast<int>(std::min<long>(v, 1024));
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min<unsigned>(hc, 1024));
}

constexpr int kMaxThreads = 1024;
}  // namespace

ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = new ThreadPool();  // leaked on purpose, see header comment
  return *pool;
}

ThreadPool::ThreadPool() : default_threads_(threads_from_env()) {}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::workers_for(int64_t n_tasks, int threads) const {
  int64_t t = threads <= 0 ? default_threads_ : std::min(threads, kMaxThreads);
  t = std::min<int64_t>(t, std::max<int64_t>(n_tasks, 1));
  return static_cast<int>(std::max<int64_t>(t, 1));
}

void ThreadPool::grow(int n_workers) {
  std::lock_guard<std::mutex> lk(mu_);
  while (static_cast<int>(workers_.size()) < n_workers) {
    int id = static_cast<int>(workers_.size()) + 1;
    uint64_t gen = generation_;
    workers_.emplace_back([this, id, gen] {
      t_in_pool_job = true;  // a pool thread never dispatches nested jobs
      uint64_t seen = gen;
      for (;;) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_work_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (id >= active_) continue;
        const TaskFn* fn = fn_;
        const int64_t n = n_tasks_;
        lk.unlock();
        for (int64_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < n;) {
          try {
            (*fn)(t, id);
          } catch (...) {
            std::lock_guard<std::mutex> elk(mu_);
            if (!error_) error_ = std::current_exception();
            next_.store(n, std::memory_order_relaxed);
          }
        }
        lk.lock();
        if (--pending_ == 0) cv_done_.notify_one();
      }
    });
  }
}

void ThreadPool::parallel_for(int64_t n_tasks, int threads, const TaskFn& fn) {
  if (n_tasks <= 0) return;
  const int nw = workers_for(n_tasks, threads);
  if (nw <= 1 || t_in_pool_job) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  std::lock_guard<std::mutex> job(job_mu_);
  grow(nw - 1);
  {
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = &fn;
    n_tasks_ = n_tasks;
    active_ = nw;
    pending_ = nw - 1;
    error_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    ++generation_;
  }
  cv_work_.notify_all();

  t_in_pool_job = true;
  for (int64_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < n_tasks;) {
    try {
      fn(t, 0);
    } catch (...) {
      std::lock_guard<std::mutex> elk(mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_tasks, std::memory_order_relaxed);
    }
  }
  t_in_pool_job = false;

  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_done_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    active_ = 0;
    err = error_;
    error_ = nullptr;
  }
  if (err) std::rethrow_exception(err);
}

// ---- AlignedBuf -----------------------------------------------------------------------------
AlignedBuf::~AlignedBuf() { std::free(p_); }

float* AlignedBuf::ensure(size_t n_floats) {
  if (n_floats <= cap_ && p_) return p_;
  size_t bytes = std::max<size_t>(n_floats, 16) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::free(p_);
  p_ = static_cast<float*>(p);
  cap_ = bytes / sizeof(float);
  return p_;
}

}  // namespace cpu
}  // namespace st
