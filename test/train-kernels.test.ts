/**
 * Training kernels (lib/kernels/train.ts, native/cpu/embedding.cc): the embedding bag forward /
 * backward and the row-wise Adam step, native against the pure-TS references on odd shapes,
 * at every SIMD level this CPU has, for any thread count; and bad arguments, through the TS layer
 * and straight into the addon (clear errors, no crash, nothing written).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  adamRows, adamRowsRef, embeddingBag, embeddingBagBackward, embeddingBagBackwardRef, embeddingBagRef,
  type AdamRowsConsts,
} from '../lib/kernels';
import { loadBackend } from '../lib/kernels/loader';

const { addon, info } = loadBackend();
const native = addon !== null && typeof addon.embeddingBagForward === 'function';
if (!native) console.log(`native training-kernel tests skipped: ${info.reasons.join('; ') || 'addon lacks them'}`);

/** Deterministic pseudo-random numbers (the same LCG as the child process below). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
}
function floats(n: number, seed: number, scale = 1): Float32Array {
  const r = lcg(seed);
  const o = new Float32Array(n);
  for (let i = 0; i < n; i++) o[i] = (r() * 2 - 1) * scale;
  return o;
}
/** B texts of 0..maxLen ids in [0, V) (every 5th text empty, some ids repeated within a text). */
function texts(B: number, V: number, maxLen: number, seed: number): { ids: Int32Array; offsets: Int32Array } {
  const r = lcg(seed);
  const offsets = new Int32Array(B + 1);
  const all: number[] = [];
  for (let b = 0; b < B; b++) {
    const L = b % 5 === 4 ? 0 : 1 + Math.floor(r() * maxLen);
    for (let t = 0; t < L; t++) all.push(t > 0 && r() < 0.2 ? all[all.length - 1] : Math.floor(r() * V));
    offsets[b + 1] = all.length;
  }
  return { ids: Int32Array.from(all), offsets };
}
const K: AdamRowsConsts = {
  lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, c1: 1 / (1 - 0.9 ** 3), c2: 1 / (1 - 0.999 ** 3), l2: 0.01, decoupled: 1e-5,
};
/** Index of the first element whose bits differ (-1: identical; NaN payloads compared as bits). */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
function maxRel(a: Float32Array, b: Float32Array): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / Math.max(1e-30, Math.abs(b[i])));
  return w;
}

const SHAPES: [number, number][] = [[1, 1], [1, 7], [7, 33], [129, 256], [7, 1], [129, 7], [1, 256], [7, 19]];
const V = 53;

describe('training kernels match the references (dispatch)', () => {
  for (const [B, D] of SHAPES) {
    it(`embedding bag forward/backward B=${B} D=${D}`, () => {
      const E = floats(V * D, B * 31 + D);
      const { ids, offsets } = texts(B, V, 40, B + D);
      const want = embeddingBagRef(E, V, D, ids, offsets);
      const got = embeddingBag(E, V, D, ids, offsets, new Float32Array(B * D).fill(NaN));
      expect(firstDiff(got, want)).toBe(-1); // bit for bit (NaN in the output buffer is ignored)
      for (let b = 0; b < B; b++) {
        if (offsets[b + 1] === offsets[b]) expect(Array.from(got.subarray(b * D, b * D + D)).every((x) => x === 0)).toBe(true);
      }
      const dOut = floats(B * D, 7 * B + D);
      const g0 = floats(V * D, 99, 0.1);
      const gWant = g0.slice();
      const gGot = g0.slice();
      embeddingBagBackwardRef(dOut, ids, offsets, D, gWant, V);
      embeddingBagBackward(dOut, ids, offsets, D, gGot, V);
      expect(firstDiff(gGot, gWant)).toBe(-1);
    });
  }

  for (const [rows, width] of [[1, 1], [7, 33], [129, 256], [40, 7]] as const) {
    it(`adamRows ${rows}x${width}: rows=null, a row list, and all rows listed`, () => {
      const n = rows * width;
      const x0 = floats(n, 1), g = floats(n, 2, 0.5), m0 = floats(n, 3, 0.01), v0 = floats(n, 4, 0.01).map(Math.abs);
      for (const list of [null, Int32Array.from({ length: Math.ceil(rows / 2) }, (_, i) => (i * 7) % rows)]) {
        const uniq = list ? Int32Array.from(new Set(list)) : null;
        const [xa, ma, va] = [x0.slice(), m0.slice(), v0.slice()];
        const [xb, mb, vb] = [x0.slice(), m0.slice(), v0.slice()];
        adamRowsRef(xa, g, ma, va, width, uniq, K);
        adamRows(xb, g, mb, vb, width, uniq, K);
        expect(maxRel(xb, xa)).toBeLessThanOrEqual(1e-6);
        expect(maxRel(mb, ma)).toBeLessThanOrEqual(1e-6);
        expect(maxRel(vb, va)).toBeLessThanOrEqual(1e-6);
        if (uniq) {
          const listed = new Set(uniq);
          for (let r = 0; r < rows; r++) {
            if (listed.has(r)) continue;
            expect(xb.subarray(r * width, r * width + width)).toEqual(x0.subarray(r * width, r * width + width));
          }
        }
      }
      // Listing every row is the same as rows = null (per element, the same arithmetic).
      const [xa, ma, va] = [x0.slice(), m0.slice(), v0.slice()];
      const [xb, mb, vb] = [x0.slice(), m0.slice(), v0.slice()];
      adamRows(xa, g, ma, va, width, null, K);
      adamRows(xb, g, mb, vb, width, Int32Array.from({ length: rows }, (_, i) => rows - 1 - i), K);
      expect(firstDiff(xb, xa)).toBe(-1);
      expect(firstDiff(mb, ma)).toBe(-1);
      expect(firstDiff(vb, va)).toBe(-1);
    });
  }

  it('B = 0 and empty row lists are no-ops', () => {
    expect(embeddingBag(floats(4, 1), 2, 2, new Int32Array(0), new Int32Array([0])).length).toBe(0);
    const g = floats(4, 2);
    embeddingBagBackward(new Float32Array(0), new Int32Array(0), new Int32Array([0]), 2, g, 2);
    expect(g).toEqual(floats(4, 2));
    const x = floats(4, 3);
    adamRows(x, floats(4, 4), new Float32Array(4), new Float32Array(4), 2, new Int32Array(0), K);
    expect(x).toEqual(floats(4, 3));
  });
});

