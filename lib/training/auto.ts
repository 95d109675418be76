/**
 * Training settings derived from the data (issue 14): what `synthtune fit` uses for every option
 * the user leaves unset, and why. Nothing here is tuned per dataset; every rule reads the run's
 * own data (the teacher's margins, the student's initial scores, the number of examples) or the
 * method.
 *
 *  - Margin scale. Margin-MSE asks the student's score differences s(q,p) − s(q,n) to equal the
 *    teacher's margins, so the two must be on one scale: BM25 margins run to tens, cross-encoder
 *    logits to ~20, a cosine student's differences stay within ±2 (in practice ±0.3). The scale
 *    is the ratio of the spreads (standard deviations) of the student's initial margins and the
 *    teacher's, measured on (a sample of) the training examples, so training starts from the
 *    student's own scale and only corrects its ranking. That needs an informative student
 *    (correlation with the teacher ≥ 0.1): a random one gets a fixed temperature instead (the
 *    teacher's margins brought to a spread of 0.1 for cosine, 1 for dot).
 *  - Static init. A static student "from scratch" starts from random token vectors scaled by the
 *    square root of the token's BM25 idf over the training documents, so mean pooling embeds a text
 *    as a random projection of its idf-weighted term vector and the untrained student already ranks
 *    like a lexical retriever; training then moves the table toward the teacher. The square root
 *    because both sides carry the weight: a token the query and the document share contributes
 *    √idf · √idf = idf to their dot product, once, as in BM25 (scaling by idf itself would weigh it
 *    idf², as tf-idf cosine does). `init: 'random'` is the plain N(0, 1/D) table.
 *  - Learning rate. full: 2e-5 with 10% warm-up (a pretrained transformer, as sentence-transformers
 *    and GPL); adapter: 1e-3 (identity start); static: 1% of the RMS of the initial table entries per
 *    step (the table's scale depends on dim and on the idf init; Adam's steps do not).
 *  - Epochs. Enough passes for a minimum number of optimizer steps (static 1000, adapter 500,
 *    full 300), at most 10 epochs and at least 1: small data gets several passes, large data one.
 *  - Held-out check. With ≥ 40 distinct training queries, 10% of them (at least 5) are held out;
 *    how often the student orders their candidate documents as the teacher does (pairwise
 *    agreement; the held-out Margin-MSE follows ranking quality poorly) is measured before
 *    training and after every epoch. The student keeps its final weights unless they fall
 *    clearly (more than two standard errors) below the best measured, the untrained weights
 *    included; then it ends with the best. So training cannot end clearly worse than it started
 *    by the teacher's own ranking of unseen queries, and noise on a few held-out queries does not
 *    undo a real gain.
 */
import type { Score } from './losses/margin-mse';
import { marginMseForward } from './losses/margin-mse';
import { mulberry32, normals } from './rng';
import { checkStaticTableSize } from './students/static';
import type { NormalExample, Student } from './student';
import { InputRangeError } from '../util/errors';

export type FitMethod = 'adapter' | 'static' | 'full';

/** A chosen value, where it came from, and why (logged and written to the run's config). */
export interface Choice<T> {
  value: T;
  source: 'option' | 'auto';
  why: string;
}

export function optionChoice<T>(value: T): Choice<T> {
  return { value, source: 'option', why: 'given' };
}

// ---------------------------------------------------------------------------------------------
// learning rate, warm-up, epochs

/** Minimum optimizer steps a run gets by default (epochs are raised to reach it, up to MAX_EPOCHS). */
export const MIN_STEPS: Record<FitMethod, number> = { static: 1000, adapter: 500, full: 300 };
export const MAX_EPOCHS = 10;

/** Default warm-up: 10% for full fine-tuning of a pretrained transformer, none for the others. */
export function defaultWarmup(method: FitMethod): number {
  return method === 'full' ? 0.1 : 0;
}

/** Epochs for n examples at batch size b: ⌈MIN_STEPS / steps per epoch⌉ in [1, MAX_EPOCHS]. */
export function autoEpochs(method: FitMethod, n: number, batchSize: number): Choice<number> {
  const perEpoch = Math.max(1, Math.ceil(n / batchSize));
  const want = Math.ceil(MIN_STEPS[method] / perEpoch);
  const value = Math.min(MAX_EPOCHS, Math.max(1, want));
  const why = value === 1
    ? `${perEpoch} steps per epoch already reach the ${MIN_STEPS[method]} steps a ${method} run gets by default`
    : `${n} examples give ${perEpoch} steps per epoch; ${value} epochs ${want > MAX_EPOCHS ? `(the cap) give ${value * perEpoch}` : `reach ${MIN_STEPS[method]}`} steps`;
  return { value, source: 'auto', why };
}

