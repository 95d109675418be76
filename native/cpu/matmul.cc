// synthtune CPU backend: batched float32 GEMM (st::sgemm), GotoBLAS/BLIS style.
//
//   C_b = alpha * A_b . op(B_b) + beta * C_b       (row-major; see native/kernels.h)
//   A (M, K); op(B) (K, N) -- B stored (K, N), or (N, K) when trans_b; C (M, N); b < batch.
//
// Why it is structured like this: a naive triple loop reaches ~1-3 GFLOP/s, the CPU can do
// ~100x more. Getting there needs (1) a register-blocked micro-kernel that keeps an MR x NR tile
// of C in vector registers and performs MR*NR FMAs per (MR + NR) loaded floats, and (2) operands
// packed into contiguous micro-panels so the micro-kernel streams memory linearly and the
// blocks it reuses stay in cache:
//
//   for each batch item b:
//     for pc in K step KC:
//       for jb in N step NB:               pack op(B)[pc:pc+KC, jb:jb+NB] -> Bp  (shared, L3)
//         parallel over ic in M step MC:   pack A[ic:ic+MC, pc:pc+KC]   -> Ap  (per thread)
//           for jc in NB step NC:          B sub-chunk KC x NC                  (L2)
//             for each MR rows ir:         A micro-panel MR x KC                (L1)
//               for each NR cols jr:       micro-kernel: C[ir, jr] (+)= Ap[ir] . Bp[jr]
//
// i.e. the broadcast operand (A micro-panel) stays in L1 while the vector operand (B
// micro-panels) streams from L2; both are packed exactly once per (pc, jb) chunk.
// Micro-kernels (one per SIMD level, chosen at run time, see simd.cc):
//   scalar  4 x 8    plain C++, auto-vectorised with whatever the baseline ISA offers
//   AVX2    6 x 16   12 ymm accumulators  (__attribute__((target("avx2,fma"))))
//   AVX-512 14 x 32  28 zmm accumulators  (__attribute__((target("avx512f,...,fma"))))
// The SIMD kernels use GCC target attributes, so this file builds without any -m flags and the
// same binary runs on any x86-64; on other architectures only the scalar kernel is compiled.
// Edge tiles (M % MR, N % NR) run the same kernel into a small scratch tile (packed panels are
// zero-padded) and copy the valid part out, so nothing ever reads or writes out of bounds.
// Tiny problems use sgemm_naive, the plain reference triple loop.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../kernels.h"
#include "threadpool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ST_X86 1
// GCC 12 warns (-Wmaybe-uninitialized, PR105593) inside its own AVX-512 headers when shuffle
// intrinsics are inlined; the state at the header's location is what counts, hence the push/pop.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#define ST_X86 0
#endif

namespace st {
namespace cpu {

// ---- reference ------------------------------------------------------------------------------
void sgemm_naive(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C, bool trans_a) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      float s = 0.0f;
      const int64_t sa = trans_a ? M : 1;  // A[i][p] at A[i*K + p], or A[p*M + i] when trans_a
      const float* a = trans_a ? A + i : A + i * K;
      if (trans_b) {
        for (int64_t p = 0; p < K; ++p) s += a[p * sa] * B[j * K + p];
      } else {
        for (int64_t p = 0; p < K; ++p) s += a[p * sa] * B[p * N + j];
      }
      float* c = &C[i * N + j];
      *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
    }
  }
}

// ---- micro-kernels --------------------------------------------------------------------------
// Scalar: generic C++ (the compiler vectorises the j loop with SSE2 on x86-64, NEON on arm64).
// clang's loop vectoriser would vectorise the i loop instead (4 wide across rows), 3x slower than
// GCC here; with it off for that loop, clang's SLP vectoriser does the j loop as GCC does (the
// zig/clang builds of the prebuilt binaries: 6 -> 19.5 GFLOP/s single-threaded, GCC 18).
#if defined(__clang__)
#define ST_NO_LOOP_VECTORIZE _Pragma("clang loop vectorize(disable)")
#else
#define ST_NO_LOOP_VECTORIZE
#endif
template <int MR, int NR>
static void ukr_scalar(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                       float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    ST_NO_LOOP_VECTORIZE
    for (int i = 0; i < MR; ++i) {
      const float a = Ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * Bp[j];
    }
    Ap += MR;
    Bp += NR;
  }
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < NR; ++j) c[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
    }
  }
}

