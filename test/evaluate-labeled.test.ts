/**
 * Evaluation as Finetuner's EvaluationCallback: evaluationSet() qrels from labeled data (same
 * label, exclude_self) and pairs; Finetuner's metric names beside synthtune's; `synthtune evaluate
 * --query-data/--index-data/--metrics` with BM25 on tiny files whose rankings are worked out by
 * hand below, and with a dense tiny model against a brute-force ranking computed here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, evaluationSet, readTrainingData, type Document, type TrainingData } from '../lib/data/index';
import { canonicalMetric, FINETUNER_METRIC_NAMES, METRIC_NAMES, parseMetricNames, queryMetrics } from '../lib/evaluation/metrics';
import { loadEncoder } from '../lib/models/index';
import { writeTinyModel } from '../lib/models/tiny';
import { runCli } from './helpers/cli';

const dir = mkdtempSync(path.join(os.tmpdir(), 'synthtune-evlab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

const labeled = (items: [string, string, string][]): TrainingData => ({ kind: 'labeled', documents: items.map(([id, text, label]) => ({ id, text, label })) });

describe('evaluationSet', () => {
  const data = labeled([['a', 'A1', 'x'], ['b', 'B1', 'x'], ['c', 'C1', 'y'], ['d', 'D1', 'z']]);

  it('labeled, no index: relevant = the other items of the label (exclude_self by default)', () => {
    const set = evaluationSet(data, undefined);
    expect(set.excludeSelf).toBe(true);
    expect(set.corpus.map((d) => d.id)).toEqual(['a', 'b', 'c', 'd']);
    expect([...set.qrels].map(([q, m]) => [q, [...m.keys()]])).toEqual([['a', ['b']], ['b', ['a']], ['c', []], ['d', []]]);
  });

  it('labeled with excludeSelf false: each query is relevant to itself too', () => {
    const set = evaluationSet(data, undefined, { excludeSelf: false });
    expect([...set.qrels.get('a')!.keys()]).toEqual(['a', 'b']);
    expect([...set.qrels.get('c')!.keys()]).toEqual(['c']);
  });

  it('labeled queries against a labeled index', () => {
    const index = labeled([['i1', 'I1', 'y'], ['i2', 'I2', 'x'], ['i3', 'I3', 'y']]);
    const set = evaluationSet(data, index);
    expect(set.corpus.map((d) => d.id)).toEqual(['i1', 'i2', 'i3']);
    expect(new Map([...set.qrels].map(([q, m]) => [q, [...m.keys()]]))).toEqual(new Map([['a', ['i2']], ['b', ['i2']], ['c', ['i1', 'i3']], ['d', []]]));
  });

  it('pairs: each query is relevant to its own documents; extra texts join the index as distractors', () => {
    const docs: Document[] = [{ id: 'd1', text: 'x', label: 'q1' }, { id: 'd2', text: 'y', label: 'q1' }, { id: 'd3', text: 'z', label: 'q2' }];
    const pairs: TrainingData = { kind: 'pairs', queries: [{ id: 'q1', text: 'Q1', label: 'q1' }, { id: 'q2', text: 'Q2', label: 'q2' }], documents: docs };
    const extra: TrainingData = { kind: 'texts', documents: [{ id: 'e1', text: 'e' }, { id: 'd1', text: 'x' }] };
    const set = evaluationSet(pairs, extra);
    expect(set.corpus.map((d) => d.id)).toEqual(['d1', 'd2', 'd3', 'e1']);
    expect([...set.qrels].map(([q, m]) => [q, [...m.keys()]])).toEqual([['q1', ['d1', 'd2']], ['q2', ['d3']]]);
    expect(set.excludeSelf).toBe(false);
  });

  it('refuses data that carries no relevance, and mismatched index kinds', () => {
    expect(() => evaluationSet({ kind: 'texts', documents: [{ id: 'a', text: 'a' }] }, undefined, { queryFile: 'q.csv' })).toThrow(DataError);
    expect(() => evaluationSet({ kind: 'scored', pairs: [] }, undefined, { queryFile: 'q.csv' })).toThrow(/q\.csv: query data must be labeled items or \(query, document\) pairs/);
    expect(() => evaluationSet(data, { kind: 'texts', documents: [] }, { indexFile: 'i.csv' })).toThrow(/i\.csv: index data for labeled queries must be labeled too/);
  });
});

describe("Finetuner's metric names", () => {
  it('every Finetuner name stands for one synthtune metric and gives the same values, keyed as asked', () => {
    expect(FINETUNER_METRIC_NAMES.map(canonicalMetric)).toEqual(['precision', 'recall', 'f1', 'hit', 'map', 'mrr', 'dcg', 'ndcg']);
    const judged = new Map([['d1', 1], ['d3', 2], ['d9', 1]]);
    const ranking = ['d2', 'd3', 'd1', 'd4'];
    for (const convention of ['trec', 'docarray'] as const) {
      const ours = queryMetrics(ranking, judged, { ks: [1, 3], convention, metrics: [...METRIC_NAMES] })!;
      const theirs = queryMetrics(ranking, judged, { ks: [1, 3], convention, metrics: FINETUNER_METRIC_NAMES })!;
      expect(Object.keys(theirs)).toContain('ndcg_at_k@3');
      for (const name of FINETUNER_METRIC_NAMES) for (const k of [1, 3]) expect(theirs[`${name}@${k}`]).toBe(ours[`${canonicalMetric(name)}@${k}`]);
    }
    // a hand value: docarray AP@3 = mean of precision at the relevant ranks 2 and 3 = (1/2 + 2/3) / 2
    expect(queryMetrics(ranking, judged, { ks: [3], convention: 'docarray', metrics: ['average_precision'] })).toEqual({ 'average_precision@3': (1 / 2 + 2 / 3) / 2 });
  });

  it('parseMetricNames accepts both sets and names the choices when a name is unknown', () => {
    expect(parseMetricNames('ndcg, recall_at_k,hit_at_k')).toEqual(['ndcg', 'recall_at_k', 'hit_at_k']);
    expect(() => parseMetricNames('ndcg,nope')).toThrow(/unknown metric 'nope': choose from ndcg, .* or Finetuner's precision_at_k, .*ndcg_at_k/);
    expect(() => parseMetricNames('hit,hit')).toThrow(/named twice/);
  });
});

// Four labeled items whose BM25 rankings are easy to follow: each item shares two terms with the
// other item of its label and one term ('red') or none with the other label.
const LABELED = 'text,label\nred apple fruit,fruit\ngreen apple fruit,fruit\nred car vehicle,vehicle\nblue car vehicle,vehicle\n';

async function evaluateJson(args: string[]): Promise<Record<string, number>> {
  const r = await runCli('evaluate', [...args, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
}

describe('synthtune evaluate --query-data (BM25)', () => {
  it('labeled data, exclude_self (default), docarray convention (default)', async () => {
    const f = file('labeled.csv', LABELED);
    const m = await evaluateJson(['--query-data', f, '--model', 'bm25', '--k', '1,3']);
    // every query finds its label partner first (two shared terms): all rank-1 metrics are 1
    expect(m['hit@1']).toBe(1);
    expect(m['mrr@3']).toBe(1);
    expect(m['recall@1']).toBe(1);
    // 'red apple fruit' and 'red car vehicle' also retrieve the other 'red' item (2 retrieved, 1
    // relevant); 'green…' and 'blue…' retrieve only their partner. docarray precision divides by
    // the number retrieved: (1/2 + 1 + 1/2 + 1) / 4
    expect(m['precision@3']).toBeCloseTo(0.75, 12);
    expect(m['f1@3']).toBeCloseTo((2 * (0.5 * 1) / 1.5 + 1 + 2 * (0.5 * 1) / 1.5 + 1) / 4, 12);
  });

  it('--convention trec divides precision by k; --no-exclude-self finds each query itself first', async () => {
    const f = file('labeled2.csv', LABELED);
    const trec = await evaluateJson(['--query-data', f, '--model', 'bm25', '--k', '3', '--convention', 'trec']);
    expect(trec['precision@3']).toBeCloseTo(1 / 3, 12);
    const self = await evaluateJson(['--query-data', f, '--model', 'bm25', '--k', '1,3', '--no-exclude-self']);
    // relevant = {self, partner}: recall@1 = 1/2; precision@3 = (2/3 + 2/2 + 2/3 + 2/2) / 4
    expect(self['recall@1']).toBe(0.5);
    expect(self['precision@3']).toBeCloseTo(5 / 6, 12);
    expect(self['dcg@3']).toBe(2); // docarray dcg: 1 + 1 / log2(2)
  });

  it('--metrics with Finetuner names keys the output by those names, in that order', async () => {
    const f = file('labeled3.csv', LABELED);
    const m = await evaluateJson(['--query-data', f, '--model', 'bm25', '--k', '3', '--metrics', 'precision_at_k,average_precision,ndcg']);
    expect(Object.keys(m)).toEqual(['precision_at_k@3', 'average_precision@3', 'ndcg@3']);
    expect(m['precision_at_k@3']).toBeCloseTo(0.75, 12);
    const table = await runCli('evaluate', ['--query-data', f, '--model', 'bm25', '--k', '3', '--metrics', 'hit_at_k,mrr']);
    expect(table.out.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['metric', 'hit_at_k', 'mrr']);
    const bad = await runCli('evaluate', ['--query-data', f, '--model', 'bm25', '--metrics', 'recall@5']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--metrics: unknown metric 'recall@5'/);
  });

  it('pairs data: each query against the documents; --data <file> is --query-data', async () => {
    const f = file('pairs.csv', 'query,document\napple fruit,red apple fruit\napple fruit,green apple\ncar,blue car vehicle\n');
    const m = await evaluateJson(['--data', f, '--model', 'bm25', '--k', '1,2']);
    // 'apple fruit': both its documents at ranks 1 and 2 → recall@1 1/2; 'car': its one document first
    expect(m['recall@1']).toBe(0.75);
    expect(m['recall@2']).toBe(1);
    expect(m['dcg@2']).toBe(1.5);
    // an index text (a distractor) that BM25 ranks above 'car''s document: recall@1 (1/2 + 0) / 2
    const extra = file('extra.txt', 'car car car blue vehicle\n');
    const withIndex = await evaluateJson(['--query-data', f, '--index-data', extra, '--model', 'bm25', '--k', '1']);
    expect(withIndex['recall@1']).toBe(0.25);
  });

  it('labeled queries against a separate labeled index, and errors', async () => {
    const q = file('q.csv', 'text,label\napple,fruit\ncar,vehicle\n');
    const x = file('x.csv', 'text,label\nred apple,fruit\nfast car,vehicle\nblue car,vehicle\n');
    const m = await evaluateJson(['--query-data', q, '--index-data', x, '--model', 'bm25', '--k', '2']);
    expect(m['recall@2']).toBe(1);
    expect(m['precision@2']).toBe(1);
    const scored = file('s.csv', 'a,b,0.5\n');
    const r = await runCli('evaluate', ['--query-data', scored, '--model', 'bm25']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/query data must be labeled items or \(query, document\) pairs .*got scored/);
    const both = await runCli('evaluate', ['--query-data', q, '--data', dir, '--model', 'bm25']);
    expect(both.err).toMatch(/not both/);
    const idx = await runCli('evaluate', ['--index-data', x, '--data', dir, '--model', 'bm25']);
    expect(idx.err).toMatch(/--index-data needs --query-data/);
  });
});

describe('synthtune evaluate --query-data (dense tiny model)', () => {
  it('hit@1 and mrr@7 equal a brute-force cosine ranking of the labeled items, self excluded', async () => {
    const modelDir = path.join(dir, 'model');
    writeTinyModel(modelDir, { seed: 5, std: 0.2 });
    const cfgFile = path.join(modelDir, 'config_sentence_transformers.json');
    writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(readFileSync(cfgFile, 'utf8')), similarity_fn_name: 'cosine' }));
    const fixture = path.join(__dirname, 'fixtures', 'finetuner', 'labeled-header.csv');
    const m = await evaluateJson(['--query-data', fixture, '--model', modelDir, '--k', '1,7']);
    const data = (await readTrainingData(fixture)).data;
    if (data.kind !== 'labeled') throw new Error('fixture is labeled');
    const enc = await loadEncoder(modelDir);
    const e = await enc.encode(data.documents.map((d) => d.text));
    const D = enc.dim;
    await enc.release();
    const unit = (i: number) => {
      const v = e.subarray(i * D, (i + 1) * D);
      const n = Math.hypot(...v);
      return Array.from(v, (x) => x / n);
    };
    const docs = data.documents;
    let hits = 0;
    let rr = 0;
    for (let i = 0; i < docs.length; i++) {
      const u = unit(i);
      const order = docs.map((_, j) => j).filter((j) => j !== i)
        .map((j) => [j, unit(j).reduce((s, x, t) => s + x * u[t], 0)] as const)
        .sort((a, b) => b[1] - a[1]);
      if (docs[order[0][0]].label === docs[i].label) hits++;
      rr += 1 / (order.findIndex(([j]) => docs[j].label === docs[i].label) + 1);
    }
    expect(m['hit@1']).toBeCloseTo(hits / docs.length, 6);
    expect(m['mrr@7']).toBeCloseTo(rr / docs.length, 6);
  });
});
