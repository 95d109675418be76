/**
 * Benchmark harness shared by every suite: warm up, repeat until a time budget is spent, report
 * the median, and describe the machine. Rows have one format across suites so benchmark runs can
 * be tracked over time (see `synthtune bench --json`).
 */
import * as os from 'node:os';
import { mulberry32 } from '../lib/util/rng';

export interface BenchRow {
  suite: string;
  case: string;
  backend: string;
  median_ms: number;
  throughput: number;
  unit: string;
  /** Baseline median time / this row's median time (1 for the baseline row itself). */
  speedup: number;
  baseline: string;
  /** Free-form extra figures (shape, recall, memory...). */
  extra?: Record<string, unknown>;
}

export interface MeasureOptions {
  /** Stop repeating once this many ms were spent (after minReps). Default 1000. */
  budgetMs?: number;
  minReps?: number;
  maxReps?: number;
  warmup?: number;
}

/** Runs fn (sync or async) repeatedly and returns the median wall time in ms. */
export async function measure(fn: () => unknown, opts: MeasureOptions = {}): Promise<number> {
  const budget = opts.budgetMs ?? 1000;
  const minReps = opts.minReps ?? 3;
  const maxReps = opts.maxReps ?? 1000;
  for (let i = 0; i < (opts.warmup ?? 1); i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || (performance.now() - start < budget && times.length < maxReps)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

export function hardware(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()}-${os.arch()}`,
    node: process.version,
  };
}

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32), for reproducible inputs. */
export function randomFloats(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rand() * 2 - 1;
  return out;
}

/** n rows of dimension d from randomFloats(n·d, seed), each scaled to unit length (like embeddings). */
export function unitRows(n: number, d: number, seed: number): Float32Array {
  const x = randomFloats(n * d, seed);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
    const inv = 1 / Math.sqrt(s || 1);
    for (let j = 0; j < d; j++) x[i * d + j] *= inv;
  }
  return x;
}

export interface Suite {
  name: string;
  description: string;
  /** quick: smaller shapes for smoke runs. */
  /** profile: per-operation timing where the suite has it (train). */
  run(opts: { quick: boolean; log: (line: string) => void; profile?: boolean }): Promise<BenchRow[]>;
}
