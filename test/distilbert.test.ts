/**
 * DistilBERT support (lib/models/onnx/distilbert.ts): the same post-LN encoder as BERT without token
 * types, under DistilBERT names and config.json keys.
 *   (a) the ONNX builder writes DistilBERT graphs (HF DistilBERT initializer names, no
 *       token_type_ids) that onnxruntime runs like the pure-TS reference forward (≤ 1e-4);
 *   (b) import into the native encoder from the ONNX initializers (named, and anonymous with
 *       optimum-style node names) and from model.safetensors ('distilbert.' prefix, PyTorch
 *       [out, in]) passes the acceptance check (native vs onnxruntime ≤ 1e-4);
 *   (c) the native backward of a DistilBERT (no token types) matches central differences;
 *   (d) fitRun method 'full' on a tiny DistilBERT folder lowers the loss and exports a DistilBERT
 *       folder whose onnxruntime embeddings equal the student's (≤ 1e-4); an exported DistilBERT
 *       loads in transformers.js with the same embeddings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBeir } from '../lib/data/beir';
import { loadEncoder } from '../lib/models/encoder';
import { canonicalName, encodeSafetensors, roleFromNodeName } from '../lib/models/import';
import { bertConfigFromHf, buildBertOnnx, type BertConfig, type WeightMap } from '../lib/models/onnx/bert';
import { bertToDistilbertName, distilbertToBertName } from '../lib/models/onnx/distilbert';
import { decodeModel, encodeModel } from '../lib/models/onnx/proto';
import { loadOrtModel } from '../lib/models/ort';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights, writeTinyModel } from '../lib/models/tiny';
import { synthesize } from '../lib/synthesis';
import type { Callback } from '../lib/training/callbacks';
import { importFullStudent } from '../lib/training/import-weights';
import { fitRun } from '../lib/training/run';
import { createNativeBert, FullStudent, loadNativeWeights, nativeBertAvailable, nativeConfigFrom } from '../lib/training/students/full';
import { bertForward64 } from './helpers/bert-ref64';
import { maxAbsDiff, seededInts } from './helpers/models';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`native DistilBERT tests skipped: ${avail.reason}`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-distilbert-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const SHAPE: BertConfig = {
  arch: 'distilbert', vocabSize: 60, hidden: 32, layers: 2, heads: 4, intermediate: 48, maxPosition: 32, typeVocabSize: 0, layerNormEps: 1e-12,
};

/** Internal (BERT-named) weights → DistilBERT names, with an optional prefix. */
function distilNamed(w: WeightMap, prefix = ''): WeightMap {
  return new Map([...w].map(([k, t]) => [prefix + bertToDistilbertName(k), t]));
}

function paddedBatch(seed: number, lengths: number[], S: number, vocab: number) {
  const rnd = seededInts(seed);
  const inputIds = lengths.map((len) => Array.from({ length: S }, (_, s) => (s < len ? rnd(1, vocab) : 0)));
  const attentionMask = lengths.map((len) => Array.from({ length: S }, (_, s) => (s < len ? 1 : 0)));
  return { inputIds, attentionMask };
}

