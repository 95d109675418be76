/**
 * End to end for `method: 'full'` on a generated small BERT (2 layers, hidden 64, 4 heads) and a
 * tiny BEIR folder: synthesize (BM25 miner and teacher) → fitRun method full (import with the
 * acceptance check, 2 epochs) → exported model folder → lib/evaluation's evaluator through
 * loadEncoder. The exported model's embeddings under onnxruntime equal the in-process student's
 * (≤ 1e-4), its metrics equal fitRun's "after" metrics, and the training loss went down.
 * Also `synthtune fit --method full` through the CLI, and its argument errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBeir } from '../lib/data/beir';
import { evaluate } from '../lib/evaluation';
import { loadEncoder } from '../lib/models/encoder';
import { writeTinyModel } from '../lib/models/tiny';
import { synthesize } from '../lib/synthesis';
import type { Callback } from '../lib/training/callbacks';
import { fitRun } from '../lib/training/run';
import { FullStudent, nativeBertAvailable } from '../lib/training/students/full';
import { runCli } from './helpers/cli';
import { DOCS, QUERIES, writeTinyBeir } from './helpers/tiny-beir';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`full end-to-end tests skipped: ${avail.reason}`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-full-e2e-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const beir = writeTinyBeir(path.join(root, 'beir'));

const base = writeTinyModel(path.join(root, 'base'), {
  seed: 9, texts: [...DOCS, ...QUERIES], vocabSize: 400,
  shape: { hidden: 64, layers: 2, heads: 4, intermediate: 128, maxPosition: 64 },
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const cli = (args: string[]) => runCli('fit', args);

describe.runIf(avail.ok)("method 'full' end to end", () => {
  const runDir = path.join(root, 'synth');

  it('synthesize → fit (full) → export → evaluate the exported folder', async () => {
    const t0 = performance.now();
    const data = await readBeir(beir);
    const run = await synthesize({ queries: data.queries, corpus: data.corpus, miner: 'bm25', scorer: 'bm25', numRelations: 4, out: runDir });
    const st = await run.wait();
    expect(st.status).toBe('FINISHED');
    const tSynth = performance.now();

    let trained: FullStudent | null = null;
    const grab: Callback = { name: 'grab', onTrainEnd: (ctx) => { trained = ctx.student as FullStudent; } };
    const out = path.join(root, 'fit');
    const r = await fitRun({
      train: runDir, method: 'full', model: base.dir, epochs: 2, batchSize: 8, learningRate: 2e-3, seed: 1,
      score: 'cosine', marginScale: 0.05, evalData: beir, evalKs: [1, 10], evalMetrics: ['ndcg', 'recall'],
      out, log: null, callbacks: [grab], threads: 2,
    });
    const tFit = performance.now();
    expect(r.status).toBe('finished');
    expect(r.examples).toBe(QUERIES.length * 3);
    console.log(`epoch losses ${r.epochLosses.map((x) => x.toExponential(3)).join(' → ')}; steps ${r.steps}`);
    console.log(`before ${JSON.stringify(r.before)}\nafter  ${JSON.stringify(r.after)}`);
    expect(r.epochLosses[1]).toBeLessThan(r.epochLosses[0]);
    const firstSteps = r.stepLosses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const lastSteps = r.stepLosses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(lastSteps).toBeLessThan(firstSteps);

    // the exported folder: tokenizer, config, ONNX, pooling
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'onnx/model.onnx', '1_Pooling/config.json', 'sentence_bert_config.json']) {
      expect(fs.existsSync(path.join(r.modelDir, f)), f).toBe(true);
    }
    const enc = await loadEncoder(r.modelDir, { threads: 1 });
    try {
      expect(enc.dim).toBe(64);
      // onnxruntime on the export == the in-process student
      const texts = [...QUERIES.slice(0, 4), ...DOCS.slice(0, 6)];
      const ort = await enc.encode(texts);
      const student = trained as unknown as FullStudent;
      const native = await student.encode(texts.map((t) => enc.tokenizer.encode(t).ids), 'query');
      const d = maxAbsDiff(ort, native);
      console.log(`exported (onnxruntime) vs in-process student: max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      // and it changed: the base model's embeddings differ
      const baseEnc = await loadEncoder(base.dir, { threads: 1 });
      const before = await baseEnc.encode(texts);
      await baseEnc.release();
      expect(maxAbsDiff(before, ort)).toBeGreaterThan(1e-3);

      // lib/evaluation's evaluator on the exported folder reproduces fitRun's "after" metrics
      const ev = await evaluate({ encoder: enc, queries: data.queries, corpus: data.corpus, qrels: data.qrels, ks: [1, 10], metrics: ['ndcg', 'recall'], normalize: true });
      for (const k of ['ndcg@1', 'ndcg@10', 'recall@10']) expect(ev.mean[k], k).toBeCloseTo(r.after![k], 4);
    } finally {
      await enc.release();
    }
    const total = (performance.now() - t0) / 1000;
    console.log(`synthesis ${((tSynth - t0) / 1000).toFixed(2)}s, fit ${((tFit - tSynth) / 1000).toFixed(2)}s, total ${total.toFixed(2)}s`);
    expect(total).toBeLessThan(30);
  });

  it('synthtune fit --method full (CLI) and its argument errors', async () => {
    const out = path.join(root, 'cli');
    const r = await cli(['--train', runDir, '--method', 'full', '--model', base.dir, '--epochs', '1', '--batch-size', '8', '--lr', '0.002',
      '--score', 'cosine', '--margin-scale', '0.05', '--max-length', '32', '--threads', '2', '--eval-data', beir, '--k', '1,10', '--out', out]);
    expect(r.err).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/native vs onnxruntime max abs diff/);
    expect(r.out).toMatch(/^finished: full student, 24 examples, 1 epoch\(s\), 3 steps/m);
    expect(r.out).toMatch(/^ndcg@10\s+before fine-tuning: \d\.\d{4}\s+after fine-tuning: \d\.\d{4}$/m);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'model', 'sentence_bert_config.json'), 'utf8')).max_seq_length).toBe(32);

    const bad = await cli(['--train', runDir, '--method', 'full', '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--method full needs --model/);
    const dim = await cli(['--train', runDir, '--method', 'full', '--model', base.dir, '--dim', '8', '--out', out]);
    expect(dim.code).toBe(2);
    expect(dim.err).toMatch(/--tokenizer and --dim are for --method static/);
    const ml = await cli(['--train', runDir, '--method', 'static', '--model', base.dir, '--max-length', '8', '--out', out]);
    expect(ml.code).toBe(2);
    expect(ml.err).toMatch(/--max-length and --threads are for --method full/);
    // a model whose weights do not reproduce its ONNX file: exit 2 naming the check
    const broken = path.join(root, 'broken');
    fs.cpSync(base.dir, broken, { recursive: true });
    const { encodeSafetensors } = await import('../lib/models/import');
    const w = new Map([...base.weights].map(([k, t]) => [k, { dims: t.dims, data: k.endsWith('value.weight') ? t.data.map((x) => -x) : t.data }]));
    fs.writeFileSync(path.join(broken, 'model.safetensors'), encodeSafetensors(w));
    const chk = await cli(['--train', runDir, '--method', 'full', '--model', broken, '--out', path.join(root, 'cli-broken'), '--restart']);
    expect(chk.code).toBe(2);
    expect(chk.err).toMatch(/import check failed/);
    expect(chk.err).toMatch(/encoder\.layer\.0\.attention\.self\.value\.weight/);
  });
});
