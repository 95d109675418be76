/**
 * Kernels: the active backend (native when built) against the pure-TS references on random,
 * odd-sized shapes with fixed seeds; argument validation; async twins; exclusion, k > N, ties.
 */
import { describe, expect, it } from 'vitest';
import { backend, matmul, matmulRef, matmulSync, topk, topkRef, topkSync } from '../lib/kernels';
import { randomFloats } from '../bench/harness';
import { compareTopK, maxAbsDiff } from './helpers/compare';
import { InputRangeError, InputTypeError } from '../lib/util/errors';

const be = backend();
console.log(`kernel backend under test: ${be.name} (simd ${be.simd}, ${be.threads} threads)${be.reasons.length ? '; ' + be.reasons.join('; ') : ''}`);

describe('backend()', () => {
  it('names an implementation and explains missing better ones', () => {
    expect(['cuda', 'native-avx512', 'native-avx2', 'native-scalar', 'js']).toContain(be.name);
    if (be.name !== 'cuda' && be.name !== 'native-avx512') expect(be.reasons.length).toBeGreaterThan(0);
  });
  it.runIf(process.env.SYNTHTUNE_REQUIRE_NATIVE === '1')('is native where the build is required (CI)', () => {
    expect(be.name.startsWith('native-') || be.name === 'cuda').toBe(true);
  });
});

function gemmTolerance(k: number): number {
  // inputs in [-1, 1): |C| ≤ K; float32 accumulation error grows ~ sqrt(K)·eps·K in the worst case
  return 1e-5 * k + 1e-5;
}

const GEMM_SHAPES: Array<[number, number, number, number]> = [
  // batch, m, n, k
  [1, 1, 1, 1],
  [1, 7, 5, 3],
  [1, 129, 17, 33],
  [1, 1, 129, 7],
  [3, 7, 129, 20],
  [2, 64, 48, 100],
  [1, 130, 97, 257],
  [1, 33, 65, 384],
];

describe('matmul', () => {
  for (const [batch, m, n, k] of GEMM_SHAPES) {
    for (const transB of [false, true]) {
      it(`matches the reference for batch=${batch} m=${m} n=${n} k=${k} transB=${transB}`, () => {
        const seed = batch * 1000003 + m * 1009 + n * 31 + k + (transB ? 7 : 0);
        const a = randomFloats(batch * m * k, seed);
        const b = randomFloats(batch * k * n, seed + 1);
        const c0 = randomFloats(batch * m * n, seed + 2);
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, 2],
          [-1.5, 1],
        ]) {
          const want = matmulRef(a, b, { m, n, k, batch, transB, alpha, beta, c: c0.slice() });
          const got = matmulSync(a, b, { m, n, k, batch, transB, alpha, beta, c: c0.slice() });
          const diff = maxAbsDiff(got, want);
          if (diff > gemmTolerance(k)) console.log(`max diff ${diff}; got[0..4]=${Array.from(got.slice(0, 4))} want=${Array.from(want.slice(0, 4))}`);
          expect(diff).toBeLessThanOrEqual(gemmTolerance(k));
        }
      });
    }
  }

  it('beta = 0 ignores NaN in the old output', () => {
    const a = randomFloats(6, 1);
    const b = randomFloats(6, 2);
    const c = new Float32Array(4).fill(NaN);
    matmulSync(a, b, { m: 2, n: 2, k: 3, c });
    expect(c.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(c, matmulRef(a, b, { m: 2, n: 2, k: 3 }))).toBeLessThan(1e-6);
  });

  it('async twin gives the same result as sync', async () => {
    const a = randomFloats(37 * 29, 5);
    const b = randomFloats(29 * 41, 6);
    const s = matmulSync(a, b, { m: 37, n: 41, k: 29 });
    const p = await matmul(a, b, { m: 37, n: 41, k: 29 });
    expect(maxAbsDiff(p, s)).toBe(0);
  });

  it('rejects bad arguments with clear errors', () => {
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    expect(() => matmulSync([1, 2] as unknown as Float32Array, b, { m: 2, n: 2, k: 3 })).toThrow(new InputTypeError('a must be a Float32Array, got Array'));
    expect(() => matmulSync(a, new Float64Array(6) as unknown as Float32Array, { m: 2, n: 2, k: 3 })).toThrow(
      new InputTypeError('b must be a Float32Array, got Float64Array'),
    );
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 4 })).toThrow(new InputRangeError('a has length 6, expected batch*m*k = 1*2*4 = 8'));
    expect(() => matmulSync(a, b, { m: 0, n: 2, k: 3 })).toThrow(new InputRangeError('m must be > 0, got 0'));
    expect(() => matmulSync(a, b, { m: -2, n: 2, k: 3 })).toThrow(RangeError);
    expect(() => matmulSync(a, b, { m: 2.5, n: 2, k: 3 })).toThrow(new InputTypeError('m must be an integer, got 2.5'));
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 3, batch: 2 })).toThrow(RangeError);
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 3, beta: 1 })).toThrow(/beta != 0 needs an output buffer/);
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 3, c: new Float32Array(3) })).toThrow(/c has length 3/);
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 3, alpha: NaN })).toThrow(/alpha must be a finite number/);
    expect(() => matmulSync(a, b, { m: 2, n: 2, k: 3, c: a.subarray(0, 4) })).toThrow(/must not share memory/);
    expect(() => matmulSync(a, b, null as never)).toThrow(TypeError);
  });
});

