/**
 * Similarity matrices and their gradients, shared by the in-batch losses (float64 arithmetic;
 * inputs Float32Array or Float64Array, row-major (rows, D)).
 *
 *   dot:    s(a, c) = a·c
 *   cosine: s(a, c) = a·c / (|a| |c|)
 *
 * Backward of S = sim(A, C) for an upstream G = ∂L/∂S:
 *   dot:    dA = G C,  dC = Gᵀ A
 *   cosine: dA_i = ia_i Σ_j G_ij ic_j c_j − (Σ_j G_ij S_ij) ia_i² a_i   (ia = 1/|a|, ic = 1/|c|)
 *           and symmetrically for dC.
 */
export type Vec = Float32Array | Float64Array;
export type Score = 'dot' | 'cosine';

const EPS = 1e-12;

export function rowsOf(x: Vec, dim: number, what: string): number {
  if (!(dim > 0) || x.length % dim !== 0) throw new Error(`${what}: length ${x.length} is not a multiple of dim ${dim}`);
  return x.length / dim;
}

export function inverseNorms(a: Vec, rows: number, D: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[r * D + d] * a[r * D + d];
    out[r] = 1 / Math.max(Math.sqrt(s), EPS);
  }
  return out;
}

/** S (nA × nC) = sim(A, C), with the inverse norms kept for the backward pass. */
export interface SimMatrix {
  S: Float64Array;
  nA: number;
  nC: number;
  invA: Float64Array | null;
  invC: Float64Array | null;
}

export function simMatrix(A: Vec, C: Vec, D: number, score: Score): SimMatrix {
  const nA = rowsOf(A, D, 'similarity');
  const nC = rowsOf(C, D, 'similarity');
  const cos = score === 'cosine';
  const invA = cos ? inverseNorms(A, nA, D) : null;
  const invC = cos ? inverseNorms(C, nC, D) : null;
  const S = new Float64Array(nA * nC);
  for (let i = 0; i < nA; i++) {
    const ao = i * D;
    for (let j = 0; j < nC; j++) {
      const co = j * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += A[ao + d] * C[co + d];
      S[i * nC + j] = cos ? s * (invA as Float64Array)[i] * (invC as Float64Array)[j] : s;
    }
  }
  return { S, nA, nC, invA, invC };
}

/** dA (nA,D) and dC (nC,D) from G = ∂L/∂S; either may be skipped (frozen side). */
export function simMatrixBackward(m: SimMatrix, A: Vec, C: Vec, D: number, G: Float64Array, want: { a: boolean; c: boolean }): { dA: Float64Array | null; dC: Float64Array | null } {
  const { nA, nC, S, invA, invC } = m;
  const dA = want.a ? new Float64Array(nA * D) : null;
  const dC = want.c ? new Float64Array(nC * D) : null;
  const cos = invA !== null && invC !== null;
  for (let i = 0; i < nA; i++) {
    for (let j = 0; j < nC; j++) {
      const g = G[i * nC + j];
      if (g === 0) continue;
      const ao = i * D;
      const co = j * D;
      if (!cos) {
        if (dA) for (let d = 0; d < D; d++) dA[ao + d] += g * C[co + d];
        if (dC) for (let d = 0; d < D; d++) dC[co + d] += g * A[ao + d];
        continue;
      }
      const s = S[i * nC + j];
      const ia = invA[i];
      const ic = invC[j];
      if (dA) {
        const c1 = g * ia * ic;
        const c2 = g * s * ia * ia;
        for (let d = 0; d < D; d++) dA[ao + d] += c1 * C[co + d] - c2 * A[ao + d];
      }
      if (dC) {
        const c1 = g * ia * ic;
        const c2 = g * s * ic * ic;
        for (let d = 0; d < D; d++) dC[co + d] += c1 * A[ao + d] - c2 * C[co + d];
      }
    }
  }
  return { dA, dC };
}

/** Row-wise similarities s_i = sim(L_i, R_i) of two (n,D) matrices. */
export interface PairSims {
  s: Float64Array;
  invL: Float64Array | null;
  invR: Float64Array | null;
}

export function pairSims(L: Vec, R: Vec, D: number, score: Score): PairSims {
  const n = rowsOf(L, D, 'similarity');
  if (R.length !== L.length) throw new Error('similarity: the two sides must have the same number of rows');
  const cos = score === 'cosine';
  const invL = cos ? inverseNorms(L, n, D) : null;
  const invR = cos ? inverseNorms(R, n, D) : null;
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = 0;
    for (let d = 0; d < D; d++) x += L[i * D + d] * R[i * D + d];
    s[i] = cos ? x * (invL as Float64Array)[i] * (invR as Float64Array)[i] : x;
  }
  return { s, invL, invR };
}

/** dL (n,D) and dR (n,D) from g = ∂loss/∂s. */
export function pairSimsBackward(p: PairSims, L: Vec, R: Vec, D: number, g: Float64Array, want: { l: boolean; r: boolean }): { dL: Float64Array | null; dR: Float64Array | null } {
  const n = p.s.length;
  const dL = want.l ? new Float64Array(n * D) : null;
  const dR = want.r ? new Float64Array(n * D) : null;
  const cos = p.invL !== null && p.invR !== null;
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    if (gi === 0) continue;
    const o = i * D;
    if (!cos) {
      if (dL) for (let d = 0; d < D; d++) dL[o + d] = gi * R[o + d];
      if (dR) for (let d = 0; d < D; d++) dR[o + d] = gi * L[o + d];
      continue;
    }
    const il = (p.invL as Float64Array)[i];
    const ir = (p.invR as Float64Array)[i];
    const s = p.s[i];
    if (dL) for (let d = 0; d < D; d++) dL[o + d] = gi * (il * ir * R[o + d] - s * il * il * L[o + d]);
    if (dR) for (let d = 0; d < D; d++) dR[o + d] = gi * (il * ir * L[o + d] - s * ir * ir * R[o + d]);
  }
  return { dL, dR };
}

/** A float64 gradient in the type of the input it belongs to. */
export function castLike(x: Float64Array, proto: Vec): Vec {
  return proto instanceof Float64Array ? x : Float32Array.from(x);
}

/** log Σ exp(x_k) over the finite entries of x (−Infinity entries are masked out). */
export function logSumExp(x: ArrayLike<number>, from = 0, to = x.length): number {
  let m = -Infinity;
  for (let k = from; k < to; k++) if (x[k] > m) m = x[k];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let k = from; k < to; k++) s += Math.exp(x[k] - m);
  return m + Math.log(s);
}
