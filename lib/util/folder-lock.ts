/**
 * Exclusive use of a run folder by one process (synthesis and fit runs): a `lock` file holding
 * the owner's pid, created with O_EXCL. A lock whose process is gone (killed, crashed) is stale and
 * taken over; a live owner makes the second process fail with a message naming it. Also removes
 * the temporary files (`.<name>.<pid>.<hex>.tmp`, lib/data/atomic.ts) that killed writers left.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { RunError } from './errors';

/** Is a process with this pid alive (on this machine)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FolderInUseError extends RunError {
  constructor(readonly folder: string, readonly pid: number) {
    super(path.join(folder, 'lock'), `run folder ${folder} is in use by process ${pid} (another synthtune run writes there; its lock: ${path.join(folder, 'lock')}); wait for it to end, or choose another --out`);
    this.name = 'FolderInUseError';
  }
}

/**
 * Takes the folder's lock (stale locks are taken over); returns the function that releases it.
 * Re-entrant within a process: taking a lock this process holds returns a release that does nothing.
 */
export async function lockFolder(folder: string, name = 'lock'): Promise<() => Promise<void>> {
  await fsp.mkdir(folder, { recursive: true });
  const f = path.join(folder, name);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fsp.writeFile(f, String(process.pid), { flag: 'wx' });
      return async () => {
        // only our own lock: a process that took over a stale one keeps it
        const pid = Number(await fsp.readFile(f, 'utf8').catch(() => ''));
        if (pid === process.pid) await fsp.rm(f, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(await fsp.readFile(f, 'utf8').catch(() => ''));
    // held by this process already (fitRun around fit()): the outer holder releases it
    if (pid === process.pid) return async () => undefined;
    if (pid && pidAlive(pid)) throw new FolderInUseError(folder, pid);
    await fsp.rm(f, { force: true });
  }
  throw new RunError(f, `could not take the lock ${f} (other processes keep taking it); wait for them to end, or choose another --out`);
}

/** Removes temporary files of writers that are gone (`.<file>.<pid>.<hex>.tmp`); returns their names. */
export async function removeStaleTemps(folder: string): Promise<string[]> {
  const removed: string[] = [];
  const entries = await fsp.readdir(folder).catch(() => [] as string[]);
  for (const e of entries) {
    const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(e);
    if (!m || pidAlive(Number(m[1]))) continue;
    await fsp.rm(path.join(folder, e), { force: true });
    removed.push(e);
  }
  return removed;
}
