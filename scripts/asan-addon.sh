#!/usr/bin/env bash
# The Node addon itself under AddressSanitizer + UndefinedBehaviorSanitizer: builds it with
# -fsanitize=address,undefined (node-gyp, local Node headers, into a separate folder; the addon in
# build/ is not touched), then runs test/native-boundary.test.ts with its child processes loading
# that build, with the sanitizer runtimes preloaded into the children only. This covers
# what native/tests cannot reach: the bindings (argument checks, the async staging of
# native/addon.cc) under detached and resized buffers, aliasing and NaN inputs.
#
#   scripts/asan-addon.sh          # about 2 min to build on 2 cores (reused afterwards), 1 min to run
#
# Not part of CI by default (scripts/asan-check.sh is); skips with a message where the sanitizer
# runtimes or node-gyp are missing. Environment: SYNTHTUNE_ASAN_OUT (default /tmp/synthtune-asan),
# JOBS.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${SYNTHTUNE_ASAN_OUT:-/tmp/synthtune-asan}/addon"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
asan="$(g++ -print-file-name=libasan.so 2>/dev/null)"
ubsan="$(g++ -print-file-name=libubsan.so 2>/dev/null)"
if [ ! -f "$asan" ] || [ ! -f "$ubsan" ]; then
  echo "asan-addon: skipped: g++'s libasan.so / libubsan.so not found (install g++)"
  exit 0
fi
gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || gyp="$root/node_modules/node-gyp/bin/node-gyp.js"
if [ ! -f "$gyp" ]; then
  echo "asan-addon: skipped: node-gyp not found (npm's bundled copy or node_modules)"
  exit 0
fi
nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
[ -f "$nodedir/include/node/node_api.h" ] || { echo "asan-addon: skipped: no local Node headers in $nodedir/include/node"; exit 0; }

start=$(date +%s)
mkdir -p "$out" || exit 1
cp "$root/binding.gyp" "$out/binding.gyp"
ln -sfn "$root/native" "$out/native"
cd "$out" || exit 1
export NODE_PATH="$root/node_modules"
if [ ! -f build/Makefile ]; then
  node "$gyp" configure --nodedir="$nodedir" >configure.log 2>&1 || { tail -n 20 configure.log; echo "asan-addon: FAILED to configure"; exit 1; }
fi
if ! CXXFLAGS="$san -g" CFLAGS="$san" LDFLAGS="$san" node "$gyp" build --nodedir="$nodedir" -j "$jobs" >build.log 2>&1; then
  grep -E 'error' build.log | head -n 20
  echo "asan-addon: FAILED to build (log: $out/build.log)"
  exit 1
fi
built=$(date +%s)
echo "asan-addon: sanitizer build of the addon in $((built - start)) s: $out/build/Release/synthtune.node"
cd "$root" || exit 1
SYNTHTUNE_TEST_ADDON="$out/build/Release/synthtune.node" SYNTHTUNE_TEST_PRELOAD="$asan:$ubsan" \
  npx vitest run test/native-boundary.test.ts
status=$?
echo "asan-addon: $([ $status -eq 0 ] && echo passed || echo FAILED) (build $((built - start)) s, tests $(( $(date +%s) - built )) s)"
exit $status
