/**
 * HNSW mining: recall against exact top-k on clustered synthetic vectors, exclusions through
 * hnswlib's filter, thread-split searches equal to a single worker, and the recall entry that a
 * synthesis with index 'hnsw' writes to its log. Also the chunked exact search (float16 store)
 * against the one-shot kernel.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../lib/synthesis';
import { buildHnsw, HnswSearcher } from '../lib/synthesis/hnsw';
import { exactSearch, recallAt } from '../lib/synthesis/mining';
import { denseStore, encodeHalf, normalizeRows, decodeHalf, toHalf, fromHalf } from '../lib/synthesis/store';
import { FakeEncoder, FakeScorer, syntheticData } from './synthesis-fakes';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-hnsw-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** n vectors around 20 cluster centres, L2-normalised. */
function clustered(n: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  const centres = Array.from({ length: 20 }, () => Array.from({ length: dim }, r));
  const v = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) v[i * dim + j] = centres[i % 20][j] + 0.6 * r();
  return normalizeRows(v, dim);
}

describe('HNSW mining', () => {
  const dim = 32;
  const corpus = denseStore(clustered(3000, dim, 1), dim);
  const queries = clustered(200, dim, 2);
  const file = () => path.join(tmp, 'graph.bin');

  it('reaches high recall@10 against exact search, with threads', async () => {
    await buildHnsw(corpus, file(), { M: 16, efConstruction: 100, seed: 1 });
    const exact = await exactSearch(queries, corpus, 10);
    const two = HnswSearcher.open(file(), dim, 2, 64);
    const one = HnswSearcher.open(file(), dim, 1, 64);
    try {
      const a = await two.search(queries, 10);
      const b = await one.search(queries, 10);
      expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      const recall = recallAt(a, exact, 200, 10);
      expect(recall).toBeGreaterThan(0.9);
      // scores are inner products
      const d = a.indices[0];
      let s = 0;
      for (let j = 0; j < dim; j++) s += queries[j] * corpus.dense![d * dim + j];
      expect(a.scores[0]).toBeCloseTo(s, 4);
      // exclusions via the filter
      const ex = Array.from({ length: 200 }, (_, r) => [a.indices[r * 10], a.indices[r * 10 + 1]]);
      const c = await two.search(queries, 10, ex);
      for (let r = 0; r < 200; r++) {
        const row = Array.from(c.indices.subarray(r * 10, r * 10 + 10));
        expect(row).not.toContain(ex[r][0]);
        expect(row).not.toContain(ex[r][1]);
      }
    } finally {
      await two.close();
      await one.close();
    }
  });

  it('a synthesis with index hnsw logs its recall against exact', async () => {
    const data = syntheticData(30, 300, 9);
    const r = await synthesize({ ...data, miner: new FakeEncoder(32), scorer: new FakeScorer(), index: 'hnsw', numRelations: 4, out: path.join(tmp, 'run'), hnsw: { recallSample: 30, threads: 2 } });
    await r.wait();
    const entry = (await r.logs()).find((l) => String(l.message).startsWith('HNSW recall@4'));
    expect(entry).toBeDefined();
    expect(entry!.recall as number).toBeGreaterThan(0.8);
    expect(entry!.sample).toBe(30);
  });
});

describe('chunked exact search and float16', () => {
  it('float16 round trip is within half precision and chunked search equals one-shot search', async () => {
    for (const x of [0, 1, -2.5, 65504, 1e-7, 0.333333]) expect(Math.abs(fromHalf(toHalf(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 6e-8);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    const dim = 16;
    const v = clustered(1000, dim, 3);
    const q = clustered(50, dim, 4);
    const whole = await exactSearch(q, denseStore(v, dim), 7);
    const chunked = await exactSearch(q, { ...denseStore(v, dim, 97), dense: undefined }, 7);
    expect(Array.from(chunked.indices)).toEqual(Array.from(whole.indices));
    const ex = Array.from({ length: 50 }, (_, r) => [whole.indices[r * 7]]);
    const c2 = await exactSearch(q, { ...denseStore(v, dim, 97), dense: undefined }, 7, ex);
    const w2 = await exactSearch(q, denseStore(v, dim), 7, ex);
    expect(Array.from(c2.indices)).toEqual(Array.from(w2.indices));
    const h = decodeHalf(encodeHalf(v));
    let maxErr = 0;
    for (let i = 0; i < v.length; i++) maxErr = Math.max(maxErr, Math.abs(h[i] - v[i]));
    expect(maxErr).toBeLessThan(1e-3);
  });
});
