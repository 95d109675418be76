/**
 * Relation mining: for each query, a ranked list of candidate corpus documents, then the choice
 * of one positive and numRelations − 1 negatives among them.
 *
 * - exact: fused native top-k (lib/kernels) over the whole corpus at once when it is one float32
 *   array, else chunk by chunk (float16 or on-disk stores) with the partial lists merged;
 * - HNSW: see ./hnsw.ts;
 * - lexical (BM25): the index's own ranking, padded with zero-score documents in corpus order
 *   when a query shares too few terms with the corpus;
 * - several miners: candidate lists merged by reciprocal-rank fusion (1 / (60 + rank)).
 * Known positives are excluded inside the searches, so they can never become negatives.
 * Ranked lists are (Q, k) Int32Array/Float32Array pairs, −1 padded, as lib/kernels returns them.
 */
import { topk } from '../kernels';
import type { VectorStore } from './store';
import type { LexicalIndex, NegativeSelection } from './types';
import { mulberry32 } from '../util/rng';
import { InputRangeError } from '../util/errors';

export interface Ranked {
  k: number;
  indices: Int32Array;
  scores: Float32Array;
}

export type Exclusions = ReadonlyArray<readonly number[] | null>;

function emptyRanked(q: number, k: number): Ranked {
  return { k, indices: new Int32Array(q * k).fill(-1), scores: new Float32Array(q * k).fill(-Infinity) };
}

/** Better-first order: higher score, then lower index. */
function better(s1: number, i1: number, s2: number, i2: number): boolean {
  return s1 > s2 || (s1 === s2 && i1 < i2);
}

/** Merges a partial top-k (already global indices) into acc, row by row. */
export function mergeRanked(acc: Ranked, part: Ranked, q: number): void {
  const k = acc.k;
  const ti = new Int32Array(k);
  const ts = new Float32Array(k);
  for (let r = 0; r < q; r++) {
    let a = r * k;
    let b = r * part.k;
    const aEnd = a + k;
    const bEnd = b + part.k;
    for (let o = 0; o < k; o++) {
      const aOk = a < aEnd && acc.indices[a] >= 0;
      const bOk = b < bEnd && part.indices[b] >= 0;
      if (aOk && (!bOk || better(acc.scores[a], acc.indices[a], part.scores[b], part.indices[b]))) {
        ti[o] = acc.indices[a];
        ts[o] = acc.scores[a++];
      } else if (bOk) {
        ti[o] = part.indices[b];
        ts[o] = part.scores[b++];
      } else {
        ti[o] = -1;
        ts[o] = -Infinity;
      }
    }
    acc.indices.set(ti, r * k);
    acc.scores.set(ts, r * k);
  }
}

function localExclusions(exclude: Exclusions | undefined, start: number, end: number): (number[] | null)[] | undefined {
  if (!exclude) return undefined;
  return exclude.map((ids) => {
    if (!ids) return null;
    const local = ids.filter((i) => i >= start && i < end).map((i) => i - start);
    return local.length ? local : null;
  });
}

/** Exact inner-product top-k of (Q, dim) queries against a vector store. */
export async function exactSearch(queries: Float32Array, store: VectorStore, k: number, exclude?: Exclusions): Promise<Ranked> {
  const { dim } = store;
  const q = queries.length / dim;
  if (store.dense) return topk(queries, store.dense, { dim, k, exclude });
  const acc = emptyRanked(q, k);
  for await (const { start, vectors } of store.chunks()) {
    const n = vectors.length / dim;
    const part = await topk(queries, vectors, { dim, k: Math.min(k, n), exclude: localExclusions(exclude, start, start + n) });
    for (let i = 0; i < part.indices.length; i++) if (part.indices[i] >= 0) part.indices[i] += start;
    mergeRanked(acc, part, q);
  }
  return acc;
}

/** BM25 top-k; short lists are padded with zero-score documents in corpus order. */
export function lexicalSearch(index: LexicalIndex, queries: readonly string[], n: number, k: number, exclude?: Exclusions): { ranked: Ranked; padded: number } {
  const out = emptyRanked(queries.length, k);
  let padded = 0;
  queries.forEach((text, r) => {
    const ex = new Set(exclude?.[r] ?? []);
    const hits = index.search(text, k, ex);
    const taken = new Set<number>();
    let o = 0;
    for (const h of hits) {
      out.indices[r * k + o] = h.index;
      out.scores[r * k + o++] = h.score;
      taken.add(h.index);
    }
    if (o < k) padded++;
    for (let d = 0; o < k && d < n; d++) {
      if (taken.has(d) || ex.has(d)) continue;
      out.indices[r * k + o] = d;
      out.scores[r * k + o++] = 0;
    }
  });
  return { ranked: out, padded };
}