describe.runIf(native)('native training kernels', () => {
  const a = addon!;
  it('bit-identical across runs and thread counts, and equal to the references', () => {
    const B = 129, D = 256, Vb = 1000;
    const E = floats(Vb * D, 5);
    const { ids, offsets } = texts(B, Vb, 60, 6);
    const want = embeddingBagRef(E, Vb, D, ids, offsets);
    const dOut = floats(B * D, 8);
    const gWant = new Float32Array(Vb * D);
    embeddingBagBackwardRef(dOut, ids, offsets, D, gWant, Vb);
    const x0 = floats(Vb * D, 9), m0 = floats(Vb * D, 10, 0.01), v0 = floats(Vb * D, 11, 0.01).map(Math.abs);
    const rows = Int32Array.from(new Set(ids));
    const [xr, mr, vr] = [x0.slice(), m0.slice(), v0.slice()];
    adamRowsRef(xr, gWant, mr, vr, D, rows, K);
    for (const threads of [0, 1, 2, 3, 7]) {
      for (let rep = 0; rep < 2; rep++) {
        const out = new Float32Array(B * D);
        a.embeddingBagForward!(E, Vb, D, ids, offsets, B, out, threads);
        expect(firstDiff(out, want)).toBe(-1);
        const g = new Float32Array(Vb * D);
        a.embeddingBagBackward!(dOut, ids, offsets, B, D, g, Vb, threads);
        expect(firstDiff(g, gWant)).toBe(-1);
        const [x, m, v] = [x0.slice(), m0.slice(), v0.slice()];
        a.adamRows!(x, gWant, m, v, D, rows, K.lr, K.b1, K.b2, K.eps, K.c1, K.c2, K.l2, K.decoupled, threads);
        expect(maxRel(x, xr)).toBeLessThanOrEqual(1e-6);
        expect(maxRel(m, mr)).toBeLessThanOrEqual(1e-6);
        expect(maxRel(v, vr)).toBeLessThanOrEqual(1e-6);
        const [x2, m2, v2] = [x0.slice(), m0.slice(), v0.slice()];
        a.adamRows!(x2, gWant, m2, v2, D, rows, K.lr, K.b1, K.b2, K.eps, K.c1, K.c2, K.l2, K.decoupled, 1);
        expect(firstDiff(x, x2)).toBe(-1);
        expect(firstDiff(m, m2)).toBe(-1);
        expect(firstDiff(v, v2)).toBe(-1);
      }
    }
  });
});

// ---- bad arguments ---------------------------------------------------------------------------------

const f = (n: number) => new Float32Array(n);
const i32 = (...x: number[]) => Int32Array.from(x);