describe('DistilBERT names, config and ONNX builder', () => {
  it('maps names and config.json keys both ways', () => {
    expect(bertToDistilbertName('encoder.layer.3.attention.self.query.weight')).toBe('transformer.layer.3.attention.q_lin.weight');
    expect(bertToDistilbertName('encoder.layer.0.output.LayerNorm.bias')).toBe('transformer.layer.0.output_layer_norm.bias');
    expect(distilbertToBertName('transformer.layer.1.ffn.lin1.weight')).toBe('encoder.layer.1.intermediate.dense.weight');
    expect(canonicalName('distilbert.transformer.layer.1.sa_layer_norm.weight')).toBe('encoder.layer.1.attention.output.LayerNorm.weight');
    expect(canonicalName('distilbert.embeddings.LayerNorm.bias')).toBe('embeddings.LayerNorm.bias');
    expect(roleFromNodeName('/0/auto_model/transformer/layer.2/attention/out_lin/MatMul')).toBe('encoder.layer.2.attention.output.dense');
    expect(roleFromNodeName('/transformer/layer.0/ffn/lin2/MatMul')).toBe('encoder.layer.0.output.dense');
    const hf = { model_type: 'distilbert', vocab_size: 30522, dim: 768, n_layers: 6, n_heads: 12, hidden_dim: 3072, max_position_embeddings: 512, activation: 'gelu' };
    expect(bertConfigFromHf(hf)).toEqual({
      arch: 'distilbert', vocabSize: 30522, hidden: 768, layers: 6, heads: 12, intermediate: 3072, maxPosition: 512, typeVocabSize: 0, layerNormEps: 1e-12,
    });
    expect(() => bertConfigFromHf({ ...hf, activation: 'relu' })).toThrow(/activation 'relu'/);
  });

  it('writes a DistilBERT graph that onnxruntime runs like the reference forward (≤ 1e-4)', async () => {
    const config: BertConfig = { ...SHAPE, pooling: 'mean', normalize: true };
    const weights = distilNamed(randomBertWeights(config, { seed: 3, std: 0.2 }));
    const bytes = buildBertOnnx(config, weights);
    const inits = decodeModel(bytes).graph.initializer.map((t) => t.name);
    expect(inits).toContain('transformer.layer.1.attention.q_lin.weight');
    expect(inits).toContain('transformer.layer.0.output_layer_norm.bias');
    expect(inits.filter((n) => n.startsWith('encoder.') || n.includes('token_type'))).toEqual([]);
    const file = path.join(root, 'builder.onnx');
    fs.writeFileSync(file, bytes);
    const model = await loadOrtModel(file, { requiredInputs: ['input_ids', 'attention_mask'], anyOutput: ['last_hidden_state'] }, { threads: 1 });
    try {
      expect(model.inputNames).toEqual(['input_ids', 'attention_mask']);
      const batch = paddedBatch(7, [9, 4, 1], 9, SHAPE.vocabSize);
      const t = (rows: number[][]) => ({ data: BigInt64Array.from(rows.flat().map(BigInt)), dims: [3, 9] });
      const out = await model.run({ input_ids: t(batch.inputIds), attention_mask: t(batch.attentionMask), token_type_ids: t(batch.attentionMask) });
      const ref = bertForwardRef(config, weights, batch);
      const dh = maxAbsDiff(out.last_hidden_state.data as Float32Array, ref.lastHiddenState);
      const ds = maxAbsDiff(out.sentence_embedding.data as Float32Array, ref.sentenceEmbedding!);
      console.log(`distilbert builder vs reference: last_hidden_state ${dh.toExponential(2)}, sentence_embedding ${ds.toExponential(2)}`);
      expect(dh).toBeLessThanOrEqual(1e-4);
      expect(ds).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.release();
    }
  });

  it('writes DistilBERT model folders (config.json keys, no token types)', () => {
    const { dir } = writeTinyModel(path.join(root, 'folder'), { arch: 'distilbert', seed: 1, shape: { hidden: 16, layers: 1, heads: 2, intermediate: 24 } });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model_type: 'distilbert', architectures: ['DistilBertModel'], dim: 16, n_layers: 1, n_heads: 2, hidden_dim: 24, activation: 'gelu' });
    expect(cfg.type_vocab_size).toBeUndefined();
  });
});

