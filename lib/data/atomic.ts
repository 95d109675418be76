/**
 * Atomic file writing, the one implementation every stage uses (data, synthesis run folders,
 * training checkpoints). Content goes to a temporary file next to the target, is flushed to disk,
 * then renamed over the target, and the folder is synced: readers (or a process restarted after
 * SIGKILL) see the old file or the new one, never a half-written one, and a failure leaves no
 * temporary file behind. Temporary names start with '.' and end in '.tmp'.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export type AtomicContent = Uint8Array | string | Iterable<string> | AsyncIterable<string>;

export function tempNameFor(file: string): string {
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

async function writeChunks(fh: fsp.FileHandle, chunks: Iterable<string> | AsyncIterable<string>): Promise<void> {
  let pending = '';
  for await (const c of chunks) {
    pending += c;
    if (pending.length >= 1 << 20) {
      await fh.write(pending);
      pending = '';
    }
  }
  if (pending) await fh.write(pending);
}

/** Writes bytes, a string, or a sequence of string chunks (in order) to `file` atomically; creates the folder. */
export async function writeFileAtomic(file: string, data: AtomicContent): Promise<void> {
  const target = path.resolve(file);
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempNameFor(target);
  const fh = await fsp.open(tmp, 'w');
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
    else await writeChunks(fh, data);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, target);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    // a failed write(2) / fsync(2) (ENOSPC, EIO, EDQUOT) carries no path: name the file being written
    const x = e as NodeJS.ErrnoException;
    if (x && typeof x === 'object' && typeof x.code === 'string' && !x.path) x.path = target;
    throw e;
  }
  await syncDir(path.dirname(target));
}

/** JSON, pretty-printed with a final newline, written atomically. */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
