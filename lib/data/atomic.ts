/**
 * Atomic file writing: content goes to a temporary file next to the target, is flushed to disk,
 * then renamed over the target. Readers never see a half-written file, and a failure leaves the
 * old file (if any) untouched and no temporary file behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** Writes `chunks` (strings, in order) to `file` atomically. */
export async function writeFileAtomic(file: string, chunks: Iterable<string> | AsyncIterable<string>): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    let pending = '';
    for await (const c of chunks) {
      pending += c;
      if (pending.length >= 1 << 16) {
        await fh.write(pending);
        pending = '';
      }
    }
    if (pending) await fh.write(pending);
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}
