/**
 * Self-mined negatives: the documents the untrained student itself ranks high for a training query
 * though the teacher ranks them low, added as Margin-MSE rows labelled by BM25 (ANCE's "negatives
 * from the model being trained", with GPL's margins).
 *
 * Why: synthesis mines negatives with BM25 (or a bi-encoder), so every row teaches the student to
 * order candidates the teacher already found: lexically close documents. A static student's
 * mistakes are elsewhere: crosstalk between the random directions of different tokens lifts
 * documents that share no term with the query into its top ranks, and rows from BM25's top
 * candidates never show them. Those documents, scored by the same kind of teacher, are what
 * training needs to push down. Measured on a static student (MiniLM tokenizer, dim 256, 8 seeds
 * per collection; README "Quality"): runs on 100–150 queries that ended below their start fell
 * from 3 of 24 to none, and mean nDCG@10 after training rose on every collection checked
 * (SciFact: 0.576 → 0.613).
 *
 * The documents are the distinct documents of the rows (the fit has no other corpus), the teacher
 * BM25 over them (lib/evaluation/bm25.ts, the teacher synthesis runs: Lucene idf, k1 0.9,
 * b 0.4): a new row's margin is BM25(q, positive) − BM25(q, document), both from that one index, so
 * it is consistent within the row whatever the original rows' collection statistics were. Only with BM25's labels: another
 * teacher's margins cannot be extended this way without running it.
 */
import { Bm25Builder } from '../evaluation/bm25';
import { topkSync } from '../kernels';
import { normalizeRows } from '../synthesis/store';
import type { TextExample } from './data';
import { marginsOf, negativesOf } from './student';

export interface SelfNegativeOptions {
  /** New negatives per query (≥ 1). */
  perQuery: number;
  /**
   * (n, dim) embeddings of texts, row-major: the student as it starts. `side` says which encoder
   * side a student with two would use.
   */
  embed: (texts: string[], side: 'query' | 'document') => Float32Array;
  dim: number;
  /** Rank by cosine (normalise the rows) rather than dot. */
  cosine: boolean;
  threads?: number;
}

export interface SelfNegativeResult {
  rows: TextExample[];
  queries: number;
  documents: number;
  /** Mean margin of the new rows (BM25 units) and of the original rows, for the log. */
  meanMargin: number;
  meanOriginalMargin: number;
}

/**
 * Per distinct query of `rows`: the `perQuery` documents (of the rows' distinct documents) the
 * student ranks highest, leaving out the query's own positives and negatives, each as a row
 * { query, positive, negative, margin, selfMined: true } with the query's first positive.
 * Deterministic for the same rows and student.
 */
export function selfMinedNegatives(rows: readonly TextExample[], o: SelfNegativeOptions): SelfNegativeResult {
  if (!(Number.isInteger(o.perQuery) && o.perQuery >= 1)) throw new RangeError(`selfMinedNegatives: perQuery must be an integer ≥ 1, got ${o.perQuery}`);
  const docIndex = new Map<string, number>();
  const docs: string[] = [];
  const doc = (t: string): number => {
    let i = docIndex.get(t);
    if (i === undefined) {
      i = docs.length;
      docIndex.set(t, i);
      docs.push(t);
    }
    return i;
  };
  // per distinct query: its first positive and every document its rows hold
  const byQuery = new Map<string, { positive: string; seen: Set<number> }>();
  let originalSum = 0;
  let originalCount = 0;
  for (const r of rows) {
    let q = byQuery.get(r.query);
    if (!q) byQuery.set(r.query, (q = { positive: r.positive, seen: new Set() }));
    q.seen.add(doc(r.positive));
    for (const n of negativesOf(r)) q.seen.add(doc(n));
    for (const m of marginsOf(r)) {
      originalSum += m;
      originalCount++;
    }
  }
  const queries = [...byQuery.keys()];
  const out: SelfNegativeResult = { rows: [], queries: queries.length, documents: docs.length, meanMargin: 0, meanOriginalMargin: originalCount ? originalSum / originalCount : 0 };
  if (!queries.length || docs.length < 2) return out;

  const qe = o.embed(queries, 'query');
  const de = o.embed(docs, 'document');
  if (qe.length !== queries.length * o.dim || de.length !== docs.length * o.dim) {
    throw new RangeError(`selfMinedNegatives: embed returned ${qe.length} / ${de.length} floats for ${queries.length} queries / ${docs.length} documents of dim ${o.dim}`);
  }
  if (o.cosine) {
    normalizeRows(qe, o.dim);
    normalizeRows(de, o.dim);
  }
  const exclude = queries.map((q) => Int32Array.from(byQuery.get(q)!.seen));
  const top = topkSync(qe, de, { dim: o.dim, k: o.perQuery, exclude, threads: o.threads });

  const bm25 = new Bm25Builder();
  for (let i = 0; i < docs.length; i++) bm25.add(String(i), docs[i]);
  const index = bm25.build();
  let sum = 0;
  for (let qi = 0; qi < queries.length; qi++) {
    const q = byQuery.get(queries[qi])!;
    const picked: number[] = [];
    for (let j = 0; j < top.k; j++) {
      const d = top.indices[qi * top.k + j];
      if (d >= 0) picked.push(d);
    }
    if (!picked.length) continue;
    const pos = docIndex.get(q.positive)!;
    const s = index.score(queries[qi], [String(pos), ...picked.map(String)]);
    for (let j = 0; j < picked.length; j++) {
      const margin = s[0] - s[j + 1];
      sum += margin;
      out.rows.push({ query: queries[qi], positive: q.positive, negative: docs[picked[j]], margin, selfMined: true });
    }
  }
  out.meanMargin = out.rows.length ? sum / out.rows.length : 0;
  return out;
}
