/**
 * Pure-TypeScript reference kernels.
 *
 * Same signatures as the native kernels (see ./index.ts). They are the fallback when the addon
 * is missing or fails to load, and the oracle the tests compare every backend against. They are
 * written for clarity first; the only concession to speed is a cache-friendly loop order.
 *
 * Shape letters: B batch, M/N/K GEMM dims (C(M,N) = A(M,K)·B(K,N)), Q queries, N corpus rows,
 * D dimension, k results kept per query. Everything is row-major float32.
 */
import type { GemmArgs, TopKArgs, TopKResult } from './types';
import { checkGemm, checkTopK, exclusionCsr } from './validate';

/** C = alpha·A·op(B) + beta·C for each batch element. Returns C. */
export function matmulRef(a: Float32Array, b: Float32Array, args: GemmArgs): Float32Array {
  const g = checkGemm(a, b, args);
  const { m: M, n: N, k: K, batch, transB, alpha, beta, c: C } = g;
  const row = new Float64Array(N);
  for (let bi = 0; bi < batch; bi++) {
    const aOff = bi * M * K;
    const bOff = bi * K * N;
    const cOff = bi * M * N;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      if (transB) {
        // B stored (N, K): row j of B is column j of op(B)
        for (let j = 0; j < N; j++) {
          let s = 0;
          const ar = aOff + i * K;
          const br = bOff + j * K;
          for (let p = 0; p < K; p++) s += a[ar + p] * b[br + p];
          row[j] = s;
        }
      } else {
        for (let p = 0; p < K; p++) {
          const av = a[aOff + i * K + p]; // no skip of zeros: 0·NaN and 0·Inf are NaN, as in the native kernels
          const br = bOff + p * N;
          for (let j = 0; j < N; j++) row[j] += av * b[br + j];
        }
      }
      const cr = cOff + i * N;
      for (let j = 0; j < N; j++) {
        C[cr + j] = beta === 0 ? alpha * row[j] : alpha * row[j] + beta * C[cr + j];
      }
    }
  }
  return C;
}

/**
 * For each query, the k corpus rows with the largest inner product, best first; equal scores:
 * smaller index first. Unfillable slots (k > N minus excluded) hold index -1 and score -Infinity.
 * Streams the corpus one row at a time; memory is O(Q·k).
 */
export function topkRef(queries: Float32Array, corpus: Float32Array, args: TopKArgs): TopKResult {
  const t = checkTopK(queries, corpus, args);
  const { q: Q, n: N, dim: D, k } = t;
  const indices = new Int32Array(Q * k).fill(-1);
  const scores = new Float32Array(Q * k).fill(-Infinity);
  const csr = exclusionCsr(args.exclude, Q);
  const excluded = new Set<number>();
  for (let qi = 0; qi < Q; qi++) {
    excluded.clear();
    if (csr) for (let e = csr.offsets[qi]; e < csr.offsets[qi + 1]; e++) excluded.add(csr.ids[e]);
    // Sorted insertion into the k slots of this query (k is small compared with N).
    const base = qi * k;
    let filled = 0;
    const qOff = qi * D;
    for (let j = 0; j < N; j++) {
      if (excluded.has(j)) continue;
      let s = 0;
      const cOff = j * D;
      for (let p = 0; p < D; p++) s += queries[qOff + p] * corpus[cOff + p];
      const sf = Math.fround(s);
      if (Number.isNaN(sf)) continue; // NaN scores are never returned (as in the native kernels)
      if (filled === k && !(sf > scores[base + k - 1])) continue; // ties keep the earlier index
      let pos = filled < k ? filled : k - 1;
      while (pos > 0 && sf > scores[base + pos - 1]) {
        scores[base + pos] = scores[base + pos - 1];
        indices[base + pos] = indices[base + pos - 1];
        pos--;
      }
      scores[base + pos] = sf;
      indices[base + pos] = j;
      if (filled < k) filled++;
    }
  }
  return { k, indices, scores };
}