/** Reciprocal-rank fusion of several miners' lists for the same queries; keeps k per query. */
export function fuseRanked(lists: Ranked[], q: number, k: number, c = 60): Ranked {
  if (lists.length === 1 && lists[0].k === k) return lists[0];
  const out = emptyRanked(q, k);
  for (let r = 0; r < q; r++) {
    const fused = new Map<number, number>();
    for (const l of lists) {
      for (let j = 0; j < l.k; j++) {
        const d = l.indices[r * l.k + j];
        if (d >= 0) fused.set(d, (fused.get(d) ?? 0) + 1 / (c + j + 1));
      }
    }
    const order = [...fused].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, k);
    order.forEach(([d, s], j) => {
      out.indices[r * k + j] = d;
      out.scores[r * k + j] = s;
    });
  }
  return out;
}

// ---- selection -------------------------------------------------------------------------------

/** Candidates to fetch per query for a selection strategy. */
export function candidatesNeeded(numRelations: number, negatives: NegativeSelection): number {
  return negatives === 'top' ? numRelations : Math.max(numRelations, negatives.sampleFrom);
}

/** FNV-1a of a string, mixed with a seed: a per-query seed independent of batching. */
function querySeed(seed: number, qid: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < qid.length; i++) h = Math.imul(h ^ qid.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** m positions out of [0, n), without replacement, returned ascending (rank order). */
function samplePositions(n: number, m: number, rand: () => number): number[] {
  const pos = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [pos[i], pos[j]] = [pos[j], pos[i]];
  }
  return pos.slice(0, m).sort((a, b) => a - b);
}

export interface SelectArgs {
  ranked: Ranked;
  qids: readonly string[];
  numRelations: number;
  negatives: NegativeSelection;
  /** Per query, known positive corpus indices (user order). */
  known: ReadonlyArray<readonly number[] | null>;
}

/**
 * Picks (positive, negatives…) per query: a (Q, numRelations) Int32Array of corpus indices.
 * The positive is the first known positive when the query has one, else the top-1 candidate.
 */
export function selectRelations(a: SelectArgs): Int32Array {
  const { ranked, numRelations: R, negatives } = a;
  const q = a.qids.length;
  const out = new Int32Array(q * R);
  for (let r = 0; r < q; r++) {
    const cand: number[] = [];
    for (let j = 0; j < ranked.k; j++) {
      const d = ranked.indices[r * ranked.k + j];
      if (d >= 0) cand.push(d);
    }
    const kp = a.known[r];
    const pos = kp && kp.length ? kp[0] : cand.shift();
    const negs = pickNegatives(cand, R - 1, negatives, a.qids[r]);
    if (pos === undefined || negs.length < R - 1) {
      throw new InputRangeError(
        `query '${a.qids[r]}' has only ${cand.length + (pos === undefined ? 0 : 1)} candidate documents (after excluding its known positives); numRelations ${R} needs ${R}`,
      );
    }
    out[r * R] = pos;
    out.set(negs, r * R + 1);
  }
  return out;
}

function pickNegatives(cand: number[], m: number, negatives: NegativeSelection, qid: string): number[] {
  if (negatives === 'top' || cand.length <= m) return cand.slice(0, m);
  const pool = cand.slice(0, Math.max(m, negatives.sampleFrom - 1));
  return samplePositions(pool.length, m, mulberry32(querySeed(negatives.seed ?? 42, qid))).map((p) => pool[p]);
}

/** Mean recall@k of approximate lists against exact ones (rows compared as sets). */
export function recallAt(approx: Ranked, exact: Ranked, q: number, k: number): number {
  let hit = 0;
  let total = 0;
  for (let r = 0; r < q; r++) {
    const truth = new Set<number>();
    for (let j = 0; j < Math.min(k, exact.k); j++) {
      const d = exact.indices[r * exact.k + j];
      if (d >= 0) truth.add(d);
    }
    for (let j = 0; j < Math.min(k, approx.k); j++) if (truth.has(approx.indices[r * approx.k + j])) hit++;
    total += truth.size;
  }
  return total ? hit / total : 1;
}
