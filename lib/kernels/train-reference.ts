/**
 * Pure-TypeScript reference training kernels: the fallback when the addon (or these functions in
 * it) is missing, and the oracle the tests compare native/cpu/embedding.cc against. Same
 * signatures as the dispatching functions in ./train.ts.
 *
 * Shapes: V vocabulary rows, D dim, B texts (CSR: text b is ids[offsets[b] .. offsets[b+1])),
 * L_b tokens of text b. E and gradE are (V,D), out and dOut (B,D), row-major float32.
 *
 *   embeddingBagRef          out[b] = (1/L_b) · Σ_t E[ids_b[t]]        (zeros when L_b = 0)
 *   embeddingBagBackwardRef  gradE[ids_b[t]] += dOut[b] / L_b          (b then t order)
 *   adamRowsRef              Adam/AdamW on the listed rows (all when rows is null)
 *
 * The arithmetic is what JavaScript does with float32 arrays (double math, a float32 rounding on
 * each store), which the native kernels reproduce bit for bit.
 */
import { checkAdamRows, checkEmbeddingBag, checkEmbeddingBagBackward, type AdamRowsConsts } from './train-validate';

/** Mean-pooled embedding bag; returns out (B,D), allocated when not given. */
export function embeddingBagRef(E: Float32Array, V: number, D: number, ids: Int32Array, offsets: Int32Array,
  out?: Float32Array, threads?: number): Float32Array {
  const c = checkEmbeddingBag(E, V, D, ids, offsets, out, threads);
  embeddingBagUnchecked(E, D, ids, offsets, c.B, c.out);
  return c.out;
}

/** gradE (V,D) += the gradient of embeddingBag for dOut (B,D). */
export function embeddingBagBackwardRef(dOut: Float32Array, ids: Int32Array, offsets: Int32Array, D: number,
  gradE: Float32Array, V: number, threads?: number): void {
  const B = checkEmbeddingBagBackward(dOut, ids, offsets, D, gradE, V, threads);
  embeddingBagBackwardUnchecked(dOut, ids, offsets, B, D, gradE);
}

/** One Adam/AdamW step over rows of `width` elements of x (all rows when rows is null). */
export function adamRowsRef(x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, width: number,
  rows: Int32Array | null, k: AdamRowsConsts, threads?: number): void {
  checkAdamRows(x, g, m, v, width, rows, k, threads);
  adamRowsUnchecked(x, g, m, v, width, rows, k);
}

// ---- the loops (arguments already checked) -------------------------------------------------------

export function embeddingBagUnchecked(E: Float32Array, D: number, ids: Int32Array, offsets: Int32Array, B: number,
  out: Float32Array): void {
  for (let b = 0; b < B; b++) {
    const o = b * D;
    out.fill(0, o, o + D);
    const t0 = offsets[b];
    const t1 = offsets[b + 1];
    if (t1 === t0) continue;
    for (let t = t0; t < t1; t++) addRow(out, o, E, ids[t] * D, 1, D);
    const s = 1 / (t1 - t0);
    for (let d = 0; d < D; d++) out[o + d] *= s;
  }
}

export function embeddingBagBackwardUnchecked(dOut: Float32Array, ids: Int32Array, offsets: Int32Array, B: number,
  D: number, gradE: Float32Array): void {
  for (let b = 0; b < B; b++) {
    const t0 = offsets[b];
    const t1 = offsets[b + 1];
    if (t1 === t0) continue;
    const s = 1 / (t1 - t0);
    const o = b * D;
    for (let t = t0; t < t1; t++) addRow(gradE, ids[t] * D, dOut, o, s, D);
  }
}

export function adamRowsUnchecked(x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, width: number,
  rows: Int32Array | null, k: AdamRowsConsts): void {
  if (rows === null) {
    adamRange(x, g, m, v, 0, x.length, k);
    return;
  }
  for (let i = 0; i < rows.length; i++) {
    const start = rows[i] * width;
    adamRange(x, g, m, v, start, start + width, k);
  }
}

/** The Adam/AdamW update of elements [start, end) (was lib/training/optim.ts's adamRange). */
function adamRange(x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  start: number, end: number, k: AdamRowsConsts): void {
  const { lr, b1, b2, eps, c1, c2, l2, decoupled } = k;
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  for (let i = start; i < end; i++) {
    const gi = g[i] + l2 * x[i];
    const mi = b1 * m[i] + a1 * gi;
    const vi = b2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    x[i] = x[i] - decoupled * x[i] - (lr * (mi * c1)) / (Math.sqrt(vi * c2) + eps);
  }
}

/** y[yo..yo+D) += a · x[xo..xo+D) (unrolled by 4). */
function addRow(y: Float32Array, yo: number, x: Float32Array, xo: number, a: number, D: number): void {
  let d = 0;
  if (a === 1) {
    for (; d + 3 < D; d += 4) {
      y[yo + d] += x[xo + d];
      y[yo + d + 1] += x[xo + d + 1];
      y[yo + d + 2] += x[xo + d + 2];
      y[yo + d + 3] += x[xo + d + 3];
    }
  } else {
    for (; d + 3 < D; d += 4) {
      y[yo + d] += a * x[xo + d];
      y[yo + d + 1] += a * x[xo + d + 1];
      y[yo + d + 2] += a * x[xo + d + 2];
      y[yo + d + 3] += a * x[xo + d + 3];
    }
  }
  for (; d < D; d++) y[yo + d] += a * x[xo + d];
}
