/**
 * fitRun method 'full' on a folder with a Dense module after pooling (the distiluse layout:
 * DistilBERT → mean pooling → Dense(tanh) → Normalize): the import check covers the transformer
 * and its pooling, training updates the Dense weights too, and the export declares the trained
 * Dense module, so loadEncoder gives the fine-tuned model's embeddings through onnxruntime and
 * through the native backend (model.safetensors only) alike.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { readModelFolder, writeSentenceTransformersFilesSync } from '../lib/models/st-folder';
import { writeTinyModel } from '../lib/models/tiny';
import { fitRun } from '../lib/training/run';
import { nativeBertAvailable } from '../lib/training/students/full';
import { maxAbsDiff, scratchDirs } from './helpers/models';
import { pythonMissing } from './helpers/python';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`full+dense fit test skipped: ${avail.reason}`);
const tmp = scratchDirs('synthtune-full-dense-');
const noPython = pythonMissing(['torch', 'transformers', 'sentence_transformers']);
if (noPython) console.log(`full+dense fit test: skipping the sentence-transformers load: ${noPython}`);

const TEXTS = ['vaccine infection risk', 'protein folding structure chains', 'quick brown fox jumps', 'embedding vectors for search', 'clinical trials and safety'];

describe.runIf(avail.ok)("method 'full' with a Dense module", () => {
  it('trains the transformer and the Dense module, and exports both', async () => {
    const root = await tmp();
    const base = writeTinyModel(path.join(root, 'base'), { seed: 12, std: 0.2, arch: 'distilbert', texts: TEXTS, vocabSize: 200 });
    fs.rmSync(path.join(base.dir, 'modules.json'));
    const H = base.config.hidden;
    const weight = Float32Array.from({ length: 16 * H }, (_, i) => Math.sin(i * 0.7) * 0.3);
    writeSentenceTransformersFilesSync(base.dir, { hidden: H, pooling: 'mean', dense: [{ inFeatures: H, outFeatures: 16, bias: true, activation: 'tanh', weight, biasData: new Float32Array(16).fill(0.05) }], normalize: true });
    const before = await loadEncoder(base.dir, { threads: 1 });
    const x0 = await before.encode(TEXTS);
    await before.release();
    expect(x0.length).toBe(TEXTS.length * 16);

    const train = path.join(root, 'train.jsonl');
    const rows = Array.from({ length: 24 }, (_, i) => ({ query: TEXTS[i % 5], positive: TEXTS[(i + 1) % 5], negative: TEXTS[(i + 3) % 5], margin: 0.3 + 0.01 * i }));
    fs.writeFileSync(train, rows.map((r) => JSON.stringify(r)).join('\n'));
    const lines: string[] = [];
    const res = await fitRun({ train, method: 'full', model: base.dir, out: path.join(root, 'out'), epochs: 2, batchSize: 8, learningRate: 1e-2, score: 'cosine', threads: 1, device: 'cpu', log: (l) => lines.push(l) });
    expect(lines.some((l) => /training 1 Dense module\(s\) after pooling \(32→16 tanh\), then Normalize/.test(l))).toBe(true);
    expect(res.epochLosses[1]).toBeLessThan(res.epochLosses[0]);

    const folder = readModelFolder(res.modelDir);
    expect(folder.moduleTypes).toEqual(['Transformer', 'Pooling', 'Dense', 'Normalize']);
    expect(maxAbsDiff(folder.dense[0].weight, weight)).toBeGreaterThan(1e-4); // the Dense module was trained
    const info = JSON.parse(fs.readFileSync(path.join(res.modelDir, 'synthtune.json'), 'utf8'));
    expect(info).toMatchObject({ kind: 'full+dense', dim: 16, dense: 1, normalize: true });

    const onnx = await loadEncoder(res.modelDir, { threads: 1 });
    const weightsOnly = path.join(root, 'weights-only');
    fs.cpSync(res.modelDir, weightsOnly, { recursive: true });
    fs.rmSync(path.join(weightsOnly, 'onnx'), { recursive: true });
    const native = await loadEncoder(weightsOnly, { threads: 1 });
    try {
      expect(onnx.dim).toBe(16);
      expect(native.backend).toBe('native');
      const a = await onnx.encode(TEXTS);
      const b = await native.encode(TEXTS);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
      expect(maxAbsDiff(a, x0)).toBeGreaterThan(1e-3); // fine-tuned
      if (noPython) return;
      // sentence-transformers loads the export as Transformer → Pooling → Dense → Normalize and computes the same
      const work = await tmp();
      fs.writeFileSync(path.join(work, 'texts.json'), JSON.stringify(TEXTS));
      const r = spawnSync('python3', [path.join(__dirname, 'python', 'load_export.py'), res.modelDir, path.join(work, 'texts.json'), path.join(work, 'out.json'), '--st'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(fs.readFileSync(path.join(work, 'out.json'), 'utf8')) as { st: number[][]; st_modules: string[] };
      expect(out.st_modules).toEqual(['Transformer', 'Pooling', 'Dense', 'Normalize']);
      const d = maxAbsDiff(Float32Array.from(out.st.flat()), a);
      console.log(`full+dense export: SentenceTransformer vs synthtune max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThan(1e-5);
    } finally {
      await onnx.release();
      await native.release();
    }
  });
});