const TOPK_SHAPES: Array<[number, number, number, number]> = [
  // q, n, d, k
  [1, 1, 1, 1],
  [1, 7, 3, 10], // k > N
  [7, 129, 17, 5],
  [129, 1000, 33, 10],
  [5, 3000, 100, 100],
  [3, 5000, 384, 1],
  [40, 2049, 7, 64],
];

describe('topk', () => {
  for (const [q, n, d, k] of TOPK_SHAPES) {
    it(`matches the reference for Q=${q} N=${n} D=${d} k=${k}`, async () => {
      const seed = q * 7919 + n * 104729 + d * 13 + k;
      const queries = randomFloats(q * d, seed);
      const corpus = randomFloats(n * d, seed + 1);
      const want = topkRef(queries, corpus, { dim: d, k });
      const got = topkSync(queries, corpus, { dim: d, k });
      expect(got.k).toBe(Math.min(k, n));
      const dot = (qi: number, j: number) => {
        let s = 0;
        for (let p = 0; p < d; p++) s += queries[qi * d + p] * corpus[j * d + p];
        return s;
      };
      const tol = 1e-5 * d + 1e-6;
      expect(compareTopK(got, want, q, dot, tol)).toEqual([]);
      const asyncGot = await topk(queries, corpus, { dim: d, k });
      expect(Array.from(asyncGot.indices)).toEqual(Array.from(got.indices));
      expect(Array.from(asyncGot.scores)).toEqual(Array.from(got.scores));
    });
  }

  it('breaks ties by the smaller corpus index', () => {
    // rows 1, 3 and 4 are identical and score 2; rows 2 and 5 tie at 1
    const d = 3;
    const corpus = new Float32Array([0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0.5, 0.5, 0]);
    const queries = new Float32Array([1, 1, 0]);
    const r = topkSync(queries, corpus, { dim: d, k: 4 });
    expect(Array.from(r.indices)).toEqual([1, 3, 4, 2]);
    expect(Array.from(r.scores)).toEqual([2, 2, 2, 1]);
    expect(Array.from(topkRef(queries, corpus, { dim: d, k: 4 }).indices)).toEqual([1, 3, 4, 2]);
  });

  it('excludes ids per query and pads with -1 / -Infinity when too few remain', () => {
    const d = 4;
    const n = 6;
    const corpus = randomFloats(n * d, 11);
    const queries = corpus.slice(0, 2 * d); // query i equals corpus row i
    const exclude = [[0, 1, 2], [1, 99, -5]];
    const r = topkSync(queries, corpus, { dim: d, k: 5, exclude });
    const ref = topkRef(queries, corpus, { dim: d, k: 5, exclude });
    const row0 = Array.from(r.indices.subarray(0, 5));
    expect(row0.filter((i) => i >= 0).sort()).toEqual([3, 4, 5]);
    expect(row0.slice(3)).toEqual([-1, -1]);
    expect(Array.from(r.scores.subarray(3, 5))).toEqual([-Infinity, -Infinity]);
    const row1 = Array.from(r.indices.subarray(5, 10));
    expect(row1).not.toContain(1);
    expect(row1).not.toContain(-1);
    expect(Array.from(r.indices)).toEqual(Array.from(ref.indices));
  });

  it('rejects bad arguments with clear errors', () => {
    const q = new Float32Array(8);
    const c = new Float32Array(12);
    expect(() => topkSync(q, c, { dim: 4, k: 0 })).toThrow(new InputRangeError('k must be > 0, got 0'));
    expect(() => topkSync(q, c, { dim: 4, k: -3 })).toThrow(RangeError);
    expect(() => topkSync(q, c, { dim: 0, k: 1 })).toThrow(new InputRangeError('dim must be > 0, got 0'));
    expect(() => topkSync(q, c, { dim: 5, k: 1 })).toThrow(new InputRangeError('queries has length 8, not a multiple of dim 5'));
    expect(() => topkSync(q, new Float32Array(10), { dim: 4, k: 1 })).toThrow(new InputRangeError('corpus has length 10, not a multiple of dim 4'));
    expect(() => topkSync(q, new Float32Array(0), { dim: 4, k: 1 })).toThrow(new InputRangeError('corpus is empty'));
    expect(() => topkSync(new Int8Array(8) as unknown as Float32Array, c, { dim: 4, k: 1 })).toThrow(
      new InputTypeError('queries must be a Float32Array, got Int8Array'),
    );
    expect(() => topkSync(q, c, { dim: 4, k: 1, exclude: [[1]] })).toThrow(new InputRangeError('exclude has 1 entries, expected one per query (2)'));
    expect(() => topkSync(q, c, { dim: 4, k: 1, exclude: [[1.5], []] })).toThrow(/exclude\[0\]\[0\] must be an integer/);
    expect(() => topkSync(q, c, { dim: 4, k: 1, exclude: 'x' as never })).toThrow(TypeError);
  });
});
