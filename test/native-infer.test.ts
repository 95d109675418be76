/**
 * The native packed inference (BertModel.infer / inferSync, native/cpu/bert_model.cc Model::infer;
 * FullStudent.encode uses it): sequences back to back, no padding computed, nothing kept for a
 * backward.
 *   (a) equals the masked, padded forward of the same sequences (the path every gradient check
 *       covers) and the float64 reference forward, for BERT (token types), RoBERTa positions and
 *       MPNet's relative bias, every pooling mode, ± normalisation, lengths 1..max;
 *   (b) leaves the training slots alone: a backward after an infer still sees its own forward;
 *   (c) async == sync; FullStudent.encode (packed) == forward (padded);
 *   (d) bad offsets, lengths, ids and types are clear errors, never a crash.
 * Skipped (with the reason) when the native addon, or its BertModel, is not loaded.
 */
import { describe, expect, it } from 'vitest';
import { POOLING_MODES, type BertConfig, type PoolingMode } from '../lib/models/onnx/bert';
import { randomBertWeights } from '../lib/models/tiny';
import { mulberry32 } from '../lib/training/rng';
import { createNativeBert, FullStudent, loadNativeWeights, nativeBertAvailable, nativeConfigFrom, packBatch } from '../lib/training/students/full';
import { archForward64, type Arch64Config } from './helpers/arch-ref64';
import type { Weights64 } from './helpers/bert-ref64';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`native infer tests skipped: ${avail.reason}`);

type Arch = 'bert' | 'roberta' | 'mpnet';
function shapeOf(arch: Arch): BertConfig {
  const base = { vocabSize: 100, hidden: 32, layers: 2, heads: 4, intermediate: 64, layerNormEps: 1e-5 };
  if (arch === 'bert') return { ...base, arch, maxPosition: 24, typeVocabSize: 2 };
  if (arch === 'mpnet') return { ...base, arch, maxPosition: 24, typeVocabSize: 0, paddingIdx: 1, relativeBuckets: 32 };
  return { ...base, arch, maxPosition: 24, typeVocabSize: 1, paddingIdx: 1 };
}

/** Sequences of the given lengths (random ids 1..89, types 0/1 when the arch has two). */
function sequences(lengths: number[], seed: number, twoTypes: boolean): { ids: number[][]; types: number[][] } {
  const rnd = mulberry32(seed);
  const ids = lengths.map((L) => Array.from({ length: L }, () => 1 + Math.floor(rnd() * 89)));
  const types = lengths.map((L) => Array.from({ length: L }, (_, t) => (twoTypes && t >= L / 2 ? 1 : 0)));
  return { ids, types };
}