describe('the TS layer rejects bad arguments with clear errors', () => {
  const E = f(3 * 2);
  it('embeddingBag', () => {
    expect(() => embeddingBag(E, 3, 2, i32(0, 3), i32(0, 2))).toThrow(/ids\[1\] = 3 is outside \[0, V=3\)/);
    expect(() => embeddingBag(E, 3, 2, i32(-1), i32(0, 1))).toThrow(/ids\[0\] = -1 is outside/);
    expect(() => embeddingBag(E, 3, 2, i32(0, 1), i32(0, 2, 1, 2))).toThrow(/offsets must be non-decreasing/);
    expect(() => embeddingBag(E, 3, 2, i32(0, 1), i32(0, 1))).toThrow(/offsets\[B\] = 1 must equal ids.length = 2/);
    expect(() => embeddingBag(E, 3, 2, i32(0, 1), i32(1, 2))).toThrow(/offsets\[0\] must be 0/);
    expect(() => embeddingBag(E, 3, 2, i32(0), new Int32Array(0))).toThrow(/offsets must have B\+1/);
    expect(() => embeddingBag(f(5), 3, 2, i32(0), i32(0, 1))).toThrow(/E has length 5, expected V\*D/);
    expect(() => embeddingBag(E, 3, 2, i32(0), i32(0, 1), f(3))).toThrow(/out has length 3, expected B\*D/);
    expect(() => embeddingBag(E, 3, 2, i32(0), i32(0, 1), E.subarray(0, 2))).toThrow(/out must not share memory with E/);
    expect(() => embeddingBag(E, 3, 2, [0] as never, i32(0, 1))).toThrow(/ids must be an Int32Array, got Array/);
    expect(() => embeddingBag(new Float64Array(6) as never, 3, 2, i32(0), i32(0, 1))).toThrow(/E must be a Float32Array, got Float64Array/);
    expect(() => embeddingBag(E, 3, 2.5, i32(0), i32(0, 1))).toThrow(TypeError);
    expect(() => embeddingBag(E, 0, 2, i32(0), i32(0, 1))).toThrow(/V must be > 0/);
    expect(() => embeddingBag(E, 3, 2, i32(0), i32(0, 1), undefined, 0)).toThrow(/threads/);
  });
  it('embeddingBagBackward', () => {
    const g = f(6);
    expect(() => embeddingBagBackward(f(2), i32(5), i32(0, 1), 2, g, 3)).toThrow(/ids\[0\] = 5 is outside/);
    expect(() => embeddingBagBackward(f(3), i32(0), i32(0, 1), 2, g, 3)).toThrow(/dOut has length 3, expected B\*D/);
    expect(() => embeddingBagBackward(f(2), i32(0), i32(0, 1), 2, f(5), 3)).toThrow(/gradE has length 5/);
    expect(() => embeddingBagBackward(g.subarray(0, 2), i32(0), i32(0, 1), 2, g, 3)).toThrow(/gradE must not share memory with dOut/);
    expect(() => embeddingBagBackward(f(2), i32(0), [0, 1] as never, 2, g, 3)).toThrow(/offsets must be an Int32Array/);
    expect(g).toEqual(f(6));
  });
  it('adamRows', () => {
    const n = 6;
    expect(() => adamRows(f(n), f(n), f(n), f(n), 4, null, K)).toThrow(/width 4 does not divide x.length 6/);
    expect(() => adamRows(f(n), f(5), f(n), f(n), 2, null, K)).toThrow(/g has length 5/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, i32(3), K)).toThrow(/rows\[0\] = 3 is outside \[0, 3\)/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, i32(-1), K)).toThrow(/rows\[0\] = -1 is outside/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, i32(1, 1), K)).toThrow(/rows\[1\] = 1 is repeated/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, [0] as never, K)).toThrow(/rows must be an Int32Array/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, null, { ...K, lr: NaN })).toThrow(/lr must be a finite number/);
    expect(() => adamRows(f(n), f(n), f(n), f(n), 2, null, null as never)).toThrow(/adam constants must be an object/);
    const x = f(n);
    expect(() => adamRows(x, f(n), x, f(n), 2, null, K)).toThrow(/x must not share memory with m/);
    expect(() => adamRows(new Float64Array(n) as never, f(n), f(n), f(n), 2, null, K)).toThrow(/x must be a Float32Array/);
    expect(() => adamRows(f(0), f(0), f(0), f(0), 2, null, K)).toThrow(/x is empty/);
  });
});

