/**
 * The ONNX BERT writer against the independent pure-TS forward pass: seeded tiny models run through
 * onnxruntime-node (the real inference path) must match lib/models/reference-forward.ts within 1e-4,
 * for padded batches, every pooling, the classifier head, and a model without token types.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBertOnnx, decodeModel, GraphBuilder, type BertConfig } from '../lib/models/onnx';
import { loadOrtModel, type OrtModel } from '../lib/models/ort';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights } from '../lib/models/tiny';
import { report, seededInts, tmpDir } from './helpers/models';

const dir = tmpDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const base: BertConfig = { vocabSize: 50, hidden: 32, layers: 2, heads: 4, intermediate: 48, maxPosition: 40, typeVocabSize: 2, layerNormEps: 1e-12 };
const IO = { requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['last_hidden_state'] };

/** A padded batch: rows of different true lengths (≥ 1), right-padded with 0 and mask 0. */
function makeBatch(seed: number, B: number, S: number, vocab: number, pairs = false) {
  const rnd = seededInts(seed);
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  const tokenTypeIds: number[][] = [];
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? S : rnd(1, S + 1);
    const split = pairs ? rnd(1, len + 1) : len;
    inputIds.push(Array.from({ length: S }, (_, s) => (s < len ? rnd(1, vocab) : 0)));
    attentionMask.push(Array.from({ length: S }, (_, s) => (s < len ? 1 : 0)));
    tokenTypeIds.push(Array.from({ length: S }, (_, s) => (s >= split && s < len ? 1 : 0)));
  }
  return { inputIds, attentionMask, tokenTypeIds };
}

function feeds(batch: ReturnType<typeof makeBatch>) {
  const B = batch.inputIds.length;
  const S = batch.inputIds[0].length;
  const t = (rows: number[][]) => ({ data: BigInt64Array.from(rows.flat().map(BigInt)), dims: [B, S] });
  return { input_ids: t(batch.inputIds), attention_mask: t(batch.attentionMask), token_type_ids: t(batch.tokenTypeIds) };
}

async function load(name: string, config: BertConfig, seed: number, std = 0.2): Promise<{ model: OrtModel; weights: ReturnType<typeof randomBertWeights> }> {
  const weights = randomBertWeights(config, { seed, std, numLabels: 2 });
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, buildBertOnnx(config, weights));
  return { model: await loadOrtModel(file, IO, { threads: 1 }), weights };
}

describe('buildBertOnnx vs reference forward', () => {
  it('last_hidden_state matches for padded batches of several shapes (dynamic B and S)', async () => {
    const { model, weights } = await load('plain', base, 1);
    expect(model.inputNames).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(model.outputNames).toEqual(['last_hidden_state']);
    for (const [B, S, seed] of [[3, 7, 11], [1, 1, 12], [5, 13, 13]]) {
      const batch = makeBatch(seed, B, S, base.vocabSize, true);
      const out = await model.run(feeds(batch));
      const ref = bertForwardRef(base, weights, batch);
      expect(out.last_hidden_state.dims).toEqual([B, S, base.hidden]);
      expect(report(`hidden B=${B} S=${S}`, out.last_hidden_state.data, ref.lastHiddenState)).toBeLessThanOrEqual(1e-4);
    }
    await model.release();
  });

  for (const [pooling, normalize] of [['mean', false], ['mean', true], ['cls', false], ['cls', true]] as const) {
    it(`sentence_embedding with ${pooling} pooling${normalize ? ' + L2 normalisation' : ''}`, async () => {
      const config: BertConfig = { ...base, pooling, normalize };
      const { model, weights } = await load(`pool-${pooling}-${normalize}`, config, 2);
      expect(model.outputNames).toEqual(['last_hidden_state', 'sentence_embedding']);
      const batch = makeBatch(21, 4, 9, base.vocabSize);
      const out = await model.run(feeds(batch));
      const ref = bertForwardRef(config, weights, batch);
      expect(out.sentence_embedding.dims).toEqual([4, base.hidden]);
      expect(report(`${pooling}${normalize ? '+norm' : ''}`, out.sentence_embedding.data, ref.sentenceEmbedding!)).toBeLessThanOrEqual(1e-4);
      if (normalize) {
        for (let b = 0; b < 4; b++) {
          const row = out.sentence_embedding.data.subarray(b * 32, (b + 1) * 32);
          expect(Math.hypot(...row)).toBeCloseTo(1, 5);
        }
      }
      await model.release();
    });
  }

  it('a sequence with no real token (mask all 0) attends uniformly, as the additive mask does', async () => {
    const config: BertConfig = { ...base, pooling: 'cls' };
    const { model, weights } = await load('all-masked', config, 4);
    const batch = makeBatch(41, 3, 6, base.vocabSize);
    batch.attentionMask[1] = batch.attentionMask[1].map(() => 0);
    const out = await model.run(feeds(batch));
    const ref = bertForwardRef(config, weights, batch);
    expect(report('all-masked hidden', out.last_hidden_state.data, ref.lastHiddenState)).toBeLessThanOrEqual(1e-4);
    expect(report('all-masked cls', out.sentence_embedding.data, ref.sentenceEmbedding!)).toBeLessThanOrEqual(1e-4);
    await model.release();
  });

  it('classifier head: logits for text pairs with token types', async () => {
    const config: BertConfig = { ...base, head: 'classifier', layers: 3 };
    const { model, weights } = await load('cls-head', config, 3, 0.3);
    expect(model.outputNames).toContain('logits');
    const batch = makeBatch(31, 6, 11, base.vocabSize, true);
    const out = await model.run(feeds(batch), ['logits']);
    expect(Object.keys(out)).toEqual(['logits']);
    expect(out.logits.dims).toEqual([6, 2]);
    const ref = bertForwardRef(config, weights, batch);
    expect(report('logits', out.logits.data, ref.logits!)).toBeLessThanOrEqual(1e-4);
    await model.release();
  });

  it('typeVocabSize 0: no token_type_ids input, other shapes (hidden 24, 3 heads, 1 layer)', async () => {
    const config: BertConfig = { ...base, typeVocabSize: 0, hidden: 24, heads: 3, intermediate: 40, layers: 1, layerNormEps: 1e-5, pooling: 'mean' };
    const { model, weights } = await load('no-types', config, 4);
    expect(model.inputNames).toEqual(['input_ids', 'attention_mask']);
    const batch = makeBatch(41, 3, 6, base.vocabSize);
    const out = await model.run(feeds(batch)); // token_type_ids is dropped by the ort wrapper
    const ref = bertForwardRef(config, weights, batch);
    expect(report('no-types hidden', out.last_hidden_state.data, ref.lastHiddenState)).toBeLessThanOrEqual(1e-4);
    expect(report('no-types mean', out.sentence_embedding.data, ref.sentenceEmbedding!)).toBeLessThanOrEqual(1e-4);
    await model.release();
  });
});

