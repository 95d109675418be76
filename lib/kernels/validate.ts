/**
 * Argument checks shared by every backend. The native code only ever receives what passed here:
 * typed arrays of the right length, attached (not transferred away), an output that shares no
 * memory with an input, and positive integer dimensions. Allocations sized by the arguments are
 * checked against the memory available first. Messages are fixed texts that the tests assert.
 */
import * as os from 'node:os';
import type { GemmArgs, TopKArgs } from './types';
import { InputTypeError, InputRangeError } from '../util/errors';

export interface CheckedGemm {
  m: number;
  n: number;
  k: number;
  batch: number;
  transB: boolean;
  alpha: number;
  beta: number;
  c: Float32Array;
}

/** A positive integer dimension below 2^31, or a TypeError/RangeError naming it. */
export function dimension(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !Number.isInteger(v)) {
    throw new InputTypeError(`${name} must be an integer, got ${String(v)}`);
  }
  if (v <= 0) throw new InputRangeError(`${name} must be > 0, got ${v}`);
  if (v > 2 ** 31 - 1) throw new InputRangeError(`${name} must be < 2^31, got ${v}`);
  return v;
}

/** The constructor name of a value, for error messages ("Array", "Float64Array", "null"...). */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/**
 * Whether an ArrayBuffer is detached (transferred by structuredClone / postMessage, or by
 * ArrayBuffer.prototype.transfer). Node 20 has no `detached` getter: a detached buffer has byte
 * length 0 and cannot be viewed.
 */
export function isDetached(buf: ArrayBufferLike): boolean {
  if (typeof SharedArrayBuffer !== 'undefined' && buf instanceof SharedArrayBuffer) return false;
  const d = (buf as { detached?: unknown }).detached;
  if (typeof d === 'boolean') return d;
  if (buf.byteLength !== 0) return false;
  try {
    new Uint8Array(buf);
    return false;
  } catch {
    return true;
  }
}

/** A TypeError for an array whose ArrayBuffer was transferred away (it reads as empty). */
export function attached<T extends ArrayBufferView>(name: string, v: T): T {
  if (isDetached(v.buffer)) {
    throw new InputTypeError(`${name} is detached: its ArrayBuffer was transferred (postMessage / structuredClone) and holds no data`);
  }
  return v;
}

export function f32(name: string, v: unknown): Float32Array {
  if (!(v instanceof Float32Array)) throw new InputTypeError(`${name} must be a Float32Array, got ${typeName(v)}`);
  return attached(name, v);
}

/** Whether two typed arrays share any byte of memory. */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** RangeError when `out` shares memory with `input` (an output read after it is partly written). */
export function disjoint(outName: string, out: ArrayBufferView, inName: string, input: ArrayBufferView): void {
  if (overlaps(out, input)) throw new InputRangeError(`${outName} must not share memory with ${inName}`);
}

const GiB = 1024 ** 3;

/**
 * Bytes of memory this process can still get: os.freemem() (MemAvailable on Linux), or less under
 * a cgroup limit (process.constrainedMemory less the resident set).
 */
export function availableMemory(): number {
  let avail = os.freemem();
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (limit !== undefined && limit > 0 && limit < os.totalmem()) avail = Math.min(avail, Math.max(0, limit - process.memoryUsage.rss()));
  return avail;
}

/** new Float32Array(n) after checkAlloc, with a RangeError naming `what` where a typed array cannot be that long. */
export function allocF32(what: string, n: number): Float32Array {
  checkAlloc(what, n * 4);
  try {
    return new Float32Array(n);
  } catch (e) {
    if (e instanceof RangeError) throw new InputRangeError(`${what} is longer than a Float32Array can be (${e.message})`);
    throw e;
  }
}

/** A RangeError giving the size needed when `bytes` (for `what`) does not fit in the memory available now. */
export function checkAlloc(what: string, bytes: number): void {
  const avail = availableMemory();
  if (bytes > avail) {
    throw new InputRangeError(`${what} needs ${(bytes / GiB).toFixed(2)} GiB but only ${(avail / GiB).toFixed(2)} GiB of memory is available`);
  }
}

function finite(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputTypeError(`${name} must be a finite number, got ${String(v)}`);
  return v;
}

export function checkThreads(v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1024) {
    throw new InputRangeError(`threads must be an integer in [1, 1024], got ${String(v)}`);
  }
  return v;
}

