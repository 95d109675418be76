/**
 * Exported model folders load in transformers.js (`feature-extraction` pipeline, local files
 * only, no network) and give the in-process student's embeddings (max abs difference ≤ 1e-5).
 * Students: a static embedding bag, an adapter folded into a tiny BERT, and a full BERT trained
 * in the native core (mean pooling, not normalised: the pipeline pools last_hidden_state itself).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomFloats } from '../bench/harness';
import { loadEncoder } from '../lib/models/encoder';
import { writeTinyModel } from '../lib/models/tiny';
import { TextTokenizer } from '../lib/models/tokenizer';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { exportAdapter } from '../lib/training/export';
import { AdapterStudent } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { importFullStudent } from '../lib/training/import-weights';
import { nativeBertAvailable } from '../lib/training/students/full';
import { maxAbsDiff } from './helpers/compare';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-tfjs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TEXTS = ['Vaccines reduce the risk of infection.', 'Protein folding', 'A', 'The quick brown fox jumps over the lazy dog, twice over.'];

async function transformersPipeline(dir: string) {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  tf.env.localModelPath = path.dirname(dir);
  return tf.pipeline('feature-extraction', path.basename(dir), { local_files_only: true, dtype: 'fp32' });
}

async function embedWithTransformersJs(dir: string, dim: number): Promise<Float32Array> {
  const extractor = await transformersPipeline(dir);
  const out = new Float32Array(TEXTS.length * dim);
  // one text at a time: no padding differences to reason about
  for (let i = 0; i < TEXTS.length; i++) {
    const t = await extractor(TEXTS[i], { pooling: 'mean', normalize: false });
    out.set(t.data as Float32Array, i * dim);
  }
  await extractor.dispose();
  return out;
}

describe('transformers.js loads exported models', () => {
  it('static student', async () => {
    const tokDir = path.join(root, 'tok');
    fs.mkdirSync(tokDir, { recursive: true });
    const tok = buildWordPieceTokenizer(TEXTS, { vocabSize: 200 });
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const tokenizer = new TextTokenizer(tok.tokenizerJson, tok.tokenizerConfig as Record<string, unknown>);
    const V = Math.max(...Object.values((tok.tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab)) + 1;
    const student = new StaticStudent({ vocabSize: V, dim: 16, seed: 4 });
    const want = await student.encode(TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids)), 'query');
    const dir = path.join(root, 'static-model');
    await student.exportArtifact(dir, { tokenizerDir: tokDir });
    const got = await embedWithTransformersJs(dir, 16);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
  });

  it('adapter folded into a BERT encoder', async () => {
    const base = writeTinyModel(path.join(root, 'base'), { seed: 6, std: 0.2 }).dir;
    const enc = await loadEncoder(base, { threads: 1 });
    const x = await enc.encode(TEXTS);
    await enc.release();
    const a = new AdapterStudent({ dim: 32, rank: 0, bias: true, sides: 'query' });
    a.params().forEach((p, i) => p.data.set(Array.from(randomFloats(p.data.length, 20 + i), (v) => 0.2 * v)));
    const want = a.apply(x, 'query');
    const dir = path.join(root, 'adapter-model');
    await exportAdapter(a, dir, { baseModelDir: base });
    const got = await embedWithTransformersJs(dir, 32);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
  });

  it.runIf(nativeBertAvailable().ok)('full BERT student (native core) exported through the ONNX builder', async () => {
    const base = writeTinyModel(path.join(root, 'full-base'), { seed: 8, std: 0.2 }).dir;
    const { student, tokenizer } = await importFullStudent(base, { threads: 1 });
    // move the weights away from the base model so the export is not the original file
    for (const p of student.params()) p.data.set(Array.from(p.data, (v, i) => v + 0.01 * Math.sin(i)));
    const want = await student.encode(TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids)), 'query');
    const dir = path.join(root, 'full-model');
    await student.exportArtifact(dir, { tokenizerDir: base });
    const got = await embedWithTransformersJs(dir, 32);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-4);
  });
});
