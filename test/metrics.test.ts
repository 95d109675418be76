/**
 * Metrics against hand-computed values in both conventions, graded qrels, a query without relevant
 * documents, ties; and the embedding evaluator on a tiny 2-d example.
 */
import { describe, expect, it } from 'vitest';
import {
  averagePrecisionAt, dcgAt, evaluate, evaluateRankings, evaluateRun, ndcgAt, queryMetrics, rankByScore,
  type Encoder,
} from '../lib/evaluation/index';

const L2 = Math.log2;
// q1: three relevant docs (grades 2, 1, 1), one judged non-relevant; d4 is unjudged.
const judged = new Map([['d1', 2], ['d2', 1], ['d3', 0], ['d5', 1]]);
const ranking = ['d3', 'd1', 'd4', 'd2']; // grades 0, 2, 0, 1

describe('trec convention (BEIR / pytrec_eval)', () => {
  const m = queryMetrics(ranking, judged, { ks: [1, 3, 5] })!;

  it('k=1: nothing relevant at rank 1', () => {
    for (const name of ['precision', 'recall', 'f1', 'hit', 'map', 'mrr', 'dcg', 'ndcg']) expect(m[`${name}@1`]).toBe(0);
  });

  it('k=3', () => {
    expect(m['precision@3']).toBeCloseTo(1 / 3, 12);
    expect(m['recall@3']).toBeCloseTo(1 / 3, 12);
    expect(m['f1@3']).toBeCloseTo(1 / 3, 12);
    expect(m['hit@3']).toBe(1);
    expect(m['map@3']).toBeCloseTo(1 / 2 / 3, 12); // P@2 / nRel (all 3 relevant docs)
    expect(m['mrr@3']).toBeCloseTo(1 / 2, 12);
    expect(m['dcg@3']).toBeCloseTo(2 / L2(3), 12); // gain = grade, discount log2(rank + 1)
    const ideal = 2 / L2(2) + 1 / L2(3) + 1 / L2(4); // ideal from ALL judged relevant: 2, 1, 1
    expect(m['ndcg@3']).toBeCloseTo(2 / L2(3) / ideal, 12);
  });

  it('k=5 (beyond the 4 retrieved: precision still divides by k)', () => {
    expect(m['precision@5']).toBeCloseTo(2 / 5, 12);
    expect(m['recall@5']).toBeCloseTo(2 / 3, 12);
    expect(m['f1@5']).toBeCloseTo((2 * 0.4 * (2 / 3)) / (0.4 + 2 / 3), 12);
    expect(m['map@5']).toBeCloseTo((1 / 2 + 2 / 4) / 3, 12);
    expect(m['mrr@5']).toBeCloseTo(1 / 2, 12);
    const dcg = 2 / L2(3) + 1 / L2(5);
    expect(m['dcg@5']).toBeCloseTo(dcg, 12);
    expect(m['ndcg@5']).toBeCloseTo(dcg / (2 + 1 / L2(3) + 1 / L2(4)), 12);
  });

  it('a perfect ranking has nDCG 1 and AP 1', () => {
    const p = queryMetrics(['d1', 'd2', 'd5'], judged, { ks: [3] })!;
    expect(p['ndcg@3']).toBeCloseTo(1, 12);
    expect(p['map@3']).toBeCloseTo(1, 12);
    expect(p['recall@3']).toBe(1);
  });

  it('map@k divides by all relevant documents, not min(k, nRel)', () => {
    expect(averagePrecisionAt([2], 1, 3)).toBeCloseTo(1 / 3, 12);
  });
});

describe('docarray convention (Finetuner EvaluationCallback)', () => {
  const m = queryMetrics(ranking, judged, { ks: [3, 5], convention: 'docarray' })!;

  it('k=5 on a 4-item list', () => {
    expect(m['precision@5']).toBeCloseTo(2 / 4, 12); // mean over the returned list
    expect(m['recall@5']).toBeCloseTo(2 / 3, 12);
    expect(m['f1@5']).toBeCloseTo(4 / 7, 12);
    expect(m['map@5']).toBeCloseTo((1 / 2 + 2 / 4) / 2, 12); // divided by relevant docs retrieved
    expect(m['mrr@5']).toBeCloseTo(1 / 2, 12);
    expect(m['dcg@5']).toBeCloseTo(0 + 2 / 1 + 0 / L2(3) + 1 / L2(4), 12); // r1 + Σ r_i / log2(i)
    expect(m['ndcg@5']).toBeCloseTo(2.5 / (2 + 1 / 1), 12); // ideal = retrieved list re-sorted: 2, 1, 0, 0
  });

  it('k=3: ideal is the top 3 re-sorted, so one relevant doc at rank 2 gives nDCG 1', () => {
    expect(m['dcg@3']).toBeCloseTo(2, 12);
    expect(m['ndcg@3']).toBeCloseTo(1, 12);
    expect(m['map@3']).toBeCloseTo(1 / 2, 12);
    expect(m['precision@3']).toBeCloseTo(1 / 3, 12);
  });

  it('defaults to k = 20', () => {
    expect(Object.keys(queryMetrics(ranking, judged, { convention: 'docarray' })!)).toContain('ndcg@20');
    expect(Object.keys(queryMetrics(ranking, judged)!)).toEqual(expect.arrayContaining(['ndcg@1', 'ndcg@10', 'ndcg@100']));
  });

  it('ranks 1 and 2 weigh the same in docarray DCG but not in trec DCG', () => {
    expect(dcgAt([1, 0], 2, 'docarray')).toBe(dcgAt([0, 1], 2, 'docarray'));
    expect(dcgAt([1, 0], 2, 'trec')).toBeGreaterThan(dcgAt([0, 1], 2, 'trec'));
    expect(ndcgAt([0, 1], 2, [1, 1, 1], 'trec')).toBeCloseTo(1 / L2(3) / (1 + 1 / L2(3)), 12);
  });
});

