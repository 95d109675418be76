/**
 * Exported model folders load in transformers.js (local files only, no network) and give the
 * in-process student's embeddings (max abs difference ≤ 1e-5): the `feature-extraction` pipeline
 * for the static and full students (mean pooling, not normalised: the pipeline pools
 * last_hidden_state itself), and the graph's sentence_embedding output through AutoModel for the
 * adapter (the adapter is a sentence-transformers Dense module after pooling, which the pipeline
 * does not apply). The int8 graphs (onnx/model_quantized.onnx, dtype 'q8', transformers.js's
 * default on some devices) load too and follow the float32 ones.
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
import { agreement } from '../lib/models/onnx/quantize';
import { exportAdapter, exportFullSafetensors } from '../lib/training/export';
import { AdapterStudent } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { importFullStudent } from '../lib/training/import-weights';
import { nativeBertAvailable } from '../lib/training/students/full';
import { maxAbsDiff } from './helpers/compare';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-tfjs-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TEXTS = ['Vaccines reduce the risk of infection.', 'Protein folding', 'A', 'The quick brown fox jumps over the lazy dog, twice over.'];

type Dtype = 'fp32' | 'q8';

async function transformersJs(dir: string) {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  tf.env.localModelPath = path.dirname(dir);
  return tf;
}

async function transformersPipeline(dir: string, dtype: Dtype = 'fp32') {
  const tf = await transformersJs(dir);
  return tf.pipeline('feature-extraction', path.basename(dir), { local_files_only: true, dtype });
}

async function embedWithTransformersJs(dir: string, dim: number, dtype: Dtype = 'fp32'): Promise<Float32Array> {
  const extractor = await transformersPipeline(dir, dtype);
  const out = new Float32Array(TEXTS.length * dim);
  // one text at a time: no padding differences to reason about
  for (let i = 0; i < TEXTS.length; i++) {
    const t = await extractor(TEXTS[i], { pooling: 'mean', normalize: false });
    out.set(t.data as Float32Array, i * dim);
  }
  await extractor.dispose();
  return out;
}

/** The graph's sentence_embedding output, one text at a time, through AutoTokenizer + AutoModel. */
async function sentenceEmbeddings(dir: string, dim: number, dtype: Dtype, output = 'sentence_embedding'): Promise<Float32Array> {
  const tf = await transformersJs(dir);
  const tokenizer = await tf.AutoTokenizer.from_pretrained(path.basename(dir), { local_files_only: true });
  const model = await tf.AutoModel.from_pretrained(path.basename(dir), { local_files_only: true, dtype });
  const out = new Float32Array(TEXTS.length * dim);
  for (let i = 0; i < TEXTS.length; i++) {
    const res = await model(tokenizer(TEXTS[i]));
    out.set(res[output].data as Float32Array, i * dim);
  }
  await model.dispose();
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

  it('adapter on a BERT encoder: the graph query_embedding (query-only) through AutoModel; int8 graph', async () => {
    const base = writeTinyModel(path.join(root, 'base'), { seed: 6, std: 0.2 }).dir;
    const enc = await loadEncoder(base, { threads: 1 });
    const x = await enc.encode(TEXTS);
    await enc.release();
    const a = new AdapterStudent({ dim: 32, rank: 0, bias: true, sides: 'query' });
    a.params().forEach((p, i) => p.data.set(Array.from(randomFloats(p.data.length, 20 + i), (v) => 0.2 * v)));
    const want = a.apply(x, 'query');
    const dir = path.join(root, 'adapter-model');
    await exportAdapter(a, dir, { baseModelDir: base });
    // a query-only adapter: the graph's adapted output is named for its side
    const got = await sentenceEmbeddings(dir, 32, 'fp32', 'query_embedding');
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
    // the pipeline pools last_hidden_state, the base transformer's: it gives the base embeddings
    expect(maxAbsDiff(await embedWithTransformersJs(dir, 32), x)).toBeLessThanOrEqual(1e-5);
    const q8 = agreement(await sentenceEmbeddings(dir, 32, 'q8', 'query_embedding'), want, 32);
    console.log(`adapter export in transformers.js, q8 vs the student: min cosine ${q8.minCosine.toFixed(5)}, max abs ${q8.maxAbsDiff.toExponential(2)}`);
    expect(q8.minCosine).toBeGreaterThan(0.99);
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
    // the int8 graph written beside it (exportFullSafetensors), which transformers.js loads as dtype 'q8'
    await exportFullSafetensors(student, dir, { sourceDir: base });
    const q8 = agreement(await embedWithTransformersJs(dir, 32, 'q8'), want, 32);
    console.log(`full export in transformers.js, q8 vs the student: min cosine ${q8.minCosine.toFixed(5)}, max abs ${q8.maxAbsDiff.toExponential(2)}`);
    expect(q8.minCosine).toBeGreaterThan(0.99);
  });
});
