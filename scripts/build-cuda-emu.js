#!/usr/bin/env node
// `npm run build:cuda-emu`: build the CUDA sources for the CPU emulator of native/cuda/emu, with
// the system C++ compiler only (no nvcc, no cmake, no GPU), into build-cuda-emu/:
//
//   cuda_check, bert_layers_check,  the standalone GPU-vs-CPU checks, one per native/cuda/tests/*.cu,
//   tc_check, ...                   run on the emulator; built with -fsanitize=address,undefined when
//                                   the compiler supports it (kernel out-of-bounds accesses to device
//                                   buffers are reported by AddressSanitizer)
//   emu_selftest                    the emulator's own tests (native/cuda/emu/tests/emu_selftest.cu)
//   synthtune_cuda.node             the CUDA addon (same sources as the CMake target synthtune_cuda)
//                                   with the kernels running on the emulator; reports one device,
//                                   "CUDA emulator (CPU)". Never picked automatically: load it with
//                                   SYNTHTUNE_CUDA_ADDON=build-cuda-emu/synthtune_cuda.node.
//
// .cu files are compiled as C++17 (-x c++ -DSYNTHTUNE_CUDA -DSYNTHTUNE_CUDA_EMU -Inative/cuda/emu).
// Objects are compiled in parallel (--jobs, default 2) and only when out of date (source, any
// header it includes, or the flags changed), so rebuilds are quick.
//
// Options: --jobs N, --no-sanitize (build the checks without sanitizers), --clean, --verbose.
// Environment: CXX (compiler, default g++), ST_EMU_NO_FMA=1 (do not add -mfma on x86-64 CPUs that
// have FMA; -mfma makes fmaf() one instruction, which the emulated SGEMMs use heavily).
// Node headers come from the running Node exactly as scripts/install.js finds them; nothing is
// ever downloaded.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build-cuda-emu');
const args = process.argv.slice(2);
const opt = (name) => args.includes(name);
const optValue = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const verbose = opt('--verbose');
const jobs = Math.max(1, parseInt(optValue('--jobs', process.env.JOBS || '2'), 10) || 2);
const cxx = process.env.CXX || 'g++';

function log(msg) {
  console.log(`[build:cuda-emu] ${msg}`);
}
function fail(msg) {
  console.error(`[build:cuda-emu] ERROR: ${msg}`);
  process.exit(1);
}
const rel = (p) => path.relative(root, p);
const glob = (dir, ext) =>
  fs.existsSync(path.join(root, dir))
    ? fs
        .readdirSync(path.join(root, dir))
        .filter((f) => f.endsWith(ext))
        .sort()
        .map((f) => path.join(root, dir, f))
    : [];

