/**
 * Suite `train`: training throughput (examples/s, one example = query + positive + negative)
 * of the two students, through the same trainStep() fit() runs (forward both sides, Margin-MSE,
 * backward, AdamW step).
 *
 * - adapter: d = 384, batch 256, cached random embeddings; full-rank query-only (the default),
 *   plus both-sides and rank-64 variants. Native GEMM against the pure-TS matmulRef (baseline).
 * - static: vocab 30522 × dim 256, ~40 tokens per text drawn Zipf(1)-distributed as in text
 *   (uniform ids are the worst case, also reported), batch 256, lazy row-wise AdamW. The
 *   embedding bag (forward, backward) and the row-wise Adam step are lib/kernels/train.ts:
 *   native kernels against their pure-TS references (baseline 'js', the backend forced to js
 *   for that row).
 * Rows also carry the process CPU time per step (all threads): on a shared, loaded machine the
 * wall time overstates the cost, and examples_per_cpu_s is what one idle core would do (for the
 * multi-threaded native GEMM it sums its threads).
 */
import { backend, matmulRef, matmulSync } from '../lib/kernels';
import { resetBackendForTests } from '../lib/kernels/loader';
import { assemble, trainStep, type Batch } from '../lib/training/fit';
import { Adam } from '../lib/training/optim';
import type { NormalExample, Student } from '../lib/training/student';
import { AdapterStudent, type MatmulFn } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { mulberry32 } from '../lib/training/rng';
import { measure, randomFloats, type BenchRow, type Suite } from './harness';

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function row(name: string, be: string, ms: number, batch: number, baseMs: number, extra?: Record<string, unknown>): BenchRow {
  return {
    suite: 'train', case: name, backend: be, median_ms: round(ms), throughput: round((batch / ms) * 1e3),
    unit: 'examples/s', speedup: round(baseMs / ms), baseline: 'js', extra,
  };
}

/** `count` batches of `batch` examples over random (D) vectors. */
function vectorBatches(D: number, batch: number, count: number): Batch<Float32Array>[] {
  const n = batch * count;
  const x = randomFloats(n * 3 * D, 1);
  const m = randomFloats(n, 2);
  const v = (i: number): Float32Array => x.subarray(i * D, (i + 1) * D);
  const data: NormalExample<Float32Array>[] = Array.from({ length: n }, (_, i) => ({
    query: v(3 * i), positive: v(3 * i + 1), negatives: [v(3 * i + 2)], margins: [m[i]],
  }));
  const order = Int32Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, b) => assemble(data, order, b * batch, (b + 1) * batch));
}

interface StepTime {
  /** Median wall time per step. */
  ms: number;
  /** Mean process CPU time per step (all threads): what a step costs on an idle machine. */
  cpuMs: number;
}

/** Median ms per training step, cycling through the batches, plus CPU time per step. */
async function stepMs<I>(s: Student<I>, batches: Batch<I>[], budgetMs: number, minReps = 3): Promise<StepTime> {
  const opt = new Adam({ name: 'AdamW', weightDecay: 0.01 });
  let i = 0;
  const c0 = process.cpuUsage();
  const ms = await measure(() => trainStep(s, batches[i++ % batches.length], opt, 1e-3, 'dot'), { budgetMs, minReps, warmup: 1 });
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1e3 / i };
}

function cpuExtra(t: StepTime, batch: number): Record<string, unknown> {
  return { cpu_ms_per_step: round(t.cpuMs), examples_per_cpu_s: Math.round((batch / t.cpuMs) * 1e3) };
}

