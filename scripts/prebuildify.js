#!/usr/bin/env node
// `npm run prebuildify`: writes prebuilds/<platform>-<arch>/synthtune.node (N-API: one binary
// serves every Node version) with prebuildify, against the running Node's local headers so
// nothing is downloaded. node-gyp-build loads it before any local build.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const prefix = path.resolve(path.dirname(process.execPath), '..');
const env = { ...process.env };
if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix;
}
const bin = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });
process.exitCode = r.status ?? 1;
