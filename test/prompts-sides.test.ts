/**
 * Query and document prompts reach every consumer: synthesis mining encodes queries and the
 * corpus through the miner's side functions, evaluation does the same, a sentence-transformers
 * folder's prompts become encodeQueries / encodeDocuments, and the per-method training defaults.
 * Also: bi-encoder and cross-encoder folders are told apart by their sentence-transformers files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../lib/evaluation/evaluator';
import { loadCrossEncoder } from '../lib/models/cross-encoder';
import { loadEncoder } from '../lib/models/encoder';
import { writeTinyModel } from '../lib/models/tiny';
import { synthesize } from '../lib/synthesis';
import { methodDefaults, withDefaultWarmup } from '../lib/training/run';
import { FakeEncoder, FakeScorer } from './synthesis-fakes';
import { maxAbsDiff, scratchDirs } from './helpers/models';

const tmp = scratchDirs('synthtune-sides-');

/** A fake miner that records which texts went through which side. */
class SidedEncoder extends FakeEncoder {
  seen = { query: new Set<string>(), document: new Set<string>(), plain: new Set<string>() };
  async encodeQueries(texts: string[]) {
    texts.forEach((t) => this.seen.query.add(t));
    return this.encode(texts.map((t) => `q ${t}`), true);
  }
  async encodeDocuments(texts: string[]) {
    texts.forEach((t) => this.seen.document.add(t));
    return this.encode(texts, true);
  }
  override async encode(texts: string[], internal = false) {
    if (!internal) texts.forEach((t) => this.seen.plain.add(t));
    return super.encode(texts);
  }
}

const queries = Array.from({ length: 8 }, (_, i) => ({ id: `q${i}`, text: `query about topic ${i} and protein ${i % 3}` }));
const corpus = Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, text: `document ${i} on topic ${i % 8} with protein ${i % 5}` }));

describe('sides', () => {
  it('synthesis encodes queries with encodeQueries and the corpus with encodeDocuments', async () => {
    const enc = new SidedEncoder();
    const r = await synthesize({ queries, corpus, miner: enc, scorer: new FakeScorer(), numRelations: 3, out: path.join(await tmp(), 'run'), encodeBatchSize: 8 });
    await r.wait();
    expect([...enc.seen.query].sort()).toEqual(queries.map((q) => q.text).sort());
    expect([...enc.seen.document].sort()).toEqual(corpus.map((d) => d.text).sort());
    expect(enc.seen.plain.size).toBe(0);
  });

  it('evaluation encodes queries with encodeQueries and documents with encodeDocuments', async () => {
    const enc = new SidedEncoder();
    const qrels = new Map(queries.map((q, i) => [q.id, new Map([[`d${i}`, 1]])]));
    await evaluate({ encoder: enc, queries, corpus, qrels, ks: [5] });
    expect(enc.seen.query.size).toBe(queries.length);
    expect(enc.seen.document.size).toBe(corpus.length);
    expect(enc.seen.plain.size).toBe(0);
  });
});

describe('prompts of a sentence-transformers folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = writeTinyModel(await tmp(), { seed: 3, std: 0.2 }).dir;
    fs.writeFileSync(path.join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: { query: 'query: ', document: 'passage: ' }, default_prompt_name: null }));
  });

  it('encodeQueries / encodeDocuments put the side prompt in front; an explicit prompt wins', async () => {
    const enc = await loadEncoder(dir, { threads: 1 });
    try {
      const texts = ['Vaccines reduce the risk of infection.', 'Protein folding'];
      const q = await enc.encodeQueries(texts);
      const d = await enc.encodeDocuments(texts);
      expect(maxAbsDiff(q, await enc.encode(texts.map((t) => `query: ${t}`)))).toBe(0);
      expect(maxAbsDiff(d, await enc.encode(texts.map((t) => `passage: ${t}`)))).toBe(0);
      expect(maxAbsDiff(q, d)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(await enc.encodeQueries(texts, { prompt: '' }), await enc.encode(texts))).toBe(0);
    } finally {
      await enc.release();
    }
  });

  it('a bi-encoder folder is refused as a cross-encoder and a cross-encoder folder as a bi-encoder', async () => {
    await expect(loadCrossEncoder(dir)).rejects.toThrow(/none of the outputs 'logits'/);
    const ce = writeTinyModel(await tmp(), { seed: 4, kind: 'cross-encoder' }).dir;
    fs.writeFileSync(path.join(ce, 'config_sentence_transformers.json'), JSON.stringify({ model_type: 'CrossEncoder', prompts: {} }));
    await expect(loadEncoder(ce)).rejects.toThrow(/is a cross-encoder/);
  });
});

describe('training defaults by method', () => {
  it('full fine-tuning: 2e-5 with 10% warm-up; adapter and static: 1e-3 without', () => {
    expect(methodDefaults('full')).toEqual({ learningRate: 2e-5, warmup: 0.1 });
    expect(methodDefaults('adapter')).toEqual({ learningRate: 1e-3, warmup: 0 });
    expect(methodDefaults('static')).toEqual({ learningRate: 1e-3, warmup: 0 });
    expect(withDefaultWarmup(undefined, 0.1)).toEqual({ warmup: 0.1, decay: 'linear' });
    expect(withDefaultWarmup('cosine', 0.1)).toEqual({ warmup: 0.1, decay: 'cosine' });
    expect(withDefaultWarmup({ warmup: 0, decay: 'constant' }, 0.1)).toEqual({ warmup: 0, decay: 'constant' });
    expect(withDefaultWarmup(undefined, 0)).toBeUndefined();
  });
});
