#!/usr/bin/env bash
# The native tests (native/tests: kernel_check.cc, boundary_check.cc) built and run once under
# AddressSanitizer + UndefinedBehaviorSanitizer, for CI. No Node needed.
#
#   scripts/asan-check.sh            # exit 0: passed or skipped (with a message); non-zero: a failure
#
# Skips (exit 0, "asan-check: skipped: ...") where the compiler cannot build or run a sanitized
# program (no libasan/libubsan, or a sandbox where ASan cannot map its shadow memory). Leak
# checking is turned off where LeakSanitizer cannot run (under ptrace, some containers).
# kernel_check runs its quick set (SYNTHTUNE_CHECK_QUICK=1); together about 30 s on 2 cores.
# Environment: CXX (default g++, else clang++), SYNTHTUNE_ASAN_OUT (build folder, default
# /tmp/synthtune-asan; kept between runs, so a rerun only rebuilds what changed), JOBS.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${SYNTHTUNE_ASAN_OUT:-/tmp/synthtune-asan}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  if command -v g++ >/dev/null 2>&1; then cxx=g++; elif command -v clang++ >/dev/null 2>&1; then cxx=clang++; fi
fi
if [ -z "$cxx" ]; then
  echo "asan-check: skipped: no C++ compiler (g++ or clang++; or set CXX)"
  exit 0
fi
if ! command -v make >/dev/null 2>&1; then
  echo "asan-check: skipped: make is not installed"
  exit 0
fi
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$out" || exit 1

# Probe: can this compiler build and run a sanitized program here?
probe="$out/probe"
printf '#include <vector>\nint main() { std::vector<int> v(4); v[1] = 2; return v[1] - 2; }\n' > "$probe.cc"
if ! err="$("$cxx" $san -o "$probe" "$probe.cc" 2>&1)"; then
  why="$(echo "$err" | grep -m1 -iE 'error|cannot|not found' || echo "$err" | head -n1)"
  echo "asan-check: skipped: $cxx cannot build with $san (${why:-it exits with an error and no message})"
  echo "  (Debian/Ubuntu: the runtimes come with g++ as libasan/libubsan; install g++ or clang)"
  exit 0
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if ! err="$("$probe" 2>&1)"; then
  if echo "$err" | grep -q "LeakSanitizer"; then
    export ASAN_OPTIONS="abort_on_error=1:detect_leaks=0"
    echo "asan-check: LeakSanitizer cannot run here; leak checking off"
    err="$("$probe" 2>&1)" || { echo "asan-check: skipped: a sanitized program cannot run here ($(echo "$err" | head -n1))"; exit 0; }
  else
    echo "asan-check: skipped: a sanitized program cannot run here ($(echo "$err" | head -n1))"
    exit 0
  fi
fi

start=$(date +%s)
echo "asan-check: $($cxx --version | head -n1); $san; building in $out"
log="$out/build.log"
if ! make -s -C "$root/native/tests" -j"$jobs" OUT="$out" CXX="$cxx" "$out/kernel_check_asan" "$out/boundary_check_asan" >"$log" 2>&1; then
  grep -v -E 'Wmaybe-uninitialized|avx512fintrin' "$log" | tail -n 40
  echo "asan-check: FAILED to build (log: $log)"
  exit 1
fi
built=$(date +%s)
echo "asan-check: built in $((built - start)) s"
status=0
SYNTHTUNE_CHECK_QUICK=1 "$out/kernel_check_asan" || status=$?
if [ "$status" -eq 0 ]; then "$out/boundary_check_asan" || status=$?; fi
end=$(date +%s)
if [ "$status" -ne 0 ]; then
  echo "asan-check: FAILED (exit $status) after $((end - start)) s"
  exit "$status"
fi
echo "asan-check: passed: build $((built - start)) s, run $((end - built)) s"
