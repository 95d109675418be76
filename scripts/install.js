#!/usr/bin/env node
// Install step of synthtune (`npm install` runs it; `npm run build:native` forces a rebuild).
//
// 1. A usable prebuilt binary (prebuilds/<platform>-<arch>/, shipped in the npm package; see
//    scripts/prebuildify.js) or an existing build -> done. In a git checkout (a developer's clone,
//    CI) only build/Release counts, so a prebuild left by `npm pack` never stands in for changed
//    native code.
//    Installing with --ignore-scripts skips this file: node-gyp-build then finds the prebuild itself.
// 2. Otherwise build the CPU addon with node-gyp from binding.gyp, offline: node-gyp is pointed
//    at the headers of the running Node (<prefix>/include/node) when they exist, so it never
//    downloads them.
// 3. If the build fails, say so and go on: synthtune then runs on its pure-TypeScript kernels
//    (`synthtune info` tells which backend is active and why). Set SYNTHTUNE_REQUIRE_NATIVE=1 to
//    make a failed build fail the install instead (CI does).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { localNodeDir, nodeGypCommand } = require('./gyp-env');

const root = path.resolve(__dirname, '..');
const force = process.argv.includes('--force');
const required = process.env.SYNTHTUNE_REQUIRE_NATIVE === '1';

function log(msg) {
  process.stderr.write(`synthtune install: ${msg}\n`);
}

/** The SIMD level of the addon node-gyp-build finds (build/Release only, in a checkout), or null. */
function addonWorks(buildOnly) {
  try {
    const file = path.join(root, 'build', 'Release', 'synthtune.node');
    const addon = buildOnly ? require(file) : require('node-gyp-build')(root);
    return typeof addon.simdLevel === 'function' ? addon.simdLevel() : null;
  } catch {
    return null;
  }
}

function main() {
  const checkout = require('node:fs').existsSync(path.join(root, '.git'));
  if (!force) {
    const simd = addonWorks(checkout);
    if (simd) {
      log(`native addon already available (${simd}); nothing to build`);
      return 0;
    }
  }
  const nodedir = localNodeDir();
  const [cmd, ...pre] = nodeGypCommand();
  const args = [...pre, 'rebuild', `--jobs=${Math.max(1, require('node:os').cpus().length)}`];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  else log('local Node headers not found; node-gyp may try to download them');
  log(`building the CPU addon: ${[path.basename(cmd), ...args.map((a) => (a.includes('/') ? path.basename(a) : a))].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status === 0) {
    const simd = addonWorks();
    log(simd ? `native addon built; this CPU uses the ${simd} kernels` : 'built, but the addon does not load');
    if (simd) return 0;
  }
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  if (required) {
    log(`native build failed (${why}) and SYNTHTUNE_REQUIRE_NATIVE=1`);
    return 1;
  }
  log(`native build failed (${why}); synthtune will use its pure-TypeScript kernels (slower)`);
  return 0;
}

process.exitCode = main();
