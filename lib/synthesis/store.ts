/**
 * Embedding storage with per-batch checkpoints.
 *
 * Texts are encoded in fixed batches (batch b = texts [b·size, (b+1)·size)); each finished batch
 * is written atomically as checkpoints/emb-<miner>/<side>-<b>.safetensors (checksummed, F32 or F16), so a killed run re-encodes only
 * unfinished batches and (batch composition being fixed) gets bit-identical vectors back.
 * The batch files are then either gathered into one array (float32, or float16 bits in a
 * Uint16Array: half the memory) or left on disk and streamed chunk by chunk at search time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exists, readTensor, writeTensor } from './fsutil';
import type { Encoder } from './types';
import { ModelError } from '../models/errors';

export type Dtype = 'float32' | 'float16';

/** A set of n vectors of dimension dim, readable as float32 chunks in order. */
export interface VectorStore {
  readonly n: number;
  readonly dim: number;
  /** All vectors as one float32 array, when stored that way. */
  readonly dense?: Float32Array;
  /** Bytes held in memory by the vectors. */
  readonly bytes: number;
  chunks(): AsyncGenerator<{ start: number; vectors: Float32Array }>;
}

// ---- float16 ---------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE half bits, round to nearest even (overflow → ±Inf, NaN kept). */
export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** IEEE half bits → number. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function encodeHalf(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toHalf(src[i]);
  return out;
}

export function decodeHalf(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) out[i] = fromHalf(src[i]);
  return out;
}

// ---- normalisation ---------------------------------------------------------------------------

/** L2-normalises each row in place (zero rows stay zero). */
export function normalizeRows(v: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < v.length; r += dim) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[r + j] * v[r + j];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) v[r + j] *= inv;
    }
  }
  return v;
}

// ---- checkpointed encoding ---------------------------------------------------------------------

export interface EncodeJob {
  encoder: Encoder;
  texts: readonly string[];
  /** Folder of the batch files, and their name prefix ('corpus', 'queries'). */
  dir: string;
  /** Which side the texts are (picks encodeQueries / encodeDocuments when the encoder has them). */
  side?: 'query' | 'document';
  prefix: string;
  batchSize: number;
  dtype: Dtype;
  normalize: boolean;
  /** After each batch is on disk: (batches done, total batches, was it encoded now). */
  onBatch?: (done: number, total: number, fresh: boolean, batch: number) => Promise<void> | void;
}

export function batchFile(dir: string, prefix: string, b: number): string {
  return path.join(dir, `${prefix}-${String(b).padStart(6, '0')}.safetensors`);
}

async function encodeBatch(job: EncodeJob, b: number): Promise<void> {
  const { encoder, texts, batchSize } = job;
  const slice = texts.slice(b * batchSize, Math.min(texts.length, (b + 1) * batchSize)) as string[];
  const v = job.side === 'query' && encoder.encodeQueries ? await encoder.encodeQueries(slice)
    : job.side === 'document' && encoder.encodeDocuments ? await encoder.encodeDocuments(slice) : await encoder.encode(slice);
  if (!(v instanceof Float32Array) || v.length !== slice.length * encoder.dim) {
    throw new ModelError(`the encoder (${encoder.id ?? 'a custom encoder'}) returned ${v?.length} values for ${slice.length} texts of dimension ${encoder.dim} (expected ${slice.length * encoder.dim})`);
  }
  if (job.normalize) normalizeRows(v, encoder.dim);
  const data = job.dtype === 'float16' ? encodeHalf(v) : v;
  await writeTensor(batchFile(job.dir, job.prefix, b), data);
}

/** Encodes every batch that has no checkpoint yet; returns the number of batches. */
export async function encodeCheckpointed(job: EncodeJob): Promise<number> {
  await fs.promises.mkdir(job.dir, { recursive: true });
  const total = Math.ceil(job.texts.length / job.batchSize);
  for (let b = 0; b < total; b++) {
    const fresh = !(await exists(batchFile(job.dir, job.prefix, b)));
    if (fresh) await encodeBatch(job, b);
    await job.onBatch?.(b + 1, total, fresh, b);
  }
  return total;
}

