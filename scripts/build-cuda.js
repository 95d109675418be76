#!/usr/bin/env node
// `npm run build:cuda`: build the optional CUDA addon, build-cuda/Release/synthtune_cuda.node.
//
// CUDA is optional: without nvcc this prints why and exits 0. With nvcc it runs cmake-js
// (configure + build, --out build-cuda) on CMakeLists.txt and exits non-zero if that fails.
//
// cmake-js must never download Node headers. It skips the download when the npm config `nodedir`
// (env npm_config_nodedir) points at a directory holding include/node/node.h, and then passes
// <nodedir>/include/node as CMAKE_JS_INC. We point it at the headers of the Node running this
// script (<prefix>/include/node, next to <prefix>/bin/node). If those are not installed we fall
// back to the node-api-headers package (a dependency of cmake-js): the addon uses Node-API only,
// so its headers are all that is needed; they are copied into build-cuda/node-headers/include/node
// together with a placeholder node.h (the file cmake-js checks for).
//
// Environment: CUDACXX or CUDA_HOME/CUDA_PATH select the CUDA toolkit (else nvcc on PATH, else
// /usr/local/cuda/bin/nvcc); CUDA_ARCHITECTURES overrides the default "80;90";
// npm_config_nodedir, if already set to a directory with include/node/node.h, is respected.
//
// `--checks` also builds the standalone GPU-vs-CPU checks (CMake targets cuda_check,
// bert_layers_check, tc_check, into build-cuda/); CI compiles them so that nvcc sees every kernel.
// Run them on a machine with a GPU (each exits 77, "skip", without one).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'build-cuda');

function log(msg) {
  console.log(`[build:cuda] ${msg}`);
}
function fail(msg) {
  console.error(`[build:cuda] ERROR: ${msg}`);
  process.exit(1);
}

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function which(cmd) {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, cmd + ext);
      if (isFile(p)) return p;
    }
  }
  return null;
}

function findNvcc() {
  const exe = process.platform === 'win32' ? 'nvcc.exe' : 'nvcc';
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  for (const v of ['CUDA_HOME', 'CUDA_PATH']) {
    if (process.env[v]) candidates.push(path.join(process.env[v], 'bin', exe));
  }
  const onPath = which('nvcc');
  if (onPath) candidates.push(onPath);
  if (process.platform !== 'win32') candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find(isFile) || null;
}

// A directory D with D/include/node/node.h and node_api.h, for npm_config_nodedir.
function nodeHeadersDir() {
  const ok = (d) => d && isFile(path.join(d, 'include', 'node', 'node.h')) && isFile(path.join(d, 'include', 'node', 'node_api.h'));
  if (ok(process.env.npm_config_nodedir)) return { dir: process.env.npm_config_nodedir, from: 'npm_config_nodedir' };
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (ok(prefix)) return { dir: prefix, from: `local Node ${process.version}` };

  // Fallback: Node-API headers from the node-api-headers package, no network involved.
  let apiInclude;
  try {
    const req = require('module').createRequire(path.join(root, 'node_modules', 'cmake-js', 'package.json'));
    apiInclude = req('node-api-headers').include_dir;
  } catch {
    return null;
  }
  const shim = path.join(outDir, 'node-headers');
  const inc = path.join(shim, 'include', 'node');
  fs.mkdirSync(inc, { recursive: true });
  for (const f of fs.readdirSync(apiInclude)) {
    if (f.endsWith('.h')) fs.copyFileSync(path.join(apiInclude, f), path.join(inc, f));
  }
  fs.writeFileSync(
    path.join(inc, 'node.h'),
    '// Placeholder written by scripts/build-cuda.js: cmake-js checks for this file. The addon\n' +
      '// uses Node-API only (node_api.h), never the V8/node.h C++ API.\n#error "node.h is not available"\n',
  );
  return { dir: shim, from: 'node-api-headers package' };
}

function main() {
  const nvcc = findNvcc();
  if (!nvcc) {
    log('nvcc not found (checked CUDACXX, CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda/bin).');
    log('The CUDA backend is optional; skipping. Install the CUDA toolkit to build it.');
    return 0;
  }
  log(`using nvcc: ${nvcc}`);

  if (!which('cmake')) fail('cmake not found on PATH (CMake >= 3.18 is required to build the CUDA addon).');

  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    fail('cmake-js is not installed (it is a devDependency: run `npm install`).');
  }

  const headers = nodeHeadersDir();
  if (!headers) fail('no Node headers found: neither <prefix>/include/node nor the node-api-headers package.');
  log(`Node headers: ${path.join(headers.dir, 'include', 'node')} (${headers.from})`);

  const env = { ...process.env, npm_config_nodedir: headers.dir, CUDACXX: nvcc };
  const archs = process.env.CUDA_ARCHITECTURES || '80;90';
  const common = [
    '--directory', root,
    '--out', outDir,
    '--config', 'Release',
    `--CDCMAKE_CUDA_COMPILER=${nvcc}`,
    `--CDCMAKE_CUDA_ARCHITECTURES=${archs}`,
    `--CDNODE_EXECUTABLE=${process.execPath}`,
  ];
  const run = (command, extra) => {
    const args = [cmakeJs, command, ...common, ...extra];
    const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    if (r.error) fail(`could not run cmake-js: ${r.error.message}`);
    if (r.status !== 0) fail(`cmake-js ${command} failed (exit ${r.status}); see the output above.`);
  };
  run('configure', []);
  run('build', ['--parallel', String(Math.max(1, os.cpus().length))]);

  const out = path.join(outDir, 'Release', 'synthtune_cuda.node');
  if (!isFile(out)) fail(`build finished but ${out} is missing.`);
  log(`built ${path.relative(root, out)}`);
  if (process.argv.includes('--checks')) {
    const targets = ['cuda_check', 'bert_layers_check', 'tc_check'];
    const r = spawnSync('cmake', ['--build', outDir, '--parallel', String(Math.max(1, os.cpus().length)), '--target', ...targets], {
      cwd: root,
      env,
      stdio: 'inherit',
    });
    if (r.error || r.status !== 0) fail(`building the checks (${targets.join(', ')}) failed; see the output above.`);
    log(`built the checks: ${targets.map((t) => `build-cuda/${t}`).join(', ')} (run them where a GPU is present)`);
  }
  return 0;
}

process.exitCode = main();