describe('ONNX file structure and errors', () => {
  it('declares opset 17, int64 inputs with dynamic batch/sequence, HF initializer names', () => {
    const weights = randomBertWeights({ ...base, head: 'classifier' }, { seed: 5 });
    const m = decodeModel(buildBertOnnx({ ...base, head: 'classifier' }, weights));
    expect(m.opset_import[0].version).toBe(17);
    expect(m.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const ids = m.graph.input[0].type.tensor_type;
    expect(ids.elem_type).toBe(7);
    expect(ids.shape.dim.map((d) => d.dim_param)).toEqual(['batch', 'sequence']);
    const names = m.graph.initializer.map((t) => t.name);
    expect(names).toContain('embeddings.word_embeddings.weight');
    expect(names).toContain('encoder.layer.1.attention.self.query.weight');
    expect(names).toContain('classifier.weight');
    const q = m.graph.initializer.find((t) => t.name === 'classifier.weight')!;
    expect(q.dims).toEqual([32, 1]); // stored transposed [in, out]
    const ops = new Set(m.graph.node.map((n) => n.op_type));
    for (const op of ['Gather', 'LayerNormalization', 'MatMul', 'Softmax', 'Erf', 'Reshape', 'Transpose']) expect(ops.has(op)).toBe(true);
  });

  it('accepts the bert. prefix of *ForSequenceClassification checkpoints', () => {
    const w = randomBertWeights({ ...base, head: 'classifier' }, { seed: 6 });
    const prefixed = new Map([...w].map(([k, v]) => [k.startsWith('classifier') ? k : `bert.${k}`, v]));
    expect(buildBertOnnx({ ...base, head: 'classifier' }, prefixed).length).toBeGreaterThan(1000);
  });

  it('clear errors: missing tensor, wrong shape, bad config', () => {
    const w = randomBertWeights(base, { seed: 7 });
    const missing = new Map(w);
    missing.delete('encoder.layer.1.output.dense.bias');
    expect(() => buildBertOnnx(base, missing)).toThrow(/missing tensor 'encoder.layer.1.output.dense.bias'/);
    const wrong = new Map(w);
    wrong.set('embeddings.LayerNorm.weight', { dims: [31], data: new Float32Array(31) });
    expect(() => buildBertOnnx(base, wrong)).toThrow(/'embeddings.LayerNorm.weight' has shape \[31\], expected \[32\]/);
    expect(() => buildBertOnnx({ ...base, heads: 5 }, w)).toThrow(/divisible by heads/);
    expect(() => buildBertOnnx({ ...base, head: 'classifier' }, w)).toThrow(/missing tensor 'pooler.dense.weight'/);
  });

  it('generic GraphBuilder: a linear adapter graph runs in onnxruntime', async () => {
    const g = new GraphBuilder('adapter');
    g.input('x', 'FLOAT', ['batch', 3]);
    const W = g.initializer('W', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
    g.output(g.node('Add', [g.node('MatMul', ['x', W]), g.float([0.5, -0.5])], { name: 'y' }), 'FLOAT', ['batch', 2]);
    const file = path.join(dir, 'adapter.onnx');
    fs.writeFileSync(file, g.toBytes());
    const m = await loadOrtModel(file, { requiredInputs: ['x'], anyOutput: ['y'] });
    const out = await m.run({ x: { data: Float32Array.from([1, 0, 0, 0, 1, 1]), dims: [2, 3] } });
    expect(Array.from(out.y.data)).toEqual([1.5, 1.5, 8.5, 9.5]);
    expect(() => g.node('Relu', ['nope'])).toThrow(/input 'nope' is not defined/);
    expect(() => g.input('x', 'FLOAT', [1])).toThrow(/already defined/);
    await m.release();
  });
});