describe('averaging over queries', () => {
  const qrels = new Map([
    ['q1', judged],
    ['q2', new Map([['d1', 0]])], // judged, but nothing relevant
    ['q3', new Map([['d9', 1]])],
    ['q4', new Map([['d8', 1]])], // absent from the run
  ]);
  const run = new Map([
    ['q1', ranking],
    ['q2', ['d1']],
    ['q3', ['d9']],
    ['qX', ['d1']], // not judged: ignored
  ]);

  it('skips queries without relevant documents and averages the rest', () => {
    const r = evaluateRun(run, qrels, { ks: [3] });
    expect(r.skipped).toEqual(['q2']);
    expect(r.evaluated).toBe(3);
    expect([...r.perQuery.keys()]).toEqual(['q1', 'q3', 'q4']);
    expect(r.perQuery.get('q4')!['ndcg@3']).toBe(0);
    expect(r.mean['mrr@3']).toBeCloseTo((1 / 2 + 1 + 0) / 3, 12);
    expect(r.mean['precision@3']).toBeCloseTo((1 / 3 + 1 / 3 + 0) / 3, 12);
    expect(queryMetrics(['d1'], qrels.get('q2')!, { ks: [3] })).toBeNull();
  });

  it('rejects a ranking that repeats a document and bad ks', () => {
    expect(() => queryMetrics(['d1', 'd1'], judged, { ks: [2] })).toThrow(/twice/);
    expect(() => queryMetrics(['d1'], judged, { ks: [0] })).toThrow(RangeError);
  });
});

describe('ties in scores', () => {
  it('rankByScore orders ties like trec_eval: doc id descending', () => {
    expect(rankByScore([['a', 1], ['c', 2], ['b', 1], ['d', 0.5]])).toEqual(['c', 'b', 'a', 'd']);
  });

  it('trec convention re-orders tied results; docarray keeps the retrieval order', () => {
    const qrels = new Map([['q', new Map([['a', 1]])]]);
    const run = new Map([['q', { ids: ['a', 'b'], scores: [1, 1] }]]);
    expect(evaluateRankings(run, { qrels, ks: [1] }).mean['mrr@1']).toBe(0); // b before a
    expect(evaluateRankings(run, { qrels, ks: [2] }).mean['mrr@2']).toBe(0.5);
    expect(evaluateRankings(run, { qrels, ks: [1], convention: 'docarray' }).mean['mrr@1']).toBe(1);
  });
});

describe('evaluate (embeddings and encoder)', () => {
  // d1 = (1, 0), d2 = (0, 1), d3 = (0.6, 0.8); q1 = (1, 0.1): scores 1, 0.1, 0.68 → d1, d3, d2.
  const corpus = new Float32Array([1, 0, 0, 1, 0.6, 0.8]);
  const docIds = ['d1', 'd2', 'd3'];
  const qrels = new Map([['q1', new Map([['d3', 1]])], ['d2', new Map([['d2', 1], ['d3', 1]])]]);

  it('ranks by inner product and scores the ranking', async () => {
    const r = await evaluate({ queryEmbeddings: new Float32Array([1, 0.1]), corpusEmbeddings: corpus, dim: 2, queryIds: ['q1'], docIds, qrels: new Map([['q1', qrels.get('q1')!]]), ks: [1, 3] });
    expect(r.run.get('q1')!.ids).toEqual(['d1', 'd3', 'd2']);
    expect(r.run.get('q1')!.scores[1]).toBeCloseTo(0.68, 5);
    expect(r.mean['mrr@3']).toBe(0.5);
    expect(r.mean['hit@1']).toBe(0);
  });

  it('excludeSelf drops the document whose id is the query id', async () => {
    const base = { queryEmbeddings: new Float32Array([0, 1]), corpusEmbeddings: corpus, dim: 2, queryIds: ['d2'], docIds, qrels, ks: [1], depth: 3 };
    const withSelf = await evaluate(base);
    const noSelf = await evaluate({ ...base, excludeSelf: true });
    expect(withSelf.run.get('d2')!.ids[0]).toBe('d2');
    expect(noSelf.run.get('d2')!.ids).toEqual(['d3', 'd1']);
    expect(noSelf.perQuery.get('d2')!['recall@1']).toBe(0.5);
    expect(noSelf.mean['recall@1']).toBe(0.25); // q1 is judged but was not searched: it counts as 0
  });

  it('accepts an encoder with texts, encoding title + " " + text', async () => {
    const seen: string[] = [];
    const vec: Record<string, number[]> = { apple: [1, 0], 'fruit apple pie': [0.9, 0.1], 'car engine': [0, 1] };
    const encoder: Encoder = {
      dim: 2,
      async encode(texts) {
        seen.push(...texts);
        return new Float32Array(texts.flatMap((t) => vec[t]));
      },
    };
    const r = await evaluate({
      encoder,
      queries: [{ id: 'q', text: 'apple' }],
      corpus: [{ id: 'a', title: 'fruit', text: 'apple pie' }, { id: 'b', text: 'car engine' }],
      qrels: new Map([['q', new Map([['a', 1]])]]),
      ks: [1],
      batchSize: 1,
    });
    expect(seen).toEqual(['apple', 'fruit apple pie', 'car engine']);
    expect(r.mean['ndcg@1']).toBe(1);
  });

  it('checks embedding shapes', async () => {
    await expect(evaluate({ queryEmbeddings: new Float32Array(3), corpusEmbeddings: corpus, dim: 2, queryIds: ['q1'], docIds, qrels })).rejects.toThrow(/queryEmbeddings/);
  });
});
