/**
 * Argument checks of the training kernels (./train.ts), shared by every backend: the native code
 * only ever receives what passed here (typed arrays of the right lengths, positive integer
 * dimensions, a well-formed CSR with every id in [0, V), distinct rows in range, buffers that do
 * not share memory). Each message names the argument.
 *
 * CSR texts: text b is ids[offsets[b] .. offsets[b+1]); offsets has B+1 entries, starts at 0,
 * never decreases and ends at ids.length.
 */
import { attached, checkThreads, dimension, disjoint, f32, typeName } from './validate';
import { InputTypeError, InputRangeError } from '../util/errors';

/** Adam/AdamW constants of one step (see lib/training/optim.ts). */
export interface AdamRowsConsts {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  /** 1 / (1 − b1ᵗ) */
  c1: number;
  /** 1 / (1 − b2ᵗ) */
  c2: number;
  /** Coupled weight decay (Adam): g ← g + l2·x. */
  l2: number;
  /** Decoupled weight decay factor lr·wd (AdamW): x ← x − decoupled·x. */
  decoupled: number;
}

function i32(name: string, v: unknown): Int32Array {
  if (!(v instanceof Int32Array)) throw new InputTypeError(`${name} must be an Int32Array, got ${typeName(v)}`);
  return attached(name, v);
}

function length(name: string, a: ArrayLike<number>, want: number, what: string): void {
  if (a.length !== want) throw new InputRangeError(`${name} has length ${a.length}, expected ${what} = ${want}`);
}


/** Checks ids/offsets as CSR over a vocabulary of V rows; returns B (texts). */
export function checkCsr(ids: unknown, offsets: unknown, V: number): number {
  const I = i32('ids', ids);
  const O = i32('offsets', offsets);
  if (O.length < 1) throw new InputRangeError('offsets must have B+1 ≥ 1 entries, got 0');
  const B = O.length - 1;
  if (O[0] !== 0) throw new InputRangeError(`offsets[0] must be 0, got ${O[0]}`);
  for (let b = 0; b < B; b++) {
    if (O[b + 1] < O[b]) {
      throw new InputRangeError(`offsets must be non-decreasing: offsets[${b + 1}] = ${O[b + 1]} < offsets[${b}] = ${O[b]}`);
    }
  }
  if (O[B] !== I.length) throw new InputRangeError(`offsets[B] = ${O[B]} must equal ids.length = ${I.length}`);
  for (let t = 0; t < I.length; t++) {
    const id = I[t];
    if (id < 0 || id >= V) throw new InputRangeError(`ids[${t}] = ${id} is outside [0, V=${V})`);
  }
  return B;
}

export interface CheckedBag {
  B: number;
  out: Float32Array;
}

/** embeddingBag(E, V, D, ids, offsets, out?, threads?): returns B and the (allocated) output. */
export function checkEmbeddingBag(E: unknown, V: unknown, D: unknown, ids: unknown, offsets: unknown,
  out: unknown, threads: unknown): CheckedBag {
  const table = f32('E', E);
  const v = dimension('V', V);
  const d = dimension('D', D);
  length('E', table, v * d, `V*D = ${v}*${d}`);
  const B = checkCsr(ids, offsets, v);
  checkThreads(threads);
  let o: Float32Array;
  if (out === undefined) {
    o = new Float32Array(B * d);
  } else {
    o = f32('out', out);
    length('out', o, B * d, `B*D = ${B}*${d}`);
    disjoint('out', o, 'E', table);
    disjoint('out', o, 'ids', ids as Int32Array);
    disjoint('out', o, 'offsets', offsets as Int32Array);
  }
  return { B, out: o };
}

/** embeddingBagBackward(dOut, ids, offsets, D, gradE, V, threads?): returns B. */
export function checkEmbeddingBagBackward(dOut: unknown, ids: unknown, offsets: unknown, D: unknown,
  gradE: unknown, V: unknown, threads: unknown): number {
  const dO = f32('dOut', dOut);
  const G = f32('gradE', gradE);
  const d = dimension('D', D);
  const v = dimension('V', V);
  const B = checkCsr(ids, offsets, v);
  length('dOut', dO, B * d, `B*D = ${B}*${d}`);
  length('gradE', G, v * d, `V*D = ${v}*${d}`);
  checkThreads(threads);
  disjoint('gradE', G, 'dOut', dO);
  disjoint('gradE', G, 'ids', ids as Int32Array);
  disjoint('gradE', G, 'offsets', offsets as Int32Array);
  return B;
}

const ADAM_KEYS = ['lr', 'b1', 'b2', 'eps', 'c1', 'c2', 'l2', 'decoupled'] as const;

/** adamRows(x, g, m, v, width, rows, k, threads?). */
export function checkAdamRows(x: unknown, g: unknown, m: unknown, v: unknown, width: unknown, rows: unknown,
  k: unknown, threads: unknown): void {
  const X = f32('x', x);
  const G = f32('g', g);
  const M = f32('m', m);
  const Vv = f32('v', v);
  if (X.length === 0) throw new InputRangeError('x is empty');
  length('g', G, X.length, 'x.length');
  length('m', M, X.length, 'x.length');
  length('v', Vv, X.length, 'x.length');
  const w = dimension('width', width);
  if (X.length % w !== 0) throw new InputRangeError(`width ${w} does not divide x.length ${X.length}`);
  if (k === null || typeof k !== 'object') throw new InputTypeError('adam constants must be an object { lr, b1, b2, eps, c1, c2, l2, decoupled }');
  for (const key of ADAM_KEYS) {
    const val = (k as Record<string, unknown>)[key];
    if (typeof val !== 'number' || !Number.isFinite(val)) throw new InputTypeError(`${key} must be a finite number, got ${String(val)}`);
  }
  checkThreads(threads);
  const pairs: [string, Float32Array][] = [['x', X], ['g', G], ['m', M], ['v', Vv]];
  for (let i = 0; i < pairs.length; i++) {
    for (let j = i + 1; j < pairs.length; j++) disjoint(pairs[i][0], pairs[i][1], pairs[j][0], pairs[j][1]);
  }
  if (rows === null) return;
  const R = i32('rows', rows);
  const n = X.length / w;
  const seen = new Uint8Array(n);
  for (let i = 0; i < R.length; i++) {
    const r = R[i];
    if (r < 0 || r >= n) throw new InputRangeError(`rows[${i}] = ${r} is outside [0, ${n})`);
    if (seen[r]) throw new InputRangeError(`rows[${i}] = ${r} is repeated (rows must be distinct)`);
    seen[r] = 1;
  }
  for (const [name, a] of pairs) disjoint('rows', R, name, a);
}
