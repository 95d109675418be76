/**
 * Every loss through every student: the parameter gradients fit's step computes (the loss's
 * dLoss/dEmbedding of each group, backpropagated by the student) against central finite
 * differences of the loss in the student's parameters. Adapter (query-only and both sides), static
 * and, when the native core is built, the full transformer student; cosine and dot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomFloats } from '../bench/harness';
import { writeTinyModel } from '../lib/models/tiny';
import { importFullStudent } from '../lib/training/import-weights';
import { lossStep } from '../lib/training/fit';
import { Adam } from '../lib/training/optim';
import { lossByName, type LossName, type TrainItem } from '../lib/training/losses';
import type { Score } from '../lib/training/losses/similarity';
import type { Student } from '../lib/training/student';
import { AdapterStudent } from '../lib/training/students/adapter';
import { nativeBertAvailable } from '../lib/training/students/full';
import { StaticStudent } from '../lib/training/students/static';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-losses-students-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const LOSSES: LossName[] = ['MultipleNegativesRankingLoss', 'MultipleNegativesSymmetricRankingLoss', 'CoSENTLoss', 'CosineSimilarityLoss', 'SupConLoss'];

/** Six items of the loss's kind over the inputs x(0..11). */
function items<I>(loss: LossName, x: (i: number) => I): TrainItem<I>[] {
  const n = 6;
  return Array.from({ length: n }, (_, i) => {
    if (loss.startsWith('MultipleNegatives')) return { anchor: x(i), positive: x(n + i), group: i === 1 ? 0 : i };
    if (loss === 'SupConLoss') return { item: x(n + i), query: x(i), label: ['a', 'b', 'a', 'c', 'b', 'a'][i] };
    return { left: x(i), right: x(n + i), score: [0.9, 0.1, 0.5, 0.7, 0.3, 0.2][i] };
  });
}

/** The loss of the batch; with grads, through fit's own step (lossStep, at learning rate 0) so the parameter gradients are fit's. */
async function run<I>(student: Student<I>, data: TrainItem<I>[], name: LossName, score: Score, grads: boolean): Promise<number> {
  const loss = lossByName<I>(name, { scale: score === 'dot' ? 0.5 : 5 });
  const norm = data.map((d, i) => loss.normalize(d, i));
  const batch = loss.batch(norm, Int32Array.from(norm.keys()), 0, norm.length);
  if (grads) return lossStep(student, batch, new Adam({ name: 'Adam', weightDecay: 0 }), 0, score);
  const fw = [];
  for (const g of batch.groups) fw.push(await student.encode(g.inputs, g.side));
  return batch.compute(fw, student.dim, score, batch.groups.map(() => false)).loss;
}

/** Checks the largest analytic parameter gradients against central differences. */
async function check<I>(student: Student<I>, data: TrainItem<I>[], name: LossName, score: Score, h: number, tol: number): Promise<void> {
  await run(student, data, name, score, true);
  const picks: { p: number; k: number; g: number }[] = [];
  student.params().forEach((p, pi) => {
    const idx = Array.from(p.grad.keys()).sort((a, b) => Math.abs(p.grad[b]) - Math.abs(p.grad[a])).slice(0, 4);
    for (const k of idx) picks.push({ p: pi, k, g: p.grad[k] });
  });
  const big = picks.filter((x) => Math.abs(x.g) > 1e-4);
  expect(big.length).toBeGreaterThan(0);
  for (const { p, k, g } of big) {
    const param = student.params()[p];
    const v = param.data[k];
    param.data[k] = v + h;
    const up = await run(student, data, name, score, false);
    param.data[k] = v - h;
    const down = await run(student, data, name, score, false);
    param.data[k] = v;
    const num = (up - down) / (2 * h);
    expect(Math.abs(num - g), `${param.name}[${k}]: analytic ${g}, numeric ${num}`).toBeLessThan(tol * Math.max(Math.abs(g), 1e-2));
  }
}

const D = 8;
const vec = (i: number) => Float32Array.from(randomFloats(D, 100 + i));

describe.each(['cosine', 'dot'] as Score[])('losses through the students (%s)', (score) => {
  for (const name of LOSSES) {
    if (name === 'CosineSimilarityLoss' && score === 'dot') continue;
    it(`${name}: adapter (query only, both sides, low rank with bias)`, async () => {
      for (const opts of [{ sides: 'query' as const }, { sides: 'both' as const }, { sides: 'both' as const, rank: 3, bias: true, seed: 2 }]) {
        const s = new AdapterStudent({ dim: D, ...opts });
        // move away from the identity so every parameter matters
        for (const p of s.params()) for (let k = 0; k < p.data.length; k++) p.data[k] += 0.05 * Math.sin(k + 1);
        await check(s, items(name, vec), name, score, 1e-3, 2e-2);
      }
    });
    it(`${name}: static`, async () => {
      const s = new StaticStudent({ vocabSize: 30, dim: D, seed: 3 });
      const ids = (i: number) => Int32Array.of(1 + (i % 29), 1 + ((i * 7) % 29), 1 + ((i * 13 + 5) % 29));
      await check(s, items(name, ids), name, score, 1e-3, 2e-2);
    });
  }
});

const avail = nativeBertAvailable();
describe.runIf(avail.ok)('losses through the full student', () => {
  it('MultipleNegativesRankingLoss, CoSENTLoss and SupConLoss: parameter gradients match finite differences', async () => {
    const texts = ['rice dishes', 'chicken curry', 'pasta dishes', 'risotto', 'soups', 'minestrone', 'hello there', 'sorry', 'good morning', 'forgive me', 'the cat', 'a mat'];
    const base = writeTinyModel(path.join(root, 'full'), { seed: 4, texts, vocabSize: 200, shape: { hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPosition: 32 } });
    const { student, tokenizer } = await importFullStudent(base.dir, { threads: 1, device: 'cpu', check: false });
    const x = (i: number) => Int32Array.from(tokenizer.encode(texts[i]).ids);
    for (const name of ['MultipleNegativesRankingLoss', 'CoSENTLoss', 'SupConLoss'] as LossName[]) {
      await check(student, items(name, x), name, 'cosine', 3e-3, 5e-2);
    }
  });
});
