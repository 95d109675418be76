/**
 * Bi-encoder and cross-encoder through the real inference path (folder → tokenizer → onnxruntime →
 * pooling), checked against the independent pure-TS forward pass of the same seeded weights on
 * each text alone (no padding): batching, length sorting and padding must not change any vector,
 * and results must come back in input order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCrossEncoder, type CrossEncoder } from '../lib/models/cross-encoder';
import { lengthSortedBatches, loadEncoder, type Encoder } from '../lib/models/encoder';
import { GraphBuilder, type BertConfig, type WeightMap } from '../lib/models/onnx';
import { bertForwardRef } from '../lib/models/reference-forward';
import { writeTinyModel } from '../lib/models/tiny';
import { report, tmpDir } from './helpers/models';

const root = tmpDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TEXTS = [
  'Vaccines reduce the risk of infection.',
  'Protein folding',
  'Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher, and train the model on margins.',
  'A',
  'The quick brown fox jumps over the lazy dog, twice over.',
  'Embedding models map queries and documents to vectors',
  'Numbers like 3.14 and 42.',
];

/** Reference embedding of one text: the forward pass on its own tokens, then the config's pooling. */
function refEmbedding(config: BertConfig, weights: WeightMap, ids: number[], pooling: 'mean' | 'cls', normalize = false): Float32Array {
  const out = bertForwardRef({ ...config, pooling, normalize }, weights, { inputIds: [ids] });
  return out.sentenceEmbedding!;
}