describe.runIf(native)('the addon called directly rejects bad arguments (no crash, nothing written)', () => {
  const a = addon!;
  const E = floats(3 * 2, 1);
  it('embeddingBagForward', () => {
    const fw = a.embeddingBagForward!;
    expect(() => fw(E, 3, 2, i32(0, 3), i32(0, 2), 1, f(2), 0)).toThrow(/ids\[1\] = 3 is outside \[0, V=3\)/);
    expect(() => fw(E, 3, 2, i32(-7), i32(0, 1), 1, f(2), 0)).toThrow(/ids\[0\] = -7 is outside/);
    expect(() => fw(E, 3, 2, i32(0, 1), i32(0, 2, 1), 2, f(4), 0)).toThrow(/non-decreasing/);
    expect(() => fw(E, 3, 2, i32(0, 1), i32(0, 1), 1, f(2), 0)).toThrow(/offsets\[B\] must equal ids.length/);
    expect(() => fw(E, 3, 2, i32(0, 1), i32(1, 2), 1, f(2), 0)).toThrow(/offsets\[0\] must be 0/);
    expect(() => fw(E, 3, 2, i32(0), i32(0, 1, 1), 1, f(2), 0)).toThrow(/offsets has length 3, expected 2/);
    expect(() => fw(E, 4, 2, i32(0), i32(0, 1), 1, f(2), 0)).toThrow(/E has length 6, expected 8/);
    expect(() => fw(E, 3, 2, i32(0), i32(0, 1), 1, f(1), 0)).toThrow(/out has length 1, expected 2/);
    expect(() => fw(E, 3, 2, [0] as never, i32(0, 1), 1, f(2), 0)).toThrow(/ids must be a Int32Array/);
    expect(() => fw(E, 3, 2, new Float32Array(1) as never, i32(0, 1), 1, f(2), 0)).toThrow(TypeError);
    expect(() => fw(new Float64Array(6) as never, 3, 2, i32(0), i32(0, 1), 1, f(2), 0)).toThrow(/E must be a Float32Array/);
    expect(() => fw(E, 3, 2, i32(0), i32(0, 1), 0, f(2), 0)).toThrow(/B must be > 0/);
    expect(() => fw(E, 3, 2, i32(0), i32(0, 1), 1, E.subarray(2, 4), 0)).toThrow(/out must not share memory with E/);
    expect(() => fw(E, 3, 2, i32(0), i32(0, 1), 1, f(2), -1)).toThrow(/threads/);
    expect(() => (fw as (...x: unknown[]) => void)(E, 3)).toThrow(TypeError);
    expect(() => fw(E, 3, 2 ** 40, i32(0), i32(0, 1), 1, f(2), 0)).toThrow(RangeError);
    const out = f(2);
    fw(E, 3, 2, i32(2, 0), i32(0, 2), 1, out, 0);
    expect(Array.from(out)).toEqual(Array.from(embeddingBagRef(E, 3, 2, i32(2, 0), i32(0, 2))));
  });
  it('embeddingBagBackward leaves gradE untouched on error', () => {
    const bw = a.embeddingBagBackward!;
    const g = floats(6, 2);
    const g0 = g.slice();
    // Valid ids first, then a bad one: the kernel checks everything before writing.
    expect(() => bw(floats(2, 3), i32(0, 1, 3), i32(0, 3), 1, 2, g, 3, 0)).toThrow(/ids\[2\] = 3 is outside/);
    expect(() => bw(floats(4, 3), i32(0, 1, 2), i32(0, 2, 1), 2, 2, g, 3, 0)).toThrow(/non-decreasing/);
    expect(() => bw(floats(2, 3), i32(0), i32(0, 1), 1, 2, f(5), 3, 0)).toThrow(/gradE has length 5, expected 6/);
    expect(() => bw(floats(1, 3), i32(0), i32(0, 1), 1, 2, g, 3, 0)).toThrow(/dOut has length 1, expected 2/);
    expect(() => bw(g.subarray(0, 2), i32(0), i32(0, 1), 1, 2, g, 3, 0)).toThrow(/gradE must not share memory with dOut/);
    expect(() => bw(floats(2, 3), null as never, i32(0, 1), 1, 2, g, 3, 0)).toThrow(/ids must be a Int32Array/);
    expect(g).toEqual(g0);
  });
  it('adamRows', () => {
    const ad = (x: Float32Array, w: number, rows: unknown, m = f(x.length), lr = 1e-3) =>
      a.adamRows!(x, f(x.length), m, f(x.length), w, rows as Int32Array | null, lr, 0.9, 0.999, 1e-8, 1, 1, 0, 0, 0);
    const x = floats(6, 4);
    const x0 = x.slice();
    expect(() => ad(x, 4, null)).toThrow(/width 4 does not divide x.length 6/);
    expect(() => ad(x, 2, i32(0, 3))).toThrow(/rows\[1\] = 3 is outside \[0, 3\)/);
    expect(() => ad(x, 2, i32(-1))).toThrow(/rows\[0\] = -1 is outside/);
    expect(() => ad(x, 2, i32(2, 2))).toThrow(/rows\[1\] = 2 is repeated/);
    expect(() => ad(x, 2, [0])).toThrow(/rows must be a Int32Array/);
    expect(() => ad(x, 2, null, f(5))).toThrow(/m has length 5, expected 6/);
    expect(() => ad(x, 2, null, x)).toThrow(/x must not share memory with m/);
    expect(() => ad(x, 2, null, f(6), NaN)).toThrow(/lr must be finite/);
    expect(() => ad(f(0), 2, null)).toThrow(/x is empty/);
    expect(() => ad(x, 0, null)).toThrow(/width must be > 0/);
    expect(() => (a.adamRows as (...x: unknown[]) => void)(x, x)).toThrow(TypeError);
    expect(x).toEqual(x0);
  });
});