/** The local Node headers, as scripts/install.js finds them: <dir>/include/node/node_api.h. */
function localNodeDir() {
  const nd = process.env.npm_config_nodedir;
  if (nd && fs.existsSync(path.join(nd, 'include', 'node', 'node_api.h'))) return nd;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** Does the compiler accept these flags (compile and link a tiny program)? */
function compilerAccepts(flags, source = 'int main() { return 0; }\n') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-emu-probe-'));
  try {
    const src = path.join(dir, 'probe.cc');
    fs.writeFileSync(src, source);
    const r = spawnSync(cxx, [...flags, src, '-o', path.join(dir, 'probe')], { encoding: 'utf8' });
    if (r.status !== 0) return false;
    return spawnSync(path.join(dir, 'probe'), [], { encoding: 'utf8' }).status === 0;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function cpuHasFma() {
  if (process.arch !== 'x64' || process.env.ST_EMU_NO_FMA === '1') return false;
  try {
    const flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m);
    return !!flags && / fma( |$)/.test(flags[1]) && / avx( |$)/.test(flags[1]);
  } catch {
    return false;
  }
}

// ---- incremental compilation ----------------------------------------------------------------------

const mtime = (p) => {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};

/** Dependencies listed in a make-style .d file written by -MMD. */
function depsOf(depFile) {
  let text;
  try {
    text = fs.readFileSync(depFile, 'utf8');
  } catch {
    return null;
  }
  const body = text.replace(/\\\n/g, ' ').split('\n')[0];
  const colon = body.indexOf(': ');
  if (colon < 0) return null;
  return body
    .slice(colon + 2)
    .split(/(?<!\\) +/)
    .filter(Boolean)
    .map((d) => d.replace(/\\ /g, ' '));
}

function upToDate(obj, src) {
  const t = mtime(obj);
  if (t < 0 || mtime(src) > t) return false;
  const deps = depsOf(obj.replace(/\.o$/, '.d'));
  if (!deps) return false;
  return deps.every((d) => {
    const m = mtime(path.isAbsolute(d) ? d : path.join(root, d));
    return m >= 0 && m <= t;
  });
}

/** An object-file variant: one flag set, its own folder (named after a hash of the flags). */
function variant(name, flags) {
  const hash = crypto.createHash('sha1').update([cxx, ...flags].join('\0')).digest('hex').slice(0, 8);
  return { name, flags, dir: path.join(outDir, 'obj', `${name}-${hash}`) };
}

function objectOf(v, src) {
  return path.join(v.dir, rel(src).replace(/[\\/]/g, '__') + '.o');
}

function run(cmd, argv) {
  return new Promise((resolve) => {
    if (verbose) log([cmd, ...argv].join(' '));
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => resolve({ code: -1, out: String(e) }));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** Compile every (variant, source) pair that is out of date, `jobs` at a time. */
async function compileAll(units) {
  const todo = units.filter((u) => !upToDate(u.obj, u.src));
  const skipped = units.length - todo.length;
  log(`compiling ${todo.length} object(s) with ${jobs} job(s)${skipped ? ` (${skipped} up to date)` : ''}`);
  let next = 0;
  const failures = [];
  async function worker() {
    while (next < todo.length) {
      const u = todo[next++];
      fs.mkdirSync(path.dirname(u.obj), { recursive: true });
      const lang = u.src.endsWith('.cu') ? ['-x', 'c++'] : [];
      const t0 = Date.now();
      const r = await run(cxx, [...u.variant.flags, ...lang, '-MMD', '-MP', '-c', u.src, '-o', u.obj]);
      if (r.out.trim()) process.stdout.write(r.out);
      if (r.code !== 0) {
        try {
          fs.rmSync(u.obj, { force: true });
        } catch {
          /* ignore */
        }
        failures.push(u);
        log(`FAILED ${rel(u.src)} [${u.variant.name}]`);
      } else {
        log(`${rel(u.src)} [${u.variant.name}] ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, todo.length)) }, worker));
  return failures;
}

async function link(output, objects, flags) {
  const newest = Math.max(...objects.map(mtime));
  if (mtime(output) >= newest && mtime(output) >= mtime(__filename)) return true;
  const r = await run(cxx, ['-o', output, ...objects, ...flags]);
  if (r.out.trim()) process.stdout.write(r.out);
  if (r.code !== 0) {
    log(`FAILED to link ${rel(output)}`);
    return false;
  }
  log(`linked ${rel(output)}`);
  return true;
}

async function archive(output, objects) {
  const newest = Math.max(...objects.map(mtime));
  if (mtime(output) >= newest) return true;
  fs.rmSync(output, { force: true });
  const r = await run(process.env.AR || 'ar', ['rcs', output, ...objects]);
  if (r.code !== 0) {
    process.stdout.write(r.out);
    return false;
  }
  return true;
}

async function main() {
  const t0 = Date.now();
  if (opt('--clean')) {
    fs.rmSync(outDir, { recursive: true, force: true });
    log('removed build-cuda-emu/');
  }
  if (spawnSync(cxx, ['--version'], { encoding: 'utf8' }).status !== 0) fail(`no C++ compiler (${cxx})`);

  const nodedir = localNodeDir();
  if (!nodedir) fail('local Node headers not found (<prefix>/include/node/node_api.h or npm_config_nodedir); they are never downloaded');
  let napiInclude;
  try {
    napiInclude = String(require(require.resolve('node-addon-api', { paths: [root] })).include).replace(/"/g, '');
  } catch {
    fail('node-addon-api not found (run `npm install` first)');
  }

  const sanFlags = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
  const sanitize = !opt('--no-sanitize') && compilerAccepts(['-std=c++17', ...sanFlags]);
  if (!opt('--no-sanitize') && !sanitize) log('the compiler cannot build with -fsanitize=address,undefined: checks built without sanitizers');
  const fma = cpuHasFma() && compilerAccepts(['-mfma']);

  const common = ['-std=c++17', '-O2', '-fno-math-errno', '-pthread', `-I${path.join(root, 'native')}`];
  const emuDefs = ['-DSYNTHTUNE_CUDA', '-DSYNTHTUNE_CUDA_EMU', `-I${path.join(root, 'native', 'cuda', 'emu')}`];
  // Addon: as the CMake target (NAPI_VERSION=8, C++ exceptions), position independent, hidden.
  const addonFlags = [
    ...common,
    ...emuDefs,
    ...(fma ? ['-mfma'] : []),
    '-fPIC',
    '-fvisibility=hidden',
    '-fexceptions',
    '-DNAPI_VERSION=8',
    '-DNAPI_CPP_EXCEPTIONS',
    '-DBUILDING_NODE_EXTENSION',
    `-I${path.join(nodedir, 'include', 'node')}`,
    `-I${napiInclude}`,
  ];
  // CPU sources for the checks: plain (they are the reference, not under test).
  const cpuFlags = [...common, '-DSYNTHTUNE_CUDA', '-fPIC'];
  const checkFlags = [...common, ...emuDefs, ...(fma ? ['-mfma'] : []), '-g1', ...(sanitize ? sanFlags : [])];

  const vAddon = variant('addon', addonFlags);
  const vCpu = variant('cpu', cpuFlags);
  const vCheck = variant(sanitize ? 'check-asan' : 'check', checkFlags);

  const cpuSrc = glob('native/cpu', '.cc');
  const cudaSrc = glob('native/cuda', '.cu');
  const emuSrc = [path.join(root, 'native', 'cuda', 'emu', 'emu.cc')];
  const bindings = glob('native', '.cc').filter((f) => path.basename(f).startsWith('bindings_'));
  const addonSrc = [path.join(root, 'native', 'addon.cc'), ...bindings, ...cpuSrc, ...cudaSrc, ...emuSrc];
  const checkMains = glob('native/cuda/tests', '.cu');  // each a standalone check (cuda_check, ...)
  const selftest = path.join(root, 'native', 'cuda', 'emu', 'tests', 'emu_selftest.cu');

  const units = [];
  for (const src of addonSrc) units.push({ variant: vAddon, src, obj: objectOf(vAddon, src) });
  for (const src of cpuSrc) units.push({ variant: vCpu, src, obj: objectOf(vCpu, src) });
  for (const src of [...cudaSrc, ...emuSrc, ...checkMains, selftest]) units.push({ variant: vCheck, src, obj: objectOf(vCheck, src) });
  fs.mkdirSync(outDir, { recursive: true });
  const failures = await compileAll(units);
  if (failures.length) log(`${failures.length} object(s) failed to compile: ${[...new Set(failures.map((u) => rel(u.src)))].join(', ')}`);

  const obj = (v, src) => objectOf(v, src);
  let ok = failures.length === 0;
  // Checks link the kernels through archives, so each pulls in only what it uses (as the CMake
  // targets do, cuda_check does not need the CPU sources).
  const libCuda = path.join(outDir, 'obj', `libcuda-${path.basename(vCheck.dir)}.a`);
  const libCpu = path.join(outDir, 'obj', `libcpu-${path.basename(vCpu.dir)}.a`);
  const linkFlags = ['-pthread', ...(sanitize ? ['-fsanitize=address,undefined'] : [])];
  if (ok) {
    ok = (await archive(libCuda, [...cudaSrc, ...emuSrc].map((s) => obj(vCheck, s)))) && ok;
    ok = (await archive(libCpu, cpuSrc.map((s) => obj(vCpu, s)))) && ok;
  }
  if (ok) {
    for (const main of checkMains) {
      const exe = path.join(outDir, path.basename(main, '.cu'));
      ok = (await link(exe, [obj(vCheck, main), libCuda, libCpu], linkFlags)) && ok;
    }
    ok = (await link(path.join(outDir, 'emu_selftest'), [obj(vCheck, selftest), obj(vCheck, emuSrc[0])], linkFlags)) && ok;
    ok = (await link(path.join(outDir, 'synthtune_cuda.node'), addonSrc.map((s) => obj(vAddon, s)), ['-shared', '-pthread'])) && ok;
  }
  fs.writeFileSync(
    path.join(outDir, 'build-info.json'),
    JSON.stringify({ compiler: cxx, sanitize, fma, jobs, ok, seconds: (Date.now() - t0) / 1000 }, null, 2) + '\n',
  );
  log(`${ok ? 'done' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s${sanitize ? ' (checks with ASan + UBSan)' : ''}`);
  if (!ok) process.exit(1);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
