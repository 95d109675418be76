/**
 * fit() with the full (native BERT) student: the native Adam moments travel in checkpoint.bin
 * (as the optimizer's `opt.<name>.m/.v` tensors), so a run interrupted mid-epoch — or crashed —
 * and resumed ends with bit-identical weights and step logs to an uninterrupted run; without the
 * moments it would not (checked by zeroing them in the checkpoint). A fresh optimizer on a student
 * trained before starts from zero moments.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights } from '../lib/models/tiny';
import { fit, type Callback, type FitOptions } from '../lib/training';
import { readTensorFile, writeTensorFile } from '../lib/training/io';
import { mulberry32 } from '../lib/training/rng';
import type { Example } from '../lib/training/student';
import { scratchDirs } from './helpers/models';
import { FullStudent, nativeBertAvailable, nativeConfigFrom } from '../lib/training/students/full';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`full fit tests skipped: ${avail.reason}`);

const tmp = scratchDirs('synthtune-full-fit-');

const SHAPE: BertConfig = { vocabSize: 80, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 24, typeVocabSize: 2, layerNormEps: 1e-12 };
const WEIGHTS = randomBertWeights(SHAPE, { seed: 21, std: 0.1 });

function data(n: number): Example<Int32Array>[] {
  const rnd = mulberry32(5);
  const text = () => Int32Array.from({ length: 3 + Math.floor(rnd() * 8) }, (_, i) => (i === 0 ? 1 : 2 + Math.floor(rnd() * 77)));
  return Array.from({ length: n }, () => ({ query: text(), positive: text(), negative: text(), margin: rnd() * 0.4 - 0.1 }));
}
const TRAIN = data(24);

function student(): FullStudent {
  return new FullStudent({ config: nativeConfigFrom(SHAPE, { pooling: 'mean', normalize: false, threads: 2 }), weights: WEIGHTS });
}

function options(outDir?: string): FitOptions<Int32Array> {
  return {
    student: student(), trainData: TRAIN, optimizer: 'AdamW', learningRate: 3e-3, weightDecay: 0.01, epochs: 2, batchSize: 5,
    scheduler: { warmup: 2, decay: 'linear' }, seed: 3, score: 'cosine', outDir, log: null,
  };
}

async function stepLogs(dir: string): Promise<unknown[]> {
  return (await fsp.readFile(path.join(dir, 'logs.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
}

describe.runIf(avail.ok)('fit with the full student', () => {
  it('resumes after an abort mid-epoch exactly (native Adam moments in the checkpoint)', async () => {
    const whole = options(await tmp());
    const ref = await fit(whole);
    expect(ref.steps).toBe(10);
    expect(ref.epochLosses[1]).toBeLessThan(ref.epochLosses[0]);

    const dir = await tmp();
    const ctl = new AbortController();
    const aborter: Callback = { name: 'aborter', onStepEnd: (_c, s) => { if (s.step === 3) ctl.abort(); } };
    const first = await fit({ ...options(dir), callbacks: [aborter], signal: ctl.signal });
    expect(first.status).toBe('interrupted');
    expect(first.steps).toBe(3);
    const ck = await readTensorFile(path.join(dir, 'checkpoint.bin'));
    const m = ck.tensors['opt.encoder.layer.1.attention.self.query.weight.m'];
    const v = ck.tensors['opt.embeddings.word_embeddings.weight.v'];
    expect(m?.length).toBe(32 * 32);
    expect(v?.length).toBe(80 * 32);
    expect(m.some((x) => x !== 0)).toBe(true);

    const second = options(dir);
    const r = await fit(second);
    expect(r.resumedFrom).toEqual({ epoch: 0, step: 3 });
    expect(r.epochLosses).toEqual(ref.epochLosses);
    expect(Array.from((second.student as FullStudent).flatParams)).toEqual(Array.from((whole.student as FullStudent).flatParams));
    expect(await stepLogs(dir)).toEqual(await stepLogs(whole.outDir!));
  });

  it('resumes after a crash from the epoch checkpoint; without the moments the result would differ', async () => {
    const whole = options();
    await fit(whole);
    const wholeParams = Array.from((whole.student as FullStudent).flatParams);
    const crashAt = (dir: string) => {
      let crashed = false;
      const crasher: Callback = { name: 'crasher', onStepEnd: (_c, s) => { if (s.step === 7 && !crashed) { crashed = true; throw new Error('simulated crash'); } } };
      return fit({ ...options(dir), callbacks: [crasher] });
    };
    const dir = await tmp();
    await expect(crashAt(dir)).rejects.toThrow(/simulated crash/);
    const again = options(dir);
    const r = await fit(again);
    expect(r.resumedFrom).toEqual({ epoch: 1, step: 5 });
    expect(Array.from((again.student as FullStudent).flatParams)).toEqual(wholeParams);

    // the same checkpoint with its moments zeroed resumes to different weights
    const dir2 = await tmp();
    await expect(crashAt(dir2)).rejects.toThrow(/simulated crash/);
    const file = path.join(dir2, 'checkpoint.bin');
    const ck = await readTensorFile<Record<string, unknown>>(file);
    for (const [k, t] of Object.entries(ck.tensors)) if (k.startsWith('opt.')) t.fill(0);
    await writeTensorFile(file, ck);
    const zeroed = options(dir2);
    await fit(zeroed);
    expect(Array.from((zeroed.student as FullStudent).flatParams)).not.toEqual(wholeParams);
  });

  it('a fresh optimizer on an already trained student starts from zero moments', async () => {
    const a = options();
    await fit({ ...a, epochs: 1 });
    // continue training a with a new fit (new optimizer) vs a copy of its weights in a new student
    const b = options();
    b.student.load(a.student.state());
    await fit({ ...a, epochs: 1 });
    await fit({ ...b, epochs: 1 });
    expect(Array.from((a.student as FullStudent).flatParams)).toEqual(Array.from((b.student as FullStudent).flatParams));
  });
});
