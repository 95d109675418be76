/**
 * Test helpers for the model layer: temp folders, max-abs-difference reporting, a seeded
 * integer generator for token ids, and padded token batches for the native BERT models.
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { mulberry32 } from '../../lib/training/rng';

export function tmpDir(prefix = 'synthtune-models-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Fresh temp folders for one test file, all removed after its tests (call at the top level):
 * `const tmp = scratchDirs('synthtune-x-'); const dir = await tmp();`. tmp.sync() makes one
 * synchronously (for module-level fixtures).
 */
export function scratchDirs(prefix: string): { (): Promise<string>; sync(): string } {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  return Object.assign(tmp, {
    sync: () => {
      const d = tmpDir(prefix);
      dirs.push(d);
      return d;
    },
  });
}

/** Max |a - b| over two equally long arrays; throws on a length mismatch. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/** Prints the first values and the max difference (visible when a comparison fails). */
export function report(label: string, got: ArrayLike<number>, want: ArrayLike<number>): number {
  const d = maxAbsDiff(got, want);
  const head = (x: ArrayLike<number>) => Array.from({ length: Math.min(4, x.length) }, (_, i) => x[i].toFixed(5)).join(', ');
  console.log(`${label}: max abs diff ${d.toExponential(2)}  got [${head(got)}] want [${head(want)}]`);
  return d;
}

/** Deterministic integers in [lo, hi). */
export function seededInts(seed: number): (lo: number, hi: number) => number {
  let s = seed >>> 0;
  return (lo, hi) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo));
  };
}

/**
 * A padded batch for the native BERT models (B × T, row-major): sequences of the given lengths
 * (0 = all padding), ids in [1, 90), padding positions get ids from padIds and arbitrary token types
 * (they must not matter).
 */
export function batchOf(lengths: number[], T: number, seed: number, padIds = [90, 91, 92]) {
  const rnd = mulberry32(seed);
  const B = lengths.length;
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const types = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b];
      ids[b * T + t] = real ? 1 + Math.floor(rnd() * 89) : padIds[(b + t) % padIds.length];
      mask[b * T + t] = real ? 1 : 0;
      types[b * T + t] = real && t >= lengths[b] / 2 ? 1 : (b + t) % 2;
    }
  }
  return { ids, mask, types, B, T };
}