describe('bi-encoder', () => {
  let tiny: ReturnType<typeof writeTinyModel>;
  let enc: Encoder;
  beforeAll(async () => {
    tiny = writeTinyModel(path.join(root, 'bi'), { seed: 7, std: 0.2 });
    enc = await loadEncoder(tiny.dir, { threads: 1, batchSize: 3 });
  });
  afterAll(() => enc.release());

  it('mean pooling (from 1_Pooling/config.json) matches the reference per text, in input order', async () => {
    expect(enc.pooling).toBe('mean');
    expect(enc.dim).toBe(32);
    const got = await enc.encode(TEXTS);
    expect(got.length).toBe(TEXTS.length * 32);
    let worst = 0;
    TEXTS.forEach((t, i) => {
      const want = refEmbedding(tiny.config, tiny.weights, enc.tokenizer.encode(t).ids, 'mean');
      worst = Math.max(worst, report(`text ${i}`, got.subarray(i * 32, (i + 1) * 32), want));
    });
    expect(worst).toBeLessThanOrEqual(1e-4);
    const s = enc.lastStats;
    expect(s.batches).toBe(3);
    expect(s.paddedTokens).toBeGreaterThanOrEqual(s.realTokens);
    expect(s.runMs).toBeLessThanOrEqual(s.totalMs);
  });

  it('length sorting reduces padding and does not change results (vs unsorted, fixed padding)', async () => {
    const sorted = await enc.encode(TEXTS);
    const sortedPad = enc.lastStats.paddedTokens;
    const naive = await enc.encode(TEXTS, { sortByLength: false, padTo: 64 });
    expect(enc.lastStats.paddedTokens).toBe(3 * 64 + 3 * 64 + 1 * 64);
    expect(sortedPad).toBeLessThan(enc.lastStats.paddedTokens);
    expect(report('sorted vs naive', sorted, naive)).toBeLessThanOrEqual(1e-5);
    // one text at a time gives the same vectors too
    const single = await Promise.all(TEXTS.map((t) => enc.encode([t])));
    expect(report('batched vs single', sorted, Float32Array.from(single.flatMap((x) => Array.from(x))))).toBeLessThanOrEqual(1e-5);
  });

  it('batches are longest-first and cover every index once', () => {
    const b = lengthSortedBatches([3, 9, 1, 9, 4], 2);
    expect(b).toEqual([[1, 3], [4, 0], [2]]);
    expect(lengthSortedBatches([3, 9, 1], 2, false)).toEqual([[0, 1], [2]]);
  });

  it('cls pooling and L2 normalisation', async () => {
    const cls = await loadEncoder(tiny.dir, { threads: 1, pooling: 'cls', normalize: true });
    const got = await cls.encode(TEXTS);
    let worst = 0;
    TEXTS.forEach((t, i) => {
      const want = refEmbedding(tiny.config, tiny.weights, cls.tokenizer.encode(t).ids, 'cls', true);
      worst = Math.max(worst, report(`cls+norm ${i}`, got.subarray(i * 32, (i + 1) * 32), want));
      expect(Math.hypot(...got.subarray(i * 32, (i + 1) * 32))).toBeCloseTo(1, 5);
    });
    expect(worst).toBeLessThanOrEqual(1e-4);
    // per-call normalisation override
    const raw = await cls.encode(TEXTS.slice(0, 2), { normalize: false });
    expect(Math.hypot(...raw.subarray(0, 32))).not.toBeCloseTo(1, 2);
    await cls.release();
  });

  it("the model's own sentence_embedding output (default when there is no sentence-transformers config)", async () => {
    const m = writeTinyModel(path.join(root, 'bi-se'), { seed: 8, std: 0.2, stPooling: null, shape: { pooling: 'cls', normalize: true, layers: 1 } });
    const e = await loadEncoder(m.dir, { threads: 1 });
    expect(e.pooling).toBe('model');
    const got = await e.encode(TEXTS);
    let worst = 0;
    TEXTS.forEach((t, i) => {
      const want = refEmbedding(m.config, m.weights, e.tokenizer.encode(t).ids, 'cls', true);
      worst = Math.max(worst, report(`model pooling ${i}`, got.subarray(i * 32, (i + 1) * 32), want));
    });
    expect(worst).toBeLessThanOrEqual(1e-4);
    await e.release();
  });

  it('very long text is truncated to the model positions; modules.json Normalize turns normalisation on', async () => {
    const m = writeTinyModel(path.join(root, 'bi-norm'), { seed: 9, std: 0.2, stNormalize: true, shape: { maxPosition: 24 } });
    const e = await loadEncoder(m.dir, { threads: 1 });
    expect(e.normalize).toBe(true);
    expect(e.maxLength).toBe(24);
    const long = TEXTS.join(' ').repeat(200);
    const got = await e.encode([long, 'short text']);
    expect(e.lastStats.truncated).toBe(1);
    const ids = e.tokenizer.encode(long).ids;
    expect(ids.length).toBe(24);
    expect(report('long text', got.subarray(0, 32), refEmbedding(m.config, m.weights, ids, 'mean', true))).toBeLessThanOrEqual(1e-4);
    await e.release();
  });

  it('bad input: clear errors naming the item, no crash', async () => {
    await expect(enc.encode(['ok', 42 as unknown as string])).rejects.toThrow(/texts\[1\] must be a string, got number/);
    await expect(enc.encode(['ok', null as unknown as string])).rejects.toThrow(/texts\[1\] must be a string, got null/);
    await expect(enc.encode(['ok', '', 'x'])).rejects.toThrow(/texts\[1\] is empty/);
    await expect(enc.encode('just a string' as unknown as string[])).rejects.toThrow(TypeError);
    await expect(enc.encode(['ok'], { batchSize: 0 })).rejects.toThrow(/batchSize/);
    expect((await enc.encode([])).length).toBe(0);
    const lenient = await loadEncoder(tiny.dir, { threads: 1, allowEmpty: true });
    expect((await lenient.encode(['', 'x'])).length).toBe(64);
    await lenient.release();
  });

  it('missing files and a graph with unexpected inputs/outputs give clear errors', async () => {
    await expect(loadEncoder(path.join(root, 'nope'))).rejects.toThrow(/model folder not found/);
    const broken = path.join(root, 'broken');
    fs.mkdirSync(broken);
    fs.copyFileSync(path.join(tiny.dir, 'config.json'), path.join(broken, 'config.json'));
    await expect(loadEncoder(broken)).rejects.toThrow(/missing: tokenizer.json, onnx\/model.onnx \(or onnx\/model_quantized.onnx or model.onnx or model.safetensors\)/);

    const odd = path.join(root, 'odd');
    fs.cpSync(tiny.dir, odd, { recursive: true });
    const g = new GraphBuilder('odd');
    g.input('input_ids', 'INT64', ['batch', 'sequence']);
    g.input('pixel_values', 'FLOAT', ['batch', 3]);
    g.output(g.node('Cast', ['input_ids'], { attrs: { to: 1 }, name: 'scores' }), 'FLOAT', ['batch', 'sequence']);
    fs.writeFileSync(path.join(odd, 'onnx', 'model.onnx'), g.toBytes());
    await expect(loadEncoder(odd)).rejects.toThrow(
      /does not fit: missing input\(s\) 'attention_mask'; unexpected input\(s\) 'pixel_values'; none of the outputs 'last_hidden_state' \/ 'token_embeddings' \/ 'sentence_embedding'/,
    );
    // a bi-encoder graph is not a cross-encoder
    await expect(loadCrossEncoder(tiny.dir)).rejects.toThrow(/none of the outputs 'logits'/);
    await expect(loadEncoder(tiny.dir, { pooling: 'median' as never })).rejects.toThrow(/pooling must be/);
    await expect(loadEncoder(tiny.dir, { pooling: 'model' })).rejects.toThrow(/needs a sentence_embedding output/);
  });
});

