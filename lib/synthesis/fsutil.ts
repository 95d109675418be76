/**
 * File helpers for run folders: every file a synthesis writes goes through here.
 *
 * writeAtomic (lib/data/atomic.ts) puts bytes in a temporary file next to the target, fsyncs it,
 * renames it over the target and fsyncs the folder, so a reader (or a process restarted after SIGKILL) sees either the
 * old file or the new one, never a half-written one. Temporary files left by a killed process
 * start with '.' and end in '.tmp'; cleanTemp removes them when a run resumes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic';
import { DataError } from '../data/errors';

const fsp = fs.promises;

/** Writes data (bytes, a string, or a sequence of string chunks) to file atomically. */
export const writeAtomic = writeFileAtomic;
export { writeJsonAtomic };

/** Typed array → its bytes (no copy). */
export function bytesOf(a: Float32Array | Int32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Reads a file of raw little-endian values into a fresh, aligned typed array. With `expected`,
 * a checkpoint of another length (truncated, damaged) is a DataError saying how to recover.
 */
export async function readTyped<T extends Float32Array | Int32Array | Uint16Array>(
  file: string,
  ctor: { new (buf: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  expected?: number,
): Promise<T> {
  const buf = await fsp.readFile(file);
  const got = buf.byteLength / ctor.BYTES_PER_ELEMENT;
  if (buf.byteLength % ctor.BYTES_PER_ELEMENT || (expected !== undefined && got !== expected)) {
    throw new DataError(file, undefined, `holds ${buf.byteLength} bytes, expected ${expected !== undefined ? expected * ctor.BYTES_PER_ELEMENT : `a multiple of ${ctor.BYTES_PER_ELEMENT}`}: a truncated or damaged checkpoint; delete it to compute it again`);
  }
  const ab = new ArrayBuffer(buf.byteLength);
  new Uint8Array(ab).set(buf);
  return new ctor(ab);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

/** A run folder's JSON file; damaged JSON is a DataError naming the file and the way out. */
export async function readJson<T>(file: string): Promise<T> {
  const text = await fsp.readFile(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new DataError(file, undefined, `damaged JSON (${(e as Error).message}): repair or delete the file, or use another run folder`);
  }
}

/** Removes temporary files left behind by a killed writer, recursively. */
export async function cleanTemp(dir: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await cleanTemp(p);
    else if (e.name.startsWith('.') && e.name.endsWith('.tmp')) await fsp.rm(p, { force: true });
  }
}
