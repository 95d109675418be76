/** An empty document or query text is refused with its id (it used to become `"negative": ""` in train.jsonl). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../lib/data/errors';
import { synthesize } from '../lib/synthesis';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-empty-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('synthesize: empty texts', () => {
  const corpus = [{ id: 'd1', text: 'hello world' }, { id: 'd2', title: '', text: '  ' }, { id: 'd3', text: 'another doc about the world' }];
  it('a document with no title and no text: DataError naming it, nothing written', async () => {
    const out = path.join(tmp, 'a');
    const err = await synthesize({ queries: ['hello', 'world doc'], corpus, miner: 'bm25', scorer: 'bm25', numRelations: 3, out, progress: 'none' }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/<corpus>:2: document 'd2' has no text/);
    expect(fs.existsSync(path.join(out, 'train.jsonl'))).toBe(false);
  });
  it('a title alone is text enough; an empty query is refused', async () => {
    const titled = corpus.map((d) => (d.id === 'd2' ? { ...d, title: 'world title' } : d));
    const run = await synthesize({ queries: ['hello', 'world doc'], corpus: titled, miner: 'bm25', scorer: 'bm25', numRelations: 3, out: path.join(tmp, 'b'), progress: 'none' });
    const status = await run.wait();
    expect(status.examples).toBe(4);
    const rows = fs.readFileSync(run.trainData, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.every((r) => r.positive.trim() && r.negative.trim())).toBe(true);
    await expect(synthesize({ queries: ['hello', ' '], corpus, miner: 'bm25', scorer: 'bm25', numRelations: 3, out: path.join(tmp, 'c'), progress: 'none' }))
      .rejects.toThrow(/query '.*' has no text|empty/);
  });
});

describe('synthesize: a teacher that returns NaN', () => {
  it('fails with a ModelError naming the pair, never writes "margin": null', async () => {
    const corpus = Array.from({ length: 6 }, (_, i) => ({ id: `d${i}`, text: `doc ${i} words w${i} shared` }));
    const nanScorer = { id: 'nan-scorer', score: async (pairs: [string, string][]) => Float32Array.from(pairs, ([, d]) => (d.includes('w3') ? NaN : 1)) };
    const out = path.join(tmp, 'nan');
    const run = await synthesize({ queries: ['w3 shared', 'doc 1'], corpus, miner: 'bm25', scorer: nanScorer, numRelations: 6, out, progress: 'none' });
    const err = await run.wait().catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ModelError');
    expect(err.message).toMatch(/the scorer \(.*\) gave NaN for query '.*' and document 'd3': teacher scores must be finite/);
    expect(fs.existsSync(path.join(out, 'train.jsonl'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'status.json'), 'utf8')).status).toBe('FAILED');
  });
});

describe('synthesize: a damaged mining checkpoint', () => {
  it('an index outside the corpus (in a well-formed, checksummed file) is a RunError naming the checkpoint folder, not a row without a positive', async () => {
    const corpus = Array.from({ length: 8 }, (_, i) => ({ id: `d${i}`, text: `doc ${i} words w${i} shared` }));
    const out = path.join(tmp, 'mine');
    const o = { queries: ['w3 shared', 'doc 1', 'w5'], corpus, miner: 'bm25', scorer: 'bm25', numRelations: 4, out, progress: 'none' as const };
    await (await synthesize(o)).wait();
    const ck = path.join(out, 'checkpoints');
    const mine = fs.readdirSync(ck).find((f) => f.startsWith('mine-'))!;
    const { readTensor, writeTensor } = await import('../lib/util/run-folder');
    const rel = await readTensor(path.join(ck, mine), Int32Array);
    rel[1] = 999; // out of range, same size, a valid checksum
    await writeTensor(path.join(ck, mine), rel);
    for (const f of fs.readdirSync(ck)) if (f.startsWith('score-')) fs.rmSync(path.join(ck, f));
    fs.rmSync(path.join(out, 'train.jsonl')); // the run resumes from its checkpoints
    const err = await (await synthesize(o)).wait().catch((e) => e);
    expect(err.name).toBe('RunError');
    expect(err.message).toMatch(/name document 999 of 8: a mining checkpoint is damaged; delete .*checkpoints to mine again, use --restart/);
  });
});

describe('synthesize: a truncated embedding checkpoint', () => {
  it('is a RunError naming the file (was: zero vectors for the missing documents)', async () => {
    const { FakeEncoder, FakeScorer } = await import('./synthesis-fakes');
    const corpus = Array.from({ length: 20 }, (_, i) => ({ id: `d${i}`, text: `doc ${i} words w${i % 7} shared` }));
    const out = path.join(tmp, 'emb');
    const o = { queries: ['w3 shared', 'doc 1', 'w5'], corpus, miner: new FakeEncoder(8), scorer: new FakeScorer(), numRelations: 4, encodeBatchSize: 8, out, progress: 'none' as const };
    await (await synthesize(o)).wait();
    const ck = path.join(out, 'checkpoints');
    const files = fs.readdirSync(path.join(ck, 'emb-0')).filter((f) => f.startsWith('corpus-'));
    expect(files.length).toBe(3); // 20 documents in batches of 8
    const victim = path.join(ck, 'emb-0', files.sort()[0]);
    fs.truncateSync(victim, fs.statSync(victim).size - 32);
    for (const f of fs.readdirSync(ck)) if (f.startsWith('mine-') || f.startsWith('score-')) fs.rmSync(path.join(ck, f));
    fs.rmSync(path.join(out, 'train.jsonl'));
    const err = await (await synthesize(o)).wait().catch((e) => e);
    expect(err.name).toBe('RunError');
    expect(err.message).toContain(victim);
    expect(err.message).toMatch(/checksum mismatch: .* damaged or truncated; use --restart/);
  });
});