describe('cross-encoder', () => {
  let tiny: ReturnType<typeof writeTinyModel>;
  let ce: CrossEncoder;
  const PAIRS: [string, string][] = TEXTS.map((t, i) => [TEXTS[(i + 3) % TEXTS.length].slice(0, 20), t]);
  beforeAll(async () => {
    tiny = writeTinyModel(path.join(root, 'ce'), { kind: 'cross-encoder', seed: 11, std: 0.3 });
    ce = await loadCrossEncoder(tiny.dir, { threads: 1, batchSize: 2 });
  });
  afterAll(() => ce.release());

  it('raw logits match the reference for each pair (token types 0/1), in input order', async () => {
    expect(ce.numLabels).toBe(1);
    const got = await ce.score(PAIRS);
    expect(got.length).toBe(PAIRS.length);
    const want = PAIRS.map(([q, d]) => {
      const e = ce.tokenizer.encodePair(q, d);
      expect(e.typeIds).toContain(1);
      return bertForwardRef(tiny.config, tiny.weights, { inputIds: [e.ids], tokenTypeIds: [e.typeIds] }).logits![0];
    });
    expect(report('logits', got, want)).toBeLessThanOrEqual(1e-4);
    const sig = await ce.score(PAIRS, { sigmoid: true });
    expect(report('sigmoid', sig, want.map((x) => 1 / (1 + Math.exp(-x))))).toBeLessThanOrEqual(1e-5);
    const naive = await ce.score(PAIRS, { sortByLength: false, padTo: 64 });
    expect(report('sorted vs naive', got, naive)).toBeLessThanOrEqual(1e-5);
  });

  it('several labels: [N * L] or one column', async () => {
    const m = writeTinyModel(path.join(root, 'ce3'), { kind: 'cross-encoder', seed: 12, std: 0.3, numLabels: 3, shape: { layers: 1 } });
    const c3 = await loadCrossEncoder(m.dir, { threads: 1 });
    expect(c3.numLabels).toBe(3);
    const all = await c3.score(PAIRS.slice(0, 3));
    expect(all.length).toBe(9);
    const col = await c3.score(PAIRS.slice(0, 3), { label: 2 });
    expect(Array.from(col)).toEqual([all[2], all[5], all[8]]);
    await expect(c3.score(PAIRS, { label: 3 })).rejects.toThrow(RangeError);
    await c3.release();
  });

  it('bad pairs name the index', async () => {
    await expect(ce.score([['q', 'd'], ['q'] as unknown as [string, string]])).rejects.toThrow(/pairs\[1\] must be a \[query, document\] pair/);
    await expect(ce.score([['q', 5 as unknown as string]])).rejects.toThrow(/pairs\[0\]\[1\] must be a string, got number/);
    await expect(ce.score([['q', 'd'], ['', 'd']])).rejects.toThrow(/pairs\[1\]\[0\] is empty/);
  });
});
