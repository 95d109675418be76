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
import { matmulSync } from '../kernels';

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
export function autoEpochs(method: FitMethod, n: number, batchSize: number, added = 0): Choice<number> {
  const perEpoch = Math.max(1, Math.ceil(n / batchSize));
  const want = Math.ceil(MIN_STEPS[method] / perEpoch);
  const value = Math.min(MAX_EPOCHS, Math.max(1, want));
  const why = value === 1
    ? `${perEpoch} steps per epoch already reach the ${MIN_STEPS[method]} steps a ${method} run gets by default`
    : `${n} examples give ${perEpoch} steps per epoch; ${value} epochs ${want > MAX_EPOCHS ? `(the cap) give ${value * perEpoch}` : `reach ${MIN_STEPS[method]}`} steps`;
  if (!(added > 0)) return { value, source: 'auto', why };
  // examples fit added to the data's own (self-mined negatives of the same queries) make each
  // epoch longer, not the run: keep about the steps the data's own examples get
  const steps = value * perEpoch;
  const longer = Math.max(1, Math.ceil((n + added) / batchSize));
  const kept = Math.max(1, Math.round(steps / longer));
  return { value: kept, source: 'auto', why: `${why}; with ${added} self-mined examples an epoch is ${longer} steps, so ${kept} epoch${kept === 1 ? '' : 's'} keep about ${steps}` };
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

/**
 * Spreads the random directions of the tokens the documents use as evenly as their weight allows.
 *
 * With mean pooling and cosine, two texts score Σ_t x_q[t]·x_d[t] (the shared tokens: the signal)
 * plus Σ_{s≠t} x_q[s]·x_d[t]·(r_s·r_t) (crosstalk between the D-dimensional directions r of
 * different tokens: noise), x being the √idf-weighted term counts of each text, normalised. With
 * thousands of tokens in D = 256 dimensions the noise is what separates this student from its
 * idf-weighted term-vector limit (SciFact: nDCG@10 0.51 vs 0.60), and how much a given random
 * table suffers from it varies by ±0.02 between seeds. The expected squared crosstalk over pairs of
 * texts is Σ_{s≠t} m_s·m_t·(r̂_s·r̂_t)² = ‖S‖²_F − Σ m_s², with m_t token t's share of the
 * documents' (normalised) mass and S = Σ_t m_t·r̂_t·r̂_tᵀ; it is smallest when S is a multiple of
 * the identity (a weighted tight frame: heavy tokens get directions of their own, light ones share).
 * A few rounds of "whiten by S, renormalise the rows" get there (Cholesky whitening: any whitening
 * is the symmetric one times a rotation, which no inner product sees). Row norms (the √idf
 * weights) and the rows of tokens no document uses are kept. With no more used tokens than
 * dimensions the used directions are made exactly orthogonal instead.
 *
 * Returns the used tokens and the crosstalk Σ_{s≠t} m_s·m_t·(r̂_s·r̂_t)² (m normalised to sum 1)
 * before and after, which fit logs.
 */
export function tightFrame(
  table: Float32Array, dim: number, documents: Iterable<ArrayLike<number>>, idf: Float64Array, iterations = 5,
): { tokens: number; crosstalkBefore: number; crosstalkAfter: number } {
  const V = idf.length;
  if (table.length !== V * dim) throw new Error(`tightFrame: a ${table.length}-float table is not ${V} × ${dim}`);
  // m_t: token t's share of the documents' mass, each document's √idf-weighted counts normalised
  const mass = new Float64Array(V);
  const tf = new Float64Array(V);
  for (const ids of documents) {
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new InputRangeError(`tightFrame: token id ${t} is outside [0, ${V})`);
      tf[t]++;
    }
    let norm2 = 0;
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (tf[t] > 0) {
        norm2 += tf[t] * tf[t] * idf[t];
        tf[t] = -tf[t]; // counted: the document's later occurrences of t skip it
      }
    }
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (tf[t] < 0 && norm2 > 0) mass[t] += (tf[t] * tf[t] * idf[t]) / norm2;
      tf[t] = 0;
    }
  }
  const used: number[] = [];
  let total = 0;
  for (let t = 0; t < V; t++) if (mass[t] > 0) { used.push(t); total += mass[t]; }
  const U = used.length;
  if (U < 2) return { tokens: U, crosstalkBefore: 0, crosstalkAfter: 0 };
  const m = Float64Array.from(used, (t) => mass[t] / total);
  // unit directions of the used rows (U, D), and their norms
  const norms = new Float64Array(U);
  const R = new Float32Array(U * dim);
  for (let i = 0; i < U; i++) {
    const row = used[i] * dim;
    let n2 = 0;
    for (let d = 0; d < dim; d++) n2 += table[row + d] * table[row + d];
    norms[i] = Math.sqrt(n2);
    if (norms[i] === 0) throw new InputRangeError(`tightFrame: token ${used[i]} has a zero row (idf 0?)`);
    for (let d = 0; d < dim; d++) R[i * dim + d] = table[row + d] / norms[i];
  }
  const crosstalkBefore = frameCrosstalk(frameMatrix(R, m, dim), m);
  if (U <= dim) orthonormaliseRows(R, U, dim);
  else {
    for (let it = 0; it < iterations; it++) {
      const S = frameMatrix(R, m, dim);
      const Linv = lowerInverse(cholesky(S, dim), dim);
      // R ← R·L⁻ᵀ (then S becomes I), rows back to unit length
      R.set(matmulSync(R, Float32Array.from(Linv), { m: U, n: dim, k: dim, transB: true }));
      for (let i = 0; i < U; i++) {
        let n2 = 0;
        for (let d = 0; d < dim; d++) n2 += R[i * dim + d] * R[i * dim + d];
        const inv = 1 / Math.sqrt(n2);
        for (let d = 0; d < dim; d++) R[i * dim + d] *= inv;
      }
    }
  }
  for (let i = 0; i < U; i++) {
    const row = used[i] * dim;
    for (let d = 0; d < dim; d++) table[row + d] = R[i * dim + d] * norms[i];
  }
  return { tokens: U, crosstalkBefore, crosstalkAfter: frameCrosstalk(frameMatrix(R, m, dim), m) };
}

