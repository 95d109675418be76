// How synthtune's scripts run node-gyp without the network (shared by install.js and prebuildify.js):
// the headers of the running Node (<prefix>/include/node, or $npm_config_nodedir) so node-gyp never
// downloads them, and the node-gyp that npm runs us with, else npm's bundled one, else a local one.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The local Node headers: $npm_config_nodedir, else <prefix>/include/node next to the running node binary. */
function localNodeDir() {
  if (process.env.npm_config_nodedir && fs.existsSync(path.join(process.env.npm_config_nodedir, 'include', 'node', 'node_api.h'))) {
    return process.env.npm_config_nodedir;
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** [command, ...args] that runs node-gyp. */
function nodeGypCommand() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  const npmDir = path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  candidates.push(path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => c && fs.existsSync(c));
  return found ? [process.execPath, found] : ['node-gyp'];
}

module.exports = { localNodeDir, nodeGypCommand };
