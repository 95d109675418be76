// synthtune CUDA emulator: the nvcuda::wmma subset of <mma.h> (see cuda_runtime.h for the model).
//
// Supported: TF32 m16n16k8 (matrix_a/matrix_b with precision::tf32, fp32 accumulator) and BF16
// m16n16k16, m32n8k16, m8n32k16 (__nv_bfloat16 inputs, fp32 accumulator); row_major / col_major
// operands; fill_fragment, load_matrix_sync, store_matrix_sync (mem_row_major / mem_col_major),
// mma_sync, __float_to_tf32.
//
// Fragments. On the GPU a fragment is spread over the 32 lanes of a warp in an unspecified layout.
// Here every lane holds the WHOLE tile: x[] is the tile in row-major order (rows x cols of the
// operand) and num_elements is its size, so elementwise loops over frag.x[0, num_elements) work
// unchanged; code that relies on a particular lane/element mapping is not portable anyway.
//
// Semantics checked like the hardware requires:
//   * load/store/mma are warp-collective: all 32 lanes of the warp must call the same operation
//     (a partial warp, an exited lane or divergent lanes are reported), with the same pointer, ldm
//     and layout; the operation then happens once for the warp at that point (the last lane to
//     arrive performs it), so no lane sees another lane's later writes.
//   * the pointer must be 256-bit (32-byte) aligned and ldm a multiple of 16 bytes.
//   * mma_sync requires identical A/B/C fragments in every lane (true for any code that only uses
//     the API and elementwise loops); D = A·B + C is computed in fp32, k in ascending order. For
//     tf32 only the top 19 bits of each A/B element are used (sign, exponent, 10 mantissa bits:
//     the low 13 bits are ignored, like the tensor cores do); products of tf32 or bf16 values
//     are exact in fp32.
//   * __float_to_tf32 rounds to nearest, ties away from zero, to 10 mantissa bits (cvt.rna.tf32).
#pragma once

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

namespace emu_detail {

template <class Use, int M, int N, int K>
struct Dims;
template <int M, int N, int K>
struct Dims<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct Dims<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct Dims<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

template <class T>
struct Storage {
  using type = T;
};
template <>
struct Storage<precision::tf32> {
  using type = float;
};

template <class T, int M, int N, int K>
struct ShapeOk : std::false_type {};
template <>
struct ShapeOk<precision::tf32, 16, 16, 8> : std::true_type {};
template <>
struct ShapeOk<__nv_bfloat16, 16, 16, 16> : std::true_type {};
template <>
struct ShapeOk<__nv_bfloat16, 32, 8, 16> : std::true_type {};
template <>
struct ShapeOk<__nv_bfloat16, 8, 32, 16> : std::true_type {};
template <>
struct ShapeOk<float, 16, 16, 8> : std::true_type {};
template <>
struct ShapeOk<float, 16, 16, 16> : std::true_type {};
template <>
struct ShapeOk<float, 32, 8, 16> : std::true_type {};
template <>
struct ShapeOk<float, 8, 32, 16> : std::true_type {};

inline float tf32_truncate(float v) {  // the bits a tensor core uses of a tf32 operand
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u &= 0xFFFFE000u;
  std::memcpy(&v, &u, 4);
  return v;
}
inline float operand_value(float v) { return tf32_truncate(v); }  // tf32 operands are stored as float
inline float operand_value(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class S>
inline void check_ptr(const S* p, unsigned ldm, const char* what, const char* file, int line) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    ::st_emu::detail::fatal("wmma::%s at %s:%d: pointer %p is not 256-bit (32-byte) aligned", what, file, line,
                            static_cast<const void*>(p));
  if ((size_t(ldm) * sizeof(S)) % 16 != 0)
    ::st_emu::detail::fatal("wmma::%s at %s:%d: ldm %u is not a multiple of 16 bytes (%zu elements)", what, file,
                            line, ldm, 16 / sizeof(S));
}

}  // namespace emu_detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
  static_assert(emu_detail::ShapeOk<T, M, N, K>::value,
                "wmma emulator: unsupported fragment (tf32 m16n16k8, bf16 m16n16k16/m32n8k16/m8n32k16, float "
                "accumulators of those shapes)");
  static_assert(std::is_same<Use, accumulator>::value == std::is_same<Layout, void>::value,
                "wmma: matrix_a/matrix_b fragments need row_major or col_major; accumulators take no layout");
  static_assert(!std::is_same<Use, accumulator>::value || std::is_same<T, float>::value,
                "wmma emulator: accumulators are float");
  static_assert(std::is_same<Use, accumulator>::value || !std::is_same<T, float>::value,
                "wmma: matrix_a/matrix_b elements are precision::tf32 or __nv_bfloat16, not float");

 public:
  using element_type = T;
  using storage_element_type = typename emu_detail::Storage<T>::type;
  static constexpr int num_rows = emu_detail::Dims<Use, M, N, K>::rows;
  static constexpr int num_cols = emu_detail::Dims<Use, M, N, K>::cols;
  // The whole tile, row-major (see the header comment).
  static constexpr int num_elements = num_rows * num_cols;
  static constexpr int num_storage_elements = num_elements;
  storage_element_type x[num_elements];
};

