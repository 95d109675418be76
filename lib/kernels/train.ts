/**
 * Training kernels: the static student's embedding bag (forward and backward) and the row-wise
 * Adam/AdamW update, on the native addon when it has them (native/cpu/embedding.cc), else the
 * pure-TS references (./train-reference.ts). Arguments are checked here (./train-validate.ts),
 * so the addon only sees typed arrays of the right length and a valid CSR; results are the same
 * bit for bit on every backend and for any thread count.
 *
 *   embeddingBag(E, V, D, ids, offsets, out?, threads?)            -> out (B,D)
 *   embeddingBagBackward(dOut, ids, offsets, D, gradE, V, threads?)   gradE += ∂/∂E
 *   adamRows(x, g, m, v, width, rows | null, k, threads?)             x, m, v updated in place
 *
 * Synchronous: these are short calls inside a training step.
 */
import { loadBackend } from './loader';
import { callNative } from '../util/errors';
import {
  adamRowsUnchecked, embeddingBagBackwardUnchecked, embeddingBagUnchecked,
} from './train-reference';
import {
  checkAdamRows, checkEmbeddingBag, checkEmbeddingBagBackward, type AdamRowsConsts,
} from './train-validate';
import { checkThreads } from './validate';

export type { AdamRowsConsts } from './train-validate';
export { adamRowsRef, embeddingBagBackwardRef, embeddingBagRef } from './train-reference';

/** out[b] = mean of the rows E[id] (E is (V,D)) of text b's ids; zeros for an empty text. */
export function embeddingBag(E: Float32Array, V: number, D: number, ids: Int32Array, offsets: Int32Array,
  out?: Float32Array, threads?: number): Float32Array {
  const c = checkEmbeddingBag(E, V, D, ids, offsets, out, threads);
  if (c.B === 0) return c.out;
  const { addon } = loadBackend();
  if (addon?.embeddingBagForward) callNative(() => addon.embeddingBagForward!(E, V, D, ids, offsets, c.B, c.out, checkThreads(threads)));
  else embeddingBagUnchecked(E, D, ids, offsets, c.B, c.out);
  return c.out;
}

/** gradE[ids_b[t]] += dOut[b] / L_b for every text b and token t (accumulates). */
export function embeddingBagBackward(dOut: Float32Array, ids: Int32Array, offsets: Int32Array, D: number,
  gradE: Float32Array, V: number, threads?: number): void {
  const B = checkEmbeddingBagBackward(dOut, ids, offsets, D, gradE, V, threads);
  if (B === 0) return;
  const { addon } = loadBackend();
  if (addon?.embeddingBagBackward) callNative(() => addon.embeddingBagBackward!(dOut, ids, offsets, B, D, gradE, V, checkThreads(threads)));
  else embeddingBagBackwardUnchecked(dOut, ids, offsets, B, D, gradE);
}

/**
 * One Adam/AdamW step of the rows `rows` (distinct; null = all) of width `width` of x, with
 * gradient g and moments m, v (all the same length). See lib/training/optim.ts for the formula.
 */
export function adamRows(x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, width: number,
  rows: Int32Array | null, k: AdamRowsConsts, threads?: number): void {
  checkAdamRows(x, g, m, v, width, rows, k, threads);
  if (rows !== null && rows.length === 0) return;
  const { addon } = loadBackend();
  if (addon?.adamRows) {
    callNative(() => addon.adamRows!(x, g, m, v, width, rows, k.lr, k.b1, k.b2, k.eps, k.c1, k.c2, k.l2, k.decoupled, checkThreads(threads)));
  } else {
    adamRowsUnchecked(x, g, m, v, width, rows, k);
  }
}
