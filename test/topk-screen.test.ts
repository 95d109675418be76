/**
 * The native top-k's bf16 screening pass (native/cpu/topk.cc, CPUs with AVX512_BF16): screened
 * with bf16 dot products, rescored exactly in fp32, so the result must be the exact top-k, equal to
 * the fp32-only pass (SYNTHTUNE_TOPK_SCREEN=0) and to a float64 reference, including where bf16
 * cannot tell the candidates apart (near-duplicates 1e-4 apart: far below bf16's 2^-8, far above
 * fp32's error), with very different row norms, exclusions, odd dimensions, NaN and Inf rows.
 * Skipped with a message where the CPU has no AVX512_BF16 (then there is no screening to test).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { topk, topkSync, type TopKResult } from '../lib/kernels';
import { loadBackend } from '../lib/kernels/loader';
import { randomFloats, unitRows } from '../bench/harness';
import { compareTopK } from './helpers/compare';

const addon = loadBackend().addon as { topkScreen?: () => boolean } | null;
const screening = !!addon?.topkScreen?.();
if (!screening) console.log('topk-screen: skipped: no bf16 screening here (no native addon, or the CPU lacks AVX512_BF16, or SYNTHTUNE_TOPK_SCREEN=0)');

function fp32Only<T>(f: () => T): T {
  process.env.SYNTHTUNE_TOPK_SCREEN = '0';
  try {
    return f();
  } finally {
    delete process.env.SYNTHTUNE_TOPK_SCREEN;
  }
}

/** Float64 top-k (larger first, ties to the smaller index), skipping NaN scores and excluded ids. */
function exactTopK(queries: Float32Array, corpus: Float32Array, d: number, k: number, exclude?: number[][]): { idx: number[][]; score: (q: number, j: number) => number } {
  const n = corpus.length / d;
  const score = (q: number, j: number) => {
    let s = 0;
    for (let p = 0; p < d; p++) s += queries[q * d + p] * corpus[j * d + p];
    return s;
  };
  const idx: number[][] = [];
  for (let q = 0; q < queries.length / d; q++) {
    const ex = new Set(exclude?.[q] ?? []);
    const all: [number, number][] = [];
    for (let j = 0; j < n; j++) if (!ex.has(j) && !Number.isNaN(score(q, j))) all.push([score(q, j), j]);
    all.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    idx.push(all.slice(0, k).map((x) => x[1]));
  }
  return { idx, score };
}

function rowsOf(r: TopKResult, q: number): number[] {
  return Array.from(r.indices.subarray(q * r.k, (q + 1) * r.k)).filter((i) => i >= 0);
}

describe.skipIf(!screening)('top-k bf16 screening is exact', () => {
  afterEach(() => delete process.env.SYNTHTUNE_TOPK_SCREEN);

  for (const [q, n, d, k] of [
    [40, 20_000, 384, 10],
    [33, 9_000, 385, 25],
    [64, 12_000, 33, 100],
    [17, 12_000, 768, 1],
  ] as const) {
    it(`equals the fp32 pass and the float64 reference: Q=${q} N=${n} D=${d} k=${k}`, async () => {
      const queries = unitRows(q, d, q + d);
      const corpus = unitRows(n, d, n + k);
      const screened = topkSync(queries, corpus, { dim: d, k });
      const plain = fp32Only(() => topkSync(queries, corpus, { dim: d, k }));
      const ref = exactTopK(queries, corpus, d, k);
      expect(compareTopK(screened, plain, q, ref.score, 1e-6)).toEqual([]);
      for (let i = 0; i < q; i++) expect(new Set(rowsOf(screened, i))).toEqual(new Set(ref.idx[i]));
      const asyncGot = await topk(queries, corpus, { dim: d, k });
      expect(Array.from(asyncGot.indices)).toEqual(Array.from(screened.indices));
    });
  }

  it('separates near-duplicates that bf16 cannot (scores 1e-4 apart)', () => {
    const d = 256;
    const q = 24;
    const n = 30_000;
    const queries = unitRows(q, d, 11);
    const corpus = unitRows(n, d, 12);
    // rows 1000..1299: the first query plus noise of 1e-4 per coordinate (their scores differ by
    // ~1e-4 with the first query; bf16 rounds each coordinate by up to 4e-3 of its size)
    const noise = randomFloats(300 * d, 13);
    for (let r = 0; r < 300; r++) for (let p = 0; p < d; p++) corpus[(1000 + r) * d + p] = queries[p] + 1e-4 * noise[r * d + p];
    const screened = topkSync(queries, corpus, { dim: d, k: 10 });
    const ref = exactTopK(queries.subarray(0, d), corpus, d, 10);
    expect(rowsOf(screened, 0)).toEqual(ref.idx[0]);
    // the other queries: as the fp32 pass (two rows may swap where their scores tie within fp32's error)
    const plain = fp32Only(() => topkSync(queries, corpus, { dim: d, k: 10 }));
    const all = exactTopK(queries, corpus, d, 10);
    expect(compareTopK(screened, plain, q, all.score, 1e-6)).toEqual([]);
  });

  it('rows of very different norms, exclusions, NaN rows (never returned) and an Inf row (fp32 pass)', () => {
    const d = 96;
    const q = 32;
    const n = 8_000;
    const queries = randomFloats(q * d, 21);
    const corpus = randomFloats(n * d, 22);
    for (let r = 0; r < n; r++) {
      const scale = 10 ** ((r % 7) - 3); // 1e-3 .. 1e3
      for (let p = 0; p < d; p++) corpus[r * d + p] *= scale;
    }
    for (let p = 0; p < d; p++) corpus[5 * d + p] = NaN;
    const exclude = Array.from({ length: q }, (_, i) => [i, 3 + i * 7, 6]);
    const screened = topkSync(queries, corpus, { dim: d, k: 20, exclude });
    const ref = exactTopK(queries, corpus, d, 20, exclude);
    for (let i = 0; i < q; i++) {
      expect(rowsOf(screened, i)).toEqual(ref.idx[i]);
      expect(rowsOf(screened, i)).not.toContain(5);
    }
    const withInf = corpus.slice();
    withInf[7 * d] = Infinity;
    const a = topkSync(queries, withInf, { dim: d, k: 20, exclude });
    const b = fp32Only(() => topkSync(queries, withInf, { dim: d, k: 20, exclude }));
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
  });
});
