/**
 * Kernels: batched matmul and fused top-k inner-product search.
 *
 * One public surface for every backend. Arguments are checked here (./validate.ts), so the
 * native code only sees typed arrays of the right length and positive dimensions. The pure-TS
 * twins live in ./reference.ts with the same signatures.
 *
 *   matmul(a, b, { m, n, k, batch?, transB?, alpha?, beta?, c? })   -> Promise<Float32Array>
 *   topk(queries, corpus, { dim, k, exclude? })                      -> Promise<TopKResult>
 *   ...Sync variants block the calling thread; the async ones run native work off the JS thread.
 *
 * Async calls and detachable memory: while an async call runs, JavaScript may transfer (detach) an
 * argument's ArrayBuffer. The addon therefore copies every argument over an ordinary ArrayBuffer
 * before the call and writes the results back when it completes — or rejects, writing nothing, if
 * the output was detached meanwhile. Arrays over a SharedArrayBuffer cannot be detached and are
 * used in place: give a large corpus searched many times a SharedArrayBuffer to skip its copy.
 * An array already detached when a call starts is a TypeError. Outputs must not share memory
 * with inputs (RangeError); inputs may share memory with each other.
 * Top-k ranks NaN scores nowhere: they are never returned (their slots stay -1 / -Infinity).
 */
import { awaitNative, callNative } from '../util/errors';
import { loadBackend, type BackendInfo } from './loader';
import { matmulRef, topkRef } from './reference';
import type { GemmArgs, TopKArgs, TopKResult } from './types';
import { checkGemm, checkThreads, checkTopK, exclusionCsr } from './validate';

export type { GemmArgs, TopKArgs, TopKResult } from './types';
export type { BackendInfo, BackendName } from './loader';
export { matmulRef, topkRef } from './reference';
export * from './train';

/** Which implementation the kernels use, and why a better one was not loaded. */
export function backend(): BackendInfo {
  const { info } = loadBackend();
  return { ...info, reasons: [...info.reasons] };
}

export function matmulSync(a: Float32Array, b: Float32Array, args: GemmArgs): Float32Array {
  const g = checkGemm(a, b, args);
  const { info, addon } = loadBackend();
  if (!addon) return matmulRef(a, b, args);
  if (info.name === 'cuda' && addon.cudaSgemmSync) {
    callNative(() => addon.cudaSgemmSync!(g.transB, g.batch, g.m, g.n, g.k, g.alpha, a, b, g.beta, g.c));
  } else {
    callNative(() => addon.sgemmSync(g.transB, g.batch, g.m, g.n, g.k, g.alpha, a, b, g.beta, g.c, checkThreads(args.threads)));
  }
  return g.c;
}

export async function matmul(a: Float32Array, b: Float32Array, args: GemmArgs): Promise<Float32Array> {
  const g = checkGemm(a, b, args);
  const { info, addon } = loadBackend();
  if (!addon) return matmulRef(a, b, args);
  if (info.name === 'cuda' && addon.cudaSgemm) {
    await awaitNative(addon.cudaSgemm(g.transB, g.batch, g.m, g.n, g.k, g.alpha, a, b, g.beta, g.c));
  } else {
    await awaitNative(addon.sgemm(g.transB, g.batch, g.m, g.n, g.k, g.alpha, a, b, g.beta, g.c, checkThreads(args.threads)));
  }
  return g.c;
}

function topkBuffers(queries: Float32Array, corpus: Float32Array, args: TopKArgs) {
  const t = checkTopK(queries, corpus, args);
  const csr = exclusionCsr(args.exclude, t.q);
  const indices = new Int32Array(t.q * t.k);
  const scores = new Float32Array(t.q * t.k);
  return { t, csr, indices, scores };
}

export function topkSync(queries: Float32Array, corpus: Float32Array, args: TopKArgs): TopKResult {
  const { info, addon } = loadBackend();
  if (!addon) return topkRef(queries, corpus, args);
  const { t, csr, indices, scores } = topkBuffers(queries, corpus, args);
  const off = csr ? csr.offsets : null;
  const ids = csr ? csr.ids : null;
  if (info.name === 'cuda' && addon.cudaTopkSync) {
    callNative(() => addon.cudaTopkSync!(queries, corpus, t.q, t.n, t.dim, t.k, off, ids, indices, scores));
  } else {
    callNative(() => addon.topkSync(queries, corpus, t.q, t.n, t.dim, t.k, off, ids, indices, scores, checkThreads(args.threads)));
  }
  return { k: t.k, indices, scores };
}

export async function topk(queries: Float32Array, corpus: Float32Array, args: TopKArgs): Promise<TopKResult> {
  const { info, addon } = loadBackend();
  if (!addon) return topkRef(queries, corpus, args);
  const { t, csr, indices, scores } = topkBuffers(queries, corpus, args);
  const off = csr ? csr.offsets : null;
  const ids = csr ? csr.ids : null;
  if (info.name === 'cuda' && addon.cudaTopk) {
    await awaitNative(addon.cudaTopk(queries, corpus, t.q, t.n, t.dim, t.k, off, ids, indices, scores));
  } else {
    await awaitNative(addon.topk(queries, corpus, t.q, t.n, t.dim, t.k, off, ids, indices, scores, checkThreads(args.threads)));
  }
  return { k: t.k, indices, scores };
}
