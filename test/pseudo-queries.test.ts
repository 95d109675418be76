/**
 * Model-free pseudo-queries (lib/synthesis/pseudo-queries.ts) and their use in synthesize():
 * determinism per seed, what each method produces, mix vs replace, the run folder's records, the
 * run key, resume after an interrupted run, and the 'how much data' advice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenize } from '../lib/evaluation/analyzer';
import { dataGuidance, FEW_EXAMPLES, FEW_QUERIES, generatePseudoQueries, sentences } from '../lib/synthesis/pseudo-queries';
import { synthesize } from '../lib/synthesis';
import { synthesisTeacher } from '../lib/training/run';
import { FakeEncoder, FakeScorer } from './synthesis-fakes';

const TOPICS = ['volcano', 'glacier', 'reef', 'desert', 'tundra', 'savanna', 'estuary', 'canyon'];
const FILL = 'the area has many features and the people living there describe it in many ways'.split(' ');

/** Documents of three sentences each, with titles; every document has a rare topic word. */
function corpus(n: number): { id: string; title: string; text: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const topic = TOPICS[i % TOPICS.length];
    const rare = `zork${i}`;
    return {
      id: `doc${i}`,
      title: `The ${topic} of ${rare}`,
      text: `The ${topic} near ${rare} formed long ago. ${FILL.slice(0, 8 + (i % 5)).join(' ')}. Visitors to the ${topic} report ${rare} minerals and ${TOPICS[(i + 3) % TOPICS.length]} views!`,
    };
  });
}

const CORPUS = corpus(40);

describe('generatePseudoQueries', () => {
  it('is deterministic for a seed and changes with it', () => {
    const a = generatePseudoQueries(CORPUS, { perDocument: 2, seed: 7 });
    const b = generatePseudoQueries(CORPUS, { perDocument: 2, seed: 7 });
    const c = generatePseudoQueries(CORPUS, { perDocument: 2, seed: 8 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((q) => q.id)).size).toBe(a.length);
  });

  it('salient: terms of the document, the rarest first', () => {
    const qs = generatePseudoQueries(CORPUS, { perDocument: 3, methods: ['salient'], seed: 1 });
    expect(qs.length).toBeGreaterThanOrEqual(CORPUS.length);
    for (const q of qs) {
      const doc = CORPUS.find((d) => d.id === q.sourceDocId)!;
      const docTokens = new Set(tokenize(doc.text));
      const terms = q.text.split(' ');
      expect(terms.length).toBeGreaterThanOrEqual(3);
      expect(terms.length).toBeLessThanOrEqual(5);
      for (const t of terms) expect(docTokens.has(t)).toBe(true);
      expect(q.method).toBe('salient');
    }
    // the first query of each document holds its unique word (the highest idf)
    for (const q of qs.filter((x) => x.id.endsWith('-0'))) expect(q.text).toContain(`zork${q.sourceDocId.slice(3)}`);
  });

  it('icl: sentences of the document, verbatim, distinct per document', () => {
    const qs = generatePseudoQueries(CORPUS, { perDocument: 5, methods: ['icl'], seed: 3 });
    for (const q of qs) {
      const doc = CORPUS.find((d) => d.id === q.sourceDocId)!;
      expect(doc.text.includes(q.text)).toBe(true);
      expect(sentences(doc.text)).toContain(q.text);
    }
    // 3 sentences per document: perDocument 5 is capped
    expect(qs.length).toBe(CORPUS.length * 3);
  });

  it('title: the title when there is one, at most one per document', () => {
    const withTitles = generatePseudoQueries(CORPUS, { perDocument: 3, methods: ['title'] });
    expect(withTitles.map((q) => q.text)).toEqual(CORPUS.map((d) => d.title));
    expect(generatePseudoQueries(CORPUS.map(({ id, text }) => ({ id, text })), { perDocument: 1, methods: ['title'] })).toEqual([]);
  });

  it('sampleDocuments: a seeded subset of documents', () => {
    const qs = generatePseudoQueries(CORPUS, { perDocument: 1, methods: ['title'], sampleDocuments: 10, seed: 5 });
    expect(qs.length).toBe(10);
    expect(generatePseudoQueries(CORPUS, { perDocument: 1, methods: ['title'], sampleDocuments: 10, seed: 5 })).toEqual(qs);
    expect(generatePseudoQueries(CORPUS, { perDocument: 1, methods: ['title'], sampleDocuments: 10, seed: 6 })).not.toEqual(qs);
  });

  it('rejects bad options', () => {
    expect(() => generatePseudoQueries(CORPUS, { perDocument: 0 })).toThrow(/perDocument must be an integer ≥ 1/);
    expect(() => generatePseudoQueries(CORPUS, { perDocument: 1, methods: ['t5' as never] })).toThrow(/unknown generation method 't5'/);
    expect(() => generatePseudoQueries(CORPUS, { perDocument: 1, methods: [] })).toThrow(/must not be empty/);
    expect(() => generatePseudoQueries(CORPUS, { perDocument: 1, sampleDocuments: 0 })).toThrow(/sampleDocuments must be an integer ≥ 1/);
  });

  it('speed on a 2,000-document corpus (logged)', () => {
    const big = corpus(2000);
    const t0 = performance.now();
    const qs = generatePseudoQueries(big, { perDocument: 2, seed: 1 });
    const sec = (performance.now() - t0) / 1000;
    console.log(`pseudo-queries: ${qs.length} from ${big.length} documents in ${sec.toFixed(3)} s (${Math.round(qs.length / sec)} queries/s)`);
    expect(qs.length).toBeGreaterThan(4000);
  });
});

