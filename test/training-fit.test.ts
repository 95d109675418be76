/**
 * fit(): a few steps lower the loss on a fixed batch (adapter, static); training learns a
 * synthetic teacher; determinism for a seed; resume after an abort or a crash gives the same
 * weights and step logs as an uninterrupted run; early stopping; best-model checkpoint; WiSE-FT;
 * run-folder files (logs.jsonl, status.json, metrics.json, student/).
 *
 * Synthetic teachers: for the adapter, the teacher's query map is a hidden A = I + noise and
 * margin = (A·q)·p − (A·q)·n; for the static student, a hidden token table T with mean pooling.
 */
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../bench/harness';
import {
  BestModelCheckpoint, EarlyStopping, EvaluationCallback, WiSEFTCallback, fit, trainStep, type Callback, type FitOptions,
} from '../lib/training';
import { Adam } from '../lib/training/optim';
import type { Example, NormalExample } from '../lib/training/student';
import { AdapterStudent } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { scratchDirs } from './helpers/models';
import { collectExamples } from '../lib/training/fit';

const tmp = scratchDirs('synthtune-fit-');

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const D = 16;
const A = (() => {
  const a = randomFloats(D * D, 77);
  for (let i = 0; i < a.length; i++) a[i] *= 0.4;
  for (let i = 0; i < D; i++) a[i * D + i] += 1;
  return a;
})();

function teacherQuery(q: Float32Array): Float32Array {
  const out = new Float32Array(D);
  for (let o = 0; o < D; o++) out[o] = dot(A.subarray(o * D, o * D + D), q);
  return out;
}

function adapterData(n: number, seed: number, negatives = 1): Example<Float32Array>[] {
  const x = randomFloats(n * (2 + negatives) * D, seed);
  const row = (i: number): Float32Array => x.subarray(i * D, (i + 1) * D);
  return Array.from({ length: n }, (_, i) => {
    const base = i * (2 + negatives);
    const q = row(base);
    const p = row(base + 1);
    const negs = Array.from({ length: negatives }, (_, j) => row(base + 2 + j));
    const tq = teacherQuery(q);
    return { query: q, positive: p, negatives: negs, margins: negs.map((nv) => dot(tq, p) - dot(tq, nv)) };
  });
}

const TRAIN = adapterData(200, 1, 2);
const HELD = adapterData(40, 2, 1);

/** recall@1 on held-out triples: does the student score the teacher's preferred document higher? */
async function evaluateAdapter(s: AdapterStudent): Promise<Record<string, number>> {
  let hits = 0;
  for (const e of HELD) {
    const q = s.apply(e.query, 'query');
    const better = dot(q, e.positive) - dot(q, e.negatives![0]) > 0;
    if (better === e.margins![0] > 0) hits++;
  }
  return { 'recall@1': hits / HELD.length, 'pairs@2': hits };
}

function baseOptions(outDir?: string): FitOptions<Float32Array> {
  return {
    student: new AdapterStudent({ dim: D, bias: true }),
    trainData: TRAIN,
    optimizer: 'AdamW',
    learningRate: 5e-2,
    weightDecay: 0.01,
    epochs: 4,
    batchSize: 32,
    scheduler: { warmup: 2, decay: 'cosine' },
    seed: 7,
    outDir,
    log: null,
  };
}

async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  return (await fsp.readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('training steps', () => {
  it('a few steps lower the loss on a fixed batch (adapter)', async () => {
    const s = new AdapterStudent({ dim: D, rank: 4 });
    const batch = await collectExamples(TRAIN.slice(0, 32));
    const opt = new Adam({ name: 'Adam' });
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) losses.push(await trainStep(s, toBatch(batch), opt, 2e-2, 'dot'));
    expect(losses[29]).toBeLessThan(0.3 * losses[0]);
  });

  it('a few steps lower the loss on a fixed batch (static, dot and cosine)', async () => {
    const V = 60;
    const teacher = new StaticStudent({ vocabSize: V, dim: 8, seed: 100 });
    const text = (seed: number): Int32Array => Int32Array.from(randomFloats(6, seed), (x) => Math.floor(((x + 1) / 2) * V));
    const rows: NormalExample<Int32Array>[] = [];
    for (let i = 0; i < 16; i++) {
      const [q, p, n] = [text(3 * i + 1), text(3 * i + 2), text(3 * i + 3)];
      const [eq, ep, en] = [await teacher.encode([q], 'query'), await teacher.encode([p], 'query'), await teacher.encode([n], 'query')];
      rows.push({ query: q, positive: p, negatives: [n], margins: [10 * (dot(eq, ep) - dot(eq, en))] });
    }
    for (const score of ['dot', 'cosine'] as const) {
      const s = new StaticStudent({ vocabSize: V, dim: 8, seed: 1 });
      const opt = new Adam({ name: 'AdamW', weightDecay: 0.01 });
      const margins = rows.map((r) => ({ ...r, margins: score === 'cosine' ? r.margins.map((m) => Math.tanh(m)) : r.margins }));
      const losses: number[] = [];
      for (let i = 0; i < 40; i++) losses.push(await trainStep(s, toBatch(margins), opt, 5e-2, score));
      expect(losses[39]).toBeLessThan(0.5 * losses[0]);
    }
  });
});