/** S = Σ_t m_t·r̂_t·r̂_tᵀ (D, D) for unit rows R (U, D): Aᵀ·A with A's rows √m_t·r̂_t (one GEMM). */
function frameMatrix(R: Float32Array, m: Float64Array, dim: number): Float64Array {
  const U = m.length;
  const A = new Float32Array(U * dim);
  const At = new Float32Array(dim * U);
  for (let i = 0; i < U; i++) {
    const w = Math.sqrt(m[i]);
    for (let d = 0; d < dim; d++) At[d * U + i] = A[i * dim + d] = w * R[i * dim + d];
  }
  return Float64Array.from(matmulSync(At, A, { m: dim, n: dim, k: U }));
}

/** Σ_{s≠t} m_s·m_t·(r̂_s·r̂_t)² = ‖S‖²_F − Σ_t m_t² (S from frameMatrix). */
function frameCrosstalk(S: Float64Array, m: Float64Array): number {
  let f = 0;
  for (let i = 0; i < S.length; i++) f += S[i] * S[i];
  for (let i = 0; i < m.length; i++) f -= m[i] * m[i];
  return Math.max(0, f);
}

/** Lower-triangular L with S = L·Lᵀ (S symmetric positive definite, n × n row-major). */
export function cholesky(S: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`cholesky: the matrix is not positive definite (pivot ${i}: ${s})`);
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  return L;
}

/** L⁻¹ of a lower-triangular L (n × n row-major), by forward substitution. */
export function lowerInverse(L: Float64Array, n: number): Float64Array {
  const X = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    X[j * n + j] = 1 / L[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L[i * n + k] * X[k * n + j];
      X[i * n + j] = -s / L[i * n + i];
    }
  }
  return X;
}

/** Modified Gram–Schmidt on the rows of R (U ≤ D rows of length D), in place: orthonormal rows. */
function orthonormaliseRows(R: Float32Array, U: number, dim: number): void {
  for (let i = 0; i < U; i++) {
    const r = i * dim;
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += R[r + d] * R[j * dim + d];
      for (let d = 0; d < dim; d++) R[r + d] -= dot * R[j * dim + d];
    }
    let n2 = 0;
    for (let d = 0; d < dim; d++) n2 += R[r + d] * R[r + d];
    if (!(n2 > 1e-12)) throw new Error(`tightFrame: row ${i} is dependent on the rows before it`);
    const inv = 1 / Math.sqrt(n2);
    for (let d = 0; d < dim; d++) R[r + d] *= inv;
  }
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
/**
 * How far the student's initial margin spread is stretched by the targets, by method. A static
 * student from scratch starts from a lexical table whose cosine margins follow the teacher's only
 * loosely (correlation ~0.5) and whose ranking noise is crosstalk between token directions; asking
 * it to separate what the teacher separates twice as far as it does at the start trains it to
 * sharpen the shared-token signal over that noise. Measured (MiniLM tokenizer, dim 256, nDCG@10
 * after training, five train/test cases × three seeds: the sample and SciFact, both splits swapped,
 * 110 SciFact queries): spread 2 vs 1 raised the mean by 0.0025, the weakest case (SciFact
 * swapped) by 0.009–0.015 in every seed, and cut the runs ending below their untrained start from
 * 3 to 1 of 15; spread 3 was worse than 1. Adapter and full students keep their own spread.
 */
export const MARGIN_SPREAD: Record<FitMethod, number> = { static: 2, adapter: 1, full: 1 };

export function marginScale(student: ArrayLike<number>, teacher: ArrayLike<number>, score: Score, spread = 1): Choice<number> & { correlation: number } {
  if (!(spread > 0)) throw new Error(`marginScale: spread must be > 0, got ${spread}`);
  const t = meanStd(teacher).std;
  if (!(t > 0)) return { value: 1, source: 'auto', why: 'the teacher gives every pair the same margin: nothing to scale', correlation: 0 };
  const r = correlation(student, teacher);
  const s = meanStd(student).std;
  if (r >= MIN_CALIBRATION_CORRELATION && s > 0) {
    const value = Number(((spread * s) / t).toPrecision(4));
    const times = spread === 1 ? '' : `${spread} × `;
    return { value, source: 'auto', correlation: r, why: `${times}the spread of the student's initial ${score} margins (std ${s.toPrecision(3)}) over the teacher's (std ${t.toPrecision(3)}); they correlate at ${r.toFixed(3)}` };
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
