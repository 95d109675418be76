/**
 * synthesize(): example counts, positives = exact top-1, margins = independently recomputed
 * teacher scores, run-folder files and API, selection options, BM25, storage variants, and the
 * clear errors for bad arguments. Models are the deterministic fakes of ./synthesis-fakes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRun, synthesize } from '../lib/synthesis';
import type { Example, SynthesizeOptions } from '../lib/synthesis/types';
import { FakeEncoder, FakeScorer, fakePairScore, referenceRanking, syntheticData } from './synthesis-fakes';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const data = syntheticData(24, 60);
const docText = new Map(data.corpus.map((d) => [d.id, d.text]));

function readExamples(file: string): Example[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

async function run(extra: Partial<SynthesizeOptions>, name: string) {
  const r = await synthesize({ ...data, miner: new FakeEncoder(), scorer: new FakeScorer(), numRelations: 5, out: path.join(tmp, name), encodeBatchSize: 16, mineBatchSize: 10, scoreBatchSize: 7, ...extra });
  await r.wait();
  return { run: r, examples: readExamples(r.trainData) };
}

describe('synthesize with exact mining', () => {
  it('emits |queries| × (numRelations − 1) examples, top-1 positives, consecutive negatives, exact margins', async () => {
    const { run: r, examples } = await run({}, 'basic');
    expect(examples.length).toBe(24 * 4);
    const enc = new FakeEncoder();
    const corpusTexts = data.corpus.map((d) => d.text);
    for (const [qi, q] of data.queries.entries()) {
      const mine = examples.filter((e) => e.qid === q.id);
      expect(mine.length).toBe(4);
      const ranking = await referenceRanking(enc, q.text, corpusTexts);
      expect(mine.every((e) => e.posId === data.corpus[ranking[0]].id)).toBe(true);
      expect(mine.map((e) => e.negId)).toEqual(ranking.slice(1, 5).map((i) => data.corpus[i].id));
      for (const e of mine) {
        expect(e.query).toBe(q.text);
        expect(e.positive).toBe(docText.get(e.posId));
        expect(e.negative).toBe(docText.get(e.negId));
        expect(e.posScore).toBe(fakePairScore(q.text, e.positive));
        expect(e.negScore).toBe(fakePairScore(q.text, e.negative));
        expect(e.margin).toBeCloseTo(fakePairScore(q.text, e.positive) - fakePairScore(q.text, e.negative), 12);
      }
      if (qi > 5) break;
    }
    const status = await r.status();
    expect(status).toMatchObject({ status: 'FINISHED', progress: 1, examples: 96 });
    for (const f of ['config.json', 'status.json', 'logs.jsonl', 'train.jsonl']) expect(fs.existsSync(path.join(r.folder, f))).toBe(true);
    const logs = await r.logs();
    expect(logs[0].message).toBe('started synthesis');
    expect(logs.at(-1)!.message).toBe('wrote 96 examples');
    const again = await getRun(r.folder);
    expect((await again.status()).status).toBe('FINISHED');
    const streamed = [];
    for await (const e of again.streamLogs({ pollMs: 10 })) streamed.push(e);
    expect(streamed.length).toBe(logs.length);
    const cfg = await again.config();
    expect(cfg).toMatchObject({ models: { miners: ['fake-encoder-16'], scorer: 'fake-scorer' }, parameters: { numRelations: 5, index: 'exact' } });
    const read: Example[] = [];
    for await (const e of again.examples()) read.push(e);
    expect(read).toEqual(examples);
  });

  it('a second call with the same arguments returns the finished run without recomputing', async () => {
    const enc = new FakeEncoder();
    const before = fs.readFileSync(path.join(tmp, 'basic', 'train.jsonl'));
    const r = await synthesize({ ...data, miner: enc, scorer: new FakeScorer(), numRelations: 5, out: path.join(tmp, 'basic'), encodeBatchSize: 16, mineBatchSize: 10, scoreBatchSize: 7 });
    await r.wait();
    expect(enc.calls).toBe(0);
    expect(fs.readFileSync(r.trainData)).toEqual(before);
  });

  it('refuses a folder holding a run with other parameters, unless overwrite', async () => {
    const opts = { ...data, miner: new FakeEncoder(), scorer: new FakeScorer(), numRelations: 6, out: path.join(tmp, 'basic'), encodeBatchSize: 16, mineBatchSize: 10, scoreBatchSize: 7 };
    await expect(synthesize(opts)).rejects.toThrow(/holds another synthesis run \(differs in: options \(numRelations\)\)/);
    const r = await synthesize({ ...opts, overwrite: true });
    await r.wait();
    expect(readExamples(r.trainData).length).toBe(24 * 5);
  });

  it('float16 and on-disk embeddings give the same relations as float32 in memory', async () => {
    const ref = (await run({}, 'f32')).examples.map((e) => [e.posId, e.negId]);
    const half = (await run({ embeddingDtype: 'float16' }, 'f16')).examples.map((e) => [e.posId, e.negId]);
    const disk = (await run({ embeddingStore: 'disk' }, 'disk')).examples.map((e) => [e.posId, e.negId]);
    expect(disk).toEqual(ref);
    const same = half.filter((p, i) => p[0] === ref[i][0] && p[1] === ref[i][1]).length;
    expect(same / ref.length).toBeGreaterThan(0.9);
  });

  it('writes Finetuner scored-pair CSV on request', async () => {
    const { run: r } = await run({ csv: true }, 'csv');
    const lines = fs.readFileSync(r.csvData, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('query,document,score');
    expect(lines.length).toBe(1 + 24 * 5);
    const score = Number(lines[1].split(',').at(-1));
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThan(1);
  });
});

describe('selection options', () => {
  it('never uses known positives as negatives and takes the first as positive', async () => {
    const knownPositives = { q0: ['d5', 'd7'], q1: ['d9'] };
    const { examples } = await run({ knownPositives }, 'known');
    const q0 = examples.filter((e) => e.qid === 'q0');
    expect(q0.every((e) => e.posId === 'd5')).toBe(true);
    expect(q0.some((e) => e.negId === 'd5' || e.negId === 'd7')).toBe(false);
    expect(examples.filter((e) => e.qid === 'q1').every((e) => e.posId === 'd9' && e.negId !== 'd9')).toBe(true);
  });

  it('samples negatives from the top-N, seeded and reproducible', async () => {
    const a = (await run({ negatives: { sampleFrom: 15, seed: 3 } }, 'sample-a')).examples;
    const b = (await run({ negatives: { sampleFrom: 15, seed: 3 } }, 'sample-b')).examples;
    expect(a).toEqual(b);
    const enc = new FakeEncoder();
    const ranking = await referenceRanking(enc, data.queries[0].text, data.corpus.map((d) => d.text));
    const top = new Set(ranking.slice(1, 15).map((i) => data.corpus[i].id));
    const negs = a.filter((e) => e.qid === 'q0').map((e) => e.negId);
    expect(negs.every((id) => top.has(id))).toBe(true);
    const sampled = a.map((e) => e.negId).join();
    const consecutive = (await run({}, 'sample-ref')).examples.map((e) => e.negId).join();
    expect(sampled).not.toBe(consecutive);
    const c = (await run({ negatives: { sampleFrom: 15, seed: 4 } }, 'sample-c')).examples;
    expect(c.map((e) => e.negId).join()).not.toBe(sampled);
  });

  it('caps the corpus with maxDocuments (known positives kept)', async () => {
    const { run: r, examples } = await run({ maxDocuments: 20, knownPositives: { q0: ['d59'] } }, 'maxdocs');
    const ids = new Set(examples.flatMap((e) => [e.posId, e.negId]));
    expect(ids.size).toBeLessThanOrEqual(20);
    expect(ids.has('d59')).toBe(true);
    expect(await r.config()).toMatchObject({ inputs: { corpus: { count: 20, originalCount: 60 } } });
  });

  it('merges several miners and supports BM25 as miner and scorer', async () => {
    const { examples } = await run({ miner: [new FakeEncoder(), 'bm25', new FakeEncoder(16, 'other', 7)], scorer: 'bm25' }, 'multi');
    expect(examples.length).toBe(96);
    const { examples: lex } = await run({ miner: 'bm25', scorer: 'bm25' }, 'bm25');
    expect(lex.length).toBe(96);
    for (const e of lex) expect(e.posScore).toBeGreaterThanOrEqual(e.negScore);
    expect(lex.every((e) => Number.isFinite(e.margin))).toBe(true);
  });
});

describe('errors', () => {
  const base = () => ({ ...data, miner: new FakeEncoder(), scorer: new FakeScorer(), out: path.join(tmp, 'err') });
  it('numRelations < 2', async () => {
    await expect(synthesize({ ...base(), numRelations: 1 })).rejects.toThrow(/numRelations must be an integer ≥ 2/);
  });
  it('numRelations larger than the corpus', async () => {
    await expect(synthesize({ ...base(), numRelations: 61 })).rejects.toThrow(/numRelations \(61\) exceeds the corpus size \(60 documents\)/);
  });
  it('empty inputs', async () => {
    await expect(synthesize({ ...base(), queries: [] })).rejects.toThrow(/no queries/);
    await expect(synthesize({ ...base(), corpus: [] })).rejects.toThrow(/no corpus/);
  });
  it('unknown known-positive ids, bad models', async () => {
    await expect(synthesize({ ...base(), knownPositives: { q0: ['nope'] } })).rejects.toThrow(/known positive 'nope'/);
    await expect(synthesize({ ...base(), scorer: {} as never })).rejects.toThrow(/scorer must be/);
  });
  it('a query left with too few candidates after excluding known positives fails the run', async () => {
    const small = syntheticData(2, 4);
    const r = await synthesize({ ...small, miner: new FakeEncoder(), scorer: new FakeScorer(), numRelations: 4, knownPositives: { q0: ['d0', 'd1'] }, out: path.join(tmp, 'few') });
    await expect(r.wait()).rejects.toThrow(/query 'q0' has only 3 candidate documents/);
    expect((await r.status()).status).toBe('FAILED');
  });
});