describe('dataGuidance', () => {
  it('advises below the thresholds only', () => {
    expect(dataGuidance(FEW_EXAMPLES, FEW_QUERIES)).toBeNull();
    expect(dataGuidance(FEW_EXAMPLES - 1, 10_000)).toMatch(/--generate-queries/);
    expect(dataGuidance(100_000, FEW_QUERIES - 1)).toMatch(/only 100000 examples from 199 queries/);
    expect(dataGuidance(FEW_EXAMPLES, FEW_QUERIES, 'bm25')).toBeNull();
  });
  it('with BM25 as the teacher advises real queries, not pseudo-queries or deeper mining', () => {
    const bm25 = dataGuidance(900, 100, 'bm25')!;
    expect(bm25).toMatch(/^only 900 examples from 100 queries/);
    expect(bm25).toMatch(/Add real queries/);
    expect(bm25).toMatch(/--generate-queries\) and a larger --num-relations do not help/);
    expect(bm25).not.toMatch(/generate pseudo-queries from the corpus with/);
    for (const t of ['cross-encoder', null]) {
      const g = dataGuidance(900, 100, t)!;
      expect(g).toMatch(/generate pseudo-queries from the corpus with --generate-queries N/);
      expect(g).not.toMatch(/With BM25/);
    }
  });
});

