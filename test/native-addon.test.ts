/**
 * The addon called directly, bypassing the TypeScript checks: it must throw, never crash or read
 * out of bounds. And every SIMD level this CPU supports, forced through SYNTHTUNE_SIMD in a child
 * process, against the pure-TS reference.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../lib/kernels/loader';

const { addon, info } = loadBackend();
const native = addon !== null;
if (!native) console.log(`native addon tests skipped: ${info.reasons.join('; ')}`);

describe.runIf(native)('native addon argument checks', () => {
  const a = addon!;
  const f = (n: number) => new Float32Array(n);
  it('sgemm rejects short, mistyped or missing buffers', () => {
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, f(3), f(4), 0, f(4), 0)).toThrow(/a has length 3, expected 4/);
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, f(4), new Float64Array(4) as never, 0, f(4), 0)).toThrow(/b must be a Float32Array/);
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, f(4), f(4), 0, f(3), 0)).toThrow(RangeError);
    expect(() => a.sgemmSync(false, 0, 2, 2, 2, 1, f(4), f(4), 0, f(4), 0)).toThrow(/batch must be > 0/);
    expect(() => a.sgemmSync(false, 1, 2 ** 40, 2, 2, 1, f(4), f(4), 0, f(4), 0)).toThrow(RangeError);
    expect(() => (a.sgemmSync as (...x: unknown[]) => void)(false, 1)).toThrow(TypeError);
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, f(4), f(4), 0, f(4), -1)).toThrow(/threads/);
  });
  it('topk rejects inconsistent sizes and bad exclusion lists', () => {
    const idx = new Int32Array(2);
    expect(() => a.topkSync(f(4), f(8), 2, 2, 2, 1, null, null, idx, f(2), 0)).toThrow(/corpus has length 8, expected 4/);
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 3, null, null, idx, f(2), 0)).toThrow(/k must be <= n/);
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 1, null, null, new Int32Array(1), f(2), 0)).toThrow(/outIdx has length 1/);
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 1, new Int32Array([0, 1, 5]), new Int32Array([0]), idx, f(2), 0)).toThrow(
      /exclOffsets\[q\] must equal exclIds.length/,
    );
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 1, new Int32Array([0, 2, 1]), new Int32Array([0]), idx, f(2), 0)).toThrow(
      /non-decreasing/,
    );
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 1, new Int32Array([0, 0, 0]), null, idx, f(2), 0)).toThrow(/both be given/);
    expect(() => a.topkSync(f(4), f(4), 2, 2, 2, 1, new Int32Array([0, 0, 0]), new Float32Array(0) as never, idx, f(2), 0)).toThrow(
      /exclIds must be a Int32Array/,
    );
  });
  it('async variants reject bad arguments synchronously and still work after', async () => {
    expect(() => a.sgemm(false, 1, 2, 2, 2, 1, f(3), f(4), 0, f(4), 0)).toThrow(RangeError);
    const c = f(4);
    await a.sgemm(false, 1, 2, 2, 2, 1, new Float32Array([1, 0, 0, 1]), new Float32Array([1, 2, 3, 4]), 0, c, 0);
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
  });
});

// A child process per SIMD level, comparing the addon with a plain-JS double-precision product.
const CHILD = `
const addon = require('node-gyp-build')(process.argv[1]);
const level = addon.simdLevel();
function rnd(n, s) { const o = new Float32Array(n); for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; o[i] = s / 1073741824 - 1; } return o; }
let worst = 0;
for (const [m, n, k, tb] of [[1,1,1,0],[7,13,5,1],[129,33,70,0],[130,67,129,1],[64,96,384,0]]) {
  const a = rnd(m*k, m+n), b = rnd(k*n, k+3), c = new Float32Array(m*n);
  addon.sgemmSync(!!tb, 1, m, n, k, 1, a, b, 0, c, 2);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0; for (let p = 0; p < k; p++) s += a[i*k+p] * (tb ? b[j*k+p] : b[p*n+j]);
    worst = Math.max(worst, Math.abs(s - c[i*n+j]) / k);
  }
}
const q = rnd(9*19, 5), x = rnd(300*19, 6), idx = new Int32Array(9*8), sc = new Float32Array(9*8);
addon.topkSync(q, x, 9, 300, 19, 8, null, null, idx, sc, 2);
let topkOk = true;
for (let i = 0; i < 9; i++) {
  const all = []; for (let j = 0; j < 300; j++) { let s = 0; for (let p = 0; p < 19; p++) s += q[i*19+p]*x[j*19+p]; all.push([s, j]); }
  all.sort((u, v) => v[0] - u[0] || u[1] - v[1]);
  for (let t = 0; t < 8; t++) if (Math.abs(all[t][0] - sc[i*8+t]) > 1e-4) topkOk = false;
}
console.log(JSON.stringify({ level, worst, topkOk }));
`;

const LEVELS = info.simd === 'avx512' ? ['scalar', 'avx2', 'avx512'] : info.simd === 'avx2' ? ['scalar', 'avx2'] : ['scalar'];

describe.runIf(native && info.name !== 'cuda')('every SIMD level this CPU has', () => {
  for (const level of LEVELS) {
    it(`${level} kernels match the reference`, () => {
      const root = path.resolve(__dirname, '..');
      const r = spawnSync(process.execPath, ['-e', CHILD, root], {
        cwd: root,
        env: { ...process.env, SYNTHTUNE_SIMD: level },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim());
      expect(out.level).toBe(level);
      expect(out.worst).toBeLessThan(1e-5);
      expect(out.topkOk).toBe(true);
    });
  }
});
