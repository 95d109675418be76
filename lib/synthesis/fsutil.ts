/**
 * File helpers for run folders: every file a synthesis writes goes through here.
 *
 * writeAtomic puts bytes in a temporary file next to the target, fsyncs it, renames it over the
 * target and fsyncs the folder, so a reader (or a process restarted after SIGKILL) sees either the
 * old file or the new one, never a half-written one. Temporary files left by a killed process
 * start with '.' and end in '.tmp'; cleanTemp removes them when a run resumes.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const fsp = fs.promises;

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms (Windows) cannot open folders; the rename is still atomic there.
  }
}

/** Writes data (bytes, a string, or a sequence of string chunks) to file atomically. */
export async function writeAtomic(file: string, data: Uint8Array | string | Iterable<string>): Promise<void> {
  const tmp = tempName(file);
  const fh = await fsp.open(tmp, 'w');
  try {
    if (typeof data === 'string') await fh.write(data);
    else if (data instanceof Uint8Array) await fh.write(data);
    else await writeChunks(fh, data);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(path.dirname(file));
}

async function writeChunks(fh: fs.promises.FileHandle, chunks: Iterable<string>): Promise<void> {
  let pending = '';
  for (const c of chunks) {
    pending += c;
    if (pending.length >= 1 << 20) {
      await fh.write(pending);
      pending = '';
    }
  }
  if (pending) await fh.write(pending);
}

export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

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
