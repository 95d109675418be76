// synthtune CUDA backend: what the standalone check programs share (native/cuda/tests/*.cu and the
// emulator's self-test native/cuda/emu/tests/emu_selftest.cu). Header-only: each program is one
// translation unit that includes this once. Program-specific helpers stay in the programs.
//
//   g_checks, g_failures   how many checks ran / failed; each program prints its own summary line
//   CU(expr)               a CUDA runtime call that must succeed: else "FATAL: expr: <error>", exit 1
//   CHECK(cond, fmt, ...)  records a check; on failure prints "  FAIL file:line: <message>" and
//                          RETURNS from the calling (void) function
//   EXPECT(cond, fmt, ...) the same, but carries on after a failure
//   expect(ok, fmt, ...)   a function: records a check, on failure prints "  FAIL: <message>" (no
//                          source location); returns ok
//
// The message arguments of CHECK / EXPECT are only evaluated when the check fails.
#pragma once

#include <cuda_runtime.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

inline int g_checks = 0;
inline int g_failures = 0;

[[noreturn]] inline void die(const char* what, cudaError_t e) {
  std::printf("FATAL: %s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

#define CU(expr)                           \
  do {                                     \
    cudaError_t e_ = (expr);               \
    if (e_ != cudaSuccess) die(#expr, e_); \
  } while (0)

// Counts a failed check and prints the start of its line (the message follows).
inline void st_check_fail_at(const char* file, int line) {
  ++g_failures;
  std::printf("  FAIL %s:%d: ", file, line);
}

#define ST_CHECK_IMPL_(on_failure, cond, ...)  \
  do {                                         \
    ++g_checks;                                \
    if (!(cond)) {                             \
      st_check_fail_at(__FILE__, __LINE__);    \
      std::printf(__VA_ARGS__);                \
      std::printf("\n");                       \
      on_failure;                              \
    }                                          \
  } while (0)

#define CHECK(cond, ...) ST_CHECK_IMPL_(return, cond, __VA_ARGS__)
#define EXPECT(cond, ...) ST_CHECK_IMPL_((void)0, cond, __VA_ARGS__)

inline bool expect(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline bool expect(bool ok, const char* fmt, ...) {
  ++g_checks;
  if (ok) return true;
  ++g_failures;
  std::printf("  FAIL: ");
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  return false;
}