/** Root mean square of the table rows of the given tokens (or of the whole table). */
function rms(table: Float32Array, D: number, rows: Iterable<number> | null): number {
  let s = 0;
  let n = 0;
  if (rows === null) {
    for (let i = 0; i < table.length; i++) s += table[i] * table[i];
    n = table.length;
  } else {
    for (const r of rows) {
      for (let d = r * D; d < r * D + D; d++) s += table[d] * table[d];
      n += D;
    }
  }
  return n ? Math.sqrt(s / n) : 0;
}

/**
 * Learning rate by method; for static, 1% of the RMS of the initial entries of the tokens the
 * training data uses (so it follows dim and the idf scaling).
 */
export function autoLearningRate(method: FitMethod, staticTable?: { table: Float32Array; dim: number; rows: Iterable<number> }): Choice<number> {
  if (method === 'full') return { value: 2e-5, source: 'auto', why: 'full fine-tuning of a pretrained transformer (sentence-transformers / GPL: 2e-5, 10% warm-up)' };
  if (method === 'adapter') return { value: 1e-3, source: 'auto', why: 'the adapter starts at the identity' };
  if (!staticTable) throw new Error('autoLearningRate: the static table is needed');
  const r = rms(staticTable.table, staticTable.dim, staticTable.rows);
  const value = Number((0.01 * (r > 0 ? r : 1 / Math.sqrt(staticTable.dim))).toPrecision(3));
  return { value, source: 'auto', why: `1% of the RMS (${r.toPrecision(3)}) of the initial table entries of the training tokens` };
}

// ---------------------------------------------------------------------------------------------
// static init from idf

/**
 * BM25 idf of every token id over the distinct documents: ln(1 + (N − df + 0.5) / (df + 0.5)).
 * Tokens in no document get the largest value (as a query term no training document has).
 */
export function idfWeights(documents: Iterable<ArrayLike<number>>, vocabSize: number): { idf: Float64Array; documents: number } {
  const df = new Float64Array(vocabSize);
  const seen = new Int32Array(vocabSize).fill(-1);
  let N = 0;
  for (const ids of documents) {
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) throw new InputRangeError(`idfWeights: token id ${t} is outside [0, ${vocabSize})`);
      if (seen[t] !== N) {
        seen[t] = N;
        df[t]++;
      }
    }
    N++;
  }
  const idf = new Float64Array(vocabSize);
  for (let t = 0; t < vocabSize; t++) idf[t] = Math.log(1 + (N - df[t] + 0.5) / (df[t] + 0.5));
  return { idf, documents: N };
}

/** The (V,D) table N(0, 1/D) (seeded) with row t scaled by √idf[t] (a shared token adds idf[t] to a dot product). */
export function idfStaticInit(vocabSize: number, dim: number, seed: number, idf: Float64Array): Float32Array {
  if (idf.length !== vocabSize) throw new Error(`idfStaticInit: ${idf.length} idf values for ${vocabSize} tokens`);
  checkStaticTableSize(vocabSize, dim);
  const table = normals(vocabSize * dim, seed, 1 / Math.sqrt(dim));
  for (let t = 0; t < vocabSize; t++) {
    const w = Math.sqrt(idf[t]);
    for (let d = t * dim; d < t * dim + dim; d++) table[d] *= w;
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// margin scale

/** Deterministic sample of at most `max` indices of [0, n) (all of them when n ≤ max), sorted. */
export function sampleIndices(n: number, max: number, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  const rnd = mulberry32(seed >>> 0);
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, max).sort((a, b) => a - b);
}

/**
 * The student's margins s(q,p) − s(q,n) and the teacher's, pair by pair, over a sample of at most
 * `max` examples (every negative of a sampled example).
 */
export async function studentMargins<I>(student: Student<I>, examples: readonly NormalExample<I>[], score: Score,
  opts: { max?: number; seed?: number; batchSize?: number } = {}): Promise<{ student: Float64Array; teacher: Float64Array }> {
  const idx = sampleIndices(examples.length, opts.max ?? 2000, opts.seed ?? 0);
  const bs = opts.batchSize ?? 64;
  const sm: number[] = [];
  const tm: number[] = [];
  const D = student.dim;
  for (let i = 0; i < idx.length; i += bs) {
    const ex = idx.slice(i, i + bs).map((j) => examples[j]);
    const q = await student.encode(ex.map((e) => e.query), 'query');
    const negs = ex.flatMap((e) => e.negatives);
    const docs = await student.encode([...ex.map((e) => e.positive), ...negs], 'document');
    const owner = ex.flatMap((e, b) => e.negatives.map(() => b));
    const margin = ex.flatMap((e) => e.margins);
    // residual = s(q,p) − s(q,n) − m, so the student's margin is residual + m
    const f = marginMseForward({ q, p: docs.subarray(0, ex.length * D), n: docs.subarray(ex.length * D), owner, margin, dim: D, score });
    for (let t = 0; t < margin.length; t++) {
      sm.push(f.residual[t] + margin[t]);
      tm.push(margin[t]);
    }
  }
  return { student: Float64Array.from(sm), teacher: Float64Array.from(tm) };
}

function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / Math.max(1, x.length);
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / Math.max(1, x.length)) };
}

