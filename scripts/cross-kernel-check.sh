#!/usr/bin/env bash
# The standalone kernel check (native/tests/kernel_check.cc: sgemm and top-k against double-precision
# references on awkward shapes, every SIMD level the CPU has, 1-3 threads and concurrent calls),
# built with each prebuilt binary's toolchain (see scripts/prebuildify.js) and run here: natively
# for x86-64, under qemu-aarch64 for arm64.
#
#   x64-glibc   zig c++ -target x86_64-linux-gnu.2.28      native
#   x64-musl    zig c++ -target x86_64-linux-musl (static)  native
#   arm64-glibc zig c++ -target aarch64-linux-gnu.2.28     qemu-aarch64 -L /usr/aarch64-linux-gnu
#   arm64-musl  zig c++ -target aarch64-linux-musl (static) qemu-aarch64
#   arm64-gcc   Debian's aarch64-linux-gnu-g++ (what a from-source arm64 build uses; not a prebuild)
#
# Not part of CI (the arm64 runs take 1-2 minutes each under emulation on 2 cores); run it after
# changing native/cpu/. A toolchain that is missing skips its targets with a message.
# usage: bash scripts/cross-kernel-check.sh [target...]   (default: the four prebuild targets)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mktemp -d "${TMPDIR:-/tmp}/synthtune-cross-check.XXXXXX")"
trap 'rm -rf "$out"' EXIT
src=(native/tests/kernel_check.cc native/cpu/threadpool.cc native/cpu/simd.cc native/cpu/matmul.cc native/cpu/topk.cc)
zig="${SYNTHTUNE_ZIG:-$(command -v zig || echo "${XDG_CACHE_HOME:-$HOME/.cache}/synthtune/toolchains/zig-0.11.0/package/zig")}"
targets=("${@:-x64-glibc x64-musl arm64-glibc arm64-musl}")
failed=0
for t in ${targets[*]}; do
  case $t in
    x64-glibc) cxx=("$zig" c++ -target x86_64-linux-gnu.2.28); run=() ;;
    x64-musl) cxx=("$zig" c++ -target x86_64-linux-musl -static); run=() ;;
    arm64-glibc) cxx=("$zig" c++ -target aarch64-linux-gnu.2.28); run=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
    arm64-gcc) cxx=(aarch64-linux-gnu-g++); run=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
    arm64-musl) cxx=("$zig" c++ -target aarch64-linux-musl -static); run=(qemu-aarch64) ;;
    *) echo "unknown target $t (x64-glibc x64-musl arm64-glibc arm64-musl arm64-gcc)" >&2; exit 2 ;;
  esac
  if ! command -v "${cxx[0]}" >/dev/null 2>&1 || { [ ${#run[@]} -gt 0 ] && ! command -v "${run[0]}" >/dev/null 2>&1; }; then
    echo "== $t: skipped (needs ${cxx[0]}${run:+ and ${run[0]}}) =="
    continue
  fi
  echo "== $t: ${cxx[*]} =="
  s=$(date +%s)
  (cd "$root" && "${cxx[@]}" -O3 -std=c++17 -pthread -o "$out/kernel_check-$t" "${src[@]}")
  b=$(( $(date +%s) - s ))
  s=$(date +%s)
  if "${run[@]}" "$out/kernel_check-$t" | tail -n 6; then
    echo "$t: passed (build ${b} s, run $(( $(date +%s) - s )) s)"
  else
    echo "$t: FAILED"
    failed=1
  fi
done
exit $failed
