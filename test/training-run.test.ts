/**
 * fitRun(): train.jsonl + a tiny seeded encoder / tokenizer + a tiny BEIR folder → a run folder
 * with metrics.json (before/after keyed `<metric>@<k>`) and an exported model folder that
 * loadEncoder opens. Adapter and static methods; no downloads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { writeTinyModel } from '../lib/models/tiny';
import { fitRun } from '../lib/training/run';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-fitrun-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TOPICS = ['vaccine infection risk', 'protein folding structure', 'quick brown fox', 'embedding vectors queries', 'clinical trials safety', 'gene expression cells'];
const DOCS = TOPICS.flatMap((t, i) => [`${t} study number ${i}`, `${t} review and notes`]);
const QUERIES = TOPICS.map((t) => `what about ${t.split(' ')[0]}`);

function writeBeir(dir: string): void {
  fs.mkdirSync(path.join(dir, 'qrels'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'corpus.jsonl'), DOCS.map((text, i) => JSON.stringify({ _id: `d${i}`, title: '', text })).join('\n'));
  fs.writeFileSync(path.join(dir, 'queries.jsonl'), QUERIES.map((text, i) => JSON.stringify({ _id: `q${i}`, text })).join('\n'));
  fs.writeFileSync(path.join(dir, 'qrels', 'test.tsv'), ['query-id\tcorpus-id\tscore', ...QUERIES.map((_, i) => `q${i}\td${2 * i}\t1`)].join('\n'));
}

function writeTrain(file: string): void {
  const lines: string[] = [];
  QUERIES.forEach((q, i) => {
    for (let j = 0; j < TOPICS.length; j++) {
      if (j === i) continue;
      lines.push(JSON.stringify({ query: q, positive: DOCS[2 * i], negative: DOCS[2 * j + 1], margin: 2 + 0.1 * j }));
    }
  });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

describe('fitRun', () => {
  const beir = path.join(root, 'beir');
  const train = path.join(root, 'train.jsonl');
  writeBeir(beir);
  writeTrain(train);
  const base = writeTinyModel(path.join(root, 'base'), { seed: 3, std: 0.2, texts: [...DOCS, ...QUERIES] }).dir;

  for (const method of ['adapter', 'static'] as const) {
    it(`${method}: trains, evaluates before/after and exports a loadable model`, async () => {
      const out = path.join(root, `run-${method}`);
      const r = await fitRun({
        train, method, model: base, dim: 16, epochs: 3, batchSize: 8, learningRate: 1e-2, seed: 1,
        evalData: beir, evalKs: [1, 10], evalMetrics: ['ndcg', 'recall'], out, log: null,
      });
      expect(r.status).toBe('finished');
      expect(r.examples).toBe(30);
      const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
      expect(Object.keys(metrics.before).sort()).toEqual(['ndcg@1', 'ndcg@10', 'recall@1', 'recall@10']);
      expect(Object.keys(metrics.after).sort()).toEqual(Object.keys(metrics.before).sort());
      expect(r.epochLosses[2]).toBeLessThan(r.epochLosses[0]);
      const enc = await loadEncoder(r.modelDir, { threads: 1 });
      expect(enc.dim).toBe(method === 'adapter' ? 32 : 16);
      await enc.release();
      expect(r.documentModel).toBe(path.resolve(r.modelDir));
    });
  }
});