export function checkGemm(a: unknown, b: unknown, args: GemmArgs): CheckedGemm {
  if (args === null || typeof args !== 'object') throw new InputTypeError('matmul: args must be an object { m, n, k, ... }');
  const A = f32('a', a);
  const B = f32('b', b);
  const m = dimension('m', args.m);
  const n = dimension('n', args.n);
  const k = dimension('k', args.k);
  const batch = args.batch === undefined ? 1 : dimension('batch', args.batch);
  const alpha = finite('alpha', args.alpha, 1);
  const beta = finite('beta', args.beta, 0);
  checkThreads(args.threads);
  if (A.length !== batch * m * k) {
    throw new InputRangeError(`a has length ${A.length}, expected batch*m*k = ${batch}*${m}*${k} = ${batch * m * k}`);
  }
  if (B.length !== batch * k * n) {
    throw new InputRangeError(
      `b has length ${B.length}, expected batch*k*n = ${batch}*${k}*${n} = ${batch * k * n}`,
    );
  }
  let c: Float32Array;
  if (args.c !== undefined) {
    c = f32('c', args.c);
    if (c.length !== batch * m * n) {
      throw new InputRangeError(`c has length ${c.length}, expected batch*m*n = ${batch}*${m}*${n} = ${batch * m * n}`);
    }
    // a and b may overlap; c may not (it would be read after it is partly written).
    disjoint('c', c, 'a', A);
    disjoint('c', c, 'b', B);
  } else {
    if (beta !== 0) throw new InputRangeError('beta != 0 needs an output buffer c to accumulate into');
    c = allocF32(`matmul: the output c (batch*m*n = ${batch * m * n} floats)`, batch * m * n);
  }
  return { m, n, k, batch, transB: Boolean(args.transB), alpha, beta, c };
}

export interface CheckedTopK {
  q: number;
  n: number;
  dim: number;
  /** Effective k = min(k, N). */
  k: number;
}

export function checkTopK(queries: unknown, corpus: unknown, args: TopKArgs): CheckedTopK {
  if (args === null || typeof args !== 'object') throw new InputTypeError('topk: args must be an object { dim, k, ... }');
  const Qv = f32('queries', queries);
  const X = f32('corpus', corpus);
  const dim = dimension('dim', args.dim);
  const kReq = dimension('k', args.k);
  checkThreads(args.threads);
  if (Qv.length === 0) throw new InputRangeError('queries is empty');
  if (X.length === 0) throw new InputRangeError('corpus is empty');
  if (Qv.length % dim !== 0) throw new InputRangeError(`queries has length ${Qv.length}, not a multiple of dim ${dim}`);
  if (X.length % dim !== 0) throw new InputRangeError(`corpus has length ${X.length}, not a multiple of dim ${dim}`);
  const q = Qv.length / dim;
  const n = X.length / dim;
  if (args.exclude !== undefined && args.exclude !== null) {
    if (!Array.isArray(args.exclude)) throw new InputTypeError('exclude must be an array with one list of ids per query');
    if (args.exclude.length !== q) {
      throw new InputRangeError(`exclude has ${args.exclude.length} entries, expected one per query (${q})`);
    }
  }
  const k = Math.min(kReq, n);
  checkAlloc(`topk: the results (queries*k = ${q * k} indices and scores)`, q * k * 8);
  return { q, n, dim, k };
}

/** Exclusion lists as CSR (offsets Q+1, ids), with ids validated as integers. null when none. */
export function exclusionCsr(
  exclude: TopKArgs['exclude'],
  q: number,
): { offsets: Int32Array; ids: Int32Array } | null {
  if (!exclude) return null;
  const offsets = new Int32Array(q + 1);
  let total = 0;
  for (let i = 0; i < q; i++) {
    const e = exclude[i];
    if (e !== null && e !== undefined) {
      if (typeof e !== 'object' || typeof (e as ArrayLike<number>).length !== 'number') {
        throw new InputTypeError(`exclude[${i}] must be an array of corpus ids`);
      }
      total += e.length;
    }
    offsets[i + 1] = total;
  }
  if (total > 2 ** 31 - 1) throw new InputRangeError(`exclude lists hold ${total} ids in total, more than 2^31 - 1`);
  if (total === 0) return null;
  const ids = new Int32Array(total);
  for (let i = 0; i < q; i++) {
    const e = exclude[i];
    if (!e) continue;
    for (let j = 0; j < e.length; j++) {
      const id = e[j];
      if (typeof id !== 'number' || !Number.isInteger(id)) {
        throw new InputTypeError(`exclude[${i}][${j}] must be an integer corpus id, got ${String(id)}`);
      }
      // Ids outside [0, N) can never be returned anyway; clamp them to -1 (ignored by every backend).
      ids[offsets[i] + j] = id >= 0 && id <= 2 ** 31 - 1 ? id : -1;
    }
  }
  return { offsets, ids };
}
