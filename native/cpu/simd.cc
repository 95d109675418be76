// synthtune CPU backend: run-time SIMD level detection.
//
// The native addon is compiled once, without -march flags, and must run on any x86-64. The SIMD
// kernels carry GCC target attributes instead, and are only called after this file has checked
// (with __builtin_cpu_supports, which also accounts for OS support of the wider registers) that
// the CPU can run them:
//   "avx512": avx512f + avx512bw + avx512dq + avx512vl (and fma)
//   "avx2"  : avx2 + fma
//   "scalar": anything else, and every non-x86 build
// SYNTHTUNE_SIMD=scalar|avx2|avx512 may force a LOWER level (for testing / working around a bad
// CPU); asking for a level the CPU lacks is ignored and the detected level is kept.
#include <cstdlib>
#include <cstring>

#include "../kernels.h"
#include "threadpool.h"

namespace st {
namespace cpu {

SimdLevel simd_level_detected() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const SimdLevel detected = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
    return avx512 ? kAvx512 : avx2 ? kAvx2 : kScalar;
  }();
  return detected;
#else
  return kScalar;
#endif
}

SimdLevel simd_level() {
  static const SimdLevel level = [] {
    SimdLevel lv = simd_level_detected();
    const char* e = std::getenv("SYNTHTUNE_SIMD");
    if (e && *e) {
      SimdLevel want = lv;
      if (std::strcmp(e, "scalar") == 0) want = kScalar;
      else if (std::strcmp(e, "avx2") == 0) want = kAvx2;
      else if (std::strcmp(e, "avx512") == 0) want = kAvx512;
      if (want < lv) lv = want;  // only ever lower
    }
    return lv;
  }();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case kAvx512: return "avx512";
    case kAvx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace cpu

const char* cpu_simd_level() { return cpu::simd_level_name(cpu::simd_level()); }

int cpu_default_threads() { return cpu::ThreadPool::global().default_threads(); }

}  // namespace st
