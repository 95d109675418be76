/**
 * synthesize() on the project's tiny generated ONNX models (lib/models/tiny.ts): a bi-encoder
 * folder as miner and a cross-encoder folder as teacher, given by path like a user would. Checks
 * the example count, that positives are the exact top-1 under the miner (recomputed here with
 * loadEncoder and brute force), and that margins equal cross-encoder scores recomputed pair by
 * pair; and that config.json identifies both models by content hash.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCrossEncoder, loadEncoder, writeTinyModel } from '../lib/models';
import { synthesize } from '../lib/synthesis';
import type { Example } from '../lib/synthesis/types';
import { syntheticData } from './synthesis-fakes';

let tmp: string;
let biDir: string;
let ceDir: string;
const data = syntheticData(12, 40, 3);
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-models-'));
  const texts = [...data.corpus, ...data.queries].map((d) => d.text);
  biDir = writeTinyModel(path.join(tmp, 'bi'), { kind: 'bi-encoder', texts, seed: 1, stPooling: 'mean' }).dir;
  ceDir = writeTinyModel(path.join(tmp, 'ce'), { kind: 'cross-encoder', texts, seed: 2 }).dir;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('synthesize with tiny ONNX models', () => {
  it('count, exact top-1 positives, margins = recomputed cross-encoder scores', async () => {
    const run = await synthesize({ ...data, miner: biDir, scorer: ceDir, numRelations: 4, out: path.join(tmp, 'run'), modelOptions: { threads: 1 } });
    await run.wait();
    const examples: Example[] = fs.readFileSync(run.trainData, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(examples.length).toBe(12 * 3);

    const enc = await loadEncoder(biDir, { threads: 1 });
    const ce = await loadCrossEncoder(ceDir, { threads: 1 });
    try {
      const dv = await enc.encode(data.corpus.map((d) => d.text), { normalize: true });
      const qv = await enc.encode(data.queries.map((q) => q.text), { normalize: true });
      for (const [qi, q] of data.queries.entries()) {
        let best = -1;
        let bestS = -Infinity;
        for (let d = 0; d < data.corpus.length; d++) {
          let s = 0;
          for (let j = 0; j < enc.dim; j++) s += qv[qi * enc.dim + j] * dv[d * enc.dim + j];
          if (s > bestS) [best, bestS] = [d, s];
        }
        const mine = examples.filter((e) => e.qid === q.id);
        expect(mine.every((e) => e.posId === data.corpus[best].id)).toBe(true);
        for (const e of mine) {
          const [pos] = await ce.score([[e.query, e.positive]]);
          const [neg] = await ce.score([[e.query, e.negative]]);
          expect(Math.abs(e.posScore - pos)).toBeLessThan(1e-4);
          expect(Math.abs(e.margin - (pos - neg))).toBeLessThan(2e-4);
        }
      }
    } finally {
      await enc.release();
      await ce.release();
    }
    const cfg = (await run.config()) as { models: { miners: string[]; scorer: string } };
    expect(cfg.models.miners[0]).toMatch(/#sha256:[0-9a-f]{16}$/);
    expect(cfg.models.scorer).toMatch(/#sha256:[0-9a-f]{16}$/);
  });
});