// ---- every SIMD level, in a child process (SYNTHTUNE_SIMD is read once per process) -------------

const CHILD = `
const addon = require('node-gyp-build')(process.argv[1]);
function lcg(seed) { let s = seed >>> 0; return () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; }; }
function floats(n, seed, scale = 1) { const r = lcg(seed); const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = (r() * 2 - 1) * scale; return o; }
const { B, D, V, ids, offsets, k } = JSON.parse(process.argv[2]);
const I = Int32Array.from(ids), O = Int32Array.from(offsets);
const E = floats(V * D, 1), dOut = floats(B * D, 2), out = new Float32Array(B * D), g = new Float32Array(V * D);
addon.embeddingBagForward(E, V, D, I, O, B, out, 2);
addon.embeddingBagBackward(dOut, I, O, B, D, g, V, 2);
const x = floats(V * D, 3), m = floats(V * D, 4, 0.01), v = floats(V * D, 5, 0.01).map(Math.abs);
const rows = Int32Array.from(new Set(ids));
addon.adamRows(x, g, m, v, D, rows, k.lr, k.b1, k.b2, k.eps, k.c1, k.c2, k.l2, k.decoupled, 2);
const enc = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
console.log(JSON.stringify({ level: addon.simdLevel(), out: enc(out), g: enc(g), x: enc(x), m: enc(m), v: enc(v) }));
`;

const LEVELS = info.simd === 'avx512' ? ['scalar', 'avx2', 'avx512'] : info.simd === 'avx2' ? ['scalar', 'avx2'] : ['scalar'];

describe.runIf(native && info.name !== 'cuda')('training kernels at every SIMD level this CPU has', () => {
  const B = 37, D = 45, Vc = 300;
  const { ids, offsets } = texts(B, Vc, 70, 12);
  const E = floats(Vc * D, 1), dOut = floats(B * D, 2);
  const out = embeddingBagRef(E, Vc, D, ids, offsets);
  const g = new Float32Array(Vc * D);
  embeddingBagBackwardRef(dOut, ids, offsets, D, g, Vc);
  const x = floats(Vc * D, 3), m = floats(Vc * D, 4, 0.01), v = floats(Vc * D, 5, 0.01).map(Math.abs);
  adamRowsRef(x, g, m, v, D, Int32Array.from(new Set(ids)), K);
  const dec = (s: string) => {
    const b = Buffer.from(s, 'base64');
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  for (const level of LEVELS) {
    it(`${level}`, () => {
      const root = path.resolve(__dirname, '..');
      const arg = JSON.stringify({ B, D, V: Vc, ids: Array.from(ids), offsets: Array.from(offsets), k: K });
      const r = spawnSync(process.execPath, ['-e', CHILD, root, arg], {
        cwd: root, env: { ...process.env, SYNTHTUNE_SIMD: level }, encoding: 'utf8', timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout.trim());
      expect(o.level).toBe(level);
      expect(firstDiff(dec(o.out), out)).toBe(-1);
      expect(firstDiff(dec(o.g), g)).toBe(-1);
      expect(maxRel(dec(o.x), x)).toBeLessThanOrEqual(1e-6);
      expect(maxRel(dec(o.m), m)).toBeLessThanOrEqual(1e-6);
      expect(maxRel(dec(o.v), v)).toBeLessThanOrEqual(1e-6);
    });
  }
});