/** The same sequences padded to their longest (pad id 3, masked; pad type 0). */
function padded(seqs: number[][], T: number): { ids: Int32Array; mask: Int32Array } {
  const ids = new Int32Array(seqs.length * T).fill(3);
  const mask = new Int32Array(seqs.length * T);
  seqs.forEach((s, b) => s.forEach((x, t) => {
    ids[b * T + t] = x;
    mask[b * T + t] = 1;
  }));
  return { ids, mask };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.runIf(avail.ok)('native packed inference', () => {
  const cases: [Arch, PoolingMode | PoolingMode[], boolean][] = [
    ['bert', 'mean', false], ['bert', 'cls', true], ['bert', ['max', 'mean_sqrt_len_tokens'], false],
    ['roberta', 'weightedmean', true], ['roberta', 'lasttoken', false],
    ['mpnet', 'mean', true], ['mpnet', ['cls', 'max', 'weightedmean'], false],
  ];
  for (const [arch, pooling, normalize] of cases) {
    it(`${arch}, ${[pooling].flat().join('+')} pooling${normalize ? ', normalised' : ''}: equals the padded forward and the float64 reference`, () => {
      const shape = shapeOf(arch);
      const weights = randomBertWeights(shape, { seed: 5, std: 0.3 });
      const h = createNativeBert(nativeConfigFrom(shape, { pooling, normalize, threads: 2 }));
      loadNativeWeights(h, weights);
      // lengths 1 .. the longest the positions allow (22 with paddingIdx 1), MPNet past |j−i| ≥ 8
      const maxT = arch === 'bert' ? 24 : 22;
      const lengths = [maxT, 1, 7, 13, 2, maxT - 1];
      const twoTypes = shape.typeVocabSize > 1;
      const { ids, types } = sequences(lengths, 17, twoTypes);
      const { ids: flat, offsets } = packBatch(ids, maxT);
      const flatTypes = twoTypes ? Int32Array.from(types.flat()) : null;
      const got = h.inferSync(flat, offsets, flatTypes);
      const T = Math.max(...lengths);
      const p = padded(ids, T);
      const pTypes = twoTypes ? padded(types, T).ids.map((x, i) => (p.mask[i] ? x : 0)) : null;
      const want = h.forwardSync(p.ids, p.mask, pTypes, lengths.length, T);
      const d = maxAbsDiff(got, want);
      const cfg: Arch64Config = { ...shape, pooling, normalize };
      const W: Weights64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v.data)]));
      const ref = archForward64(cfg, W, p.ids, p.mask, pTypes, lengths.length, T);
      const r = maxAbsDiff(got, ref);
      console.log(`infer ${arch} ${[pooling].flat().join('+')}: vs padded forward ${d.toExponential(2)}, vs float64 reference ${r.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(2e-5);
      expect(r).toBeLessThanOrEqual(1e-4);
      // every sequence alone gives its own row
      for (const b of [1, 3]) {
        const one = packBatch([ids[b]], maxT);
        const alone = h.inferSync(one.ids, one.offsets, twoTypes ? Int32Array.from(types[b]) : null);
        const D = alone.length;
        expect(maxAbsDiff(alone, got.subarray(b * D, (b + 1) * D))).toBeLessThanOrEqual(2e-5);
      }
    });
  }

  it('leaves the training slots alone, and async equals sync', async () => {
    const shape = shapeOf('bert');
    const h = createNativeBert(nativeConfigFrom(shape, { pooling: 'mean', threads: 2 }));
    loadNativeWeights(h, randomBertWeights(shape, { seed: 8, std: 0.3 }));
    const { ids } = sequences([5, 9], 3, false);
    const p = padded(ids, 9);
    h.forwardSync(p.ids, p.mask, null, 2, 9, 0);
    const before = h.slotInfo(0);
    const { ids: flat, offsets } = packBatch(sequences([4, 11, 2], 4, false).ids, 24);
    const sync = h.inferSync(flat, offsets);
    const asy = await h.infer(flat, offsets, null);
    expect(Array.from(asy)).toEqual(Array.from(sync));
    expect(h.slotInfo(0)).toEqual(before);
    h.zeroGrad();
    expect(() => h.backwardSync(new Float32Array(2 * 32).fill(0.1), 0)).not.toThrow();
    // the gradient is the one of slot 0's own forward: the same as a fresh forward + backward
    const g1 = h.getGrads();
    h.zeroGrad();
    h.forwardSync(p.ids, p.mask, null, 2, 9, 0);
    h.backwardSync(new Float32Array(2 * 32).fill(0.1), 0);
    expect(maxAbsDiff(g1, h.getGrads())).toBe(0);
  });

  it('FullStudent.encode (packed) equals its padded forward; an empty input falls back to the padded path', async () => {
    const shape = shapeOf('roberta');
    const s = new FullStudent({ config: nativeConfigFrom(shape, { pooling: 'mean', normalize: true, threads: 2 }), weights: randomBertWeights(shape, { seed: 9, std: 0.3 }) });
    const inputs = sequences([3, 22, 10, 1], 6, false).ids.map((x) => Int32Array.from(x));
    const enc = await s.encode(inputs, 'document');
    const fwd = (await s.forward(inputs, 'document')).out;
    expect(maxAbsDiff(enc, fwd)).toBeLessThanOrEqual(2e-5);
    const withEmpty = await s.encode([inputs[0], new Int32Array(0)], 'document');
    expect(maxAbsDiff(withEmpty.subarray(0, 32), enc.subarray(0, 32))).toBeLessThanOrEqual(2e-5);
  });

  it('rejects bad offsets, lengths, ids and types with clear errors', () => {
    const shape = shapeOf('roberta');
    const h = createNativeBert(nativeConfigFrom(shape, { pooling: 'mean', threads: 1 }));
    const ids = new Int32Array(10).fill(5);
    expect(() => h.inferSync(ids, new Int32Array([0]))).toThrow(/offsets must hold at least 2 values/);
    expect(() => h.inferSync(ids, new Int32Array([1, 10]))).toThrow(/offsets\[0\] must be 0, got 1/);
    expect(() => h.inferSync(ids, new Int32Array([0, 4, 4, 10]))).toThrow(/sequence 1 has 0 tokens \(offsets 4 to 4\); each needs 1 to 22/);
    expect(() => h.inferSync(ids, new Int32Array([0, 6, 4]))).toThrow(/sequence 1 has -2 tokens/);
    expect(() => h.inferSync(new Int32Array(23).fill(5), new Int32Array([0, 23]))).toThrow(/sequence 0 has 23 tokens .* each needs 1 to 22/);
    expect(() => h.inferSync(ids, new Int32Array([0, 4, 12]))).toThrow(/inputIds/);
    expect(() => h.inferSync(Int32Array.from([5, 100, 5]), new Int32Array([0, 3]))).toThrow(/inputIds\[1\] = 100 is outside \[0, 100\)/);
    expect(() => h.inferSync(ids, new Int32Array([0, 10]), new Int32Array(10).fill(1))).toThrow(/tokenTypeIds\[0\] = 1 is outside \[0, 1\)/);
    expect(() => h.inferSync(ids, [0, 10] as never)).toThrow(/offsets must be an Int32Array/);
    expect(() => h.inferSync(ids, new Int32Array([0, 10]), new Int32Array(3))).toThrow(/tokenTypeIds/);
    expect(Array.from(h.inferSync(ids, new Int32Array([0, 10]))).every(Number.isFinite)).toBe(true);
  });

  it('covers every pooling mode the core knows', () => {
    const seen = new Set(cases.flatMap(([, p]) => [p].flat()));
    expect(POOLING_MODES.filter((m) => m !== 'none' && !seen.has(m as PoolingMode))).toEqual([]);
  });
});
