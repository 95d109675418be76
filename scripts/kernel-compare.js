#!/usr/bin/env node
// Cross-check of an installed synthtune's native kernels against its pure-TypeScript references,
// for the prebuilt binaries (scripts/consumer-check.sh runs it in the consumer project on x64, and
// under qemu-aarch64 with an arm64 Node for linux-arm64).
//
// usage: node scripts/kernel-compare.js <folder holding node_modules/synthtune> <expected backend prefix, e.g. native->
//
// Fixed seeds, odd shapes (1, 7, 33, 129; k not a multiple of the SIMD width; batches; transB;
// alpha/beta with beta over old contents), top-k with exclusions and k > N, and the training
// kernels (embedding bag forward/backward, row-wise Adam). GEMM is compared with an error
// normalised by sqrt(k)·max|a|·max|b| (ggml's test-backend-ops style), top-k as index sets with
// scores to 1e-5 (ties broken by index on both sides), the training kernels bit for bit (they are
// specified to be equal on every backend). Prints one line per check and the max error; exits 1 on
// any failure, or when the backend is not the expected one.
'use strict';
const path = require('node:path');

const [dir, expected = 'native-'] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node scripts/kernel-compare.js <project folder> [expected backend prefix]\n');
  process.exit(2);
}
const k = require(path.join(path.resolve(dir), 'node_modules', 'synthtune', 'dist', 'lib', 'kernels'));

let seed = 12345;
function rand() {
  // xorshift32: the same numbers on every platform
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return ((seed >>> 0) / 4294967296) * 2 - 1;
}
function vec(n) {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rand();
  return v;
}

let failures = 0;
function report(name, ok, detail) {
  if (!ok) failures++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name} ${detail}\n`);
}

const be = k.backend();
report('backend', be.name.startsWith(expected), `${be.name} (simd ${be.simd}, ${process.platform}-${process.arch}, node ${process.version})${be.reasons.length ? ': ' + be.reasons.join('; ') : ''}`);

// GEMM
const gemmShapes = [
  { m: 1, n: 1, k: 1 },
  { m: 7, n: 33, k: 129 },
  { m: 33, n: 7, k: 17, transB: true },
  { m: 129, n: 65, k: 300, alpha: 0.5, beta: 0.25 },
  { m: 5, n: 9, k: 31, batch: 3, transB: true },
];
for (const s of gemmShapes) {
  const batch = s.batch ?? 1;
  const a = vec(batch * s.m * s.k);
  const b = vec(batch * s.n * s.k);
  const c0 = vec(batch * s.m * s.n);
  const args = { ...s, c: c0.slice() };
  const refArgs = { ...s, c: c0.slice() };
  const got = k.matmulSync(a, b, args);
  const want = k.matmulRef(a, b, refArgs);
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  const norm = maxErr / Math.sqrt(s.k); // |a|,|b| <= 1
  report(`matmul ${JSON.stringify(s)}`, norm < 1e-5 && Number.isFinite(maxErr), `max |diff| ${maxErr.toExponential(2)} (normalised ${norm.toExponential(2)})`);
}

// top-k
const topkCases = [
  { q: 3, n: 50, dim: 7, k: 5 },
  { q: 17, n: 1000, dim: 129, k: 10, exclude: true },
  { q: 2, n: 4, dim: 16, k: 9 },
];
for (const t of topkCases) {
  const queries = vec(t.q * t.dim);
  const corpus = vec(t.n * t.dim);
  const exclude = t.exclude ? Array.from({ length: t.q }, (_, i) => [i, (i * 7) % t.n]) : undefined;
  const args = { dim: t.dim, k: t.k, exclude };
  const got = k.topkSync(queries, corpus, args);
  const want = k.topkRef(queries, corpus, args);
  let ok = got.k === want.k;
  let maxErr = 0;
  for (let r = 0; ok && r < t.q; r++) {
    const g = new Set(got.indices.subarray(r * got.k, (r + 1) * got.k));
    const w = new Set(want.indices.subarray(r * want.k, (r + 1) * want.k));
    for (const i of w) if (!g.has(i)) ok = false;
    for (let j = 0; j < got.k; j++) {
      const d = Math.abs(got.scores[r * got.k + j] - want.scores[r * want.k + j]);
      if (Number.isFinite(d)) maxErr = Math.max(maxErr, d);
    }
  }
  report(`topk ${JSON.stringify({ ...t, exclude: !!t.exclude })}`, ok && maxErr < 1e-5, `same index sets: ${ok}, max |score diff| ${maxErr.toExponential(2)}`);
}

// training kernels: specified bit-identical across backends
{
  const V = 37;
  const D = 19;
  const E = vec(V * D);
  const lens = [3, 0, 5, 1, 8];
  const offsets = new Int32Array(lens.length + 1);
  lens.forEach((l, i) => (offsets[i + 1] = offsets[i] + l));
  const ids = new Int32Array(offsets[lens.length]);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(((rand() + 1) / 2) * V) % V;
  const fwd = k.embeddingBag(E, V, D, ids, offsets);
  const fwdRef = k.embeddingBagRef(E, V, D, ids, offsets);
  report('embeddingBag', Buffer.compare(Buffer.from(fwd.buffer, fwd.byteOffset, fwd.byteLength), Buffer.from(fwdRef.buffer, fwdRef.byteOffset, fwdRef.byteLength)) === 0, 'bit-identical to the reference');
  const dOut = vec(lens.length * D);
  const g1 = new Float32Array(V * D);
  const g2 = new Float32Array(V * D);
  k.embeddingBagBackward(dOut, ids, offsets, D, g1, V);
  k.embeddingBagBackwardRef(dOut, ids, offsets, D, g2, V);
  report('embeddingBagBackward', Buffer.compare(Buffer.from(g1.buffer), Buffer.from(g2.buffer)) === 0, 'bit-identical to the reference');
  const width = 19;
  const rows = new Int32Array([0, 4, 2]);
  const mk = () => ({ x: vec(6 * width), g: vec(6 * width), m: vec(6 * width).map(Math.abs), v: vec(6 * width).map(Math.abs) });
  seed = 777;
  const a = mk();
  seed = 777;
  const b = mk();
  const consts = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, c1: 10, c2: 1000, l2: 0.01, decoupled: 1e-5 }; // step 1
  k.adamRows(a.x, a.g, a.m, a.v, width, rows, consts);
  k.adamRowsRef(b.x, b.g, b.m, b.v, width, rows, consts);
  const same = ['x', 'm', 'v'].every((f) => Buffer.compare(Buffer.from(a[f].buffer), Buffer.from(b[f].buffer)) === 0);
  report('adamRows', same, 'bit-identical to the reference');
}

process.stdout.write(`${failures === 0 ? 'kernel-compare: all checks passed' : `kernel-compare: ${failures} failed`} on ${process.platform}-${process.arch}\n`);
process.exit(failures === 0 ? 0 : 1);
