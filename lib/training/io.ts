/**
 * Tensor files for students, checkpoints and best models: one file holding a JSON header and
 * raw float32 tensors, written atomically (temporary file in the same folder, fsync, rename), so
 * an interrupted write leaves the previous file intact.
 *
 * Layout: "STT1" | u32 header byte length | header JSON (utf8) | zero padding to 4 bytes |
 * tensors back to back (little-endian float32). The header is { meta, tensors: [{name, offset,
 * length}] } with offset/length in floats from the start of the tensor block.
 */
import { promises as fsp } from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic';

const MAGIC = 'STT1';

export interface TensorFile<M> {
  meta: M;
  tensors: Record<string, Float32Array>;
}

interface Header<M> {
  meta: M;
  tensors: { name: string; offset: number; length: number }[];
}

export function encodeTensorFile<M>(file: TensorFile<M>): Buffer {
  const entries: Header<M>['tensors'] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(file.tensors)) {
    entries.push({ name, offset, length: t.length });
    offset += t.length;
  }
  const header = Buffer.from(JSON.stringify({ meta: file.meta, tensors: entries } satisfies Header<M>), 'utf8');
  const headLen = 8 + header.length;
  const pad = (4 - (headLen % 4)) % 4;
  const out = Buffer.alloc(headLen + pad + offset * 4);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  const base = headLen + pad;
  for (const e of entries) {
    const t = file.tensors[e.name];
    Buffer.from(t.buffer, t.byteOffset, t.byteLength).copy(out, base + e.offset * 4);
  }
  return out;
}

export function decodeTensorFile<M>(buf: Buffer, what = 'tensor file'): TensorFile<M> {
  if (buf.length < 8 || buf.toString('latin1', 0, 4) !== MAGIC) throw new Error(`${what}: not a synthtune tensor file`);
  const len = buf.readUInt32LE(4);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + len)) as Header<M>;
  const headLen = 8 + len;
  const base = headLen + ((4 - (headLen % 4)) % 4);
  const tensors: Record<string, Float32Array> = {};
  for (const e of header.tensors) {
    const start = base + e.offset * 4;
    if (start + e.length * 4 > buf.length) throw new Error(`${what}: truncated (${e.name})`);
    const t = new Float32Array(e.length);
    Buffer.from(t.buffer).set(buf.subarray(start, start + e.length * 4));
    tensors[e.name] = t;
  }
  return { meta: header.meta, tensors };
}

/** Writes bytes to file atomically (lib/data/atomic.ts: temporary file, fsync, rename). */
export const writeBytesAtomic: (file: string, data: Uint8Array | string) => Promise<void> = writeFileAtomic;

export async function writeTensorFile<M>(file: string, content: TensorFile<M>): Promise<void> {
  await writeBytesAtomic(file, encodeTensorFile(content));
}

export async function readTensorFile<M>(file: string): Promise<TensorFile<M>> {
  return decodeTensorFile<M>(await fsp.readFile(file), file);
}

export { writeJsonAtomic };
