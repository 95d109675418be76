/**
 * Checksummed safetensors: the one file format of run-folder checkpoints and outputs (synthesis
 * embedding batches, mined relations, scores; fit checkpoints and student weights).
 *
 * Layout (the safetensors format, https://github.com/huggingface/safetensors):
 *   u64 little-endian header length N | header JSON (N bytes, space-padded to 8) | data section
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (bytes into the
 * data section), tensors back to back in insertion order, plus `__metadata__` (string → string)
 * holding `synthtune.sha256`: the SHA-256 of the data section. A reader checks the layout and the
 * checksum, so a truncated, bit-flipped or foreign file is an error naming the file, never values.
 *
 * Values are stored as their exact bytes (little-endian, as JavaScript typed arrays hold them on
 * every platform Node supports): F32 (Float32Array), I32 (Int32Array), F16 (IEEE half bits in a
 * Uint16Array). The model-folder codec (lib/models/import.ts readSafetensors) reads other
 * producers' files (F64, BF16, no checksum) and converts to float32; this one is synthtune's own.
 */
import { createHash } from 'node:crypto';

export type TensorDtype = 'F32' | 'I32' | 'F16';
export type TensorData = Float32Array | Int32Array | Uint16Array;

export interface Tensor {
  dtype: TensorDtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  /** String metadata (without the checksum). */
  metadata: Record<string, string>;
}

const SHA_KEY = 'synthtune.sha256';
const WIDTH: Record<TensorDtype, number> = { F32: 4, I32: 4, F16: 2 };
const CTOR = { F32: Float32Array, I32: Int32Array, F16: Uint16Array } as const;

/** The dtype a typed array is stored as. */
export function dtypeOf(a: TensorData): TensorDtype {
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Int32Array) return 'I32';
  return 'F16';
}

/** A 1-D tensor of a typed array. */
export function tensor1d(data: TensorData): Tensor {
  return { dtype: dtypeOf(data), shape: [data.length], data };
}

/** Bytes of a safetensors file: the tensors in insertion order, the metadata, the data's SHA-256. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const entries = Object.entries(tensors);
  let size = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, x) => a * x, 1);
    if (count !== t.data.length || dtypeOf(t.data) !== t.dtype) throw new Error(`safetensors: tensor '${name}' has ${t.data.length} ${dtypeOf(t.data)} values for shape [${t.shape}] ${t.dtype}`);
    size += t.data.byteLength;
  }
  const data = Buffer.alloc(size);
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of entries) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    data.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), off);
    off += t.data.byteLength;
  }
  const sha = createHash('sha256').update(data).digest('hex');
  let json = JSON.stringify({ __metadata__: { ...metadata, [SHA_KEY]: sha }, ...header });
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length + size);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  data.copy(out, 8 + hb.length);
  return out;
}

/** Why a file cannot be read as a checksummed safetensors file (null when it can). */
export class SafetensorsFormatError extends Error {
  constructor(readonly reason: string, readonly legacy = false) {
    super(reason);
    this.name = 'SafetensorsFormatError';
  }
}

/**
 * Parses and verifies a file's bytes; throws SafetensorsFormatError with the reason (`legacy`
 * when the bytes are an older synthtune format: STT1 tensor files, raw value files).
 */
export function decodeSafetensors(buf: Uint8Array): SafetensorsContent {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 4 && b.toString('latin1', 0, 4) === 'STT1') throw new SafetensorsFormatError('an older synthtune tensor file (STT1 format)', true);
  if (b.length < 8) throw new SafetensorsFormatError(`${b.length} bytes: too short for a safetensors file (truncated?)`);
  const n = Number(b.readBigUInt64LE(0));
  if (!(n >= 2 && 8 + n <= b.length)) {
    // raw values (the checkpoints of synthtune before safetensors) have no JSON header at byte 8
    const raw = b[8] !== 0x7b && n > b.length;
    throw new SafetensorsFormatError(raw ? `not a safetensors file (raw values, as an older synthtune wrote them?)` : `truncated or damaged (header length ${n}, file ${b.length} bytes)`, raw);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(b.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  } catch {
    throw new SafetensorsFormatError('damaged header (not JSON)');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsFormatError('damaged header (not an object)');
  const meta = header.__metadata__ as Record<string, string> | undefined;
  const sha = meta?.[SHA_KEY];
  if (typeof sha !== 'string') throw new SafetensorsFormatError(`damaged header, or not written by synthtune: no checksum (${SHA_KEY})`);
  const data = b.subarray(8 + n);
  if (createHash('sha256').update(data).digest('hex') !== sha) throw new SafetensorsFormatError(`checksum mismatch: the ${data.length}-byte data section is damaged or truncated`);
  const tensors: Record<string, Tensor> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = v as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = t?.dtype as TensorDtype;
    if (!(dtype in WIDTH) || !Array.isArray(t.shape) || !t.shape.every((x) => Number.isInteger(x) && x >= 0) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      throw new SafetensorsFormatError(`bad header entry for '${name}'`);
    }
    const [s, e] = t.data_offsets as number[];
    const count = (t.shape as number[]).reduce((a, x) => a * x, 1);
    if (!(Number.isInteger(s) && Number.isInteger(e) && s >= 0 && e <= data.length && e - s === count * WIDTH[dtype])) {
      throw new SafetensorsFormatError(`tensor '${name}' has data offsets [${s}, ${e}] that do not fit its shape or the ${data.length}-byte data section`);
    }
    const ab = new ArrayBuffer(e - s);
    new Uint8Array(ab).set(data.subarray(s, e));
    tensors[name] = { dtype, shape: [...(t.shape as number[])], data: new CTOR[dtype](ab) };
  }
  const metadata = { ...meta };
  delete metadata[SHA_KEY];
  return { tensors, metadata };
}