function toBatch<I>(rows: NormalExample<I>[]) {
  const owner: number[] = [];
  const margin: number[] = [];
  const negatives: I[] = [];
  rows.forEach((r, b) => r.negatives.forEach((n, j) => {
    negatives.push(n);
    owner.push(b);
    margin.push(r.margins[j]);
  }));
  return {
    queries: rows.map((r) => r.query),
    docs: [...rows.map((r) => r.positive), ...negatives],
    owner: Int32Array.from(owner),
    margin: Float64Array.from(margin),
  };
}

describe('fit()', () => {
  it('learns the teacher and writes the run folder', async () => {
    const dir = await tmp();
    const opts = baseOptions(dir);
    const ev = new EvaluationCallback({ evaluate: (s) => evaluateAdapter(s as AdapterStudent) });
    const lines: string[] = [];
    const r = await fit({ ...opts, epochs: 15, callbacks: [ev], log: (l) => lines.push(l) });
    expect(r.status).toBe('finished');
    expect(r.epochs).toBe(15);
    expect(r.steps).toBe(15 * Math.ceil(200 / 32));
    expect(r.epochLosses[14]).toBeLessThan(0.05 * r.epochLosses[0]);
    expect(r.after!['recall@1']).toBeGreaterThan(r.before!['recall@1']);
    expect(r.after!['recall@1']).toBeGreaterThanOrEqual(0.9);
    expect(lines.some((l) => /^recall@1: before fine-tuning: [\d.]+ after fine-tuning: [\d.]+$/.test(l))).toBe(true);

    const metrics = JSON.parse(await fsp.readFile(path.join(dir, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics.before)).toEqual(['recall@1', 'pairs@2']);
    expect(metrics.after['recall@1']).toBe(r.after!['recall@1']);
    const status = JSON.parse(await fsp.readFile(path.join(dir, 'status.json'), 'utf8'));
    expect(status).toMatchObject({ kind: 'fit', state: 'FINISHED', outcome: 'finished', step: r.steps, totalSteps: r.steps });
    const logs = await readJsonl(path.join(dir, 'logs.jsonl'));
    expect(logs.filter((l) => l.type === 'step').length).toBe(r.steps);
    expect(logs.filter((l) => l.type === 'epoch').length).toBe(15);
    expect(logs.filter((l) => l.type === 'eval').length).toBe(16);
    const files = await fsp.readdir(path.join(dir, 'student'));
    expect(files.sort()).toEqual(['student.json', 'weights.bin']);
    expect((await fsp.readdir(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);
  });

  it('is deterministic for a seed (and the seed matters)', async () => {
    const a = baseOptions();
    const b = baseOptions();
    const c = { ...baseOptions(), seed: 8 };
    const [ra, rb, rc] = [await fit(a), await fit(b), await fit(c)];
    expect(rb.stepLosses).toEqual(ra.stepLosses);
    expect(Array.from((b.student as AdapterStudent).matrix().w)).toEqual(Array.from((a.student as AdapterStudent).matrix().w));
    expect(rc.stepLosses).not.toEqual(ra.stepLosses);
  });

  it('accepts an async iterable and several negatives per query', async () => {
    async function* gen(): AsyncGenerator<Example<Float32Array>> {
      for (const e of TRAIN.slice(0, 64)) yield e;
    }
    const r = await fit({ ...baseOptions(), trainData: gen(), epochs: 1 });
    expect(r.steps).toBe(2);
  });

  it('resumes after an abort mid-epoch with the same result as an uninterrupted run', async () => {
    const whole = baseOptions(await tmp());
    const ref = await fit(whole);
    const dir = await tmp();
    const ctl = new AbortController();
    const aborter: Callback = { name: 'aborter', onStepEnd: (_c, s) => { if (s.step === 10) ctl.abort(); } };
    const first = await fit({ ...baseOptions(dir), callbacks: [aborter], signal: ctl.signal });
    expect(first.status).toBe('interrupted');
    expect(first.steps).toBe(10);
    const status = JSON.parse(await fsp.readFile(path.join(dir, 'status.json'), 'utf8'));
    expect(status).toMatchObject({ state: 'FAILED', outcome: 'interrupted' });
    const second = baseOptions(dir);
    const r = await fit(second);
    expect(r.status).toBe('finished');
    expect(r.resumedFrom).toEqual({ epoch: 1, step: 10 });
    expect(r.epochLosses).toEqual(ref.epochLosses);
    expect(Array.from((second.student as AdapterStudent).matrix().w)).toEqual(Array.from((whole.student as AdapterStudent).matrix().w));
    const steps = async (d: string) => (await readJsonl(path.join(d, 'logs.jsonl'))).filter((l) => l.type === 'step');
    expect(await steps(dir)).toEqual(await steps(whole.outDir!));
  });

  it('resumes after a crash from the last epoch checkpoint', async () => {
    const whole = baseOptions();
    await fit(whole);
    const dir = await tmp();
    let crashed = false;
    const crasher: Callback = {
      name: 'crasher',
      onStepEnd: (_c, s) => {
        if (s.step === 16 && !crashed) {
          crashed = true;
          throw new Error('simulated crash');
        }
      },
    };
    await expect(fit({ ...baseOptions(dir), callbacks: [crasher] })).rejects.toThrow(/simulated crash/);
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'status.json'), 'utf8')).state).toBe('FAILED');
    const again = baseOptions(dir);
    const r = await fit({ ...again, callbacks: [crasher] });
    expect(r.resumedFrom).toEqual({ epoch: 2, step: 14 });
    expect(Array.from((again.student as AdapterStudent).matrix().w)).toEqual(Array.from((whole.student as AdapterStudent).matrix().w));
    // another run's settings do not silently resume from this folder
    await expect(fit({ ...baseOptions(dir), seed: 9 })).rejects.toThrow(/resume: false/);
    const fresh = await fit({ ...baseOptions(dir), seed: 9, epochs: 1, resume: false });
    expect(fresh.resumedFrom).toBeNull();
  });

  it('stops early when the monitored metric stops improving, and keeps the best model', async () => {
    const dir = await tmp();
    const values = [0.5, 0.6, 0.6, 0.55, 0.61, 0.9];
    let calls = 0;
    const ev = new EvaluationCallback({ evaluate: () => ({ 'ndcg@10': values[Math.min(calls++, values.length - 1)] }) });
    const best = new BestModelCheckpoint({ monitor: 'ndcg@10' });
    const es = new EarlyStopping({ monitor: 'ndcg@10', patience: 2, minDelta: 0.005 });
    const r = await fit({ ...baseOptions(dir), epochs: 10, callbacks: [es, best, ev] });
    // before 0.5; epochs give 0.6 (best), 0.6, 0.55 → stop after the third epoch
    expect(r.status).toBe('stopped_early');
    expect(r.epochs).toBe(3);
    expect(r.stopReason).toMatch(/ndcg@10/);
    expect(best.bestEpoch).toBe(0);
    expect((await fsp.readdir(path.join(dir, 'best-model'))).sort()).toEqual(['student.json', 'weights.bin']);
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'status.json'), 'utf8')).outcome).toBe('stopped_early');
    // loss as the monitor: a steadily decreasing loss never stops
    const r2 = await fit({ ...baseOptions(), callbacks: [new EarlyStopping({ patience: 1 })] });
    expect(r2.status).toBe('finished');
  });

  it('WiSE-FT interpolates trained and initial weights, and "after" is measured on the result', async () => {
    const plain = baseOptions();
    await fit(plain);
    const trained = (plain.student as AdapterStudent).state().tensors;
    const wise = baseOptions(await tmp());
    const ev = new EvaluationCallback({ evaluate: (s) => evaluateAdapter(s as AdapterStudent) });
    const r = await fit({ ...wise, callbacks: [new WiSEFTCallback({ alpha: 0.3 }), ev] });
    const got = (wise.student as AdapterStudent).state().tensors;
    for (const name of ['delta', 'bias']) {
      for (let i = 0; i < got[name].length; i++) expect(got[name][i]).toBeCloseTo(0.3 * trained[name][i], 6);
    }
    expect(r.after).toEqual(await evaluateAdapter(wise.student as AdapterStudent));
  });
});

