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

const fsp = fs.promises;

/** Writes data (bytes, a string, or a sequence of string chunks) to file atomically. */
export const writeAtomic = writeFileAtomic;
export { writeJsonAtomic };

/** Typed array → its bytes (no copy). */
export function bytesOf(a: Float32Array | Int32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Reads a file of raw little-endian values into a fresh, aligned typed array. */
export async function readTyped<T extends Float32Array | Int32Array | Uint16Array>(
  file: string,
  ctor: { new (buf: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
): Promise<T> {
  const buf = await fsp.readFile(file);
  if (buf.byteLength % ctor.BYTES_PER_ELEMENT) throw new Error(`${file}: size ${buf.byteLength} is not a multiple of ${ctor.BYTES_PER_ELEMENT}`);
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

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
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