describe('synthesize with generateQueries', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pseudo-q-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const user = [{ id: 'u1', text: 'volcano minerals' }, { id: 'u2', text: 'reef views' }];
  const base = { corpus: CORPUS, miner: 'bm25' as const, scorer: 'bm25' as const, numRelations: 4, seed: 9 };
  const rows = (out: string) => fs.readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('mix: generated queries join the user queries; the source document is the positive; the folder records them', async () => {
    const out = path.join(tmp, 'mix');
    const gen = { perDocument: 1, methods: ['salient', 'title'] as ('salient' | 'title')[] };
    const run = await synthesize({ ...base, queries: user, generateQueries: gen, out });
    const st = await run.wait();
    const expected = generatePseudoQueries(CORPUS, { perDocument: 1, methods: ['salient', 'title'], seed: 9 });
    expect(st.examples).toBe((user.length + expected.length) * 3);
    const recorded = fs.readFileSync(path.join(out, 'generated-queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recorded).toEqual(expected);
    const r = rows(out);
    expect(r.filter((x) => x.qid === 'u1').every((x) => x.generated === undefined)).toBe(true);
    const bySource = new Map(expected.map((g) => [g.id, g]));
    for (const x of r.filter((y) => y.generated)) {
      expect(x.generated).toBe(bySource.get(x.qid)!.method);
      expect(x.posId).toBe(bySource.get(x.qid)!.sourceDocId);
      expect(x.negId).not.toBe(x.posId);
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.parameters.generateQueries).toEqual({ perDocument: 1, methods: ['salient', 'title'], sampleDocuments: null, mode: 'mix' });
    expect(cfg.inputs.queries).toMatchObject({ count: user.length + expected.length, generated: expected.length });
    // 82 queries × 3 = 246 examples: the run logs the 'too little data' advice
    const logs = fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // BM25 labelled them: the advice is real queries (pseudo-queries measured not to help then)
    expect(logs.find((l) => l.level === 'warn')?.message).toMatch(/only 246 examples from 82 queries.*Add real queries.*With BM25 as the teacher/);
    expect(await synthesisTeacher(out)).toBe('bm25');
    expect(await synthesisTeacher(path.join(out, 'train.jsonl'))).toBe('bm25');
    expect(logs.find((l) => /generated \d+ pseudo-queries/.test(l.message))).toMatchObject({ byMethod: { salient: 40, title: 40 } });
  });

  it('a cross-encoder teacher gets the pseudo-query advice; rows without a synthesis config have no known teacher', async () => {
    const out = path.join(tmp, 'ce');
    await (await synthesize({ ...base, miner: new FakeEncoder(16), scorer: new FakeScorer(), queries: user, out })).wait();
    const logs = fs.readFileSync(path.join(out, 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(logs.find((l) => l.level === 'warn')?.message).toMatch(/only 6 examples from 2 queries.*generate pseudo-queries from the corpus with --generate-queries N/);
    expect(await synthesisTeacher(out)).toBe('cross-encoder');
    const other = path.join(tmp, 'other');
    fs.mkdirSync(other, { recursive: true });
    fs.copyFileSync(path.join(out, 'train.jsonl'), path.join(other, 'train.jsonl'));
    expect(await synthesisTeacher(path.join(other, 'train.jsonl'))).toBeNull(); // no config.json beside it
    fs.writeFileSync(path.join(other, 'config.json'), JSON.stringify({ kind: 'fit', models: { scorer: 'bm25' } }));
    expect(await synthesisTeacher(other)).toBeNull(); // another kind of folder
    fs.writeFileSync(path.join(other, 'config.json'), '{ not json');
    expect(await synthesisTeacher(other)).toBeNull();
    expect(await synthesisTeacher(path.join(tmp, 'missing'))).toBeNull();
  });

  it('replace: only generated queries; user queries may be absent', async () => {
    const gen = { perDocument: 1, methods: ['title'] as 'title'[], sampleDocuments: 12 };
    const a = await (await synthesize({ ...base, queries: user, generateQueries: { ...gen, mode: 'replace' }, out: path.join(tmp, 'replace') })).wait();
    expect(a.examples).toBe(12 * 3);
    const b = await (await synthesize({ ...base, generateQueries: gen, out: path.join(tmp, 'none') })).wait();
    expect(b.examples).toBe(12 * 3);
    expect(rows(path.join(tmp, 'none')).every((x) => x.generated === 'title')).toBe(true);
    await expect(synthesize({ ...base, out: path.join(tmp, 'noq') })).rejects.toThrow(/no queries/);
  });

  it('the generation settings are part of the run key', async () => {
    const out = path.join(tmp, 'key');
    await (await synthesize({ ...base, queries: user, generateQueries: { perDocument: 1, methods: ['title'] }, out })).wait();
    await expect(synthesize({ ...base, queries: user, generateQueries: { perDocument: 2, methods: ['title'] }, out })).rejects.toThrow(/differs in: (data; )?options \(generateQueries\)/);
    await expect(synthesize({ ...base, queries: user, out })).rejects.toThrow(/differs in: (data; )?options \(generateQueries\)/);
  });

  it('without generation the run key and rows are unchanged (no generateQueries field)', async () => {
    const out = path.join(tmp, 'plain');
    await (await synthesize({ ...base, queries: user, out })).wait();
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect('generateQueries' in cfg.parameters).toBe(false);
    expect(fs.existsSync(path.join(out, 'generated-queries.jsonl'))).toBe(false);
    expect(rows(out).every((x) => !('generated' in x))).toBe(true);
  });

  it('resumes an interrupted run with byte-identical outputs', async () => {
    const opts = { ...base, miner: new FakeEncoder(16), scorer: new FakeScorer(), queries: user, generateQueries: { perDocument: 2 }, encodeBatchSize: 16, mineBatchSize: 20, scoreBatchSize: 10 };
    const ref = path.join(tmp, 'ref');
    await (await synthesize({ ...opts, out: ref })).wait();
    const out = path.join(tmp, 'interrupted');
    const stopAt = (stage: string) => async (s: string, b: number) => {
      if (s === stage && b === 1) throw new Error(`interrupted at ${stage}`);
    };
    await expect((await synthesize({ ...opts, out, onCheckpoint: stopAt('encode:0:corpus') })).wait()).rejects.toThrow(/interrupted at encode/);
    fs.rmSync(path.join(out, 'generated-queries.jsonl')); // as if killed before it was written
    await expect((await synthesize({ ...opts, out, onCheckpoint: stopAt('score') })).wait()).rejects.toThrow(/interrupted at score/);
    const scorer = new FakeScorer();
    await (await synthesize({ ...opts, scorer, out })).wait();
    expect(scorer.calls).toBeLessThan(Math.ceil(JSON.parse(fs.readFileSync(path.join(ref, 'config.json'), 'utf8')).inputs.queries.count / 10));
    for (const f of ['train.jsonl', 'generated-queries.jsonl', 'config.json']) {
      const strip = (s: string) => (f === 'config.json' ? s.replace(/"(createdAt|name)": "[^"]*"/g, '') : s);
      expect(strip(fs.readFileSync(path.join(out, f), 'utf8'))).toBe(strip(fs.readFileSync(path.join(ref, f), 'utf8')));
    }
  });
});