describe('retrievalEvaluator', () => {
  it('scores a student with the evaluation stage and caches frozen documents', async () => {
    const { retrievalEvaluator } = await import('../lib/training/evaluation');
    // 2-d toy: query i is closest to doc i
    const docs = [Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(-1, 0)];
    const queries = [Float32Array.of(0.9, 0.1), Float32Array.of(0.1, 0.9)];
    const qrels = new Map([['q0', new Map([['d0', 1]])], ['q1', new Map([['d2', 1]])]]);
    const ev = retrievalEvaluator({ queries, queryIds: ['q0', 'q1'], documents: docs, docIds: ['d0', 'd1', 'd2'], qrels, ks: [1, 3], metrics: ['recall', 'ndcg'] });
    const s = new AdapterStudent({ dim: 2 });
    let docCalls = 0;
    const encode = s.encode.bind(s);
    s.encode = async (x, side) => {
      if (side === 'document') docCalls++;
      return encode(x, side);
    };
    const m = await ev(s);
    expect(m['recall@1']).toBe(0.5);
    expect(m['recall@3']).toBe(1);
    // rotate queries by 90°: q1 (0.1, 0.9) → (−0.9, 0.1) finds d2
    s.params()[0].data.set([-1, -1, 1, -1]); // W = I + Δ = [[0, −1], [1, 0]]
    const m2 = await ev(s);
    expect(m2['recall@1']).toBe(0.5);
    expect(docCalls).toBe(1);
  });
});
