/**
 * Tensor files for students, checkpoints and best models: checksummed safetensors
 * (lib/util/safetensors.ts) holding float32 tensors and a JSON `meta` (in the header's
 * __metadata__ as `synthtune.meta`), written atomically (temporary file, fsync, rename), so an
 * interrupted write leaves the previous file intact and a damaged one is an error naming it.
 * Files of the older STT1 format are refused with the way out (--restart).
 */
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic';
import { readTensors, runFileError, WAY_OUT, writeTensors } from '../util/run-folder';
import { encodeSafetensors, type Tensor } from '../util/safetensors';

export interface TensorFile<M> {
  meta: M;
  tensors: Record<string, Float32Array>;
}

const META_KEY = 'synthtune.meta';

function asTensors(t: Record<string, Float32Array>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, data] of Object.entries(t)) out[name] = { dtype: 'F32', shape: [data.length], data };
  return out;
}

export function encodeTensorFile<M>(file: TensorFile<M>): Buffer {
  return encodeSafetensors(asTensors(file.tensors), { [META_KEY]: JSON.stringify(file.meta) });
}

/** Writes bytes to file atomically (lib/data/atomic.ts: temporary file, fsync, rename). */
export const writeBytesAtomic: (file: string, data: Uint8Array | string) => Promise<void> = writeFileAtomic;

export async function writeTensorFile<M>(file: string, content: TensorFile<M>): Promise<void> {
  await writeTensors(file, asTensors(content.tensors), { [META_KEY]: JSON.stringify(content.meta) });
}

/** Reads a tensor file; a damaged, truncated, foreign or STT1 file is a RunError naming it and `wayOut`. */
export async function readTensorFile<M>(file: string, wayOut = WAY_OUT): Promise<TensorFile<M>> {
  const { tensors, metadata } = await readTensors(file, wayOut);
  let meta: M;
  try {
    meta = JSON.parse(metadata[META_KEY] ?? '') as M;
  } catch {
    throw runFileError(file, `no synthtune metadata (${META_KEY}) in its header`, wayOut);
  }
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t.data instanceof Float32Array)) throw runFileError(file, `tensor '${name}' is ${t.dtype}, expected F32`, wayOut);
    out[name] = t.data;
  }
  return { meta, tensors: out };
}

export { writeJsonAtomic };