/** Pearson correlation (0 when either side is constant). */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const A = meanStd(a);
  const B = meanStd(b);
  if (!(A.std > 0 && B.std > 0)) return 0;
  let c = 0;
  for (let i = 0; i < a.length; i++) c += (a[i] - A.mean) * (b[i] - B.mean);
  return c / a.length / (A.std * B.std);
}

/** Below this correlation with the teacher the student's scale says nothing: a fixed temperature is used. */
export const MIN_CALIBRATION_CORRELATION = 0.1;

/**
 * The factor applied to the teacher's margins: std(student) / std(teacher) for an informative
 * student, else the temperature that gives the margins a spread of 0.1 (cosine) or 1 (dot).
 */
export function marginScale(student: ArrayLike<number>, teacher: ArrayLike<number>, score: Score): Choice<number> & { correlation: number } {
  const t = meanStd(teacher).std;
  if (!(t > 0)) return { value: 1, source: 'auto', why: 'the teacher gives every pair the same margin: nothing to scale', correlation: 0 };
  const r = correlation(student, teacher);
  const s = meanStd(student).std;
  if (r >= MIN_CALIBRATION_CORRELATION && s > 0) {
    const value = Number((s / t).toPrecision(4));
    return { value, source: 'auto', correlation: r, why: `the spread of the student's initial ${score} margins (std ${s.toPrecision(3)}) over the teacher's (std ${t.toPrecision(3)}); they correlate at ${r.toFixed(3)}` };
  }
  const target = score === 'cosine' ? 0.1 : 1;
  const value = Number((target / t).toPrecision(4));
  return { value, source: 'auto', correlation: r, why: `the untrained student does not follow the teacher (correlation ${r.toFixed(3)}): margins brought to a spread of ${target} (a fixed temperature for ${score})` };
}

// ---------------------------------------------------------------------------------------------
// held-out split

export const HOLDOUT_MIN_QUERIES = 40;
export const HOLDOUT_FRACTION = 0.1;

/**
 * Splits examples by query: with ≥ HOLDOUT_MIN_QUERIES distinct queries, a seeded 10% of them
 * (at least 5) and all their examples are held out. `key` gives an example's query identity.
 */
export function holdOutByQuery<T>(rows: readonly T[], key: (r: T) => string, seed: number): { train: T[]; heldOut: T[]; queries: number } {
  const queries = [...new Set(rows.map(key))];
  if (queries.length < HOLDOUT_MIN_QUERIES) return { train: [...rows], heldOut: [], queries: 0 };
  const k = Math.max(5, Math.round(queries.length * HOLDOUT_FRACTION));
  const chosen = new Set(sampleIndices(queries.length, k, seed ^ 0x4e1d).map((i) => queries[i]));
  const train: T[] = [];
  const heldOut: T[] = [];
  for (const r of rows) (chosen.has(key(r)) ? heldOut : train).push(r);
  return { train, heldOut, queries: k };
}

/**
 * Ranking agreement with the teacher on held-out queries: over every pair of one query's candidate
 * documents (its positive and its negatives, from all its examples) that the teacher orders, the
 * fraction the student orders the same way (student ties count half). Scores relative to the
 * positive follow from the margins: the teacher's −m, the student's −(s(q,p) − s(q,n)).
 * `groups[i]` is example i's query (examples of one query share its positive).
 */
export async function heldOutAgreement<I>(student: Student<I>, examples: readonly NormalExample<I>[], groups: readonly string[], score: Score): Promise<{ value: number; se: number }> {
  if (groups.length !== examples.length) throw new Error('heldOutAgreement: one group per example');
  const m = await studentMargins(student, examples, score, { max: Infinity });
  // candidates per query: the positive (0, 0), then (−teacher, −student) per negative
  const byQuery = new Map<string, { t: number[]; s: number[] }>();
  let k = 0;
  examples.forEach((e, i) => {
    let g = byQuery.get(groups[i]);
    if (!g) byQuery.set(groups[i], (g = { t: [0], s: [0] }));
    for (let j = 0; j < e.negatives.length; j++, k++) {
      g.t.push(-m.teacher[k]);
      g.s.push(-m.student[k]);
    }
  });
  let agree = 0;
  let pairs = 0;
  for (const { t, s } of byQuery.values()) {
    for (let a = 0; a < t.length; a++) {
      for (let b = a + 1; b < t.length; b++) {
        const dt = t[a] - t[b];
        if (dt === 0) continue;
        const ds = s[a] - s[b];
        pairs++;
        agree += ds === 0 ? 0.5 : Math.sign(ds) === Math.sign(dt) ? 1 : 0;
      }
    }
  }
  const p = pairs ? agree / pairs : 1;
  // the binomial standard error over the pairs (pairs of one query are not independent: a floor)
  return { value: p, se: pairs ? Math.sqrt(Math.max(p * (1 - p), 1e-4) / pairs) : 0 };
}
