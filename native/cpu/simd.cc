// synthtune CPU backend: run-time SIMD level detection.
//
// The native addon is compiled once, without -march flags, and must run on any x86-64. The SIMD
// kernels carry GCC target attributes instead, and are only called after this file has checked
// (CPUID for the instructions, XGETBV for the OS saving the wider registers, as libgcc's
// __builtin_cpu_supports does; read directly so that the clang/zig builds of the prebuilt
// binaries, whose runtime lacks libgcc's __cpu_model, detect the same way) that the CPU can run them:
//   "avx512": avx512f + avx512bw + avx512dq + avx512vl (and fma)
//   "avx2"  : avx2 + fma
//   "scalar": anything else, and every non-x86 build
// has_avx512_bf16(): the avx512 level plus AVX512_BF16 (VCVTNE2PS2BF16, VDPBF16PS), used by the
// top-k search's bf16 screening pass (topk.cc); false when SYNTHTUNE_SIMD lowers the level.
// SYNTHTUNE_SIMD=scalar|avx2|avx512 may force a LOWER level (for testing / working around a bad
// CPU); asking for a level the CPU lacks is ignored and the detected level is kept.
#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include "../kernels.h"
#include "threadpool.h"

namespace st {
namespace cpu {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// XCR0 (XGETBV 0) without the xsave target attribute: the raw instruction bytes.
static unsigned long long xcr0() {
  unsigned eax, edx;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

SimdLevel simd_level_detected() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const SimdLevel detected = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return kScalar;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
    if (!osxsave || !avx) return kScalar;
    const unsigned long long xcr = xcr0();
    if ((xcr & 0x6) != 0x6) return kScalar;  // XMM + YMM state saved by the OS
    if (__get_cpuid_max(0, nullptr) < 7) return kScalar;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = fma && (b & (1u << 5));
    const bool avx512 = avx2 && (xcr & 0xe6) == 0xe6 &&  // + opmask, ZMM0-15 upper, ZMM16-31
                        (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));  // F DQ BW VL
    return avx512 ? kAvx512 : avx2 ? kAvx2 : kScalar;
  }();
  return detected;
#else
  return kScalar;
#endif
}

bool has_avx512_bf16() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool bf16 = [] {
    if (simd_level_detected() < kAvx512 || __get_cpuid_max(0, nullptr) < 7) return false;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1) return false;  // no sub-leaf 1
    __cpuid_count(7, 1, a, b, c, d);
    return (a & (1u << 5)) != 0;  // CPUID.(EAX=7,ECX=1):EAX[5] AVX512_BF16
  }();
  return bf16 && simd_level() >= kAvx512;
#else
  return false;
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