#if ST_X86
// AVX2 + FMA, 6 x 16: per k step 2 vector loads of B, 6 broadcasts of A, 12 FMAs.
__attribute__((target("avx2,fma"))) static void ukr_avx2_6x16(int64_t kc, const float* Ap,
                                                              const float* Bp, float* C,
                                                              int64_t ldc, float alpha,
                                                              float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(Bp);
    const __m256 b1 = _mm256_loadu_ps(Bp + 8);
    __m256 a;
    a = _mm256_broadcast_ss(Ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(Ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(Ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(Ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(Ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(Ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    Ap += 6;
    Bp += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (beta == 0.0f) {
    for (int i = 0; i < 6; ++i) {
      _mm256_storeu_ps(C + i * ldc, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(C + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    for (int i = 0; i < 6; ++i) {
      float* c = C + i * ldc;
      _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
      _mm256_storeu_ps(c + 8,
                       _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
    }
  }
}

// AVX-512, 14 x 32: per k step 2 vector loads of B, 14 broadcasts of A (folded into the FMAs as
// {1to16} memory operands), 28 FMAs; 28 accumulators + 2 B registers + 1 spare of 32 zmm.
#define ST_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
ST_AVX512_TARGET static void ukr_avx512_14x32(int64_t kc, const float* Ap, const float* Bp,
                                              float* C, int64_t ldc, float alpha, float beta) {
  __m512 acc[14][2];
#pragma GCC unroll 14
  for (int i = 0; i < 14; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(Bp);
    const __m512 b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 14
    for (int i = 0; i < 14; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    Ap += 14;
    Bp += 32;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 14
    for (int i = 0; i < 14; ++i) {
      _mm512_storeu_ps(C + i * ldc, _mm512_mul_ps(va, acc[i][0]));
      _mm512_storeu_ps(C + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
    for (int i = 0; i < 14; ++i) {
      float* c = C + i * ldc;
      _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
      _mm512_storeu_ps(c + 16,
                       _mm512_fmadd_ps(va, acc[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
    }
  }
}
#endif  // ST_X86

const GemmKernel& gemm_kernel(SimdLevel level) {
  static const GemmKernel scalar{kScalar, 4, 8, &ukr_scalar<4, 8>};
#if ST_X86
  static const GemmKernel avx2{kAvx2, 6, 16, &ukr_avx2_6x16};
  static const GemmKernel avx512{kAvx512, 14, 32, &ukr_avx512_14x32};
  if (level >= kAvx512) return avx512;
  if (level == kAvx2) return avx2;
#else
  (void)level;
#endif
  return scalar;
}

// ---- packing --------------------------------------------------------------------------------
static void pack_rows_scalar(const float* X, int64_t ldx, int64_t m, int64_t kc, int mr,
                             float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t mv = std::min<int64_t>(mr, m - i0);
    for (int64_t i = 0; i < mv; ++i) {  // read each source row linearly
      const float* src = X + (i0 + i) * ldx;
      float* d = dst + i;
      for (int64_t p = 0; p < kc; ++p) d[p * mr] = src[p];
    }
    for (int64_t i = mv; i < mr; ++i)  // zero padding rows
      for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = 0.0f;
    dst += kc * mr;
  }
}

#if ST_X86
// Same result as pack_rows_scalar, 16 x 16 blocks at a time: masked loads of up to 16 rows x 16
// columns (never past a row's kc or past row m), in-register transpose, masked stores of the
// mr-wide (or 16-wide slice of a 32-wide) columns. Packing is O(M*K) against O(M*N*K) flops but
// was ~12% of the run time in scalar form (strided 4-byte stores).
ST_AVX512_TARGET static void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {  // u[4g + c], 128-bit lane L: rows 4g..4g+3 of column 4L + c
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    const __m512 b = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    const __m512 e = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    const __m512 d = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(a, e, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(a, e, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(b, d, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(b, d, 0xDD);
  }
}

ST_AVX512_TARGET static void pack_rows_avx512(const float* X, int64_t ldx, int64_t m, int64_t kc,
                                              int mr, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t mv = std::min<int64_t>(mr, m - i0);
    for (int h0 = 0; h0 < mr; h0 += 16) {  // 16-row slices of the panel
      const int w = std::min(16, mr - h0);  // slice width in the packed layout
      const int64_t rows = std::max<int64_t>(0, std::min<int64_t>(16, mv - h0));  // real rows
      const __mmask16 wmask = static_cast<__mmask16>((1u << w) - 1u);
      for (int64_t p = 0; p < kc; p += 16) {
        const int pv = static_cast<int>(std::min<int64_t>(16, kc - p));
        const __mmask16 pmask = static_cast<__mmask16>((1u << pv) - 1u);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          r[i] = i < rows ? _mm512_maskz_loadu_ps(pmask, X + (i0 + h0 + i) * ldx + p)
                          : _mm512_setzero_ps();
        transpose16(r);
        float* d = dst + p * mr + h0;
#pragma GCC unroll 16
        for (int t = 0; t < 16; ++t)
          if (t < pv) _mm512_mask_storeu_ps(d + t * mr, wmask, r[t]);
      }
    }
    dst += kc * mr;
  }
}
#endif

void pack_rows(const float* X, int64_t ldx, int64_t m, int64_t kc, int mr, float* dst) {
#if ST_X86
  if (simd_level() >= kAvx512 && (mr <= 16 || mr % 16 == 0)) {
    pack_rows_avx512(X, ldx, m, kc, mr, dst);
    return;
  }
#endif
  pack_rows_scalar(X, ldx, m, kc, mr, dst);
}

#if ST_X86
// pack_cols with masked 16-float loads / stores (panels of up to 32 columns): the A operand of a
// transposed-A GEMM packs 14-float rows this way, where a memcpy call per row cost more than the copy.
ST_AVX512_TARGET static void pack_cols_avx512(const float* X, int64_t ldx, int64_t kc, int64_t n,
                                              int nr, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int64_t nv = std::min<int64_t>(nr, n - j0);
    const __mmask16 m0 = nv >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nv) - 1u);
    const int64_t r1 = nv - 16;
    const __mmask16 m1 = r1 >= 16 ? static_cast<__mmask16>(0xFFFF) : r1 <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << r1) - 1u);
    const __mmask16 s0 = nr >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nr) - 1u);
    const int64_t n1 = nr - 16;
    const __mmask16 s1 = n1 >= 16 ? static_cast<__mmask16>(0xFFFF) : n1 <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n1) - 1u);
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = X + p * ldx + j0;
      float* d = dst + p * nr;
      _mm512_mask_storeu_ps(d, s0, _mm512_maskz_loadu_ps(m0, src));  // zeros past nv
      if (nr > 16) _mm512_mask_storeu_ps(d + 16, s1, _mm512_maskz_loadu_ps(m1, src + 16));
    }
    dst += kc * nr;
  }
}
#endif

void pack_cols(const float* X, int64_t ldx, int64_t kc, int64_t n, int nr, float* dst) {
#if ST_X86
  if (nr <= 32 && simd_level() >= kAvx512) return pack_cols_avx512(X, ldx, kc, n, nr, dst);
#endif
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int64_t nv = std::min<int64_t>(nr, n - j0);
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = X + p * ldx + j0;
      float* d = dst + p * nr;
      std::memcpy(d, src, sizeof(float) * nv);
      for (int64_t j = nv; j < nr; ++j) d[j] = 0.0f;
    }
    dst += kc * nr;
  }
}

// ---- driver ---------------------------------------------------------------------------------
namespace {

thread_local AlignedBuf tl_apack;  // per thread: packed A block (MC x KC) + edge tile
thread_local AlignedBuf tl_bpack;  // per calling thread: packed B chunk (K x NC)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

struct Blocking {
  int64_t KC;  // K chunk: packed panels hold KC steps
  int64_t MC;  // rows of A packed at once by one task (one A block)
  int64_t NC;  // columns of the packed B sub-chunk swept while one A micro-panel sits in L1
  int64_t NB;  // columns of B packed at once and shared by all threads (L3)
};

// Cache budgets (floats). While one MR x KC micro-panel of A stays in L1, the micro-kernel
// sweeps the NR-wide B micro-panels of a KC x NC sub-chunk, which must therefore stay in L2
// (>= 512 KiB per core on every AVX2/AVX-512 CPU we care about), next to the task's MC x KC A
// block. B is packed once per (KC, NB) chunk, A once per (KC, NB) chunk and MC block.
size_t g_l2_b_floats = 96 * 1024;  // 384 KiB: KC x NC B sub-chunk
size_t g_a_floats = 64 * 1024;     // 256 KiB: MC x KC A block
size_t g_l3_b_floats = 2 * 1024 * 1024;  // 8 MiB: KC x NB shared packed B
size_t g_whole_b_floats = 4 * 1024 * 1024;  // 16 MiB: all of op(B) packed (several K chunks)

Blocking choose_blocking(const GemmKernel& kern, int64_t M, int64_t N, int64_t K, int threads) {
  Blocking b;
  // KC: the whole K when it is moderate (C read/written once), else near-equal chunks <= 384.
  b.KC = K <= 512 ? K : ceil_div(K, ceil_div(K, 384));
  const int64_t kc = std::max<int64_t>(b.KC, 1);
  int64_t mc = static_cast<int64_t>(g_a_floats) / kc;
  mc = std::max<int64_t>(kern.mr, mc / kern.mr * kern.mr);
  // with several threads, >= ~6 row blocks per thread so the dynamic schedule balances
  if (threads > 1) mc = std::min(mc, std::max<int64_t>(kern.mr, round_up(ceil_div(M, 6 * threads), kern.mr)));
  b.MC = std::min(mc, round_up(M, kern.mr));
  int64_t nc = static_cast<int64_t>(g_l2_b_floats) / kc;
  nc = std::max<int64_t>(kern.nr, nc / kern.nr * kern.nr);
  nc = std::min(nc, round_up(N, kern.nr));
  b.NC = round_up(ceil_div(N, ceil_div(N, nc)), kern.nr);  // near-equal sub-chunks
  int64_t nb = static_cast<int64_t>(g_l3_b_floats) / kc;
  b.NB = std::max<int64_t>(b.NC, nb / b.NC * b.NC);
  return b;
}

// C[i0:i1, jb:jb+nb] (+)= A[i0:i1, pc:pc+kc] . Bp, Bp = packed op(B)[pc:pc+kc, jb:jb+nb]
// (panel stride kc*nr). Apack: scratch for MC x KC + one MR x NR edge tile.
void compute_block(const GemmKernel& kern, const Blocking& bl, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, bool trans_a, const float* Bp, float beta, float* C,
                   int64_t i0, int64_t i1, int64_t pc, int64_t kc, int64_t jb, int64_t nb,
                   float* Apack) {
  const int mr = kern.mr, nr = kern.nr;
  float* tile = Apack + round_up(bl.MC, mr) * bl.KC;  // mr x nr edge scratch
  // A (M, K), or A stored (K, M) when trans_a: its columns i0..i1 are packed like B's columns
  if (trans_a) pack_cols(A + pc * M + i0, M, kc, i1 - i0, mr, Apack);
  else pack_rows(A + i0 * K + pc, K, i1 - i0, kc, mr, Apack);
  for (int64_t jc = jb; jc < jb + nb; jc += bl.NC) {  // B sub-chunk in L2
    const int64_t jc_end = std::min(jb + nb, jc + bl.NC);
    for (int64_t i = i0; i < i1; i += mr) {  // A micro-panel in L1
      const float* apanel = Apack + (i - i0) * kc;
      const int64_t mv = std::min<int64_t>(mr, i1 - i);
      for (int64_t j = jc; j < jc_end; j += nr) {  // stream B micro-panels
        const float* bpanel = Bp + (j - jb) * kc;
        const int64_t nv = std::min<int64_t>(nr, N - j);
        float* c = C + i * N + j;
        if (mv == mr && nv == nr) {
          kern.ukr(kc, apanel, bpanel, c, N, alpha, beta);
        } else {
          kern.ukr(kc, apanel, bpanel, tile, nr, alpha, 0.0f);
          for (int64_t r = 0; r < mv; ++r)
            for (int64_t q = 0; q < nv; ++q) {
              float* cc = c + r * N + q;
              *cc = beta == 0.0f ? tile[r * nr + q] : tile[r * nr + q] + beta * *cc;
            }
        }
      }
    }
  }
}

size_t apack_floats(const GemmKernel& kern, const Blocking& bl) {
  return static_cast<size_t>(round_up(bl.MC, kern.mr) * bl.KC + kern.mr * kern.nr);
}

// One batch item with `threads` threads (1 = serial, no pool dispatch).
void gemm_item(const GemmKernel& kern, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, const float* B, float beta, float* C, int threads, bool trans_a) {
  const Blocking bl = choose_blocking(kern, M, N, K, threads);
  const int nr = kern.nr;
  const int64_t n_ib = ceil_div(M, bl.MC);
  // packs op(B)[pc:pc+kc, j0:j0+cols] into ceil(cols/nr) panels of kc x nr at dst
  auto pack_b = [&](int64_t pc, int64_t kc, int64_t j0, int64_t cols, float* dst) {
    if (trans_b) pack_rows(B + j0 * K + pc, K, cols, kc, nr, dst);
    else pack_cols(B + pc * N + j0, N, kc, cols, nr, dst);
  };

  // K in several chunks with every column in one B chunk (a weight gradient, K = tokens): pack all
  // of op(B) once, then each task keeps its C row block in L2 across the K chunks instead of
  // reading and writing the whole C once per chunk.
  const int64_t npad = round_up(N, nr);
  if (threads > 1 && K > bl.KC && N <= bl.NB && static_cast<size_t>(K * npad) <= g_whole_b_floats) {
    float* Ball = tl_bpack.ensure(static_cast<size_t>(K * npad));
    const int64_t n_pc = ceil_div(K, bl.KC), np = npad / nr;
    parallel_for(n_pc * np, threads, [&](int64_t t, int) {  // chunk pc at Ball + pc·KC·npad
      const int64_t pc = (t / np) * bl.KC, kc = std::min(bl.KC, K - pc), j0 = (t % np) * nr;
      pack_b(pc, kc, j0, std::min<int64_t>(nr, N - j0), Ball + pc * npad + j0 * kc);
    });
    parallel_for(n_ib, threads, [&](int64_t ib, int) {
      float* Apack = tl_apack.ensure(apack_floats(kern, bl));
      for (int64_t pc = 0; pc < K; pc += bl.KC) {
        compute_block(kern, bl, M, N, K, alpha, A, trans_a, Ball + pc * npad, pc == 0 ? beta : 1.0f, C,
                      ib * bl.MC, std::min(M, (ib + 1) * bl.MC), pc, std::min(bl.KC, K - pc), 0, N, Apack);
      }
    });
    return;
  }

  float* Bp = tl_bpack.ensure(static_cast<size_t>(bl.KC * round_up(std::min(bl.NB, N), nr)));
  for (int64_t pc = 0; pc < K; pc += bl.KC) {
    const int64_t kc = std::min(bl.KC, K - pc);
    const float beta_eff = pc == 0 ? beta : 1.0f;  // later K chunks accumulate
    for (int64_t jb = 0; jb < N; jb += bl.NB) {
      const int64_t nb = std::min(bl.NB, N - jb);
      const int64_t np = ceil_div(nb, nr);
      // 1. pack op(B)[pc:pc+kc, jb:jb+nb] into np panels of kc x nr
      auto pack_panels = [&](int64_t p0, int64_t p1) {
        pack_b(pc, kc, jb + p0 * nr, std::min(nb, p1 * nr) - p0 * nr, Bp + p0 * kc * nr);
      };
      // 2. C row blocks (MC rows x nb columns), one task each
      auto block = [&](int64_t ib) {
        float* Apack = tl_apack.ensure(apack_floats(kern, bl));
        compute_block(kern, bl, M, N, K, alpha, A, trans_a, Bp, beta_eff, C, ib * bl.MC,
                      std::min(M, (ib + 1) * bl.MC), pc, kc, jb, nb, Apack);
      };
      if (threads <= 1) {
        pack_panels(0, np);
        for (int64_t ib = 0; ib < n_ib; ++ib) block(ib);
      } else {
        const int64_t groups = std::min<int64_t>(np, 2 * threads);
        parallel_for(groups, threads, [&](int64_t g, int) {
          pack_panels(np * g / groups, np * (g + 1) / groups);
        });
        parallel_for(n_ib, threads, [&](int64_t ib, int) { block(ib); });
      }
    }
  }
}

void scale_c(int64_t count, float beta, float* C) {
  if (beta == 0.0f) std::fill(C, C + count, 0.0f);
  else if (beta != 1.0f)
    for (int64_t i = 0; i < count; ++i) C[i] *= beta;
}

}  // namespace

void sgemm_at(SimdLevel level, bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K,
              float alpha, const float* A, const float* B, float beta, float* C, int threads,
              bool trans_a) {
  if (batch <= 0 || M <= 0 || N <= 0 || K < 0 || !C) return;
  if (K == 0 || alpha == 0.0f) {  // C = beta * C; A and B are not read
    scale_c(batch * M * N, beta, C);
    return;
  }
  if (!A || !B) return;
  const GemmKernel& kern = gemm_kernel(level);
  const int64_t sA = M * K, sB = K * N, sC = M * N;
  const double item_flops = 2.0 * static_cast<double>(M) * N * K;

  // tiny: the reference loop beats packing overhead
  if (item_flops < 2.0 * 16 * 16 * 16) {
    const int T = ThreadPool::global().workers_for(batch, threads);
    const int64_t per = item_flops * batch < 4e6 ? batch : ceil_div(batch, 4 * T);
    parallel_for(ceil_div(batch, per), item_flops * batch < 4e6 ? 1 : threads, [&](int64_t t, int) {
      for (int64_t b = t * per; b < std::min(batch, (t + 1) * per); ++b)
        sgemm_naive(trans_b, M, N, K, alpha, A + b * sA, B + b * sB, beta, C + b * sC, trans_a);
    });
    return;
  }
  // threads worth using: ~1 MFLOP per thread dispatch at least
  int T = ThreadPool::global().workers_for(1 << 30, threads);
  T = static_cast<int>(std::min<double>(T, std::max(1.0, item_flops * batch / 2e6)));

  if (T > 1 && batch >= T && (batch % T == 0 || batch >= 4 * T)) {
    // many items: one item per task, each serial
    parallel_for(batch, T, [&](int64_t b, int) {
      gemm_item(kern, trans_b, M, N, K, alpha, A + b * sA, B + b * sB, beta, C + b * sC, 1, trans_a);
    });
    return;
  }
  for (int64_t b = 0; b < batch; ++b)
    gemm_item(kern, trans_b, M, N, K, alpha, A + b * sA, B + b * sB, beta, C + b * sC, T, trans_a);
}

// ---- dot product ------------------------------------------------------------------------------
#if ST_X86
ST_AVX512_TARGET static float dot_avx512(const float* x, const float* y, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
  }
  for (; i < n; i += 16) {  // masked loads never read past x[n), y[n)
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a0);
  }
  alignas(64) float t[16];  // horizontal sum through memory (GCC 12's reduce intrinsics warn)
  _mm512_store_ps(t, _mm512_add_ps(a0, a1));
  float s = 0.0f;
  for (int k = 0; k < 16; ++k) s += t[k];
  return s;
}
#endif

float dot_f32(const float* x, const float* y, int64_t n) {
#if ST_X86
  if (simd_level() >= kAvx512) return dot_avx512(x, y, n);
#endif
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

}  // namespace cpu

void sgemm(bool trans_b, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, const float* B, float beta, float* C, int threads) {
  cpu::sgemm_at(cpu::simd_level(), trans_b, batch, M, N, K, alpha, A, B, beta, C, threads);
}

void sgemm_tn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
              float beta, float* C, int threads) {
  cpu::sgemm_at(cpu::simd_level(), false, 1, M, N, K, alpha, A, B, beta, C, threads, true);
}

}  // namespace st
