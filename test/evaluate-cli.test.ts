/**
 * `synthtune evaluate` run in-process (main() from lib/cli/main.ts) on a tiny BEIR folder whose
 * BM25 ranking is predictable: JSON keys and values, the table, the TREC run file, errors.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../lib/cli/main';
import { loadEncoder } from '../lib/models/index';
import { writeTinyModel } from '../lib/models/tiny';

const root = mkdtempSync(path.join(os.tmpdir(), 'synthtune-eval-'));
const data = path.join(root, 'tiny');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(path.join(data, 'qrels'), { recursive: true });
  const corpus = [
    { _id: 'd1', title: 'Fruit', text: 'apple banana' },
    { _id: 'd2', title: '', text: 'apple cherry pie' },
    { _id: 'd3', text: 'cherry' },
    { _id: 'd4', text: 'grape' },
    // 150 fillers sharing one word, so a query can match more than 100 documents
    ...Array.from({ length: 150 }, (_, i) => ({ _id: `f${i}`, text: `common filler${i}` })),
  ];
  writeFileSync(path.join(data, 'corpus.jsonl'), corpus.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const queries = [['q1', 'banana'], ['q2', 'cherry'], ['q3', 'grape'], ['q4', 'common'], ['q5', 'not judged']];
  writeFileSync(path.join(data, 'queries.jsonl'), queries.map(([id, text]) => JSON.stringify({ _id: id, text })).join('\n'));
  // q1: d1 is found at rank 1. q2: d3 (shorter) outranks the relevant d2, rank 2.
  // q3 and q4 have no relevant document: skipped from the means.
  writeFileSync(path.join(data, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td4\t0\nq4\tf1\t0\n');
});

let out = '';
let err = '';
beforeAll(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
});
afterEach(() => {
  out = '';
  err = '';
});

const METRICS = ['ndcg', 'map', 'mrr', 'recall', 'precision', 'hit', 'f1', 'dcg'];

describe('synthtune evaluate --model bm25', () => {
  it('--json prints one object keyed <metric>@<k> with the expected values', async () => {
    expect(await main(['evaluate', '--data', data, '--split', 'test', '--model', 'bm25', '--k', '1,3', '--json'])).toBe(0);
    const m = JSON.parse(out.trim());
    expect(Object.keys(m).sort()).toEqual(METRICS.flatMap((x) => [`${x}@1`, `${x}@3`]).sort());
    expect(m['mrr@1']).toBe(0.5); // (1 + 0) / 2 evaluated queries
    expect(m['mrr@3']).toBe(0.75); // (1 + 1/2) / 2
    expect(m['recall@1']).toBe(0.5);
    expect(m['hit@3']).toBe(1);
    expect(m['ndcg@3']).toBeCloseTo((1 + 1 / Math.log2(3)) / 2, 12);
    expect(m['precision@3']).toBeCloseTo(1 / 3, 12);
    expect(m['map@3']).toBeCloseTo((1 + 0.5) / 2, 12);
    expect(m['dcg@3']).toBeCloseTo((1 + 1 / Math.log2(3)) / 2, 12);
    expect(err).toMatch(/2 without relevant documents skipped/);
  });

  it('default ks are 1,3,5,10,100; docarray convention defaults to 20', async () => {
    await main(['evaluate', '--data', data, '--model', 'bm25', '--json']);
    expect(Object.keys(JSON.parse(out))).toContain('ndcg@100');
    expect(Object.keys(JSON.parse(out))).toHaveLength(8 * 5);
    out = '';
    await main(['evaluate', '--data', data, '--model', 'bm25', '--json', '--convention', 'docarray']);
    expect(Object.keys(JSON.parse(out))).toEqual(METRICS.map((x) => `${x}@20`));
  });

  it('prints a metric × k table by default', async () => {
    expect(await main(['evaluate', '--data', data, '--model', 'bm25', '--k', '1,10'])).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^metric\s+@1\s+@10$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(METRICS);
    expect(lines.find((l) => l.startsWith('mrr'))).toMatch(/^mrr\s+0\.5000\s+0\.7500$/);
  });

  it('--save-run writes a TREC run: qid Q0 docid rank score tag, at most 100 per query', async () => {
    const runFile = path.join(root, 'bm25.run');
    expect(await main(['evaluate', '--data', data, '--model', 'bm25', '--k', '1', '--save-run', runFile, '--json'])).toBe(0);
    const rows = readFileSync(runFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
    for (const r of rows) {
      expect(r).toHaveLength(6);
      expect(r[1]).toBe('Q0');
      expect(r[5]).toBe('synthtune-bm25');
      expect(Number.isFinite(Number(r[4]))).toBe(true);
    }
    const byQuery = new Map<string, string[][]>();
    for (const r of rows) byQuery.set(r[0], [...(byQuery.get(r[0]) ?? []), r]);
    expect([...byQuery.keys()].sort()).toEqual(['q1', 'q2', 'q3', 'q4']); // the judged queries
    expect(byQuery.get('q2')!.map((r) => r[2])).toEqual(['d3', 'd2']);
    expect(byQuery.get('q4')!).toHaveLength(100); // 150 matches, top 100 kept
    for (const list of byQuery.values()) {
      expect(list.map((r) => Number(r[3]))).toEqual(list.map((_, i) => i + 1));
      const scores = list.map((r) => Number(r[4]));
      for (let i = 1; i < scores.length; i++) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1]);
    }
    expect(existsSync(runFile)).toBe(true);
  });

  it('BM25 parameters change scores', async () => {
    const a = path.join(root, 'a.run');
    const b = path.join(root, 'b.run');
    await main(['evaluate', '--data', data, '--model', 'bm25', '--save-run', a]);
    await main(['evaluate', '--data', data, '--model', 'bm25', '--save-run', b, '--k1', '1.2', '--b', '0.75']);
    expect(readFileSync(a, 'utf8')).not.toEqual(readFileSync(b, 'utf8'));
  });
});

describe('errors', () => {
  it('missing options and bad values are usage errors (exit 2)', async () => {
    expect(await main(['evaluate', '--model', 'bm25'])).toBe(2);
    expect(err).toMatch(/--data/);
    expect(await main(['evaluate', '--data', data, '--model', 'bm25', '--k', '0'])).toBe(2);
    expect(await main(['evaluate', '--data', data, '--model', 'bm25', '--convention', 'x'])).toBe(2);
  });

  it('bad data is reported with file and line', async () => {
    const bad = path.join(root, 'bad');
    mkdirSync(path.join(bad, 'qrels'), { recursive: true });
    writeFileSync(path.join(bad, 'corpus.jsonl'), '{"_id":"d1","text":"x"}\n');
    writeFileSync(path.join(bad, 'queries.jsonl'), '{"_id":"q1","text":"x"}\n');
    writeFileSync(path.join(bad, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td9\t1\n');
    expect(await main(['evaluate', '--data', bad, '--model', 'bm25'])).toBe(2);
    expect(err).toContain(`${path.join(bad, 'qrels', 'test.tsv')}:2: unknown corpus id 'd9'`);
  });
});

describe('synthtune evaluate --model <folder> (dense)', () => {
  it('an unknown model folder is a usage error', async () => {
    expect(await main(['evaluate', '--data', data, '--model', path.join(root, 'no-such-model')])).toBe(2);
    expect(err).toMatch(/cannot load model/);
  });

  it('encodes with the model, ranks by the similarity it declares (here dot: inner product), reports every metric', async () => {
    const modelDir = path.join(root, 'tiny-model');
    writeTinyModel(modelDir, { seed: 3, std: 0.2 });
    const cfgFile = path.join(modelDir, 'config_sentence_transformers.json');
    writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(readFileSync(cfgFile, 'utf8')), similarity_fn_name: 'dot' }));
    const runFile = path.join(root, 'dense.run');
    expect(await main(['evaluate', '--data', data, '--model', modelDir, '--k', '1,5', '--json', '--save-run', runFile])).toBe(0);
    const m = JSON.parse(out);
    expect(Object.keys(m)).toHaveLength(16);
    for (const [key, v] of Object.entries(m) as Array<[string, number]>) {
      expect(v).toBeGreaterThanOrEqual(0);
      if (!key.startsWith('dcg')) expect(v).toBeLessThanOrEqual(1);
    }
    // The run's best document for q1 is the one whose embedding has the largest inner product.
    const encoder = await loadEncoder(modelDir);
    const corpus = readFileSync(path.join(data, 'corpus.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const docs = await encoder.encode(corpus.map((c) => (c.title !== undefined ? `${c.title} ${c.text}`.trim() : c.text)));
    const q = await encoder.encode(['banana']);
    await encoder.release();
    const scores = corpus.map((_, i) => q.reduce((s, x, j) => s + x * docs[i * encoder.dim + j], 0));
    const order = scores.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]);
    const rows = readFileSync(runFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
    const q1 = rows.filter((r) => r[0] === 'q1');
    expect(q1).toHaveLength(100);
    expect(q1[0][5]).toBe('synthtune-tiny-model');
    if (order[0][0] - order[1][0] > 1e-4) expect(q1[0][2]).toBe(corpus[order[0][1]]._id);
    expect(Number(q1[0][4])).toBeCloseTo(order[0][0], 3);
  });
});

const scifact = path.resolve(__dirname, '../../shared/data/scifact');
const hasScifact = existsSync(scifact);
if (!hasScifact) console.log(`skipping the scifact BM25 check: ${scifact} is absent`);
describe('scifact', () => {
  it.skipIf(!hasScifact)('BM25 nDCG@10 on the test split is in the published BM25 range (0.66–0.69)', async () => {
    expect(await main(['evaluate', '--data', scifact, '--model', 'bm25', '--k', '10', '--json'])).toBe(0);
    const m = JSON.parse(out);
    expect(m['ndcg@10']).toBeGreaterThan(0.66);
    expect(m['ndcg@10']).toBeLessThan(0.69);
  });
});