async function readBatch(file: string, dtype: Dtype, values: number): Promise<Float32Array> {
  return dtype === 'float16' ? decodeHalf(await readTensor(file, Uint16Array, values)) : readTensor(file, Float32Array, values);
}

/** Values in batch b of a store: rows of that batch × dim. */
function batchValues(spec: StoreSpec, b: number): number {
  return (Math.min(spec.n, (b + 1) * spec.batchSize) - b * spec.batchSize) * spec.dim;
}

// ---- stores ------------------------------------------------------------------------------------

interface StoreSpec {
  dir: string;
  prefix: string;
  n: number;
  dim: number;
  batchSize: number;
  dtype: Dtype;
}

/** Gathers the batch files into memory (float32 array, or float16 bits). */
export async function memoryStore(spec: StoreSpec): Promise<VectorStore> {
  const { n, dim, batchSize, dtype } = spec;
  const all = dtype === 'float16' ? new Uint16Array(n * dim) : new Float32Array(n * dim);
  const batches = Math.ceil(n / batchSize);
  for (let b = 0; b < batches; b++) {
    const file = batchFile(spec.dir, spec.prefix, b);
    const part = dtype === 'float16' ? await readTensor(file, Uint16Array, batchValues(spec, b)) : await readTensor(file, Float32Array, batchValues(spec, b));
    all.set(part as never, b * batchSize * dim);
  }
  if (all instanceof Float32Array) return denseStore(all, dim);
  return halfStore(all, dim);
}

export function denseStore(v: Float32Array, dim: number, chunkRows = 65536): VectorStore {
  return {
    n: v.length / dim,
    dim,
    dense: v,
    bytes: v.byteLength,
    async *chunks() {
      for (let s = 0; s * dim < v.length; s += chunkRows) yield { start: s, vectors: v.subarray(s * dim, Math.min(v.length, (s + chunkRows) * dim)) };
    },
  };
}

function halfStore(bits: Uint16Array, dim: number, chunkRows = 32768): VectorStore {
  const n = bits.length / dim;
  return {
    n,
    dim,
    bytes: bits.byteLength,
    async *chunks() {
      const buf = new Float32Array(Math.min(n, chunkRows) * dim);
      for (let s = 0; s < n; s += chunkRows) {
        const e = Math.min(n, s + chunkRows);
        yield { start: s, vectors: decodeHalf(bits.subarray(s * dim, e * dim), buf.subarray(0, (e - s) * dim)) };
      }
    },
  };
}

/** Leaves the vectors in their batch files; each pass over the store reads them again. */
export function diskStore(spec: StoreSpec): VectorStore {
  const batches = Math.ceil(spec.n / spec.batchSize);
  return {
    n: spec.n,
    dim: spec.dim,
    bytes: 0,
    async *chunks() {
      for (let b = 0; b < batches; b++) yield { start: b * spec.batchSize, vectors: await readBatch(batchFile(spec.dir, spec.prefix, b), spec.dtype, batchValues(spec, b)) };
    },
  };
}

/** Rows [start, end) of a store as float32 (reads only the chunks that overlap). */
export async function storeRows(store: VectorStore, start: number, end: number): Promise<Float32Array> {
  const { dim } = store;
  if (store.dense) return store.dense.subarray(start * dim, end * dim);
  const out = new Float32Array((end - start) * dim);
  for await (const c of store.chunks()) {
    const cEnd = c.start + c.vectors.length / dim;
    if (cEnd <= start) continue;
    if (c.start >= end) break;
    const s = Math.max(start, c.start);
    const e = Math.min(end, cEnd);
    out.set(c.vectors.subarray((s - c.start) * dim, (e - c.start) * dim), (s - start) * dim);
  }
  return out;
}