async function adapterRows(quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  const D = quick ? 64 : 384;
  const B = quick ? 32 : 256;
  const batches = vectorBatches(D, B, 8);
  const native = backend();
  const rows: BenchRow[] = [];
  const variants: { name: string; rank: number; sides: 'query' | 'both'; js: boolean }[] = [
    { name: 'full rank, query side', rank: 0, sides: 'query', js: true },
    { name: 'full rank, both sides', rank: 0, sides: 'both', js: !quick },
    { name: 'rank 64, query side', rank: quick ? 8 : 64, sides: 'query', js: false },
  ];
  let jsFirst = NaN;
  for (const v of variants) {
    const name = `adapter d=${D} batch ${B}, ${v.name}`;
    const make = (matmul: MatmulFn) => new AdapterStudent({ dim: D, rank: v.rank, sides: v.sides, matmul });
    let jsMs = NaN;
    if (v.js) {
      const t = await stepMs(make(matmulRef), batches, quick ? 100 : 1500, 2);
      jsMs = t.ms;
      rows.push(row(name, 'js', jsMs, B, jsMs, cpuExtra(t, B)));
      if (Number.isNaN(jsFirst)) jsFirst = jsMs;
    }
    if (native.name !== 'js') {
      const t = await stepMs(make(matmulSync), batches, quick ? 200 : 2000, 5);
      const base = Number.isNaN(jsMs) ? jsFirst : jsMs;
      const extra = { ...cpuExtra(t, B), ...(Number.isNaN(jsMs) ? { baseline_case: 'full rank, query side (js)' } : {}) };
      rows.push(row(name, native.name, t.ms, B, base, extra));
    }
    log(`  ${name}: done`);
  }
  return rows;
}

/**
 * Runs fn with the training kernels (lib/kernels/train.ts: embedding bag, adamRows) on the
 * pure-TS references: SYNTHTUNE_BACKEND=js and a fresh backend choice, both restored after.
 */
async function withJsBackend<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.SYNTHTUNE_BACKEND;
  process.env.SYNTHTUNE_BACKEND = 'js';
  resetBackendForTests();
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.SYNTHTUNE_BACKEND;
    else process.env.SYNTHTUNE_BACKEND = saved;
    resetBackendForTests();
  }
}

/** Token ids of `n` texts of ~L tokens (L ± 50%), Zipf(1) over the vocabulary or uniform. */
function texts(n: number, L: number, V: number, zipf: boolean, seed: number): Int32Array[] {
  const rnd = mulberry32(seed);
  // Zipf(1) by inverse CDF over ranks: P(rank ≤ r) ≈ ln(r+1)/ln(V+1)
  const id = (): number => (zipf ? Math.min(V - 1, Math.floor(Math.exp(rnd() * Math.log(V + 1)) - 1)) : Math.floor(rnd() * V));
  return Array.from({ length: n }, () => {
    const len = Math.max(1, Math.round(L * (0.5 + rnd())));
    return Int32Array.from({ length: len }, id);
  });
}

async function staticRows(quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  const V = quick ? 2000 : 30522;
  const D = quick ? 32 : 256;
  const B = quick ? 32 : 256;
  const L = 40;
  const rows: BenchRow[] = [];
  const native = backend();
  const student = new StaticStudent({ vocabSize: V, dim: D, seed: 1 });
  for (const zipf of [true, false]) {
    const count = 8;
    const tx = texts(B * count * 3, L, V, zipf, zipf ? 3 : 4);
    const margins = randomFloats(B * count, 5);
    const data: NormalExample<Int32Array>[] = Array.from({ length: B * count }, (_, i) => ({
      query: tx[3 * i], positive: tx[3 * i + 1], negatives: [tx[3 * i + 2]], margins: [margins[i]],
    }));
    const order = Int32Array.from({ length: data.length }, (_, i) => i);
    const batches = Array.from({ length: count }, (_, b) => assemble(data, order, b * B, (b + 1) * B));
    const touched = new Set<number>();
    for (const q of [...batches[0].queries, ...batches[0].docs]) for (const x of q) touched.add(x);
    const name = `static V=${V} d=${D} batch ${B}, ~${L} tokens/text, ${zipf ? 'Zipf' : 'uniform'} ids`;
    const js = await withJsBackend(() => stepMs<ArrayLike<number>>(student, batches, quick ? 200 : 2000, 5));
    rows.push(row(name, 'js', js.ms, B, js.ms, { rows_touched_per_step: touched.size, ...cpuExtra(js, B) }));
    if (native.name !== 'js') {
      const t = await stepMs<ArrayLike<number>>(student, batches, quick ? 200 : 2000, 5);
      rows.push(row(name, native.name, t.ms, B, js.ms, { rows_touched_per_step: touched.size, ...cpuExtra(t, B) }));
    }
    log(`  ${name}: done`);
  }
  return rows;
}

export const suite: Suite = {
  name: 'train',
  description: 'training throughput (examples/s): adapter on cached embeddings (native GEMM vs pure-TS) and static embedding bag',
  async run({ quick, log }) {
    return [...(await adapterRows(quick, log)), ...(await staticRows(quick, log))];
  },
};