describe.runIf(avail.ok)('DistilBERT in the native encoder', () => {
  const base = writeTinyModel(path.join(root, 'base'), { arch: 'distilbert', seed: 5, std: 0.2, shape: { hidden: 32, layers: 2, heads: 4, intermediate: 48, maxPosition: 64 } });
  const onnxFile = (dir: string) => path.join(dir, 'onnx', 'model.onnx');
  const variant = (name: string) => {
    const dir = path.join(root, name);
    fs.cpSync(base.dir, dir, { recursive: true });
    return dir;
  };
  const expectSameWeights = (got: WeightMap) => {
    for (const [name, t] of base.weights) expect(got.get(name)?.data, name).toEqual(t.data);
  };

  it('imports from the ONNX initializers (DistilBERT names)', async () => {
    const r = await importFullStudent(base.dir, { source: 'onnx', threads: 1 });
    console.log(`distilbert onnx import: max abs diff ${r.check!.maxAbsDiff.toExponential(2)}`);
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(r.student.config.arch).toBe('distilbert');
    expect(r.student.config.typeVocabSize).toBe(0);
    expectSameWeights(r.weights.weights);
  });

  it('imports optimum-style anonymous MatMul weights (node names) and fully anonymous ones (graph position)', async () => {
    for (const mode of ['node-names', 'position'] as const) {
      const dir = variant(`anon-${mode}`);
      const m = decodeModel(new Uint8Array(fs.readFileSync(onnxFile(dir))));
      if (mode === 'node-names') {
        for (const node of m.graph.node) {
          const w = node.input[1];
          if (node.op_type === 'MatMul' && w?.startsWith('transformer.')) node.name = `/${w.replace(/\.weight$/, '').replace(/\./g, '/').replace(/layer\/(\d+)/, 'layer.$1')}/MatMul`;
        }
      }
      const rename = new Map<string, string>();
      m.graph.initializer.forEach((t, i) => {
        if (t.name.startsWith('transformer.') && (mode === 'position' || !t.name.includes('layer_norm'))) rename.set(t.name, `onnx::MatMul_${9000 - i}`);
      });
      for (const t of m.graph.initializer) t.name = rename.get(t.name) ?? t.name;
      for (const node of m.graph.node) node.input = node.input.map((x) => rename.get(x) ?? x);
      fs.writeFileSync(onnxFile(dir), encodeModel(m));
      const r = await importFullStudent(dir, { source: 'onnx', threads: 1 });
      console.log(`distilbert onnx import (${mode}): max abs diff ${r.check!.maxAbsDiff.toExponential(2)}`);
      expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      expectSameWeights(r.weights.weights);
      const how = r.weights.origin.get('encoder.layer.1.attention.self.key.weight');
      expect(how).toMatch(mode === 'position' ? /by graph position: layer 1, key/ : /by node name \/transformer\/layer\.1\/attention\/k_lin\/MatMul/);
    }
  });

  it("imports model.safetensors with a 'distilbert.' prefix in PyTorch [out, in] layout", async () => {
    const dir = variant('st');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(distilNamed(base.weights, 'distilbert.'), { format: 'pt' }));
    const r = await importFullStudent(dir, { threads: 1 });
    console.log(`distilbert safetensors import: max abs diff ${r.check!.maxAbsDiff.toExponential(2)}`);
    expect(r.weights.source).toBe('safetensors');
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expectSameWeights(r.weights.weights);
  });

  it('an exported DistilBERT loads in transformers.js and gives the student\'s embeddings (≤ 1e-4)', async () => {
    const { student, tokenizer } = await importFullStudent(base.dir, { threads: 1, pooling: 'mean', normalize: false });
    for (const p of student.params()) p.data.set(Array.from(p.data, (v, i) => v + 0.01 * Math.sin(i)));
    const texts = ['Vaccines reduce the risk of infection.', 'Protein folding', 'A'];
    const want = await student.encode(texts.map((t) => tokenizer.encode(t).ids), 'query');
    const dir = path.join(root, 'tfjs-export');
    await student.exportArtifact(dir, { tokenizerDir: base.dir });
    const tf = await import('@huggingface/transformers');
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    tf.env.localModelPath = root;
    const extractor = await tf.pipeline('feature-extraction', 'tfjs-export', { local_files_only: true, dtype: 'fp32' });
    const got = new Float32Array(want.length);
    for (let i = 0; i < texts.length; i++) got.set((await extractor(texts[i], { pooling: 'mean', normalize: false })).data as Float32Array, i * 32);
    await extractor.dispose();
    const d = maxAbsDiff(got, want);
    console.log(`distilbert export in transformers.js vs student: max abs diff ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
  });

  it('backward matches central differences (no token types, masked padded batch)', () => {
    const config = { ...SHAPE, vocabSize: 40, maxPosition: 8 };
    const weights = randomBertWeights(config, { seed: 13, std: 0.3 });
    const h = createNativeBert(nativeConfigFrom(config, { pooling: 'mean', normalize: true, threads: 1 }));
    loadNativeWeights(h, distilNamed(weights, 'distilbert.'));
    const lengths = [6, 3, 1];
    const T = 6;
    const batch = paddedBatch(17, lengths, T, config.vocabSize);
    const ids = Int32Array.from(batch.inputIds.flat());
    const mask = Int32Array.from(batch.attentionMask.flat());
    const out = h.forwardSync(ids, mask, null, lengths.length, T);
    const r = Float32Array.from({ length: out.length }, (_, i) => Math.sin(1 + i));
    h.zeroGrad();
    h.backwardSync(r);
    const grads = h.getGrads();
    const W = new Map([...weights].map(([k, t]) => [k, Float64Array.from(t.data)]));
    const cfg64 = { ...config, pooling: 'mean' as const, normalize: true };
    const loss = () => bertForward64(cfg64, W, ids, mask, null, lengths.length, T).reduce((a, v, i) => a + v * r[i], 0);
    const eps = 1e-5;
    const rnd = seededInts(29);
    let worst = 0;
    for (const t of h.layout()) {
      if (t.name.endsWith('attention.self.key.bias')) continue; // exact gradient 0 (softmax shift invariance)
      const g = grads.subarray(t.offset, t.offset + t.size);
      const gn = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
      expect(gn, t.name).toBeGreaterThan(0);
      const x = W.get(t.name)!;
      const x0 = x.slice();
      /** Central difference of the loss along u. */
      const fd = (u: ArrayLike<number>) => {
        for (let i = 0; i < x.length; i++) x[i] = x0[i] + eps * u[i];
        const lp = loss();
        for (let i = 0; i < x.length; i++) x[i] = x0[i] - eps * u[i];
        const lm = loss();
        x.set(x0);
        return (lp - lm) / (2 * eps);
      };
      // along the gradient (the derivative must be |g|), and along a random direction (relative to |g|·|u|)
      worst = Math.max(worst, Math.abs(fd(g.map((v) => v / gn)) - gn) / gn);
      const u = Float64Array.from({ length: t.size }, () => rnd(0, 2001) / 1000 - 1);
      const gu = u.reduce((a, v, i) => a + v * g[i], 0);
      worst = Math.max(worst, Math.abs(fd(u) - gu) / (gn * Math.sqrt(u.reduce((a, v) => a + v * v, 0))));
    }
    console.log(`distilbert backward: worst relative error (along the gradient and a random direction) ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3);
  });

  it("fitRun method 'full' on a tiny DistilBERT folder: loss decreases, export is a DistilBERT folder matching the student", async () => {
    const topics = ['vaccine infection risk immunity', 'protein folding structure chains', 'quick brown fox jumps', 'ocean tides moon gravity'];
    const docs = topics.flatMap((t, i) => [`${t} study ${i}`, `notes on ${t.split(' ')[2]} and ${t.split(' ')[0]}`]);
    const queries = topics.map((t) => `what about ${t.split(' ')[0]} ${t.split(' ')[2]}`);
    const beir = path.join(root, 'beir');
    fs.mkdirSync(path.join(beir, 'qrels'), { recursive: true });
    fs.writeFileSync(path.join(beir, 'corpus.jsonl'), docs.map((text, i) => JSON.stringify({ _id: `d${i}`, title: '', text })).join('\n'));
    fs.writeFileSync(path.join(beir, 'queries.jsonl'), queries.map((text, i) => JSON.stringify({ _id: `q${i}`, text })).join('\n'));
    fs.writeFileSync(path.join(beir, 'qrels', 'test.tsv'), ['query-id\tcorpus-id\tscore', ...queries.map((_, i) => `q${i}\td${2 * i}\t1`)].join('\n'));
    const model = writeTinyModel(path.join(root, 'fit-base'), {
      arch: 'distilbert', seed: 9, texts: [...docs, ...queries], vocabSize: 200, shape: { hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 64 },
    });
    const data = await readBeir(beir);
    const synth = path.join(root, 'synth');
    const run = await synthesize({ queries: data.queries, corpus: data.corpus, miner: 'bm25', scorer: 'bm25', numRelations: 3, out: synth });
    expect((await run.wait()).status).toBe('FINISHED');

    let trained: FullStudent | null = null;
    const grab: Callback = { name: 'grab', onTrainEnd: (ctx) => { trained = ctx.student as FullStudent; } };
    const r = await fitRun({
      train: synth, method: 'full', model: model.dir, epochs: 3, batchSize: 4, learningRate: 3e-3, seed: 1,
      score: 'cosine', marginScale: 0.05, out: path.join(root, 'fit'), log: null, callbacks: [grab], threads: 1,
    });
    expect(r.status).toBe('finished');
    console.log(`distilbert fit: epoch losses ${r.epochLosses.map((x) => x.toExponential(3)).join(' → ')}; steps ${r.steps}`);
    expect(r.epochLosses[r.epochLosses.length - 1]).toBeLessThan(r.epochLosses[0]);

    const cfg = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model_type: 'distilbert', dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64 });
    const inits = decodeModel(new Uint8Array(fs.readFileSync(path.join(r.modelDir, 'onnx', 'model.onnx')))).graph.initializer.map((t) => t.name);
    expect(inits).toContain('transformer.layer.0.ffn.lin1.weight');
    const enc = await loadEncoder(r.modelDir, { threads: 1 });
    try {
      const texts = [...queries, ...docs.slice(0, 4)];
      const ort = await enc.encode(texts);
      const native = await (trained as unknown as FullStudent).encode(texts.map((t) => enc.tokenizer.encode(t).ids), 'query');
      const d = maxAbsDiff(ort, native);
      console.log(`distilbert export (onnxruntime) vs student: max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
    } finally {
      await enc.release();
    }
  });
});
