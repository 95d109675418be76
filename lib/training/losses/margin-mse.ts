/**
 * Margin-MSE loss (Hofstätter et al. 2020; used by GPL and Finetuner's `MarginMSELoss`):
 *
 *   loss = (1/T) · Σ_t ( s(q_o(t), p_o(t)) − s(q_o(t), n_t) − m_t )²
 *
 * over T (query, positive, negative) triples, where negative t belongs to query o(t), m_t is the
 * teacher's margin score(q, p) − score(q, n), and s is the dot product (default) or the cosine.
 * A query may have several negatives: each (query, negative) pair is one term of the mean.
 *
 * Shapes: B queries, T negatives, D embedding dimension; row-major.
 *   q (B,D) query embeddings, p (B,D) the positive of each query, n (T,D) negatives,
 *   owner (T) the query row of each negative, margin (T).
 * Arithmetic runs in float64; inputs and gradients may be Float32Array or Float64Array (the
 * gradients take the input's type), so the finite-difference tests can run in float64.
 */

export type Vec = Float32Array | Float64Array;
export type Score = 'dot' | 'cosine';

export interface MarginMseInput {
  q: Vec;
  p: Vec;
  n: Vec;
  owner: ArrayLike<number>;
  margin: ArrayLike<number>;
  dim: number;
  score?: Score;
  /** Skip the gradients of p and n (frozen document side); they come back as empty arrays. */
  queryGradOnly?: boolean;
}

export interface MarginMseForward {
  loss: number;
  /** (T) residual r_t = s(q,p) − s(q,n) − m_t, kept for the backward pass. */
  residual: Float64Array;
  input: MarginMseInput;
  /** (B) 1/|q|, (B) 1/|p|, (T) 1/|n| for the cosine score (unused for dot). */
  invQ: Float64Array;
  invP: Float64Array;
  invN: Float64Array;
}

export interface MarginMseGrads {
  dq: Vec;
  dp: Vec;
  dn: Vec;
}

const EPS = 1e-12;

function like(a: Vec, length: number): Vec {
  return a instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}

function dotRows(a: Vec, ai: number, b: Vec, bi: number, D: number): number {
  let s = 0;
  const ao = ai * D;
  const bo = bi * D;
  for (let d = 0; d < D; d++) s += a[ao + d] * b[bo + d];
  return s;
}

function inverseNorms(a: Vec, rows: number, D: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = 1 / Math.max(Math.sqrt(dotRows(a, r, a, r, D)), EPS);
  return out;
}

function checkInput(x: MarginMseInput): { B: number; T: number } {
  const D = x.dim;
  if (!(D > 0) || x.q.length % D !== 0) throw new Error('margin-mse: q length is not a multiple of dim');
  const B = x.q.length / D;
  const T = x.owner.length;
  if (x.p.length !== B * D) throw new Error('margin-mse: p must have the shape of q');
  if (x.n.length !== T * D) throw new Error('margin-mse: n must have owner.length rows');
  if (x.margin.length !== T) throw new Error('margin-mse: margin must have one value per negative');
  if (T === 0) throw new Error('margin-mse: no negatives');
  for (let t = 0; t < T; t++) {
    if (!(x.owner[t] >= 0 && x.owner[t] < B)) throw new Error('margin-mse: owner out of range');
  }
  return { B, T };
}

/** loss and residuals; s(a,b) = a·b, or a·b/(|a||b|) for cosine. */
export function marginMseForward(input: MarginMseInput): MarginMseForward {
  const { B, T } = checkInput(input);
  const { q, p, n, owner, margin, dim: D } = input;
  const cos = input.score === 'cosine';
  const invQ = cos ? inverseNorms(q, B, D) : new Float64Array(0);
  const invP = cos ? inverseNorms(p, B, D) : new Float64Array(0);
  const invN = cos ? inverseNorms(n, T, D) : new Float64Array(0);
  const sqp = new Float64Array(B);
  for (let b = 0; b < B; b++) sqp[b] = dotRows(q, b, p, b, D) * (cos ? invQ[b] * invP[b] : 1);
  const residual = new Float64Array(T);
  let sum = 0;
  for (let t = 0; t < T; t++) {
    const o = owner[t];
    const sqn = dotRows(q, o, n, t, D) * (cos ? invQ[o] * invN[t] : 1);
    const r = sqp[o] - sqn - margin[t];
    residual[t] = r;
    sum += r * r;
  }
  return { loss: sum / T, residual, input, invQ, invP, invN };
}

/**
 * Accumulates ∂s(a,b)/∂a · g into da (row ai) for s = dot or cosine:
 *   dot:    ∂s/∂a = b
 *   cosine: ∂s/∂a = b/(|a||b|) − s · a/|a|²
 */
function scoreGrad(da: Float64Array, a: Vec, ai: number, b: Vec, bi: number, D: number,
  g: number, cos: boolean, invA: number, invB: number): void {
  const ao = ai * D;
  const bo = bi * D;
  if (!cos) {
    for (let d = 0; d < D; d++) da[ao + d] += g * b[bo + d];
    return;
  }
  const s = dotRows(a, ai, b, bi, D) * invA * invB;
  const c1 = g * invA * invB;
  const c2 = g * s * invA * invA;
  for (let d = 0; d < D; d++) da[ao + d] += c1 * b[bo + d] - c2 * a[ao + d];
}

/** Gradients of the loss w.r.t. q (B,D), p (B,D) and n (T,D). */
export function marginMseBackward(f: MarginMseForward): MarginMseGrads {
  const { q, p, n, owner, dim: D } = f.input;
  const cos = f.input.score === 'cosine';
  const docs = !f.input.queryGradOnly;
  const B = q.length / D;
  const T = owner.length;
  const dq = new Float64Array(B * D);
  const dp = new Float64Array(docs ? B * D : 0);
  const dn = new Float64Array(docs ? T * D : 0);
  const one = new Float64Array(Math.max(B, T)).fill(1);
  const invQ = cos ? f.invQ : one;
  const invP = cos ? f.invP : one;
  const invN = cos ? f.invN : one;
  // dL/dr_t = 2 r_t / T; r_t = s(q,p) − s(q,n_t) − m_t, so g_qp[o] = Σ_{t: o(t)=o} dL/dr_t.
  const gqp = new Float64Array(B);
  for (let t = 0; t < T; t++) {
    const o = owner[t];
    const g = (2 * f.residual[t]) / T;
    gqp[o] += g;
    scoreGrad(dq, q, o, n, t, D, -g, cos, invQ[o], invN[t]);
    if (docs) scoreGrad(dn, n, t, q, o, D, -g, cos, invN[t], invQ[o]);
  }
  for (let b = 0; b < B; b++) {
    if (gqp[b] === 0) continue;
    scoreGrad(dq, q, b, p, b, D, gqp[b], cos, invQ[b], invP[b]);
    if (docs) scoreGrad(dp, p, b, q, b, D, gqp[b], cos, invP[b], invQ[b]);
  }
  return { dq: cast(dq, q), dp: cast(dp, q), dn: cast(dn, q) };
}

function cast(x: Float64Array, proto: Vec): Vec {
  if (proto instanceof Float64Array) return x;
  const out = like(proto, x.length);
  out.set(x);
  return out;
}

/** Forward and backward in one call (the training loop's use). */
export function marginMse(input: MarginMseInput): { loss: number } & MarginMseGrads {
  const f = marginMseForward(input);
  return { loss: f.loss, ...marginMseBackward(f) };
}