// Round to tf32: nearest, ties away from zero; NaN and infinities unchanged.
inline float __float_to_tf32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7F800000u) != 0x7F800000u) {
    u += 0x1000u;
    u &= 0xFFFFE000u;
  }
  std::memcpy(&v, &u, 4);
  return v;
}

template <class Use, int M, int N, int K, class T, class L, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const V& v) {
  using S = typename fragment<Use, M, N, K, T, L>::storage_element_type;
  const S s = static_cast<S>(v);
  for (int i = 0; i < f.num_elements; ++i) f.x[i] = s;
}

namespace emu_detail {

// One lane's part of a load: the fragment to fill and where from.
template <class Frag, class S>
struct LoadArgs {
  Frag* frag;
  const S* p;
  unsigned ldm;
  bool col;  // element (r, c) at p[c*ldm + r]
};
template <class Frag, class S>
void load_all(void* const* args) {
  auto* a0 = static_cast<LoadArgs<Frag, S>*>(args[0]);
  for (int l = 1; l < 32; ++l) {
    auto* a = static_cast<LoadArgs<Frag, S>*>(args[l]);
    if (a->p != a0->p || a->ldm != a0->ldm || a->col != a0->col)
      ::st_emu::detail::fatal(
          "wmma::load_matrix_sync: lanes 0 and %d pass different arguments (pointer %p / %p, ldm %u / %u); they must be "
          "the same in every lane",
          l, static_cast<const void*>(a0->p), static_cast<const void*>(a->p), a0->ldm, a->ldm);
  }
  Frag& f = *a0->frag;
  for (int r = 0; r < Frag::num_rows; ++r)
    for (int c = 0; c < Frag::num_cols; ++c)
      f.x[r * Frag::num_cols + c] = a0->col ? a0->p[size_t(c) * a0->ldm + r] : a0->p[size_t(r) * a0->ldm + c];
  for (int l = 1; l < 32; ++l) *static_cast<LoadArgs<Frag, S>*>(args[l])->frag = f;
}

template <class Frag>
struct StoreArgs {
  float* p;
  const Frag* frag;
  unsigned ldm;
  bool col;
};
template <class Frag>
void store_all(void* const* args) {
  auto* a0 = static_cast<StoreArgs<Frag>*>(args[0]);
  for (int l = 1; l < 32; ++l) {
    auto* a = static_cast<StoreArgs<Frag>*>(args[l]);
    if (a->p != a0->p || a->ldm != a0->ldm || a->col != a0->col)
      ::st_emu::detail::fatal(
          "wmma::store_matrix_sync: lanes 0 and %d pass different arguments (pointer %p / %p, ldm %u / %u); they must "
          "be the same in every lane",
          l, static_cast<void*>(a0->p), static_cast<void*>(a->p), a0->ldm, a->ldm);
    if (std::memcmp(a->frag->x, a0->frag->x, sizeof(a0->frag->x)) != 0)
      ::st_emu::detail::fatal(
          "wmma::store_matrix_sync: the accumulator fragment of lane %d differs from lane 0's (the emulator keeps the "
          "whole tile in every lane; per-lane element manipulation depends on an unspecified layout)",
          l);
  }
  const Frag& f = *a0->frag;
  for (int r = 0; r < Frag::num_rows; ++r)
    for (int c = 0; c < Frag::num_cols; ++c) {
      const float v = f.x[r * Frag::num_cols + c];
      if (a0->col)
        a0->p[size_t(c) * a0->ldm + r] = v;
      else
        a0->p[size_t(r) * a0->ldm + c] = v;
    }
}

template <class FD, class FA, class FB, class FC>
struct MmaArgs {
  FD* d;
  const FA* a;
  const FB* b;
  const FC* c;
};
template <class FD, class FA, class FB, class FC>
void mma_all(void* const* args) {
  auto* m0 = static_cast<MmaArgs<FD, FA, FB, FC>*>(args[0]);
  for (int l = 1; l < 32; ++l) {
    auto* m = static_cast<MmaArgs<FD, FA, FB, FC>*>(args[l]);
    const char* which = std::memcmp(m->a->x, m0->a->x, sizeof(m0->a->x)) != 0   ? "A"
                        : std::memcmp(m->b->x, m0->b->x, sizeof(m0->b->x)) != 0 ? "B"
                        : std::memcmp(m->c->x, m0->c->x, sizeof(m0->c->x)) != 0 ? "C"
                                                                                 : nullptr;
    if (which)
      ::st_emu::detail::fatal(
          "wmma::mma_sync: the %s fragment of lane %d differs from lane 0's (the emulator keeps the whole tile in "
          "every lane; per-lane element manipulation depends on an unspecified layout)",
          which, l);
  }
  constexpr int M = FD::num_rows, N = FD::num_cols, K = FA::num_cols;
  static_assert(FA::num_rows == M && FB::num_rows == K && FB::num_cols == N && FC::num_rows == M &&
                    FC::num_cols == N,
                "wmma::mma_sync: fragment shapes do not match");
  float a[M * K], b[K * N], d[M * N];
  for (int i = 0; i < M * K; ++i) a[i] = operand_value(m0->a->x[i]);
  for (int i = 0; i < K * N; ++i) b[i] = operand_value(m0->b->x[i]);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float acc = m0->c->x[i * N + j];
      for (int k = 0; k < K; ++k) acc += a[i * K + k] * b[k * N + j];  // exact products, fp32 sums
      d[i * N + j] = acc;
    }
  for (int l = 0; l < 32; ++l) std::memcpy(static_cast<MmaArgs<FD, FA, FB, FC>*>(args[l])->d->x, d, sizeof(d));
}

}  // namespace emu_detail

template <class Use, int M, int N, int K, class T, class L>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f,
                             const typename fragment<Use, M, N, K, T, L>::storage_element_type* p, unsigned ldm,
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  static_assert(!std::is_same<Use, accumulator>::value, "wmma: loading an accumulator needs a layout_t");
  using Frag = fragment<Use, M, N, K, T, L>;
  using S = typename Frag::storage_element_type;
  emu_detail::check_ptr(p, ldm, "load_matrix_sync", file, line);
  emu_detail::LoadArgs<Frag, S> args{&f, p, ldm, std::is_same<L, col_major>::value};
  ::st_emu::detail::warp_collective(::st_emu::detail::kWmmaLoad, &args, &emu_detail::load_all<Frag, S>, file, line);
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout,
                             const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using Frag = fragment<accumulator, M, N, K, float>;
  emu_detail::check_ptr(p, ldm, "load_matrix_sync", file, line);
  emu_detail::LoadArgs<Frag, float> args{&f, p, ldm, layout == mem_col_major};
  ::st_emu::detail::warp_collective(::st_emu::detail::kWmmaLoad, &args, &emu_detail::load_all<Frag, float>, file,
                                    line);
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout,
                              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using Frag = fragment<accumulator, M, N, K, float>;
  emu_detail::check_ptr(p, ldm, "store_matrix_sync", file, line);
  emu_detail::StoreArgs<Frag> args{p, &f, ldm, layout == mem_col_major};
  ::st_emu::detail::warp_collective(::st_emu::detail::kWmmaStore, &args, &emu_detail::store_all<Frag>, file, line);
}

template <int M, int N, int K, class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
                     const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c,
                     bool satf = false, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using FD = fragment<accumulator, M, N, K, float>;
  using FA = fragment<matrix_a, M, N, K, T, LA>;
  using FB = fragment<matrix_b, M, N, K, T, LB>;
  if (satf) ::st_emu::detail::fatal("wmma::mma_sync: satf is not emulated (%s:%d)", file, line);
  emu_detail::MmaArgs<FD, FA, FB, FD> args{&d, &a, &b, &c};
  ::st_emu::detail::warp_collective(::st_emu::detail::kWmmaMma, &args, &emu_detail::mma_all<FD, FA, FB, FD>, file,
                                    line);
}

}  // namespace wmma
}  // namespace nvcuda
